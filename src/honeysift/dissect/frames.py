"""Per-frame header layers (Frame, link, IP, TCP/UDP), formatted in bulk from the packet table.

Why columnar: ``show -V`` over a million frames must not build a Python object per header
layer. Every header field is already a numpy column; the text of each layer is produced by one
``%``-format per frame over pre-converted column lists (addresses and MACs are formatted once
per distinct value), and only frames that carry an application record get a Node tree (see
:mod:`honeysift.dissect.app`).

Layer text follows ``tshark -V`` labels ("Source Port:", "Time to Live:", "Flags: 0x018 (PSH,
ACK)") with fewer lines: bit-field breakdowns, checksums and tshark's analysis lines
("[Time delta ...]", "[SEQ/ACK analysis]") are left out (docs/protocols.md lists them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from honeysift.capture import linktypes
from honeysift.capture.table import (
    ST_FRAG_INCOMPLETE,
    ST_FRAGMENT,
    ST_NOT_IP,
    ST_OK,
    STATUS_NAMES,
    PacketTable,
    halves_to_addr,
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
    a = np.stack([t.src_hi[rows], t.src_lo[rows], t.sport[rows].astype(np.uint64)], 1)
    b = np.stack([t.dst_hi[rows], t.dst_lo[rows], t.dport[rows].astype(np.uint64)], 1)
    # side 0: (src, sport) is the lexicographically smaller endpoint
    a_lt = (a[:, 0] < b[:, 0]) | (
        (a[:, 0] == b[:, 0]) & ((a[:, 1] < b[:, 1]) | ((a[:, 1] == b[:, 1]) & (a[:, 2] <= b[:, 2])))
    )
    lo = np.where(a_lt[:, None], a, b)
    hi = np.where(a_lt[:, None], b, a)
    key = np.concatenate([t.proto[rows].astype(np.uint64)[:, None], lo, hi], 1)
    _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
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


def _addr_strings(hi: np.ndarray, lo: np.ndarray) -> list[str]:
    """Addresses as text, each distinct value formatted once."""
    if hi.size == 0:
        return []
    key = np.stack([hi, lo], 1)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    text = [halves_to_addr(h, low) for h, low in uniq.tolist()]
    return [text[i] for i in inv.ravel().tolist()]


_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)


def _mac_strings(b: np.ndarray) -> list[str]:
    """(n, 6) uint8 -> 'aa:bb:cc:dd:ee:ff' strings, vectorized."""
    n = b.shape[0]
    out = np.full((n, 17), ord(":"), np.uint8)
    out[:, 0::3] = _HEX[b >> 4]
    out[:, 1::3] = _HEX[b & 15]
    return out.view("S17").ravel().astype("U17").tolist()


def _gather(mm: np.ndarray, starts: np.ndarray, width: int, limit: np.ndarray) -> np.ndarray:
    """``width`` bytes at each start (zero past ``limit`` bytes or the end of the file)."""
    if starts.size == 0:
        return np.zeros((0, width), np.uint8)
    idx = starts[:, None] + np.arange(width)[None, :]
    valid = (np.arange(width)[None, :] < limit[:, None]) & (idx < mm.shape[0])
    out = mm[np.where(valid, idx, 0)]
    out[~valid] = 0
    return out


def iso_times(ts_ns: np.ndarray) -> list[str]:
    return [s + "Z" for s in np.datetime_as_string(ts_ns.astype("datetime64[ns]")).tolist()]


#: the Frame block of ``-V``: one C-level %-format per frame (faster than f-strings here)
_FRAME_FMT = (
    "Frame %d: %d bytes on wire (%d bits), %d bytes captured (%d bits)\n"
    "    Arrival Time: %s\n"
    "    Epoch Time: %d.%09d seconds\n"
    "    [Time since reference or first frame: %s seconds]\n"
    "    Frame Number: %d\n"
    "    Frame Length: %d bytes (%d bits)\n"
    "    Capture Length: %d bytes (%d bits)"
)


@dataclass(slots=True)
class HeaderText:
    """Formatted header layers of the selected rows, one entry per row."""

    frame_block: list[str]  # "Frame N: ..." and its children, without the protocols line
    layers: list[str]  # link, IP and transport layers ('' when none)
    stack: list[str]  # frame.protocols without the application part
    src: list[str]
    dst: list[str]
    proto: list[str]  # Protocol column (header part)
    info: list[str]  # Info column (header part)
    rel: list[str]  # time since the first frame, "%.6f"


def header_text(
    t: PacketTable,
    rows: np.ndarray,
    mm: np.ndarray,
    first_ts_ns: int,
    convs: Conversations,
    verbose: bool = True,
) -> HeaderText:
    n = rows.size
    frame = t.frame[rows].tolist()
    caplen = t.caplen[rows].astype(np.int64)
    wire = t.origlen[rows].astype(np.int64)
    ts = t.ts_ns[rows]
    rel_ns = ts - np.int64(first_ts_ns)
    rel = [f"{x:.6f}" for x in (rel_ns / 1e9).tolist()]
    status = t.status[rows]
    ipv = t.ip_version[rows]
    is_ip = ipv > 0
    proto = t.proto[rows]
    l4ok = (status == ST_OK) | t.reassembled[rows]
    src = ["" for _ in range(n)]
    dst = ["" for _ in range(n)]
    ipr = np.flatnonzero(is_ip)
    if ipr.size:
        s_txt = _addr_strings(t.src_hi[rows][ipr], t.src_lo[rows][ipr])
        d_txt = _addr_strings(t.dst_hi[rows][ipr], t.dst_lo[rows][ipr])
        for j, i in enumerate(ipr.tolist()):
            src[i] = s_txt[j]
            dst[i] = d_txt[j]
    link = t.linktype[rows]
    eth = link == linktypes.EN10MB
    offs = t.offset[rows]
    macs_src = ["" for _ in range(n)]
    macs_dst = ["" for _ in range(n)]
    eth_type = np.zeros(n, np.int64)
    er = np.flatnonzero(eth)
    if er.size:
        hb = _gather(mm, offs[er], 14, caplen[er])
        dl = _mac_strings(hb[:, 0:6])
        sl = _mac_strings(hb[:, 6:12])
        eth_type[er] = (hb[:, 12].astype(np.int64) << 8) | hb[:, 13]
        for j, i in enumerate(er.tolist()):
            macs_dst[i] = dl[j]
            macs_src[i] = sl[j]
        for i in er[~is_ip[er]].tolist():  # non-IP frames: Source/Destination are MACs
            src[i], dst[i] = macs_src[i], macs_dst[i]
    # ---- Frame block
    if verbose:
        times = iso_times(ts)
        sec, frac = np.divmod(ts, 1_000_000_000)
        fb = [
            _FRAME_FMT % v
            for v in zip(
                frame,
                wire.tolist(),
                (wire * 8).tolist(),
                caplen.tolist(),
                (caplen * 8).tolist(),
                times,
                sec.tolist(),
                frac.tolist(),
                rel,
                frame,
                wire.tolist(),
                (wire * 8).tolist(),
                caplen.tolist(),
                (caplen * 8).tolist(),
                strict=True,
            )  # fmt: skip
        ]
    else:
        fb = [""] * n
    # ---- link layer
    link_l = link.tolist()
    vlan = t.vlan[rows].tolist()
    vlan_in = t.vlan_inner[rows].tolist()
    ethertype = t.ethertype[rows].tolist()
    layers = [""] * n
    stack = [""] * n
    pcol = [""] * n
    info = [""] * n
    for i in range(n):
        lt = link_l[i]
        et = ethertype[i]
        if lt == linktypes.EN10MB:
            st = "eth:ethertype"
            if verbose:
                t0 = int(eth_type[i])
                txt = (
                    f"Ethernet II, Src: {macs_src[i]}, Dst: {macs_dst[i]}\n"
                    f"    Destination: {macs_dst[i]}\n    Source: {macs_src[i]}\n"
                    f"    Type: {ETHERTYPE.get(t0, 'Unknown')} (0x{t0:04x})"
                )
                for v in (vlan[i], vlan_in[i]):
                    if v >= 0:
                        txt += f"\n802.1Q Virtual LAN, ID: {v}\n    ID: {v}"
                        st += ":vlan:ethertype"
                if vlan[i] >= 0:
                    txt += f"\n    Type: {ETHERTYPE.get(et, 'Unknown')} (0x{et:04x})"
                layers[i] = txt
            elif vlan[i] >= 0:
                st += ":vlan:ethertype" * (1 + (vlan_in[i] >= 0))
        elif lt in (linktypes.LINUX_SLL, linktypes.LINUX_SLL2):
            v2 = lt == linktypes.LINUX_SLL2
            st = "sll:ethertype"
            if verbose:
                layers[i] = (
                    f"Linux cooked capture v{2 if v2 else 1}\n"
                    f"    Protocol: {ETHERTYPE.get(et, 'Unknown')} (0x{et:04x})"
                )
        elif lt in (linktypes.NULL, linktypes.LOOP):
            st = "null"
            if verbose:
                fam = "IPv6" if et == 0x86DD else "IP" if et == 0x0800 else "unknown"
                layers[i] = f"Null/Loopback\n    Family: {fam}"
        elif lt in linktypes.DECODED:
            st = "raw"
            if verbose:
                layers[i] = "Raw packet data"
        else:
            st = linktypes.name(lt).lower()
            if verbose:
                layers[i] = f"[Link type {linktypes.name(lt)} ({lt}): not decoded]"
        stack[i] = st
        if not is_ip[i]:
            if status[i] != ST_NOT_IP:
                if verbose:
                    layers[i] += f"\n[{STATUS_NAMES.get(int(status[i]), 'undecoded')}]"
                pcol[i] = linktypes.name(lt) if status[i] != ST_NOT_IP else "?"
                info[i] = STATUS_NAMES.get(int(status[i]), "")
            else:
                pcol[i] = "ARP" if et == 0x0806 else ETHERTYPE.get(et, f"0x{et:04x}")
                stack[i] += ":" + pcol[i].lower()
                info[i] = f"Ethertype 0x{et:04x}"
    # ---- IP layer
    _ip_layers(t, rows, ipr, proto, status, src, dst, layers, stack, pcol, info, verbose)
    # ---- transport
    _l4_layers(t, rows, l4ok & is_ip, proto, convs, layers, stack, pcol, info, verbose)
    return HeaderText(fb, layers, stack, src, dst, pcol, info, rel)


def _ip_layers(t, rows, ipr, proto, status, src, dst, layers, stack, pcol, info, verbose):
    if ipr.size == 0:
        return
    r = rows[ipr]
    ver = t.ip_version[r].tolist()
    ln = t.ip_len[r].tolist()
    hl = t.ip_hlen[r].tolist()
    ttl = t.ttl[r].tolist()
    ipid = t.ip_id[r].tolist()
    fl = t.ip_flags[r].tolist()
    fo = t.frag_off[r].tolist()
    pr = proto[ipr].tolist()
    stl = status[ipr].tolist()
    reas = t.reassembled[r].tolist()
    for j, i in enumerate(ipr.tolist()):
        p = pr[j]
        pname = IP_PROTO.get(p, str(p))
        v = ver[j]
        stack[i] += ":ip" if v == 4 else ":ipv6"
        pcol[i] = "IPv4" if v == 4 else "IPv6"
        info[i] = f"{pname} ({p})"
        if stl[j] in (ST_FRAGMENT, ST_FRAG_INCOMPLETE):
            info[i] = f"Fragmented IP protocol (proto={pname} {p}, off={fo[j]}, ID={ipid[j]:04x})"
        if not verbose:
            continue
        if v == 4:
            f = fl[j]
            ftxt = ", Don't fragment" if f & 2 else ""
            ftxt += ", More fragments" if f & 1 else ""
            bits = (0x40 if f & 2 else 0) | (0x20 if f & 1 else 0)
            txt = (
                f"Internet Protocol Version 4, Src: {src[i]}, Dst: {dst[i]}\n"
                f"    Version: 4\n    Header Length: {hl[j]} bytes ({hl[j] // 4})\n"
                f"    Total Length: {ln[j]}\n"
                f"    Identification: 0x{ipid[j]:04x} ({ipid[j]})\n"
                f"    Flags: 0x{bits:02x}{ftxt}\n    Fragment Offset: {fo[j]}\n"
                f"    Time to Live: {ttl[j]}\n    Protocol: {pname} ({p})\n"
                f"    Source Address: {src[i]}\n    Destination Address: {dst[i]}"
            )
        else:
            txt = (
                f"Internet Protocol Version 6, Src: {src[i]}, Dst: {dst[i]}\n"
                f"    Version: 6\n    Payload Length: {ln[j] - 40}\n"
                f"    Next Header: {pname} ({p})\n    Hop Limit: {ttl[j]}\n"
                f"    Source Address: {src[i]}\n    Destination Address: {dst[i]}"
            )
        if stl[j] == ST_FRAGMENT:
            txt += "\n    [IP fragment: the datagram is reassembled on a later frame]"
        elif stl[j] == ST_FRAG_INCOMPLETE:
            txt += "\n    [IP fragment of a datagram that never completed]"
        elif reas[j]:
            txt += "\n    [Reassembled IP datagram: payload from several fragments]"
        elif stl[j] != ST_OK:
            txt += f"\n    [{STATUS_NAMES.get(stl[j], 'undecoded')}]"
        layers[i] += ("\n" if layers[i] else "") + txt


def _l4_layers(t, rows, ok, proto, convs, layers, stack, pcol, info, verbose):
    tr = np.flatnonzero(ok & (proto == 6))
    if tr.size:
        r = rows[tr]
        sp = t.sport[r].tolist()
        dp = t.dport[r].tolist()
        seq = t.seq[r].tolist()
        ack = t.ack[r].tolist()
        fl = t.tcp_flags[r].tolist()
        win = t.win[r].tolist()
        plen = t.payload_len[r].tolist()
        hlen = (t.payload_off[r].astype(np.int64) - t.l4_off[r].astype(np.int64)).tolist()
        sidx = convs.index[r].tolist()
        for j, i in enumerate(tr.tolist()):
            f = fl[j]
            stack[i] += ":tcp"
            pcol[i] = "TCP"
            info[i] = (
                f"{sp[j]} \u2192 {dp[j]} [{FLAG_TEXT[f]}] Seq={seq[j]} Ack={ack[j]} "
                f"Win={win[j]} Len={plen[j]}"
            )
            if verbose:
                layers[i] += (
                    f"\nTransmission Control Protocol, Src Port: {sp[j]}, Dst Port: {dp[j]}, "
                    f"Seq: {seq[j]}, Ack: {ack[j]}, Len: {plen[j]}\n"
                    f"    Source Port: {sp[j]}\n    Destination Port: {dp[j]}\n"
                    f"    [Stream index: {sidx[j]}]\n    [TCP Segment Len: {plen[j]}]\n"
                    f"    Sequence Number (raw): {seq[j]}\n"
                    f"    Acknowledgment Number (raw): {ack[j]}\n"
                    f"    Header Length: {hlen[j]} bytes ({hlen[j] // 4})\n"
                    f"    Flags: 0x{f:03x} ({FLAG_TEXT[f]})\n    Window: {win[j]}"
                )
                if plen[j]:
                    layers[i] += f"\n    TCP payload ({plen[j]} bytes)"
    ur = np.flatnonzero(ok & (proto == 17))
    if ur.size:
        r = rows[ur]
        sp = t.sport[r].tolist()
        dp = t.dport[r].tolist()
        plen = t.payload_len[r].tolist()
        sidx = convs.index[r].tolist()
        for j, i in enumerate(ur.tolist()):
            stack[i] += ":udp"
            pcol[i] = "UDP"
            info[i] = f"{sp[j]} \u2192 {dp[j]} Len={plen[j]}"
            if verbose:
                layers[i] += (
                    f"\nUser Datagram Protocol, Src Port: {sp[j]}, Dst Port: {dp[j]}\n"
                    f"    Source Port: {sp[j]}\n    Destination Port: {dp[j]}\n"
                    f"    Length: {plen[j] + 8}\n    [Stream index: {sidx[j]}]\n"
                    f"    UDP payload ({plen[j]} bytes)"
                )
