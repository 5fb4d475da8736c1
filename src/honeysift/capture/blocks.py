"""Sequential block reading with carry-over, shared by the pcap and pcapng scanners.

The file is read in large blocks into one reused buffer (fresh memory is costly to fault in,
and a reused buffer keeps peak memory at the block size). A record that straddles the end of
a block is carried to the front of the next one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Room after the valid bytes so fixed-width row gathers near the end never index past the
# array (the bytes there are garbage and every decoder bounds its reads by caplen).
GATHER_PAD = 256


@dataclass(slots=True)
class RawChunk:
    """Record boundaries of one block: what the decoder needs, nothing per packet in Python."""

    buf: np.ndarray  # uint8 view over the reused block buffer (valid until the next block)
    base: int  # file offset of buf[0]
    data_off: np.ndarray  # int64 offsets of frame data within buf
    caplen: np.ndarray  # uint32
    origlen: np.ndarray  # uint32
    ts_ns: np.ndarray  # int64
    iface: np.ndarray  # uint16 (index into the reader's interface list)


class BlockFile:
    """A file read forward in blocks; ``fill`` keeps unread bytes and appends new ones."""

    def __init__(self, f, block_size: int, on_read=None) -> None:
        self.f = f
        self.block_size = block_size
        self.buf = bytearray(block_size + GATHER_PAD)
        self.view = memoryview(self.buf)
        self.base = 0  # file offset of buf[0]
        self.start = 0  # first unconsumed byte in buf
        self.end = 0  # end of valid bytes in buf
        self.eof = False
        self.on_read = on_read

    def fill(self, need: int = 0) -> None:
        """Move unconsumed bytes to the front and read until the block is full (or EOF).

        ``need`` grows the buffer when a single record is larger than the block.
        """
        if self.start > self.end:  # a length field pointed past what was read: skip ahead
            self.base += self.start
            self.f.seek(self.base)
            self.start = self.end = 0
        keep = self.end - self.start
        if self.start:
            arr = self.array()
            arr[0:keep] = arr[self.start : self.end]  # numpy copes with the overlap
            self.base += self.start
            self.start = 0
            self.end = keep
        want = max(self.block_size, need)
        if len(self.buf) < want + GATHER_PAD:
            grown = bytearray(want + GATHER_PAD)  # a new buffer: old chunks may still view the old
            grown[:keep] = self.buf[:keep]
            self.buf = grown
            self.view = memoryview(self.buf)
        while self.end < want and not self.eof:
            n = self.f.readinto(self.view[self.end : want])
            if not n:
                self.eof = True
                break
            if self.on_read is not None:
                self.on_read(self.view[self.end : self.end + n])
            self.end += n

    def array(self) -> np.ndarray:
        return np.frombuffer(self.buf, dtype=np.uint8)
