"""Compiled bulk reassembly (numba): many directions in one call, content into one buffer.

Why: ``streams -o DIR`` reassembles every direction of every connection; through
:func:`honeysift.streams.tcp.reassemble_direction` each one costs tens of microseconds of
Python and numpy set-up on arrays of a few elements, which for 200,000 directions is most of
the command's time. :func:`reassemble_groups` runs the same algorithm (the same policies,
step by step: unwrapping, out-of-window segments, RST, keep-alives, offset 0, FIN limit, first
copy wins, gaps) over a whole batch of directions, reading payloads from a buffer (the
batch's payloads, staged out of the capture map by export._stage), and returns the content and
the index facts (gaps, overlap counts, retransmitted bytes) as arrays.
The Python reassembler stays the reference and the library's record builder; tests compare
the two on the corpus and on random segment sets.

``cache=True`` keeps the machine code in ``__pycache__``, so only the first run compiles.
"""

from __future__ import annotations

import numpy as np

from honeysift.capture import kernels as capture_kernels
from honeysift.jit import LazyJit
from honeysift.memory import LIBC
from honeysift.streams.tcp import MAX_JUMP, MAX_OVERLAP_RECORDS

AVAILABLE = capture_kernels.AVAILABLE

_FIN, _SYN, _RST = 0x01, 0x02, 0x04
_FAR = 1 << 62
_HALF = 1 << 31


#: Tests set this to run the compiled passes on every size.
ALWAYS = False


def wanted() -> bool:
    """Use the compiled bulk path? As the capture reader decides (capture.kernels.wanted:
    numba installed and a capture of 128 MB or more opened): on a small capture loading numba
    (~0.5 s) costs more than the per-direction Python it replaces."""
    return AVAILABLE and (ALWAYS or capture_kernels.wanted() or _JIT.done)


def _wrap(x):
    """Signed difference of 32-bit sequence numbers (tcp.wrap32 for one value)."""
    return ((x + _HALF) & 0xFFFFFFFF) - _HALF


def _same(data, pa, pb, n):
    for i in range(n):  # noqa: SIM110 - a plain loop for numba
        if data[pa + i] != data[pb + i]:
            return False
    return True


def _reassemble_groups(
    starts, ends, seq, flags, cap, wire, poff, data, out, max_records,
):  # fmt: skip
    """Reassemble directions [starts[g], ends[g]) of the segment columns (capture order within
    a direction) into *out*, one after the other. Returns per direction (content start in
    *out*, content length, gap count, missing bytes, overlap records, conflicting records,
    retransmitted bytes) and the gaps as flat (content offset, length) arrays with each
    direction's first gap index (gap_first, len(starts) + 1 entries)."""
    ng = starts.shape[0]
    c_start = np.zeros(ng, np.int64)
    c_len = np.zeros(ng, np.int64)
    n_gaps = np.zeros(ng, np.int64)
    missing = np.zeros(ng, np.int64)
    n_over = np.zeros(ng, np.int64)
    n_conf = np.zeros(ng, np.int64)
    retrans = np.zeros(ng, np.int64)
    gap_first = np.zeros(ng + 1, np.int64)
    total = 0
    most = 1
    for g in range(ng):
        total += ends[g] - starts[g]
        if ends[g] - starts[g] > most:
            most = ends[g] - starts[g]
    gap_off = np.empty(total + ng, np.int64)
    gap_len = np.empty(total + ng, np.int64)
    # per-direction scratch, sized for the longest direction
    valid = np.empty(most, np.bool_)
    live = np.empty(most, np.bool_)
    usable = np.empty(most, np.bool_)
    start = np.empty(most, np.int64)
    end = np.empty(most, np.int64)
    pcap = np.empty(most, np.int64)
    cap_pieces = 2 * most + 4
    ps = np.empty(cap_pieces, np.int64)
    pe = np.empty(cap_pieces, np.int64)
    pk = np.empty(cap_pieces, np.int64)
    po = np.empty(cap_pieces, np.int64)
    ns = np.empty(cap_pieces, np.int64)
    ne = np.empty(cap_pieces, np.int64)
    nk = np.empty(cap_pieces, np.int64)
    no = np.empty(cap_pieces, np.int64)
    size = data.shape[0]
    w = 0  # write position in out
    ngap_all = 0
    for g in range(ng):
        s0 = starts[g]
        n = ends[g] - s0
        c_start[g] = w
        gap_first[g] = ngap_all
        if n == 0:
            continue
        # unwrap: isolated out-of-window segments leave the chain (tcp.unwrap_seq)
        for i in range(n):
            valid[i] = True
        if n >= 3:
            for i in range(1, n - 1):
                a = seq[s0 + i - 1]
                b = seq[s0 + i]
                c = seq[s0 + i + 1]
                if (
                    abs(_wrap(np.int64(b) - np.int64(a))) > MAX_JUMP
                    and abs(_wrap(np.int64(c) - np.int64(b))) > MAX_JUMP
                    and abs(_wrap(np.int64(c) - np.int64(a))) <= MAX_JUMP
                ):
                    valid[i] = False
        prev = -1
        for i in range(n):
            f = flags[s0 + i]
            wl = np.int64(wire[s0 + i])
            cl = np.int64(cap[s0 + i])
            if cl > wl:
                cl = wl
            # bytes past the end of the capture file (never expected) count as not captured
            room = size - poff[s0 + i]
            if cl > room:
                cl = room if room > 0 else 0
            pcap[i] = cl
            if valid[i]:
                if prev < 0:
                    pos = np.int64(0)
                else:
                    pos = (
                        start[prev]
                        - ((flags[s0 + prev] & _SYN) != 0)
                        + _wrap(np.int64(seq[s0 + i]) - np.int64(seq[s0 + prev]))
                    )
                prev = i
            else:
                pos = np.int64(0)
            start[i] = pos + ((f & _SYN) != 0)
            end[i] = start[i] + wl
        # RST: nothing captured after the first one is delivered
        rst0 = n
        for i in range(n):
            if valid[i] and (flags[s0 + i] & _RST) != 0:
                rst0 = i
                break
        for i in range(n):
            live[i] = valid[i] and i < rst0
        # keep-alives (Wireshark's definition), against the running maximum of ends
        run_max = -_FAR
        any_usable = False
        for i in range(n):
            f = flags[s0 + i]
            ka = (
                live[i]
                and wire[s0 + i] <= 1
                and start[i] == run_max - 1
                and (f & (_SYN | _FIN | _RST)) == 0
            )
            usable[i] = live[i] and not ka
            if usable[i]:
                any_usable = True
            if valid[i] and (f & _RST) == 0 and end[i] > run_max:
                run_max = end[i]
        # offset 0: after the first SYN, else the lowest usable (or valid) start
        base = _FAR
        syn_found = False
        for i in range(n):
            if valid[i] and (flags[s0 + i] & _SYN) != 0:
                base = start[i]
                syn_found = True
                break
        if not syn_found:
            for i in range(n):
                if (usable[i] if any_usable else valid[i]) and start[i] < base:
                    base = start[i]
        fin_limit = _FAR
        fin_seen = False
        for i in range(n):
            if live[i] and (flags[s0 + i] & _FIN) != 0:
                fin_limit = end[i] - base
                fin_seen = True
                break
        known_end = np.int64(0)
        top = -_FAR
        any_known = False
        for i in range(n):
            if usable[i] and (flags[s0 + i] & _RST) == 0:
                any_known = True
                if end[i] > top:
                    top = end[i]
        if any_known:
            known_end = min(top - base, fin_limit)
            if known_end < 0:
                known_end = 0
        if fin_seen and fin_limit > known_end:
            known_end = fin_limit
        # phase 1, capture order: the new bytes of each segment (first arrival wins)
        m = 0
        nrec = 0
        nconf = 0
        rt = 0
        for k in range(n):
            if not usable[k] or (flags[s0 + k] & _RST) != 0 or wire[s0 + k] == 0:
                continue
            s = start[k] - base
            c = s + pcap[k]
            lo = s if s > 0 else 0
            hi = c if c < fin_limit else fin_limit
            if lo >= hi:
                continue
            if m == 0 or lo >= pe[m - 1]:
                ps[m] = lo
                pe[m] = hi
                pk[m] = k
                po[m] = lo - s
                m += 1
                continue
            # first piece ending after lo (pieces are sorted and disjoint)
            left, right = 0, m
            while left < right:
                mid = (left + right) // 2
                if ps[mid] <= lo:
                    left = mid + 1
                else:
                    right = mid
            i = left - 1
            if i < 0 or pe[i] <= lo:
                i += 1
            j = i
            cur = lo
            L = 0
            while j < m and ps[j] < hi:
                a = ps[j]
                b = pe[j]
                if a > cur:
                    ns[L] = cur
                    ne[L] = a
                    nk[L] = k
                    no[L] = cur - s
                    L += 1
                oa = a if a > lo else lo
                ob = b if b < hi else hi
                old_k = pk[j]
                same = _same(
                    data, poff[s0 + k] + (oa - s), poff[s0 + old_k] + po[j] + (oa - a), ob - oa
                )
                if same:
                    rt += ob - oa
                if nrec < max_records:
                    nrec += 1
                    if not same:
                        nconf += 1
                ns[L] = a
                ne[L] = b
                nk[L] = old_k
                no[L] = po[j]
                L += 1
                cur = b
                j += 1
            if cur < hi:
                ns[L] = cur
                ne[L] = hi
                nk[L] = k
                no[L] = cur - s
                L += 1
            grow = L - (j - i)
            if grow > 0:
                for t in range(m - 1, j - 1, -1):
                    ps[t + grow] = ps[t]
                    pe[t + grow] = pe[t]
                    pk[t + grow] = pk[t]
                    po[t + grow] = po[t]
            elif grow < 0:
                for t in range(j, m):
                    ps[t + grow] = ps[t]
                    pe[t + grow] = pe[t]
                    pk[t + grow] = pk[t]
                    po[t + grow] = po[t]
            for t in range(L):
                ps[i + t] = ns[t]
                pe[i + t] = ne[t]
                pk[i + t] = nk[t]
                po[i + t] = no[t]
            m += grow
        # phase 2, sequence order: copy the pieces, note the gaps between them
        w0 = w
        at = np.int64(0)
        gaps = 0
        miss = np.int64(0)
        for t in range(m + 1):  # the last round only closes a trailing gap
            a = ps[t] if t < m else known_end
            if a > at:
                gap_off[ngap_all] = w - w0
                gap_len[ngap_all] = a - at
                ngap_all += 1
                gaps += 1
                miss += a - at
            if t == m:
                break
            ln = pe[t] - a
            src = poff[s0 + pk[t]] + po[t]
            out[w : w + ln] = data[src : src + ln]
            w += ln
            at = a + ln
        c_len[g] = w - w0
        n_gaps[g] = gaps
        missing[g] = miss
        n_over[g] = nrec
        n_conf[g] = nconf
        retrans[g] = rt
    gap_first[ng] = ngap_all
    return (
        c_start, c_len, n_gaps, missing, n_over, n_conf, retrans,
        gap_first, gap_off[:ngap_all].copy(), gap_len[:ngap_all].copy(),
    )  # fmt: skip


def _counting_order(key, nkeys):
    """np.argsort(key, kind="stable") for small non-negative integer keys (below *nkeys*):
    one counting pass and one scatter."""
    cnt = np.zeros(nkeys + 1, np.int64)
    for i in range(key.shape[0]):
        cnt[key[i] + 1] += 1
    for k in range(nkeys):
        cnt[k + 1] += cnt[k]
    order = np.empty(key.shape[0], np.int64)
    for i in range(key.shape[0]):
        k = key[i]
        order[cnt[k]] = i
        cnt[k] += 1
    return order


def _hash_and_write(buf, at, size, name, name_at, flags, md5, sha256, c_open, c_write, c_close,
                    d5, d256):  # fmt: skip
    """For each piece buf[at[i]:at[i]+size[i]]: its MD5 and SHA-256 into rows of d5/d256 and,
    when name_at[i] >= 0, the file named by the NUL-terminated bytes of *name* from there
    (created with *flags*, mode 0644). Returns per piece 0, or 1 when the file could not be
    written (the caller writes it again in Python to report the error)."""
    n = at.shape[0]
    failed = np.zeros(n, np.uint8)
    base = buf.ctypes.data
    for i in range(n):
        p = base + at[i]
        md5(p, size[i], d5.ctypes.data + 16 * i)
        sha256(p, size[i], d256.ctypes.data + 32 * i)
        if name_at[i] < 0:
            continue
        fd = c_open(name.ctypes.data + name_at[i], flags, 0o644)
        if fd < 0:
            failed[i] = 1
            continue
        left = size[i]
        while left > 0:
            w = c_write(fd, p, left)
            if w <= 0:
                failed[i] = 1
                break
            p += w
            left -= w
        if c_close(fd) != 0:
            failed[i] = 1
    return failed


def _simple_groups(starts, ends, seq, flags, cap, wire):
    """extract._simple_groups for each direction [starts[g], ends[g]), in one pass and without
    its dozen segment-length temporaries (arrays as long as the segment table, on analyze's
    peak)."""
    ng = starts.shape[0]
    ok = np.ones(ng, np.bool_)
    for g in range(ng):
        s0, e0 = starts[g], ends[g]
        first_close = e0
        first_fin = e0
        first_rst = e0
        first_data = -1
        total = np.int64(0)
        nxt = np.int64(-1)
        good = True
        for i in range(s0, e0):
            f = flags[i]
            w = np.int64(wire[i])
            syn = (f & _SYN) != 0
            if w != cap[i]:
                good = False
                break
            if w > 0 and i > first_close:
                good = False
                break
            if (f & (_FIN | _RST)) != 0 and first_close == e0:
                first_close = i
            if (f & _FIN) != 0 and first_fin == e0:
                first_fin = i
            if (f & _RST) != 0 and first_rst == e0:
                first_rst = i
            if w > 0 or syn:
                if first_data < 0:
                    first_data = i
                elif np.int64(seq[i]) != nxt:
                    good = False
                    break
                nxt = (np.int64(seq[i]) + w + syn) & 0xFFFFFFFF
                total += w
        if good and first_data >= 0:
            first_seq = np.int64(seq[first_data]) + ((flags[first_data] & _SYN) != 0)
            for i in range(s0, first_rst):
                f = flags[i]
                pos = _wrap(np.int64(seq[i]) + ((f & _SYN) != 0) - first_seq)
                end = pos + np.int64(wire[i])
                if pos < 0 or (i < first_fin and end > total):
                    good = False
                    break
                if i == first_fin and end != total:
                    good = False
                    break
        ok[g] = good
    return ok


def _gather(data, src, size, out, dst):
    """out[dst[i]:dst[i]+size[i]] = data[src[i]:src[i]+size[i]] for each i (the caller keeps
    every range inside *data*: export._stage cuts sizes at the end of the file)."""
    for i in range(src.shape[0]):
        n = size[i]
        out[dst[i] : dst[i] + n] = data[src[i] : src[i] + n]


_reassemble_groups_c = _counting_order_c = _hash_and_write_c = _gather_c = None
_simple_groups_c = None
_JIT = LazyJit(
    globals(),
    entries=(
        "_reassemble_groups",
        "_counting_order",
        "_hash_and_write",
        "_gather",
        "_simple_groups",
    ),  # fmt: skip
    helpers=("_same",),
    inline=("_wrap",),
)
_reassemble = _JIT.entry("_reassemble_groups", "reassemble_groups")
counting_order = _JIT.entry("_counting_order", "counting_order")
gather = _JIT.entry("_gather", "gather")
simple_groups = _JIT.entry("_simple_groups", "simple_groups")
_hash_write = _JIT.entry("_hash_and_write", "hash_and_write")


def native_io():
    """(md5, sha256, open, write, close) C functions for :func:`hash_and_write`, or None.

    libcrypto's one-shot MD5/SHA256 (the code behind hashlib) and libc's open/write/close,
    called from compiled code so that a batch of thousands of small files costs no Python
    call and holds no GIL. Linux only (open is variadic: its mode argument is passed like a
    fixed one there); the digests are checked against hashlib once."""
    global _NATIVE
    if _NATIVE is None:
        _NATIVE = _load_native() or ()
    return _NATIVE or None


_NATIVE: tuple | None = None


def _load_native() -> tuple | None:
    import ctypes
    import ctypes.util
    import hashlib
    import sys

    if not AVAILABLE or not sys.platform.startswith("linux") or LIBC is None:
        return None
    size_t = ctypes.c_size_t
    try:
        crypto = ctypes.CDLL(ctypes.util.find_library("crypto") or "libcrypto.so.3")
        md5, sha256 = crypto.MD5, crypto.SHA256
    except (OSError, AttributeError):
        return None
    for fn in (md5, sha256):
        fn.argtypes, fn.restype = [size_t, size_t, size_t], size_t
    probe = b"honeysift"
    out = ctypes.create_string_buffer(32)
    src = ctypes.create_string_buffer(probe, len(probe))
    try:
        md5(ctypes.addressof(src), len(probe), ctypes.addressof(out))
        ok = out.raw[:16] == hashlib.md5(probe).digest()
        sha256(ctypes.addressof(src), len(probe), ctypes.addressof(out))
        ok = ok and out.raw == hashlib.sha256(probe).digest()
    except OSError:
        return None
    return (md5, sha256, LIBC.open, LIBC.write, LIBC.close) if ok else None


def hash_and_write(buf, at, size, name, name_at, flags, d5, d256):
    """See _hash_and_write; needs :func:`native_io`."""
    md5, sha256, c_open, c_write, c_close = native_io()
    return _hash_write(
        buf, at, size, name, name_at, flags, md5, sha256, c_open, c_write, c_close, d5, d256
    )


def reassemble_groups(starts, ends, seq, flags, cap, wire, poff, data, out):
    """See _reassemble_groups; *data* holds the payloads at the offsets *poff* (a uint8 array:
    the staged bytes, or the capture's map), *out* a uint8 buffer at least as large as the
    directions' captured payload bytes. Payload ranges past the end of *data* count as not
    captured."""
    return _reassemble(starts, ends, seq, flags, cap, wire, poff, data, out, MAX_OVERLAP_RECORDS)
