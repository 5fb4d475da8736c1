"""pcapng recovery after a damaged block: the next good block is found at any byte offset
(a bad length need not be a multiple of 4), however much garbage lies in between."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from honeysift.capture.reader import Capture

FRAME = bytes.fromhex("ffffffffffff001122334455") + b"\x08\x00" + bytes(46)


def _block(btype: int, body: bytes, length: int | None = None) -> bytes:
    """A block with its body padded to 32 bits; *length* overrides both length fields."""
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body) if length is None else length
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


SHB = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
IDB = _block(1, struct.pack("<HHI", 1, 0, 65535))


def _epb(i: int) -> bytes:
    return _block(6, struct.pack("<IIIII", 0, 0, i, len(FRAME), len(FRAME)) + FRAME)


def _read(path: Path, block_size: int = 16 << 20) -> tuple[list[int], list[str]]:
    """The timestamps (low words, which number the packets) read, and the warnings."""
    with Capture(str(path), block_size=block_size) as cap:
        ts = [int(t) for raw, _ in cap.raw_chunks() for t in raw.ts_ns // 1000]
        return ts, [str(w) for w in cap.warnings]


def test_unaligned_bad_length_skips_only_that_block(tmp_path: Path) -> None:
    """An EPB whose length field says 33 (not a multiple of 4) and that really is 33 bytes:
    the next block starts at an odd offset, and every packet after it is still read."""
    bad = struct.pack("<II", 6, 33) + bytes(21) + struct.pack("<I", 33)
    head = SHB + IDB + _epb(0)
    p = tmp_path / "unaligned.pcapng"
    p.write_bytes(head + bad + b"".join(_epb(i) for i in range(1, 7)))
    ts, warnings = _read(p)
    assert ts == list(range(7))
    assert warnings == [
        f"byte {len(head)}: block of type 0x00000006 has an invalid length 33; "
        f"skipped 33 bytes to the next block at byte {len(head) + 33}"
    ]


def test_name_resolution_block_of_odd_length(tmp_path: Path) -> None:
    """A 43-byte NRB (unpadded) used to hide everything after it."""
    rec = struct.pack("<HH", 1, 8) + bytes([10, 0, 0, 1]) + b"host" + struct.pack("<HH", 0, 0)
    nrb = struct.pack("<II", 4, 43) + rec + bytes(43 - 12 - len(rec)) + struct.pack("<I", 43)
    p = tmp_path / "nrb.pcapng"
    p.write_bytes(SHB + IDB + nrb + b"".join(_epb(i) for i in range(7)))
    ts, warnings = _read(p)
    assert ts == list(range(7))
    assert len(warnings) == 1 and "skipped 43 bytes" in warnings[0]


@pytest.mark.parametrize("block_size", [1 << 12, 16 << 20])
@pytest.mark.parametrize("shift", [0, 1, 2, 3])
def test_garbage_at_every_alignment(tmp_path: Path, block_size: int, shift: int) -> None:
    """Random bytes (no block in them) between two runs of packets, at each alignment and
    across many refills of a small block: the second run is found at its exact offset."""
    garbage = random.Random(shift).randbytes(300_000 + shift)
    first = SHB + IDB + b"".join(_epb(i) for i in range(20))
    damaged = struct.pack("<II", 6, 0xFFFFFFF1)  # an absurd length starts the damage
    p = tmp_path / "garbage.pcapng"
    p.write_bytes(first + damaged + garbage + b"".join(_epb(i) for i in range(20, 40)))
    ts, warnings = _read(p, block_size)
    assert ts == list(range(40))
    resume = len(first) + len(damaged) + len(garbage)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"byte {len(first)}: ")
    assert warnings[0].endswith(
        f"skipped {resume - len(first)} bytes to the next block at byte {resume}"
    )


def test_resync_lands_on_a_section_header_at_an_odd_offset(tmp_path: Path) -> None:
    """A new section after unaligned garbage is found too (by its byte-order magic)."""
    first = SHB + IDB + _epb(0)
    p = tmp_path / "section.pcapng"
    p.write_bytes(first + struct.pack("<II", 6, 7) + b"xyz" + SHB + IDB + _epb(1))
    ts, warnings = _read(p)
    assert ts == [0, 1]
    assert warnings[0].endswith(f"next section at byte {len(first) + 11}")


def test_candidate_search_agrees_with_a_byte_loop(tmp_path: Path) -> None:
    """The vectorized search finds exactly the offsets a plain loop over every byte finds."""
    from honeysift.capture.blocks import BlockFile
    from honeysift.capture.pcapng import PcapngScanner

    rng = random.Random(7)
    parts = [SHB, IDB]
    for i in range(200):  # blocks at every alignment, with junk and fake headers between
        parts.append(_epb(i))
        parts.append(rng.choice([b"", b"x", b"yz", b"\x06\x00\x00\x00\x40\x00\x00\x00q"]))
    data = b"".join(parts)
    p = tmp_path / "mixed.pcapng"
    p.write_bytes(data)
    with p.open("rb") as f:
        bf = BlockFile(f, 1 << 20)
        bf.fill()
        bf.eof = True
        got = list(PcapngScanner("x", lambda *_: None)._candidates(bf, 1, len(data) - 11))
    want = []
    for c in range(1, len(data) - 11):
        btype, blen, third = struct.unpack_from("<III", data, c)
        shb = btype == 0x0A0D0D0A and third in (0x1A2B3C4D, 0x4D3C2B1A)
        sane = btype in (1, 2, 3, 4, 5, 6) and 12 <= blen <= 1 << 24 and blen % 4 == 0
        whole = sane and c + blen <= len(data)
        if shb or (whole and struct.unpack_from("<I", data, c + blen - 4)[0] == blen):
            want.append(c)
    assert got == want and len(want) >= 201
