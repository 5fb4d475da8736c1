"""Compiled per-row passes of the flow builder and the CSV printer (numba), used when numba is
installed: pack_split + split_rows (flow boundaries of a round), flow_facts (per-flow counts and
first events), tcp_seq (sequence space, retransmissions, covered bytes), history (Zeek history
strings), extract_rows (a chunk's flow rows), radix_order (the key-hash sort), csv_rows (CSV
text). docs/flows.md says what each replaces.

Why compiled: these steps need, per row, state carried from earlier rows of the same key or
flow ("the latest SYN before this row", "the highest sequence end so far"). Vectorized, each is
a dozen full passes of masks, running maxima, sorts and gathers; as loops they are one pass
that reads each row once. The numpy code in build.py / services.py / render.py computes the
same values and is used when numba is absent; tests/flows check that both give identical flows.

``cache=True`` keeps the machine code in ``__pycache__``, so only the first run compiles.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from honeysift.capture import kernels as capture_kernels
from honeysift.jit import LazyJit

#: numba installed (the numpy path in build.py / services.py / render.py is the fallback).
AVAILABLE = importlib.util.find_spec("numba") is not None

#: Tests set this to run the compiled passes on every size.
ALWAYS = False


def worth(n: int = 0) -> bool:
    """Use the compiled passes? When numba is installed and the capture is big enough to pay
    for loading them (capture.kernels.COMPILE_FROM), or they are loaded already. *n* (rows) is
    informational: the decision is per process, so one capture's output does not mix paths."""
    return AVAILABLE and (ALWAYS or _JIT.done or capture_kernels.wanted())


FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


def _mix(h, v):
    """One splitmix64 finaliser step of the key hash (build._hash)."""
    h ^= v
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


def _extract_rows(
    status, ipv, proto, sh, sl, dh, dl, sport, dport, ity, ico, tflags, offset, poff, plen,
    caplen, cp4, cp6,
):  # fmt: skip
    """build._extract's row selection and canonical key in one pass: (idx, ka_hi, ka_lo, kb_hi,
    kb_lo, pa, pb, fromb, flags, poff, pavail) for the table rows with status OK and an IP
    layer. ICMP types map to ports as Zeek pairs them (cp4/cp6: the counterpart type, -1
    none); other protocols than TCP/UDP/ICMP have ports 0."""
    n = len(status)
    m = 0
    for i in range(n):
        if status[i] == 0 and ipv[i] != 0:
            m += 1
    idx = np.empty(m, np.int64)
    ka_hi = np.empty(m, np.uint64)
    ka_lo = np.empty(m, np.uint64)
    kb_hi = np.empty(m, np.uint64)
    kb_lo = np.empty(m, np.uint64)
    pa = np.empty(m, np.uint16)
    pb = np.empty(m, np.uint16)
    fromb = np.empty(m, np.bool_)
    flags = np.empty(m, np.uint8)
    off = np.empty(m, np.int64)
    avail = np.empty(m, np.int64)
    k = 0
    for i in range(n):
        if status[i] != 0 or ipv[i] == 0:
            continue
        pr = proto[i]
        sp = np.int64(sport[i])
        dp = np.int64(dport[i])
        if pr == 1 or pr == 58:
            t = ity[i]
            c = cp4[t] if pr == 1 else cp6[t]
            sp = np.int64(t)
            dp = np.int64(c) if c >= 0 else np.int64(ico[i])
        elif pr != 6 and pr != 17:
            sp = 0
            dp = 0
        a_hi, a_lo, b_hi, b_lo = sh[i], sl[i], dh[i], dl[i]
        fb = a_hi > b_hi or (a_hi == b_hi and (a_lo > b_lo or (a_lo == b_lo and sp > dp)))
        idx[k] = i
        fromb[k] = fb
        if fb:
            ka_hi[k], ka_lo[k], kb_hi[k], kb_lo[k] = b_hi, b_lo, a_hi, a_lo
            pa[k], pb[k] = dp, sp
        else:
            ka_hi[k], ka_lo[k], kb_hi[k], kb_lo[k] = a_hi, a_lo, b_hi, b_lo
            pa[k], pb[k] = sp, dp
        flags[k] = tflags[i] if pr == 6 else 0
        po = np.int64(poff[i])
        off[k] = offset[i] + po
        v = min(np.int64(plen[i]), np.int64(caplen[i]) - po)
        avail[k] = v if v > 0 else 0
        k += 1
    return idx, ka_hi, ka_lo, kb_hi, kb_lo, pa, pb, fromb, flags, off, avail


def _uids(start_ns, orig_hi, orig_lo, resp_hi, resp_lo, orig_p, resp_p, proto, b62):
    """flows.uid_bytes, one flow at a time: "C" + 11 base-62 digits (least significant first)
    of the key hash of (orig_hi ^ start, orig_lo, resp_hi, resp_lo, ports + protocol), as a
    (n, 12) uint8 array."""
    n = len(start_ns)
    out = np.empty((n, 12), np.uint8)
    for i in range(n):
        a_hi = np.uint64(orig_hi[i]) ^ np.uint64(start_ns[i])
        h = _key_hash(a_hi, orig_lo[i], resp_hi[i], resp_lo[i], orig_p[i], resp_p[i], proto[i])
        out[i, 0] = 67  # C
        for j in range(1, 12):
            out[i, j] = b62[h % np.uint64(62)]
            h //= np.uint64(62)
    return out


def _key_hash(a_hi, a_lo, b_hi, b_lo, pa, pb, proto):
    """build._hash of one key: the four address words, then ports and protocol in one word."""
    port = (np.uint64(pa) << np.uint64(24)) | (np.uint64(pb) << np.uint64(8)) | np.uint64(proto)
    h = _mix(np.uint64(0x9E3779B97F4A7C15), np.uint64(a_hi))
    h = _mix(h, np.uint64(a_lo))
    h = _mix(h, np.uint64(b_hi))
    h = _mix(h, np.uint64(b_lo))
    return _mix(h, port)


def _pack_split(ka_hi, ka_lo, kb_hi, kb_lo, pa, pb, proto, ts, flags, seq, fromb):
    """(packed, hash): the fields the split pass reads, one row of 7 int64 words per packet
    (addresses, time, ports + protocol, seq/flags/direction; read in sort order, a row is one or
    two cache lines instead of one line per column), and the key hash of build._hash."""
    n = len(ts)
    p = np.empty((n, 7), np.int64)
    hs = np.empty(n, np.uint64)
    for i in range(n):
        hs[i] = _key_hash(ka_hi[i], ka_lo[i], kb_hi[i], kb_lo[i], pa[i], pb[i], proto[i])
        p[i, 0] = np.int64(ka_hi[i])
        p[i, 1] = np.int64(ka_lo[i])
        p[i, 2] = np.int64(kb_hi[i])
        p[i, 3] = np.int64(kb_lo[i])
        p[i, 4] = ts[i]
        p[i, 5] = (np.int64(pa[i]) << 24) | (np.int64(pb[i]) << 8) | np.int64(proto[i])
        p[i, 6] = (np.int64(seq[i]) << 16) | (np.int64(flags[i]) << 8) | (1 if fromb[i] else 0)
    return p, hs


def _radix_order(h):
    """np.argsort(h, kind="stable") for uint64 keys, as an LSD radix sort (six passes of 11
    bits): ~2.5x faster than numpy's stable sort (a merge sort for 64-bit keys) on the key
    hashes of a round."""
    n = len(h)
    a = np.arange(n)
    b = np.empty(n, np.int64)
    ka = h.copy()
    kb = np.empty(n, np.uint64)
    cnt = np.empty(2049, np.int64)
    for p in range(6):
        sh = np.uint64(11 * p)
        cnt[:] = 0
        for i in range(n):
            cnt[((ka[i] >> sh) & np.uint64(2047)) + 1] += 1
        for d in range(2048):
            cnt[d + 1] += cnt[d]
        for i in range(n):
            d = (ka[i] >> sh) & np.uint64(2047)
            j = cnt[d]
            cnt[d] = j + 1
            b[j] = a[i]
            kb[j] = ka[i]
        a, b = b, a
        ka, kb = kb, ka
    return a


def _split_rows(order, p, tmo_ns, partial_ns, close_ns, now, final):
    """Flow boundaries and finished flows of one round; sorted row i is row order[i] of the
    packed fields *p* (_pack_split).

    Returns (split, done): split[i] is True where sorted row i starts a flow (key change, idle
    gap past the timeout, TCP reuse, a packet after Zeek removed the closed connection);
    done[i] is True where sorted row i belongs to a flow that can no longer grow (idle past its
    timeout relative to *now*, or closed more than *close_ns* before *now*; every flow when
    *final*). *tmo_ns*: int64 timeouts for tcp, udp, udp on a DNS port, icmp, other. Same
    rules as FlowBuilder._split_numpy: event positions are "latest before this row within the
    key", so they span flow boundaries of the same key.
    """
    n = len(order)
    split = np.zeros(n, np.bool_)
    done = np.zeros(n, np.bool_)
    # per-key state: latest sorted position (-1: none) of each TCP event among visited rows
    p_syn = p_fr = p_sa = p_rst = p_fa = p_fb = -1
    syn_seq = 0
    tmo = np.int64(0)
    is_tcp = False
    fstart = 0
    prev_ts = np.int64(0)
    j0 = 0
    for i in range(n):
        j = order[i]
        t = p[j, 4]
        if i == 0:
            keychg = True
            prev_ts = t
        else:
            keychg = (
                p[j, 1] != p[j0, 1]
                or p[j, 3] != p[j0, 3]
                or p[j, 5] != p[j0, 5]
                or p[j, 0] != p[j0, 0]
                or p[j, 2] != p[j0, 2]
            )
        w = p[j, 6]
        fl = (w >> 8) & 0xFF
        sq = w >> 16
        sp = keychg
        if not keychg:
            if t - prev_ts > tmo:
                sp = True
            if is_tcp:
                # reuse: a new SYN after a FIN/RST, or a new ISN after a SYN-ACK
                new_isn = p_syn >= 0 and p_sa > p_syn and syn_seq != sq
                if (fl & (SYN | ACK)) == SYN and (p_fr > p_syn or new_isn):
                    sp = True
                # Zeek removes a closed connection after a delay: a later packet starts anew
                cp, half = _close(p_rst, p_fa, p_fb, p_sa, p_syn)
                if cp >= 0:
                    tc = p[order[cp], 4]
                    delay = partial_ns if half else close_ns
                    if t - tc > delay and prev_ts - tc <= delay:
                        sp = True
        if sp and i > 0:
            _finish(
                done, fstart, i, p[order[i - 1], 4], tmo, is_tcp, final, now, close_ns,
                p, order, p_rst, p_fa, p_fb, p_sa, p_syn,
            )  # fmt: skip
        if keychg:
            p_syn = p_fr = p_sa = p_rst = p_fa = p_fb = -1
            pr = p[j, 5] & 0xFF
            is_tcp = pr == 6
            if is_tcp:
                tmo = tmo_ns[0]
            elif pr == 17:
                a = (p[j, 5] >> 24) & 0xFFFF
                b = (p[j, 5] >> 8) & 0xFFFF
                dns = (
                    a == 53 or a == 137 or a == 5353 or a == 5355
                    or b == 53 or b == 137 or b == 5353 or b == 5355
                )  # fmt: skip
                tmo = tmo_ns[2] if dns else tmo_ns[1]
            elif pr == 1 or pr == 58:
                tmo = tmo_ns[3]
            else:
                tmo = tmo_ns[4]
        if sp:
            fstart = i
        if is_tcp:
            sa = fl & (SYN | ACK)
            if sa == SYN:
                p_syn = i
                syn_seq = sq
            elif sa == SYN | ACK:
                p_sa = i
            if fl & (FIN | RST):
                p_fr = i
                if fl & RST:
                    p_rst = i
                if fl & FIN:
                    if w & 1:
                        p_fb = i
                    else:
                        p_fa = i
        split[i] = sp
        prev_ts = t
        j0 = j
    if n:
        _finish(
            done, fstart, n, p[order[n - 1], 4], tmo, is_tcp, final, now, close_ns,
            p, order, p_rst, p_fa, p_fb, p_sa, p_syn,
        )  # fmt: skip
    return split, done


def _close(p_rst, p_fa, p_fb, p_sa, p_syn):
    """Position of the segment that closed the connection (-1: open) and whether only one
    side closed a connection without handshake (Zeek's partial close delay applies)."""
    mf = max(p_fa, p_fb)
    cp = -1
    half = False
    if p_rst >= 0:
        cp = p_rst
    elif p_fa >= 0 and p_fb >= 0:
        cp = mf
    elif mf >= 0 and p_sa < 0:
        cp = mf
        half = True
    if cp <= p_syn:  # a close before the latest SYN belongs to an earlier connection
        cp = -1
    return cp, half


def _finish(
    done,
    a,
    b,
    last_ts,
    tmo,
    is_tcp,
    final,
    now,
    close_ns,
    p,
    order,
    p_rst,
    p_fa,
    p_fb,
    p_sa,
    p_syn,
):
    """Mark sorted rows [a, b) (one flow) done when it can no longer grow."""
    d = final or last_ts < now - tmo
    if not d and is_tcp:
        cp, _ = _close(p_rst, p_fa, p_fb, p_sa, p_syn)
        d = cp >= a and now - p[order[cp], 4] > close_ns
    if d:
        for k in range(a, b):
            done[k] = True


# ---------------------------------------------------------------------------- CSV rows
K_INT, K_DEC6, K_LABEL, K_ADDR, K_HIST, K_FIXED = range(6)


#: "00" "01" ... "99": two digits per table read when printing numbers.
_DIGITS2 = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), np.uint8).copy()


def _put_uint(out, k, v):
    """Decimal digits of v >= 0 at out[k:]; returns the new end (two digits per step)."""
    w = 1
    p = 10
    while w < 19 and v >= p:
        w += 1
        p *= 10
    e = k + w
    while v >= 100:
        q = v // 100
        r = (v - q * 100) * 2
        e -= 2
        out[e] = _DIGITS2[r]
        out[e + 1] = _DIGITS2[r + 1]
        v = q
    if v >= 10:
        out[e - 2] = _DIGITS2[2 * v]
        out[e - 1] = _DIGITS2[2 * v + 1]
    else:
        out[e - 1] = 48 + v
    return k + w


def _put_int(out, k, v):
    if v < 0:
        out[k] = 45
        return _put_uint(out, k + 1, -v)
    return _put_uint(out, k, v)


def _put_bytes(out, k, data, a, b):
    for i in range(a, b):
        out[k] = data[i]
        k += 1
    return k


def _put_addr(out, k, hi, lo):
    """An address from its (hi, lo) halves: IPv4-mapped ones as a dotted quad, the others
    as RFC 5952 text, as Python's ipaddress writes it (lower-case hex groups without leading
    zeros, the first longest run of two or more zero groups as "::")."""
    if hi == 0 and (lo >> np.uint64(32)) == np.uint64(0xFFFF):
        v = np.int64(lo & np.uint64(0xFFFFFFFF))
        for sh in (24, 16, 8, 0):
            k = _put_uint(out, k, (v >> sh) & 255)
            if sh:
                out[k] = 46
                k += 1
        return k
    best, blen, run, rlen = -1, 0, -1, 0
    for j in range(8):
        if _group(hi, lo, j) == 0:
            if run < 0:
                run = j
            rlen += 1
            if rlen > blen:
                best, blen = run, rlen
        else:
            run, rlen = -1, 0
    if blen < 2:
        best = -1
    j = 0
    while j < 8:
        if j == best:
            out[k] = 58
            out[k + 1] = 58
            k += 2
            j += blen
            continue
        if j > 0 and not (best >= 0 and j == best + blen):
            out[k] = 58
            k += 1
        g = _group(hi, lo, j)
        started = False
        for sh in (12, 8, 4, 0):
            d = (g >> sh) & 15
            if d or started or sh == 0:
                out[k] = 48 + d if d < 10 else 87 + d
                k += 1
                started = True
        j += 1
    return k


def _group(hi, lo, j):
    """16-bit group j (0-7) of an IPv6 address."""
    w = hi if j < 4 else lo
    return np.int64((w >> np.uint64(48 - 16 * (j % 4))) & np.uint64(0xFFFF))


def _csv_rows(out, kinds, slots, num, lab_off, lab_data, h_off, h_data, fixed, sep):
    """Rows of delimited text into *out* (uint8, large enough); returns the length written.

    Column c has kind kinds[c] and reads num[i, slots[c]] (int64) for row i: K_INT the
    number; K_DEC6 microseconds printed as seconds with six decimals; K_LABEL an entry of the
    label table (lab_off/lab_data); K_ADDR an address from the (hi, lo) halves of
    capture.table in slots[c] and slots[c] + 1 (bit patterns), as text.address_strings
    writes it; K_HIST row i's history letters (h_off/h_data); K_FIXED the bytes fixed[i, :]."""
    n = num.shape[0]
    nc = len(kinds)
    k = 0
    for i in range(n):
        for c in range(nc):
            if c:
                out[k] = sep
                k += 1
            kind = kinds[c]
            if kind == K_HIST:
                k = _put_bytes(out, k, h_data, h_off[i], h_off[i + 1])
                continue
            if kind == K_FIXED:
                for j in range(fixed.shape[1]):
                    out[k] = fixed[i, j]
                    k += 1
                continue
            v = num[i, slots[c]]
            if kind == K_INT:
                k = _put_int(out, k, v)
            elif kind == K_DEC6:
                if v < 0:
                    out[k] = 45
                    k += 1
                    v = -v
                k = _put_uint(out, k, v // 1000000)
                out[k] = 46
                f = v % 1000000
                for j in (5, 3, 1):  # three digit pairs, last first
                    r = (f % 100) * 2
                    out[k + j] = _DIGITS2[r]
                    out[k + j + 1] = _DIGITS2[r + 1]
                    f //= 100
                k += 7
            elif kind == K_LABEL:
                k = _put_bytes(out, k, lab_data, lab_off[v], lab_off[v + 1])
            else:
                k = _put_addr(out, k, np.uint64(v), np.uint64(num[i, slots[c] + 1]))
        out[k] = 10
        k += 1
    return k


# ---------------------------------------------------------------------------- flow facts
#: Per-side "first position" facts of flow_facts, in column order (side a, then side b).
FACTS = ("syn", "synack", "req", "first", "anysyn", "ack", "fin", "rst", "pay")
#: Per-flow sums of flow_facts, in column order.
SUMS = ("pk_a", "pk_b", "ipb_a", "ipb_b", "pay_a", "pay_b", "noisy_a", "noisy_b")
NONE = np.iinfo(np.int64).max


def _flow_facts(starts, n, fromb, flags, tcp_row, req_r, ip_len, plen):
    """One pass over a piece's rows (grouped by flow, packet order): per flow and side the
    position (relative to the flow start, NONE if never) of its first pure SYN, SYN-ACK, ICMP
    request, packet, any SYN, TCP ACK, FIN, RST and payload; and the packet, IP byte, payload
    byte and "noisy" (SYN/FIN/RST or payload) counts per side."""
    nfl = len(starts)
    nf = 9
    first = np.full((2 * nf, nfl), NONE, np.int64)  # one contiguous row per fact
    sums = np.zeros((8, nfl), np.int64)
    for f in range(nfl):
        a = starts[f]
        b = starts[f + 1] if f + 1 < nfl else n
        for i in range(a, b):
            s = 1 if fromb[i] else 0
            fl = flags[i]
            rel = i - a
            o = s * nf
            sa = fl & (SYN | ACK)
            pl = plen[i]
            ev = (
                sa == SYN,
                sa == SYN | ACK,
                req_r[i],
                True,
                (fl & SYN) != 0,
                tcp_row[i] and (fl & ACK) != 0,
                (fl & FIN) != 0,
                (fl & RST) != 0,
                pl > 0,
            )
            for e in range(nf):
                if ev[e] and first[o + e, f] == NONE:
                    first[o + e, f] = rel
            sums[s, f] += 1
            sums[2 + s, f] += ip_len[i]
            sums[4 + s, f] += pl
            if (fl & (SYN | FIN | RST)) != 0 or pl > 0:
                sums[6 + s, f] += 1
    return first, sums


# ---------------------------------------------------------------------------- originator, states
# Fact rows of flow_facts' *first* matrix (side a; side b adds len(FACTS)) and sums rows.
F_SYN, F_SYNACK, F_REQ, F_FIRST, F_ANYSYN, F_ACK, F_FIN, F_RST, F_PAY = range(9)
M_SYN, M_SYNACK, M_PORT, M_FIRST, M_ICMP = range(5)  # build.ORIG_METHODS
# Zeek endpoint states (state.py)
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)


def _server_like(proto, port, tcp_srv, udp_srv):
    """services.server_like for one port."""
    if 0 < port < 1024:
        return True
    if proto == 6:
        return tcp_srv[port]
    if proto == 17:
        return udp_srv[port]
    return False


def _flow_orig(starts, n, fromb, flags, seq, ack, proto_f, pa_f, pb_f, first, tcp_srv, udp_srv):
    """Per flow: originator (True: endpoint b), how it was decided (M_*), whether Zeek's
    first-packet rule would pick the other side, and each side's ISN: the numpy code of
    build._orig_isn_numpy, one flow at a time."""
    nfl = len(starts)
    orig_b = np.zeros(nfl, np.bool_)
    method = np.zeros(nfl, np.uint8)
    swap = np.zeros(nfl, np.bool_)
    isn = np.empty((2, nfl), np.int64)
    nf = 9
    for f in range(nfl):
        st = starts[f]
        pr = proto_f[f]
        pa = np.int64(pa_f[f])
        pb = np.int64(pb_f[f])
        srv_a = _server_like(pr, pa, tcp_srv, udp_srv)
        srv_b = _server_like(pr, pb, tcp_srv, udp_srv)
        syn_a, syn_b = first[F_SYN, f], first[nf + F_SYN, f]
        sa_a, sa_b = first[F_SYNACK, f], first[nf + F_SYNACK, f]
        rq_a, rq_b = first[F_REQ, f], first[nf + F_REQ, f]
        fpb = fromb[st]
        if pr == 6 and (syn_a != NONE or syn_b != NONE):
            m, ob = M_SYN, syn_b < syn_a
        elif pr == 6 and (sa_a != NONE or sa_b != NONE):
            m, ob = M_SYNACK, sa_a < sa_b
        elif (pr == 1 or pr == 58) and (rq_a != NONE or rq_b != NONE):
            m, ob = M_ICMP, rq_b < rq_a
        elif (pr == 6 or pr == 17) and srv_a != srv_b:
            m, ob = M_PORT, srv_a
        else:
            m, ob = M_FIRST, fpb
        orig_b[f] = ob
        method[f] = m
        # Zeek: the first packet's sender, flipped on a SYN-ACK or by its likely-server rule
        fsrc, fdst = (srv_b, srv_a) if fpb else (srv_a, srv_b)
        fsp, fdp = (pb, pa) if fpb else (pa, pb)
        ffl = flags[st]
        if pr == 6:
            part = (ffl & SYN) == 0 or (ffl & ACK) != 0
            cond = ((ffl & SYN) == 0 and fsp < fdp) if fdst else True
            zflip = (part and fsrc and cond) or (ffl & (SYN | ACK)) == (SYN | ACK)
        else:
            zflip = pr == 17 and fsrc and not fdst
        swap[f] = (fpb != zflip) != ob
        # ISN: the side's first SYN's seq, else its first packet's seq - 1, else the peer's
        # first ACK - 1 (Zeek init_endpoint / init_peer)
        for s in range(2):
            fs, fp = first[s * nf + F_ANYSYN, f], first[s * nf + F_FIRST, f]
            pk = first[(1 - s) * nf + F_ACK, f]
            if fs != NONE:
                isn[s, f] = seq[min(max(st + fs, 0), n - 1)]
            elif fp != NONE:
                isn[s, f] = seq[min(max(st + fp, 0), n - 1)] - 1
            else:
                q = st + (0 if pk == NONE else pk)
                isn[s, f] = ack[min(max(q, 0), n - 1)] - 1
    return orig_b, method, swap, isn


def _size(e, a, has_fin):
    s = max(max(e, a), 0)
    s = s - 1 if s > 0 else 0
    return s - 1 if (s > 0 and has_fin) else s


def _endpoint(pk, first, first_ack, syn, synack, fin, rst, quiet, p_syn, p_synack, p_fin, is_orig):
    """state.endpoint_state for one endpoint (me: the first arguments; peer: p_*)."""
    any_peer = min(p_syn, p_synack)
    if is_orig:
        if syn != NONE:
            base = ESTABLISHED if (any_peer > syn and any_peer != NONE) else SYN_SENT
        elif synack != NONE:
            base = SYN_ACK_SENT
        elif first_ack and p_synack < first:
            base = ESTABLISHED
        else:
            base = PARTIAL
    elif min(syn, synack) != NONE:
        base = ESTABLISHED
    elif quiet and p_syn < first:
        base = INACTIVE
    else:
        base = PARTIAL
    st = INACTIVE if pk == 0 else base
    if fin != NONE:
        st = CLOSED
    keep_closed = fin < rst and rst != NONE and p_fin != NONE
    if rst != NONE and not keep_closed:
        st = RESET
    return st


#: Rows of flow_states' result matrix.
ST_ROWS = (
    "orig_pkts", "resp_pkts", "orig_ip_bytes", "resp_ip_bytes", "orig_payload_bytes",
    "resp_payload_bytes", "orig_bytes", "resp_bytes", "missed_bytes", "os", "rs", "lastp",
    "direction", "status", "pay_orig", "pay_resp",
)  # fmt: skip


def _flow_states(starts, n, flags, proto_f, ity_f, ico_f, first, sums, per, orig_b, method,
                 lut4, lut6):  # fmt: skip
    """Per flow, from flow_facts (*first*, *sums*), tcp_seq (*per*) and _flow_orig: counts
    and sizes by role, missed bytes, Zeek endpoint states, the row where Zeek's clock stops,
    argus direction and status, the first payload row of each role (rows ST_ROWS). The
    numpy code of build._states_numpy, one flow at a time."""
    nfl = len(starts)
    out = np.empty((len(ST_ROWS), nfl), np.int64)
    nf = 9
    size = np.empty(2, np.int64)  # per side; allocated once (an allocation per flow is slow)
    states = np.empty(2, np.int64)  # originator, responder
    for f in range(nfl):
        st = starts[f]
        end = (starts[f + 1] if f + 1 < nfl else n) - 1
        pr = proto_f[f]
        tcp = pr == 6
        o = 1 if orig_b[f] else 0
        r = 1 - o
        miss = 0
        for s in range(2):
            size[s] = _size(per[s, f], per[2 + s, f], first[s * nf + F_FIN, f] != NONE)
            cov = per[4 + s, f]
            if tcp and cov > 0:
                miss += max(0, size[s] - cov)
        for k in range(2):
            me = o if k == 0 else r
            pe = 1 - me
            b, q = me * nf, pe * nf
            fp = first[b + F_FIRST, f]
            pk = sums[me, f]
            fa = pk > 0 and (flags[min(max(st + (0 if fp == NONE else fp), 0), n - 1)] & ACK) != 0
            states[k] = _endpoint(
                pk, fp, fa, first[b + F_SYN, f], first[b + F_SYNACK, f], first[b + F_FIN, f],
                first[b + F_RST, f], sums[6 + me, f] == 0, first[q + F_SYN, f],
                first[q + F_SYNACK, f], first[q + F_FIN, f], k == 0,
            )  # fmt: skip
        opk, rpk = sums[o, f], sums[r, f]
        out[0, f], out[1, f] = opk, rpk
        out[2, f], out[3, f] = sums[2 + o, f], sums[2 + r, f]
        out[4, f], out[5, f] = sums[4 + o, f], sums[4 + r, f]
        if tcp:
            out[6, f], out[7, f] = size[o], size[r]
        else:
            out[6, f], out[7, f] = sums[4 + o, f], sums[4 + r, f]
        out[8, f] = miss
        out[9, f], out[10, f] = states[0], states[1]
        # Zeek stops the clock once both sides closed (or at a RST)
        fin_a, fin_b = first[F_FIN, f], first[nf + F_FIN, f]
        both = max(fin_a, fin_b) if (fin_a != NONE and fin_b != NONE) else NONE
        closep = min(min(first[F_RST, f], first[nf + F_RST, f]), both)
        last = end
        if tcp and closep != NONE:
            last = min(end, st + closep)
        out[11, f] = last
        # argus direction and status
        m = method[f]
        certain = m == M_SYN or m == M_SYNACK or m == M_ICMP  # noqa: PLR1714 (numba)
        if opk > 0 and rpk > 0:
            d = 2
        elif opk > 0:
            d = 0
        else:
            d = 1
        if tcp and not certain:
            d += 3
        if tcp and certain and opk > 0:
            d = 0
        out[12, f] = d
        if tcp:
            any_syn = first[F_SYN, f] != NONE or first[nf + F_SYN, f] != NONE
            any_sa = first[F_SYNACK, f] != NONE or first[nf + F_SYNACK, f] != NONE
            if first[F_RST, f] != NONE or first[nf + F_RST, f] != NONE:
                a = 2  # RST
            elif fin_a != NONE or fin_b != NONE:
                a = 3  # FIN
            elif any_syn and not any_sa and not (opk > 0 and rpk > 0):
                a = 4  # REQ
            else:
                a = 0  # CON
        elif pr == 1:
            a = lut4[ity_f[f], ico_f[f]]
        elif pr == 58:
            a = lut6[ity_f[f], ico_f[f]]
        else:
            a = 0 if (opk > 0 and rpk > 0) else 1  # CON, INT
        out[13, f] = a
        out[14, f] = first[o * nf + F_PAY, f]
        out[15, f] = first[r * nf + F_PAY, f]
    return out


# ---------------------------------------------------------------------------- TCP sequence space
M32 = 1 << 32
NEG = -(1 << 40)


def _tcp_seq(starts, n, fromb, flags, tcp_row, seq, ack, plen, isn_a, isn_b):
    """Per row: sequence number relative to its sender's ISN (signed 32-bit), retransmission
    (a data segment ending at or before the highest end its side sent before) and content gap
    (one starting past it); per flow (rows of the result): highest sequence end of each side,
    highest ACK each side sent of the other's data, and bytes covered by each side's data
    segments (union of intervals). The same values as the numpy code in build._aggregate."""
    nfl = len(starts)
    rs = np.empty(n, np.int64)
    rxmit = np.zeros(n, np.bool_)
    gap = np.zeros(n, np.bool_)
    per = np.empty((6, nfl), np.int64)  # e_a, e_b, a_on_a, a_on_b, cov_a, cov_b
    s0 = np.empty(n, np.int64)
    e0 = np.empty(n, np.int64)
    # per side: highest end sent, highest ACK of its data (sent by the other), running data end
    e_side = np.empty(2, np.int64)
    ack_of = np.empty(2, np.int64)
    run = np.empty(2, np.int64)
    for f in range(nfl):
        a = starts[f]
        b = starts[f + 1] if f + 1 < nfl else n
        e_side[:] = NEG
        ack_of[:] = NEG
        run[:] = NEG
        for i in range(a, b):
            s = 1 if fromb[i] else 0
            own = isn_b[f] if s else isn_a[f]
            peer = isn_a[f] if s else isn_b[f]
            r = (seq[i] - own) % M32
            if r >= (1 << 31):
                r -= M32
            rs[i] = r
            if not tcp_row[i]:
                continue
            fl = flags[i]
            if fl & RST:
                continue
            q = (ack[i] - peer) % M32
            if q >= (1 << 31):
                q -= M32
            syn = 1 if fl & SYN else 0
            end = r + plen[i] + syn + (1 if fl & FIN else 0)
            if end > e_side[s]:
                e_side[s] = end
            if fl & ACK and q > ack_of[1 - s]:
                ack_of[1 - s] = q
            if plen[i] > 0:
                st = r + syn
                en = st + plen[i]
                pm = run[s]
                if pm != NEG:
                    if en <= pm:
                        rxmit[i] = True
                    if st > pm:
                        gap[i] = True
                if en > pm:
                    run[s] = en
        per[0, f], per[1, f] = e_side[0], e_side[1]
        per[2, f], per[3, f] = ack_of[0], ack_of[1]
        for side in range(2):
            m = 0
            ordered = True
            for i in range(a, b):
                if (1 if fromb[i] else 0) != side or not tcp_row[i]:
                    continue
                if flags[i] & RST or plen[i] <= 0:
                    continue
                st = rs[i] + (1 if flags[i] & SYN else 0)
                if m and st < s0[m - 1]:
                    ordered = False
                s0[m] = st
                e0[m] = st + plen[i]
                m += 1
            cov = 0
            pm = NEG
            if ordered:
                for k in range(m):
                    c = e0[k] - max(s0[k], pm)
                    if c > 0:
                        cov += c
                    if e0[k] > pm:
                        pm = e0[k]
            else:
                o = np.argsort(s0[:m])
                for k in o:
                    c = e0[k] - max(s0[k], pm)
                    if c > 0:
                        cov += c
                    if e0[k] > pm:
                        pm = e0[k]
            per[4 + side, f] = cov
    return rs, rxmit, gap, per


# ---------------------------------------------------------------------------- history letters
def _history(starts, n, fromb, flags, tcp_row, plen, win, rs, rxmit, gap, orig_b, flipped, ud):
    """Zeek history strings of a piece's flows, as (lengths int32, letters uint8): the letters
    of state.history_letters and join_letters in one pass ("^" when flipped, the TCP letters
    in packet order, "D"/"d" for UDP flows whose originator / responder sent: bits 1 / 2 of
    *ud*). Same rules: "ADIQ" once per direction, "SHFR" again only for a new sequence
    number, "WTG" at the 1st, 10th, 100th... occurrence; lower case for the responder."""
    nfl = len(starts)
    lens = np.zeros(nfl, np.int32)
    out = np.empty(4 * n + 3 * nfl, np.uint8)
    seen = np.zeros((2, 4), np.bool_)  # A D I Q per direction
    has = np.zeros((2, 4), np.bool_)  # S H F R: a previous occurrence, and its sequence key
    prev = np.zeros((2, 4), np.int64)
    cnt = np.zeros((2, 3), np.int64)  # W T G occurrences
    k = 0
    for f in range(nfl):
        a = starts[f]
        b = starts[f + 1] if f + 1 < nfl else n
        k0 = k
        if flipped[f]:
            out[k] = 94  # ^
            k += 1
        seen[:] = False
        has[:] = False
        cnt[:] = 0
        for i in range(a, b):
            if not tcp_row[i]:
                continue
            fl = flags[i]
            syn, fin, rst, ack = fl & 2, fl & 1, fl & 4, fl & 0x10
            bits = (1 if syn else 0) + (1 if fin else 0) + (1 if rst else 0)
            d = 1 if fromb[i] != orig_b[f] else 0
            low = 32 * d
            c = 0
            if bits == 0:
                c = 68 if plen[i] > 0 else (65 if ack else 0)  # D, A
            elif bits == 1:
                c = 82 if rst else (70 if fin else (72 if ack else 83))  # R, F, H, S
            else:
                c = 73 if (fin and rst) else 81  # I, Q
            if c != 0:
                once = 0 if c == 65 else (1 if c == 68 else (2 if c == 73 else 3))
                if c == 65 or c == 68 or c == 73 or c == 81:
                    if not seen[d, once]:
                        seen[d, once] = True
                        out[k] = c + low
                        k += 1
                else:
                    e = 0 if c == 83 else (1 if c == 72 else (2 if c == 70 else 3))
                    key = rs[i] + plen[i] if c == 70 else rs[i]
                    if not has[d, e] or prev[d, e] != key:
                        out[k] = c + low
                        k += 1
                    has[d, e] = True
                    prev[d, e] = key
            marks = (win[i] == 0 and not rst and not syn, rxmit[i], gap[i])
            for e in range(3):
                if marks[e]:
                    cnt[d, e] += 1
                    m = cnt[d, e]
                    while m % 10 == 0:
                        m //= 10
                    if m == 1 and cnt[d, e] <= 1000000000:
                        out[k] = (87 if e == 0 else (84 if e == 1 else 71)) + low  # W T G
                        k += 1
        if ud[f] & 1:
            out[k] = 68  # D
            k += 1
        if ud[f] & 2:
            out[k] = 100  # d
            k += 1
        lens[f] = k - k0
    return lens, out[:k].copy()


_split_rows_c = _pack_split_c = _csv_rows_c = _flow_facts_c = _tcp_seq_c = None
_history_c = _extract_rows_c = _radix_order_c = _flow_orig_c = _flow_states_c = _uids_c = None
_JIT = LazyJit(
    globals(),
    entries=(
        "_split_rows",
        "_pack_split",
        "_csv_rows",
        "_flow_facts",
        "_tcp_seq",
        "_history",
        "_extract_rows",
        "_radix_order",
        "_flow_orig",
        "_flow_states",
        "_uids",
    ),
    helpers=(
        "_close",
        "_finish",
        "_mix",
        "_key_hash",
        "_put_addr",
        "_group",
        "_server_like",
        "_size",
        "_endpoint",
    ),
    # the printer's per-field helpers, inlined into it (a call per field is a fifth of its time)
    inline=("_put_uint", "_put_int", "_put_bytes"),
)
split_rows = _JIT.entry("_split_rows", "split_rows")
pack_split = _JIT.entry("_pack_split", "pack_split")
csv_rows = _JIT.entry("_csv_rows", "csv_rows")
flow_facts = _JIT.entry("_flow_facts", "flow_facts")
tcp_seq = _JIT.entry("_tcp_seq", "tcp_seq")
history = _JIT.entry("_history", "history")
extract_rows = _JIT.entry("_extract_rows", "extract_rows")
radix_order = _JIT.entry("_radix_order", "radix_order")
flow_orig = _JIT.entry("_flow_orig", "flow_orig")
flow_states = _JIT.entry("_flow_states", "flow_states")
uids = _JIT.entry("_uids", "uids")
