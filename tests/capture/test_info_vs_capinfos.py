"""``honeysift info --json`` agrees with capinfos on every corpus trace.

Reference values: tests/data/capinfos.tsv (made by tests/data/make_capinfos.sh). capinfos
names encapsulations in its own vocabulary; the map below pairs them with LINKTYPE names.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from honeysift.cli import main
from tests.conftest import CORPUS

DATA = Path(__file__).resolve().parents[1] / "data" / "capinfos.tsv"
ENCAP = {"ether": ["EN10MB"], "null": ["NULL"], "linux-sll2": ["LINUX_SLL2"], "rawip": ["RAW"]}


def _rows() -> list[dict[str, str]]:
    lines = [ln for ln in DATA.read_text().splitlines() if not ln.startswith("#")]
    header = lines[0].split("\t")
    return [dict(zip(header, ln.split("\t"), strict=True)) for ln in lines[1:]]


def _ns(epoch: str) -> int:
    sec, _, frac = epoch.partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])


def _tshark_truncated(file: str) -> int | None:
    """Frames with frame.cap_len < frame.len in the recorded tshark dump of the trace."""
    import gzip

    ref = DATA.parent / "tshark_fields" / (file.split(".")[0] + ".tsv.gz")
    if not ref.exists():
        return None  # tunnel traces have no per-packet tshark dump
    lines = gzip.decompress(ref.read_bytes()).decode().splitlines()[2:]
    return sum(1 for ln in lines if int(ln.split("\t")[2]) < int(ln.split("\t")[1]))


@pytest.mark.parametrize("row", _rows(), ids=lambda r: r["file"])
def test_info_matches_capinfos(row: dict[str, str], corpus: Path) -> None:
    path = CORPUS / "traces" / row["file"]
    res = CliRunner().invoke(main, ["info", "--json", str(path)])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["packets"] == int(row["packets"])
    assert info["bytes"] == int(row["data_size"])
    assert info["first_ns"] == _ns(row["first"])
    assert info["last_ns"] == _ns(row["last"])
    assert abs(info["first_ts"] - _ns(row["first"]) / 1e9) < 1e-6
    # capinfos calls nanosecond pcap "nsecpcap"; we say pcap with ns resolution
    if row["file_type"] == "nsecpcap":
        assert (info["format"], info["ts_resolution"]) == ("pcap", "ns")
    else:
        assert info["format"] == row["file_type"]
    assert info["linktypes"] == ENCAP[row["encapsulation"]]
    expected_truncated = _tshark_truncated(row["file"])
    if expected_truncated is not None:
        assert info["truncated_frames"] == expected_truncated
    assert len(info["md5"]) == 32 and len(info["sha256"]) == 64


def test_compressed_capture_reports_both_hashes(corpus: Path) -> None:
    import gzip
    import hashlib

    path = CORPUS / "traces" / "http__1000-requests-one-dropped-response.pcap.gz"
    res = CliRunner().invoke(main, ["info", "--json", str(path)])
    info = json.loads(res.stdout)
    raw = path.read_bytes()
    assert info["compression"] == "gzip"
    assert info["md5"] == hashlib.md5(raw).hexdigest()
    assert info["sha256"] == hashlib.sha256(raw).hexdigest()
    plain = gzip.decompress(raw)
    assert info["decompressed_md5"] == hashlib.md5(plain).hexdigest()
    assert info["decompressed_size"] == len(plain)
