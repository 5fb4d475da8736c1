"""``python -m honeysift``."""

from honeysift.cli import main

main()
