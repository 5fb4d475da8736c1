"""Flow construction from packet-table chunks, with bounded memory.

How: each chunk's IP packets are reduced to a few compact columns keyed by a canonical
(address, port) pair (:func:`prepare`, run in the reader thread). Rows of flows still alive are
carried to the next round; the carried rows plus the new ones are sorted once by key hash
(stable, so packet order is kept inside a key), split into flows on idle timeouts and TCP reuse,
and flows that can no longer grow (idle past their timeout, or closed past Zeek's close/reset
delay) are handed to a worker thread that aggregates them piece by piece while the next round
is read. Memory is the rounds in flight plus the rows of live flows.

Every per-row and per-flow loop has a compiled form (flows/kernels.py, with numba) and a numpy
form (the fallback); tests check both give the same flows.
"""

from __future__ import annotations

import mmap
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from honeysift.capture import kernels as capture_kernels
from honeysift.capture.table import ST_OK, PacketTable
from honeysift.flows import kernels, services, state
from honeysift.flows.state import NONE, Side
from honeysift.memory import trim

Reader = Callable[[int, int], bytes]

#: Use the compiled per-row passes (flows/kernels.py) when numba is installed.
USE_KERNELS = kernels.AVAILABLE

# ICMP request/reply counterparts as Zeek pairs them into one connection (ICMP.cc
# ICMP4_counterpart / ICMP6_counterpart): RFC 792 echo, router, timestamp, info, mask;
# RFC 4443/4861 echo, MLD, router and neighbour discovery, node information.
_CP4 = np.full(256, -1, np.int16)
for _a, _b in ((8, 0), (9, 10), (13, 14), (15, 16), (17, 18)):
    _CP4[_a], _CP4[_b] = _b, _a
_CP6 = np.full(256, -1, np.int16)
for _a, _b in ((128, 129), (130, 131), (133, 134), (135, 136), (139, 140), (141, 142)):
    _CP6[_a], _CP6[_b] = _b, _a
_REQUEST4 = np.zeros(256, bool)
_REQUEST4[[8, 10, 13, 15, 17]] = True
_REQUEST6 = np.zeros(256, bool)
_REQUEST6[[128, 130, 133, 135, 139, 141]] = True

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
MIN_ROUND = 1 << 18  # rows per round at least (bounded memory: ~25 MB of row columns)
AGG_ROWS = 1 << 18  # rows aggregated at once (bounds the temporaries of _aggregate)
MAX_JOBS = 2  # rounds split but not yet aggregated, at most (bounds memory)
_DNS_PORTS = np.array([53, 137, 5353, 5355], dtype=np.uint16)
M32 = np.int64(1 << 32)

ORIG_METHODS = np.array(["syn", "synack", "port", "first-packet", "icmp-request"], dtype=object)
M_SYN, M_SYNACK, M_PORT, M_FIRST, M_ICMP = range(5)


@dataclass(slots=True)
class FlowOptions:
    """Timeouts in seconds (defaults as Zeek's ``tcp_inactivity_timeout`` etc.)."""

    tcp_timeout: float = 300.0
    udp_timeout: float = 60.0
    icmp_timeout: float = 60.0
    other_timeout: float = 60.0
    close_delay: float = 5.0  # Zeek tcp_close_delay / tcp_reset_delay
    partial_close_delay: float = 3.0  # Zeek tcp_partial_close_delay
    dns_timeout: float = 10.0  # Zeek dns_session_timeout (UDP 53/137/5353/5355)
    packet_flows: bool = False  # also return flow index and direction per packet
    payload_service: bool = True  # read first payload bytes to guess the service


ROW_FIELDS = (
    "ts_ns",
    "frame",
    "ka_hi",
    "ka_lo",
    "kb_hi",
    "kb_lo",
    "pa",
    "pb",
    "proto",
    "fromb",
    "flags",
    "seq",
    "ack",
    "win",
    "ip_len",
    "plen",
    "poff",
    "pavail",
    "itype",
    "icode",
    "tun",
)
_SPLIT_FIELDS = (
    "ts_ns",
    "ka_hi",
    "ka_lo",
    "kb_hi",
    "kb_lo",
    "pa",
    "pb",
    "proto",
    "flags",
    "seq",
    "fromb",
)
#: Tunnel types (capture.decode TUN_*) whose outer UDP datagrams Zeek logs as connections of
#: their own (service teredo / vxlan); GRE and IP-in-IP outer layers go to tunnel.log instead.
TUN_TEREDO, TUN_VXLAN = 2, 3


def _canonical(sh, sl, dh, dl, sp, dp) -> dict[str, np.ndarray]:
    """The canonical key of each packet (endpoint a = the smaller (address, port)) and whether
    the packet was sent from b."""
    fromb = (sh > dh) | ((sh == dh) & ((sl > dl) | ((sl == dl) & (sp > dp))))
    return {
        "ka_hi": np.where(fromb, dh, sh),
        "ka_lo": np.where(fromb, dl, sl),
        "kb_hi": np.where(fromb, sh, dh),
        "kb_lo": np.where(fromb, sl, dl),
        "pa": np.where(fromb, dp, sp),
        "pb": np.where(fromb, sp, dp),
        "fromb": fromb,
    }


def _extract(t: PacketTable, sniff: dict[int, bytes]) -> dict[str, np.ndarray]:
    """Compact per-packet columns of IP rows, keyed canonically (smaller endpoint = a)."""
    # compiled once numba is set up (capture.kernels.worth): the first chunks of a big
    # capture are read while it still loads, and would wait for it here otherwise
    if USE_KERNELS and kernels.worth(len(t)) and capture_kernels.worth():
        return _extract_compiled(t, sniff)
    idx = np.nonzero((t.status == ST_OK) & (t.ip_version != 0))[0]
    proto = t.proto[idx]
    sh, sl, dh, dl = t.src_hi[idx], t.src_lo[idx], t.dst_hi[idx], t.dst_lo[idx]
    sp = t.sport[idx].astype(np.uint16)
    dp = t.dport[idx].astype(np.uint16)
    ity, ico = t.icmp_type[idx], t.icmp_code[idx]
    is4, is6 = proto == 1, proto == 58
    icmp = is4 | is6
    if icmp.any():
        cp = np.where(is4, _CP4[ity], _CP6[ity])
        sp = np.where(icmp, ity.astype(np.uint16), sp)
        dp = np.where(icmp, np.where(cp >= 0, cp, ico).astype(np.uint16), dp)
    ports = (proto == 6) | (proto == 17) | icmp
    sp = np.where(ports, sp, 0).astype(np.uint16)
    dp = np.where(ports, dp, 0).astype(np.uint16)
    key = _canonical(sh, sl, dh, dl, sp, dp)
    poff = (t.offset[idx] + t.payload_off[idx]).astype(np.int64)
    avail = np.minimum(
        t.payload_len[idx].astype(np.int64), t.caplen[idx].astype(np.int64) - t.payload_off[idx]
    )
    flags = np.where(proto == 6, t.tcp_flags[idx], 0).astype(np.uint8)
    return _rows(t, sniff, idx, key, flags, poff, np.maximum(avail, 0))


def _extract_compiled(t: PacketTable, sniff: dict[int, bytes]) -> dict[str, np.ndarray]:
    """_extract with the selection, ICMP ports and canonical key of one compiled pass
    (kernels.extract_rows; nogil, so it runs in the reader thread beside the flow rounds)."""
    idx, *k, flags, poff, avail = kernels.extract_rows(
        t.status, t.ip_version, t.proto, t.src_hi, t.src_lo, t.dst_hi, t.dst_lo,
        t.sport, t.dport, t.icmp_type, t.icmp_code, t.tcp_flags, t.offset, t.payload_off,
        t.payload_len, t.caplen, _CP4, _CP6,
    )  # fmt: skip
    key = dict(zip(("ka_hi", "ka_lo", "kb_hi", "kb_lo", "pa", "pb", "fromb"), k, strict=True))
    return _rows(t, sniff, idx, key, flags, poff, avail)


def _rows(t: PacketTable, sniff, idx, key, flags, poff, pavail) -> dict[str, np.ndarray]:
    """The row columns of table rows *idx* (ROW_FIELDS), with the outer datagrams of Teredo and
    VXLAN appended. Reassembled payloads are not in the file: their first bytes go to *sniff*
    (by frame) and their offset is -1."""
    reas = t.reassembled[idx]
    if reas.any():
        for i in np.nonzero(reas)[0].tolist():
            fr = int(t.frame[idx[i]])
            data = t.extra_payload.get(fr, b"")
            if data:
                sniff[fr] = data[: services.SNIFF_BYTES]
        poff = np.where(reas, -1, poff)
    rows = {
        "ts_ns": t.ts_ns[idx],
        "frame": t.frame[idx].astype(np.int64),
        **key,
        "proto": t.proto[idx],
        "flags": flags,
        "seq": t.seq[idx],
        "ack": t.ack[idx],
        "win": t.win[idx],
        "ip_len": t.ip_len[idx],
        "plen": t.payload_len[idx],
        "poff": poff,
        "pavail": pavail,
        "itype": t.icmp_type[idx],
        "icode": t.icmp_code[idx],
        "tun": np.zeros(len(idx), np.uint8),
    }
    if t.head8 is not None and t.head12 is not None:  # the pre-test reads these, not the file
        rows["head8"], rows["head12"] = t.head8[idx], t.head12[idx]
    if t.tunnels is not None:
        outer = _outer_rows(t)
        if outer is not None:
            if "head8" in rows:  # outer datagrams are not sniffed (pavail 0)
                outer["head8"] = np.zeros(len(outer["ts_ns"]), np.uint64)
                outer["head12"] = np.zeros(len(outer["ts_ns"]), np.uint8)
            rows = {k: np.concatenate([rows[k], outer[k]]) for k in rows}
    return rows


def _outer_rows(t: PacketTable) -> dict[str, np.ndarray] | None:
    """Rows for the outer UDP datagrams of Teredo and VXLAN layers (Zeek logs those as
    connections; the main columns describe the inner packet, counted as its own flow)."""
    tun = t.tunnels
    sel = np.nonzero(
        ((tun["type"] == TUN_TEREDO) | (tun["type"] == TUN_VXLAN)) & (tun["proto"] == 17)
    )[0]
    if not len(sel):
        return None
    row = tun["row"][sel]
    sh, sl, dh, dl = (tun[k][sel] for k in ("src_hi", "src_lo", "dst_hi", "dst_lo"))
    sp, dp = tun["sport"][sel].astype(np.uint16), tun["dport"][sel].astype(np.uint16)
    z = np.zeros(len(sel), np.uint8)
    return {
        "ts_ns": t.ts_ns[row],
        "frame": t.frame[row].astype(np.int64),
        **_canonical(sh, sl, dh, dl, sp, dp),
        "proto": np.full(len(sel), 17, np.uint8),
        "flags": z,
        "seq": np.zeros(len(sel), np.uint32),
        "ack": np.zeros(len(sel), np.uint32),
        "win": np.zeros(len(sel), np.uint16),
        "ip_len": tun["ip_len"][sel].astype(np.uint32),
        "plen": tun["payload_len"][sel].astype(np.uint32),
        "poff": t.offset[row].astype(np.int64),  # not sniffed: pavail is 0
        "pavail": np.zeros(len(sel), np.int64),
        "itype": z,
        "icode": z,
        "tun": tun["type"][sel].astype(np.uint8),
    }


def _ns(seconds: float) -> int:
    return int(min(seconds * 1e9, 2.0**62))


def _hash(r: dict[str, np.ndarray]) -> np.ndarray:
    """64-bit mix of the canonical key (splitmix64 finaliser per word)."""
    with np.errstate(over="ignore"):
        h = np.full(len(r["ts_ns"]), 0x9E3779B97F4A7C15, dtype=np.uint64)
        port = (
            (r["pa"].astype(np.uint64) << np.uint64(24))
            | (r["pb"].astype(np.uint64) << np.uint64(8))
            | r["proto"]
        )
        for col in (r["ka_hi"], r["ka_lo"], r["kb_hi"], r["kb_lo"], port):
            h ^= col
            h ^= h >> np.uint64(30)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(27)
            h *= np.uint64(0x94D049BB133111EB)
            h ^= h >> np.uint64(31)
    return h


def _seg_cummax(values: np.ndarray, seg_start: np.ndarray) -> np.ndarray:
    """Running maximum restarted at each True of *seg_start* (values >= -1, int64)."""
    seg = np.cumsum(seg_start) - 1
    big = np.int64(1 << 40)
    return np.maximum.accumulate(values + seg * big) - seg * big


def _last_pos(mask: np.ndarray, kstart: np.ndarray) -> np.ndarray:
    """Position of the latest True strictly before each row within its key, -1 if none."""
    n = len(mask)
    pos = np.where(mask, np.arange(n), -1)
    last = np.maximum.accumulate(pos)
    prev = np.empty(n, np.int64)
    prev[0] = -1
    prev[1:] = last[:-1]
    return np.where(prev >= kstart, prev, -1)


def _facts(starts, n, fromb, fl, tcp_row, req_r, ip_len, plen, first) -> dict[str, np.ndarray]:
    """Per-flow counts and first-event positions with numpy (what kernels.flow_facts computes
    for the compiled core), named kernels.FACTS + "_a"/"_b" ("pay_a_first"/"pay_b_first" for
    the first payload) and kernels.SUMS; *first* = _first_sparse over the flow ids."""
    out: dict[str, np.ndarray] = {}
    fa_, fb_ = ~fromb, fromb
    sa = fl & (SYN | ACK)
    ev = {
        "syn": sa == SYN,
        "synack": sa == (SYN | ACK),
        "req": req_r,
        "first": np.ones(n, bool),
        "anysyn": (fl & SYN) > 0,
        "ack": tcp_row & ((fl & ACK) > 0),
        "fin": (fl & FIN) > 0,
        "rst": (fl & RST) > 0,
    }
    for name, m in ev.items():
        out[name + "_a"], out[name + "_b"] = first(m & fa_), first(m & fb_)
    out["pay_a_first"] = first(fa_ & (plen > 0))
    out["pay_b_first"] = first(fb_ & (plen > 0))
    ends = np.append(starts[1:], n) - 1

    def fsum(v: np.ndarray) -> np.ndarray:
        return np.add.reduceat(v, starts)

    out["pk_b"] = fsum(fromb.astype(np.int64))
    out["pk_a"] = (ends - starts + 1) - out["pk_b"]
    out["ipb_b"] = fsum(np.where(fromb, ip_len, 0))
    out["ipb_a"] = fsum(ip_len) - out["ipb_b"]
    out["pay_b"] = fsum(np.where(fromb, plen, 0))
    out["pay_a"] = fsum(plen) - out["pay_b"]
    noisy = (((fl & (SYN | FIN | RST)) > 0) | (plen > 0)).astype(np.int64)
    out["noisy_b"] = fsum(np.where(fromb, noisy, 0))
    out["noisy_a"] = fsum(noisy) - out["noisy_b"]
    return out


def _tcp_seq_numpy(fid, starts, n, fromb, fl, tcp_row, seq, ack, plen, isn_a, isn_b, anysyn):
    """kernels.tcp_seq with numpy: (rs, rxmit, gap, (e_a, e_b, a_on_a, a_on_b, cov_a, cov_b))."""
    nfl = len(starts)
    fa_, fb_ = ~fromb, fromb
    rst_r = (fl & RST) > 0
    fin_r = (fl & FIN) > 0
    own_isn = np.where(fromb, isn_b[fid], isn_a[fid])
    peer_isn = np.where(fromb, isn_a[fid], isn_b[fid])
    rs = (seq - own_isn) % M32
    rs = np.where(rs >= (1 << 31), rs - M32, rs)
    ra = (ack - peer_isn) % M32
    ra = np.where(ra >= (1 << 31), ra - M32, ra)
    seglen = np.where(rst_r, 0, plen) + anysyn + fin_r
    end = rs + seglen
    NEG = np.int64(-(1 << 40))
    use = tcp_row & ~rst_r
    e_a = np.maximum.reduceat(np.where(use & fa_, end, NEG), starts)
    e_b = np.maximum.reduceat(np.where(use & fb_, end, NEG), starts)
    ackuse = tcp_row & ((fl & ACK) > 0) & ~rst_r
    a_on_b = np.maximum.reduceat(np.where(ackuse & fa_, ra, NEG), starts)  # a acks b's data
    a_on_a = np.maximum.reduceat(np.where(ackuse & fb_, ra, NEG), starts)
    # Covered bytes: union of data segments per side -> missed = size - covered.
    data = tcp_row & (plen > 0) & ~rst_r
    dstart = rs + anysyn
    didx = np.nonzero(data)[0]
    cov_a = np.zeros(nfl, np.int64)
    cov_b = np.zeros(nfl, np.int64)
    rxmit = np.zeros(n, dtype=bool)
    gap = np.zeros(n, dtype=bool)
    if len(didx):
        g = fid[didx] * 2 + fromb[didx]
        s0, e0 = dstart[didx], dstart[didx] + plen[didx]
        # retransmission: ends at or before the highest end sent before (packet order)
        gs = np.ones(len(didx), bool)
        gs[1:] = g[1:] != g[:-1]
        og = np.argsort(g, kind="stable")
        gso = np.ones(len(didx), bool)
        gso[1:] = g[og][1:] != g[og][:-1]
        run = _seg_cummax(e0[og] + (1 << 33), gso) - (1 << 33)
        prevmax = np.empty(len(og), np.int64)
        prevmax[0] = NEG
        prevmax[1:] = run[:-1]
        prevmax[gso] = NEG
        rx = e0[og] <= prevmax
        rxmit[didx[og]] = rx
        o2 = np.lexsort((s0, g))
        gg = g[o2]
        st2 = np.ones(len(o2), bool)
        st2[1:] = gg[1:] != gg[:-1]
        run2 = _seg_cummax(e0[o2] + (1 << 33), st2) - (1 << 33)
        pm = np.empty(len(o2), np.int64)
        pm[0] = NEG
        pm[1:] = run2[:-1]
        pm[st2] = NEG
        contrib = np.maximum(0, e0[o2] - np.maximum(s0[o2], pm))
        cov = np.bincount(gg, weights=contrib, minlength=2 * nfl).astype(np.int64)
        cov_a, cov_b = cov[0::2], cov[1::2]
        # content gap: the first data segment that starts past everything seen so far
        gap_o = (s0[og] > prevmax) & (prevmax > NEG) & ~gso
        gap[didx[og]] = gap_o
    return rs, rxmit, gap, (e_a, e_b, a_on_a, a_on_b, cov_a, cov_b)


#: Per-flow counts by role, as both cores return them (the first rows of flow_states).
_COUNTS = kernels.ST_ROWS[: kernels.ST_ROWS.index("missed_bytes") + 1]


def _core_compiled(starts, n, rows, proto, pa_, pb_, ity0, ico0) -> dict[str, np.ndarray]:
    """Per-flow facts of a piece's flows (grouped rows *rows*, flows at *starts*) by the
    compiled passes: flow_facts, flow_orig, tcp_seq, flow_states. The same values as
    :func:`_core_numpy`."""
    fromb, fl, tcp, plen = rows["fromb"], rows["flags"], rows["tcp"], rows["plen"]
    seq, ack = rows["seq"].astype(np.int64), rows["ack"].astype(np.int64)
    first, sums = kernels.flow_facts(starts, n, fromb, fl, tcp, rows["req"], rows["ip_len"], plen)
    srv = (services.TCP_SERVER, services.UDP_SERVER)
    orig_b, method, swap, isn = kernels.flow_orig(
        starts, n, fromb, fl, seq, ack, proto, pa_, pb_, first, *srv
    )
    rs, rxmit, gap, per = kernels.tcp_seq(starts, n, fromb, fl, tcp, seq, ack, plen, *isn)
    m = kernels.flow_states(
        starts, n, fl, proto, ity0, ico0, first, sums, per, orig_b, method, *state.ICMP_LUTS
    )
    v = {k: m[i] for i, k in enumerate(kernels.ST_ROWS)}
    v["rs_state"] = v.pop("rs")
    v.update(orig_b=orig_b, method=method, zeek_swap=swap, rs=rs, rxmit=rxmit, gap=gap)
    return v


def _core_numpy(starts, ends, n, fid, rows, proto, pa_, pb_, ity0, ico0) -> dict[str, np.ndarray]:
    """Per-flow facts of a piece's flows with numpy: originator and how it was decided, Zeek's
    own pick, ISNs and sequence space, sizes and missed bytes, Zeek endpoint states, the row
    where Zeek's clock stops, argus direction and status, first payload row by role."""
    nfl = len(starts)
    fromb, fl, tcp_row, plen = rows["fromb"], rows["flags"], rows["tcp"], rows["plen"]

    def first(mask: np.ndarray, *_: object) -> np.ndarray:
        return _first_sparse(mask, fid, starts, nfl)

    fx = _facts(starts, n, fromb, fl, tcp_row, rows["req"], rows["ip_len"], plen, first)
    pk_a, pk_b, ipb_a, ipb_b = fx["pk_a"], fx["pk_b"], fx["ipb_a"], fx["ipb_b"]
    pay_a, pay_b = fx["pay_a"], fx["pay_b"]
    first_pkt_b = fromb[starts]
    # --- originator -----------------------------------------------------------------------
    syn_a, syn_b = fx["syn_a"], fx["syn_b"]
    sa_a, sa_b = fx["synack_a"], fx["synack_b"]
    srv_a = services.server_like(proto, pa_)
    srv_b = services.server_like(proto, pb_)
    icmp = (proto == 1) | (proto == 58)
    req_a, req_b = fx["req_a"], fx["req_b"]
    has_syn = (syn_a != NONE) | (syn_b != NONE)
    has_sa = (sa_a != NONE) | (sa_b != NONE)
    has_req = icmp & ((req_a != NONE) | (req_b != NONE))
    port_dec = ((proto == 6) | (proto == 17)) & (srv_a != srv_b)
    method = np.select(
        [(proto == 6) & has_syn, (proto == 6) & has_sa, has_req, port_dec],
        [M_SYN, M_SYNACK, M_ICMP, M_PORT],
        M_FIRST,
    )
    orig_b = np.select(
        [method == M_SYN, method == M_SYNACK, method == M_ICMP, method == M_PORT],
        [syn_b < syn_a, sa_a < sa_b, req_b < req_a, srv_a],
        first_pkt_b,
    )
    # Zeek: first packet's sender, flipped on a SYN-ACK or by its likely-server-port rule.
    fsrv_src = np.where(first_pkt_b, srv_b, srv_a)
    fsrv_dst = np.where(first_pkt_b, srv_a, srv_b)
    ffl = fl[starts]
    fsport = np.where(first_pkt_b, pb_, pa_)
    fdport = np.where(first_pkt_b, pa_, pb_)
    partial = ((ffl & SYN) == 0) | ((ffl & ACK) > 0)
    zflip_tcp = (
        partial & fsrv_src & np.where(fsrv_dst, ((ffl & SYN) == 0) & (fsport < fdport), True)
    )
    zflip_tcp |= (ffl & (SYN | ACK)) == (SYN | ACK)
    zflip = np.where(proto == 6, zflip_tcp, (proto == 17) & fsrv_src & ~fsrv_dst)
    zeek_swap = (first_pkt_b ^ zflip) != orig_b

    def pick(a: np.ndarray, b: np.ndarray, want_b: np.ndarray) -> np.ndarray:
        return np.where(want_b, b, a)

    # --- TCP sequence space ---------------------------------------------------------------
    seq = rows["seq"].astype(np.int64)
    ack = rows["ack"].astype(np.int64)
    first_a, first_b = fx["first_a"], fx["first_b"]
    # ISN per side: its first SYN's seq, else its first packet's seq - 1, else the peer's
    # first ACK - 1 (Zeek init_endpoint / init_peer).
    anysyn = (fl & SYN) > 0

    def isn(fsyn, firstp, peer_ack):
        at = lambda p: seq[np.clip(starts + np.where(p == NONE, 0, p), 0, n - 1)]  # noqa: E731
        peer_at = ack[np.clip(starts + np.where(peer_ack == NONE, 0, peer_ack), 0, n - 1)]
        return np.where(
            fsyn != NONE, at(fsyn), np.where(firstp != NONE, at(firstp) - 1, peer_at - 1)
        )

    isn_a = isn(fx["anysyn_a"], first_a, fx["ack_b"])
    isn_b = isn(fx["anysyn_b"], first_b, fx["ack_a"])

    def size(e, a, has_fin):
        s = np.maximum(np.maximum(e, a), 0)
        s = np.where(s > 0, s - 1, 0)
        return np.where((s > 0) & has_fin, s - 1, s)

    rs, rxmit, gap, (e_a, e_b, a_on_a, a_on_b, cov_a, cov_b) = _tcp_seq_numpy(
        fid, starts, n, fromb, fl, tcp_row, seq, ack, plen, isn_a, isn_b, anysyn
    )
    size_a = size(e_a, a_on_a, fx["fin_a"] != NONE)
    size_b = size(e_b, a_on_b, fx["fin_b"] != NONE)
    tcp_f = proto == 6
    miss_a = np.where(tcp_f & (cov_a > 0), np.maximum(0, size_a - cov_a), 0)
    miss_b = np.where(tcp_f & (cov_b > 0), np.maximum(0, size_b - cov_b), 0)

    # --- per-side control facts and Zeek states -------------------------------------------
    def side(x: str, first_p: np.ndarray, pk: np.ndarray, sz: np.ndarray) -> Side:
        fp_row = starts + np.where(first_p == NONE, 0, first_p)
        return Side(
            pkts=pk,
            first=first_p,
            first_ack=(pk > 0) & ((fl[np.clip(fp_row, 0, n - 1)] & ACK) > 0),
            syn=fx["syn" + x],
            synack=fx["synack" + x],
            fin=fx["fin" + x],
            rst=fx["rst" + x],
            quiet=fx["noisy" + x] == 0,
            size=sz,
        )

    A = side("_a", first_a, pk_a, size_a)
    B = side("_b", first_b, pk_b, size_b)

    def orient(x: Side, y: Side, want_b: np.ndarray) -> Side:
        return Side(*(np.where(want_b, getattr(y, f), getattr(x, f)) for f in Side.__slots__))

    o_side = orient(A, B, orig_b)
    r_side = orient(B, A, orig_b)
    orig_pkts = pick(pk_a, pk_b, orig_b)
    resp_pkts = pick(pk_b, pk_a, orig_b)
    # duration: Zeek stops the clock once both sides closed (or a RST)
    bothfin = np.where((A.fin != NONE) & (B.fin != NONE), np.maximum(A.fin, B.fin), NONE)
    closep = np.minimum(np.minimum(A.rst, B.rst), bothfin)
    lastp = np.minimum(ends, starts + np.where(closep == NONE, ends - starts, closep))
    certain = (method == M_SYN) | (method == M_SYNACK) | (method == M_ICMP)
    astat = state.argus_status(
        proto,
        orig_pkts,
        resp_pkts,
        has_syn,
        has_sa,
        (A.fin != NONE) | (B.fin != NONE),
        (A.rst != NONE) | (B.rst != NONE),
        ity0,
        ico0,
    )
    fpay_a, fpay_b = fx["pay_a_first"], fx["pay_b_first"]
    return {
        "orig_b": orig_b,
        "method": method,
        "zeek_swap": zeek_swap,
        "rs": rs,
        "rxmit": rxmit,
        "gap": gap,
        "orig_pkts": orig_pkts,
        "resp_pkts": resp_pkts,
        "orig_ip_bytes": pick(ipb_a, ipb_b, orig_b),
        "resp_ip_bytes": pick(ipb_b, ipb_a, orig_b),
        "orig_payload_bytes": pick(pay_a, pay_b, orig_b),
        "resp_payload_bytes": pick(pay_b, pay_a, orig_b),
        "orig_bytes": np.where(tcp_f, pick(size_a, size_b, orig_b), pick(pay_a, pay_b, orig_b)),
        "resp_bytes": np.where(tcp_f, pick(size_b, size_a, orig_b), pick(pay_b, pay_a, orig_b)),
        "missed_bytes": miss_a + miss_b,
        "os": state.endpoint_state(o_side, r_side, True),
        "rs_state": state.endpoint_state(r_side, o_side, False),
        "lastp": np.where(tcp_f, lastp, ends),
        "direction": state.argus_dir(proto, orig_pkts, resp_pkts, certain),
        "status": astat,
        "pay_orig": pick(fpay_a, fpay_b, orig_b),
        "pay_resp": pick(fpay_b, fpay_a, orig_b),
    }


def _history_numpy(starts, n, fromb, fl, tcp_row, plen, win, rs, rxmit, gap, fid, resp, flip, ud):
    """kernels.history with numpy: (lengths, letters) of the flows' history strings."""
    nfl = len(starts)
    parts = [(np.nonzero(flip)[0], np.full(int(flip.sum()), ord("^"), np.uint8))]
    if tcp_row.any():
        tr = tcp_row
        zwin = tr & (win == 0) & ((fl & (SYN | RST)) == 0)
        args = (fid, resp, fl, plen, rs, rxmit, gap, zwin)
        parts.append(state.history_letters(*(x[tr] for x in args)))
    for bit, letter in ((1, "D"), (2, "d")):
        f = np.nonzero(ud & bit)[0]
        parts.append((f, np.full(len(f), ord(letter), np.uint8)))
    return state.join_letters(nfl, parts)


class _Rows:
    """Rows *idx* of a round's columns *src*, gathered per column on first use; ``at(k, pos)``
    reads single positions without gathering the column (fields needed only at flow starts
    and ends: addresses, ports, times, frames)."""

    __slots__ = ("src", "idx", "_got", "_pos")

    def __init__(self, src: dict[str, np.ndarray], idx: np.ndarray) -> None:
        self.src, self.idx, self._got = src, idx, {}
        self._pos: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __getitem__(self, k: str) -> np.ndarray:
        v = self._got.get(k)
        if v is None:
            v = self._got[k] = self.src[k][self.idx]
        return v

    def at(self, k: str, pos: np.ndarray) -> np.ndarray:
        v = self._got.get(k)
        if v is not None:
            return v[pos]
        hit = self._pos.get(id(pos))  # the same positions (flow starts, ends) recur
        if hit is None or hit[0] is not pos:
            hit = self._pos[id(pos)] = (pos, self.idx[pos])
        return self.src[k][hit[1]]


def _by_start(
    rows: dict[str, np.ndarray], take: np.ndarray, split: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Reorder the finished flows (row ranges of *take* starting where *split*) by start time,
    then first frame, stably (ties keep key-hash order). The round's flows then come out
    sorted, and the final assembly merges one sorted run per round instead of gathering
    columns at random."""
    fst = np.flatnonzero(split)
    lens = np.diff(np.append(fst, len(split)))
    first = take[fst]
    frame, ts = rows["frame"][first], rows["ts_ns"][first]
    if USE_KERNELS and kernels.worth(len(first)) and len(first):
        # the same stable sorts as below, by the compiled radix sort (keys made unsigned)
        perm = kernels.radix_order(frame.astype(np.uint64))
        perm = perm[kernels.radix_order((ts[perm] - ts.min()).astype(np.uint64))]
    else:
        perm = np.argsort(frame, kind="stable")
        perm = perm[np.argsort(ts[perm], kind="stable")]
    nlen = lens[perm]
    nstart = np.cumsum(nlen) - nlen
    idx = np.repeat(fst[perm] - nstart, nlen) + np.arange(len(split))
    out = np.zeros(len(split), dtype=bool)
    out[nstart] = True
    return take[idx], out


def _pieces(starts: np.ndarray, n: int, size: int) -> list[int]:
    """Row bounds cutting [0, n) at flow starts into pieces of about *size* rows."""
    if n <= size or len(starts) <= 1:
        return [0, n]
    want = np.arange(size, n, size)
    cut = np.unique(starts[np.clip(np.searchsorted(starts, want), 0, len(starts) - 1)])
    return [0, *[int(c) for c in cut if 0 < c < n], n]


def _trim() -> None:
    """Give freed heap memory back to the OS (glibc keeps freed arrays of a round otherwise,
    and peak RSS would follow the sum of rounds, not the largest)."""
    trim()


def _first_sparse(mask: np.ndarray, fid: np.ndarray, starts: np.ndarray, nfl: int) -> np.ndarray:
    """Per flow: first row position (relative to the flow start) where *mask*, else NONE;
    computed from the True positions only (cheap for rare events)."""
    idx = np.flatnonzero(mask)
    out = np.full(nfl, NONE, np.int64)
    if len(idx):
        f = fid[idx]
        keep = np.ones(len(f), dtype=bool)
        keep[1:] = f[1:] != f[:-1]
        fk = f[keep]
        out[fk] = idx[keep] - starts[fk]
    return out


def _close_pos(tcp, fl, fromb, kstart, inclusive):
    """Per row: position of the segment that closed the connection (Zeek removes it a delay
    later) and which delay applies; -1 when not closed. *inclusive* counts the row itself."""
    lp = _last_incl if inclusive else _last_pos
    rst_pos = lp(tcp & ((fl & RST) > 0), kstart)
    fin = tcp & ((fl & FIN) > 0)
    fa = lp(fin & ~fromb, kstart)
    fb = lp(fin & fromb, kstart)
    p_sa = lp(tcp & ((fl & (SYN | ACK)) == (SYN | ACK)), kstart)
    both = (fa >= 0) & (fb >= 0)
    close_pos = np.where(rst_pos >= 0, rst_pos, np.where(both, np.maximum(fa, fb), -1))
    half = (close_pos < 0) & (np.maximum(fa, fb) >= 0) & (p_sa < 0)
    close_pos = np.where(half, np.maximum(fa, fb), close_pos)
    # a close before the latest SYN belongs to an earlier connection on the same tuple
    p_syn = lp(tcp & ((fl & (SYN | ACK)) == SYN), kstart)
    return np.where(close_pos > p_syn, close_pos, -1), half


def _last_incl(mask: np.ndarray, kstart: np.ndarray) -> np.ndarray:
    last = np.maximum.accumulate(np.where(mask, np.arange(len(mask)), -1))
    return np.where(last >= kstart, last, -1)


def _candidates(src: str | np.ndarray, off, avail, proto) -> np.ndarray:
    """services.candidates over the capture bytes; a path is mapped for this call only."""
    if not isinstance(src, str):
        return services.candidates(src, off, avail, proto)
    with open(src, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        arr = np.frombuffer(m, dtype=np.uint8)
        try:
            return services.candidates(arr, off, avail, proto)
        finally:
            del arr


class FlowBuilder:
    """Feed packet-table chunks in capture order; get finished flow batches back."""

    def __init__(
        self,
        options: FlowOptions | None = None,
        reader: Reader | None = None,
        mapped: str | np.ndarray | None = None,
    ) -> None:
        self.opt = options or FlowOptions()
        self.reader = reader
        # the capture file (path, or its bytes) for the vectorized payload prefilter; a path is
        # mapped only while a round reads it, so its pages do not stay in our resident set
        self.mapped = mapped
        self.carry: dict[str, np.ndarray] | None = None
        self.sniff: dict[int, bytes] = {}
        self.emitted = 0
        self.pk_frames: list[np.ndarray] = []
        self.pk_flow: list[np.ndarray] = []
        self.pk_dir: list[np.ndarray] = []
        self.max_frame = 0
        self.pending: list[dict[str, np.ndarray]] = []
        self.npending = 0
        self._pool: ThreadPoolExecutor | None = None
        self._jobs: deque[Future] = deque()  # aggregations of the rounds split, in order

    def feed(self, table: PacketTable) -> list[dict[str, np.ndarray]]:
        """Take one chunk; return batches of the flows it finished (maybe none)."""
        return self.take(prepare(table))

    def take(self, chunk: Prepared) -> list[dict[str, np.ndarray]]:
        """Take one chunk's rows (:func:`prepare`); return batches of the flows it finished.

        New rows are buffered until they outnumber twice the carried rows (and at least
        ``MIN_ROUND``), so carried rows of live flows are re-examined a bounded number of
        times: the work stays linear in the capture size.
        """
        rows, last_frame, sniff = chunk
        self.max_frame = max(self.max_frame, last_frame)
        self.sniff.update(sniff)
        if len(rows["ts_ns"]):
            self.pending.append(rows)
            self.npending += len(rows["ts_ns"])
        ncarry = 0 if self.carry is None else len(self.carry["ts_ns"])
        if self.npending < max(MIN_ROUND, 2 * ncarry):
            return []
        return self._run(final=False)

    def finish(self) -> list[dict[str, np.ndarray]]:
        return self._run(final=True)

    def _run(self, final: bool) -> list[dict[str, np.ndarray]]:
        """Split a round; its finished flows are aggregated in a worker thread while the
        caller goes on reading (the next round needs only the carried rows). Returns the
        batches of the rounds whose aggregation is done (in round order; it waits only when
        more than MAX_JOBS are pending), and with *final* all of them."""
        job = self._split_round(final)
        if job is not None:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="honeysift-flows")
            self._jobs.append(self._pool.submit(self._aggregate_round, *job))
        out: list[dict[str, np.ndarray]] = []
        jobs = self._jobs
        while jobs and (final or jobs[0].done() or len(jobs) > MAX_JOBS):
            out += jobs.popleft().result()
        if final and self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        return out

    def _split_round(self, final: bool):
        """(rows, take, split) of the round's finished flows (or None); the rest is carried."""
        parts = ([self.carry] if self.carry is not None else []) + self.pending
        self.pending, self.npending, self.carry = [], 0, None
        if not parts:
            return None
        # ROW_FIELDS, and head8/head12 when every chunk had them (tables from the reader)
        keys = [k for k in parts[0] if all(k in p for p in parts)]
        rows = (
            parts[0]
            if len(parts) == 1
            else {k: np.concatenate([p[k] for p in parts]) for k in keys}
        )
        del parts  # the carried and pending rows now live only in *rows*
        if not len(rows["ts_ns"]):
            return None
        return self._round(rows, final=final)

    # ------------------------------------------------------------------------------------
    def _timeouts_ns(self, r: dict[str, np.ndarray]) -> np.ndarray:
        o = self.opt
        proto = r["proto"]
        udp_t = np.where(
            np.isin(r["pa"], _DNS_PORTS) | np.isin(r["pb"], _DNS_PORTS),
            min(o.dns_timeout, o.udp_timeout),
            o.udp_timeout,
        )
        t = np.where(
            proto == 6,
            o.tcp_timeout,
            np.where(
                proto == 17,
                udp_t,
                np.where((proto == 1) | (proto == 58), o.icmp_timeout, o.other_timeout),
            ),
        )
        return np.minimum(t * 1e9, 2.0**62).astype(np.int64)

    def _round(self, rows: dict[str, np.ndarray], final: bool):
        if USE_KERNELS and kernels.worth(len(rows["ts_ns"])):
            packed, h = kernels.pack_split(
                *(rows[k] for k in ("ka_hi", "ka_lo", "kb_hi", "kb_lo", "pa", "pb", "proto")),
                *(rows[k] for k in ("ts_ns", "flags", "seq", "fromb")),
            )
            order = kernels.radix_order(h)
            del h
            split, done_rows = self._split_kernel(packed, order, final)
            del packed
        else:
            order = np.argsort(_hash(rows), kind="stable")
            split, done_rows = self._split_numpy(rows, order, final)
        if not done_rows.all():
            keep = order[~done_rows]
            self.carry = {k: v[keep] for k, v in rows.items()}
        else:
            self.carry = None
        if not done_rows.any():
            return None
        take = order[done_rows] if not done_rows.all() else order
        return rows, take, split[done_rows]

    def _aggregate_round(
        self, rows: dict[str, np.ndarray], take: np.ndarray, split: np.ndarray
    ) -> list[dict[str, np.ndarray]]:
        """Batches of the finished flows whose rows are rows[take] (flows start where
        *split*), sorted by start."""
        take, split = _by_start(rows, take, split)
        # aggregate in pieces of about AGG_ROWS rows (cut at flow starts): the temporaries of
        # _aggregate then stay small however many rows the round holds
        bounds = _pieces(np.flatnonzero(split), len(split), AGG_ROWS)
        out = []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            out.append(self._aggregate(_Rows(rows, take[a:b]), split[a:b]))
        _trim()
        return out

    def _split_kernel(
        self, packed: np.ndarray, order: np.ndarray, final: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """(split, done) per sorted row, from the compiled pass (kernels.split_rows) over the
        packed split fields (kernels.pack_split)."""
        o = self.opt
        secs = [o.tcp_timeout, o.udp_timeout, min(o.dns_timeout, o.udp_timeout)]
        secs += [o.icmp_timeout, o.other_timeout]
        tmo = np.minimum(np.array(secs, np.float64) * 1e9, 2.0**62).astype(np.int64)
        return kernels.split_rows(
            order,
            packed,
            tmo,
            np.int64(_ns(o.partial_close_delay)),
            np.int64(_ns(o.close_delay)),
            np.int64(packed[:, 4].max()),
            final,
        )

    def _split_numpy(
        self, rows: dict[str, np.ndarray], order: np.ndarray, final: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """(split, done) per sorted row, vectorized (the same rules as kernels.split_rows)."""
        o = self.opt
        # Only the columns that decide splits are sorted here; the others are gathered once,
        # straight into the finished or carried rows.
        r = {k: rows[k][order] for k in _SPLIT_FIELDS}
        n = len(order)
        ts = r["ts_ns"]
        keychg = np.ones(n, dtype=bool)
        if n > 1:
            keychg[1:] = (
                (r["ka_hi"][1:] != r["ka_hi"][:-1])
                | (r["ka_lo"][1:] != r["ka_lo"][:-1])
                | (r["kb_hi"][1:] != r["kb_hi"][:-1])
                | (r["kb_lo"][1:] != r["kb_lo"][:-1])
                | (r["pa"][1:] != r["pa"][:-1])
                | (r["pb"][1:] != r["pb"][:-1])
                | (r["proto"][1:] != r["proto"][:-1])
            )
        pos = np.arange(n, dtype=np.int64)
        kstart = np.maximum.accumulate(np.where(keychg, pos, 0))
        prev_ts = np.empty(n, np.int64)
        prev_ts[0] = ts[0]
        prev_ts[1:] = ts[:-1]
        tmo = self._timeouts_ns(r)
        split = keychg | (ts - prev_ts > tmo)
        # TCP: reuse of the 4-tuple, and Zeek's removal of closed connections.
        fl = r["flags"]
        tcp = r["proto"] == 6
        if tcp.any():
            pure_syn = tcp & ((fl & (SYN | ACK)) == SYN)
            synack = tcp & ((fl & (SYN | ACK)) == (SYN | ACK))
            finrst = tcp & ((fl & (FIN | RST)) > 0)
            p_syn = _last_pos(pure_syn, kstart)
            p_fr = _last_pos(finrst, kstart)
            p_sa = _last_pos(synack, kstart)
            reuse = pure_syn & (p_fr > p_syn)  # new SYN after FIN/RST
            prev_seq = r["seq"][np.maximum(p_syn, 0)]
            reuse |= pure_syn & (p_syn >= 0) & (p_sa > p_syn) & (prev_seq != r["seq"])
            split |= reuse
            # Closed connections are removed after a delay; a later packet starts a new one.
            close_pos, half = _close_pos(tcp, fl, r["fromb"], kstart, inclusive=False)
            delay = np.where(half, _ns(o.partial_close_delay), _ns(o.close_delay))
            t_close = ts[np.maximum(close_pos, 0)]
            linger = (close_pos >= 0) & (ts - t_close > delay) & (prev_ts - t_close <= delay)
            split |= linger & ~keychg
        fid = np.cumsum(split) - 1
        starts = np.nonzero(split)[0]
        nfl = len(starts)
        ends = np.empty(nfl, np.int64)
        ends[:-1] = starts[1:] - 1
        ends[-1] = n - 1
        if final:
            done_f = np.ones(nfl, dtype=bool)
        else:
            now = ts.max()
            last = ts[ends]
            done_f = last < now - tmo[starts]
            if tcp.any():
                # flow segments start at a split, so a close inside the key but before this
                # flow's start must not count
                cpi, _ = _close_pos(tcp, fl, r["fromb"], kstart, inclusive=True)
                cp = cpi[ends]
                closed = cp >= starts
                tc = ts[np.clip(cp, 0, n - 1)]
                done_f |= tcp[starts] & closed & (now - tc > _ns(o.close_delay))
        return split, done_f[fid]

    # ------------------------------------------------------------------------------------
    def _aggregate(self, r: _Rows, split: np.ndarray) -> dict[str, np.ndarray]:
        n = len(split)
        starts = np.nonzero(split)[0]
        nfl = len(starts)
        fid = np.cumsum(split) - 1
        ends = np.append(starts[1:], n) - 1
        proto = r.at("proto", starts)
        rows = {k: r[k] for k in ("fromb", "flags", "seq", "ack")}
        rows["tcp"] = r["proto"] == 6
        rows["ip_len"] = r["ip_len"].astype(np.int64)
        rows["plen"] = r["plen"].astype(np.int64)
        ity = r["itype"]
        rows["req"] = np.where(r["proto"] == 1, services_req4(ity), services_req6(ity)) & (
            (r["proto"] == 1) | (r["proto"] == 58)
        )
        pa_, pb_ = r.at("pa", starts), r.at("pb", starts)
        icmp0 = (ity[starts], r.at("icode", starts))  # ICMP type and code of each first row
        if USE_KERNELS and kernels.worth(n):
            v = _core_compiled(starts, n, rows, proto, pa_, pb_, *icmp0)
        else:
            v = _core_numpy(starts, ends, n, fid, rows, proto, pa_, pb_, *icmp0)
        orig_b = v["orig_b"]
        fromb, fl = rows["fromb"], rows["flags"]
        first_pkt_b = fromb[starts]
        resp_row = fromb != orig_b[fid]  # the row was sent by the responder

        def pick(a: np.ndarray, b: np.ndarray, want_b: np.ndarray) -> np.ndarray:
            return np.where(want_b, b, a)

        # history (Arrow string layout): TCP letters, "^" when flipped, D/d for UDP; Zeek's
        # ICMP and other analyzers record no history
        orig_pkts, resp_pkts = v["orig_pkts"], v["resp_pkts"]
        flipped = (orig_b != first_pkt_b) & ((proto == 6) | (proto == 17))
        ud = (proto == 17) * ((orig_pkts > 0) + 2 * (resp_pkts > 0))  # UDP "D" / "d"
        hist_args = (starts, n, fromb, fl, rows["tcp"], rows["plen"], r["win"])
        hist_args += (v["rs"], v["rxmit"], v["gap"])
        if USE_KERNELS and kernels.worth(n):
            hist_len, hist_data = kernels.history(*hist_args, orig_b, flipped, ud)
        else:
            hist_len, hist_data = _history_numpy(*hist_args, fid, resp_row, flipped, ud)
        hist_off = np.concatenate([[0], np.cumsum(hist_len, dtype=np.int64)])

        def hist(i: int) -> bytes:
            return hist_data[hist_off[i] : hist_off[i + 1]].tobytes()

        sizes = (v["orig_bytes"], v["resp_bytes"])
        cstate = state.conn_state(proto, v["os"], v["rs_state"], orig_pkts, resp_pkts, *sizes, hist)
        t0, t1 = r.at("ts_ns", starts), r.at("ts_ns", ends)
        zdur = r.at("ts_ns", v["lastp"]) - t0  # Zeek stops the clock at the close
        # --- service ----------------------------------------------------------------------
        orig_p = pick(pa_, pb_, orig_b)
        resp_p = pick(pb_, pa_, orig_b)
        svc = self._services(r, proto, orig_p, resp_p, starts, v["pay_orig"], v["pay_resp"])
        tun0 = r.at("tun", starts)
        svc = np.where(tun0 == TUN_TEREDO, services.SERVICE_CODE["teredo"], svc)
        svc = np.where(tun0 == TUN_VXLAN, services.SERVICE_CODE["vxlan"], svc).astype(np.uint8)

        # --- per-packet output --------------------------------------------------------------
        base = self.emitted
        self.emitted += nfl
        if self.opt.packet_flows:
            inner = r["tun"] == 0  # a tunnelled frame belongs to its inner packet's flow
            self.pk_frames.append(r["frame"][inner])
            self.pk_flow.append(fid[inner] + base)
            self.pk_dir.append(resp_row[inner].astype(np.int8))
        out = {
            "start_ns": t0,
            "end_ns": t1,
            "zeek_duration_ns": zdur,
            "proto": proto,
            "orig_hi": pick(r.at("ka_hi", starts), r.at("kb_hi", starts), orig_b),
            "orig_lo": pick(r.at("ka_lo", starts), r.at("kb_lo", starts), orig_b),
            "resp_hi": pick(r.at("kb_hi", starts), r.at("ka_hi", starts), orig_b),
            "resp_lo": pick(r.at("kb_lo", starts), r.at("ka_lo", starts), orig_b),
            "orig_p": orig_p,
            "resp_p": resp_p,
            **{k: v[k] for k in _COUNTS},
            "conn_state": cstate,
            "direction": v["direction"].astype(np.uint8),
            "status": v["status"].astype(np.uint8),
            "service": svc,
            "first_frame": r.at("frame", starts),
            "last_frame": r.at("frame", ends),
            "orig_method": v["method"].astype(np.uint8),
            "zeek_swap": v["zeek_swap"],
        }
        # flows come sorted by (start, first frame) (_by_start); "_hist_idx" maps a row of the
        # final table to its history letters
        out["_hist_len"], out["_hist_data"] = hist_len, hist_data
        out["_hist_idx"] = np.arange(nfl, dtype=np.int64)
        return out

    def _services(self, r, proto, orig_p, resp_p, starts, fo, fr) -> np.ndarray:
        """Service codes (services.SERVICES) for all flows: by port (vectorized), replaced by
        the payload verdict for flows that carried recognisable payload."""
        nfl = len(starts)
        svc = np.zeros(nfl, dtype=np.uint8)
        for pnum, lut in ((6, services.TCP_CODES), (17, services.UDP_CODES)):
            m = proto == pnum
            byresp = lut[resp_p[m].astype(np.int64)]
            byorig = lut[orig_p[m].astype(np.int64)]
            svc[m] = np.where(byresp != 0, byresp, byorig)
        if not self.opt.payload_service:
            return svc
        has = np.nonzero(((proto == 6) | (proto == 17)) & ((fo != NONE) | (fr != NONE)))[0]
        # payload positions are looked up in the round's rows (r.src) through r.idx
        poff, pav, frm = r.src["poff"], r.src["pavail"], r.src["frame"]
        read, sniff, limit = self.reader, self.sniff, services.SNIFF_BYTES
        by_payload = services.by_payload

        def data(row: int) -> bytes:
            off = int(poff[row])
            if off < 0:
                return sniff.get(int(frm[row]), b"")
            k = min(int(pav[row]), limit)
            return read(off, k) if (read is not None and k > 0) else b""

        if (self.mapped is not None or "head8" in r.src) and len(has):
            # originator's verdict first, as in the Python path: one pre-test of both sides'
            # first payloads, the originator's written last
            code = np.zeros(len(has), dtype=np.int8)
            rel = np.concatenate([fr[has], fo[has]])
            tgt = np.concatenate([np.arange(len(has))] * 2)
            ok = np.flatnonzero(rel != NONE)
            rows = r.idx[np.concatenate([starts[has]] * 2)[ok] + rel[ok]]
            pr = proto[has][tgt[ok]]
            if "head8" in r.src:
                h8, h12 = r.src["head8"][rows], r.src["head12"][rows]
                c = services.classify(h8, h12, poff[rows], pav[rows], pr)
            else:
                c = _candidates(self.mapped, poff[rows], pav[rows], pr)
            hit = c != services.PRE_NONE
            code[tgt[ok][hit]] = c[hit]
            for k, name in services.PRE_NAMES.items():
                svc[has[code == k]] = services.SERVICE_CODE[name]
            has = has[code == services.PRE_MAYBE]
        st, fol, frl, pl = (
            starts[has].tolist(),
            fo[has].tolist(),
            fr[has].tolist(),
            proto[has].tolist(),
        )
        for j, i in enumerate(has.tolist()):
            for rel_pos in (fol[j], frl[j]):
                if rel_pos != NONE:
                    s = by_payload(pl[j], data(int(r.idx[st[j] + rel_pos])))
                    if s:
                        svc[i] = services.SERVICE_CODE[s]
                        break
        return svc


def services_req4(t: np.ndarray) -> np.ndarray:
    return _REQUEST4[t]


def services_req6(t: np.ndarray) -> np.ndarray:
    return _REQUEST6[t]


#: A chunk's flow rows (ROW_FIELDS), its last frame number, first bytes of reassembled payloads.
Prepared = tuple[dict[str, np.ndarray], int, dict[int, bytes]]


def prepare(table: PacketTable) -> Prepared:
    """The flow rows of one chunk, independent of the builder's state: the reader thread
    computes them while the builder works on the rounds."""
    sniff: dict[int, bytes] = {}
    rows = _extract(table, sniff)
    return rows, int(table.frame[-1]) if len(table) else 0, sniff


def iter_batches(
    chunks: Iterable[Prepared], builder: FlowBuilder
) -> Iterator[dict[str, np.ndarray]]:
    """Finished flow batches as the chunks' :func:`prepare` rows are consumed (bounded memory
    streaming)."""
    for chunk in chunks:
        yield from builder.take(chunk)
    yield from builder.finish()


def empty_batch() -> dict[str, np.ndarray]:
    """A zero-row batch with the column dtypes of :meth:`FlowBuilder._aggregate`."""
    i8, u8, u16 = np.int64, np.uint64, np.uint16
    spec = {
        "start_ns": i8,
        "end_ns": i8,
        "zeek_duration_ns": i8,
        "proto": np.uint8,
        "orig_hi": u8,
        "orig_lo": u8,
        "resp_hi": u8,
        "resp_lo": u8,
        "orig_p": u16,
        "resp_p": u16,
        "orig_pkts": i8,
        "resp_pkts": i8,
        "orig_ip_bytes": i8,
        "resp_ip_bytes": i8,
        "orig_payload_bytes": i8,
        "resp_payload_bytes": i8,
        "orig_bytes": i8,
        "resp_bytes": i8,
        "missed_bytes": i8,
        "conn_state": np.uint8,
        "_hist_len": np.int32,
        "_hist_data": np.uint8,
        "_hist_idx": i8,
        "direction": np.uint8,
        "status": np.uint8,
        "service": np.uint8,
        "first_frame": i8,
        "last_frame": i8,
        "orig_method": np.uint8,
        "zeek_swap": np.bool_,
    }
    return {k: np.zeros(0, dtype=v) for k, v in spec.items()}
