"""From a capture and its flow table to reassembled TCP streams, one direction at a time.

One pass collects, for every TCP segment, the few columns reassembly needs (about 50 bytes a
segment, far less than the capture); segments are then sorted by (flow, direction, frame) and
each direction is reassembled on its own, reading payload bytes from the capture file as
needed. The flow table decides what one connection is (idle timeouts and 5-tuple reuse).
"""

from __future__ import annotations

import hashlib
import mmap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from honeysift.capture.reader import DROP_EVERY, Capture, drop_pages
from honeysift.capture.table import ST_OK
from honeysift.streams import kernels
from honeysift.streams.tcp import DEFAULT_SPILL_THRESHOLD, ReassembledStream, reassemble_direction


@dataclass(slots=True)
class DirectionStream:
    """One reassembled direction of one TCP connection."""

    flow: int  # row in the flow table
    direction: int  # 0: originator -> responder, 1: responder -> originator
    stream: ReassembledStream


_COLS = ("flow", "dir", "seq", "flags", "cap", "wire", "frame", "ts_ns", "poff")


@dataclass(slots=True)
class ChunkSegments:
    """The reassembly columns of one chunk's TCP segments, before they are assigned to flows
    (collected while the flow table is built, so the capture is decoded once)."""

    cols: dict[str, np.ndarray]
    extra: dict[int, bytes]


def chunk_segments(cap: Capture, table, flt=None) -> ChunkSegments:
    """Per-segment columns of the TCP packets of one chunk (status OK, with an IP layer)."""
    t = cap.select(table, flt)
    rows = np.flatnonzero((t.proto == 6) & (t.status == ST_OK) & (t.ip_version > 0))
    frames = t.frame[rows]
    pl = t.payload_len[rows].astype(np.int64)
    avail = np.clip(t.caplen[rows].astype(np.int64) - t.payload_off[rows].astype(np.int64), 0, None)
    reas = t.reassembled[rows]
    extra: dict[int, bytes] = {}
    for r in np.flatnonzero(reas).tolist():
        f = int(frames[r])
        extra[f] = t.extra_payload.get(f, b"")
    cols = {
        "seq": t.seq[rows],
        "flags": t.tcp_flags[rows],
        "cap": np.where(reas, pl, np.minimum(pl, avail)).astype(np.uint32),
        "wire": pl.astype(np.uint32),
        "frame": frames,
        "ts_ns": t.ts_ns[rows],
        "poff": np.where(reas, -1, t.offset[rows] + t.payload_off[rows].astype(np.int64)),
    }
    return ChunkSegments(cols, extra)


def drain(parts: list[ChunkSegments]) -> Iterator[ChunkSegments]:
    """The list's items in order, each dropped from the list as it is handed out (so a
    chunk's columns are freed once joined)."""
    parts.reverse()
    while parts:
        yield parts.pop()


def collect_segments(
    cap: Capture,
    packet_flow: np.ndarray,
    packet_dir: np.ndarray,
    flt=None,
    wanted: np.ndarray | None = None,
    chunks: Iterable[ChunkSegments] | None = None,
) -> tuple[dict[str, np.ndarray], dict[int, bytes]]:
    """Per-segment columns of every TCP packet in a flow (and reassembled-datagram payloads).

    ``wanted`` (a boolean per flow row) keeps only those flows' segments, e.g. the flows that
    carried payload: a port scan's millions of SYNs then cost nothing here. ``chunks``: the
    chunks' segments collected earlier (:func:`chunk_segments`); the capture is read otherwise.
    Narrow dtypes keep this at about 38 bytes a segment.
    """
    if chunks is None:
        chunks = (chunk_segments(cap, t, flt) for t in cap.chunks())
    parts: dict[str, list[np.ndarray]] = {k: [] for k in _COLS}
    extra: dict[int, bytes] = {}
    for cs in chunks:
        col = cs.cols
        frames = col["frame"]
        if not frames.size:
            continue
        idx = frames.astype(np.int64) - 1
        keep = idx < packet_flow.shape[0]
        fl = np.full(frames.shape[0], -1, np.int64)
        fl[keep] = packet_flow[idx[keep]]
        keep &= fl >= 0
        if wanted is not None:
            keep &= wanted[np.maximum(fl, 0)]
        sel = np.flatnonzero(keep)
        parts["flow"].append(fl[sel].astype(np.int32))
        parts["dir"].append(packet_dir[idx[sel]].astype(np.int8))
        for k in ("seq", "flags", "cap", "wire", "ts_ns", "poff"):
            parts[k].append(col[k][sel])
        f = frames[sel]
        parts["frame"].append(f.astype(np.uint32) if f.size and int(f[-1]) < 2**32 else f)
        if cs.extra:
            extra.update((fr, cs.extra[fr]) for fr in f.tolist() if fr in cs.extra)
    cols = {}
    for k in list(parts):
        v = parts.pop(k)  # free each part list as soon as it is joined
        cols[k] = np.concatenate(v) if v else np.zeros(0, dtype=np.int64)
    return cols, extra


def _simple_groups(c: dict[str, np.ndarray], starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which directions are the easy, common case: data segments in capture order, each starting
    where the previous one ended, nothing cut by the snap length, nothing after a FIN or RST,
    and no segment without data whose sequence number lies outside the data (a pure ACK below
    the first byte or beyond the last one makes a leading or trailing gap; an early FIN cuts
    the data). Those are concatenated directly; everything else goes through the full
    reassembler."""
    n = c["seq"].shape[0]
    flags = c["flags"].astype(np.int64)
    syn = (flags & 0x02) != 0
    fin = (flags & 0x01) != 0
    rst = (flags & 0x04) != 0
    wire = c["wire"].astype(np.int64)
    data = (wire > 0) | syn
    gid = np.repeat(np.arange(starts.shape[0]), ends - starts)
    ok = np.ones(starts.shape[0], dtype=bool)
    # snap-length cuts make gaps
    np.logical_and.at(ok, gid[wire != c["cap"]], False)
    # data after a FIN/RST of the same direction
    closed = fin | rst
    first_close = np.full(starts.shape[0], n, dtype=np.int64)
    np.minimum.at(first_close, gid[closed], np.flatnonzero(closed))
    late = (wire > 0) & (np.arange(n) > first_close[gid])
    np.logical_and.at(ok, gid[late], False)
    # contiguity of consecutive data segments (SYN counts for one sequence number)
    di = np.flatnonzero(data)
    if di.size > 1:
        same = gid[di[1:]] == gid[di[:-1]]
        nxt = (c["seq"][di[:-1]].astype(np.int64) + wire[di[:-1]] + syn[di[:-1]]) % (1 << 32)
        broken = same & (nxt != c["seq"][di[1:]].astype(np.int64))
        np.logical_and.at(ok, gid[di[1:]][broken], False)
    # every other segment before the first RST lies within the data: position from the first
    # data byte in [0, total]; before the FIN, its end too; a FIN ends exactly at the total
    if di.size:
        first = np.full(starts.shape[0], -1, dtype=np.int64)
        first[gid[di][::-1]] = di[::-1]
        has = first >= 0
        first_seq = np.zeros(starts.shape[0], np.int64)
        first_seq[has] = c["seq"][first[has]].astype(np.int64) + syn[first[has]]
        total = np.zeros(starts.shape[0], np.int64)
        np.add.at(total, gid[di], wire[di])
        first_rst = np.full(starts.shape[0], n, dtype=np.int64)
        np.minimum.at(first_rst, gid[rst], np.flatnonzero(rst))
        first_fin = np.full(starts.shape[0], n, dtype=np.int64)
        np.minimum.at(first_fin, gid[fin], np.flatnonzero(fin))
        i = np.arange(n)
        pos = (c["seq"].astype(np.int64) + syn - first_seq[gid] + (1 << 31)) % (1 << 32) - (1 << 31)
        end = pos + wire
        tot = total[gid]
        before_fin = i < first_fin[gid]
        bad = (pos < 0) | (before_fin & (end > tot)) | (fin & (i == first_fin[gid]) & (end != tot))
        bad &= (i < first_rst[gid]) & has[gid]
        np.logical_and.at(ok, gid[bad], False)
    return ok


class SegmentIndex:
    """Every TCP segment's reassembly columns, sorted by (flow, direction, frame), built in one
    pass over the capture; directions are then reassembled on demand, as often as needed."""

    def __init__(
        self,
        cap: Capture,
        packet_flow: np.ndarray,
        packet_dir: np.ndarray,
        flt=None,
        wanted=None,
        chunks: Iterable[ChunkSegments] | None = None,
    ) -> None:
        self.cap = cap
        c, self.extra = collect_segments(cap, packet_flow, packet_dir, flt, wanted, chunks)
        key = c["flow"].astype(np.int64) * 2 + c["dir"]  # one key per direction
        if key.size:
            order = _group_order(key, c["frame"])
            for k in list(c):  # reorder one column at a time: one extra column of memory
                c[k] = c[k][order]
            key = key[order]
            del order
        self.c = c
        if key.size:
            bounds = np.flatnonzero(np.diff(key)) + 1
            self.starts = np.concatenate(([0], bounds))
            self.ends = np.concatenate((bounds, [key.shape[0]]))
        else:
            self.starts = self.ends = np.zeros(0, dtype=np.int64)
        self.group_flow = c["flow"][self.starts] if key.size else np.zeros(0, dtype=np.int64)
        self.wire_sum = (
            np.add.reduceat(c["wire"].astype(np.int64), self.starts)
            if key.size
            else np.zeros(0, np.int64)
        )
        self._simple: np.ndarray | None = None
        self._by_flow: dict[int, tuple[int, int]] | None = None
        self._map = None
        self._mapped = 0  # bytes mapped through _map since its pages were last dropped

    @property
    def simple(self) -> np.ndarray:
        """Per direction: concatenation gives the reassembled bytes (_simple_groups); computed
        on first use (the compiled bulk export does not need it)."""
        if self._simple is None:
            c = self.c
            if not c["flow"].size:
                self._simple = np.zeros(0, bool)
            elif kernels.wanted():
                self._simple = kernels.simple_groups(
                    self.starts, self.ends, c["seq"], c["flags"], c["cap"], c["wire"]
                )
            else:
                self._simple = _simple_groups(c, self.starts, self.ends)
        return self._simple

    def groups_for(self, flows: Iterable[int] | None) -> np.ndarray:
        """Group indices (both directions) of these flows, in (flow, direction) order."""
        if flows is None:
            return np.arange(self.starts.shape[0])
        if self._by_flow is None:
            # group_flow is sorted: each flow's groups are one contiguous run
            uniq, first, count = np.unique(self.group_flow, return_index=True, return_counts=True)
            self._by_flow = {
                f: (a, a + n)
                for f, a, n in zip(uniq.tolist(), first.tolist(), count.tolist(), strict=True)
            }
        out: list[int] = []
        for f in sorted(set(flows)):
            span = self._by_flow.get(int(f))
            if span is not None:
                out.extend(range(*span))
        return np.asarray(out, dtype=np.int64)

    def streams(
        self,
        flows: Iterable[int] | None = None,
        *,
        include_empty: bool = False,
        spill_threshold: int = DEFAULT_SPILL_THRESHOLD,
        spill_dir: str | None = None,
    ) -> Iterator[DirectionStream]:
        c = self.c
        if not c["flow"].size:
            return
        # _iter drops the pages it read through the map from our resident set as it goes
        yield from self._iter(flows, include_empty, spill_threshold, spill_dir, self.capture_map())

    def capture_map(self):
        """The capture's map, opened on first use and kept for the index's life (callers ask
        for one flow at a time as often as for thousands); :meth:`close` unmaps it."""
        if self._map is None:
            self._map = self.cap.open_map()
        return self._map

    def _budget(self, mm, nbytes: int, reads: int) -> None:
        """Pages read through the map stay ours until dropped (callers ask for many flows, and
        a long flow's segments are spread over the file): count a read's bytes and up to
        64 KiB around it (the kernel's fault-around), and drop past DROP_EVERY."""
        self._mapped += nbytes + reads * (64 << 10)
        if self._mapped > DROP_EVERY:
            drop_pages(mm)
            self._mapped = 0

    def close(self) -> None:
        """Unmap the capture (streams already returned stay valid: they hold copies)."""
        if isinstance(self._map, mmap.mmap):
            self._map.close()
        self._map = None

    def _iter(
        self, flows, include_empty, spill_threshold, spill_dir, mm
    ) -> Iterator[DirectionStream]:
        c = self.c
        for g in self.groups_for(flows).tolist():
            if self.wire_sum[g] == 0 and not include_empty:
                continue
            stream = self.reassemble_group(g, mm, spill_threshold, spill_dir)
            s = int(self.starts[g])
            yield DirectionStream(int(c["flow"][s]), int(c["dir"][s]), stream)

    def reassemble_group(
        self, g: int, mm, spill_threshold: int = DEFAULT_SPILL_THRESHOLD, spill_dir=None
    ) -> ReassembledStream:
        """Direction *g* reassembled in Python (the record with its offset map and evidence
        lists); *mm* is the capture map from :meth:`streams`."""
        c = self.c
        poff, capl, framel = c["poff"], c["cap"], c["frame"]
        extra = self.extra
        budget = self._budget
        s, e = int(self.starts[g]), int(self.ends[g])
        po = poff[s:e].tolist()
        cl = capl[s:e].tolist()
        fr = framel[s:e].tolist()

        def payload(i: int) -> bytes:
            if po[i] < 0:
                return extra.get(fr[i], b"")
            n = cl[i]
            if n <= 0:
                return b""
            budget(mm, n, 1)
            return mm[po[i] : po[i] + n]

        if self.simple[g] and self.wire_sum[g] <= spill_threshold:
            rows = np.flatnonzero(capl[s:e] > 0).tolist()
            if all(po[i] >= 0 for i in rows):  # all in the file: slice the map in bulk
                parts = [mm[po[i] : po[i] + cl[i]] for i in rows]
                budget(mm, sum(cl[i] for i in rows), len(rows))
            else:
                parts = [payload(i) for i in rows]
            return _concatenate(c, s, e, rows, parts, c["flags"][s:e].tolist())
        return reassemble_direction(
            c["seq"][s:e],
            c["flags"][s:e],
            c["cap"][s:e],
            c["frame"][s:e],
            c["ts_ns"][s:e],
            payload,
            wire_len=c["wire"][s:e],
            spill_threshold=spill_threshold,
            spill_dir=spill_dir,
        )


def _group_order(key: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Row order by (direction key, frame): rows are collected in capture order, so a stable
    sort by the key suffices (a counting sort when compiled)."""
    if not np.all(frame[1:] >= frame[:-1]):
        return np.lexsort((frame, key))
    if kernels.wanted():
        return kernels.counting_order(key, int(key.max()) + 1)
    return np.argsort(key, kind="stable")


def iter_tcp_streams(
    cap: Capture,
    packet_flow: np.ndarray,
    packet_dir: np.ndarray,
    flt=None,
    *,
    spill_threshold: int = DEFAULT_SPILL_THRESHOLD,
    spill_dir: str | None = None,
    flows: set[int] | None = None,
    include_empty: bool = False,
) -> Iterator[DirectionStream]:
    """Reassembled directions in (flow, direction) order; lazily, one at a time.

    Directions that carried no payload are skipped unless ``include_empty``.
    """
    index = SegmentIndex(cap, packet_flow, packet_dir, flt)
    try:
        yield from index.streams(
            flows, include_empty=include_empty, spill_threshold=spill_threshold, spill_dir=spill_dir
        )
    finally:
        index.close()


def _concatenate(
    c: dict[str, np.ndarray], s: int, e: int, rows: list[int], parts: list[bytes], fl: list[int]
) -> ReassembledStream:
    """The fast path: an in-order direction without retransmissions is its payloads joined
    (*parts*: the payloads of the group's *rows* that carry data)."""
    data = b"".join(parts)
    sizes = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])) if len(parts) else np.zeros(0, np.int64)
    syn = any(f & 0x02 for f in fl)
    first_data = s + rows[0] if rows else s
    base = int(c["seq"][first_data]) if rows else int(c["seq"][s])
    return ReassembledStream(
        length=len(data),
        first_frame=int(c["frame"][s]),
        last_frame=int(c["frame"][e - 1]),
        first_ts_ns=int(c["ts_ns"][s]),
        last_ts_ns=int(c["ts_ns"][e - 1]),
        md5=hashlib.md5(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        offsets=offsets,
        frames=c["frame"][[s + i for i in rows]].astype(np.uint64),
        data=data,
        base_seq=base,
        isn_known=syn,
        syn_seen=syn,
        fin_seen=any(f & 0x01 for f in fl),
        rst_seen=any(f & 0x04 for f in fl),
        segments=e - s,
    )
