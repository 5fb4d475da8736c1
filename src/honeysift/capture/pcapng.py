"""pcapng files: sections, interfaces and packet blocks.

Format: draft-ietf-opsawg-pcapng (section 4.1 SHB, 4.2 IDB with if_tsresol/if_tsoffset,
4.3 EPB, 4.4 SPB, appendix A obsolete Packet Block). Blocks are walked in a tight loop; packet
fields are then gathered for all packet blocks of a buffer at once with numpy.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from honeysift.capture import kernels
from honeysift.capture.blocks import BlockFile, RawChunk
from honeysift.errors import CaptureError

SHB = 0x0A0D0D0A
IDB = 0x00000001
PB_OBSOLETE = 0x00000002
SPB = 0x00000003
NRB = 0x00000004
ISB = 0x00000005
EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D

KNOWN_BLOCKS = {SHB, IDB, PB_OBSOLETE, SPB, NRB, ISB, EPB, 0x7, 0x9, 0xA, 0xB, 0xBAD, 0x40000BAD}
#: Block types a resync may land on (section headers are checked by their byte-order magic).
_RESYNC_TYPES = np.array([EPB, SPB, IDB, ISB, NRB, PB_OBSOLETE], dtype=np.uint32)
MAX_BLOCK = 1 << 24  # no sane block (even a 256 KiB packet with options) comes near 16 MiB
_WINDOW = 1 << 20  # bytes searched at once for a block to resync on


@dataclass(slots=True)
class Interface:
    section: int
    linktype: int
    snaplen: int
    tsresol_code: int  # raw if_tsresol byte (6 = microseconds)
    tsoffset: int  # seconds
    name: str | None = None

    @property
    def ts_resolution(self) -> str:
        c = self.tsresol_code
        if c & 0x80:
            return f"2^-{c & 0x7F}"
        return {0: "s", 3: "ms", 6: "us", 9: "ns", 12: "ps"}.get(c, f"10^-{c}")


def looks_like_pcapng(head: bytes) -> bool:
    return len(head) >= 4 and struct.unpack_from("<I", head, 0)[0] == SHB


class PcapngScanner:
    """Walks blocks; yields :class:`RawChunk` packet boundaries; reports damage as warnings."""

    def __init__(self, name: str, warn: Callable[[int, str], None]) -> None:
        self.name = name
        self.warn = warn
        self.interfaces: list[Interface] = []
        self.section = -1
        self.section_ifaces: list[int] = []  # section-local id -> global interface index
        self.order = "<"
        self.version: tuple[int, int] | None = None
        self.byte_orders: list[str] = []
        self.block_counts: dict[str, int] = {}
        self.unknown_blocks = 0
        self._bad_iface_warned = False

    def _count(self, kind: str) -> None:
        self.block_counts[kind] = self.block_counts.get(kind, 0) + 1

    def _read_shb(self, buf, pos: int, end: int) -> int | None:
        """Parse a Section Header Block at *pos*; return its length, or None if unreadable."""
        if pos + 28 > end:
            return None
        bom = struct.unpack_from("<I", buf, pos + 8)[0]
        if bom == BYTE_ORDER_MAGIC:
            order = "<"
        elif bom == 0x4D3C2B1A:
            order = ">"
        else:
            return None
        blen = struct.unpack_from(order + "I", buf, pos + 4)[0]
        vmaj, vmin = struct.unpack_from(order + "HH", buf, pos + 12)
        if blen < 28 or blen % 4 or blen > MAX_BLOCK:
            return None
        self.order = order
        self.version = (vmaj, vmin)
        self.byte_orders.append("little-endian" if order == "<" else "big-endian")
        self.section += 1
        self.section_ifaces = []
        self._count("SHB")
        return blen

    def _read_idb(self, buf, pos: int, blen: int) -> None:
        o = self.order
        linktype, _res, snaplen = struct.unpack_from(o + "HHI", buf, pos + 8)
        tsresol, tsoffset, name = 6, 0, None
        p, stop = pos + 16, pos + blen - 4
        while p + 4 <= stop:  # options (section 3.5), each padded to 32 bits
            code, olen = struct.unpack_from(o + "HH", buf, p)
            if code == 0:
                break
            val = bytes(buf[p + 4 : min(p + 4 + olen, stop)])
            if code == 9 and olen >= 1:
                tsresol = val[0]
            elif code == 14 and olen == 8:
                tsoffset = struct.unpack(o + "q", val)[0]
            elif code == 2:
                name = val.decode("utf-8", "replace")
            p += 4 + ((olen + 3) & ~3)
        self.section_ifaces.append(len(self.interfaces))
        self.interfaces.append(Interface(self.section, linktype, snaplen, tsresol, tsoffset, name))
        self._count("IDB")

    def chunks(self, bf: BlockFile) -> Iterator[RawChunk]:
        bf.fill()
        first = self._read_shb(bf.buf, 0, bf.end)
        if first is None:
            raise CaptureError(
                self.name,
                0,
                "pcapng section header block is unreadable (bad byte-order magic or length)",
            )
        bf.start = first
        while True:
            bf.fill()
            buf, pos, end = bf.buf, bf.start, bf.end
            order = self.order
            hdr = struct.Struct(order + "II").unpack_from
            u32 = struct.Struct(order + "I").unpack_from
            epb: list[int] = []
            spb: list[int] = []
            opb: list[int] = []
            lens: list[int] = []
            damaged = None
            new_section = False
            fast = kernels.worth()
            runs: list[tuple[np.ndarray, np.ndarray]] = []
            while pos + 12 <= end:
                if fast:  # runs of well-formed EPBs in one compiled loop
                    o, ln, pos = kernels.walk_epb(bf.array(), pos, end, order == ">", MAX_BLOCK)
                    pos = int(pos)
                    if len(o):
                        runs.append((o, ln))
                    if pos + 12 > end:
                        break
                btype, blen = hdr(buf, pos)
                if btype == SHB:
                    new_section = True
                    break
                if blen < 12 or blen % 4 or blen > MAX_BLOCK:
                    damaged = f"block of type 0x{btype:08x} has an invalid length {blen}"
                    break
                if pos + blen > end:
                    break
                if u32(buf, pos + blen - 4)[0] != blen:
                    damaged = f"block of type 0x{btype:08x}: trailing length does not match {blen}"
                    break
                if btype == EPB:
                    epb.append(pos)
                    lens.append(blen)
                elif btype == SPB:
                    spb.append(pos)
                elif btype == PB_OBSOLETE:
                    opb.append(pos)
                elif btype == IDB:
                    self._read_idb(buf, pos, blen)
                elif btype in KNOWN_BLOCKS:
                    self._count({NRB: "NRB", ISB: "ISB"}.get(btype, f"0x{btype:x}"))
                else:
                    self.unknown_blocks += 1
                pos += blen
            bf.start = pos
            if runs:
                epb = np.concatenate([o for o, _ in runs] + [np.asarray(epb, np.int64)])
                lens = np.concatenate([ln for _, ln in runs] + [np.asarray(lens, np.int64)])
            if len(epb) or spb or opb:
                yield self._chunk(bf, epb, lens, spb, opb)
            if new_section:
                blen = self._read_shb(buf, pos, end)
                if blen is None:
                    if pos + 28 > end and not bf.eof:
                        bf.fill(need=bf.end - bf.start + 64)
                        continue
                    damaged = "unreadable section header block"
                else:
                    if pos + blen > end and not bf.eof:
                        bf.fill(need=bf.end - bf.start + blen)
                        continue
                    bf.start = pos + blen
                    continue
            if damaged:
                if not self._resync(bf, damaged):
                    return
                continue
            if bf.eof and bf.start == bf.end:
                return
            if bf.eof:
                left = bf.end - bf.start
                if left >= 8:
                    btype, blen = hdr(buf, bf.start)
                    self.warn(
                        bf.base + bf.start,
                        f"truncated block (type 0x{btype:08x}): {blen} bytes announced, {left} present (file cut short)",
                    )
                else:
                    self.warn(bf.base + bf.start, f"truncated block header ({left} bytes)")
                return
            if bf.end - bf.start >= 8:
                _, blen = hdr(buf, bf.start)
                if blen > bf.block_size:
                    bf.fill(blen)

    def _chunk(self, bf: BlockFile, epb, lens, spb: list[int], opb: list[int]) -> RawChunk:
        arr = bf.array()
        win = np.lib.stride_tricks.sliding_window_view(arr, 28)
        u4 = np.dtype(self.order + "u4")
        u2 = np.dtype(self.order + "u2")
        parts = []
        if len(epb):
            o = np.asarray(epb, dtype=np.int64)
            r = win[o]
            w = r.view(u4)  # (n, 7): type, len, iface, hi, lo, caplen, origlen
            blen = np.asarray(lens, dtype=np.int64)
            cap = w[:, 5].astype(np.int64)
            room = blen - 32
            bad = cap > room
            if bad.any():
                i = int(np.argmax(bad))
                self.warn(
                    bf.base + int(o[i]),
                    f"enhanced packet block claims {int(cap[i])} captured bytes, only {int(room[i])} fit in the block (clipped)",
                )
                cap = np.minimum(cap, np.maximum(room, 0))
            parts.append((o, o + 28, cap, w[:, 6], w[:, 2], w[:, 3], w[:, 4]))
        if opb:
            o = np.asarray(opb, dtype=np.int64)
            r = win[o]
            w = r.view(u4)
            iface = r[:, 8:10].copy().view(u2)[:, 0]
            blen = w[:, 1].astype(np.int64)
            cap = np.minimum(w[:, 5].astype(np.int64), np.maximum(blen - 32, 0))
            parts.append((o, o + 28, cap, w[:, 6], iface, w[:, 3], w[:, 4]))
        if spb:
            o = np.asarray(spb, dtype=np.int64)
            w = win[o].view(u4)
            blen = w[:, 1].astype(np.int64)
            orig = w[:, 2]
            snap = self.interfaces[self.section_ifaces[0]].snaplen if self.section_ifaces else 0
            cap = np.minimum(orig.astype(np.int64), np.maximum(blen - 16, 0))
            if snap:
                cap = np.minimum(cap, snap)
            z = np.zeros(len(o), dtype=np.uint32)
            parts.append((o, o + 12, cap, orig, z, z, z))
        cols = [np.concatenate([p[k] for p in parts]) for k in range(7)]
        if len(parts) > 1:
            order = np.argsort(cols[0], kind="stable")
            cols = [c[order] for c in cols]
        _, data_off, cap, orig, local_iface, hi, lo = cols
        gidx = np.asarray(self.section_ifaces, dtype=np.int64)
        local_iface = local_iface.astype(np.int64)
        unknown = local_iface >= len(gidx)
        if unknown.any() and not self._bad_iface_warned:
            self.warn(
                bf.base + int(cols[0][int(np.argmax(unknown))]),
                "packet block names an interface with no interface description block (not decoded)",
            )
            self._bad_iface_warned = True
        iface = np.where(
            unknown,
            0xFFFF,
            gidx[np.minimum(local_iface, max(len(gidx) - 1, 0))] if len(gidx) else 0xFFFF,
        )
        ts = self._timestamps(iface, hi.astype(np.uint64), lo.astype(np.uint64))
        return RawChunk(
            buf=arr,
            base=bf.base,
            data_off=data_off,
            caplen=cap.astype(np.uint32),
            origlen=orig.astype(np.uint32),
            ts_ns=ts,
            iface=iface.astype(np.uint16),
        )

    def _timestamps(self, iface: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        units = (hi << np.uint64(32)) | lo
        out = np.zeros(len(units), dtype=np.int64)
        for g in np.unique(iface).tolist():
            sel = iface == g
            if g >= len(self.interfaces):
                continue
            itf = self.interfaces[g]
            u = units[sel]
            code = itf.tsresol_code
            if code & 0x80:
                k = code & 0x7F
                if k <= 33:
                    mask = np.uint64((1 << k) - 1)
                    ns = (u >> np.uint64(k)).astype(np.int64) * 1_000_000_000 + (
                        ((u & mask) * np.uint64(1_000_000_000)) >> np.uint64(k)
                    ).astype(np.int64)
                else:
                    ns = (u.astype(np.float64) / float(1 << k) * 1e9).astype(np.int64)
            elif code <= 9:
                ns = u.astype(np.int64) * (10 ** (9 - code))
            elif code - 9 <= 19:
                ns = (u // np.uint64(10 ** (code - 9))).astype(np.int64)
            else:  # a unit below 1e-28 s (a damaged if_tsresol): every value is under 1 ns
                ns = np.zeros(len(u), np.int64)
            out[sel] = ns + itf.tsoffset * 1_000_000_000
        return out

    def _candidates(self, bf: BlockFile, lo: int, hi: int) -> Iterator[int]:
        """Positions in [lo, hi), at any byte alignment, where a block can resume: a known
        block type with a sane length whose trailing length agrees (or lies beyond the bytes
        read so far), or a section header with its byte-order magic (either order).
        Vectorized over 1 MiB windows: garbage costs no Python per byte and no temporaries
        the size of the block."""
        arr = bf.array()[: bf.end]
        u4 = np.dtype(self.order + "u4")
        little = self.order == "<"
        for w in range(lo, hi, _WINDOW):
            found = []
            for a in range(4):
                first = w + ((a - w) % 4)
                m = (min(bf.end, w + _WINDOW + 12) - first) // 4
                if m < 3:
                    continue
                v = arr[first : first + 4 * m].view(u4)
                btype, blen, third = v[: m - 2], v[1 : m - 1], v[2:m]
                ok = np.isin(btype, _RESYNC_TYPES) & (blen >= 12) & (blen <= MAX_BLOCK)
                ok &= blen % 4 == 0
                idx = np.flatnonzero(ok)
                pos = first + 4 * idx
                stop = pos + blen[idx]
                inside = stop <= bf.end
                tail = np.zeros(len(idx), np.int64)
                t = stop[inside] - 4
                for k in range(4):  # the trailing length, gathered at any alignment
                    tail[inside] |= arr[t + k].astype(np.int64) << (8 * (k if little else 3 - k))
                keep = np.where(inside, tail == blen[idx], not bf.eof)  # beyond: read on
                pos = pos[keep]
                shb = (btype == SHB) & ((third == BYTE_ORDER_MAGIC) | (third == 0x4D3C2B1A))
                pos = np.concatenate([pos, first + 4 * np.flatnonzero(shb)])
                found.append(pos[pos < min(hi, w + _WINDOW)])
            yield from np.sort(np.concatenate(found)).tolist() if found else ()

    def _resync(self, bf: BlockFile, why: str) -> bool:
        """Skip to the next block whose header and trailer lengths agree, or the next section
        header, at any byte offset (a bad length need not be a multiple of 4); False if none."""
        start_off = bf.base + bf.start
        p = bf.start + 1
        u32 = struct.Struct(self.order + "I").unpack_from
        while True:
            buf, end = bf.buf, bf.end
            hi = max(p, end - 12 + 1)
            for c in self._candidates(bf, p, hi):
                if u32(buf, c)[0] == SHB:
                    self.warn(
                        start_off,
                        f"{why}; skipped {bf.base + c - start_off} bytes to the next section at byte {bf.base + c}",
                    )
                    bf.start = c
                    return True
                blen = u32(buf, c + 4)[0]
                if c + blen > end:
                    if bf.eof:
                        continue
                    hi = c  # read on, then look again from here
                    break
                if u32(buf, c + blen - 4)[0] == blen:
                    self.warn(
                        start_off,
                        f"{why}; skipped {bf.base + c - start_off} bytes to the next block at byte {bf.base + c}",
                    )
                    bf.start = c
                    return True
            p = max(p, hi)
            if bf.eof:
                self.warn(
                    start_off,
                    f"{why}; no readable block after it ({bf.base + end - start_off} bytes ignored)",
                )
                bf.start = bf.end
                return False
            bf.start = max(bf.start, p - 8)
            rel = p - bf.start
            bf.fill(
                need=(bf.end - bf.start) + MAX_BLOCK
                if bf.end - bf.start > bf.block_size // 2
                else 0
            )
            p = bf.start + rel
