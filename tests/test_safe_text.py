"""Attacker bytes never reach the terminal raw."""

from __future__ import annotations

from click.testing import CliRunner

from honeysift.cli import main
from honeysift.safe_text import safe, safe_bytes


def test_escape_sequences_and_controls_are_neutralised() -> None:
    hostile = "\x1b[2J\x1b]0;owned\x07line\rback\x00\x9b31m\u202eevil"
    out = safe(hostile)
    assert "\x1b" not in out and "\r" not in out and "\x00" not in out and "\x9b" not in out
    assert "\u202e" not in out
    assert out.startswith("\\x1b[2J\\x1b]0;owned\\x07line\\x0dback\\x00\\x9b31m\\u202eevil")


def test_tabs_kept_newlines_optional() -> None:
    assert safe("a\tb") == "a\tb"
    assert safe("a\nb") == "a\\x0ab"
    assert safe("a\nb", keep_newlines=True) == "a\nb"


def test_bytes_decoded_with_replacement() -> None:
    assert safe_bytes(b"#chan\xff\x1b[31m") == "#chan\ufffd\\x1b[31m"


def test_cli_error_lines_are_escaped(tmp_path) -> None:
    evil = tmp_path / "x\x1b[2J.pcap"
    res = CliRunner().invoke(main, ["info", str(evil)])
    assert res.exit_code == 2
    assert "\x1b" not in res.stderr and "\\x1b[2J" in res.stderr
