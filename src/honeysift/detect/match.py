"""Evaluate a rule's options on one buffer, and its header/packet options on packet columns.

Buffer options run in rule order with a cursor (the end of the last match), as Snort's
detection engine does: ``distance``/``within``, pcre ``/R``, relative ``byte_test``/
``byte_jump``/``isdataat`` start from it. When a later option fails, earlier contents are
retried at their next occurrence (backtracking), bounded by :data:`STEP_BUDGET` steps per
evaluation so hostile payloads cannot make matching quadratic without limit. A pcre is bounded
by PCRE2's match limit (``rules.PCRE_MATCH_LIMIT``); a pcre over it counts as no match and is
handed to the caller's ``limits`` list, to be reported.

Header and packet options (addresses, ports, direction, flow state, dsize, flags, itype,
icode, ip_proto) are evaluated on numpy columns, for many packets at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pcre2

from honeysift.detect.rules import ByteJump, ByteTest, Content, IsDataAt, Op, Pcre, Rule

STEP_BUDGET = 2000


@dataclass(slots=True)
class BufferMatch:
    start: int  # offset of the first positive match (0 when the rule has no positive op)
    end: int  # cursor after the last op


class _Buf:
    __slots__ = ("data", "_lower")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._lower: bytes | None = None

    @property
    def lower(self) -> bytes:
        if self._lower is None:
            self._lower = self.data.lower()
        return self._lower


def _content_hits(c: Content, buf: _Buf, cursor: int):
    data = buf.lower if c.nocase else buf.data
    pat = c.pattern.lower() if c.nocase else c.pattern
    n = len(data)
    if c.relative:
        start = cursor + (c.distance or 0)
        end = start + c.within if c.within is not None else n
        if c.offset is not None:
            start = max(start, c.offset)
    else:
        start = c.offset or 0
        end = start + c.depth if c.depth is not None else n
    start = max(start, 0)
    end = min(end, n)
    if end - start < len(pat):
        return
    p = data.find(pat, start, end)
    while p >= 0:
        yield p, p + len(pat)
        p = data.find(pat, p + 1, end)


def _read_int(data: bytes, pos: int, nbytes: int, little: bool, string: bool, base: int):
    if pos < 0 or pos + nbytes > len(data):
        return None
    raw = data[pos : pos + nbytes]
    if string:
        try:
            text = raw.decode("ascii").strip()
            # Snort reads the leading digits of the field
            digits = ""
            for ch in text:
                if ch in "0123456789abcdefABCDEF"[: base if base <= 10 else 22]:
                    digits += ch
                else:
                    break
            return int(digits, base) if digits else None
        except (UnicodeDecodeError, ValueError):
            return None
    return int.from_bytes(raw, "little" if little else "big")


def _byte_test(t: ByteTest, data: bytes, cursor: int) -> bool:
    pos = (cursor if t.relative else 0) + t.offset
    x = _read_int(data, pos, t.nbytes, t.little, t.string, t.base)
    if x is None:
        return False
    if t.bitmask is not None:
        x &= t.bitmask
        m = t.bitmask
        while m and not m & 1:
            m >>= 1
            x >>= 1
    v = t.value
    ok = {
        "<": x < v,
        ">": x > v,
        "=": x == v,
        "!": x != v,
        "<=": x <= v,
        ">=": x >= v,
        "&": (x & v) != 0,
        "^": (x ^ v) != 0,
    }[t.op]
    return ok != t.negate


def _byte_jump(j: ByteJump, data: bytes, cursor: int) -> int | None:
    pos = (cursor if j.relative else 0) + j.offset
    x = _read_int(data, pos, j.nbytes, j.little, j.string, j.base)
    if x is None:
        return None
    jump = x * j.multiplier
    if j.align and jump % 4:
        jump += 4 - jump % 4
    new = (0 if j.from_beginning else pos + j.nbytes) + jump + j.post_offset
    return new if 0 <= new <= len(data) else None


def _steps(op: Op, buf: _Buf, cursor: int, limits: list[Pcre] | None = None):
    """The cursors after *op* succeeds from *cursor* (several for a content: backtracking),
    each with the start of what matched (None for ops that match no bytes). A pcre that
    exceeds its match limit is appended to *limits* and counts as no match (as in Snort)."""
    data = buf.data
    if isinstance(op, Content):
        if op.negated:
            if next(_content_hits(op, buf, cursor), None) is None:
                yield cursor, None
            return
        for s, e in _content_hits(op, buf, cursor):
            yield e, s
    elif isinstance(op, Pcre):
        pos = min(max(cursor if op.relative else 0, 0), len(data))
        # /R: the regex sees the buffer from the cursor on (so ^ anchors there, as in PCRE)
        view = data[pos:] if pos else data
        try:
            m = op.regex.match(view) if op.anchored else op.regex.search(view)
        except pcre2.LibraryError:  # match, depth or heap limit: a bound, not a result
            if limits is not None:
                limits.append(op)
            return
        if op.negated:
            if m is None:
                yield cursor, None
        elif m is not None:
            yield pos + m.end(), pos + m.start()
    elif isinstance(op, ByteTest):
        if _byte_test(op, data, cursor):
            yield cursor, None
    elif isinstance(op, ByteJump):
        new = _byte_jump(op, data, cursor)
        if new is not None:
            yield new, None
    elif isinstance(op, IsDataAt):
        pos = (cursor if op.relative else 0) + op.size
        if (pos < len(data)) != op.negated:
            yield cursor, None


def match_ops(
    ops: list[Op], data: bytes, budget: int = STEP_BUDGET, limits: list[Pcre] | None = None
) -> BufferMatch | None:
    """Run *ops* on *data*; the first way through them all, or None. Pcre ops that hit their
    match limit are appended to *limits* (once per evaluation that hit it)."""
    buf = _Buf(data)
    left = [budget]

    def walk(i: int, cursor: int, first: int | None) -> BufferMatch | None:
        if i == len(ops):
            return BufferMatch(first if first is not None else 0, cursor)
        for new, start in _steps(ops[i], buf, cursor, limits):
            left[0] -= 1
            if left[0] <= 0:
                return None
            got = walk(i + 1, new, first if first is not None else start)
            if got is not None:
                return got
        return None

    return walk(0, 0, None)


# -- header and packet options on columns ----------------------------------------------------


def header_mask(rule: Rule, c: dict[str, np.ndarray]) -> np.ndarray:
    """Rows of the packet columns *c* that the rule's header and packet options accept.

    Columns: proto, src_hi, src_lo, dst_hi, dst_lo, sport, dport, flags, dsize, itype, icode,
    dir (0 originator -> responder, 1 back, -1 no flow), est (bool, flow established)."""
    n = c["proto"].shape[0]
    m = np.ones(n, dtype=bool)
    if rule.ip_proto is not None:
        m &= c["proto"] == rule.ip_proto
    if rule.ipproto_test is not None:
        m &= rule.ipproto_test.mask(c["proto"])
    if rule.dsize is not None:
        m &= rule.dsize.mask(c["dsize"])
    if rule.flags is not None:
        m &= (c["proto"] == 6) & rule.flags.mask(c["flags"])
    if rule.itype is not None:
        m &= np.isin(c["proto"], (1, 58)) & rule.itype.mask(c["itype"])
    if rule.icode is not None:
        m &= np.isin(c["proto"], (1, 58)) & rule.icode.mask(c["icode"])
    if rule.app in ("smb", "irc"):
        ports = (139, 445) if rule.app == "smb" else tuple(range(6660, 6670)) + (7000,)
        m &= np.isin(c["sport"], ports) | np.isin(c["dport"], ports)
    if not rule.stateless:
        if rule.flow_dir == "to_server":
            m &= c["dir"] == 0
        elif rule.flow_dir == "to_client":
            m &= c["dir"] == 1
        if rule.established is True:
            m &= c["est"]
        elif rule.established is False:
            m &= ~c["est"]
    if not m.any():
        return m
    fwd = _endpoints(rule, c, m, swap=False)
    if rule.bidirectional:
        fwd |= _endpoints(rule, c, m, swap=True)
    return m & fwd


def _endpoints(rule: Rule, c: dict[str, np.ndarray], m: np.ndarray, swap: bool) -> np.ndarray:
    s, d = ("dst", "src") if swap else ("src", "dst")
    sp, dp = ("dport", "sport") if swap else ("sport", "dport")
    out = m.copy()
    out &= rule.src.mask(c[s + "_hi"], c[s + "_lo"])
    out &= rule.dst.mask(c[d + "_hi"], c[d + "_lo"])
    # ports exist for TCP/UDP only; an "any" port accepts other protocols
    tu = np.isin(c["proto"], (6, 17))
    if not (rule.sport.any and not rule.sport.neg):
        out &= tu & rule.sport.mask(c[sp])
    if not (rule.dport.any and not rule.dport.neg):
        out &= tu & rule.dport.mask(c[dp])
    return out


def rule_buffers_match(
    rule: Rule, buffers: dict[str, list[bytes]], limits: list[Pcre] | None = None
) -> BufferMatch | None:
    """Every buffer's ops must match one of that buffer's instances (a DNS message has one
    instance per question). The returned match is the raw ``pkt`` buffer's when present.
    Pcre ops over their match limit are appended to *limits*."""
    result: BufferMatch | None = None
    for name, ops in rule.buffers.items():
        got = None
        for data in buffers.get(name, ()):
            got = match_ops(ops, data, limits=limits)
            if got is not None:
                break
        if got is None:
            return None
        if result is None or name == "pkt":
            result = got
    return result or BufferMatch(0, 0)
