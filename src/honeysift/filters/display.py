"""A Wireshark display-filter subset (``-Y``) over a frame's fields (tshark field names).

Grammar (precedence low to high)::

    expr    := or
    or      := and (("or" | "||") and)*
    and     := not (("and" | "&&") not)*
    not     := ("not" | "!") not | primary
    primary := "(" expr ")" | FIELD [OP value]
    OP      := == != < > <= >= eq ne lt gt le ge contains matches
    value   := number | "string" | address[/prefix] | bare word

Semantics follow Wireshark: a bare field is true when the frame has it; ``F == v`` is true
when *any* occurrence of F equals v; ``F != v`` is true when *no* occurrence equals v (the
Wireshark 3.6+ meaning, ``!(F == v)``); comparisons with a field the frame lacks are false.
Strings compare exactly (``contains`` is a substring test, ``matches`` a Python ``re.search``,
case-sensitive unless the pattern says ``(?i)``). Addresses accept CIDR (``ip.addr ==
10.0.0.0/8``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from honeysift.errors import FilterError
from honeysift.filters import MAX_DEPTH

Getter = Callable[[str], list[Any]]

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<op>==|!=|<=|>=|&&|\|\||[()<>!~])
  | (?P<word>[A-Za-z0-9_.:/\-\\$*+]+)
    )""",
    re.X,
)
_CMP_WORDS = {"eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">=",
              "contains": "contains", "matches": "matches", "~": "matches"}  # fmt: skip
_CMP = {"==", "!=", "<", ">", "<=", ">=", "contains", "matches"}
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]+)*$")


@dataclass(slots=True)
class _Tok:
    kind: str  # str, op, word, eof
    text: str
    pos: int


def _lex(expr: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(expr):
        if expr[pos:].strip() == "":
            break
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            start = pos + (len(expr[pos:]) - len(expr[pos:].lstrip()))
            raise FilterError(expr, start, f"unexpected character {expr[start]!r}")
        kind = m.lastgroup or "word"
        text = m.group(kind)
        start = m.start(kind)
        if kind == "word" and text.lower() in ("and", "or", "not"):
            kind, text = "op", text.lower()
        elif kind == "word" and text.lower() in _CMP_WORDS:
            kind, text = "op", _CMP_WORDS[text.lower()]
        elif kind == "op" and text == "~":
            text = "matches"
        out.append(_Tok(kind, text, start))
        pos = m.end()
    out.append(_Tok("eof", "", len(expr)))
    return out


# ---- compiled predicates -------------------------------------------------------------------


class Predicate:
    """A compiled display filter: ``pred(get) -> bool`` where ``get(field)`` lists values."""

    def __init__(self, expr: str, fn: Callable[[Getter], bool], fields: set[str]) -> None:
        self.expr = expr
        self.fn = fn
        self.fields = fields

    def __call__(self, get: Getter) -> bool:
        return self.fn(get)


def _norm_str(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


def _as_number(text: str) -> float | int | None:
    try:
        return int(text, 0)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def _network(text: str):
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _compare(op: str, value_text: str, is_string: bool, expr: str, pos: int):
    """A test on one field value, for the literal ``value_text``."""
    if op == "matches":
        try:
            rx = re.compile(value_text)
        except re.error as e:
            raise FilterError(expr, pos, f"bad regular expression: {e}") from None
        return lambda v: rx.search(_norm_str(v)) is not None
    if op == "contains":
        needle = value_text
        return lambda v: needle in _norm_str(v)
    num = None if is_string else _as_number(value_text)
    net = None if is_string or num is not None else _network(value_text)
    low = value_text.lower()

    def test(v: Any) -> bool:
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, (int, float)) and num is not None:
            a, b = v, num
        elif net is not None and isinstance(v, str):
            try:
                addr = ipaddress.ip_address(v)
            except ValueError:
                a, b = _norm_str(v), value_text
            else:
                if op == "==":
                    return addr in net
                if op == "!=":
                    return addr not in net
                a, b = int(addr), int(net.network_address)
        elif isinstance(v, (int, float)):
            if low in ("true", "false"):
                a, b = int(v), int(low == "true")
            else:
                return False
        else:
            a, b = _norm_str(v), value_text
            if isinstance(v, str) and num is not None and not is_string:
                # a string field compared with a number literal: compare as text
                b = value_text
        try:
            if op == "==":
                return a == b
            if op == "!=":
                return a != b
            if op == "<":
                return a < b
            if op == ">":
                return a > b
            if op == "<=":
                return a <= b
            return a >= b
        except TypeError:
            return False

    return test


class _Parser:
    def __init__(self, expr: str, known: Callable[[str], bool] | None = None) -> None:
        self.expr = expr
        self.known = known
        self.toks = _lex(expr)
        self.i = 0
        self.fields: set[str] = set()
        self.depth = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return t

    def error(self, tok: _Tok, msg: str) -> FilterError:
        return FilterError(self.expr, tok.pos, msg)

    def parse(self) -> Predicate:
        if self.peek().kind == "eof":
            raise self.error(self.peek(), "empty display filter")
        fn = self.or_()
        tok = self.peek()
        if tok.kind != "eof":
            raise self.error(tok, f"unexpected {tok.text!r}")
        return Predicate(self.expr, fn, self.fields)

    def or_(self):
        parts = [self.and_()]
        while self.peek().kind == "op" and self.peek().text in ("or", "||"):
            self.take()
            parts.append(self.and_())
        if len(parts) == 1:
            return parts[0]
        return lambda g: any(p(g) for p in parts)

    def and_(self):
        parts = [self.not_()]
        while self.peek().kind == "op" and self.peek().text in ("and", "&&"):
            self.take()
            parts.append(self.not_())
        if len(parts) == 1:
            return parts[0]
        return lambda g: all(p(g) for p in parts)

    def not_(self):
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("not", "!"):
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(tok, "expression nested too deeply")
            inner = self.not_()
            self.depth -= 1
            return lambda g: not inner(g)
        return self.primary()

    def primary(self):
        tok = self.take()
        if tok.kind == "op" and tok.text == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(tok, "expression nested too deeply")
            inner = self.or_()
            self.depth -= 1
            close = self.take()
            if close.kind != "op" or close.text != ")":
                raise self.error(close, "expected ')'")
            return inner
        if tok.kind == "eof":
            raise self.error(tok, "expected a field name, got end of expression")
        if tok.kind != "word" or not _FIELD.match(tok.text):
            raise self.error(tok, f"expected a field name, got {tok.text!r}")
        name = tok.text
        if self.known is not None and not self.known(name):
            raise self.error(tok, f"unknown field {name!r}")
        self.fields.add(name)
        nxt = self.peek()
        if nxt.kind == "op" and nxt.text in _CMP:
            op = self.take().text
            val = self.take()
            if val.kind == "str":
                text, is_string = _unquote(val.text), True
            elif val.kind == "word":
                text, is_string = val.text, False
            else:
                raise self.error(val, f"expected a value after {op!r}")
            test = _compare(op, text, is_string, self.expr, val.pos)
            if op == "!=":
                eq = _compare("==", text, is_string, self.expr, val.pos)
                return lambda g: bool(g(name)) and not any(eq(v) for v in g(name))
            return lambda g: any(test(v) for v in g(name))
        return lambda g: bool(g(name))


def _unquote(s: str) -> str:
    body = s[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m[1], m[1]), body)


def compile_display(expr: str, known: Callable[[str], bool] | None = None) -> Predicate:
    """Compile a display filter; raises :class:`FilterError` pointing at the bad token (also
    at a field name that ``known``, when given, refuses)."""
    return _Parser(expr, known).parse()
