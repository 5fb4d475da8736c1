"""Classic libpcap files: header and a fast record walk.

Format: https://www.tcpdump.org/manpages/pcap-savefile.5.html and
draft-ietf-opsawg-pcap section 4 (file header) and 5 (record header). The only sequential work
is following the record chain (each header says where the next begins); that walk is a tight
Python loop over 4-byte reads, and everything else about a record is gathered with numpy.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from honeysift.capture import kernels
from honeysift.capture.blocks import BlockFile, RawChunk
from honeysift.errors import CaptureError

# magic as read little-endian -> (byte order of the file, ts resolution, extra header bytes)
MAGICS = {
    0xA1B2C3D4: ("<", "us", 0),
    0xA1B23C4D: ("<", "ns", 0),
    0xD4C3B2A1: (">", "us", 0),
    0x4D3CB2A1: (">", "ns", 0),
    0xA1B2CD34: ("<", "us", 8),  # Kuznetzov's modified pcap: 8 more bytes per record header
    0x34CDB2A1: (">", "us", 8),
}

#: Largest record libpcap accepts for ordinary link types (MAXIMUM_SNAPLEN).
MAX_RECORD = 262144


@dataclass(slots=True)
class PcapHeader:
    byte_order: str  # "<" or ">"
    ts_resolution: str  # "us" or "ns"
    version: tuple[int, int]
    thiszone: int
    sigfigs: int
    snaplen: int
    linktype: int
    fcs_len: int | None
    record_extra: int


def parse_header(name: str, head: bytes) -> PcapHeader:
    if len(head) < 24:
        raise CaptureError(
            name, len(head), f"file too short for a pcap header ({len(head)} of 24 bytes)"
        )
    magic = struct.unpack_from("<I", head, 0)[0]
    if magic not in MAGICS:
        raise CaptureError(name, 0, f"not a pcap file (magic 0x{magic:08x})")
    order, res, extra = MAGICS[magic]
    vmaj, vmin, zone, sig, snap, net = struct.unpack_from(order + "HHiIII", head, 4)
    fcs = ((net >> 28) & 0xF) * 2 if net & 0x04000000 else None
    return PcapHeader(order, res, (vmaj, vmin), zone, sig, snap, net & 0xFFFF, fcs, extra)


class PcapScanner:
    """Yields :class:`RawChunk` record boundaries block by block; reports damage as warnings."""

    def __init__(self, name: str, header: PcapHeader, warn: Callable[[int, str], None]) -> None:
        self.name = name
        self.h = header
        self.warn = warn
        self.hdr_len = 16 + header.record_extra
        self.max_record = max(MAX_RECORD, header.snaplen if header.snaplen < (1 << 27) else 0)
        self.incl_at = struct.Struct(header.byte_order + "8xI").unpack_from
        self.rec = struct.Struct(header.byte_order + "IIII").unpack_from
        self.frac_max = 1_000_000 if header.ts_resolution == "us" else 1_000_000_000
        self.frac_mult = 1000 if header.ts_resolution == "us" else 1
        self.last_ts_sec: int | None = None
        self._warned_snap = False
        self._warned_orig = False

    def chunks(self, bf: BlockFile) -> Iterator[RawChunk]:
        bf.fill()
        bf.start = min(24, bf.end)
        hl = self.hdr_len
        limit = self.max_record
        incl_at = self.incl_at
        while True:
            bf.fill()
            buf = bf.buf
            hdr = None
            if kernels.worth():
                offs, hdr, pos, damaged = kernels.walk_pcap(
                    bf.array(), bf.start, bf.end, hl, limit, self.h.byte_order == ">"
                )
            else:
                offs, pos, damaged = self._walk_python(buf, bf.start, bf.end)
            bf.start = int(pos)
            if len(offs):
                yield self._chunk(bf, offs, hdr)
            if damaged:
                if not self._resync(bf):
                    return
                continue
            if bf.eof and bf.end == bf.start:
                return
            if bf.eof:
                left = bf.end - bf.start
                if left >= hl:
                    incl = incl_at(buf, bf.start)[0]
                    self.warn(
                        bf.base + bf.start,
                        f"truncated record: header says {incl} bytes of frame data, only "
                        f"{left - hl} present (file cut short)",
                    )
                else:
                    self.warn(bf.base + bf.start, f"truncated record header ({left} of {hl} bytes)")
                return
            # a record larger than the block: grow for it
            if bf.end - bf.start >= hl:
                need = hl + incl_at(buf, bf.start)[0]
                if need > bf.block_size:
                    bf.fill(need)

    def _walk_python(self, buf, pos: int, end: int) -> tuple[list[int], int, bool]:
        """The record walk without numba (capture/kernels.py has the compiled one)."""
        hl, limit, incl_at = self.hdr_len, self.max_record, self.incl_at
        offs: list[int] = []
        append = offs.append
        while pos + hl <= end:
            incl = incl_at(buf, pos)[0]
            if incl > limit:
                return offs, pos, True
            nxt = pos + hl + incl
            if nxt > end:
                break
            append(pos)
            pos = nxt
        return offs, pos, False

    def _chunk(self, bf: BlockFile, offs, hdr: np.ndarray | None = None) -> RawChunk:
        """The chunk of records at *offs*; *hdr* (4, n): their header words when the compiled
        walk read them already."""
        arr = bf.array()
        o = np.asarray(offs, dtype=np.int64)
        if hdr is None:
            rows = np.lib.stride_tricks.sliding_window_view(arr, 16)[o]
            hdr = rows.view(np.dtype(self.h.byte_order + "u4")).T  # (4, n)
        sec = hdr[0].astype(np.int64)
        frac = hdr[1].astype(np.int64)
        incl = hdr[2].astype(np.uint32)
        orig = hdr[3].astype(np.uint32)
        if not self._warned_snap and self.h.snaplen and (incl > self.h.snaplen).any():
            i = int(np.argmax(incl > self.h.snaplen))
            self.warn(
                bf.base + int(o[i]),
                f"record of {int(incl[i])} bytes exceeds the snap length {self.h.snaplen} (kept whole)",
            )
            self._warned_snap = True
        if not self._warned_orig and (orig < incl).any():
            i = int(np.argmax(orig < incl))
            self.warn(
                bf.base + int(o[i]),
                f"record's original length {int(orig[i])} is less than its captured length {int(incl[i])}",
            )
            self._warned_orig = True
        self.last_ts_sec = int(sec[-1])
        return RawChunk(
            buf=arr,
            base=bf.base,
            data_off=o + self.hdr_len,
            caplen=incl,
            origlen=orig,
            ts_ns=sec * 1_000_000_000 + frac * self.frac_mult,
            iface=np.zeros(len(o), dtype=np.uint16),
        )

    def _plausible(self, buf, p: int, end: int, eof: bool) -> bool | None:
        """Whether a record header at *p* (and the one after it) looks real; None: need more bytes."""
        hl = self.hdr_len
        if p + hl > end:
            return None if not eof else False
        sec, frac, incl, orig = self.rec(buf, p)
        if incl > self.max_record or orig < incl or orig > (1 << 24) or frac >= self.frac_max:
            return False
        if self.last_ts_sec is not None and not (
            self.last_ts_sec - 86400 <= sec <= self.last_ts_sec + 86400 * 3660
        ):
            return False
        nxt = p + hl + incl
        if nxt == end and eof:
            return True
        if nxt + hl > end:
            return None if not eof else False
        sec2, frac2, incl2, orig2 = self.rec(buf, nxt)
        return (
            incl2 <= self.max_record
            and orig2 >= incl2
            and frac2 < self.frac_max
            and abs(sec2 - sec) < 86400 * 30
        )

    def _candidates(self, bf: BlockFile, lo: int, hi: int) -> np.ndarray:
        """Positions in [lo, hi) whose 16 bytes pass the cheap record-header checks (vectorized)."""
        arr = bf.array()[: bf.end]
        dt = np.dtype(self.h.byte_order + "u4")
        found = []
        for a in range(4):
            first = lo + ((a - lo) % 4)
            m = (bf.end - first) // 4
            if m < 4:
                continue
            v = arr[first : first + 4 * m].view(dt)
            frac, incl, orig = v[1 : m - 2], v[2 : m - 1], v[3:m]
            ok = (incl <= self.max_record) & (orig >= incl) & (frac < self.frac_max)
            pos = first + 4 * np.flatnonzero(ok)
            found.append(pos[pos < hi])
        return np.sort(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)

    def _resync(self, bf: BlockFile) -> bool:
        """Skip damaged bytes to the next plausible record; False when none is left."""
        start_off = bf.base + bf.start
        claimed = self.incl_at(bf.buf, bf.start)[0]
        p = bf.start + 1
        while True:
            end = bf.end
            hi = max(p, end - self.hdr_len + 1)
            for c in self._candidates(bf, p, hi).tolist():
                verdict = self._plausible(bf.buf, c, end, bf.eof)
                if verdict is None:
                    hi = c
                    break
                if verdict:
                    self.warn(
                        start_off,
                        f"damaged record header (claims {claimed} bytes, more than {self.max_record}); "
                        f"skipped {bf.base + c - start_off} bytes to the next plausible record at "
                        f"byte {bf.base + c}",
                    )
                    bf.start = c
                    return True
            p = max(p, hi)
            if bf.eof:
                self.warn(
                    start_off,
                    f"damaged record header (claims {claimed} bytes, more than {self.max_record}); "
                    f"no readable record after it ({bf.base + bf.end - start_off} bytes ignored)",
                )
                bf.start = bf.end
                return False
            # keep enough bytes before p that a record starting there can still be checked
            bf.start = max(bf.start, p - 2 * self.hdr_len)
            p_rel = p - bf.start
            bf.fill(need=(bf.end - bf.start) + self.max_record + 2 * self.hdr_len)
            p = bf.start + p_rel
