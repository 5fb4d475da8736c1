"""The compiled reader loops (capture/kernels.py) give exactly the tables of the Python/numpy
code they stand in for: on every corpus trace, on mutated (damaged) captures, and on frames
of random bytes behind plausible headers."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honeysift.capture import kernels
from honeysift.capture.decode import decode_frames
from honeysift.capture.reader import Capture
from honeysift.capture.table import COLUMN_DTYPES
from honeysift.errors import HoneysiftError
from tests.capture.test_fuzz_reader import SEED_DATA, _mutate, mutation
from tests.conftest import corpus_traces, trace_name

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba not installed")


@pytest.fixture(autouse=True)
def _always_compiled(monkeypatch):
    """The compiled loops on any size (they normally wait for a big capture)."""
    monkeypatch.setattr(kernels, "ALWAYS", True)


def _read(path: str, block: int, compiled: bool, monkeypatch) -> tuple[dict, list[str]]:
    monkeypatch.setattr(kernels, "AVAILABLE", compiled)
    try:
        with Capture(path, block_size=block) as cap:
            t = cap.packets()
            warnings = [str(w) for w in cap.warnings]
    except HoneysiftError as e:
        return {"error": str(e)}, []
    finally:
        monkeypatch.setattr(kernels, "AVAILABLE", True)
    cols = {k: getattr(t, k) for k in COLUMN_DTYPES}
    cols["_extra"] = t.extra_payload
    cols["_tunnels"] = t.tunnels
    return cols, warnings


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        elif isinstance(a[k], dict) and a[k] and isinstance(next(iter(a[k].values())), np.ndarray):
            assert a[k].keys() == b[k].keys()
            for kk in a[k]:
                np.testing.assert_array_equal(a[k][kk], b[k][kk], err_msg=f"{k}.{kk}")
        else:
            assert a[k] == b[k], k


@pytest.mark.parametrize("path", corpus_traces(), ids=trace_name)
def test_corpus_tables_identical(path: Path, monkeypatch) -> None:
    fast, wf = _read(str(path), 1 << 16, True, monkeypatch)
    slow, ws = _read(str(path), 1 << 16, False, monkeypatch)
    _assert_same(fast, slow)
    assert wf == ws


@pytest.mark.skipif(not SEED_DATA, reason="corpus not available")
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, len(SEED_DATA) - 1 if SEED_DATA else 0),
    muts=st.lists(mutation, min_size=1, max_size=6),
    junk=st.binary(min_size=64, max_size=64),
    block=st.sampled_from([512, 4096]),
)
def test_damaged_captures_identical(tmp_path_factory, monkeypatch, seed, muts, junk, block) -> None:
    path = tmp_path_factory.mktemp("k") / "m.cap"
    path.write_bytes(_mutate(SEED_DATA[seed], muts, junk))
    fast, wf = _read(str(path), block, True, monkeypatch)
    slow, ws = _read(str(path), block, False, monkeypatch)
    _assert_same(fast, slow)
    assert wf == ws


# Headers the fast path takes or must refuse: tags, IPv4/IPv6 with odd fields, transports.
_ETHER = st.sampled_from([0x0800, 0x86DD, 0x8100, 0x88A8, 0x0806, 0x8864, 0x9000])
_PROTO = st.sampled_from([6, 17, 1, 58, 47, 4, 41, 0, 44, 132])


@st.composite
def _frame(draw) -> tuple[bytes, int]:
    tags = draw(st.lists(st.sampled_from([0x8100, 0x88A8, 0x9100]), max_size=4))
    et = draw(_ETHER)
    b = bytearray(draw(st.binary(min_size=12, max_size=12)))
    for t in tags:
        b += struct.pack(">HH", t, draw(st.integers(0, 0xFFFF)))
    b += struct.pack(">H", et)
    if draw(st.booleans()):
        ihl = draw(st.sampled_from([5, 5, 6, 4, 15]))
        tot = draw(st.sampled_from([0, 20, 40, 60, 200, 0xFFFF]))
        ff = draw(st.sampled_from([0, 0x4000, 0x2000, 0x0001]))
        hdr = struct.pack(">BBHHHBBH", 0x40 | ihl, 0, tot, 7, ff, 64, draw(_PROTO), 0)
        b += hdr + draw(st.binary(min_size=8, max_size=8)) + b"\0" * (4 * max(ihl - 5, 0))
    else:
        plen = draw(st.sampled_from([0, 8, 20, 100, 0xFFFF]))
        b += struct.pack(">IHBB", 0x60000000, plen, draw(_PROTO), 64)
        b += draw(st.binary(min_size=32, max_size=32))
    # transport header: data offset and UDP length fields among the random bytes
    b += struct.pack(">HHIIBB", 1024, 80, 1, 2, draw(st.sampled_from([0x50, 0x40, 0xF0])), 0x12)
    b += struct.pack(">H", draw(st.sampled_from([0, 7, 8, 30, 0xFFFF])))
    b += draw(st.binary(max_size=40))
    cut = draw(st.integers(0, len(b)))
    orig = draw(st.sampled_from([len(b), cut, cut + 100, max(cut - 5, 0)]))
    return bytes(b[:cut]), orig


@settings(max_examples=300, deadline=None)
@given(frames=st.lists(_frame(), min_size=1, max_size=8), link=st.sampled_from([1, 1, 1, 101]))
def test_random_frames_identical(frames, link) -> None:
    buf = bytearray()
    offs, caps, origs = [], [], []
    for data, orig in frames:
        offs.append(len(buf))
        caps.append(len(data))
        origs.append(orig)
        buf += data
    arr = np.frombuffer(bytes(buf) + b"\xee" * 256, dtype=np.uint8)
    args = (
        arr,
        np.asarray(offs, np.int64),
        np.asarray(caps, np.uint32),
        np.asarray(origs, np.uint32),
        np.full(len(frames), link, np.uint16),
    )
    kernels.AVAILABLE = True
    try:
        fast = decode_frames(*args)
        kernels.AVAILABLE = False
        slow = decode_frames(*args)
    finally:
        kernels.AVAILABLE = True
    _assert_same(fast, slow)
