"""Vectorized link, network and transport decoding of a block of frames.

Every step works on whole columns: the first bytes of every frame are gathered into a 2-D
array with one fancy-indexing call (a sliding-window view of the block buffer indexed by frame
offsets), and fields are sliced out of it as columns. Frames with unusual layouts (VLAN tags,
IP options, IPv6 extension headers) take extra vectorized passes over just those rows.

References: IEEE 802.1Q (tags), RFC 2516 (PPPoE), RFC 791 (IPv4), RFC 8200 section 4 (IPv6
extension headers), RFC 9293 (TCP header), RFC 768 (UDP), RFC 792 / RFC 4443 (ICMP).
"""

from __future__ import annotations

import numpy as np

from honeysift.capture import kernels
from honeysift.capture import linktypes as lt
from honeysift.capture.table import (
    COLUMN_DTYPES,
    IPF_DF,
    IPF_MF,
    NO_VLAN,
    ST_EXT_BAD,
    ST_FRAGMENT,
    ST_IP_BAD,
    ST_IP_TRUNC,
    ST_L2_TRUNC,
    ST_L4_BAD,
    ST_L4_TRUNC,
    ST_LINKTYPE,
    ST_NOT_IP,
    ST_OK,
)

_V4_PREFIX = np.uint64(0x0000FFFF00000000)
_TAG_TPIDS = (0x8100, 0x88A8, 0x9100)
_IPV6_EXT = np.array([0, 43, 60, 44, 51, 135, 139, 140, 253, 254], dtype=np.uint8)
_BSD_AF_INET6 = (10, 24, 28, 30)  # Linux, NetBSD/OpenBSD, FreeBSD, Darwin


def gather(buf: np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:
    """Rows of ``width`` bytes starting at each offset (one copy, no Python loop)."""
    limit = buf.shape[0] - width
    offs = np.minimum(offsets, limit) if offsets.size and offsets.max() > limit else offsets
    return np.lib.stride_tricks.sliding_window_view(buf, width)[offs]


def _be16(rows: np.ndarray, col) -> np.ndarray:
    if isinstance(col, int):
        return (rows[:, col].astype(np.uint32) << 8) | rows[:, col + 1]
    c = np.asarray(col, dtype=np.int64)[:, None]
    hi = np.take_along_axis(rows, c, axis=1)[:, 0].astype(np.uint32)
    lo = np.take_along_axis(rows, c + 1, axis=1)[:, 0]
    return (hi << 8) | lo


def _be32(rows: np.ndarray, col: int) -> np.ndarray:
    return np.ascontiguousarray(rows[:, col : col + 4]).view(">u4")[:, 0].astype(np.uint32)


def _be64(rows: np.ndarray, col: int) -> np.ndarray:
    return np.ascontiguousarray(rows[:, col : col + 8]).view(">u8")[:, 0].astype(np.uint64)


def new_columns(n: int) -> dict[str, np.ndarray]:
    cols = {name: np.zeros(n, dtype=dt) for name, dt in COLUMN_DTYPES.items()}
    cols["vlan"].fill(NO_VLAN)
    cols["vlan_inner"].fill(NO_VLAN)
    return cols


def decode_frames(
    buf: np.ndarray,
    data_off: np.ndarray,
    caplen: np.ndarray,
    origlen: np.ndarray,
    linktype: np.ndarray,
) -> dict[str, np.ndarray]:
    """Decode all frames of one block; returns the packet-table columns (minus bookkeeping).

    With numba and a big capture, the common layouts take the compiled one-pass decoder
    (capture/kernels.py) and only the other rows go through the column passes below."""
    cap = caplen.astype(np.int64)
    if kernels.worth() and data_off.shape[0]:
        cols = new_columns(data_off.shape[0])
        cols["linktype"][:] = linktype
        done = kernels.decode_common(buf, data_off, caplen, origlen, linktype, cols)
        rest = np.flatnonzero(~done)
        if rest.size:
            sub = _decode_columns(buf, data_off[rest], caplen[rest], origlen[rest], linktype[rest])
            for k, v in sub.items():
                cols[k][rest] = v
    else:
        cols = _decode_columns(buf, data_off, caplen, origlen, linktype)
    tunnels = _decapsulate(buf, data_off, cap, origlen, cols)
    if tunnels is not None:
        cols["_tunnels"] = tunnels
    return cols


def _decode_columns(
    buf: np.ndarray,
    data_off: np.ndarray,
    caplen: np.ndarray,
    origlen: np.ndarray,
    linktype: np.ndarray,
) -> dict[str, np.ndarray]:
    """The column-pass decoder: any link type and layout (tunnels excepted)."""
    n = data_off.shape[0]
    cols = new_columns(n)
    cols["linktype"][:] = linktype
    cap = caplen.astype(np.int64)
    l3 = np.zeros(n, dtype=np.int64)
    et = np.zeros(n, dtype=np.uint32)
    # where the link layer says its payload ends (frame length; PPPoE carries its own length)
    l2_end = origlen.astype(np.int64)
    status = cols["status"]
    head = gather(buf, data_off, 64)

    kinds = np.unique(linktype) if n and not (linktype == linktype[0]).all() else linktype[:1]
    for kind in kinds.tolist():
        sel = slice(None) if len(kinds) == 1 else np.flatnonzero(linktype == kind)
        if kind == lt.EN10MB:
            _ethernet(head[sel], l2_end, l3, et, cols, sel)
        elif kind == lt.LINUX_SLL:
            et[sel] = _be16(head[sel], 14)
            l3[sel] = 16
            _vlan_after(head[sel], l3, et, cols, sel, start=14)
        elif kind == lt.LINUX_SLL2:
            et[sel] = _be16(head[sel], 0)
            l3[sel] = 20
        elif kind in (lt.RAW, lt.RAW_OLD_12, lt.RAW_OLD_14, lt.IPV4, lt.IPV6):
            v = head[sel][:, 0] >> 4
            et[sel] = np.where(v == 4, 0x0800, np.where(v == 6, 0x86DD, 0))
            l3[sel] = 0
        elif kind in (lt.NULL, lt.LOOP):
            h = head[sel]
            fam_le = np.ascontiguousarray(h[:, 0:4]).view("<u4")[:, 0]
            fam_be = np.ascontiguousarray(h[:, 0:4]).view(">u4")[:, 0]
            # NULL is in the capturing host's byte order: whichever reading is small is right
            fam = fam_be if kind == lt.LOOP else np.where(fam_le > 0xFFFF, fam_be, fam_le)
            et[sel] = np.where(fam == 2, 0x0800, np.where(np.isin(fam, _BSD_AF_INET6), 0x86DD, 0))
            l3[sel] = 4
        else:
            status[sel] = ST_LINKTYPE
    l2_short = (cap < l3) & (status == ST_OK)
    status[l2_short] = ST_L2_TRUNC
    cols["ethertype"][:] = et
    cols["l3_off"][:] = l3

    _arp(buf, data_off, cap, l3, et, status, cols)
    ip4 = (et == 0x0800) & (status == ST_OK)
    ip6 = (et == 0x86DD) & (status == ST_OK)
    status[(status == ST_OK) & ~ip4 & ~ip6] = ST_NOT_IP

    l4 = np.zeros(n, dtype=np.int64)
    ip_end = np.zeros(n, dtype=np.int64)
    frag = np.zeros(n, dtype=bool)
    if ip4.any():
        _ipv4(buf, data_off, cap, origlen, l3, np.flatnonzero(ip4), cols, l4, ip_end, frag)
    if ip6.any():
        _ipv6(buf, data_off, cap, origlen, l3, np.flatnonzero(ip6), cols, l4, ip_end, frag)
    # a lower layer's length bounds the IP datagram (tshark does the same)
    ip_end = np.minimum(ip_end, l2_end)
    status[frag & (status == ST_OK)] = ST_FRAGMENT
    cols["l4_off"][:] = np.minimum(l4, 0xFFFF)
    _transport(buf, data_off, cap, l4, ip_end, np.flatnonzero(status == ST_OK), cols)
    return cols


# Tunnel types (PacketTable.tunnels["type"])
TUN_GRE, TUN_TEREDO, TUN_VXLAN, TUN_IPIP, TUN_ERSPAN = 1, 2, 3, 4, 5
TUNNEL_NAMES = {
    TUN_GRE: "gre",
    TUN_TEREDO: "teredo",
    TUN_VXLAN: "vxlan",
    TUN_IPIP: "ip-in-ip",
    TUN_ERSPAN: "erspan",
}
TEREDO_PORT = 3544
VXLAN_PORT = 4789
_OUTER_KEYS = (
    "ip_version",
    "src_hi",
    "src_lo",
    "dst_hi",
    "dst_lo",
    "proto",
    "sport",
    "dport",
    "ip_len",
    "payload_len",
    "ethertype",
    "l3_off",
    "ip_hlen",
    "ttl",
    "ip_id",
    "ip_flags",
    "frag_off",
    "l4_off",
    "payload_off",
)
_RESET = (
    "ip_version",
    "src_hi",
    "src_lo",
    "dst_hi",
    "dst_lo",
    "proto",
    "ip_len",
    "ip_hlen",
    "ttl",
    "ip_id",
    "ip_flags",
    "frag_off",
    "l4_off",
    "sport",
    "dport",
    "tcp_flags",
    "seq",
    "ack",
    "win",
    "icmp_type",
    "icmp_code",
    "payload_off",
    "payload_len",
)


def _inner_ethernet(b: bytes, off: int) -> tuple[int, int] | None:
    """(ethertype, offset of its payload) of an Ethernet frame carried at ``off`` in ``b``."""
    if off + 14 > len(b):
        return None
    et = int.from_bytes(b[off + 12 : off + 14], "big")
    pos = off + 14
    for _ in range(2):
        if et not in _TAG_TPIDS or pos + 4 > len(b):
            break
        et = int.from_bytes(b[pos + 2 : pos + 4], "big")
        pos += 4
    return et, pos


def _tunnel_payload(
    kind_proto: int, sport: int, dport: int, b: bytes, start: int
) -> tuple[int, int, int] | None:
    """Look inside one transport payload (``b[start:]``): (tunnel type, inner ethertype, inner
    IP offset) when it is a tunnel we decode, else None. References: RFC 2784/2890 (GRE),
    the ERSPAN drafts (types II and III), RFC 4380 section 5.1.1 (Teredo), RFC 7348 (VXLAN),
    RFC 2003 and RFC 4213 (IP in IP, 6in4)."""
    if kind_proto in (4, 41):
        return TUN_IPIP, 0x0800 if kind_proto == 4 else 0x86DD, start
    if kind_proto == 47:
        if start + 4 > len(b):
            return None
        flags = int.from_bytes(b[start : start + 2], "big")
        if flags & 0x0007:  # version 1 is PPTP's enhanced GRE: not decoded
            return None
        ptype = int.from_bytes(b[start + 2 : start + 4], "big")
        off = start + 4 + 4 * (bool(flags & 0x8000) + bool(flags & 0x2000) + bool(flags & 0x1000))
        if ptype in (0x0800, 0x86DD):
            return TUN_GRE, ptype, off
        if ptype == 0x6558:  # transparent Ethernet bridging
            inner = _inner_ethernet(b, off)
            return (TUN_GRE, inner[0], inner[1]) if inner else None
        if ptype in (0x88BE, 0x22EB):  # ERSPAN type II (8-byte header) / III (12, +8 with O bit)
            if ptype == 0x88BE and not flags & 0x1000:
                hdr = 0  # type I: no ERSPAN header at all
            elif ptype == 0x88BE:
                hdr = 8
            else:
                if off + 12 > len(b):
                    return None
                hdr = 12 + (8 if b[off + 11] & 0x01 else 0)
            inner = _inner_ethernet(b, off + hdr)
            return (TUN_ERSPAN, inner[0], inner[1]) if inner else None
        return None
    if kind_proto == 17 and VXLAN_PORT not in (sport, dport):
        off = start
        if off + 2 <= len(b) and b[off : off + 2] == b"\x00\x01":  # authentication indicator
            if off + 4 > len(b):
                return None
            off += 4 + b[off + 2] + b[off + 3] + 9
        if off + 2 <= len(b) and b[off : off + 2] == b"\x00\x00":  # origin indication
            off += 8
        if off + 40 > len(b) or b[off] >> 4 != 6:
            return None
        plen = int.from_bytes(b[off + 4 : off + 6], "big")
        if off + 40 + plen != len(b):
            return None
        if TEREDO_PORT not in (sport, dport) and not _teredo_addresses(b[off + 8 : off + 40]):
            return None  # off port 3544 (a relay), only with a Teredo or link-local address
        return TUN_TEREDO, 0x86DD, off
    if kind_proto == 17 and VXLAN_PORT in (sport, dport):
        if start + 8 > len(b) or not b[start] & 0x08:
            return None
        inner = _inner_ethernet(b, start + 8)
        return (TUN_VXLAN, inner[0], inner[1]) if inner else None
    return None


def _teredo_addresses(addrs: bytes) -> bool:
    """Either address in the Teredo prefix 2001::/32 (RFC 4380 section 2.6) or link-local."""
    return any(
        a[:4] == b"\x20\x01\x00\x00" or a[:2] == b"\xfe\x80" for a in (addrs[:16], addrs[16:32])
    )


def _decapsulate(buf, data_off, cap, origlen, cols) -> dict[str, np.ndarray] | None:
    """Replace the L3/L4 columns of tunnelled frames by the inner packet's; keep the outer
    layers in a sparse table (PacketTable.tunnels). Up to three levels deep."""
    st, proto = cols["status"], cols["proto"]
    sport, dport = cols["sport"], cols["dport"]
    out: dict[str, list] = {k: [] for k in ("row", "type", "depth", *_OUTER_KEYS)}
    for depth in range(3):
        udp_tun = (proto == 17) & (
            np.isin(sport, (TEREDO_PORT, VXLAN_PORT)) | np.isin(dport, (TEREDO_PORT, VXLAN_PORT))
        )
        # Teredo relays use other ports: UDP payloads that start like IPv6 or a Teredo header
        maybe = np.flatnonzero(
            (st == ST_OK) & (proto == 17) & ~udp_tun & (cols["payload_len"] >= 40)
        )
        if maybe.size:
            first = gather(buf, data_off[maybe] + cols["payload_off"][maybe].astype(np.int64), 2)
            hit = ((first[:, 0] >> 4) == 6) | ((first[:, 0] == 0) & (first[:, 1] <= 1))
            udp_tun[maybe[hit]] = True
        cand = np.flatnonzero((st == ST_OK) & (np.isin(proto, (4, 41, 47)) | udp_tun))
        if not cand.size:
            break
        rows, types, ets, l3s, ends = [], [], [], [], []
        for i in cand.tolist():
            start = int(cols["payload_off"][i])
            end = min(start + int(cols["payload_len"][i]), int(cap[i]))
            o = int(data_off[i])
            b = bytes(buf[o : o + end])
            got = _tunnel_payload(int(proto[i]), int(sport[i]), int(dport[i]), b, start)
            if got is None or got[1] not in (0x0800, 0x86DD) or got[2] >= end:
                continue
            rows.append(i)
            types.append(got[0])
            ets.append(got[1])
            l3s.append(got[2])
            ends.append(end)
        if not rows:
            break
        k = np.asarray(rows, dtype=np.int64)
        out["row"].append(k)
        out["type"].append(np.asarray(types, dtype=np.uint8))
        out["depth"].append(np.full(k.shape[0], depth, dtype=np.uint8))
        for key in _OUTER_KEYS:
            out[key].append(cols[key][k].copy())
        for key in _RESET:
            cols[key][k] = 0
        n = cap.shape[0]
        l3 = np.zeros(n, dtype=np.int64)
        l3[k] = l3s
        l2_end = np.zeros(n, dtype=np.int64)
        l2_end[k] = ends
        et = np.asarray(ets, dtype=np.uint32)
        cols["ethertype"][k] = et
        cols["l3_off"][k] = np.minimum(l3[k], 0xFFFF)
        l4 = np.zeros(n, dtype=np.int64)
        ip_end = np.zeros(n, dtype=np.int64)
        frag = np.zeros(n, dtype=bool)
        v4, v6 = k[et == 0x0800], k[et == 0x86DD]
        if v4.size:
            _ipv4(buf, data_off, cap, origlen, l3, v4, cols, l4, ip_end, frag)
        if v6.size:
            _ipv6(buf, data_off, cap, origlen, l3, v6, cols, l4, ip_end, frag)
        ip_end[k] = np.minimum(ip_end[k], l2_end[k])
        st[k[frag[k] & (st[k] == ST_OK)]] = ST_FRAGMENT
        cols["l4_off"][k] = np.minimum(l4[k], 0xFFFF)
        _transport(buf, data_off, cap, l4, ip_end, k[st[k] == ST_OK], cols)
    if not out["row"]:
        return None
    tun = {key: np.concatenate(v) for key, v in out.items()}
    order = np.lexsort((tun["depth"], tun["row"]))
    return {key: v[order] for key, v in tun.items()}


def _arp(buf, data_off, cap, l3, et, status, cols) -> None:
    """ARP for IPv4 (RFC 826): sender and target protocol addresses go in src/dst (IPv4-mapped),
    so ``host X`` filters match ARP as tcpdump's do; ip_version stays 0."""
    idx = np.flatnonzero((et == 0x0806) & (status == ST_OK) & (cap >= l3 + 28))
    if not idx.size:
        return
    g = gather(buf, data_off[idx] + l3[idx], 28)
    ok = (_be16(g, 2) == 0x0800) & (g[:, 5] == 4)
    idx, g = idx[ok], g[ok]
    cols["src_lo"][idx] = _V4_PREFIX | _be32(g, 14).astype(np.uint64)
    cols["dst_lo"][idx] = _V4_PREFIX | _be32(g, 24).astype(np.uint64)


def _vlan_after(h, l3, et, cols, sel, start: int) -> None:
    """Follow 802.1Q/802.1ad tags whose TPID sits at column ``start`` (up to three deep)."""
    pos = np.full(h.shape[0], start, dtype=np.int64)
    e = et[sel].copy()
    outer = np.full(h.shape[0], NO_VLAN, dtype=np.int32)
    inner = np.full(h.shape[0], NO_VLAN, dtype=np.int32)
    for _ in range(3):
        tag = np.isin(e, _TAG_TPIDS)
        if not tag.any():
            break
        vid = (_be16(h, pos + 2) & 0x0FFF).astype(np.int32)
        first = tag & (outer == NO_VLAN)
        second = tag & ~first & (inner == NO_VLAN)
        outer[first] = vid[first]
        inner[second] = vid[second]
        pos = np.where(tag, pos + 4, pos)
        e = np.where(tag, _be16(h, pos), e)
    et[sel] = e
    l3[sel] = pos + 2
    cols["vlan"][sel] = outer
    cols["vlan_inner"][sel] = inner


def _ethernet(h, l2_end, l3, et, cols, sel) -> None:
    et[sel] = _be16(h, 12)
    _vlan_after(h, l3, et, cols, sel, start=12)
    e = et[sel]
    ppp = e == 0x8864  # PPPoE session stage (RFC 2516 section 4): 6-byte header + PPP protocol
    if ppp.any():
        base = l3[sel].copy()  # sel may be a slice: keep the pre-PPPoE offsets
        proto = _be16(h, np.minimum(base + 6, h.shape[1] - 2))
        mapped = np.where(proto == 0x0021, 0x0800, np.where(proto == 0x0057, 0x86DD, 0))
        plen = _be16(h, np.minimum(base + 4, h.shape[1] - 2)).astype(np.int64)
        et[sel] = np.where(ppp, mapped, e)
        l3[sel] = np.where(ppp, base + 8, base)
        l2_end[sel] = np.where(ppp, np.minimum(l2_end[sel], base + 6 + plen), l2_end[sel])


def _ipv4(buf, data_off, cap, origlen, l3, idx, cols, l4, ip_end, frag) -> None:
    g = gather(buf, data_off[idx] + l3[idx], 20)
    avail = cap[idx] - l3[idx]
    ver = g[:, 0] >> 4
    ihl = (g[:, 0] & 0x0F).astype(np.int64) * 4
    tot = _be16(g, 2).astype(np.int64)
    # total length 0: TCP segmentation offload on the capturing host; trust the frame length
    tot = np.where(tot == 0, origlen[idx].astype(np.int64) - l3[idx], tot)
    ff = _be16(g, 6)
    st = np.zeros(idx.shape[0], dtype=np.uint8)
    st[(ver != 4) | (ihl < 20) | (tot < ihl)] = ST_IP_BAD
    st[(st == ST_OK) & ((avail < 20) | (avail < ihl))] = ST_IP_TRUNC
    cols["status"][idx] = st
    cols["ip_version"][idx] = 4
    cols["ip_len"][idx] = tot
    cols["ip_hlen"][idx] = ihl
    cols["ip_id"][idx] = _be16(g, 4)
    cols["ip_flags"][idx] = np.where(ff & 0x2000, IPF_MF, 0) | np.where(ff & 0x4000, IPF_DF, 0)
    cols["frag_off"][idx] = (ff & 0x1FFF) * 8
    cols["ttl"][idx] = g[:, 8]
    cols["proto"][idx] = g[:, 9]
    cols["src_lo"][idx] = _V4_PREFIX | _be32(g, 12).astype(np.uint64)
    cols["dst_lo"][idx] = _V4_PREFIX | _be32(g, 16).astype(np.uint64)
    frag[idx] = (ff & 0x3FFF) != 0
    l4[idx] = l3[idx] + ihl
    ip_end[idx] = l3[idx] + tot


def _ipv6(buf, data_off, cap, origlen, l3, idx, cols, l4, ip_end, frag) -> None:
    g = gather(buf, data_off[idx] + l3[idx], 40)
    avail = cap[idx] - l3[idx]
    st = np.zeros(idx.shape[0], dtype=np.uint8)
    st[(g[:, 0] >> 4) != 6] = ST_IP_BAD
    st[(st == ST_OK) & (avail < 40)] = ST_IP_TRUNC
    plen = _be16(g, 4).astype(np.int64)
    plen = np.where(plen == 0, origlen[idx].astype(np.int64) - l3[idx] - 40, plen)  # jumbogram/TSO
    nh = g[:, 6].copy()
    cols["ip_version"][idx] = 6
    cols["ip_len"][idx] = plen + 40
    cols["ttl"][idx] = g[:, 7]
    cols["src_hi"][idx] = _be64(g, 8)
    cols["src_lo"][idx] = _be64(g, 16)
    cols["dst_hi"][idx] = _be64(g, 24)
    cols["dst_lo"][idx] = _be64(g, 32)
    cur = l3[idx] + 40
    capi = cap[idx]
    fr = np.zeros(idx.shape[0], dtype=bool)
    flags = np.zeros(idx.shape[0], dtype=np.uint8)
    foff = np.zeros(idx.shape[0], dtype=np.uint32)
    fid = np.zeros(idx.shape[0], dtype=np.uint32)
    for _ in range(8):
        m = np.isin(nh, _IPV6_EXT) & (st == ST_OK)
        if not m.any():
            break
        mi = np.flatnonzero(m)
        short = cur[mi] + 8 > capi[mi]
        st[mi[short]] = ST_EXT_BAD
        mi = mi[~short]
        if not mi.size:
            continue
        e = gather(buf, data_off[idx[mi]] + cur[mi], 8)
        kind = nh[mi]
        size = np.where(
            kind == 44,
            8,
            np.where(
                kind == 51, (e[:, 1].astype(np.int64) + 2) * 4, (e[:, 1].astype(np.int64) + 1) * 8
            ),
        )
        isf = kind == 44
        if isf.any():  # Fragment header (RFC 8200 section 4.5)
            fo = _be16(e[isf], 2)
            fi = mi[isf]
            foff[fi] = fo & 0xFFF8
            flags[fi] = np.where(fo & 1, IPF_MF, 0)
            fid[fi] = _be32(e[isf], 4)
            fr[fi] = ((fo & 0xFFF8) != 0) | ((fo & 1) != 0)
        nh[mi] = e[:, 0]
        cur[mi] += size
    st[np.isin(nh, _IPV6_EXT) & (st == ST_OK)] = ST_EXT_BAD
    cols["status"][idx] = st
    cols["proto"][idx] = nh
    cols["ip_hlen"][idx] = np.minimum(cur - l3[idx], 0xFFFF)
    cols["ip_flags"][idx] = flags
    cols["frag_off"][idx] = foff
    cols["ip_id"][idx] = fid
    frag[idx] = fr
    l4[idx] = cur
    ip_end[idx] = l3[idx] + 40 + plen


def _transport(buf, data_off, cap, l4, ip_end, idx, cols) -> None:
    if not idx.size:
        return
    proto = cols["proto"][idx]
    g = gather(buf, data_off[idx] + l4[idx], 20)
    avail = cap[idx] - l4[idx]
    end = ip_end[idx]
    st = cols["status"][idx]
    poff = l4[idx].copy()
    plen = end - l4[idx]

    tcp = proto == 6
    udp = proto == 17
    icmp = (proto == 1) | (proto == 58)
    need = np.where(tcp, 20, np.where(udp, 8, np.where(icmp, 4, 0)))
    st[(avail < need)] = ST_L4_TRUNC
    ok = st == ST_OK

    t = tcp & ok
    if t.any():
        doff = (g[:, 12] >> 4).astype(np.int64) * 4
        st[t & (doff < 20)] = ST_L4_BAD
        t &= doff >= 20
        cols["sport"][idx[t]] = _be16(g[t], 0)
        cols["dport"][idx[t]] = _be16(g[t], 2)
        cols["seq"][idx[t]] = _be32(g[t], 4)
        cols["ack"][idx[t]] = _be32(g[t], 8)
        cols["tcp_flags"][idx[t]] = g[t, 13]
        cols["win"][idx[t]] = _be16(g[t], 14)
        poff = np.where(t, l4[idx] + doff, poff)
    u = udp & ok
    if u.any():
        cols["sport"][idx[u]] = _be16(g[u], 0)
        cols["dport"][idx[u]] = _be16(g[u], 2)
        ulen = _be16(g, 4).astype(np.int64)
        room = end - l4[idx]
        sane = (ulen >= 8) & (ulen <= room)
        poff = np.where(u, l4[idx] + 8, poff)
        plen = np.where(u, np.where(sane, ulen + l4[idx], end), plen)
    c = icmp & ok
    if c.any():
        cols["icmp_type"][idx[c]] = g[c, 0]
        cols["icmp_code"][idx[c]] = g[c, 1]
        poff = np.where(c, l4[idx] + 8, poff)
    payload_end = np.where(u, plen, end) if u.any() else end
    length = np.maximum(payload_end - poff, 0)
    cols["status"][idx] = st
    good = st == ST_OK
    cols["payload_off"][idx] = np.where(good, poff, 0)
    cols["payload_len"][idx] = np.where(good, length, 0)
