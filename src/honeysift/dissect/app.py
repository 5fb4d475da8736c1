"""Application-layer records attached to the frames that carry (or complete) them.

Why a separate step: the header layers are formatted in bulk from the packet table, but
application records need payload bytes, and for TCP the reassembled stream. Only the
conversations that can hold a decoded protocol are reassembled, so a capture of mostly
SSH/telnet noise costs little here.

Placement follows tshark: a UDP record sits on its datagram's frame; a TCP message that spans
segments sits on the frame that completes it (``stream.frame_at(end - 1)``). IRC and FTP are the
exceptions, again as tshark does: those dissectors look at each segment on its own, so a line
cut by a segment boundary shows as two pieces on two frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from honeysift.capture.table import ST_OK, PacketTable
from honeysift.protocols import dcerpc, dns, ftp, http, icmp, irc, mssql, nbns, nbss, smb1, smb2
from honeysift.protocols.base import Node
from honeysift.safe_text import UNSAFE_CHARS as _UNSAFE
from honeysift.safe_text import safe
from honeysift.streams.tcp import ReassembledStream, reassemble_direction

#: UDP ports and their decoder (tshark's defaults); 138 (datagram service) is not decoded.
UDP_PORTS = {137: "nbns", 53: "dns", 5353: "dns", 1434: "mssql"}
SMB_PORTS = (139, 445)
HTTP_PORTS = (80, 8080)
IRC_PORTS = tuple(range(6660, 6670)) + (7000,)
TCP_PORTS = {139: "smb", 445: "smb", 135: "dcerpc", 21: "ftp", 53: "dns"}
TCP_PORTS.update({p: "http" for p in HTTP_PORTS})
TCP_PORTS.update({p: "irc" for p in IRC_PORTS})
#: Protocol label (Protocol column, ``frame.protocols``) of each record kind.
LABEL = {
    "nbns": "NBNS",
    "dns": "DNS",
    "mssql": "SSRP",
    "nbss": "NBSS",
    "smb": "SMB",
    "smb2": "SMB2",
    "dcerpc": "DCERPC",
    "http": "HTTP",
    "irc": "IRC",
    "ftp": "FTP",
    "icmp": "ICMP",
    "icmpv6": "ICMPv6",
}
#: The protocol part of the field names the decoders put on their trees: the record kinds,
#: and the names tshark files under protocols of their own (NTLMSSP inside SMB, SMB pipes,
#: ``_ws.malformed``, ``data.len``). ``show -Y``/``-e`` accept any name under these.
FIELD_PROTOCOLS = frozenset(LABEL) | {"ntlmssp", "smb_pipe", "_ws", "data"}
MAX_STREAM = 64 << 20  # bytes of one direction decoded; the rest is reported, not parsed


@dataclass(slots=True)
class AppRecord:
    """One decoded application record placed on a frame.

    The display tree may be built lazily: ``make`` builds it on first use of :attr:`node`, and
    ``text_of`` gives the rendered ``-V`` text without any tree (UDP records whose text comes
    from the per-payload cache in :class:`UdpCache`), so ``show -V`` never builds a tree it
    has already rendered for an identical payload.
    """

    proto: str  # key of LABEL
    _node: Node | None
    offset: int = 0  # stream offset (orders records within a frame)
    info: str = ""  # one-line summary for the Info column
    obj: Any = None  # the decoder's record (for library users and tests)
    out_of_order: bool = False  # completed by a segment captured after a later one
    _fields: dict[str, list[Any]] | None = field(default=None, repr=False)
    make: Callable[[], Node] | None = field(default=None, repr=False)
    text_of: Callable[[], str] | None = field(default=None, repr=False)
    _text: str | None = field(default=None, repr=False)

    @property
    def node(self) -> Node:
        if self._node is None:
            make, self.make = self.make, None
            self._node = make() if make is not None else Node(f"[{self.proto}]")
        return self._node

    def fields(self) -> dict[str, list[Any]]:
        if self._fields is None:
            self._fields = self.node.fields()
        return self._fields

    def text(self) -> str:
        """The ``-V`` text (kept: one record can sit on several frames, ICMP by content)."""
        if self.text_of is not None:
            return self.text_of()
        if self._text is None:
            self._text = render_text(self.node)
        return self._text


Records = dict[int, list[AppRecord]]


def _put(out: Records, frame: int | None, rec: AppRecord) -> None:
    if frame is not None:
        out.setdefault(int(frame), []).append(rec)


def _wrap(title: str, abbrev: str, nodes: list[Node]) -> Node:
    root = Node(title, abbrev, True)
    root.children.extend(nodes)
    return root


def _safe_tree(make: Callable[[], Node], what: str) -> Node:
    """A decoder's tree, or a one-line note if rendering it failed (never crash ``show``)."""
    try:
        return make()
    except Exception as exc:  # noqa: BLE001 - hostile input must never end the listing
        return Node(f"[{what}: could not be displayed: {type(exc).__name__}]")


# ---- UDP and ICMP ------------------------------------------------------------------------------


def udp_record(port_kind: str, payload: bytes) -> AppRecord:
    """Decode one datagram by the protocol its port names."""
    m = _udp_parse(port_kind, payload)
    node = _udp_tree(port_kind, m)
    if port_kind == "nbns":
        info = _nbns_info(m)
    elif port_kind == "dns":
        info = _dns_info(m)
    else:
        info = node.text
    return AppRecord(port_kind, node, 0, info)


def _udp_parse(kind: str, payload: bytes) -> Any:
    mod = nbns if kind == "nbns" else dns if kind == "dns" else mssql
    return mod.parse(payload)


def _udp_tree(kind: str, m: Any) -> Node:
    return _safe_tree(m.tree, LABEL.get(kind, kind.upper()))


def _nbns_info(m: nbns.NbnsMessage) -> str:
    try:
        kind = m.kind
        names = " ".join(str(q.name) for q in m.questions[:4]) or " ".join(
            str(a.name) for a in m.answers[:4]
        )
        return f"{kind} {names}".strip()
    except Exception:  # noqa: BLE001
        return "NBNS"


def _dns_info(m: dns.DnsMessage, ident: int | None = None) -> str:
    try:
        what = "Standard query response" if m.response else "Standard query"
        qs = " ".join(q.name for q in m.questions[:4])
        return f"{what} 0x{m.id if ident is None else ident:04x} {qs}".strip()
    except Exception:  # noqa: BLE001
        return "DNS"


def render_text(node: Node) -> str:
    """``-V`` text of a tree: 4 spaces per level, every line made terminal-safe (the same
    escapes as :func:`honeysift.safe_text.safe`, by one ``str.translate`` per unsafe line)."""
    lines: list[str] = []
    stack: list[tuple[Node, int]] = [(node, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        n, depth = pop()
        lines.append("    " * depth + n.text)
        ch = n.children
        if ch:
            d1 = depth + 1
            for c in reversed(ch):
                push((c, d1))
    if _UNSAFE.search("".join(lines)) is None:
        return "\n".join(lines)
    search = _UNSAFE.search
    return "\n".join(line.translate(_ESCAPES) if search(line) else line for line in lines)


def _escape_table() -> dict[int, str]:
    """Every character :data:`honeysift.safe_text.UNSAFE_CHARS` matches, with its escape."""
    out: dict[int, str] = {}
    for lo, hi in ((0, 0x2100), (0x2000, 0x2070)):
        for c in range(lo, hi):
            ch = chr(c)
            if _UNSAFE.match(ch):
                out[c] = safe(ch)
    return out


_ESCAPES = _escape_table()


_ID_LINE = "\n    Transaction ID: 0x"


class _UdpEntry:
    """One distinct UDP payload (DNS/NBNS: with its transaction id masked): the parsed message
    of the first datagram seen, and its ``-V`` text split around the id, built on first use."""

    __slots__ = ("kind", "data", "msg", "ident", "failed", "info", "_text")

    def __init__(self, kind: str, data: bytes, ident: int | None) -> None:
        self.kind, self.data, self.ident = kind, data, ident
        self.failed = ""
        self.msg: Any = None
        self._text: tuple[str, str] | str | None = None
        try:
            self.msg = _udp_parse(kind, data)
        except Exception as exc:  # noqa: BLE001 - a decoder bug must not end the listing
            self.failed = f"[{kind}: decoder failed: {type(exc).__name__}]"
        self.info = "" if self.failed else self._info()

    def _info(self) -> str:
        if self.kind == "nbns":
            return _nbns_info(self.msg)
        if self.kind == "dns":
            return _dns_info(self.msg)
        return self.node().text

    def node(self) -> Node:
        if self.failed:
            return Node(self.failed)
        return _udp_tree(self.kind, self.msg)

    def info_for(self, ident: int) -> str:
        if self.kind == "dns" and not self.failed and ident != self.ident:
            return _dns_info(self.msg, ident)
        return self.info

    def text_for(self, ident: int, data: bytes) -> str:
        t = self._text
        if t is None:
            txt = render_text(self.node())
            t = txt
            if self.ident is not None:
                needle = f"{_ID_LINE}{self.ident:04x}"
                at = txt.find(needle)
                if at >= 0 and txt.find("\n") == at:  # the id line is the root's first child
                    cut = at + len(needle)
                    t = (txt[: cut - 4], txt[cut:])
            self._text = t
        if isinstance(t, tuple):
            return f"{t[0]}{ident:04x}{t[1]}"
        if ident == self.ident or self.ident is None:
            return t
        return render_text(_udp_node(self.kind, data))  # id line not where expected


def _udp_node(kind: str, data: bytes) -> Node:
    try:
        return _udp_tree(kind, _udp_parse(kind, data))
    except Exception as exc:  # noqa: BLE001
        return Node(f"[{kind}: decoder failed: {type(exc).__name__}]")


class UdpCache:
    """UDP records by payload content: honeypot traffic repeats the same probes, so each
    distinct payload is decoded and rendered once. DNS and NBNS payloads are keyed without
    their transaction id (RFC 1035 4.1.1, RFC 1002 4.2.1.1: bytes 0-1), which is put back per
    frame; not when a name could read those bytes (a compression pointer to offset 0 or 1
    anywhere in the datagram) or the header is incomplete. The tree of a frame is built from
    its own bytes only when asked for (``-T fields``, ``-Y``, ``-T json``)."""

    #: distinct payloads kept; the cache starts again empty past this (bounded memory)
    MAX_ENTRIES = 50_000

    def __init__(self) -> None:
        self.entries: dict[tuple[str, bytes], _UdpEntry] = {}
        self.icmp: dict[tuple[str, bytes], AppRecord] = {}  # see icmp_record

    def record(self, kind: str, data: bytes) -> AppRecord:
        if len(self.entries) >= self.MAX_ENTRIES:
            self.entries.clear()
        ident: int | None = None
        key_data = data
        if (
            kind != "mssql"
            and len(data) >= 12
            and b"\xc0\x00" not in data
            and (b"\xc0\x01" not in data)
        ):
            ident = (data[0] << 8) | data[1]
            key_data = data[2:]
        key = (kind, key_data)
        e = self.entries.get(key)
        if e is None:
            e = self.entries[key] = _UdpEntry(kind, data, ident)
        if e.failed:
            return AppRecord(kind, Node(e.failed), 0, "")
        if ident is None or ident == e.ident:
            return AppRecord(kind, None, 0, e.info, make=e.node,
                             text_of=lambda e=e, d=data: e.text_for(e.ident or 0, d))  # fmt: skip
        return AppRecord(kind, None, 0, e.info_for(ident),
                         make=lambda k=kind, d=data: _udp_node(k, d),
                         text_of=lambda e=e, i=ident, d=data: e.text_for(i, d))  # fmt: skip

    def icmp_record(self, data: bytes, v6: bool) -> AppRecord:
        """The ICMP record of a message, one per distinct content (probes repeat; the same
        record sits on every frame that carries those bytes)."""
        key = ("icmp6" if v6 else "icmp", data)
        rec = self.icmp.get(key)
        if rec is None:
            if len(self.icmp) >= self.MAX_ENTRIES:
                self.icmp.clear()
            try:
                rec = icmp_record(data, v6)
            except Exception as exc:  # noqa: BLE001 - a decoder bug must not end the listing
                rec = AppRecord("icmp", Node(f"[icmp: decoder failed: {type(exc).__name__}]"))
            self.icmp[key] = rec
        return rec


def icmp_record(payload: bytes, v6: bool) -> AppRecord:
    m = icmp.parse(payload, v6=v6)
    node = _safe_tree(m.tree, "ICMP")
    return AppRecord("icmpv6" if v6 else "icmp", node, 0, node.text)


# ---- TCP ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Direction:
    """One reassembled direction of a conversation, with its bytes."""

    stream: ReassembledStream
    data: bytes

    def frame_at(self, offset: int) -> int | None:
        return self.stream.frame_at(offset)

    def completing_frame(self, start: int, end: int) -> int | None:
        """The frame that completed bytes ``[start, end)``: the latest-captured frame that
        delivered any of them (``frame_at(end - 1)`` unless segments came out of order)."""
        st = self.stream
        if end <= start or st.offsets.size == 0:
            return self.frame_at(start)
        a = max(int(np.searchsorted(st.offsets, start, side="right")) - 1, 0)
        b = int(np.searchsorted(st.offsets, end - 1, side="right"))
        return int(st.frames[a:b].max()) if b > a else self.frame_at(end - 1)

    def chunks(self) -> list[tuple[bytes, int]]:
        """``(bytes, frame)`` per segment's new bytes, for decoders that take chunks."""
        offs = self.stream.offsets.tolist() + [len(self.data)]
        frs = self.stream.frames.tolist()
        return [(self.data[offs[i] : offs[i + 1]], int(frs[i])) for i in range(len(frs))]

    def segments(self) -> list[tuple[int, bytes, int]]:
        """``(offset, bytes, frame)`` per segment (what a per-segment dissector sees)."""
        offs = self.stream.offsets.tolist() + [len(self.data)]
        frs = self.stream.frames.tolist()
        return [(offs[i], self.data[offs[i] : offs[i + 1]], int(frs[i])) for i in range(len(frs))]


def reassemble(
    t: PacketTable, rows: np.ndarray, payload: Callable[[int], bytes]
) -> Direction | None:
    """Reassemble the TCP segments at table ``rows`` (one direction, capture order)."""
    if rows.size == 0:
        return None
    pl = t.payload_len[rows].astype(np.int64)
    avail = np.clip(t.caplen[rows].astype(np.int64) - t.payload_off[rows].astype(np.int64), 0, None)
    capl = np.where(t.reassembled[rows], pl, np.minimum(pl, avail))
    rl = rows.tolist()
    st = reassemble_direction(
        t.seq[rows],
        t.tcp_flags[rows],
        capl,
        t.frame[rows],
        t.ts_ns[rows],
        lambda i: payload(rl[i]),
        wire_len=pl,
        spill_threshold=MAX_STREAM * 4,
    )
    data = st.read()[:MAX_STREAM]
    if not data:
        return None
    return Direction(st, data)


def tcp_records(
    kind: str,
    client: Direction | None,
    server: Direction | None,
    out: Records,
    smb2_ctx: smb2.Smb2Context | None = None,
    server_port: int = 0,
) -> None:
    """Decode one TCP conversation as ``kind`` and place its records on frames."""
    if kind == "smb":
        _smb(client, server, out, smb2_ctx, direct=server_port != 139)
    elif kind == "dcerpc":
        c = client.chunks() if client else []
        s = server.chunks() if server else []
        _dcerpc(c, s, out)
    elif kind == "http":
        _http(client, server, out)
    elif kind == "irc":
        for d, fc in ((client, True), (server, False)):
            if d is not None:
                _irc(d, fc, out)
    elif kind == "ftp":
        for d, fc in ((client, True), (server, False)):
            if d is not None:
                _ftp(d, fc, out)
    elif kind == "dns":
        for d in (client, server):
            if d is not None:
                _dns_tcp(d, out)


def _smb(
    client: Direction | None, server: Direction | None, out: Records, ctx, direct: bool
) -> None:
    msgs: list[list[tuple[bytes, int]]] = [[], []]
    kinds: list[str] = []
    for side, d in enumerate((client, server)):
        if d is None:
            continue
        for m in nbss.split(d.data, direct=direct):
            end = m.offset + 4 + len(m.body)
            fr = d.completing_frame(m.offset, end) if not m.truncated else None
            _put(out, fr, AppRecord("nbss", _safe_tree(m.tree, "NBSS"), m.offset, m.type_text))
            if m.type == 0 and fr is not None and not m.truncated and m.body:
                msgs[side].append((m.body, fr))
                kinds.append(m.body[:4].hex())
    smb1c = [(b, f) for b, f in msgs[0] if b[:4] == smb1.MAGIC]
    smb1s = [(b, f) for b, f in msgs[1] if b[:4] == smb1.MAGIC]
    if smb1c or smb1s:
        ex = smb1.decode_session(smb1c, smb1s)
        seen: dict[int, Any] = {}
        for e in ex:
            for m in [e.request_msg, e.response_msg, *e.extra_responses]:
                if m is not None:
                    seen[id(m)] = m
        for m in seen.values():
            node = _safe_tree(m.tree, "SMB")
            _put(out, m.ref, AppRecord("smb", node, 1, _smb_info(m.fields())))
        for ps in smb1.pipe_streams(ex):
            _dcerpc(ps.client, ps.server, out)
    smb2c = [(b, f) for b, f in msgs[0] if b[:4] == smb2.MAGIC]
    smb2s = [(b, f) for b, f in msgs[1] if b[:4] == smb2.MAGIC]
    if smb2c or smb2s:
        ex2 = smb2.decode_session(smb2c, smb2s, ctx)
        seen2: dict[int, Any] = {}
        for e in ex2:
            for m in [e.request, e.response, *e.interim]:
                if m is not None:
                    seen2[id(m)] = m
        for m in sorted(seen2.values(), key=lambda m: (m.ref, m.offset)):
            node = _safe_tree(m.tree, "SMB2")
            _put(out, m.ref, AppRecord("smb2", node, 1 + m.offset, node.text))
        for ps in smb2.pipe_streams(ex2):
            _dcerpc(ps.client, ps.server, out)


def _smb_info(f: dict[str, list[Any]]) -> str:
    parts = [smb1.command_name(c) for c in f.get("smb.cmd", [])[:3]]
    return ", ".join(parts) or "SMB"


def _dcerpc(client: list, server: list, out: Records) -> None:
    conn = dcerpc.decode_connection(client, server)
    for p in conn.pdus:
        node = _safe_tree(p.tree, "DCE/RPC")
        _put(out, p.ref, AppRecord("dcerpc", node, 1_000_000 + p.offset, node.text))


def _http(client: Direction | None, server: Direction | None, out: Records) -> None:
    reqs = http.parse_requests(client.data) if client else []
    if client:
        for m in reqs:
            _put(out, client.completing_frame(m.offset, max(m.end, m.offset + 1)), _http_rec(m))
    if server:
        for m in http.parse_responses(server.data, request_methods=[r.method for r in reqs]):
            rec = _http_rec(m)
            fr = server.completing_frame(m.offset, max(m.end, m.offset + 1))
            rec.out_of_order = fr != server.frame_at(max(m.end, m.offset + 1) - 1)
            _put(out, fr, rec)


def _http_rec(m: http.HttpMessage) -> AppRecord:
    node = _safe_tree(m.tree, "HTTP")
    if not m.is_request and m.status is None:
        # bytes that do not start a response (a body after a gap, garbage): tshark shows them
        # as "Continuation" without http.response fields
        node = Node("Hypertext Transfer Protocol: Continuation", "http", True)
    return AppRecord("http", node, m.offset, node.text.split(": ", 1)[-1], m)


def _irc(d: Direction, from_client: bool, out: Records) -> None:
    for off, seg, fr in d.segments():
        lines = irc.parse_lines(seg, from_client=from_client, base_offset=off)
        if not lines:
            continue
        nodes = [_safe_tree(m.tree, "IRC") for m in lines]
        info = (
            ("Request" if from_client else "Response")
            + " ("
            + (lines[0].command.decode("ascii", "replace")[:20])
            + ")"
        )
        _put(out, fr, AppRecord("irc", _wrap("Internet Relay Chat", "irc", nodes), off, info))


def _ftp(d: Direction, from_client: bool, out: Records) -> None:
    for off, seg, fr in d.segments():
        if from_client:
            recs: list[Any] = ftp.parse_commands(seg, base_offset=off)
        else:
            recs = ftp.parse_replies(seg, base_offset=off)
        if not recs:
            continue
        first = recs[0]
        if not from_client and first.code is None:
            # a continuation of a multi-line reply begun in an earlier segment: tshark shows
            # the frame as FTP without request/response fields
            text = seg.split(b"\n", 1)[0].rstrip(b"\r")
            nodes = [Node(f"Response continuation: {_line(seg)}")]
            nodes[0].add(
                f"Response arg: {_line(seg)}",
                "ftp.response.arg",
                text.decode("utf-8", "surrogateescape"),
            )
        else:
            nodes = [_safe_tree(first.tree, "FTP")]
        for r in recs[1:]:
            nodes.append(Node(f"[more: {_line(r.raw if from_client else b''.join(r.lines[:1]))}]"))
        root = _wrap("File Transfer Protocol (FTP)", "ftp", nodes)
        _put(out, fr, AppRecord("ftp", root, off, nodes[0].text))


def _line(b: bytes) -> str:
    from honeysift.safe_text import safe_bytes

    return safe_bytes(b.split(b"\n", 1)[0].rstrip(b"\r")[:200])


def _dns_tcp(d: Direction, out: Records) -> None:
    pos, data = 0, d.data
    for _ in range(len(data) // 2 + 1):
        if pos + 2 > len(data):
            break
        ln = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + ln > len(data):
            break
        m = dns.parse(data[pos : pos + 2 + ln], tcp=True)
        _put(
            out,
            d.completing_frame(pos, pos + 2 + ln),
            AppRecord("dns", _safe_tree(m.tree, "DNS"), pos, _dns_info(m)),
        )
        pos += 2 + ln


# ---- choosing what to decode -------------------------------------------------------------------


def _sniff_first_bytes() -> frozenset[bytes]:
    """Every first byte the three content tests below can accept (HTTP: a method or
    ``HTTP/``; IRC: ``:``, ``@`` tags or a command word in either case; DCE/RPC: version 5)."""
    irc_words = (*irc.CLIENT_FIRST, *irc.UNPREFIXED_SERVER_FIRST)  # either case
    firsts = {w[:1] for w in (*http.METHODS, b"HTTP/")} | {w[:1] for w in irc_words}
    firsts |= {w[:1].lower() for w in irc_words}
    return frozenset(firsts | {b":", b"@", b"\x05"})


_SNIFF_FIRST = _sniff_first_bytes()


def sniff_kind(first_client: bytes, first_server: bytes) -> str | None:
    """Protocol of a conversation on an unexpected port, from its first bytes."""
    if first_client[:1] not in _SNIFF_FIRST and first_server[:1] not in _SNIFF_FIRST:
        return None  # SSH, telnet, binary protocols: no test below can match
    if http.looks_like_http(first_client):
        return "http"
    if irc.looks_like_irc(first_client) or irc.looks_like_irc(first_server):
        return "irc"
    if looks_like_dcerpc(first_client):
        return "dcerpc"
    return None


def looks_like_dcerpc(data: bytes) -> bool:
    """A connection-oriented DCE/RPC PDU header (C706 12.6.3.1): version 5.0, a known type,
    little- or big-endian data representation, a fragment length of at least 16."""
    if len(data) < 16 or data[0] != 5 or data[1] != 0 or data[2] > 20 or data[4] & 0xEE:
        return False
    flen = int.from_bytes(data[8:10], "little" if data[4] & 0x10 else "big")
    return flen >= 16


def tcp_ok(t: PacketTable) -> np.ndarray:
    return (t.proto == 6) & ((t.status == ST_OK) | t.reassembled) & (t.ip_version > 0)
