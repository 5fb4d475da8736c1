"""Tokenizer for tcpdump/BPF capture filters (the token classes of pcap-filter(7)).

Why a separate module: the filter grammar (bpf.py) only deals with token kinds; every token keeps
its character position so a :class:`~honeysift.errors.FilterError` can point at it.

Like libpcap's scanner, a word may contain ``-``, ``_`` and ``.`` (``tcp-syn``, ``1-1024``,
``icmp-echo``), so ``len-10`` is one word; dotted quads, IPv6 addresses and MAC addresses are
tokens of their own.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from honeysift.errors import FilterError

# Token kinds
NUM = "num"  # decimal, 0x hex or 0-prefixed octal integer
HID = "hid"  # dotted IPv4 address or prefix with 2-4 parts ("10.1", "1.2.3.4")
HID6 = "hid6"  # IPv6 address
EID = "eid"  # MAC address
ID = "id"  # word: keyword, named constant or name
OP = "op"  # punctuation / operator
EOF = "eof"

_OPS = ("&&", "||", "<<", ">>", "<=", ">=", "==", "!=", "(", ")", "[", "]", ":", "+", "-", "*")
_OPS += ("/", "%", "&", "|", "^", "=", "<", ">", "!")

_WORD = re.compile(r"[A-Za-z0-9_][-_.A-Za-z0-9]*")
_ADDRISH = re.compile(r"[0-9A-Fa-f:.]+")
_MAC = re.compile(
    r"[0-9A-Fa-f]{1,2}(?::[0-9A-Fa-f]{1,2}){5}|[0-9A-Fa-f]{1,2}(?:-[0-9A-Fa-f]{1,2}){5}"
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}"
)
_DEC = re.compile(r"[1-9][0-9]*|0")
_HEX = re.compile(r"0[xX][0-9A-Fa-f]+")
_OCT = re.compile(r"0[0-7]+")
_DOTTED = re.compile(r"[0-9]+(?:\.[0-9]+){1,3}")


@dataclass(slots=True, frozen=True)
class Token:
    kind: str
    text: str
    pos: int
    value: int | None = None  # NUM: the number
    escaped: bool = False  # ID written with a leading backslash (``\tcp``): a name, not a keyword


def _number(text: str) -> int | None:
    if _HEX.fullmatch(text):
        return int(text, 16)
    if _OCT.fullmatch(text):
        return int(text, 8)
    if _DEC.fullmatch(text):
        return int(text)
    return None


def tokenize(expr: str) -> list[Token]:
    """Split ``expr`` into tokens, ending with an EOF token; raises FilterError on junk."""
    out: list[Token] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c.isspace():
            i += 1
            continue
        # Addresses containing ':' (IPv6, MAC) first: "0:2" inside brackets has one colon only.
        m = _ADDRISH.match(expr, i)
        if m and m.group().count(":") >= 2:
            text = m.group()
            if _MAC.fullmatch(text):
                out.append(Token(EID, text, i))
            else:
                try:
                    ipaddress.IPv6Address(text)
                except ValueError:
                    raise FilterError(expr, i, f"bad IPv6 or MAC address {text!r}") from None
                out.append(Token(HID6, text, i))
            i = m.end()
            continue
        escaped = False
        if c == "\\":
            escaped = True
            i += 1
        m = _WORD.match(expr, i)
        if m:
            text = m.group()
            start = i - 1 if escaped else i
            value = None if escaped else _number(text)
            if value is not None:
                out.append(Token(NUM, text, start, value))
            elif not escaped and _DOTTED.fullmatch(text):
                out.append(Token(HID, text, start))
            elif not escaped and _MAC.fullmatch(text):
                out.append(Token(EID, text, start))
            else:
                out.append(Token(ID, text, start, escaped=escaped))
            i = m.end()
            continue
        if escaped:
            raise FilterError(expr, i - 1, "expected a name after '\\'")
        for op in _OPS:
            if expr.startswith(op, i):
                out.append(Token(OP, op, i))
                i += len(op)
                break
        else:
            raise FilterError(expr, i, f"unexpected character {c!r}")
    out.append(Token(EOF, "", n))
    return out
