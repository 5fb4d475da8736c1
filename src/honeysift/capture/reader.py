"""The :class:`Capture`: open any supported capture and read it as packet-table chunks.

Memory is bounded by the block size: the file is read forward in blocks, each block becomes
one :class:`PacketTable` chunk, and nothing of a chunk is kept after it is handed out (except
fragments still waiting for reassembly). ``packets()`` concatenates the chunks for callers that
want the whole table at once (fine for captures that fit in memory).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from honeysift.capture import kernels, linktypes
from honeysift.capture.blocks import BlockFile, RawChunk
from honeysift.capture.decode import decode_frames
from honeysift.capture.ipfrag import Defragmenter
from honeysift.capture.pcap import PcapScanner, parse_header
from honeysift.capture.pcapng import PcapngScanner, looks_like_pcapng
from honeysift.capture.source import Source, open_source
from honeysift.capture.table import PacketTable
from honeysift.errors import CaptureError

DEFAULT_BLOCK = 16 << 20


@dataclass(slots=True)
class CaptureWarning:
    """Damage found while reading: where (byte offset in the decompressed capture) and what."""

    offset: int | None
    message: str
    damage: bool = True  # False for things we merely cannot decode (an unknown link type)

    def __str__(self) -> str:
        return f"byte {self.offset}: {self.message}" if self.offset is not None else self.message


@dataclass(slots=True)
class Format:
    """What the file header(s) say."""

    container: str  # "pcap" or "pcapng"
    version: str
    byte_order: str  # "little-endian", "big-endian", or both for multi-section pcapng
    ts_resolution: list[str]  # per interface
    linktypes: list[int]  # per interface
    snaplen: list[int]  # per interface
    interface_names: list[str | None] = field(default_factory=list)
    block_counts: dict[str, int] = field(default_factory=dict)
    unknown_blocks: int = 0
    sections: int = 1


class Capture:
    """A capture file opened for reading. Use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        path: str,
        *,
        block_size: int = DEFAULT_BLOCK,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.name = str(path)
        self.block_size = block_size
        self.progress = progress
        self.source: Source = open_source(self.name)
        kernels.note_capture(self.source.size)
        self.warnings: list[CaptureWarning] = [
            CaptureWarning(None, w) for w in self.source.warnings
        ]
        self._fh = open(self.source.path, "rb")  # noqa: SIM115 - closed in close()
        head = self._fh.read(64)
        if not head:
            self.close()
            raise CaptureError(self.name, 0, "empty file")
        self._pcapng = looks_like_pcapng(head)
        if not self._pcapng:
            try:
                self._pcap_header = parse_header(self.name, head)
            except CaptureError:
                self.close()
                raise
        self.notes: list[str] = []  # facts about the traffic worth telling (not damage)
        self.format: Format | None = None
        self.defrag_stats: dict[str, int] = {}
        self._prescan_format()

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        if getattr(self, "_fh", None) is not None:
            self._fh.close()
            self._fh = None
        self.source.close()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def size(self) -> int:
        return self.source.size

    # -- reading ---------------------------------------------------------------------------
    def _warn(self, offset: int | None, message: str, damage: bool = True) -> None:
        self.warnings.append(CaptureWarning(offset, message, damage))

    @property
    def damaged(self) -> bool:
        """True when some of the file could not be read (output is partial)."""
        return any(w.damage for w in self.warnings)

    def _prescan_format(self) -> None:
        if not self._pcapng:
            h = self._pcap_header
            self.format = Format(
                container="pcap",
                version=f"{h.version[0]}.{h.version[1]}",
                byte_order="little-endian" if h.byte_order == "<" else "big-endian",
                ts_resolution=[h.ts_resolution],
                linktypes=[h.linktype],
                snaplen=[h.snaplen],
            )

    def raw_chunks(self) -> Iterator[tuple[RawChunk, np.ndarray]]:
        """Record boundaries block by block, with the link type of each record."""
        self._fh.seek(0)
        bf = BlockFile(self._fh, self.block_size)
        if self._pcapng:
            scanner = PcapngScanner(self.name, self._warn)
            try:
                for raw in scanner.chunks(bf):
                    lts = np.asarray(
                        [i.linktype for i in scanner.interfaces] + [0xFFFF], dtype=np.uint16
                    )
                    idx = np.minimum(raw.iface.astype(np.int64), len(lts) - 1)
                    self._pcapng_format(scanner)
                    yield raw, lts[idx]
            finally:
                self._pcapng_format(scanner)
        else:
            scanner = PcapScanner(self.name, self._pcap_header, self._warn)
            link = np.uint16(self._pcap_header.linktype)
            for raw in scanner.chunks(bf):
                yield raw, np.full(raw.data_off.shape[0], link, dtype=np.uint16)

    def _pcapng_format(self, sc: PcapngScanner) -> None:
        itfs = sc.interfaces
        orders = sorted(set(sc.byte_orders)) or ["little-endian"]
        self.format = Format(
            container="pcapng",
            version=f"{sc.version[0]}.{sc.version[1]}" if sc.version else "?",
            byte_order="/".join(orders),
            ts_resolution=[i.ts_resolution for i in itfs],
            linktypes=[i.linktype for i in itfs],
            snaplen=[i.snaplen for i in itfs],
            interface_names=[i.name for i in itfs],
            block_counts=dict(sc.block_counts),
            unknown_blocks=sc.unknown_blocks,
            sections=sc.section + 1,
        )

    def chunks(self) -> Iterator[PacketTable]:
        """Decoded packet-table chunks, in capture order, with 1-based frame numbers."""
        frame0 = 0
        defrag = Defragmenter()
        warned_links: set[int] = set()
        for raw, links in self.raw_chunks():
            cols = decode_frames(raw.buf, raw.data_off, raw.caplen, raw.origlen, links)
            n = raw.data_off.shape[0]
            cols["frame"] = np.arange(frame0 + 1, frame0 + n + 1, dtype=np.uint64)
            cols["ts_ns"] = raw.ts_ns
            cols["caplen"] = raw.caplen
            cols["origlen"] = raw.origlen
            cols["offset"] = raw.data_off + raw.base
            cols["iface"] = raw.iface
            for link in np.unique(links).tolist():
                if link not in linktypes.DECODED and link not in warned_links:
                    warned_links.add(link)
                    first = int(np.argmax(links == link))
                    self._warn(
                        int(cols["offset"][first]),
                        f"link type {linktypes.name(link)} ({link}) is not decoded; its frames are counted only",
                        damage=False,
                    )
            defrag.process(raw.buf, raw.data_off, raw.caplen, cols, frame0)
            extra = cols.pop("_extra", {})
            tunnels = _merge_tunnels(cols.pop("_tunnels", None), cols.pop("_tunnels_frag", None))
            poff = cols["payload_off"].astype(np.int64)
            avail = np.minimum(cols["payload_len"], raw.caplen.astype(np.int64) - poff)
            h8, h12 = kernels.payload_heads(raw.buf, raw.data_off + poff, avail)
            table = PacketTable(**cols, extra_payload=extra, tunnels=tunnels, head8=h8, head12=h12)
            frame0 += n
            if self.progress is not None:
                self.progress(int(raw.base + (raw.data_off[-1] if n else 0)), self.size)
            yield table
        defrag.finish()
        self.defrag_stats = {
            "completed": defrag.completed,
            "incomplete": defrag.expired,
            "conflicting_overlaps": defrag.conflicting_overlaps,
            "dropped": defrag.dropped,
        }
        if defrag.conflicting_overlaps:
            self.notes.append(
                f"{defrag.conflicting_overlaps} IP fragment overlaps carried different bytes (kept the first copy; an evasion sign)"
            )

    def packets(self) -> PacketTable:
        """The whole capture as one table (for captures that fit in memory)."""
        return PacketTable.concat(list(self.chunks()))

    # -- random access ---------------------------------------------------------------------
    def frame_bytes(self, offset: int, length: int) -> bytes:
        """Bytes of the (decompressed) capture at *offset*: a frame's data, or a slice of it."""
        return os.pread(self._fh.fileno(), int(length), int(offset))

    def open_map(self) -> mmap.mmap | bytes:
        """A read-only memory map of the (decompressed) capture for bulk payload reads; the
        caller closes it (``b""`` for an empty file). Keep it only as long as needed: pages it
        touched count as this process's resident memory while it is open."""
        return mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ) if self.size else b""

    def frame_bytes_at(self, table: PacketTable, offsets: np.ndarray, size: int) -> np.ndarray:
        """Raw-byte accessor for filters: ``size`` bytes at ``offsets`` (frame-relative) of each
        row with an offset >= 0, as a (len(table), size) uint8 array (zeros elsewhere)."""
        out = np.zeros((len(table), size), dtype=np.uint8)
        for i in np.flatnonzero(offsets >= 0).tolist():
            b = self.frame_bytes(int(table.offset[i]) + int(offsets[i]), size)
            out[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)
        return out

    def select(self, table: PacketTable, flt) -> PacketTable:
        """Rows of *table* a compiled filter (``honeysift.filters.bpf``) selects."""
        if flt is None:
            return table
        return table.take(flt.mask(table.outer_view(), self.frame_bytes_at))

    def payload(self, table: PacketTable, i: int) -> bytes:
        """The transport payload of row *i* (the whole datagram's for reassembled fragments)."""
        frame = int(table.frame[i])
        if table.reassembled[i]:
            return table.extra_payload.get(frame, b"")
        start = int(table.payload_off[i])
        avail = max(0, min(int(table.payload_len[i]), int(table.caplen[i]) - start))
        return self.frame_bytes(int(table.offset[i]) + start, avail)


def drop_pages(mm) -> None:
    """Take the pages a read-only capture map has touched out of this process's resident set.
    They stay in the page cache (the next access maps them back without disk I/O); without
    this, a pass over a big capture through one map counts the whole file as our memory."""
    if isinstance(mm, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        mm.madvise(mmap.MADV_DONTNEED)


#: Bytes read through a capture map between two drop_pages calls.
DROP_EVERY = 64 << 20


def _merge_tunnels(tunnels: dict | None, from_frags: list | None) -> dict | None:
    """Add the outer layers found inside reassembled datagrams to the chunk's tunnel table."""
    if not from_frags:
        return tunnels
    from honeysift.capture.decode import _OUTER_KEYS

    extra = {
        "row": np.asarray([r for r, _, _, _ in from_frags], dtype=np.int64),
        "type": np.asarray([k for _, k, _, _ in from_frags], dtype=np.uint8),
        "depth": np.asarray([d for _, _, d, _ in from_frags], dtype=np.uint8),
    }
    for key in _OUTER_KEYS:
        extra[key] = np.asarray([o[key] for _, _, _, o in from_frags]).astype(
            tunnels[key].dtype if tunnels else np.uint64
        )
    if tunnels is None:
        from honeysift.capture.table import COLUMN_DTYPES

        return {
            k: (v.astype(COLUMN_DTYPES[k]) if k in COLUMN_DTYPES else v) for k, v in extra.items()
        }
    merged = {k: np.concatenate([tunnels[k], extra[k]]) for k in tunnels}
    order = np.lexsort((merged["depth"], merged["row"]))
    return {k: v[order] for k, v in merged.items()}
