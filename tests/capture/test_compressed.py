"""Compressed captures (capture/source.py): memory stays bounded whatever the expansion ratio,
damage keeps every byte decompressed before it and says where it was found, and concatenated
members and trailing data are handled however the input is sliced."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import random
import struct
import tracemalloc
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from honeysift.capture import source
from honeysift.capture.source import open_source
from honeysift.cli import main

BOMB = 64 << 20  # zeros: 64 KiB as gzip, 10 KiB as xz, 79 bytes as bzip2
_ZEROS = bytes(1 << 20)


def _compressor(kind: str):
    if kind == "gzip":
        return zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    if kind == "bzip2":
        return bz2.BZ2Compressor(9)
    return lzma.LZMACompressor(preset=0)


def _bomb(kind: str) -> bytes:
    c = _compressor(kind)
    return b"".join(c.compress(_ZEROS) for _ in range(BOMB // len(_ZEROS))) + c.flush()


COMPRESS = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}


def _pcap(n: int, rng: random.Random | None = None) -> bytes:
    """A little-endian usec pcap of *n* 60-byte Ethernet frames, each one numbered (with
    *rng*, random payloads, which compress little)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i in range(n):
        body = rng.randbytes(42) if rng else bytes(42)
        frame = b"\xff" * 6 + b"\x00\x11\x22\x33\x44\x55\x08\x00" + struct.pack(">I", i) + body
        out.append(struct.pack("<IIII", 1_000_000 + i, 0, len(frame), len(frame)) + frame)
    return b"".join(out)


def _info(path: Path) -> tuple[int, dict | None, str]:
    res = CliRunner().invoke(main, ["info", "--json", str(path)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, json.loads(res.stdout) if res.stdout.strip() else None, res.stderr


class _Counting:
    """A decompressor that records the size of every output it returns."""

    def __init__(self, dec, sizes: list[int]) -> None:
        self._dec, self._sizes = dec, sizes

    def decompress(self, data, max_length: int = -1) -> bytes:
        out = self._dec.decompress(data, max_length)
        self._sizes.append(len(out))
        return out

    def copy(self) -> _Counting:
        return _Counting(self._dec.copy(), self._sizes)

    def __getattr__(self, name: str):
        return getattr(self._dec, name)


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz"])
def test_bomb_is_decompressed_in_bounded_steps(tmp_path: Path, monkeypatch, kind: str) -> None:
    """64 MiB of zeros from a few KiB: no step returns more than the bound, Python's own peak
    stays a small multiple of it, and every byte still reaches the spool with the right hash."""
    p = tmp_path / "bomb.cap"
    p.write_bytes(_bomb(kind))
    sizes: list[int] = []
    real = source._decompressor
    monkeypatch.setattr(source, "_decompressor", lambda k: _Counting(real(k), sizes))
    tracemalloc.start()
    try:
        src = open_source(str(p))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    try:
        assert src.compression == kind and src.size == BOMB and not src.warnings
        assert src.sha256 == hashlib.sha256(bytes(BOMB)).hexdigest()
        assert max(sizes) <= source._OUT_LIMIT and sum(sizes) == BOMB
        assert peak < 8 * source._OUT_LIMIT + source._COPY_BLOCK  # old code: one 64 MiB bytes
    finally:
        src.close()


def test_bad_gzip_checksum_keeps_every_byte(tmp_path: Path) -> None:
    """Only the CRC-32 trailer is wrong: all the data decompressed (as ``gzip -dc`` gives),
    every packet read, and the warning names the byte where the check failed."""
    plain = _pcap(20_000)  # 1.5 MiB, so the damage is past the first read block
    blob = bytearray(gzip.compress(plain))
    blob[-8] ^= 0xFF
    p = tmp_path / "badcrc.pcap.gz"
    p.write_bytes(bytes(blob))
    code, info, err = _info(p)
    assert code == 1 and info["packets"] == 20_000
    assert info["decompressed_size"] == len(plain)
    assert info["decompressed_sha256"] == hashlib.sha256(plain).hexdigest()
    assert f"error found at compressed byte {len(blob) - 5}" in err  # the CRC's last byte
    assert "incorrect data check" in err


def _zlib_byte_by_byte(blob: bytes) -> tuple[bytes, int]:
    """Reference: what gzip yields fed one byte at a time, and the byte that fails."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = []
    for i in range(len(blob)):
        try:
            out.append(d.decompress(blob[i : i + 1]))
        except zlib.error:
            return b"".join(out), i
    raise AssertionError("the damage was not detected")


def test_damaged_small_gzip_keeps_what_precedes_the_damage(tmp_path: Path) -> None:
    """Damage in a file smaller than one read block: before, nothing was kept (exit 2); now
    every byte zlib yields before the failing byte is analysed, and that byte is named."""
    blob = bytearray(gzip.compress(_pcap(400)))
    for i in range(len(blob) // 2, len(blob) // 2 + 50):
        blob[i] ^= 0xFF
    want, bad = _zlib_byte_by_byte(bytes(blob))
    assert want
    p = tmp_path / "corrupt.pcap.gz"
    p.write_bytes(bytes(blob))
    src = open_source(str(p))
    try:
        assert src.size == len(want) and src.sha256 == hashlib.sha256(want).hexdigest()
        assert len(src.warnings) == 1 and f"at compressed byte {bad}" in src.warnings[0]
        assert f"analysing the {len(want)} bytes" in src.warnings[0]
    finally:
        src.close()
    code, info, _ = _info(p)
    assert code == 1 and info["packets"] > 0


@pytest.mark.parametrize("kind", ["bzip2", "xz"])
def test_damaged_bzip2_xz_say_which_step(tmp_path: Path, kind: str) -> None:
    """bzip2/xz decompressors cannot be copied, so the damage is placed to one input step and
    at most one output step is lost: the warning gives that range, and it holds the damaged
    byte (here in the stream's own check, which is found where it lies)."""
    plain = _pcap(3000, random.Random(1))  # ~230 KB that compresses to ~10 input steps
    c = _compressor(kind)
    blob = bytearray(c.compress(plain) + c.flush())
    if kind == "xz":  # the last byte of the block's check, just before the index and footer
        index = (struct.unpack_from("<I", blob, len(blob) - 8)[0] + 1) * 4
        bad = len(blob) - 12 - index - 1
    else:  # inside the stream's combined CRC (the last 32 bits before 0-7 padding bits)
        bad = len(blob) - 2
    blob[bad] ^= 0xFF
    p = tmp_path / "damaged.cap"
    p.write_bytes(bytes(blob))
    src = open_source(str(p))
    try:
        (w,) = src.warnings
        lo, hi = (int(x) for x in w.split("in compressed bytes ")[1].split(" ")[0].split("-"))
        assert lo <= bad <= hi and hi - lo < source._SLICE and lo > 0
        kept = Path(src.path).read_bytes()
        assert len(plain) - source._OUT_LIMIT <= len(kept) < len(plain)
        assert plain.startswith(kept)
    finally:
        src.close()


@pytest.mark.parametrize("slice_size", [1, 3, 7, 4096])
@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz"])
def test_members_and_trailing_data_at_any_slicing(
    tmp_path: Path, monkeypatch, kind: str, slice_size: int
) -> None:
    """Concatenated members are followed and trailing data is counted from where it starts,
    even when a step boundary splits the next member's magic."""
    monkeypatch.setattr(source, "_SLICE", slice_size)
    a, b = _pcap(30), b"more bytes" * 50
    two = COMPRESS[kind](a) + COMPRESS[kind](b)
    p = tmp_path / "two.cap"
    p.write_bytes(two + b"JUNK!")
    src = open_source(str(p))
    try:
        assert Path(src.path).read_bytes() == a + b
        assert src.warnings == [
            f"5 bytes of trailing data after the {kind} stream at compressed byte {len(two)} (ignored)"
        ]
        assert src.stored_sha256 == hashlib.sha256(two + b"JUNK!").hexdigest()
    finally:
        src.close()
    p.write_bytes(two[:-1])  # the second member cut short by one byte
    src = open_source(str(p))
    try:
        assert len(src.warnings) == 1 and "stream ends early" in src.warnings[0]
        assert (a + b).startswith(Path(src.path).read_bytes()) and src.size >= len(a)
    finally:
        src.close()


@pytest.mark.parametrize("command", ["info", "flows", "show"])
def test_decompression_warning_names_the_capture_once(tmp_path: Path, command: str) -> None:
    blob = gzip.compress(_pcap(50))
    p = tmp_path / "cut.pcap.gz"
    p.write_bytes(blob[:-30])
    res = CliRunner().invoke(main, [command, str(p)])
    assert res.exit_code == 1
    lines = [ln for ln in res.stderr.splitlines() if "stream ends early" in ln]
    assert len(lines) == 1 and lines[0].count(str(p)) == 1
    assert lines[0].startswith(f"honeysift: warning: {p}: gzip stream ends early")
