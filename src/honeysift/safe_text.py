"""Neutralise attacker-controlled text before it reaches a terminal or a log line.

Packet payloads can carry ANSI escape sequences, carriage returns and other control bytes that
would rewrite the analyst's screen. Every command prints packet-derived text through
:func:`safe` (or :func:`safe_bytes`), so there is one place to audit.
"""

from __future__ import annotations

import re

# C0 controls except TAB, DEL, and the C1 range (U+0080-U+009F, which includes the 8-bit CSI
# U+009B), plus Unicode bidi overrides and isolates that can reorder what a reader sees.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")

#: The pattern of characters :func:`safe` escapes (for renderers that escape in bulk).
UNSAFE_CHARS = _UNSAFE


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def needs_escape(text: str) -> bool:
    """True when :func:`safe` would change *text* (a fast check before bulk escaping)."""
    return _UNSAFE.search(text) is not None


def safe(text: str, *, keep_newlines: bool = False) -> str:
    """Return *text* with every control character shown as a visible ``\\xNN`` escape."""
    if text.isascii() and text.isprintable():  # the common case, decided in C
        return text
    if keep_newlines:
        return "\n".join(_UNSAFE.sub(_escape, part) for part in text.split("\n"))
    return _UNSAFE.sub(_escape, text)


def safe_bytes(data: bytes, *, keep_newlines: bool = False) -> str:
    """Decode attacker bytes for display: UTF-8 with replacement, then :func:`safe`."""
    return safe(data.decode("utf-8", "replace"), keep_newlines=keep_newlines)
