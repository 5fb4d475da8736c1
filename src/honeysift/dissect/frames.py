"""Per-frame header layers (Frame, link, IP, TCP/UDP), formatted in bulk from the packet table.

Why columnar: ``show -V`` over a million frames must not build a Python object per header
layer. Every header field is already a numpy column; the text of each layer is built by
whole-column pyarrow string operations (see "formatting" below), and only frames that carry
an application record get Python work (see :mod:`honeysift.dissect.app`).

Layer text follows ``tshark -V`` labels ("Source Port:", "Time to Live:", "Flags: 0x018 (PSH,
ACK)") with fewer lines: bit-field breakdowns, checksums and tshark's analysis lines
("[Time delta ...]", "[SEQ/ACK analysis]") are left out (docs/protocols.md lists them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from honeysift.capture import linktypes
from honeysift.capture.table import (
    ST_FRAG_INCOMPLETE,
    ST_FRAGMENT,
    ST_NOT_IP,
    ST_OK,
    STATUS_NAMES,
    PacketTable,
    address_ids,
    halves_to_addr,
    ipv4_rows,
    pair_groups,
)

IP_PROTO = {1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 41: "IPv6", 47: "GRE", 50: "ESP",
            58: "ICMPv6", 132: "SCTP"}  # fmt: skip
ETHERTYPE = {0x0800: "IPv4", 0x86DD: "IPv6", 0x0806: "ARP", 0x8100: "802.1Q Virtual LAN",
             0x88A8: "802.1ad", 0x8035: "RARP", 0x88CC: "LLDP"}  # fmt: skip
TCP_FLAG_NAMES = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"]
#: tshark's order of flag names in the Info column and the Flags line
_FLAG_ORDER = [1, 0, 2, 3, 4, 5, 6, 7]


def _flag_text(v: int) -> str:
    names = [TCP_FLAG_NAMES[b] for b in _FLAG_ORDER if v >> b & 1]
    return ", ".join(names)


FLAG_TEXT = [_flag_text(v) for v in range(256)]


@dataclass(slots=True)
class Conversations:
    """TCP/UDP conversations keyed by (proto, unordered address/port pair), per table row.

    ``index`` is tshark's ``tcp.stream``/``udp.stream`` (numbered separately per protocol in
    order of first appearance, -1 for other rows); ``conv`` a global id; ``from_client`` whether
    the row was sent by the side that opened the conversation.
    """

    conv: np.ndarray  # int64, -1 outside TCP/UDP
    index: np.ndarray  # int64 stream index per protocol, -1 outside
    from_client: np.ndarray  # bool
    client_port: np.ndarray  # per conv id: the client's port
    server_port: np.ndarray  # per conv id: the server's port
    proto: np.ndarray  # per conv id: 6 or 17


WELL_KNOWN_LIMIT = 1024


def conversations(t: PacketTable, server_ports: frozenset[int] = frozenset()) -> Conversations:
    n = len(t)
    ok = ((t.status == ST_OK) | t.reassembled) & (t.ip_version > 0)
    l4 = ok & ((t.proto == 6) | (t.proto == 17))
    rows = np.flatnonzero(l4)
    conv = np.full(n, -1, np.int64)
    index = np.full(n, -1, np.int64)
    from_client = np.zeros(n, bool)
    if rows.size == 0:
        z = np.zeros(0, np.int64)
        return Conversations(conv, index, from_client, z, z, z)
    # endpoints as (address id, port) in one int64: address ids keep (hi, lo) order, so the
    # comparisons and the sort below order endpoints as the (hi, lo, port) triples would
    m = rows.size
    ids, _, _ = address_ids(
        np.concatenate([t.src_hi[rows], t.dst_hi[rows]]),
        np.concatenate([t.src_lo[rows], t.dst_lo[rows]]),
    )
    ea = (ids[:m] << 16) | t.sport[rows].astype(np.int64)
    eb = (ids[m:] << 16) | t.dport[rows].astype(np.int64)
    # side 0: (src, sport) is the smaller endpoint
    a_lt = ea <= eb
    k_lo = np.minimum(ea, eb)
    k_hi = (t.proto[rows].astype(np.int64) << 56) | np.maximum(ea, eb)
    srt, new, inv = pair_groups(k_hi, k_lo)
    first = srt[new]  # the first row of each conversation, in key order
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    cid = rank[inv]  # conversation ids in order of first appearance
    nconv = order.size
    conv[rows] = cid
    cproto = np.empty(nconv, np.int64)
    cproto[cid] = t.proto[rows]
    # per-protocol stream index
    sidx = np.empty(nconv, np.int64)
    for p in (6, 17):
        m = cproto == p
        sidx[m] = np.arange(int(m.sum()))
    index[rows] = sidx[cid]
    side = np.where(a_lt, 0, 1)
    sport = t.sport[rows].astype(np.int64)
    dport = t.dport[rows].astype(np.int64)
    # which side is the client: the sender of a SYN without ACK; else the side talking to a
    # well-known/service port; else the sender of the first packet
    client_side = np.full(nconv, -1, np.int64)
    first_side = np.full(nconv, -1, np.int64)
    rev = slice(None, None, -1)
    first_side[cid[rev]] = side[rev]  # last write wins: the first row of each conversation
    ports = np.array(sorted(server_ports), np.int64)
    dk, sk = np.isin(dport, ports), np.isin(sport, ports)
    wk_d = (dport < WELL_KNOWN_LIMIT) & (sport >= WELL_KNOWN_LIMIT)
    wk_s = (sport < WELL_KNOWN_LIMIT) & (dport >= WELL_KNOWN_LIMIT)
    # both ports known (HTTP from client port 6667): the lower one is the server's
    dst_srv = (dk & (~sk | (dport < sport))) | wk_d
    src_srv = (sk & (~dk | (sport < dport))) | wk_s
    guess = np.where(dst_srv & ~src_srv, side, np.where(src_srv & ~dst_srv, 1 - side, -1))
    g = guess >= 0
    client_side[cid[g][rev]] = guess[g][rev]
    flags = t.tcp_flags[rows]
    syn = (t.proto[rows] == 6) & ((flags & 0x12) == 0x02)
    client_side[cid[syn][rev]] = side[syn][rev]
    client_side = np.where(client_side < 0, first_side, client_side)
    fc = side == client_side[cid]
    from_client[rows] = fc
    cport = np.zeros(nconv, np.int64)
    sport_c = np.zeros(nconv, np.int64)
    cport[cid] = np.where(fc, sport, dport)
    sport_c[cid] = np.where(fc, dport, sport)
    return Conversations(conv, index, from_client, cport, sport_c, cproto)


# ---- formatting --------------------------------------------------------------------------------
#
# Every text column is a pyarrow string array built by whole-column operations: numbers are
# cast to decimal text, fixed-width hex and digit fields come from numpy digit matrices, and
# values with few distinct values (protocol names, link-layer texts, flag texts) are formatted
# once per distinct value and gathered with ``take``. A layer is computed on the rows that have
# it and scattered into the full column; the columns are then joined element-wise.

Col = pa.Array


def _str(a: np.ndarray) -> Col:
    """Integers as decimal text."""
    return pc.cast(pa.array(np.asarray(a, np.int64)), pa.string())


def _fixed(data: np.ndarray) -> Col:
    """An (n, w) uint8 matrix of ASCII as n strings of width w (no copy through Python)."""
    n, w = data.shape
    offs = (np.arange(n + 1, dtype=np.int64) * w).astype(np.int32)
    buf = np.ascontiguousarray(data, np.uint8)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offs), pa.py_buffer(buf))


_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)


def _hex(v: np.ndarray, width: int) -> Col:
    """Zero-padded lower-case hex of ``width`` digits (no ``0x``)."""
    v = np.asarray(v).astype(np.uint64)
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
    return _fixed(_HEX[((v[:, None] >> shifts[None, :]) & np.uint64(15)).astype(np.intp)])


def _digits(v: np.ndarray, width: int) -> Col:
    """Zero-padded decimal of ``width`` digits (``v`` >= 0, < 10**width)."""
    v = np.asarray(v).astype(np.int64)
    pw = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return _fixed((48 + (v[:, None] // pw[None, :]) % 10).astype(np.uint8))


def _lookup(keys: np.ndarray, fmt) -> Col:
    """``fmt(key)`` per row, each distinct key formatted once in Python."""
    keys = np.asarray(keys)
    if keys.size == 0:
        return pa.array([], pa.string())
    uniq, inv = np.unique(keys, return_inverse=True)
    text = pa.array([fmt(k) for k in uniq.tolist()], pa.string())
    return text.take(pa.array(inv.ravel().astype(np.int64)))


def _cat(*parts) -> Col:
    return pc.binary_join_element_wise(*parts, "")


def _scatter(n: int, pieces: list[tuple[np.ndarray, Col]]) -> Col:
    """A column of ``n`` strings: ``arr[j]`` at row ``idx[j]`` for each piece, '' elsewhere."""
    pieces = [(i, a) for i, a in pieces if len(i)]
    if not pieces:
        return pa.array([""] * n, pa.string()) if n else pa.array([], pa.string())
    total = sum(len(a) for _, a in pieces)
    pos = np.full(n, total, np.int64)
    at = 0
    for idx, a in pieces:
        pos[idx] = np.arange(at, at + len(a))
        at += len(a)
    arrs = [pc.cast(a, pa.string()) for _, a in pieces] + [pa.array([""], pa.string())]
    return pa.concat_arrays(arrs).take(pa.array(pos))


def _addr_col(hi: np.ndarray, lo: np.ndarray) -> Col:
    """Addresses as text: IPv4 (IPv4-mapped values) as dotted quads column-wise, IPv6 once
    per distinct value in Python."""
    if hi.size == 0:
        return pa.array([], pa.string())
    hi, lo = hi.astype(np.uint64), lo.astype(np.uint64)
    v4 = ipv4_rows(hi, lo)
    v4i = np.flatnonzero(v4)
    pieces: list[tuple[np.ndarray, Col]] = []
    if v4i.size:
        a = lo[v4i]
        o = [_str((a >> np.uint64(s)) & np.uint64(255)) for s in (24, 16, 8, 0)]
        pieces.append((v4i, _cat(o[0], ".", o[1], ".", o[2], ".", o[3])))
    v6i = np.flatnonzero(~v4)
    if v6i.size:
        key = np.stack([hi[v6i], lo[v6i]], 1)
        uniq, inv = np.unique(key, axis=0, return_inverse=True)
        text = pa.array([halves_to_addr(h, low) for h, low in uniq.tolist()], pa.string())
        pieces.append((v6i, text.take(pa.array(inv.ravel().astype(np.int64)))))
    if len(pieces) == 1 and pieces[0][0].size == hi.size:
        return pieces[0][1]
    return _scatter(hi.size, pieces)


def _mac_col(b: np.ndarray) -> Col:
    """(n, 6) uint8 -> 'aa:bb:cc:dd:ee:ff'."""
    out = np.full((b.shape[0], 17), ord(":"), np.uint8)
    out[:, 0::3] = _HEX[b >> 4]
    out[:, 1::3] = _HEX[b & 15]
    return _fixed(out)


def _mac_strings(b: np.ndarray) -> list[str]:
    return _mac_col(b).to_pylist()


def _addr_strings(hi: np.ndarray, lo: np.ndarray) -> list[str]:
    return _addr_col(hi, lo).to_pylist()


def _gather(mm: np.ndarray, starts: np.ndarray, width: int, limit: np.ndarray) -> np.ndarray:
    """``width`` bytes at each start (zero past ``limit`` bytes or the end of the file)."""
    if starts.size == 0:
        return np.zeros((0, width), np.uint8)
    idx = starts[:, None] + np.arange(width)[None, :]
    valid = (np.arange(width)[None, :] < limit[:, None]) & (idx < mm.shape[0])
    out = mm[np.where(valid, idx, 0)]
    out[~valid] = 0
    return out


def _iso_col(ts_ns: np.ndarray) -> Col:
    """ISO 8601 UTC with nanoseconds: the date-time part once per distinct second."""
    sec, frac = np.divmod(ts_ns.astype(np.int64), 1_000_000_000)
    uniq, inv = np.unique(sec, return_inverse=True)
    head = pa.array(np.datetime_as_string(uniq.astype("datetime64[s]")).tolist(), pa.string())
    return _cat(head.take(pa.array(inv.ravel().astype(np.int64))), ".", _digits(frac, 9), "Z")


def iso_times(ts_ns: np.ndarray) -> list[str]:
    return _iso_col(np.asarray(ts_ns)).to_pylist()


def _rel_col(rel_ns: np.ndarray) -> Col:
    """``f"{rel_ns / 1e9:.6f}"`` per row; exact halves and negatives are left to Python."""
    rel_ns = rel_ns.astype(np.int64)
    q = (rel_ns + 500) // 1000
    col = _cat(_str(q // 1_000_000), ".", _digits(q % 1_000_000, 6))
    odd = np.flatnonzero((rel_ns < 0) | (rel_ns % 1000 == 500))
    if odd.size:
        fix = pa.array([f"{x / 1e9:.6f}" for x in rel_ns[odd].tolist()], pa.string())
        mask = np.zeros(rel_ns.size, bool)
        mask[odd] = True
        col = pc.replace_with_mask(col, pa.array(mask), fix)
    return col


@dataclass(slots=True)
class HeaderText:
    """Formatted header layers of the selected rows, one string per row in each column
    (pyarrow string arrays; ``to_pylist()`` for Python lists)."""

    frame_block: Col  # "Frame N: ..." and its children, without the protocols line
    layers: Col  # link, IP and transport layers ('' when none)
    stack: Col  # frame.protocols without the application part
    src: Col
    dst: Col
    proto: Col  # Protocol column (header part)
    info: Col  # Info column (header part)
    rel: Col  # time since the first frame, "%.6f"


# row class bits (see _class_key)
_K_VLAN, _K_VLAN_IN, _K_L4 = 1, 2, 4


def _class_key(lt, et, status, ipv, proto, l4, vlan, vlan_in) -> np.ndarray:
    """One int64 per row packing what the stack/Protocol/link texts depend on."""
    return (
        (lt.astype(np.int64) << 44)
        | (et.astype(np.int64) << 28)
        | (status.astype(np.int64) << 20)
        | (ipv.astype(np.int64) << 16)
        | (proto.astype(np.int64) << 8)
        | np.where(l4, _K_L4, 0)
        | np.where(vlan >= 0, _K_VLAN, 0)
        | np.where(vlan_in >= 0, _K_VLAN_IN, 0)
    )


def _class_texts(k: int, verbose: bool) -> tuple[str, str, str, str]:
    """(stack, Protocol column, Info column, link text without MACs) of one row class."""
    lt, et, status = k >> 44, (k >> 28) & 0xFFFF, (k >> 20) & 0xFF
    ipv, p, l4 = (k >> 16) & 0xF, (k >> 8) & 0xFF, bool(k & _K_L4)
    vl, vli = bool(k & _K_VLAN), bool(k & _K_VLAN_IN)
    link = ""
    if lt == linktypes.EN10MB:
        st = "eth:ethertype"
        if verbose:
            st += ":vlan:ethertype" * (vl + vli)
        elif vl:
            st += ":vlan:ethertype" * (1 + vli)
    elif lt in (linktypes.LINUX_SLL, linktypes.LINUX_SLL2):
        st = "sll:ethertype"
        link = (
            f"Linux cooked capture v{2 if lt == linktypes.LINUX_SLL2 else 1}\n"
            f"    Protocol: {ETHERTYPE.get(et, 'Unknown')} (0x{et:04x})"
        )
    elif lt in (linktypes.NULL, linktypes.LOOP):
        st = "null"
        fam = "IPv6" if et == 0x86DD else "IP" if et == 0x0800 else "unknown"
        link = f"Null/Loopback\n    Family: {fam}"
    elif lt in linktypes.DECODED:
        st, link = "raw", "Raw packet data"
    else:
        st = linktypes.name(lt).lower()
        link = f"[Link type {linktypes.name(lt)} ({lt}): not decoded]"
    pcol = info = ""
    if not ipv:
        if status != ST_NOT_IP:
            link += f"\n[{STATUS_NAMES.get(status, 'undecoded')}]"
            pcol = linktypes.name(lt)
            info = STATUS_NAMES.get(status, "")
        else:
            pcol = "ARP" if et == 0x0806 else ETHERTYPE.get(et, f"0x{et:04x}")
            st += ":" + pcol.lower()
            info = f"Ethertype 0x{et:04x}"
    else:
        st += ":ip" if ipv == 4 else ":ipv6"
        pcol = "IPv4" if ipv == 4 else "IPv6"
        info = f"{IP_PROTO.get(p, str(p))} ({p})"
        if l4 and p in (6, 17):
            st += ":tcp" if p == 6 else ":udp"
            pcol = "TCP" if p == 6 else "UDP"
    return st, pcol, info, link


def header_text(
    t: PacketTable,
    rows: np.ndarray,
    mm: np.ndarray,
    first_ts_ns: int,
    convs: Conversations,
    verbose: bool = True,
) -> HeaderText:
    rows = np.asarray(rows, np.int64)
    n = rows.size
    caplen = t.caplen[rows].astype(np.int64)
    wire = t.origlen[rows].astype(np.int64)
    ts = t.ts_ns[rows].astype(np.int64)
    rel = _rel_col(ts - np.int64(first_ts_ns))
    status = t.status[rows]
    ipv = t.ip_version[rows]
    is_ip = ipv > 0
    proto = t.proto[rows]
    l4ok = ((status == ST_OK) | t.reassembled[rows]) & is_ip
    link = t.linktype[rows]
    vlan, vlan_in = t.vlan[rows], t.vlan_inner[rows]
    ethertype = t.ethertype[rows]
    key = _class_key(link, ethertype, status, ipv, proto, l4ok, vlan, vlan_in)
    uniq, inv = np.unique(key, return_inverse=True)
    texts = [_class_texts(k, verbose) for k in uniq.tolist()]
    take = pa.array(inv.ravel().astype(np.int64))
    stack = pa.array([x[0] for x in texts], pa.string()).take(take)
    pcol = pa.array([x[1] for x in texts], pa.string()).take(take)
    info = pa.array([x[2] for x in texts], pa.string()).take(take)
    # ---- addresses: IP rows, else the MACs of Ethernet frames
    ipr = np.flatnonzero(is_ip)
    eth = link == linktypes.EN10MB
    er = np.flatnonzero(eth)
    src_p = [(ipr, _addr_col(t.src_hi[rows[ipr]], t.src_lo[rows[ipr]]))]
    dst_p = [(ipr, _addr_col(t.dst_hi[rows[ipr]], t.dst_lo[rows[ipr]]))]
    macs_src = macs_dst = eth_type = None
    if er.size:
        hb = _gather(mm, t.offset[rows[er]], 14, caplen[er])
        macs_dst, macs_src = _mac_col(hb[:, 0:6]), _mac_col(hb[:, 6:12])
        eth_type = (hb[:, 12].astype(np.int64) << 8) | hb[:, 13]
        nonip = np.flatnonzero(~is_ip[er])
        if nonip.size:
            pick = pa.array(nonip)
            src_p.append((er[nonip], macs_src.take(pick)))
            dst_p.append((er[nonip], macs_dst.take(pick)))
    src, dst = _scatter(n, src_p), _scatter(n, dst_p)
    # ---- IP-layer Info of fragments
    frag = np.flatnonzero(is_ip & ((status == ST_FRAGMENT) | (status == ST_FRAG_INCOMPLETE)))
    if frag.size:
        r = rows[frag]
        ftxt = _cat(
            "Fragmented IP protocol (proto=",
            _lookup(proto[frag], lambda p: f"{IP_PROTO.get(p, str(p))} {p}"),
            ", off=", _str(t.frag_off[r]), ", ID=", _hex(t.ip_id[r], 4), ")",
        )  # fmt: skip
        mask = np.zeros(n, bool)
        mask[frag] = True
        info = pc.replace_with_mask(info, pa.array(mask), ftxt)
    # ---- transport Info
    tr = np.flatnonzero(l4ok & (proto == 6))
    ur = np.flatnonzero(l4ok & (proto == 17))
    tcp_cols = udp_cols = None
    if tr.size:
        tcp_cols = _tcp_columns(t, rows[tr], convs)
        sp, dp, seq, ack, win, plen, flags = (tcp_cols[k] for k in
                                              ("sp", "dp", "seq", "ack", "win", "plen", "flags"))  # fmt: skip
        tinfo = _cat(sp, " \u2192 ", dp, " [", flags, "] Seq=", seq, " Ack=", ack, " Win=", win,
                     " Len=", plen)  # fmt: skip
    if ur.size:
        r = rows[ur]
        plen_u = t.payload_len[r].astype(np.int64)
        udp_cols = {"sp": _str(t.sport[r]), "dp": _str(t.dport[r]), "plen": _str(plen_u),
                    "len": _str(plen_u + 8), "sidx": _str(convs.index[r])}  # fmt: skip
        uinfo = _cat(udp_cols["sp"], " \u2192 ", udp_cols["dp"], " Len=", udp_cols["plen"])
    if tr.size or ur.size:
        mask = np.zeros(n, bool)
        mask[tr] = True
        mask[ur] = True
        order = np.concatenate([tr, ur])
        srt = np.argsort(order, kind="stable")
        repl = pa.concat_arrays(([tinfo] if tr.size else []) + ([uinfo] if ur.size else [])).take(
            pa.array(srt)
        )
        info = pc.replace_with_mask(info, pa.array(mask), repl)
    if not verbose:
        empty = pa.array([""] * n, pa.string())
        return HeaderText(empty, empty, stack, src, dst, pcol, info, rel)
    # ---- Frame block
    frame = _str(t.frame[rows])
    w, w8, c, c8 = _str(wire), _str(wire * 8), _str(caplen), _str(caplen * 8)
    sec, frac = np.divmod(ts, 1_000_000_000)
    fb = _cat(
        "Frame ", frame, ": ", w, " bytes on wire (", w8, " bits), ", c, " bytes captured (",
        c8, " bits)\n    Arrival Time: ", _iso_col(ts), "\n    Epoch Time: ", _str(sec), ".",
        _digits(frac, 9), " seconds\n    [Time since reference or first frame: ", rel,
        " seconds]\n    Frame Number: ", frame, "\n    Frame Length: ", w, " bytes (", w8,
        " bits)\n    Capture Length: ", c, " bytes (", c8, " bits)",
    )  # fmt: skip
    # ---- link layer: Ethernet from the MACs, the other link types per row class
    link_txt = pa.array([x[3] for x in texts], pa.string()).take(take)
    if er.size:
        vl_key = (
            (vlan[er].astype(np.int64) + 1) << 34
            | (vlan_in[er].astype(np.int64) + 1) << 17
            | ethertype[er].astype(np.int64)
        )
        etxt = _cat(
            "Ethernet II, Src: ", macs_src, ", Dst: ", macs_dst, "\n    Destination: ", macs_dst,
            "\n    Source: ", macs_src, "\n    Type: ",
            _lookup(eth_type, lambda v: f"{ETHERTYPE.get(v, 'Unknown')} (0x{v:04x})"),
            _lookup(vl_key, _vlan_text),
            pc.take(link_txt, pa.array(er)),  # the note of a non-IP frame ('' otherwise)
        )  # fmt: skip
        mask = np.zeros(n, bool)
        mask[er] = True
        link_txt = pc.replace_with_mask(link_txt, pa.array(mask), etxt)
    # ---- IP layer
    ip_p = []
    for v, fn in ((4, _ipv4_text), (6, _ipv6_text)):
        sel = np.flatnonzero(ipv == v)
        if sel.size:
            ip_p.append((sel, fn(t, rows[sel], status[sel], src.take(pa.array(sel)),
                                 dst.take(pa.array(sel)))))  # fmt: skip
    ip_txt = _scatter(n, ip_p)
    # ---- transport
    l4_p = []
    if tcp_cols is not None:
        l4_p.append((tr, _tcp_text(tcp_cols)))
    if udp_cols is not None:
        u = udp_cols
        l4_p.append((ur, _cat(
            "\nUser Datagram Protocol, Src Port: ", u["sp"], ", Dst Port: ", u["dp"],
            "\n    Source Port: ", u["sp"], "\n    Destination Port: ", u["dp"],
            "\n    Length: ", u["len"], "\n    [Stream index: ", u["sidx"],
            "]\n    UDP payload (", u["plen"], " bytes)",
        )))  # fmt: skip
    layers = _cat(link_txt, ip_txt, _scatter(n, l4_p))
    return HeaderText(fb, layers, stack, src, dst, pcol, info, rel)


def _vlan_text(k: int) -> str:
    v, vi, et = (k >> 34) - 1, ((k >> 17) & 0x1FFFF) - 1, k & 0xFFFF
    txt = ""
    for x in (v, vi):
        if x >= 0:
            txt += f"\n802.1Q Virtual LAN, ID: {x}\n    ID: {x}"
    if v >= 0:
        txt += f"\n    Type: {ETHERTYPE.get(et, 'Unknown')} (0x{et:04x})"
    return txt


def _ip_note(k: int) -> str:
    st, reas = k >> 1, k & 1
    if st == ST_FRAGMENT:
        return "\n    [IP fragment: the datagram is reassembled on a later frame]"
    if st == ST_FRAG_INCOMPLETE:
        return "\n    [IP fragment of a datagram that never completed]"
    if reas:
        return "\n    [Reassembled IP datagram: payload from several fragments]"
    if st != ST_OK:
        return f"\n    [{STATUS_NAMES.get(st, 'undecoded')}]"
    return ""


def _note(t, r, status) -> Col:
    return _lookup((status.astype(np.int64) << 1) | t.reassembled[r].astype(np.int64), _ip_note)


def _pname(p: int) -> str:
    return f"{IP_PROTO.get(p, str(p))} ({p})"


def _ipv4_flags(f: int) -> str:
    ftxt = ", Don't fragment" if f & 2 else ""
    ftxt += ", More fragments" if f & 1 else ""
    bits = (0x40 if f & 2 else 0) | (0x20 if f & 1 else 0)
    return f"0x{bits:02x}{ftxt}"


def _ipv4_text(t, r, status, src: Col, dst: Col) -> Col:
    hl = t.ip_hlen[r].astype(np.int64)
    ipid = t.ip_id[r]
    return _cat(
        "\nInternet Protocol Version 4, Src: ", src, ", Dst: ", dst,
        "\n    Version: 4\n    Header Length: ",
        _lookup(hl, lambda h: f"{h} bytes ({h // 4})"),
        "\n    Total Length: ", _str(t.ip_len[r]),
        "\n    Identification: 0x", _hex(ipid, 4), " (", _str(ipid),
        ")\n    Flags: ", _lookup(t.ip_flags[r], _ipv4_flags),
        "\n    Fragment Offset: ", _str(t.frag_off[r]), "\n    Time to Live: ", _str(t.ttl[r]),
        "\n    Protocol: ", _lookup(t.proto[r], _pname),
        "\n    Source Address: ", src, "\n    Destination Address: ", dst, _note(t, r, status),
    )  # fmt: skip


def _ipv6_text(t, r, status, src: Col, dst: Col) -> Col:
    return _cat(
        "\nInternet Protocol Version 6, Src: ", src, ", Dst: ", dst,
        "\n    Version: 6\n    Payload Length: ", _str(t.ip_len[r].astype(np.int64) - 40),
        "\n    Next Header: ", _lookup(t.proto[r], _pname),
        "\n    Hop Limit: ", _str(t.ttl[r]),
        "\n    Source Address: ", src, "\n    Destination Address: ", dst, _note(t, r, status),
    )  # fmt: skip


def _tcp_columns(t: PacketTable, r: np.ndarray, convs: Conversations) -> dict[str, Col]:
    plen = t.payload_len[r].astype(np.int64)
    hlen = t.payload_off[r].astype(np.int64) - t.l4_off[r].astype(np.int64)
    fl = t.tcp_flags[r].astype(np.int64)
    return {
        "sp": _str(t.sport[r]), "dp": _str(t.dport[r]), "seq": _str(t.seq[r]),
        "ack": _str(t.ack[r]), "win": _str(t.win[r]), "plen": _str(plen),
        "flags": _lookup(fl, lambda f: FLAG_TEXT[f]),
        "flags_line": _lookup(fl, lambda f: f"0x{f:03x} ({FLAG_TEXT[f]})"),
        "hlen": _lookup(hlen, lambda h: f"{h} bytes ({h // 4})"),
        "sidx": _str(convs.index[r]),
        "payload": _scatter(len(r), [(np.flatnonzero(plen > 0),
                                      _cat("\n    TCP payload (", _str(plen[plen > 0]),
                                           " bytes)"))]),
    }  # fmt: skip


def _tcp_text(c: dict[str, Col]) -> Col:
    return _cat(
        "\nTransmission Control Protocol, Src Port: ", c["sp"], ", Dst Port: ", c["dp"],
        ", Seq: ", c["seq"], ", Ack: ", c["ack"], ", Len: ", c["plen"],
        "\n    Source Port: ", c["sp"], "\n    Destination Port: ", c["dp"],
        "\n    [Stream index: ", c["sidx"], "]\n    [TCP Segment Len: ", c["plen"],
        "]\n    Sequence Number (raw): ", c["seq"],
        "\n    Acknowledgment Number (raw): ", c["ack"],
        "\n    Header Length: ", c["hlen"], "\n    Flags: ", c["flags_line"],
        "\n    Window: ", c["win"], c["payload"],
    )  # fmt: skip
