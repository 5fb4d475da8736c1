"""Per-direction TCP reassembly: the segments of one direction -> the bytes the receiver saw.

Why per direction and per call: the flow table decides which segments belong to one connection
(it splits 5-tuple reuse); this module only turns one direction of one connection into bytes and
an evidence record (gaps, overlaps, which frame carried which byte). docs/streams.md explains the
policies; the short version:

* positions: 32-bit sequence numbers are unwrapped to 64-bit offsets with numpy (serial-number
  arithmetic, RFC 1982 / RFC 9293 section 3.4); offset 0 is ISN + 1 when the SYN (or the ISN) is
  known, else the lowest sequence number seen.
* overlaps: the first copy in capture order wins (as Zeek's reassembler); every overlap is
  recorded, ``conflict=True`` when the bytes differ (a possible evasion or injection).
* gaps are never filled: the content skips them and ``gaps`` lists them.
* keep-alives, data after the FIN's sequence number, segments captured after an RST, data
  before the ISN and isolated out-of-window segments are not data (``ignored`` lists them).
* all offsets in the record are *content* offsets (positions in the returned bytes); use
  :meth:`ReassembledStream.stream_offset` for the sequence-space offset.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from honeysift.capture.table import FIN, RST, SYN, PacketTable

_MOD = 1 << 32
_HALF = 1 << 31
#: A jump larger than this between consecutive segments cannot be in one window: RFC 7323
#: section 2.3 keeps windows below 2**30 so that serial comparison stays unambiguous.
MAX_JUMP = 1 << 30
#: Content larger than this goes to a spill file instead of memory.
DEFAULT_SPILL_THRESHOLD = 32 << 20
#: At most this many overlap records are kept (the rest are counted in ``overlaps_dropped``).
MAX_OVERLAP_RECORDS = 100_000
_FLUSH = 1 << 20
_FAR = 1 << 62

# Reasons in ReassembledStream.ignored
KEEPALIVE = "keep-alive"
OUT_OF_WINDOW = "out of window"
BEFORE_ISN = "before ISN"
AFTER_FIN = "after FIN"
AFTER_RST = "after RST"
RST_PAYLOAD = "RST payload"

Payload = bytes | bytearray | memoryview
PayloadSource = Callable[[int], Payload] | Sequence[Payload]


class Overlap(NamedTuple):
    """A later segment covering bytes already received; the first copy was kept."""

    offset: int  # content offset of the overlapping bytes
    length: int
    first_frame: int  # frame whose bytes were kept
    conflicting_frame: int  # later frame that covered them again
    conflict: bool  # True when the later bytes differ (evasion / injection sign)


@dataclass(slots=True)
class ReassembledStream:
    """One direction of one TCP connection, reassembled, with the evidence to re-check it."""

    length: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (content offset, missing bytes)
    overlaps: list[Overlap] = field(default_factory=list)
    first_frame: int | None = None  # first/last segment given (any flags), capture order
    last_frame: int | None = None
    first_ts_ns: int | None = None
    last_ts_ns: int | None = None
    md5: str = hashlib.md5(b"").hexdigest()
    sha256: str = hashlib.sha256(b"").hexdigest()
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    data: bytes | None = b""  # None when spilled
    spill_path: Path | None = None
    base_seq: int | None = None  # 32-bit sequence number of stream offset 0
    isn_known: bool = False  # offset 0 is ISN + 1 (SYN seen or ISN given)
    syn_seen: bool = False
    fin_seen: bool = False
    rst_seen: bool = False
    segments: int = 0
    retransmitted_bytes: int = 0  # bytes received again with identical content
    keepalives: int = 0
    ignored: list[tuple[int, str]] = field(default_factory=list)  # (frame, reason)
    overlaps_dropped: int = 0

    @property
    def missing_bytes(self) -> int:
        return sum(n for _, n in self.gaps)

    @property
    def seq_length(self) -> int:
        """Bytes in sequence space (content + gaps); compare with Zeek's orig/resp_bytes."""
        return self.length + self.missing_bytes

    @property
    def conflicts(self) -> list[Overlap]:
        return [o for o in self.overlaps if o.conflict]

    @property
    def first_ts(self) -> float | None:
        return None if self.first_ts_ns is None else self.first_ts_ns / 1e9

    @property
    def last_ts(self) -> float | None:
        return None if self.last_ts_ns is None else self.last_ts_ns / 1e9

    def read(self) -> bytes:
        """The content (read back from the spill file when spilled)."""
        if self.data is not None:
            return self.data
        assert self.spill_path is not None
        return self.spill_path.read_bytes()

    def open(self) -> BinaryIO:
        """A binary file object over the content, without loading a spilled stream."""
        if self.data is not None:
            import io

            return io.BytesIO(self.data)
        assert self.spill_path is not None
        return self.spill_path.open("rb")

    def iter_chunks(self, size: int = _FLUSH) -> Iterator[bytes]:
        with self.open() as fh:
            while chunk := fh.read(size):
                yield chunk

    def discard(self) -> None:
        """Delete the spill file, if any (the caller owns it)."""
        if self.spill_path is not None:
            self.spill_path.unlink(missing_ok=True)

    def frame_at(self, offset: int) -> int | None:
        """Frame that delivered the content byte at ``offset`` (None if out of range)."""
        if offset < 0 or offset >= self.length or self.offsets.size == 0:
            return None
        i = int(np.searchsorted(self.offsets, offset, side="right")) - 1
        return None if i < 0 else int(self.frames[i])

    def stream_offset(self, offset: int) -> int:
        """Sequence-space offset (from offset 0 = ``base_seq``) of content offset ``offset``."""
        return offset + sum(n for at, n in self.gaps if at <= offset)


def wrap32(x: np.ndarray) -> np.ndarray:
    """Signed difference of 32-bit sequence numbers, in [-2**31, 2**31)."""
    return (x + _HALF) % _MOD - _HALF


def unwrap_seq(seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unwrap 32-bit sequence numbers (capture order) to int64 positions relative to seq[0].

    Each step is the signed 32-bit difference from the previous segment, so streams longer than
    4 GiB unwrap correctly. A segment that jumps more than :data:`MAX_JUMP` away from both
    neighbours while they agree with each other is an isolated out-of-window segment (garbage,
    a spoofed probe): it is marked invalid and left out of the chain. Returns (pos, valid).
    """
    s = np.asarray(seq).astype(np.int64)
    n = s.size
    valid = np.ones(n, dtype=bool)
    if n == 0:
        return np.zeros(0, np.int64), valid
    d = wrap32(np.diff(s))
    big = np.abs(d) > MAX_JUMP
    if n >= 3 and big.any():
        i = np.nonzero(big[:-1] & big[1:])[0] + 1
        ok = np.abs(wrap32(s[i + 1] - s[i - 1])) <= MAX_JUMP
        valid[i[ok]] = False
        if not valid.all():
            d = wrap32(np.diff(s[valid]))
    pos = np.zeros(n, np.int64)
    pos[valid] = np.concatenate((np.zeros(1, np.int64), np.cumsum(d, dtype=np.int64)))
    return pos, valid


class _Sink:
    """Content accumulator: memory up to a threshold, then a spill file; hashes as it goes.

    The caller appends to ``buf`` directly and calls :meth:`pressure` once ``len(buf)`` reaches
    ``limit`` (one comparison per piece keeps the hot loop tight).
    """

    def __init__(self, threshold: int, spill_dir: str | os.PathLike[str] | None) -> None:
        self.spill_dir = spill_dir
        self.buf = bytearray()
        self.flushed = 0
        self.limit = max(threshold, 0) + 1
        self.md5 = hashlib.md5()
        self.sha = hashlib.sha256()
        self.fh: BinaryIO | None = None
        self.path: Path | None = None

    @property
    def size(self) -> int:
        return self.flushed + len(self.buf)

    def pressure(self) -> None:
        if self.fh is None:
            fd, name = tempfile.mkstemp(
                prefix="honeysift-stream-", suffix=".bin", dir=self.spill_dir
            )
            self.path = Path(name)
            self.fh = os.fdopen(fd, "wb")
            self.limit = _FLUSH
        self._flush()

    def _flush(self) -> None:
        self.md5.update(self.buf)
        self.sha.update(self.buf)
        assert self.fh is not None
        self.fh.write(self.buf)
        self.flushed += len(self.buf)
        self.buf.clear()

    def finish(self) -> tuple[bytes | None, Path | None, str, str]:
        if self.fh is None:
            data = bytes(self.buf)
            return data, None, hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()
        self._flush()
        self.fh.close()
        return None, self.path, self.md5.hexdigest(), self.sha.hexdigest()

    def abort(self) -> None:
        if self.fh is not None:
            self.fh.close()
            assert self.path is not None
            self.path.unlink(missing_ok=True)


def reassemble_direction(
    seq: np.ndarray,
    tcp_flags: np.ndarray,
    payload_len: np.ndarray,
    frame: np.ndarray,
    ts_ns: np.ndarray,
    payload: PayloadSource,
    *,
    isn: int | None = None,
    wire_len: np.ndarray | None = None,
    spill_threshold: int = DEFAULT_SPILL_THRESHOLD,
    spill_dir: str | os.PathLike[str] | None = None,
) -> ReassembledStream:
    """Reassemble one direction of one connection from its segments in capture order.

    ``payload_len`` is the captured payload length of each segment; ``payload(i)`` (or
    ``payload[i]``) returns segment i's payload bytes (extra bytes beyond ``payload_len`` such as
    Ethernet padding are ignored). ``wire_len``, when given, is the TCP payload length from the IP
    total length: bytes the snap length cut off become gaps. ``isn`` is the sender's initial
    sequence number when known from a SYN not among these segments; a SYN among them is used
    otherwise.
    """
    seq = np.asarray(seq)
    n = int(seq.shape[0])
    cols = (tcp_flags, payload_len, frame, ts_ns) + (() if wire_len is None else (wire_len,))
    if any(int(np.asarray(c).shape[0]) != n for c in cols):
        raise ValueError("segment arrays differ in length")
    out = ReassembledStream(segments=n)
    if n == 0:
        return out
    get: Callable[[int], Payload] = payload if callable(payload) else payload.__getitem__
    frame_l = np.asarray(frame).astype(np.uint64)
    ts = np.asarray(ts_ns).astype(np.int64)
    out.first_frame, out.last_frame = int(frame_l[0]), int(frame_l[-1])
    out.first_ts_ns, out.last_ts_ns = int(ts[0]), int(ts[-1])

    flags = np.asarray(tcp_flags).astype(np.uint8)
    cap = np.maximum(np.asarray(payload_len).astype(np.int64), 0)
    wire = cap if wire_len is None else np.maximum(np.asarray(wire_len).astype(np.int64), 0)
    cap = np.minimum(cap, wire)
    is_syn = (flags & SYN) != 0
    is_fin = (flags & FIN) != 0
    is_rst = (flags & RST) != 0

    pos, valid = unwrap_seq(seq)
    start = pos + is_syn  # the SYN occupies one sequence number before the data
    end = start + wire

    # Segments captured after the first RST are not delivered (the connection is gone).
    rst_idx = np.nonzero(valid & is_rst)[0]
    live = valid.copy()
    if rst_idx.size:
        out.rst_seen = True
        live[rst_idx[0] :] = False

    # Keep-alive: 0 or 1 byte at one below the highest sequence number sent so far, without
    # SYN/FIN/RST (Wireshark's definition); the byte is garbage and was already acknowledged.
    e = np.where(valid & ~is_rst, end, -_FAR)
    prev_max = np.concatenate(([-_FAR], np.maximum.accumulate(e)[:-1]))
    keepalive = live & (wire <= 1) & (start == prev_max - 1) & ~(is_syn | is_fin | is_rst)
    out.keepalives = int(keepalive.sum())
    usable = live & ~keepalive

    # Stream offset 0.
    syn_idx = np.nonzero(valid & is_syn)[0]
    first_valid = int(np.argmax(valid))
    if isn is not None:
        rel = ((int(isn) & 0xFFFFFFFF) - int(seq[first_valid]) + _HALF) % _MOD - _HALF
        base = int(pos[first_valid]) + rel + 1
        out.isn_known = True
        out.syn_seen = bool(syn_idx.size)
    elif syn_idx.size:
        base = int(start[syn_idx[0]])
        out.isn_known = out.syn_seen = True
    else:
        cand = usable if usable.any() else valid
        base = int(start[cand].min())
    out.base_seq = (int(seq[first_valid]) + base - int(pos[first_valid])) & 0xFFFFFFFF

    fin_idx = np.nonzero(live & is_fin)[0]
    fin_limit = _FAR
    if fin_idx.size:
        out.fin_seen = True
        fin_limit = int(end[fin_idx[0]]) - base  # the FIN's own sequence number
    known = usable & ~is_rst
    known_end = 0
    if known.any():
        known_end = max(0, min(int(end[known].max()) - base, fin_limit))
    if out.fin_seen:
        known_end = max(known_end, fin_limit)

    ignored: list[tuple[int, str]] = []
    frames_py = frame_l.tolist()
    for mask, why in (
        (~valid, OUT_OF_WINDOW),
        (keepalive, KEEPALIVE),
        (valid & ~live & (wire > 0) & ~is_rst, AFTER_RST),
        (valid & is_rst & (wire > 0), RST_PAYLOAD),
    ):
        ignored.extend((frames_py[i], why) for i in np.nonzero(mask)[0].tolist())

    data_idx = np.nonzero(usable & ~is_rst & (wire > 0))[0]
    rs = (start - base).tolist()
    rc = (start - base + cap).tolist()

    # Phase 1, capture order: which bytes of each segment are new (first arrival wins).
    ps: list[int] = []  # piece start (sequence offset), sorted, disjoint
    pe: list[int] = []  # piece end
    pk: list[int] = []  # segment index owning the piece
    po: list[int] = []  # offset of the piece start within that segment's payload
    ov: list[tuple[int, int, int, int, bool]] = []
    retrans = 0
    dropped = 0
    for k in data_idx.tolist():
        s = rs[k]
        lo = s if s > 0 else 0
        c = rc[k]
        hi = c if c < fin_limit else fin_limit
        if s < 0:
            ignored.append((frames_py[k], BEFORE_ISN))
        if c > fin_limit:
            ignored.append((frames_py[k], AFTER_FIN))
        if lo >= hi:
            continue
        if not pe or lo >= pe[-1]:
            ps.append(lo)
            pe.append(hi)
            pk.append(k)
            po.append(lo - s)
            continue
        i = bisect_right(ps, lo) - 1
        if i < 0 or pe[i] <= lo:
            i += 1
        j = i
        m = len(ps)
        cur = lo
        new_mv: memoryview | None = None
        ns: list[int] = []
        ne: list[int] = []
        nk: list[int] = []
        no: list[int] = []
        while j < m and ps[j] < hi:
            a = ps[j]
            b = pe[j]
            if a > cur:
                ns.append(cur)
                ne.append(a)
                nk.append(k)
                no.append(cur - s)
            oa = a if a > lo else lo
            ob = b if b < hi else hi
            if new_mv is None:
                new_mv = memoryview(get(k))
            old = memoryview(get(pk[j]))
            base_old = po[j] - a
            conflict = new_mv[oa - s : ob - s] != old[base_old + oa : base_old + ob]
            if not conflict:
                retrans += ob - oa
            if len(ov) < MAX_OVERLAP_RECORDS:
                ov.append((oa, ob - oa, pk[j], k, conflict))
            else:
                dropped += 1
            ns.append(a)
            ne.append(b)
            nk.append(pk[j])
            no.append(po[j])
            cur = b
            j += 1
        if cur < hi:
            ns.append(cur)
            ne.append(hi)
            nk.append(k)
            no.append(cur - s)
        ps[i:j] = ns
        pe[i:j] = ne
        pk[i:j] = nk
        po[i:j] = no

    # Phase 2, sequence order: write the pieces, note the gaps between them.
    sink = _Sink(spill_threshold, spill_dir)
    gaps: list[tuple[int, int]] = []
    gap_seq: list[int] = []  # sequence offset where each gap starts
    offs = np.empty(len(ps), np.int64)
    prev = 0
    last_k = -1
    mv = memoryview(b"")
    buf = sink.buf
    try:
        for t in range(len(ps)):
            a = ps[t]
            k = pk[t]
            if a > prev:
                gaps.append((sink.size, a - prev))
                gap_seq.append(prev)
            if k != last_k:
                mv = memoryview(get(k))
                last_k = k
            o = po[t]
            chunk = mv[o : o + pe[t] - a]
            offs[t] = sink.flushed + len(buf)
            buf += chunk
            if len(buf) >= sink.limit:
                sink.pressure()
            prev = a + len(chunk)  # a short payload leaves a gap rather than shifting bytes
        if known_end > prev:
            gaps.append((sink.size, known_end - prev))
            gap_seq.append(prev)
        out.data, out.spill_path, out.md5, out.sha256 = sink.finish()
    except BaseException:
        sink.abort()
        raise

    out.length = sink.size
    out.gaps = gaps
    out.offsets = offs
    out.frames = frame_l[np.asarray(pk, dtype=np.int64)]
    out.retransmitted_bytes = retrans
    out.overlaps_dropped = dropped
    out.ignored = ignored
    if ov:
        # Overlaps lie inside received bytes: content offset = sequence offset - gaps before.
        seq_off = np.fromiter((r[0] for r in ov), np.int64, len(ov))
        if gaps:
            cum = np.cumsum([g[1] for g in gaps])
            idx = np.searchsorted(np.asarray(gap_seq, np.int64), seq_off, side="right") - 1
            seq_off = seq_off - np.where(idx >= 0, cum[np.maximum(idx, 0)], 0)
        out.overlaps = [
            Overlap(int(c), ln, frames_py[ka], frames_py[kb], bool(cf))
            for c, (_, ln, ka, kb, cf) in zip(seq_off.tolist(), ov, strict=True)
        ]
    return out


def reassemble_rows(
    table: PacketTable,
    rows: np.ndarray,
    payload: PayloadSource,
    *,
    isn: int | None = None,
    spill_threshold: int = DEFAULT_SPILL_THRESHOLD,
    spill_dir: str | os.PathLike[str] | None = None,
) -> ReassembledStream:
    """:func:`reassemble_direction` for rows of a :class:`PacketTable` (one direction, capture
    order). ``payload(i)`` returns the payload of ``rows[i]``. The wire length comes from the IP
    total length, so snap-length truncation shows up as gaps and Ethernet padding is not data.
    """
    rows = np.asarray(rows)
    t = table
    cap = t.payload_len[rows].astype(np.int64)
    tcp_hlen = t.payload_off[rows].astype(np.int64) - t.l4_off[rows].astype(np.int64)
    wire = t.ip_len[rows].astype(np.int64) - t.ip_hlen[rows].astype(np.int64) - tcp_hlen
    # Reassembled datagrams: ip_len describes the last fragment only; TSO captures say ip_len 0.
    wire = np.where(t.reassembled[rows], cap, np.maximum(wire, cap))
    return reassemble_direction(
        t.seq[rows],
        t.tcp_flags[rows],
        cap,
        t.frame[rows],
        t.ts_ns[rows],
        payload,
        isn=isn,
        wire_len=wire,
        spill_threshold=spill_threshold,
        spill_dir=spill_dir,
    )
