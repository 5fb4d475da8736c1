"""Writing reassembled streams to files named as tcpflow names them, plus an index.

tcpflow 1.6 names a direction ``SRCIP.SPORT-DSTIP.DPORT`` with IPv4 octets zero-padded to three
digits and ports to five (``172.016.134.191.01045-209.196.044.172.06667``), IPv6 addresses in
their compressed text form (``::1.00080-::1.44730``) and ``cN`` for the N-th later connection
that reused the same addresses and ports. Only directions that carried data get a file, as with
tcpflow. tcpflow also appends ``--N`` to 802.1Q-tagged traffic, N being the whole tag control
field (priority bits included, so VLAN 0 at priority 5 is ``--45056``); we do not (the packet
table keeps only the VLAN id; docs/streams.md, "vlan-name").

Two ways in: :func:`write_streams` takes any iterable of reassembled directions (the library's
path); :func:`export_streams` does a whole segment index in bulk (compiled reassembly in
batches, files and hashes in writer threads, the index written as it goes), and
:func:`export_capture` is the command's whole job around it (docs/streams.md says why each
step is there).
"""

from __future__ import annotations

import binascii
import csv
import hashlib
import io
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np

from honeysift.capture.reader import drop_pages
from honeysift.memory import paused_gc
from honeysift.streams import kernels
from honeysift.streams.extract import (
    ChunkSegments,
    DirectionStream,
    SegmentIndex,
    chunk_segments,
    drain,
)
from honeysift.streams.tcp import DEFAULT_SPILL_THRESHOLD

#: Content bytes reassembled per call of the compiled pass (one buffer of this size at most,
#: unless a single direction is larger).
BATCH_BYTES = 32 << 20


@lru_cache(maxsize=1 << 16)
def tcpflow_addr(addr: str) -> str:
    """IPv4 octets zero-padded to three digits; IPv6 as it is (cached: addresses repeat)."""
    if ":" in addr:
        return addr
    return ".".join(f"{int(o):03d}" for o in addr.split("."))


def tcpflow_name(src: str, sport: int, dst: str, dport: int) -> str:
    """tcpflow's base name of a direction (:func:`_claim` adds the ``cN`` of a reuse)."""
    return f"{tcpflow_addr(src)}.{sport:05d}-{tcpflow_addr(dst)}.{dport:05d}"


@dataclass(slots=True)
class StreamIndexEntry:
    """One line of the stream index (index.csv / index.json)."""

    file: str | None
    flow_uid: str
    direction: str  # "orig" (client to server) or "resp"
    src: str
    sport: int
    dst: str
    dport: int
    bytes: int
    segments: int
    gaps: int
    missing_bytes: int
    overlaps: int
    conflicting_overlaps: int
    retransmitted_bytes: int
    first_frame: int
    last_frame: int
    first_ts: float | None
    last_ts: float | None
    md5: str
    sha256: str
    gap_list: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in INDEX_FIELDS}

    def gap_text(self) -> str:
        """The gap list as index.csv writes it: "offset+length" items separated by spaces."""
        return " ".join(f"{o}+{n}" for o, n in self.gap_list)


INDEX_FIELDS = list(StreamIndexEntry.__dataclass_fields__)


def write_streams(
    streams: Iterable[DirectionStream],
    flows,
    outdir: str | os.PathLike[str],
    *,
    write_files: bool = True,
) -> list[StreamIndexEntry]:
    """Write each non-empty direction to OUTDIR under its tcpflow name; return the index."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    orig_h = flows.column("orig_h")
    resp_h = flows.column("resp_h")
    orig_p = flows.columns["orig_p"].tolist()
    resp_p = flows.columns["resp_p"].tolist()
    uids = flows.columns["uid"]
    seen: dict[str, int] = {}
    index: list[StreamIndexEntry] = []
    for ds in streams:
        f = ds.flow
        if ds.direction == 0:
            src, sport, dst, dport = orig_h[f], orig_p[f], resp_h[f], resp_p[f]
        else:
            src, sport, dst, dport = resp_h[f], resp_p[f], orig_h[f], orig_p[f]
        st = ds.stream
        name = None
        if st.length > 0:
            name = _claim(seen, tcpflow_name(src, sport, dst, dport))
            if write_files:
                _write(out / name, st)
        index.append(
            StreamIndexEntry(
                file=name,
                flow_uid=str(uids[f]),
                direction="orig" if ds.direction == 0 else "resp",
                src=src,
                sport=sport,
                dst=dst,
                dport=dport,
                bytes=st.length,
                segments=st.segments,
                gaps=len(st.gaps),
                missing_bytes=st.missing_bytes,
                overlaps=len(st.overlaps),
                conflicting_overlaps=len(st.conflicts),
                retransmitted_bytes=st.retransmitted_bytes,
                first_frame=st.first_frame,
                last_frame=st.last_frame,
                first_ts=st.first_ts,
                last_ts=st.last_ts,
                md5=st.md5,
                sha256=st.sha256,
                gap_list=list(st.gaps),
            )
        )
        st.discard()
    return index


def export_capture(
    cap,
    outdir: str | os.PathLike[str] | None,
    flt=None,
    *,
    write_files: bool = True,
    write_index: bool = True,
) -> list[StreamIndexEntry]:
    """The whole ``honeysift streams`` job on an open capture: the flow table (which decides
    what one connection is) and the segments' columns from one pass over the capture, then
    :func:`export_streams`. *flt* (a compiled filter) selects the packets whose segments count;
    the connections come from all TCP packets, with the analysis's TCP idle timeout
    (pipeline.ANALYSIS_TCP_TIMEOUT: a quiet IRC session stays one connection), not
    build_flows' default."""
    import dataclasses

    from honeysift.capture.table import ST_NOT_IP
    from honeysift.flows import build_flows
    from honeysift.pipeline import ANALYSIS_TCP_TIMEOUT

    parts: list[ChunkSegments] = []

    def tcp_only():
        for t in cap.chunks():
            parts.append(chunk_segments(cap, t, flt))
            # other protocols' rows are marked "not IP", which the flow builder skips: a copy
            # of one column instead of the whole table (t.take cost ~0.5 s a GB)
            other = np.where(t.proto == 6, t.status, ST_NOT_IP).astype(t.status.dtype)
            yield dataclasses.replace(t, status=other)

    # only TCP makes streams, and no service guess is needed: a lighter flow table
    flows = build_flows(
        tcp_only(),
        reader=cap.frame_bytes,
        packet_flows=True,
        tcp_timeout=ANALYSIS_TCP_TIMEOUT,
        payload_service=False,
    )
    seg = SegmentIndex(cap, flows.packet_flow, flows.packet_dir, chunks=drain(parts))
    directions = describe_directions(seg, flows)
    del flows  # the export needs only the directions' facts: free the flow table
    try:
        return export_streams(
            seg, directions, outdir, write_files=write_files, write_index=write_index
        )
    finally:
        seg.close()


def _claim(seen: dict[str, int], base: str) -> str:
    """The file name for the next direction named *base*: tcpflow's ``cN`` for the N-th reuse
    of the same addresses and ports (*seen* counts the uses so far)."""
    n = seen.get(base, 0)
    seen[base] = n + 1
    return f"{base}c{n}" if n else base


@dataclass(slots=True)
class Directions:
    """What the index says about each direction that carried data, taken from the flow table
    (so the table itself can be freed before the export): segment-index group, responder's
    direction or not, endpoints, tcpflow base name, flow uid."""

    groups: np.ndarray
    resp: list[bool]
    src: list[str]
    dst: list[str]
    sport: list[int]
    dport: list[int]
    names: list[str]
    uid: list[str]


def describe_directions(seg: SegmentIndex, flows) -> Directions:
    groups = np.flatnonzero(seg.wire_sum > 0)
    fl = seg.group_flow[groups]
    resp = seg.c["dir"][seg.starts[groups]].astype(bool)
    e = _endpoints(flows.numeric, fl, resp)
    uid = flows.codes["uid"][fl].astype("U12").tolist()
    return Directions(
        groups, resp.tolist(), e["src"], e["dst"], e["sport"], e["dport"], e["name"], uid
    )


@paused_gc()
def export_streams(
    seg: SegmentIndex,
    flows: Directions | Any,
    outdir: str | os.PathLike[str] | None,
    *,
    write_files: bool = True,
    write_index: bool = False,
    spill_threshold: int = DEFAULT_SPILL_THRESHOLD,
    batch_bytes: int = BATCH_BYTES,
) -> list[StreamIndexEntry]:
    """:func:`write_streams` for every direction of a segment index that carried data, in
    bulk: batches of directions are reassembled by the compiled pass into one buffer (files
    and hashes are cut from it); directions with fragment-reassembled segments or larger than
    *spill_threshold* go through the Python reassembler. Same files, same index. *flows* is
    the flow table or, to let the caller free it first, its :func:`describe_directions`.
    *write_index*: also write index.csv and index.json to OUTDIR (as :func:`write_index`
    does, batch by batch: the writer threads format each batch once it is hashed)."""
    if outdir is None and (write_files or write_index):
        raise ValueError("export_streams: give outdir to write files or the index")
    out = Path(outdir or ".")
    if write_files or write_index:
        out.mkdir(parents=True, exist_ok=True)
    c = seg.c
    dirs = flows if isinstance(flows, Directions) else describe_directions(seg, flows)
    groups = dirs.groups
    if not groups.size:
        return []
    starts, ends = seg.starts[groups], seg.ends[groups]
    capsum = np.add.reduceat(c["cap"].astype(np.int64), seg.starts)[groups]
    fast = capsum <= spill_threshold
    fast &= ~np.logical_or.reduceat(c["poff"] < 0, seg.starts)[groups]
    if not kernels.wanted():
        fast[:] = False
    src, dst, sport, dport, names, uid = (
        dirs.src, dirs.dst, dirs.sport, dirs.dport, dirs.names, dirs.uid
    )  # fmt: skip
    d = dirs.resp
    first_frame = c["frame"][starts].tolist()
    last_frame = c["frame"][ends - 1].tolist()
    first_ts = (c["ts_ns"][starts] / 1e9).tolist()
    last_ts = (c["ts_ns"][ends - 1] / 1e9).tolist()
    segments = (ends - starts).tolist()
    gl = groups.tolist()

    seen: dict[str, int] = {}
    index: list[StreamIndexEntry] = []
    mm = seg.capture_map()
    data = np.frombuffer(mm, dtype=np.uint8)
    # buffers are reused: first touches of fresh memory cost more than the reassembly itself
    # on some machines (a page fault per 4 KiB, or a huge-page compaction); three rotate: one
    # filled here, one waiting, one with the writer threads
    pool: queue.Queue[np.ndarray] = queue.Queue()
    for _ in range(3):
        pool.put(np.empty(0, np.uint8))
    stage_buf = np.empty(0, np.uint8)
    writer = _Writer(
        out if write_files else None, IndexWriter(out) if write_index else None, pool.put
    )
    try:
        for lo, hi in _batches(capsum, fast, batch_bytes):
            sel = lo + np.flatnonzero(fast[lo:hi])
            need = int(capsum[sel].sum())
            buf = pool.get()
            if buf.shape[0] < need:
                buf = np.empty(max(need, min(batch_bytes, int(capsum.sum()))), np.uint8)
            width = hi - lo
            # per direction of the batch: content length, gaps, overlap facts, hashes
            length = [0] * width
            facts: list[tuple] = [()] * width
            gaps: list[list] = [[] for _ in range(width)]
            hashes: list[tuple[str, str]] = [("", "")] * width
            slow: dict[int, object] = {}
            at: list[int] = []
            cs: list[int] = []
            if sel.size:
                at, cs, stage_buf = _compiled_batch(
                    c, mm, data, starts, ends, sel, lo, buf, stage_buf, length, facts, gaps
                )
            for i in np.flatnonzero(~fast[lo:hi]).tolist():
                st = seg.reassemble_group(gl[lo + i], mm, spill_threshold)
                slow[i] = st
                length[i], gaps[i], hashes[i] = st.length, list(st.gaps), (st.md5, st.sha256)
                facts[i] = (
                    len(st.gaps), st.missing_bytes, len(st.overlaps), len(st.conflicts),
                    st.retransmitted_bytes,
                )  # fmt: skip
            # file names in direction order: the n-th reuse of a name gets "cN"
            file: list[str | None] = [None] * width
            for i in np.flatnonzero(np.asarray(length) > 0).tolist():
                file[i] = _claim(seen, names[lo + i])
            batch = [
                StreamIndexEntry(
                    file[i], uid[b], "resp" if d[b] else "orig", src[b], sport[b], dst[b],
                    dport[b], length[i], segments[b], *facts[i], first_frame[b], last_frame[b],
                    first_ts[b], last_ts[b], *hashes[i], gaps[i],
                )
                for i, b in enumerate(range(lo, hi))
            ]  # fmt: skip
            index.extend(batch)
            for i, st in slow.items():
                if write_files and file[i] is not None:
                    _write(out / file[i], st)
                st.discard()
            jobs = [(batch[i], a, length[i]) for i, a in zip(at, cs, strict=True)]
            writer.put(buf, jobs, batch)
    finally:
        del data
        writer.close()
    return index


def _compiled_batch(c, mm, data, starts, ends, sel, lo, buf, stage_buf, length, facts, gaps):
    """Directions *sel* (positions lo + i) through the compiled pass into *buf*: fills the
    batch's *length*, *facts* and *gaps* lists at those positions; returns (positions, content
    starts in *buf*, the staging buffer to reuse)."""
    r0, r1 = int(starts[sel[0]]), int(ends[sel[-1]])
    staged, poff, cap = _stage(mm, data, c["poff"][r0:r1], c["cap"][r0:r1], stage_buf)
    stage_buf = staged.base if staged.base is not None else staged
    res = kernels.reassemble_groups(
        starts[sel] - r0, ends[sel] - r0, c["seq"][r0:r1], c["flags"][r0:r1], cap,
        c["wire"][r0:r1], poff, staged, buf,
    )  # fmt: skip
    at = (sel - lo).tolist()
    cs, cl, ngap, gf = res[0].tolist(), res[1], res[2], res[7]
    for i, n in zip(at, cl.tolist(), strict=True):
        length[i] = n
    facts_k = zip(*(r.tolist() for r in (ngap, res[3], res[4], res[5], res[6])), strict=True)
    for i, f in zip(at, facts_k, strict=True):
        facts[i] = f
    goff, glen = res[8].tolist(), res[9].tolist()
    for a in np.flatnonzero(ngap).tolist():
        gaps[at[a]] = list(zip(goff[gf[a] : gf[a + 1]], glen[gf[a] : gf[a + 1]], strict=True))
    return at, cs, stage_buf


class _Batch:
    """A batch's index entries, and its index text once every part of it is hashed."""

    __slots__ = ("entries", "pending", "text", "lock", "buf")

    def __init__(self, entries: list[StreamIndexEntry], parts: int, buf) -> None:
        self.entries = entries
        self.pending = parts
        self.buf = buf
        self.text: tuple[str, bytes] | None = None
        self.lock = threading.Lock()


class _Writer:
    """Hashes batches of content and writes their files in background threads, while the main
    thread reassembles the next batch. Each batch is split between THREADS threads (creating
    files in one directory scales to two cores on tmpfs and ext4); the compiled path
    (kernels.hash_and_write) holds no GIL. The thread that finishes a batch's last part
    formats its index lines; the main thread appends them to the index files in batch order.
    At most a few batches wait; an error in a thread is raised here, at the next put() or at
    close()."""

    THREADS = 2

    def __init__(
        self,
        outdir: Path | None,
        index: IndexWriter | None = None,
        release: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        self.prefix = None if outdir is None else os.path.join(outdir, "")
        self.index = index
        self.release = release
        self.order: deque[_Batch] = deque()
        self.q: queue.Queue = queue.Queue(maxsize=self.THREADS)
        self.error: BaseException | None = None
        self.native = kernels.wanted() and kernels.native_io() is not None
        self.threads = [
            threading.Thread(target=self._run, name=f"honeysift-streams-writer-{i}")
            for i in range(self.THREADS)
        ]
        for t in self.threads:
            t.start()

    def put(
        self,
        buf: np.ndarray,
        jobs: list[tuple[StreamIndexEntry, int, int]],
        entries: list[StreamIndexEntry],
    ) -> None:
        if self.error is not None:
            raise self.error
        step = max(-(-len(jobs) // self.THREADS), 1)
        parts = [jobs[k : k + step] for k in range(0, len(jobs), step)]
        batch = _Batch(entries, len(parts), buf)
        if self.index is not None:
            self.order.append(batch)
        if not parts:
            self._finish(batch)
        for part in parts:
            self.q.put((buf, part, batch))
        self._flush()

    def close(self) -> None:
        for _ in self.threads:
            self.q.put(None)
        for t in self.threads:
            t.join()
        try:
            if self.error is not None:
                raise self.error
            self._flush()
        finally:
            if self.index is not None:
                self.index.close()

    def _flush(self) -> None:
        """Append the finished batches at the front of the queue to the index files."""
        while self.order and self.order[0].text is not None:
            self.index.write(*self.order.popleft().text)

    def _finish(self, batch: _Batch) -> None:
        """A part of *batch* is done; the last one hands its buffer back and formats it."""
        with batch.lock:
            batch.pending -= 1
            last = batch.pending <= 0
        if not last:
            return
        try:
            if self.index is not None and self.error is None:
                batch.text = index_text(batch.entries)
        except BaseException as exc:  # noqa: BLE001 - raised by the main thread
            self.error = exc
        finally:  # never lost: the main thread may be waiting for the buffer
            if self.release is not None:
                self.release(batch.buf)
            batch.buf = None

    def _run(self) -> None:
        while (job := self.q.get()) is not None:
            buf, jobs, batch = job
            try:
                if self.error is None:  # after an error, drain until close
                    if self.native:
                        self._native(buf, jobs)
                    else:
                        self._python(buf, jobs)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                self.error = exc
            finally:
                self._finish(batch)  # always: the main thread waits for the buffer

    def _python(self, buf: np.ndarray, jobs) -> None:
        md5, sha256, prefix = hashlib.md5, hashlib.sha256, self.prefix
        view = memoryview(buf)
        for entry, a, n in jobs:
            content = view[a : a + n]
            entry.md5 = md5(content).hexdigest()
            entry.sha256 = sha256(content).hexdigest()
            if prefix is not None and entry.file is not None:
                _write_bytes(prefix + entry.file, content)

    def _native(self, buf: np.ndarray, jobs) -> None:
        """The batch in one compiled call (kernels.hash_and_write): no GIL, no Python call
        per file. Files it could not write are written again here, to raise the error."""
        k = len(jobs)
        at = np.fromiter((a for _, a, _ in jobs), np.int64, k)
        size = np.fromiter((n for _, _, n in jobs), np.int64, k)
        paths = [
            b"" if self.prefix is None or e.file is None else os.fsencode(self.prefix + e.file)
            for e, _, _ in jobs
        ]
        name = np.frombuffer(b"".join(p + b"\0" for p in paths if p) or b"\0", np.uint8)
        lens = np.fromiter((len(p) + 1 if p else 0 for p in paths), np.int64, k)
        name_at = np.where(lens > 0, np.cumsum(lens) - lens, -1)
        d5 = np.empty((k, 16), np.uint8)
        d256 = np.empty((k, 32), np.uint8)
        failed = kernels.hash_and_write(buf, at, size, name, name_at, _FLAGS, d5, d256)
        h5 = binascii.hexlify(d5.tobytes()).decode()
        h256 = binascii.hexlify(d256.tobytes()).decode()
        for i, (entry, _, _) in enumerate(jobs):
            entry.md5 = h5[32 * i : 32 * i + 32]
            entry.sha256 = h256[64 * i : 64 * i + 64]
        view = memoryview(buf)
        for i in np.flatnonzero(failed).tolist():
            entry, a, n = jobs[i]
            _write_bytes(self.prefix + entry.file, view[a : a + n])


_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)


def _stage(mm, data: np.ndarray, poff: np.ndarray, cap: np.ndarray, into: np.ndarray):
    """Copy the payloads of a batch's segments out of the capture map, in file order, dropping
    the map's pages every STAGE_SPAN of file touched; return (staged bytes, each segment's
    offset in them). Read in direction order, a batch's segments are spread over the whole
    file (a long connection's segments are), and every page touched through the map counts
    as our memory until dropped; in file order each page is touched once. Also returns the
    captured lengths, cut where a payload would run past the end of the file (never expected:
    the reader checks record lengths; such bytes count as not captured). The staged bytes
    are a view of *into*, or of a larger buffer when it is too small."""
    rows = np.flatnonzero((cap > 0) & (poff >= 0))
    order = rows[np.argsort(poff[rows], kind="stable")]
    src = poff[order]
    size = cap[order].astype(np.int64)
    room = np.clip(data.shape[0] - src, 0, None)
    if (size > room).any():
        size = np.minimum(size, room)
        cap = cap.copy()
        cap[order] = size
    dst = np.cumsum(size) - size
    total = int(size.sum())
    if into.shape[0] < total:
        into = np.empty(total, np.uint8)
    staged = into[:total]
    local = np.zeros(poff.shape[0], np.int64)
    local[order] = dst
    # cut where the file position has moved STAGE_SPAN on since the last drop; a pass touches
    # at most that much of the file, plus the fault-around of its pages
    k = 0
    n = src.shape[0]
    while k < n:
        end = int(np.searchsorted(src, src[k] + STAGE_SPAN, side="left"))
        end = min(max(end, k + 1), n)
        kernels.gather(data, src[k:end], size[k:end], staged, dst[k:end])
        drop_pages(mm)
        k = end
    return staged, local, cap


#: File bytes a staging pass may touch before the map's pages are dropped.
STAGE_SPAN = 64 << 20


def _endpoints(num: dict[str, np.ndarray], fl: np.ndarray, resp: np.ndarray) -> dict[str, list]:
    """Source, destination, ports and tcpflow base name of directions (flow rows *fl*; *resp*
    True for the responder's direction), formatted as whole columns (pyarrow compute)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from honeysift.flows.text import address_strings

    def pick(a: str, b: str) -> np.ndarray:
        return np.where(resp, num[b][fl], num[a][fl])

    out: dict[str, list] = {}
    parts = []
    for side, (a, b) in (("src", ("orig", "resp")), ("dst", ("resp", "orig"))):
        hi, lo = pick(a + "_hi", b + "_hi"), pick(a + "_lo", b + "_lo")
        port = pick(a + "_p", b + "_p")
        text = address_strings(hi, lo)
        out[side] = text.to_pylist()
        out[side[0] + "port"] = port.tolist()
        parts += [_padded(hi, lo, text), pc.utf8_lpad(pc.cast(pa.array(port), pa.string()), 5, "0")]
    out["name"] = pc.binary_join_element_wise(
        parts[0], ".", parts[1], "-", parts[2], ".", parts[3], ""
    ).to_pylist()
    return out


def _padded(hi: np.ndarray, lo: np.ndarray, text):
    """tcpflow's address text: IPv4 octets zero-padded to three digits (tcpflow_addr), IPv6
    as it is (*text*: the addresses' plain text)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from honeysift.capture.table import ipv4_rows
    from honeysift.flows.text import OCTETS_PADDED, dotted

    v4 = ipv4_rows(hi, lo)
    if not v4.any():
        return text
    return pc.if_else(pa.array(v4), dotted(lo, OCTETS_PADDED), text)


def _batches(capsum: np.ndarray, fast: np.ndarray, limit: int):
    """[lo, hi) ranges of consecutive directions whose compiled-path content fits *limit*."""
    n = capsum.shape[0]
    weight = np.where(fast, capsum, 0)
    cum = np.cumsum(weight)
    lo = 0
    while lo < n:
        base = int(cum[lo - 1]) if lo else 0
        hi = int(np.searchsorted(cum, base + limit, side="right"))
        hi = max(hi, lo + 1)
        yield lo, min(hi, n)
        lo = hi


def _write_bytes(path: str | Path, content) -> None:
    """_write for content already in memory."""
    fd = os.open(path, _FLAGS, 0o644)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _write(path: Path, st) -> None:
    """Write without following a symlink or overwriting something that is not ours."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o644)
    try:
        if st.data is not None:  # in memory: straight to the file, no file object
            view = memoryview(st.data)
            while view:
                view = view[os.write(fd, view) :]
            return
        with os.fdopen(os.dup(fd), "wb") as fh:
            for chunk in st.iter_chunks():
                fh.write(chunk)
    finally:
        os.close(fd)


@paused_gc()
def write_index(index: list[StreamIndexEntry], outdir: str | os.PathLike[str]) -> None:
    """index.csv and index.json of OUTDIR."""
    w = IndexWriter(Path(outdir))
    try:
        for k in range(0, len(index), _SLICE):
            w.write(*index_text(index[k : k + _SLICE]))
    finally:
        w.close()


class IndexWriter:
    """index.csv (csv.writer's dialect) and index.json (an array, one entry per line),
    appended slice by slice of entries (texts from :func:`index_text`)."""

    def __init__(self, outdir: Path) -> None:
        self.csv = open(outdir / "index.csv", "w", newline="")  # noqa: SIM115 - closed in close()
        self.json = open(outdir / "index.json", "wb")  # noqa: SIM115
        csv.writer(self.csv).writerow(INDEX_FIELDS)
        self.json.write(b"[\n")
        self.first = True

    def write(self, csv_text: str, json_text: bytes) -> None:
        self.csv.write(csv_text)
        if json_text:
            if not self.first:
                self.json.write(b",\n")
            self.json.write(json_text)
            self.first = False

    def close(self) -> None:
        self.json.write(b"\n]\n")
        self.csv.close()
        self.json.close()


_SLICE = 4096
_GAP_COL = INDEX_FIELDS.index("gap_list")
#: One index.csv line for the common row (every field plain); csv.writer takes the others.
_CSV_LINE = ",".join(["%s"] * len(INDEX_FIELDS)) + "\r\n"


def index_text(entries: list[StreamIndexEntry]) -> tuple[str, bytes]:
    """The index.csv lines and the index.json array items (without brackets) of *entries*.

    CSV as csv.writer writes it (QUOTE_MINIMAL, \\r\\n), at a third of its cost: a row whose
    text fields hold no comma, quote or line break is one %-format; others go through
    csv.writer. JSON: one entry per line; orjson over the whole slice (a call per entry costs
    4x, each result allocating a buffer larger than its text). Between two entries orjson
    writes `,{"file":`, a sequence no JSON string can hold (its quote would be escaped)."""
    get = attrgetter(*INDEX_FIELDS)
    commas = len(INDEX_FIELDS) - 1
    lines: list[str] = []
    for e in entries:
        row = list(get(e))
        row[_GAP_COL] = e.gap_text()
        if row[0] is None:
            row[0] = ""
        line = _CSV_LINE % tuple(row)
        body = line[:-2]
        if body.count(",") != commas or '"' in body or "\n" in body or "\r" in body:
            odd = io.StringIO(newline="")
            csv.writer(odd).writerow(["" if v is None else v for v in row])
            line = odd.getvalue()
        lines.append(line)
    text = _json(entries)[1:-1] if entries else b""
    return "".join(lines), text.replace(b',{"file":', b',\n{"file":')


def _json(entries: list[StreamIndexEntry]) -> bytes:
    """Index entries as a JSON array (orjson serialises the dataclasses directly)."""
    import orjson

    return orjson.dumps(entries)


@dataclass(slots=True)
class ContentGroup:
    """Streams with identical content: the write-up's ``md5sum * | cut | sort | uniq -c``."""

    count: int
    md5: str
    size: int
    example: str | None
    files: list[str]
    sources: list[str]


def group_by_content(index: list[StreamIndexEntry]) -> list[ContentGroup]:
    groups: dict[str, ContentGroup] = {}
    for e in index:
        if e.file is None:
            continue
        g = groups.get(e.md5)
        if g is None:
            g = groups[e.md5] = ContentGroup(0, e.md5, e.bytes, e.file, [], [])
        g.count += 1
        g.files.append(e.file)
        if e.src not in g.sources:
            g.sources.append(e.src)
    return sorted(groups.values(), key=lambda g: (-g.count, g.md5))
