"""tcpdump/BPF capture filters (pcap-filter(7) syntax) compiled to vectorized numpy masks.

Why this design: a filter must select exactly the frames ``tcpdump -r FILE EXPR`` selects, but
evaluate over whole :class:`~honeysift.capture.table.PacketTable` columns. Each primitive is
therefore lowered to the same tests libpcap 1.10 generates (``tcpdump -d EXPR``): link type at
the current VLAN depth, then header fields at their offsets. A header field is served from the
decoded column when that column describes *this frame's* header (unfragmented, fully decoded
rows); otherwise its bytes are read through the optional ``frame_bytes`` accessor.

pcap semantics kept on purpose:

* ``and`` and ``or`` have equal precedence and associate left to right; ``not`` binds tighter.
* A bare id repeats the previous qualifiers: ``host a or b``, ``port 80 or (443 or 8080)``.
* Each ``vlan`` keyword shifts every later test by one 802.1Q tag, so ``tcp`` alone does not
  match VLAN-tagged frames while ``vlan and tcp`` does.
* ``tcp[...]``/``udp[...]``/``icmp[...]`` apply to IPv4 first (or only) fragments; ``port`` tests
  skip non-first fragments.
* A load past the captured bytes rejects the whole frame (BPF aborts the program), with the
  short-circuit order of ``and``/``or``; without a ``frame_bytes`` accessor the rows that would
  need raw bytes are rejected the same way.

An ``and``/``or`` chain is one node evaluated in a loop, so generated lists of thousands of terms
work; nesting (parentheses, ``not``, ``[...]``, unary ``-``) deeper than ``MAX_DEPTH`` is refused
with a FilterError, as for display filters, instead of running into Python's recursion limit.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from honeysift.capture import table as tb
from honeysift.capture.table import PacketTable
from honeysift.errors import FilterError
from honeysift.filters import MAX_DEPTH
from honeysift.filters.lexer import EID, EOF, HID, HID6, ID, NUM, OP, Token, tokenize

__all__ = ["Filter", "FrameBytes", "compile_filter"]

U32 = 0xFFFFFFFF
Mask = np.ndarray
Abort = np.ndarray | None


class FrameBytes(Protocol):
    """Raw-byte accessor: ``frame_bytes(table, offsets, size) -> uint8 array (len(table), size)``.

    ``offsets`` (int64, one per row) are absolute offsets within each frame; rows with a negative
    offset are not needed and their output is ignored. The caller only asks for bytes inside the
    captured length.
    """

    def __call__(self, table: PacketTable, offsets: np.ndarray, size: int) -> np.ndarray: ...


# --- constants (pcap-filter(7); ICMP types RFC 792, ICMPv6 RFC 4443/4861) ---------------------

NAMED_CONSTANTS = {
    "tcpflags": 13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
    "tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
    "icmptype": 0, "icmpcode": 1, "icmp-echoreply": 0, "icmp-unreach": 3,
    "icmp-sourcequench": 4, "icmp-redirect": 5, "icmp-echo": 8, "icmp-routeradvert": 9,
    "icmp-routersolicit": 10, "icmp-timxceed": 11, "icmp-paramprob": 12, "icmp-tstamp": 13,
    "icmp-tstampreply": 14, "icmp-ireq": 15, "icmp-ireqreply": 16, "icmp-maskreq": 17,
    "icmp-maskreply": 18,
    "icmp6type": 0, "icmp6code": 1, "icmp6-destinationunreach": 1, "icmp6-packettoobig": 2,
    "icmp6-timeexceeded": 3, "icmp6-parameterproblem": 4, "icmp6-echo": 128,
    "icmp6-echoreply": 129, "icmp6-multicastlistenerquery": 130,
    "icmp6-multicastlistenerreportv1": 131, "icmp6-multicastlistenerdone": 132,
    "icmp6-routersolicit": 133, "icmp6-routeradvert": 134, "icmp6-neighborsolicit": 135,
    "icmp6-neighboradvert": 136, "icmp6-redirect": 137,
}  # fmt: skip

IP_PROTOS = {"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "ipv6": 41, "gre": 47, "esp": 50,
             "ah": 51, "icmp6": 58, "sctp": 132}  # fmt: skip
ETHER_PROTOS = {"ip": 0x0800, "arp": 0x0806, "rarp": 0x8035, "ip6": 0x86DD}
# Service names (IANA registry); fixed here so a filter means the same on every machine.
PORT_NAMES = {
    "ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "tftp": 69,
    "http": 80, "www": 80, "pop3": 110, "sunrpc": 111, "ntp": 123, "epmap": 135, "loc-srv": 135,
    "netbios-ns": 137, "netbios-dgm": 138, "netbios-ssn": 139, "imap": 143, "snmp": 161,
    "ldap": 389, "https": 443, "microsoft-ds": 445, "ms-sql-s": 1433, "ms-sql-m": 1434,
    "ircd": 6667,
}  # fmt: skip
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)  # as libpcap's gen_vlan tests them

PROTO_Q = {"ether", "link", "ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp", "icmp6", "sctp"}
DIR_Q = {"src", "dst"}
ADDR_Q = {"host", "net", "port", "portrange", "proto"}
LOADABLE = {"ether", "link", "ip", "ip6", "arp", "tcp", "udp", "icmp", "icmp6"}
UNSUPPORTED = {
    "gateway", "protochain", "broadcast", "multicast", "mpls", "pppoes", "pppoed", "geneve",
    "inbound", "outbound", "ifindex", "fddi", "tr", "wlan", "ppp", "slip", "igmp", "igrp", "pim",
    "vrrp", "carp", "atalk", "aarp", "decnet", "lat", "sca", "moprc", "mopdl", "iso", "esis",
    "isis", "clnp", "stp", "ipx", "netbeui", "radio", "ah", "esp", "llc", "byte", "type",
    "subtype", "dir", "ifname", "on", "rulenum", "reason", "ruleset", "action", "hsrp",
}  # fmt: skip
KEYWORDS = PROTO_Q | DIR_Q | ADDR_Q | UNSUPPORTED | {"and", "or", "not", "vlan", "less"}
KEYWORDS |= {"greater", "len", "mask"}

_RELOPS = {"=": "==", "==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_BINOPS = {"|": 1, "^": 1, "&": 2, "<<": 3, ">>": 3, "+": 4, "-": 4, "*": 5, "/": 5, "%": 5}


# --- header fields -------------------------------------------------------------------------


def _c(name: str, transform: Callable[[np.ndarray], np.ndarray] | None = None):
    """Column getter (native dtype: comparisons with Python ints need no uint64 copy)."""

    def get(t: PacketTable) -> np.ndarray:
        col = getattr(t, name)
        return transform(col) if transform else col

    return get


@dataclass(slots=True, frozen=True)
class _Field:
    """``size`` bytes at ``off`` from a layer's start; ``column`` serves rows in ``valid``."""

    name: str
    layer: str  # "link" (frame start), "l3", "l4" (IPv4 transport), "l6" (IPv6 header + 40)
    off: int
    size: int
    column: Callable[[PacketTable], np.ndarray] | None = None
    valid: tuple[str, ...] = ()
    bmask: int = 0  # mask applied to the raw value (0: none); the column is already masked
    bmul: int = 1  # then multiplied, to the column's unit


def _low32(name: str) -> Callable[[PacketTable], np.ndarray]:
    """Low 32 bits of an address half (the IPv4 address): a zero-copy view on little-endian."""

    def get(t: PacketTable) -> np.ndarray:
        col = getattr(t, name)
        if sys.byteorder == "little" and col.dtype == np.uint64 and col.flags.c_contiguous:
            return col.view(np.uint32)[0::2]
        return col & U32

    return get


_LO32 = _low32("src_lo")
_DST32 = _low32("dst_lo")
_F = _Field
# IPv4 header, RFC 791 section 3.1
IP4_FIELDS = [
    _F("ip.vihl", "l3", 0, 1, _c("ip_hlen", lambda a: (a >> 2) | 0x40),
       ("v4frame",)),
    _F("ip.len", "l3", 2, 2, _c("ip_len"), ("v4frame",)),
    _F("ip.id", "l3", 4, 2, _c("ip_id"), ("v4inv",)),
    _F("ip.ttl", "l3", 8, 1, _c("ttl"), ("v4frame",)),
    _F("ip.proto", "l3", 9, 1, _c("proto"), ("v4inv",)),
    _F("ip.src", "l3", 12, 4, _LO32, ("v4inv",)),
    _F("ip.dst", "l3", 16, 4, _DST32, ("v4inv",)),
]  # fmt: skip
# fragment offset in bytes (the column's unit): raw 13-bit field * 8
IP_FRAG = _F("ip.frag", "l3", 6, 2, _c("frag_off"), ("v4frame",), 0x1FFF, 8)
# IPv6 header, RFC 8200 section 3
IP6_FIELDS = [
    _F("ip6.plen", "l3", 4, 2, _c("ip_len", lambda a: a - 40), ("v6frame",)),
    _F("ip6.nxt", "l3", 6, 1, _c("proto"), ("v6direct",)),
    _F("ip6.hlim", "l3", 7, 1, _c("ttl"), ("v6frame",)),
    _F("ip6.src_hi", "l3", 8, 8, _c("src_hi"), ("v6inv",)),
    _F("ip6.src_lo", "l3", 16, 8, _c("src_lo"), ("v6inv",)),
    _F("ip6.dst_hi", "l3", 24, 8, _c("dst_hi"), ("v6inv",)),
    _F("ip6.dst_lo", "l3", 32, 8, _c("dst_lo"), ("v6inv",)),
]
IP6_B40 = _F("ip6.b40", "l3", 40, 1)  # next header of a leading fragment header
# TCP header, RFC 9293 section 3.1
TCP_FIELDS = [
    _F("tcp.sport", "l4", 0, 2, _c("sport"), ("v4tcp",)),
    _F("tcp.dport", "l4", 2, 2, _c("dport"), ("v4tcp",)),
    _F("tcp.seq", "l4", 4, 4, _c("seq"), ("v4tcp",)),
    _F("tcp.ack", "l4", 8, 4, _c("ack"), ("v4tcp",)),
    _F("tcp.flags", "l4", 13, 1, _c("tcp_flags"), ("v4tcp",)),
    _F("tcp.win", "l4", 14, 2, _c("win"), ("v4tcp",)),
]
UDP_FIELDS = [  # RFC 768
    _F("udp.sport", "l4", 0, 2, _c("sport"), ("v4udp",)),
    _F("udp.dport", "l4", 2, 2, _c("dport"), ("v4udp",)),
]
ICMP_FIELDS = [  # RFC 792
    _F("icmp.type", "l4", 0, 1, _c("icmp_type"), ("v4icmp",)),
    _F("icmp.code", "l4", 1, 1, _c("icmp_code"), ("v4icmp",)),
]
ICMP6_FIELDS = [  # RFC 4443 section 2.1
    _F("icmp6.type", "l6", 0, 1, _c("icmp_type"), ("v6icmp",)),
    _F("icmp6.code", "l6", 1, 1, _c("icmp_code"), ("v6icmp",)),
]
ARP_FIELDS = [  # RFC 826, Ethernet/IPv4: sender protocol address at 14, target at 24
    _F("arp.spa", "l3", 14, 4, _LO32, ("arp",)),
    _F("arp.tpa", "l3", 24, 4, _DST32, ("arp",)),
]
ETHER_FIELDS = [_F("ether.dst", "link", 0, 6), _F("ether.src", "link", 6, 6)]
# Transport ports for `port`: TCP and UDP rows from columns, SCTP (and damaged rows) from bytes.
L4_SPORT = _F("l4.sport", "l4", 0, 2, _c("sport"), ("v4ports",))
L4_DPORT = _F("l4.dport", "l4", 2, 2, _c("dport"), ("v4ports",))
L6_SPORT = _F("l6.sport", "l6", 0, 2, _c("sport"), ("v6ports",))
L6_DPORT = _F("l6.dport", "l6", 2, 2, _c("dport"), ("v6ports",))

LOAD_FIELDS: dict[str, list[_Field]] = {
    "ether": ETHER_FIELDS, "link": ETHER_FIELDS, "ip": IP4_FIELDS, "ip6": IP6_FIELDS,
    "arp": ARP_FIELDS, "tcp": TCP_FIELDS, "udp": UDP_FIELDS, "icmp": ICMP_FIELDS,
    "icmp6": ICMP6_FIELDS,
}  # fmt: skip
LOAD_LAYER = {"ether": "link", "link": "link", "ip": "l3", "ip6": "l3", "arp": "l3",
              "tcp": "l4", "udp": "l4", "icmp": "l4", "icmp6": "l6"}  # fmt: skip


def _mapped_field(proto: str, off: int, size: int) -> _Field | None:
    """A field served from columns for ``proto[off:size]`` when every byte is decoded."""
    parts: list[tuple[_Field, int, int]] = []  # (field, first byte, byte count)
    b = off
    while b < off + size:
        f = next((f for f in LOAD_FIELDS[proto] if f.off <= b < f.off + f.size), None)
        if f is None or f.column is None:
            return None
        count = min(f.off + f.size, off + size) - b
        parts.append((f, b, count))
        b += count
    if len(parts) == 1 and parts[0][0].off == off and parts[0][0].size == size:
        return parts[0][0]

    def column(t: PacketTable) -> np.ndarray:
        out = np.zeros(len(t), dtype=np.uint64)
        for f, first, count in parts:
            assert f.column is not None
            shift = 8 * (f.off + f.size - first - count)
            col = f.column(t).astype(np.uint64)
            piece = (col >> np.uint64(shift)) & np.uint64((1 << (8 * count)) - 1)
            out |= piece << np.uint64(8 * (off + size - first - count))
        return out

    valid = tuple(sorted({v for f, _, _ in parts for v in f.valid}))
    return _Field(f"{proto}[{off}:{size}]", LOAD_LAYER[proto], off, size, column, valid)


# --- evaluation context --------------------------------------------------------------------

_L3_DECODED = (tb.ST_OK, tb.ST_L4_TRUNC, tb.ST_L4_BAD, tb.ST_FRAGMENT, tb.ST_FRAG_INCOMPLETE)
_L3_WHOLE = (tb.ST_OK, tb.ST_L4_TRUNC, tb.ST_L4_BAD)


def _status_in(status: np.ndarray, wanted: tuple[int, ...]) -> Mask:
    lut = np.zeros(256, dtype=bool)
    lut[list(wanted)] = True
    return lut[status]


class _Ctx:
    """One evaluation: the table, the byte accessor and per-evaluation caches."""

    def __init__(self, expr: str, t: PacketTable, fb: FrameBytes | None) -> None:
        self.expr = expr
        self.t = t
        self.fb = fb
        self.n = len(t)
        self._valid: dict[object, Mask] = {}
        self._cols: dict[str, np.ndarray] = {}

    # validity classes: rows whose decoded columns describe this frame's header field
    def valid(self, names: tuple[str, ...]) -> Mask:
        if names in self._valid:
            return self._valid[names]
        if len(names) != 1:
            out = self.valid(names[:1]).copy()
            for nm in names[1:]:
                out &= self.valid((nm,))
        else:
            out = self._valid_one(names[0])
        self._valid[names] = out
        return out

    def _valid_one(self, name: str) -> Mask:
        t = self.t
        if name == "v4inv":
            return (t.ip_version == 4) & _status_in(t.status, _L3_DECODED)
        if name == "v4frame":  # the reader keeps this frame's L3 fields on reassembled rows too
            return self.valid(("v4inv",))
        if name == "v6inv":
            return (t.ip_version == 6) & _status_in(t.status, _L3_DECODED)
        if name == "v6frame":
            return self.valid(("v6inv",))
        if name == "v6direct":  # no extension header: the first next header is the final one
            return (
                (t.ip_version == 6)
                & _status_in(t.status, _L3_WHOLE)
                & ~t.reassembled
                & (t.ip_hlen == 40)
            )
        if name == "whole4":
            return (t.ip_version == 4) & (t.status == tb.ST_OK) & ~t.reassembled
        whole4 = self.valid(("whole4",))
        if name == "v4tcp":
            return whole4 & (t.proto == 6)
        if name == "v4udp":
            return whole4 & (t.proto == 17)
        if name == "v4ports":
            return whole4 & ((t.proto == 6) | (t.proto == 17))
        if name == "v4icmp":
            return whole4 & (t.proto == 1)
        whole6 = self.valid(("v6direct",)) & (t.status == tb.ST_OK)
        if name == "v6ports":
            return whole6 & ((t.proto == 6) | (t.proto == 17))
        if name == "v6icmp":
            return whole6 & (t.proto == 58)
        if name == "arp":  # only when the reader stored sender/target as IPv4-mapped addresses
            pre = np.uint64(0xFFFF)
            return (
                (t.ethertype == 0x0806)
                & ((t.src_lo >> np.uint64(32)) == pre)
                & ((t.dst_lo >> np.uint64(32)) == pre)
                & (t.caplen >= t.l3_off.astype(np.uint32) + 28)
            )
        raise AssertionError(name)

    def column(self, f: _Field) -> np.ndarray:
        got = self._cols.get(f.name)
        if got is None:
            assert f.column is not None
            got = self._cols[f.name] = f.column(self.t)
        return got

    def at_depth(self, depth: int) -> Mask:
        """Rows whose link payload type (``ethertype``) sits right after ``depth`` tags.

        On Ethernet an IP header found further in (PPPoE, which the reader unwraps) means the
        word BPF reads at 12 + 4 * depth is the encapsulation's type, not ``ethertype``.
        """
        key = f"#at{depth}"
        got = self._cols.get(key)
        if got is None:
            t = self.t
            unwrapped = (t.linktype == 1) & (t.ip_version != 0) & (t.l3_off != 14 + 4 * depth)
            got = (self.vlan_depth() == depth) & (t.status != tb.ST_L2_TRUNC) & ~unwrapped
            self._cols[key] = got
        return got

    def vlan_depth(self) -> np.ndarray:
        got = self._cols.get("#depth")
        if got is None:
            t = self.t
            got = (t.vlan != tb.NO_VLAN).astype(np.int8) + (t.vlan_inner != tb.NO_VLAN)
            self._cols["#depth"] = got
        return got

    def read(self, rows: np.ndarray, offs: np.ndarray, size: int) -> tuple[np.ndarray, Mask]:
        """Big-endian values of ``size`` bytes at ``offs`` (per row in ``rows``); and OOB rows."""
        assert self.fb is not None
        oob = (offs < 0) | (offs + size > self.t.caplen[rows].astype(np.int64))
        full = np.full(self.n, -1, dtype=np.int64)
        full[rows[~oob]] = offs[~oob]
        raw = np.asarray(self.fb(self.t, full, size), dtype=np.uint8)[rows]
        vals = np.zeros(len(rows), dtype=np.uint64)
        for i in range(size):
            vals = (vals << np.uint64(8)) | raw[:, i].astype(np.uint64)
        vals[oob] = 0
        return vals, oob

    def base(self, layer: str, rows: np.ndarray) -> tuple[np.ndarray, Mask]:
        """Absolute offset of ``layer`` for ``rows``; rows whose offset is unreadable abort."""
        t = self.t
        none = np.zeros(len(rows), dtype=bool)
        if layer == "link":
            return np.zeros(len(rows), dtype=np.int64), none
        l3 = t.l3_off[rows].astype(np.int64)
        if layer == "l3":
            return l3, none
        if layer == "l6":
            return l3 + 40, none
        # IPv4 transport header: after 4 * IHL bytes (the ldxb 4*([l3]&0xf) of BPF)
        hl = t.ip_hlen[rows].astype(np.int64)
        ok = self.valid(("v4frame",))[rows]
        if not ok.all():
            bad = np.flatnonzero(~ok)
            b, oob = self.read(rows[bad], l3[bad], 1)
            hl[bad] = (b & np.uint64(0x0F)).astype(np.int64) * 4
            none = none.copy()
            none[bad] = oob
        return l3 + hl, none

    def load(self, f: _Field, active: Mask | None) -> tuple[np.ndarray, Abort]:
        """Values of field ``f`` for every row; rows of ``active`` not readable abort."""
        if f.column is not None and f.valid:
            valid = self.valid(f.valid)
            vals = self.column(f)
            need = ~valid if active is None else active & ~valid
        else:
            valid = None
            vals = np.zeros(self.n, dtype=np.uint64)
            need = np.ones(self.n, dtype=bool) if active is None else active
        rows = np.flatnonzero(need)
        if len(rows) == 0:
            return vals, None
        if self.fb is None:
            return vals, need
        base, babort = self.base(f.layer, rows)
        raw, oob = self.read(rows, base + f.off, f.size)
        if f.bmask:
            raw &= np.uint64(f.bmask)
        if f.bmul != 1:
            raw *= np.uint64(f.bmul)
        vals = vals.copy()
        vals[rows] = raw
        abort = np.zeros(self.n, dtype=bool)
        abort[rows] = oob | babort
        return vals, abort


def _or_abort(a: Abort, b: Abort) -> Abort:
    if a is None:
        return b
    if b is None:
        return a
    return a | b


def _restrict(active: Mask | None, m: Mask) -> Mask:
    return m if active is None else active & m


# --- predicates ----------------------------------------------------------------------------


class _Pred:
    """A boolean test; ``ev`` returns (matches, aborted) with matches False where aborted."""

    def ev(self, ctx: _Ctx, active: Mask | None) -> tuple[Mask, Abort]:
        raise NotImplementedError

    def text(self) -> str:
        raise NotImplementedError


@dataclass(slots=True)
class _All(_Pred):
    def ev(self, ctx: _Ctx, active: Mask | None) -> tuple[Mask, Abort]:
        return np.ones(ctx.n, dtype=bool), None

    def text(self) -> str:
        return "(everything)"


@dataclass(slots=True)
class _Test(_Pred):
    """``field`` (masked) compared with constants: kind "eq" (value), "in" (values) or "range"."""

    f: _Field
    kind: str
    args: tuple[int, ...]
    mask: int = 0

    def ev(self, ctx: _Ctx, active: Mask | None) -> tuple[Mask, Abort]:
        vals, abort = ctx.load(self.f, active)
        if self.mask:
            vals = vals & self.mask
        if self.kind == "eq":
            out = vals == self.args[0]
        elif self.kind == "in":
            out = vals == self.args[0]
            for a in self.args[1:]:
                out |= vals == a
        else:
            out = (vals >= self.args[0]) & (vals <= self.args[1])
        if abort is not None:
            out &= ~abort
        return out, abort

    def text(self) -> str:
        return f"{self.f.name} {self.kind} {self.args}"


def _link_word(
    ctx: _Ctx, active: Mask | None, depth: int, same: Mask, want: int
) -> tuple[Mask, Abort]:
    """Compare the 16-bit word at 12 + 4 * depth with ``want`` on rows not covered by ``same``.

    BPF reads that word whatever the frame holds: an outer tag's TPID, or payload bytes when the
    frame has fewer tags than ``depth``, or nothing (reject) past the captured bytes. Rows whose
    answer is not already known from columns (``same``) are read from the raw bytes, if any.
    """
    t = ctx.t
    short = t.status == tb.ST_L2_TRUNC
    other = _restrict(active, ~same | short)
    out = np.zeros(ctx.n, dtype=bool)
    if not other.any():
        return out, None
    if ctx.fb is None:
        return out, _restrict(active, short) if short.any() else None
    rows = np.flatnonzero(other)
    vals, oob = ctx.read(rows, np.full(len(rows), 12 + 4 * depth, np.int64), 2)
    out[rows] = (vals == want) & ~oob
    abort = np.zeros(ctx.n, dtype=bool)
    abort[rows] = oob
    return out, abort


@dataclass(slots=True)
class _EtherType(_Pred):
    """Link-layer payload type read at the current VLAN depth (``ether proto``, ``ip``...)."""

    value: int
    depth: int

    def ev(self, ctx: _Ctx, active: Mask | None) -> tuple[Mask, Abort]:
        t = ctx.t
        same = ctx.at_depth(self.depth)
        if self.value in VLAN_TPIDS:  # a tag at this depth: its TPID is only in the bytes
            deeper = ctx.vlan_depth() > self.depth
            if ctx.fb is None:
                return deeper, None
            out, abort = _link_word(ctx, active, self.depth, same & ~deeper, self.value)
            return out, abort
        out = same & (t.ethertype == self.value)
        # frames with more tags have a TPID here, which cannot equal a non-TPID value
        known = same | (ctx.vlan_depth() > self.depth)
        more, abort = _link_word(ctx, active, self.depth, known, self.value)
        return out | more, abort

    def text(self) -> str:
        return f"ether proto 0x{self.value:04x}"


@dataclass(slots=True)
class _Vlan(_Pred):
    """``vlan [id]`` at a depth: a tag there (``vlan``/``vlan_inner`` columns)."""

    depth: int
    vid: int | None

    def ev(self, ctx: _Ctx, active: Mask | None) -> tuple[Mask, Abort]:
        t = ctx.t
        col = t.vlan if self.depth == 0 else t.vlan_inner
        out = col != tb.NO_VLAN if self.vid is None else col == self.vid
        known = ctx.vlan_depth() >= self.depth
        if self.vid is not None or not (~known | (t.status == tb.ST_L2_TRUNC)).any():
            # (a vid on frames with fewer tags would need the TPID and TCI from payload bytes:
            # not modelled; only the reject of frames too short to hold the TPID is)
            short = _restrict(active, t.status == tb.ST_L2_TRUNC)
            return out & ~short, short if short.any() else None
        more = np.zeros(ctx.n, dtype=bool)
        abort: Abort = None
        for tpid in VLAN_TPIDS:
            m, a = _link_word(ctx, _restrict(active, ~more), self.depth, known, tpid)
            more |= m
            abort = _or_abort(abort, a)
        return out | more, abort

    def text(self) -> str:
        return "vlan" if self.vid is None else f"vlan {self.vid}"


@dataclass(slots=True)
class _Chain(_Pred):
    """``first op p1 op p2 ...`` folded left to right (pcap: ``and``/``or`` have equal precedence).

    One node per chain, evaluated in a loop, so a generated list of thousands of ``port``/``host``
    terms neither recurses per term nor hits Python's recursion limit. The fold is exactly the
    left-nested ``((first op p1) op p2) ...``: every step sees the same ``active`` rows.
    """

    first: _Pred
    rest: list[tuple[str, _Pred]]  # (op, term), op "and" | "or"

    def ev(self, ctx: _Ctx, active: Mask | None) -> tuple[Mask, Abort]:
        va, aa = self.first.ev(ctx, active)
        for op, p in self.rest:
            if op == "and":
                vb, ab = p.ev(ctx, _restrict(active, va))
                va, aa = va & vb, _or_abort(aa, None if ab is None else va & ab)
                continue
            rest = ~va if aa is None else ~va & ~aa
            vb, ab = p.ev(ctx, _restrict(active, rest))
            if aa is not None:
                vb = vb & ~aa
            va, aa = va | vb, _or_abort(aa, None if ab is None else rest & ab)
        return va, aa

    def text(self) -> str:
        ops = [op for op, _ in self.rest]
        first = self.first
        out = first.text()
        if isinstance(first, _Chain) and first.rest[-1][0] != ops[0]:
            out = f"({out})"
        for i, (op, p) in enumerate(self.rest):
            if i and op != ops[i - 1]:
                out = f"({out})"
            out = f"{out} {op} {f'({p.text()})' if isinstance(p, _Chain) else p.text()}"
        return out


@dataclass(slots=True)
class _Not(_Pred):
    a: _Pred

    def ev(self, ctx: _Ctx, active: Mask | None) -> tuple[Mask, Abort]:
        va, aa = self.a.ev(ctx, active)
        return (~va if aa is None else ~va & ~aa), aa

    def text(self) -> str:
        inner = self.a.text()
        return f"not ({inner})" if isinstance(self.a, _Chain) else f"not {inner}"


@dataclass(slots=True)
class _Prim(_Pred):
    """A parsed primitive: its normalized text plus the lowered test."""

    label: str
    inner: _Pred

    def ev(self, ctx: _Ctx, active: Mask | None) -> tuple[Mask, Abort]:
        return self.inner.ev(ctx, active)

    def text(self) -> str:
        return self.label


def _chain(op: str, ps: list[_Pred]) -> _Pred:
    return ps[0] if len(ps) == 1 else _Chain(ps[0], [(op, p) for p in ps[1:]])


def _and(*ps: _Pred) -> _Pred:
    return _chain("and", list(ps))


def _or(*ps: _Pred) -> _Pred:
    return _chain("or", list(ps))


# --- arithmetic ----------------------------------------------------------------------------

Value = np.ndarray | int


class _Arith:
    guards: list[tuple[str, int]]

    def ev(self, ctx: _Ctx, active: Mask | None) -> tuple[Value, Abort]:
        raise NotImplementedError

    def text(self) -> str:
        raise NotImplementedError


@dataclass(slots=True)
class _Const(_Arith):
    value: int
    guards: list[tuple[str, int]] = field(default_factory=list)

    def ev(self, ctx: _Ctx, active: Mask | None) -> tuple[Value, Abort]:
        return self.value, None

    def text(self) -> str:
        return str(self.value)


@dataclass(slots=True)
class _Len(_Arith):
    guards: list[tuple[str, int]] = field(default_factory=list)

    def ev(self, ctx: _Ctx, active: Mask | None) -> tuple[Value, Abort]:
        return ctx.t.origlen.astype(np.uint64), None

    def text(self) -> str:
        return "len"


@dataclass(slots=True)
class _Load(_Arith):
    proto: str
    index: _Arith
    size: int
    pos: int
    mapped: _Field | None
    guards: list[tuple[str, int]] = field(default_factory=list)

    def ev(self, ctx: _Ctx, active: Mask | None) -> tuple[Value, Abort]:
        if self.mapped is not None:
            return ctx.load(self.mapped, active)
        if ctx.fb is None:
            raise FilterError(
                ctx.expr,
                self.pos,
                f"{self.text()} is not a decoded header field and needs the raw frame bytes, "
                "which this caller did not provide",
            )
        idx, iabort = self.index.ev(ctx, active)
        need = np.ones(ctx.n, dtype=bool) if active is None else active.copy()
        if iabort is not None:
            need &= ~iabort
        rows = np.flatnonzero(need)
        vals = np.zeros(ctx.n, dtype=np.uint64)
        abort = np.zeros(ctx.n, dtype=bool) if iabort is None else iabort.copy()
        if len(rows):
            base, babort = ctx.base(LOAD_LAYER[self.proto], rows)
            k = idx[rows].astype(np.int64) if isinstance(idx, np.ndarray) else idx
            raw, oob = ctx.read(rows, (base + k) & U32, self.size)  # BPF adds mod 2**32
            vals[rows] = raw
            abort[rows] = oob | babort
        return vals, abort

    def text(self) -> str:
        size = "" if self.size == 1 else f":{self.size}"
        return f"{self.proto}[{self.index.text()}{size}]"


def _apply(op: str, a: Value, b: Value) -> tuple[Value, Abort]:
    """BPF ALU on unsigned 32-bit values (libpcap's bpf_filter: x/0 rejects, shifts >31 give 0)."""
    if isinstance(a, int) and isinstance(b, int):
        if op in "/%":
            return (a // b if op == "/" else a % b) if b else 0, None
        if op in ("<<", ">>"):
            return ((a << b if op == "<<" else a >> b) & U32) if b < 32 else 0, None
        return _ALU[op](a, b) & U32, None
    a, b = _u64(a), _u64(b)
    abort: Abort = None
    if op in "/%":
        zero = np.asarray(b == 0)
        if zero.any():
            abort = np.broadcast_to(zero, np.shape(a) or np.shape(b)).copy()
            b = np.where(zero, np.uint64(1), b)
        out = a // b if op == "/" else a % b
    elif op in ("<<", ">>"):
        big = np.asarray(b >= 32)
        bs = np.where(big, np.uint64(0), b).astype(np.uint64)
        out = np.where(big, np.uint64(0), a << bs if op == "<<" else a >> bs)
    else:
        out = _ALU[op](a, b)
    return np.asarray(out).astype(np.uint64) & np.uint64(U32), abort


_ALU: dict[str, Callable] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "&": lambda a, b: a & b, "|": lambda a, b: a | b, "^": lambda a, b: a ^ b,
}  # fmt: skip


def _u64(v: Value) -> Value:
    return np.uint64(v) if isinstance(v, int) else np.asarray(v, dtype=np.uint64)


@dataclass(slots=True)
class _ArithChain(_Arith):
    """``((first op a1) op a2) ...``: each step's left operand is everything before it, so the
    parser extends one node instead of nesting (like :class:`_Chain`: a long generated sum does
    not recurse per operand)."""

    first: _Arith
    rest: list[tuple[str, _Arith]]
    guards: list[tuple[str, int]] = field(default_factory=list)

    def ev(self, ctx: _Ctx, active: Mask | None) -> tuple[Value, Abort]:
        va, abort = self.first.ev(ctx, active)
        for op, x in self.rest:
            vb, ab = x.ev(ctx, active)
            va, zero = _apply(op, _u64(va), _u64(vb))
            abort = _or_abort(_or_abort(abort, ab), zero)
        return va, abort

    def text(self) -> str:
        def side(x: _Arith) -> str:
            return f"({x.text()})" if isinstance(x, _ArithChain) else x.text()

        out = side(self.first)
        for i, (op, x) in enumerate(self.rest):
            out = f"{f'({out})' if i else out} {op} {side(x)}"
        return out


@dataclass(slots=True)
class _Rel(_Pred):
    op: str
    a: _Arith
    b: _Arith

    def ev(self, ctx: _Ctx, active: Mask | None) -> tuple[Mask, Abort]:
        va, aa = self.a.ev(ctx, active)
        vb, ab = self.b.ev(ctx, active)
        va, vb = _u64(va), _u64(vb)
        out = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
               ">": np.greater, ">=": np.greater_equal}[self.op](va, vb)  # fmt: skip
        out = np.broadcast_to(np.asarray(out, dtype=bool), (ctx.n,)).copy()
        abort = _or_abort(aa, ab)
        if abort is not None:
            out &= ~abort
        return out, abort

    def text(self) -> str:
        return f"{self.a.text()} {'=' if self.op == '==' else self.op} {self.b.text()}"


# --- parser --------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class _Q:
    """Qualifiers of a primitive, repeated onto following bare ids."""

    proto: str | None
    dir: str | None  # "src", "dst", "src or dst", "src and dst"
    addr: str | None


def _guard(proto: str, depth: int) -> _Pred | None:
    """The protocol test libpcap puts in front of a ``proto[...]`` load."""
    if proto in ("ether", "link"):
        return None
    if proto in ("ip", "tcp", "udp", "icmp"):
        ip = _EtherType(0x0800, depth)
        if proto == "ip":
            return ip
        p = IP_PROTOS[proto]
        # tcp/udp/icmp[...]: IPv4 only (the IPv4 fragment test never passes on IPv6)
        return _and(ip, _Test(IP4_FIELDS[4], "eq", (p,)), _Test(IP_FRAG, "eq", (0,)))
    if proto == "ip6":
        return _EtherType(0x86DD, depth)
    if proto == "icmp6":
        return _and(_EtherType(0x86DD, depth), _Test(IP6_FIELDS[1], "eq", (58,)))
    return _EtherType(0x0806, depth)  # arp


class _Parser:
    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.toks = tokenize(expr)
        self.i = 0
        self.depth = 0  # VLAN tags skipped by later tests
        self.nesting = 0  # open parentheses, brackets, 'not' and unary '-' around the token

    # token helpers
    def peek(self, k: int = 0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self) -> Token:
        t = self.peek()
        self.i = min(self.i + 1, len(self.toks) - 1)
        return t

    def err(self, tok: Token, msg: str) -> FilterError:
        return FilterError(self.expr, tok.pos, msg)

    def enter(self, tok: Token) -> None:
        """One level deeper (``(``, ``[``, ``not``, unary ``-``); refused past MAX_DEPTH, as for
        display filters, so parsing and evaluating stay well inside Python's recursion limit."""
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self.err(tok, f"expression nested too deeply (more than {MAX_DEPTH} levels)")

    def word(self, tok: Token | None = None) -> str | None:
        t = tok or self.peek()
        return t.text.lower() if t.kind == ID and not t.escaped else None

    def is_op(self, text: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t.kind == OP and t.text == text

    def describe_tok(self, t: Token) -> str:
        return "end of expression" if t.kind == EOF else repr(t.text)

    def is_bare_id(self, t: Token) -> bool:
        if t.kind in (NUM, HID, HID6, EID):
            return True
        return (
            t.kind == ID
            and (t.escaped or t.text.lower() not in KEYWORDS)
            and (t.text.lower() not in NAMED_CONSTANTS)
        )

    # grammar
    def parse(self) -> _Pred:
        if self.peek().kind == EOF:
            return _All()
        node, _ = self.expr_(None)
        t = self.peek()
        if t.kind != EOF:
            if t.kind == OP and t.text == ")":
                raise self.err(t, "unbalanced ')': no matching '('")
            raise self.err(t, f"expected 'and', 'or' or end of expression, got {t.text!r}")
        return node

    def logic(self) -> str | None:
        t = self.peek()
        w = self.word(t)
        if w in ("and", "or"):
            return w
        if t.kind == OP and t.text in ("&&", "||"):
            return "and" if t.text == "&&" else "or"
        return None

    def expr_(self, inherit: _Q | None) -> tuple[_Pred, _Q | None]:
        first, q = self.term(inherit)
        rest: list[tuple[str, _Pred]] = []
        while (op := self.logic()) is not None:
            self.take()
            rhs, q = self.term(q)
            rest.append((op, rhs))
        return (_Chain(first, rest) if rest else first), q

    def term(self, inherit: _Q | None) -> tuple[_Pred, _Q | None]:
        t = self.peek()
        if self.word(t) == "not" or (t.kind == OP and t.text == "!"):
            self.take()
            self.enter(t)
            inner, q = self.term(inherit)
            self.nesting -= 1
            return _Not(inner), q
        if t.kind == OP and t.text == "(":
            return self.paren(inherit)
        if self.is_bare_id(t) and not self.arith_follows(1):
            if inherit is None:
                if t.kind == ID:
                    raise self.err(t, f"unknown word {t.text!r}: expected a filter primitive")
                raise self.err(
                    t, f"expected a qualifier such as 'host', 'net' or 'port' before {t.text!r}"
                )
            return self.id_(inherit), inherit
        return self.primitive()

    def arith_follows(self, k: int) -> bool:
        t = self.peek(k)
        return t.kind == OP and (t.text in _RELOPS or t.text in _BINOPS)

    def paren(self, inherit: _Q | None) -> tuple[_Pred, _Q | None]:
        start, nesting = self.i, self.nesting
        if inherit is not None and self.is_bare_id(self.peek(1)) and not self.arith_follows(2):
            self.enter(self.take())
            node, _ = self.expr_(inherit)
            self.close(start)
            return node, inherit
        # "(" may open an arithmetic operand of a relation: try that first
        try:
            return self.relation(), None
        except FilterError as e:
            rel_err = e
        self.i, self.nesting = start, nesting
        self.enter(self.take())
        try:
            node, _ = self.expr_(None)
            self.close(start)
        except FilterError as e:
            raise (rel_err if rel_err.position > e.position else e) from None
        return node, None

    def close(self, start: int) -> None:
        if not self.is_op(")"):
            t = self.peek()
            raise self.err(
                t,
                f"expected ')' to close the '(' at {self.toks[start].pos}, "
                f"got {self.describe_tok(t)}",
            )
        self.take()
        self.nesting -= 1

    def primitive(self) -> tuple[_Pred, _Q | None]:
        t = self.peek()
        w = self.word(t)
        if t.kind == EOF:
            raise self.err(t, "expected a filter primitive, got end of expression")
        if (
            w in LOADABLE
            and self.is_op("[", 1)
            or w == "len"
            or t.kind == NUM
            or (w in NAMED_CONSTANTS)
            or (t.kind == OP and t.text in ("-", "("))
        ):
            return self.relation(), None
        if w in ("vlan", "less", "greater"):
            return self.other(), None
        if w in UNSUPPORTED:
            raise self.err(t, f"{t.text!r} is not supported by honeysift filters")
        proto = direction = addr = None
        if w in PROTO_Q:
            self.take()
            proto = "ether" if w == "link" else w
            w = self.word()
        if w in DIR_Q:
            first = self.take().text.lower()
            direction = first
            other = "dst" if first == "src" else "src"
            if self.word() in ("or", "and") and self.word(self.peek(1)) == other:
                direction = f"src {self.take().text.lower()} dst"
                self.take()
            w = self.word()
        if w in ADDR_Q:
            self.take()
            addr = w
        elif w in UNSUPPORTED:
            raise self.err(self.peek(), f"{self.peek().text!r} is not supported by honeysift")
        if direction is None and addr is None:
            if proto is None:
                t = self.peek()
                if t.kind == ID and not t.escaped and t.text.lower() not in KEYWORDS:
                    raise self.err(t, f"unknown word {t.text!r}: expected a filter primitive")
                raise self.err(t, f"expected a filter primitive, got {self.describe_tok(t)}")
            return self.pname(proto, t), None
        q = _Q(proto, direction, addr)
        if addr == "proto" and direction is not None:
            raise self.err(t, "'proto' cannot take 'src' or 'dst'")
        nxt = self.peek()
        if nxt.kind == OP and nxt.text == "(" and self.is_bare_id(self.peek(1)):
            node, _ = self.paren(q)
            return node, q
        if not self.is_bare_id(nxt) and not (addr == "proto" and nxt.kind == ID):
            what = {"port": "a port number", "portrange": "a port range such as 1-1024",
                    "net": "a network", "proto": "a protocol number or name"}.get(
                addr or "", "an address")  # fmt: skip
            raise self.err(nxt, f"expected {what} after {t.text!r}, got {self.describe_tok(nxt)}")
        return self.id_(q), q

    def pname(self, proto: str, tok: Token) -> _Pred:
        d = self.depth
        if proto == "ether":
            raise self.err(tok, "'ether' needs 'host', 'src', 'dst' or 'proto'")
        return _Prim(proto, self.proto_pred(proto, d))

    def proto_pred(self, proto: str, d: int) -> _Pred:
        if proto in ("ip", "ip6", "arp", "rarp"):
            return _EtherType(ETHER_PROTOS[proto], d)
        p = IP_PROTOS[proto]
        if proto == "icmp":
            return self.ip_proto(p, d)
        if proto == "icmp6":
            return self.ip6_proto(p, d)
        return _or(self.ip_proto(p, d), self.ip6_proto(p, d))

    @staticmethod
    def ip_proto(p: int, d: int) -> _Pred:
        return _and(_EtherType(0x0800, d), _Test(IP4_FIELDS[4], "eq", (p,)))

    @staticmethod
    def ip6_proto(p: int, d: int) -> _Pred:
        # libpcap 1.10: next header == p, or a fragment header (44) whose next header == p
        nxt = IP6_FIELDS[1]
        return _and(
            _EtherType(0x86DD, d),
            _or(_Test(nxt, "eq", (p,)), _and(_Test(nxt, "eq", (44,)), _Test(IP6_B40, "eq", (p,)))),
        )

    def other(self) -> _Pred:
        t = self.take()
        w = t.text.lower()
        if w == "vlan":
            if self.depth >= 2:
                raise self.err(t, "more than two 'vlan' levels are not supported")
            vid = None
            if self.peek().kind == NUM:
                vt = self.take()
                vid = vt.value
                assert vid is not None
                if vid > 4095:
                    raise self.err(vt, f"VLAN id {vid} greater than maximum 4095")
            node = _Prim(t.text if vid is None else f"vlan {vid}", _Vlan(self.depth, vid))
            self.depth += 1
            return node
        nt = self.peek()
        if nt.kind != NUM:
            raise self.err(nt, f"expected a length after {t.text!r}, got {self.describe_tok(nt)}")
        self.take()
        assert nt.value is not None
        op = "<=" if w == "less" else ">="
        return _Prim(f"{w} {nt.value}", _Rel(op, _Len(), _Const(nt.value)))

    # relations: arth relop arth
    def relation(self) -> _Pred:
        a = self.arith(0)
        t = self.peek()
        if not (t.kind == OP and t.text in _RELOPS):
            raise self.err(t, f"expected a comparison (=, !=, <, >...), got {self.describe_tok(t)}")
        self.take()
        b = self.arith(0)
        rel: _Pred = _Rel(_RELOPS[t.text], a, b)
        label = rel.text()
        seen: dict[tuple[str, int], None] = dict.fromkeys(a.guards + b.guards)
        guards = [g for g in (_guard(p, d) for p, d in seen) if g is not None]
        return _Prim(label, _and(*guards, rel) if guards else rel)

    def arith(self, min_prec: int) -> _Arith:
        left = self.unary()
        while True:
            t = self.peek()
            prec = _BINOPS.get(t.text, 0) if t.kind == OP else 0
            if prec == 0 or prec < min_prec:
                return left
            self.take()
            right = self.arith(prec + 1)
            left = self.fold(t, left, right)

    def fold(self, t: Token, a: _Arith, b: _Arith) -> _Arith:
        op = t.text
        if isinstance(b, _Const) and op in "/%" and b.value == 0:
            raise self.err(t, "division by zero")
        if isinstance(b, _Const) and op in ("<<", ">>") and b.value > 31:
            raise self.err(t, "shift by more than 31 bits")
        if isinstance(a, _Const) and isinstance(b, _Const):
            v, _ = _apply(op, a.value, b.value)
            assert isinstance(v, int)
            return _Const(v)
        if isinstance(a, _ArithChain):  # ((x op y) op b): one more step of the same fold
            a.rest.append((op, b))
            a.guards.extend(b.guards)
            return a
        return _ArithChain(a, [(op, b)], a.guards + b.guards)

    def unary(self) -> _Arith:
        t = self.take()
        w = self.word(t)
        if t.kind == OP and t.text == "-":
            self.enter(t)
            inner = self.unary()
            self.nesting -= 1
            if isinstance(inner, _Const):
                return _Const(-inner.value & U32)
            return _ArithChain(_Const(0), [("-", inner)], list(inner.guards))
        if t.kind == OP and t.text == "(":
            self.enter(t)
            inner = self.arith(0)
            if not self.is_op(")"):
                raise self.err(self.peek(), f"expected ')', got {self.describe_tok(self.peek())}")
            self.take()
            self.nesting -= 1
            return inner
        if t.kind == NUM:
            assert t.value is not None
            if t.value > U32:
                raise self.err(t, f"number {t.text} does not fit in 32 bits")
            return _Const(t.value)
        if w is not None and w in NAMED_CONSTANTS:
            return _Const(NAMED_CONSTANTS[w])
        if w == "len":
            return _Len()
        if w in LOADABLE and self.is_op("["):
            return self.load(t, "ether" if w == "link" else w)
        raise self.err(t, f"expected a number, 'len' or a byte test such as tcp[13], got "
                       f"{self.describe_tok(t)}")  # fmt: skip

    def load(self, t: Token, proto: str) -> _Arith:
        self.enter(self.take())  # "["
        index = self.arith(0)
        size = 1
        if self.is_op(":"):
            self.take()
            st = self.peek()
            if st.kind != NUM or st.value not in (1, 2, 4):
                raise self.err(st, f"expected a size of 1, 2 or 4 after ':', got "
                               f"{self.describe_tok(st)}")  # fmt: skip
            self.take()
            size = int(st.value)
        if not self.is_op("]"):
            raise self.err(self.peek(), f"expected ']', got {self.describe_tok(self.peek())}")
        self.take()
        self.nesting -= 1
        mapped = None
        if isinstance(index, _Const):
            mapped = _mapped_field(proto, index.value, size)
        guards = [*index.guards, (proto, self.depth)]
        return _Load(proto, index, size, t.pos, mapped, guards)

    # ids under qualifiers
    def id_(self, q: _Q) -> _Pred:
        t = self.take()
        if q.addr == "proto":
            return self.gen_proto(q, t)
        if q.addr in ("port", "portrange"):
            return self.gen_port(q, t)
        if t.kind == EID:
            return self.gen_ether(q, t)
        if t.kind == HID6:
            return self.gen_v6(q, t)
        if t.kind in (HID, NUM):
            return self.gen_v4(q, t)
        raise self.err(t, f"{t.text!r} is not an address (host names are not supported)")

    def label(self, q: _Q, value: str, addr: str | None = None) -> str:
        parts = [q.proto, q.dir, addr if addr is not None else q.addr, value]
        return " ".join(p for p in parts if p)

    def gen_proto(self, q: _Q, t: Token) -> _Pred:
        name = t.text.lower()
        proto = q.proto
        if proto == "ether":
            if t.kind == NUM:
                v = int(t.value or 0)
            elif name in ETHER_PROTOS:
                v = ETHER_PROTOS[name]
            else:
                raise self.err(t, f"unknown ether protocol {t.text!r}")
            if v > 0xFFFF:
                raise self.err(t, f"ether protocol {v} greater than maximum 65535")
            return _Prim(f"ether proto 0x{v:04x}", _EtherType(v, self.depth))
        if t.kind == NUM:
            v = int(t.value or 0)
        elif name in IP_PROTOS and t.kind == ID:
            v = IP_PROTOS[name]
        else:
            raise self.err(t, f"expected a protocol number or name, got {t.text!r}")
        if v > 255:
            raise self.err(t, f"protocol number {v} greater than maximum 255")
        d = self.depth
        if proto == "ip":
            return _Prim(f"ip proto {v}", self.ip_proto(v, d))
        if proto == "ip6":
            return _Prim(f"ip6 proto {v}", self.ip6_proto(v, d))
        if proto is None:
            return _Prim(f"proto {v}", _or(self.ip_proto(v, d), self.ip6_proto(v, d)))
        raise self.err(t, f"'proto' cannot follow {proto!r}")

    def port_value(self, t: Token) -> int:
        if t.kind == NUM:
            v = int(t.value or 0)
        elif t.kind == ID and t.text.lower() in PORT_NAMES:
            v = PORT_NAMES[t.text.lower()]
        else:
            raise self.err(t, f"expected a port number or service name, got {t.text!r}")
        if v > 65535:
            raise self.err(t, f"port {v} greater than maximum 65535")
        return v

    def gen_port(self, q: _Q, t: Token) -> _Pred:
        protos = {None: (6, 17, 132), "tcp": (6,), "udp": (17,), "sctp": (132,)}.get(q.proto)
        if protos is None:
            raise self.err(t, f"{q.proto!r} cannot be combined with {q.addr!r}")
        if q.addr == "port":
            lo = hi = self.port_value(t)
            value = str(lo)
        else:
            text = t.text
            if t.kind == ID and text.lower() not in PORT_NAMES and "-" in text.strip("-"):
                a, _, b = text.partition("-")
                lo = self.port_value(Token(NUM if a.isdigit() else ID, a, t.pos, _int(a)))
                hi = self.port_value(Token(NUM if b.isdigit() else ID, b, t.pos, _int(b)))
            else:
                lo = hi = self.port_value(t)
            lo, hi = min(lo, hi), max(lo, hi)
            value = f"{lo}-{hi}"

        def test(f: _Field) -> _Pred:
            return _Test(f, "eq", (lo,)) if lo == hi else _Test(f, "range", (lo, hi))

        d = self.depth
        ip = _and(
            _EtherType(0x0800, d),
            _Test(IP4_FIELDS[4], "in", protos),
            _Test(IP_FRAG, "eq", (0,)),
            self.dir_pred(q.dir, test(L4_SPORT), test(L4_DPORT)),
        )
        ip6 = _and(
            _EtherType(0x86DD, d),
            _Test(IP6_FIELDS[1], "in", protos),
            self.dir_pred(q.dir, test(L6_SPORT), test(L6_DPORT)),
        )
        return _Prim(self.label(q, value), _or(ip, ip6))

    @staticmethod
    def dir_pred(direction: str | None, src: _Pred, dst: _Pred) -> _Pred:
        if direction == "src":
            return src
        if direction == "dst":
            return dst
        if direction == "src and dst":
            return _and(src, dst)
        return _or(src, dst)

    def gen_ether(self, q: _Q, t: Token) -> _Pred:
        if q.proto != "ether" or q.addr not in (None, "host"):
            raise self.err(t, "a MAC address needs 'ether host', 'ether src' or 'ether dst'")
        digits = "".join(ch for ch in t.text if ch not in ":-.")
        if ":" in t.text or "-" in t.text:
            digits = "".join(p.zfill(2) for p in t.text.replace("-", ":").split(":"))
        mac = int(digits, 16)
        src = _Test(ETHER_FIELDS[1], "eq", (mac,))
        dst = _Test(ETHER_FIELDS[0], "eq", (mac,))
        pretty = ":".join(f"{(mac >> s) & 0xFF:02x}" for s in range(40, -8, -8))
        return _Prim(self.label(q, pretty, "host"), self.dir_pred(q.dir, src, dst))

    def gen_v4(self, q: _Q, t: Token) -> _Pred:
        if q.proto not in (None, "ip", "arp", "rarp"):
            raise self.err(t, f"{q.proto!r} modifier applied to {q.addr or 'host'}")
        if t.kind == NUM:
            v, bits = int(t.value or 0), 32
            if v > U32:
                raise self.err(t, f"address {t.text} does not fit in 32 bits")
        else:
            parts = t.text.split(".")
            if any(int(p) > 255 for p in parts):
                raise self.err(t, f"bad IPv4 address {t.text!r}")
            v = 0
            for p in parts:
                v = (v << 8) | int(p)
            bits = 8 * len(parts)
        mask = U32
        if q.addr == "net":
            if self.is_op("/") or self.word() == "mask":
                how = self.take()
                mt = self.take()
                if how.text == "/":
                    if mt.kind != NUM or int(mt.value or 0) > 32:
                        raise self.err(mt, "expected a prefix length from 0 to 32 after '/'")
                    mask = (U32 << (32 - int(mt.value or 0))) & U32
                else:
                    if mt.kind != HID or len(mt.text.split(".")) != 4:
                        raise self.err(mt, "expected a dotted netmask such as 255.255.0.0")
                    mask = 0
                    for p in mt.text.split("."):
                        mask = (mask << 8) | int(p)
                if t.kind == HID:
                    v <<= 32 - bits
                if v & ~mask & U32:
                    raise self.err(t, f"non-network bits set in {t.text!r}")
            else:  # promote a short net number: "10" -> 10.0.0.0/8, "10.1" -> 10.1.0.0/16
                if t.kind == HID:
                    v <<= 32 - bits
                    mask = (U32 << (32 - bits)) & U32
                else:
                    while v and not v & 0xFF000000:
                        v <<= 8
                        mask = (mask << 8) & U32
        elif t.kind == HID:  # libpcap keeps the short form of a host as a prefix
            v <<= 32 - bits
            mask = (U32 << (32 - bits)) & U32
        prefix = 32 - (~mask & U32).bit_length()
        a = ".".join(str((v >> s) & 0xFF) for s in (24, 16, 8, 0))
        value = a if mask == U32 and q.addr != "net" else f"{a}/{prefix}"
        if (mask & U32) != ((U32 << (32 - prefix)) & U32):
            m = ".".join(str((mask >> s) & 0xFF) for s in (24, 16, 8, 0))
            value = f"{a} mask {m}"

        def t_(f: _Field) -> _Test:
            return _Test(f, "eq", (v,), 0 if mask == U32 else mask)

        d = self.depth
        preds: list[_Pred] = []
        if q.proto in (None, "ip"):
            ip = self.dir_pred(q.dir, t_(IP4_FIELDS[5]), t_(IP4_FIELDS[6]))
            preds.append(_and(_EtherType(0x0800, d), ip))
        for name in ("arp", "rarp"):
            if q.proto in (None, name):
                a_ = self.dir_pred(q.dir, t_(ARP_FIELDS[0]), t_(ARP_FIELDS[1]))
                preds.append(_and(_EtherType(ETHER_PROTOS[name], d), a_))
        return _Prim(self.label(q, value, q.addr or "host"), _or(*preds))

    def gen_v6(self, q: _Q, t: Token) -> _Pred:
        import ipaddress

        if q.proto not in (None, "ip6"):
            raise self.err(t, f"{q.proto!r} modifier applied to an IPv6 address")
        v = int(ipaddress.IPv6Address(t.text))
        plen = 128
        if q.addr == "net" and self.is_op("/"):
            self.take()
            mt = self.take()
            if mt.kind != NUM or int(mt.value or 0) > 128:
                raise self.err(mt, "expected a prefix length from 0 to 128 after '/'")
            plen = int(mt.value or 0)
        mask = ((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1)
        if v & ~mask:
            raise self.err(t, f"non-network bits set in {t.text!r}")
        hm, lm = mask >> 64, mask & ((1 << 64) - 1)
        hv, lv = v >> 64, v & ((1 << 64) - 1)
        full = (1 << 64) - 1

        def test(hi: _Field, lo: _Field) -> _Pred:
            parts: list[_Pred] = []
            if hm:
                parts.append(_Test(hi, "eq", (hv,), 0 if hm == full else hm))
            if lm:
                parts.append(_Test(lo, "eq", (lv,), 0 if lm == full else lm))
            return _and(*parts) if parts else _All()

        f = IP6_FIELDS
        src, dst = test(f[3], f[4]), test(f[5], f[6])
        addr = str(ipaddress.IPv6Address(v)) + ("" if plen == 128 else f"/{plen}")
        pred = _and(_EtherType(0x86DD, self.depth), self.dir_pred(q.dir, src, dst))
        return _Prim(self.label(q, addr, q.addr or "host"), pred)


def _int(s: str) -> int | None:
    return int(s) if s.isdigit() else None


# --- public API ----------------------------------------------------------------------------


@dataclass(slots=True)
class Filter:
    """A compiled capture filter; ``mask(table)`` selects the rows tcpdump would select."""

    expression: str
    _root: _Pred

    def mask(self, table: PacketTable, frame_bytes: FrameBytes | None = None) -> np.ndarray:
        """Boolean mask over ``table``'s rows (pure numpy over columns)."""
        ctx = _Ctx(self.expression, table, frame_bytes)
        out, _ = self._root.ev(ctx, None)
        return np.asarray(out, dtype=bool)

    def describe(self) -> str:
        """The parsed expression in a normalized, fully parenthesized form."""
        return self._root.text()

    @property
    def needs_frame_bytes(self) -> bool:
        """True if some byte test is not a decoded field (``mask`` then needs ``frame_bytes``)."""

        todo: list[object] = [self._root]  # a stack, not recursion: chains can be long
        while todo:
            x = todo.pop()
            if isinstance(x, _Load):
                if x.mapped is None:
                    return True
                todo.append(x.index)
            elif isinstance(x, _Test):
                if x.f in ETHER_FIELDS:
                    return True
            elif isinstance(x, _Prim):
                todo.append(x.inner)
            elif isinstance(x, _Chain | _ArithChain):
                todo.append(x.first)
                todo.extend(p for _, p in x.rest)
            elif isinstance(x, _Rel):
                todo += (x.a, x.b)
            elif isinstance(x, _Not):
                todo.append(x.a)
        return False


def compile_filter(expr: str) -> Filter:
    """Parse a tcpdump-style filter; raises FilterError pointing at the offending token."""
    return Filter(expr, _Parser(expr).parse())
