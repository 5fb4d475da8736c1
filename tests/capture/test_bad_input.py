"""Damaged and hostile capture files: a clear message with the byte offset, never a traceback,
never a hang, and everything before the damage is still read."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import honeysift
from honeysift.cli import main
from honeysift.errors import CaptureError
from tests.conftest import CORPUS

SAMPLE = CORPUS / "traces" / "http__get.pcap"  # 14 packets, little-endian usec pcap


def _sample(corpus) -> bytes:
    return SAMPLE.read_bytes()


def _record_offsets(data: bytes) -> list[int]:
    offs, pos = [], 24
    while pos + 16 <= len(data):
        offs.append(pos)
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    return offs


def _info(path: Path) -> tuple[int, dict | None, str]:
    res = CliRunner().invoke(main, ["info", "--json", str(path)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    try:
        data = json.loads(res.stdout) if res.stdout.strip() else None
    except json.JSONDecodeError:
        data = None
    return res.exit_code, data, res.stderr


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.pcap"
    p.write_bytes(b"")
    code, data, err = _info(p)
    assert code == 2 and data is None
    assert "empty file" in err and str(p) in err
    assert "Traceback" not in err


def test_garbage_file(tmp_path: Path) -> None:
    p = tmp_path / "garbage.bin"
    p.write_bytes(b"this is not a capture at all" * 10)
    code, _, err = _info(p)
    assert code == 2
    assert "byte 0" in err and "not a pcap file" in err


def test_header_too_short(tmp_path: Path, corpus) -> None:
    p = tmp_path / "short.pcap"
    p.write_bytes(_sample(corpus)[:20])
    code, _, err = _info(p)
    assert code == 2 and "too short" in err


def test_missing_file_and_directory(tmp_path: Path) -> None:
    code, _, err = _info(tmp_path / "nope.pcap")
    assert code == 2 and "no such file" in err
    code, _, err = _info(tmp_path)
    assert code == 2 and "directory" in err


def test_truncated_last_record(tmp_path: Path, corpus) -> None:
    data = _sample(corpus)
    last = _record_offsets(data)[-1]
    p = tmp_path / "cut.pcap"
    p.write_bytes(data[: last + 16 + 10])  # header of the last record + 10 of its bytes
    code, info, err = _info(p)
    assert code == 1
    assert info["packets"] == 13  # everything before the damage
    assert f"byte {last}" in err and "truncated record" in err


def test_absurd_record_length_resyncs(tmp_path: Path, corpus) -> None:
    data = bytearray(_sample(corpus))
    offs = _record_offsets(bytes(data))
    struct.pack_into("<I", data, offs[5] + 8, 0x7FFFFFF0)  # record 6 claims ~2 GB
    p = tmp_path / "absurd.pcap"
    p.write_bytes(bytes(data))
    code, info, err = _info(p)
    assert code == 1
    assert f"byte {offs[5]}" in err and "damaged record header" in err
    # records 1-5 before it and 7-14 after it are read: only the damaged one is lost
    assert info["packets"] == 13


def test_record_beyond_snaplen_is_kept(tmp_path: Path, corpus) -> None:
    data = bytearray(_sample(corpus))
    struct.pack_into("<I", data, 16, 100)  # snaplen 100, but frames are longer
    p = tmp_path / "snap.pcap"
    p.write_bytes(bytes(data))
    code, info, err = _info(p)
    assert info["packets"] == 14
    assert "exceeds the snap length 100" in err


def test_unknown_link_type_counted_not_decoded(tmp_path: Path, corpus) -> None:
    data = bytearray(_sample(corpus))
    struct.pack_into("<I", data, 20, 147)  # LINKTYPE_USER0
    p = tmp_path / "user0.pcap"
    p.write_bytes(bytes(data))
    code, info, err = _info(p)
    assert code == 0  # not damage: the file is fine, we just do not decode that link type
    assert info["packets"] == 14 and info["undecodable_frames"] == 14
    assert err.count("USER0") == 1  # one clear warning, not one per frame


@pytest.mark.parametrize(
    "compress", [gzip.compress, bz2.compress, lzma.compress], ids=["gzip", "bzip2", "xz"]
)
def test_compressed_by_magic_not_name(tmp_path: Path, corpus, compress) -> None:
    p = tmp_path / "capture.dat"  # no telling extension
    p.write_bytes(compress(_sample(corpus)))
    code, info, _ = _info(p)
    assert code == 0 and info["packets"] == 14 and info["compression"] is not None


def test_truncated_gzip_keeps_what_decompressed(tmp_path: Path, corpus) -> None:
    blob = gzip.compress(_sample(corpus) * 1)
    p = tmp_path / "cut.pcap.gz"
    p.write_bytes(blob[: len(blob) - 30])
    code, info, err = _info(p)
    assert code == 1
    assert info is not None and info["packets"] >= 1
    assert "gzip stream ends early" in err


def test_stdin_closed_early(corpus) -> None:
    data = _sample(corpus)
    cut = data[: len(data) - 7]
    proc = subprocess.run(
        [sys.executable, "-m", "honeysift", "info", "--json", "-"],
        input=cut,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["packets"] == 13
    assert b"truncated record" in proc.stderr and b"Traceback" not in proc.stderr


def test_stdin_whole(corpus) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "honeysift", "info", "--json", "-"],
        input=gzip.compress(_sample(corpus)),
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["packets"] == 14


def _pcapng_blocks(data: bytes) -> list[tuple[int, int, int]]:
    out, pos = [], 0
    while pos + 8 <= len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        out.append((pos, btype, blen))
        pos += blen
    return out


def test_pcapng_bad_block_length(tmp_path: Path, corpus) -> None:
    data = bytearray((CORPUS / "traces" / "irc-dcc-state-growth.pcapng").read_bytes())
    epbs = [b for b in _pcapng_blocks(bytes(data)) if b[1] == 6]
    pos = epbs[2][0]
    struct.pack_into("<I", data, pos + 4, 13)  # not a multiple of 4
    p = tmp_path / "bad.pcapng"
    p.write_bytes(bytes(data))
    code, info, err = _info(p)
    assert code == 1 and f"byte {pos}" in err and "invalid length 13" in err
    assert info["packets"] == len(epbs) - 1  # the damaged block is skipped, the rest read


def test_pcapng_truncated(tmp_path: Path, corpus) -> None:
    data = (CORPUS / "traces" / "irc-dcc-state-growth.pcapng").read_bytes()
    p = tmp_path / "cut.pcapng"
    p.write_bytes(data[:-40])
    code, info, err = _info(p)
    assert code == 1 and "truncated block" in err
    assert info["packets"] >= 1


def test_library_raises_only_capture_error(tmp_path: Path) -> None:
    p = tmp_path / "x.pcap"
    p.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 3)
    with pytest.raises(CaptureError) as exc:
        honeysift.open(str(p))
    assert exc.value.path == str(p)


def test_pcapng_absurd_decimal_tsresol_gives_zero_time_not_a_crash() -> None:
    """if_tsresol 10^-29 and finer (a damaged option byte; found by the reader fuzz test):
    the divisor does not fit 64 bits and every timestamp is under a nanosecond."""
    import numpy as np

    from honeysift.capture.pcapng import Interface, PcapngScanner

    sc = PcapngScanner("x", lambda off, msg: None)
    sc.interfaces = [Interface(0, 1, 0, code, 0) for code in (6, 28, 29, 120)]
    hi = np.array([1, 1, 1, 1], np.uint64)
    lo = np.array([5, 5, 5, 5], np.uint64)
    ts = sc._timestamps(np.arange(4), hi, lo)
    units = (1 << 32) + 5
    assert ts.tolist() == [units * 1000, units // 10**19, 0, 0]
