"""``python -m honeysift``."""

from honeysift.cli import run

run()
