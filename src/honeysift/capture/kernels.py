"""Compiled per-record loops of the reader (numba): the pcap record walk, the pcapng walk
over runs of Enhanced Packet Blocks, and the decode of the common frame layouts.

Why compiled: walking pcap records is inherently sequential (each record's length says where
the next begins), so numpy cannot do it; in Python it costs ~0.4 us per record, the largest
part of reading a big capture. The decode fast path reads each frame's headers once instead of
the dozen whole-column passes of capture/decode.py. The Python/numpy code is kept as the
fallback (numba missing) and for every layout the fast path does not take; tests/capture check
that both give identical tables.

``cache=True`` keeps the machine code in ``__pycache__``; ``nogil=True`` lets the reader
thread decode while the main thread builds flows.
"""

from __future__ import annotations

import importlib.util
import threading

import numpy as np

from honeysift.jit import LazyJit, warm_up
from honeysift.memory import freeze

AVAILABLE = importlib.util.find_spec("numba") is not None

#: Captures from this size on (decompressed bytes) use the compiled loops. Importing numba and
#: loading the cached machine code costs ~0.5 s and ~120 MB: measured with `flows`, the break
#: even is ~150 MB (100 MB: 1.15 s without, 1.31 s with; 300 MB: 3.1 s vs 2.4 s; 1 GB: 10.2 s
#: vs 6.1 s), and a 100 k-packet `show -V` runs in 2.4 s without against 3.0 s with.
COMPILE_FROM = 128 << 20
#: Tests set this to run the compiled loops on every size.
ALWAYS = False
_wanted = False  # a capture of COMPILE_FROM bytes or more was opened in this process
_ready = threading.Event()  # numba is initialised (jit.warm_up ran)


def note_capture(size: int) -> None:
    """Called by the reader with each capture's size: a big one switches the loops on, once
    numba is ready; its set-up starts now in a background thread."""
    global _wanted
    if size >= COMPILE_FROM and not _wanted:
        _wanted = True
        if AVAILABLE:
            threading.Thread(target=_warm_up, name="honeysift-jit", daemon=True).start()


def _warm_up() -> None:
    try:
        warm_up()
        freeze()  # numba's compiler objects stay for the process
    finally:
        _ready.set()


def wanted() -> bool:
    """Will this process use compiled loops (numba installed, and a big capture opened)?
    The flow builder decides by this, once per process."""
    return AVAILABLE and (ALWAYS or _wanted or _JIT.done)


def worth() -> bool:
    """Use the compiled loops now? Only once numba is initialised: until then the reader
    decodes the first blocks with numpy (the same tables) instead of waiting ~0.3 s."""
    return AVAILABLE and (ALWAYS or _ready.is_set())


def _u32(buf, p, big):
    if big:
        return (
            (np.uint32(buf[p]) << 24)
            | (np.uint32(buf[p + 1]) << 16)
            | (np.uint32(buf[p + 2]) << 8)
            | np.uint32(buf[p + 3])
        )
    return (
        (np.uint32(buf[p + 3]) << 24)
        | (np.uint32(buf[p + 2]) << 16)
        | (np.uint32(buf[p + 1]) << 8)
        | np.uint32(buf[p])
    )


def _walk_pcap(buf, pos, end, hl, limit, big):
    """Offsets and header words of the pcap records that lie whole in buf[pos:end].

    Returns (offsets, header, next position, damaged): *header* is (4, n) uint32 (seconds,
    fraction, captured length, original length: the record header read while it is in cache);
    *damaged* when a record header claims more than *limit* bytes (the caller resynchronises
    at the returned position)."""
    cap = max(16, (end - pos) // (hl + 40) + 16)
    offs = np.empty(cap, np.int64)
    hdr = np.empty((4, cap), np.uint32)
    n = 0
    damaged = False
    while pos + hl <= end:
        incl = _u32(buf, pos + 8, big)
        if np.int64(incl) > limit:
            damaged = True
            break
        nxt = pos + hl + np.int64(incl)
        if nxt > end:
            break
        if n == cap:
            grown = np.empty(cap * 2, np.int64)
            grown[:n] = offs[:n]
            offs = grown
            gh = np.empty((4, cap * 2), np.uint32)
            gh[:, :n] = hdr[:, :n]
            hdr = gh
            cap *= 2
        offs[n] = pos
        hdr[0, n] = _u32(buf, pos, big)
        hdr[1, n] = _u32(buf, pos + 4, big)
        hdr[2, n] = incl
        hdr[3, n] = _u32(buf, pos + 12, big)
        n += 1
        pos = nxt
    return offs[:n], hdr[:, :n], pos, damaged


def walk_pcap(buf: np.ndarray, pos: int, end: int, hl: int, limit: int, big: bool):
    """See :func:`_walk_pcap` (compiled when numba is installed)."""
    _JIT.ensure()
    return _walk_pcap_c(buf, pos, end, hl, limit, big)


def _be16(buf, p):
    return (np.uint32(buf[p]) << 8) | np.uint32(buf[p + 1])


def _be32(buf, p):
    return _u32(buf, p, True)


def _be64(buf, p):
    return (np.uint64(_be32(buf, p)) << np.uint64(32)) | np.uint64(_be32(buf, p + 4))


def _decode_common(
    buf, data_off, caplen, origlen, linktype,
    status, vlan, vlan_inner, ethertype, l3_off, ip_version, src_hi, src_lo, dst_hi, dst_lo,
    proto, ip_len, ip_hlen, ttl, ip_id, ip_flags, l4_off, sport, dport, tcp_flags, seq, ack,
    win, icmp_type, icmp_code, payload_off, payload_len,
):  # fmt: skip
    """Decode the frames of the common layouts in one pass: Ethernet (up to three 802.1Q/ad
    tags) carrying an unfragmented IPv4 datagram (options allowed) or an IPv6 packet without
    extension headers, with a whole TCP, UDP or ICMP header (or another IP protocol), or a
    non-IP ethertype. Everything else (other link types, ARP, PPPoE, truncation, fragments,
    invalid headers, IPv6 extension headers, zero length fields) is left to decode.py: the
    returned mask says which rows were done here, and the caller overwrites every column of
    the other rows (so what this loop wrote there before giving up does not matter). Values
    are exactly decode.py's."""
    n = data_off.shape[0]
    done = np.zeros(n, np.bool_)
    v4 = np.uint64(0x0000FFFF00000000)
    for i in range(n):
        if linktype[i] != 1:
            continue
        o = data_off[i]
        cap = np.int64(caplen[i])
        if cap < 14:
            continue
        et = _be16(buf, o + 12)
        pos = np.int64(12)
        outer = -1
        inner = -1
        for _ in range(3):
            if et != 0x8100 and et != 0x88A8 and et != 0x9100:
                break
            if pos + 8 > cap:
                break
            vid = np.int32(_be16(buf, o + pos + 2) & 0x0FFF)
            if outer == -1:
                outer = vid
            elif inner == -1:
                inner = vid
            pos += 4
            et = _be16(buf, o + pos)
        l3 = pos + 2
        if cap < l3 or et == 0x0806 or et == 0x8864:
            continue
        if (et == 0x8100 or et == 0x88A8 or et == 0x9100) and pos < 24:
            continue  # a tag we could not follow within the captured bytes
        l2_end = np.int64(origlen[i])
        if et != 0x0800 and et != 0x86DD:
            status[i] = 3  # ST_NOT_IP
            vlan[i] = outer
            vlan_inner[i] = inner
            ethertype[i] = et
            l3_off[i] = l3
            done[i] = True
            continue
        avail = cap - l3
        h = o + l3
        if et == 0x0800:
            if avail < 20:
                continue
            b0 = buf[h]
            ihl = np.int64(b0 & 0x0F) * 4
            tot = np.int64(_be16(buf, h + 2))
            ff = _be16(buf, h + 6)
            if (b0 >> 4) != 4 or ihl < 20 or tot == 0 or tot < ihl or avail < ihl:
                continue
            if ff & 0x3FFF:
                continue  # fragment
            pr = buf[h + 9]
            ip_version[i] = 4
            ip_len[i] = tot
            ip_hlen[i] = ihl
            ip_id[i] = _be16(buf, h + 4)
            ip_flags[i] = 2 if ff & 0x4000 else 0
            ttl[i] = buf[h + 8]
            src_lo[i] = v4 | np.uint64(_be32(buf, h + 12))
            dst_lo[i] = v4 | np.uint64(_be32(buf, h + 16))
            l4 = l3 + ihl
            end = l3 + tot
        else:
            if avail < 40 or (buf[h] >> 4) != 6:
                continue
            plen = np.int64(_be16(buf, h + 4))
            pr = buf[h + 6]
            if plen == 0 or pr in (0, 43, 60, 44, 51, 135, 139, 140, 253, 254):
                continue
            ip_version[i] = 6
            ip_len[i] = plen + 40
            ip_hlen[i] = 40
            ttl[i] = buf[h + 7]
            src_hi[i] = _be64(buf, h + 8)
            src_lo[i] = _be64(buf, h + 16)
            dst_hi[i] = _be64(buf, h + 24)
            dst_lo[i] = _be64(buf, h + 32)
            l4 = l3 + 40
            end = l3 + 40 + plen
        if end > l2_end:
            end = l2_end
        t = o + l4
        av4 = cap - l4
        poff = l4
        pend = end
        if pr == 6:
            if av4 < 20:
                continue
            doff = np.int64(buf[t + 12] >> 4) * 4
            if doff < 20:
                continue
            sport[i] = _be16(buf, t)
            dport[i] = _be16(buf, t + 2)
            seq[i] = _be32(buf, t + 4)
            ack[i] = _be32(buf, t + 8)
            tcp_flags[i] = buf[t + 13]
            win[i] = _be16(buf, t + 14)
            poff = l4 + doff
        elif pr == 17:
            if av4 < 8:
                continue
            sport[i] = _be16(buf, t)
            dport[i] = _be16(buf, t + 2)
            ulen = np.int64(_be16(buf, t + 4))
            poff = l4 + 8
            if ulen >= 8 and ulen <= end - l4:
                pend = ulen + l4
        elif pr == 1 or pr == 58:
            if av4 < 4:
                continue
            icmp_type[i] = buf[t]
            icmp_code[i] = buf[t + 1]
            poff = l4 + 8
        proto[i] = pr
        vlan[i] = outer
        vlan_inner[i] = inner
        ethertype[i] = et
        l3_off[i] = l3
        l4_off[i] = l4 if l4 < 0xFFFF else 0xFFFF
        payload_off[i] = poff
        payload_len[i] = pend - poff if pend > poff else 0
        done[i] = True
    return done


#: Column names in the order _decode_common takes them after its five inputs.
DECODE_COLUMNS = (
    "status", "vlan", "vlan_inner", "ethertype", "l3_off", "ip_version", "src_hi", "src_lo",
    "dst_hi", "dst_lo", "proto", "ip_len", "ip_hlen", "ttl", "ip_id", "ip_flags", "l4_off",
    "sport", "dport", "tcp_flags", "seq", "ack", "win", "icmp_type", "icmp_code",
    "payload_off", "payload_len",
)  # fmt: skip


def decode_common(buf, data_off, caplen, origlen, linktype, cols) -> np.ndarray:
    """See :func:`_decode_common`; *cols* are the fresh columns of decode.new_columns."""
    _JIT.ensure()
    return _decode_common_c(
        buf, data_off, caplen, origlen, linktype, *(cols[k] for k in DECODE_COLUMNS)
    )


def _walk_epb(buf, pos, end, big, max_block):
    """Offsets and lengths of the run of well-formed pcapng Enhanced Packet Blocks starting at
    *pos*; stops at anything else (another block type, a bad or cut length), which the
    Python scanner then handles. Returns (offsets, lengths, next position)."""
    cap = max(16, (end - pos) // 64 + 16)
    offs = np.empty(cap, np.int64)
    lens = np.empty(cap, np.int64)
    n = 0
    while pos + 12 <= end:
        if _u32(buf, pos, big) != 6:
            break
        blen = np.int64(_u32(buf, pos + 4, big))
        if blen < 12 or blen % 4 or blen > max_block or pos + blen > end:
            break
        if np.int64(_u32(buf, pos + blen - 4, big)) != blen:
            break
        if n == cap:
            o2 = np.empty(cap * 2, np.int64)
            l2 = np.empty(cap * 2, np.int64)
            o2[:n] = offs[:n]
            l2[:n] = lens[:n]
            offs, lens = o2, l2
            cap *= 2
        offs[n] = pos
        lens[n] = blen
        n += 1
        pos += blen
    return offs[:n], lens[:n], pos


def walk_epb(buf: np.ndarray, pos: int, end: int, big: bool, max_block: int):
    """See :func:`_walk_epb` (compiled when numba is installed)."""
    _JIT.ensure()
    return _walk_epb_c(buf, pos, end, big, max_block)


def _heads(buf, off, avail):
    """(head8, head12) of each payload: bytes 0-7 as a big-endian uint64 and byte 12 (0 past
    *avail*, or when off < 0). One pass touches each payload's cache line once."""
    n = len(off)
    w8 = np.zeros(n, np.uint64)
    b12 = np.zeros(n, np.uint8)
    top = len(buf)
    for i in range(n):
        o = off[i]
        if o < 0:
            continue
        w = np.uint64(0)
        for j in range(8):
            w <<= np.uint64(8)
            if j < avail[i] and o + j < top:
                w |= np.uint64(buf[o + j])
        w8[i] = w
        if avail[i] > 12 and o + 12 < top:
            b12[i] = buf[o + 12]
    return w8, b12


def payload_heads(
    buf: np.ndarray, off: np.ndarray, avail: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(head8, head12) of each payload (:func:`_heads`: payload bytes 0-7 as one big-endian
    number, and byte 12; what the flows' service pre-test reads), compiled when worth it,
    else with numpy gathers (the same arrays)."""
    off = np.asarray(off, np.int64)
    avail = np.asarray(avail, np.int64)
    if worth():
        _JIT.ensure()
        return _heads_c(buf, off, avail)
    top = len(buf) - 1

    def byte(j: int) -> np.ndarray:
        ok = (off >= 0) & (avail > j) & (off + j <= top)
        return np.where(ok, buf[np.where(ok, off + j, 0)], 0).astype(np.uint64)

    w8 = np.zeros(len(off), np.uint64)
    for j in range(8):
        w8 |= byte(j) << np.uint64(56 - 8 * j)
    return w8, byte(12).astype(np.uint8)


_walk_pcap_c = _walk_epb_c = _decode_common_c = _heads_c = None
_JIT = LazyJit(
    globals(),
    entries=("_walk_pcap", "_walk_epb", "_decode_common", "_heads"),
    inline=("_u32", "_be16", "_be32", "_be64"),
)
