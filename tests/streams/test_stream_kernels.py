"""The compiled bulk reassembler (streams/kernels.py) against the Python reference
(streams/tcp.reassemble_direction): same content, gaps, overlap counts and retransmitted
bytes, on random segment sets built to hit every policy, and on every corpus trace through
``export_streams`` (files and index) with and without the compiled pass."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import honeysift
from honeysift.flows import build_flows
from honeysift.streams import export, kernels
from honeysift.streams.extract import SegmentIndex
from honeysift.streams.tcp import reassemble_direction
from tests.conftest import corpus_traces, trace_name

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba not installed")

FLAG_CHOICES = [0x10, 0x18, 0x18, 0x18, 0x02, 0x12, 0x11, 0x14, 0x04, 0x19]


def _direction(rng: np.random.Generator, n: int):
    """Segments of one direction: mostly in order, with retransmissions (same or other bytes),
    reordering, overlaps, jumps out of the window, keep-alives, SYN/FIN/RST, snap cuts."""
    isn = int(rng.integers(0, 1 << 32))
    source = rng.integers(0, 256, 4096, dtype=np.uint8)
    seq, flags, cap, wire, chunks = [], [], [], [], []
    at = 1
    for _ in range(n):
        kind = rng.integers(0, 10)
        length = int(rng.integers(0, 40))
        if kind == 0 and at > 1:  # retransmit or overlap something earlier
            s = int(rng.integers(max(1, at - 60), at))
        elif kind == 1:  # skip ahead: a gap
            s = at + int(rng.integers(1, 30))
        elif kind == 2:  # keep-alive
            s, length = at - 1, int(rng.integers(0, 2))
        elif kind == 3:  # out of the window
            s = at + (1 << 31) + int(rng.integers(0, 1000))
        else:
            s = at
        f = int(rng.choice(FLAG_CHOICES))
        if f & 0x02:
            s, length = 0, int(rng.integers(0, 3))
        payload = source[(s % 3000) : (s % 3000) + length].copy()
        if kind == 0 and rng.integers(0, 3) == 0 and length:  # a conflicting copy
            payload[int(rng.integers(0, length))] ^= 0xFF
        w = length
        c = length if rng.integers(0, 12) else int(rng.integers(0, length + 1))  # snap cut
        seq.append((isn + s) & 0xFFFFFFFF)
        flags.append(f)
        cap.append(c)
        wire.append(w)
        chunks.append(payload[:c].tobytes())
        if kind not in (0, 3) and not f & 0x02:
            at = max(at, s + length)
    return (
        np.asarray(seq, np.uint32),
        np.asarray(flags, np.uint8),
        np.asarray(cap, np.uint32),
        np.asarray(wire, np.uint32),
        chunks,
    )


def _kernel(directions):
    """Run the compiled pass over several directions laid out as in a capture file."""
    blob = bytearray(b"\xee" * 7)
    cols: dict[str, list] = {"seq": [], "flags": [], "cap": [], "wire": [], "poff": []}
    starts, ends = [], []
    for seq, flags, cap, wire, chunks in directions:
        starts.append(len(cols["seq"]))
        for i, ch in enumerate(chunks):
            cols["poff"].append(len(blob))
            blob += ch + b"\xee" * 3
            cols["seq"].append(seq[i])
            cols["flags"].append(flags[i])
            cols["cap"].append(cap[i])
            cols["wire"].append(wire[i])
        ends.append(len(cols["seq"]))
    data = np.frombuffer(bytes(blob), np.uint8)
    out = np.empty(max(1, sum(int(d[2].sum()) for d in directions)), np.uint8)
    res = kernels.reassemble_groups(
        np.asarray(starts, np.int64),
        np.asarray(ends, np.int64),
        np.asarray(cols["seq"], np.uint32),
        np.asarray(cols["flags"], np.uint8),
        np.asarray(cols["cap"], np.uint32),
        np.asarray(cols["wire"], np.uint32),
        np.asarray(cols["poff"], np.int64),
        data,
        out,
    )
    cs, cl, ngap, miss, nov, ncf, rtx, gf, goff, glen = res
    for g in range(len(directions)):
        gaps = list(
            zip(goff[gf[g] : gf[g + 1]].tolist(), glen[gf[g] : gf[g + 1]].tolist(), strict=True)
        )
        yield (
            out[cs[g] : cs[g] + cl[g]].tobytes(),
            gaps,
            int(ngap[g]),
            int(miss[g]),
            int(nov[g]),
            int(ncf[g]),
            int(rtx[g]),
        )


def _reference(seq, flags, cap, wire, chunks):
    n = len(chunks)
    st_ = reassemble_direction(
        seq, flags, cap, np.arange(1, n + 1), np.zeros(n, np.int64), chunks, wire_len=wire
    )
    return (
        st_.read(),
        list(st_.gaps),
        len(st_.gaps),
        st_.missing_bytes,
        len(st_.overlaps),
        len(st_.conflicts),
        st_.retransmitted_bytes,
    )


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sizes=st.lists(st.integers(1, 60), min_size=1, max_size=6))
def test_kernel_matches_python_reassembler(seed, sizes):
    rng = np.random.default_rng(seed)
    directions = [_direction(rng, n) for n in sizes]
    got = list(_kernel(directions))
    for d, g in zip(directions, got, strict=True):
        assert g == _reference(*d)


def test_kernel_on_policies_by_hand():
    """One of each: SYN then in order, a retransmission, a conflicting overlap, a gap, a
    keep-alive, data after the FIN, and a segment after an RST."""
    isn = 0xFFFFFFF0  # the stream wraps around 2**32
    seq = np.asarray([isn, isn + 1, isn + 6, isn + 4, isn + 20, isn + 23, isn + 24, isn + 26,
                      isn + 30], np.int64) & 0xFFFFFFFF  # fmt: skip
    flags = np.asarray([0x02, 0x18, 0x18, 0x18, 0x18, 0x10, 0x19, 0x18, 0x04], np.uint8)
    chunks = [b"", b"hello", b"world", b"loXo", b"abcd", b"d", b"zz", b"late", b"rst!"]
    wire = np.asarray([len(c) for c in chunks], np.uint32)
    d = (seq.astype(np.uint32), flags, wire.copy(), wire, chunks)
    (content, gaps, ngap, miss, nov, ncf, rtx), = _kernel([d])  # fmt: skip
    assert content == b"helloworldabcdzz"  # the keep-alive's "d", "late" and "rst!" are not data
    assert gaps == [(10, 9)]  # bytes 11..19 of the sequence space were never seen
    assert (nov, ncf) == (2, 1)  # "lo" retransmitted, "Xo" conflicts with "wo"
    assert rtx == 2
    assert (content, gaps, ngap, miss, nov, ncf, rtx) == _reference(*d)


@pytest.mark.parametrize("trace", corpus_traces(), ids=trace_name)
def test_export_same_with_and_without_kernel(trace, tmp_path, monkeypatch):
    """Files and index of every corpus trace: compiled bulk pass == Python reassembler."""
    results = []
    for compiled in (True, False):
        monkeypatch.setattr(kernels, "wanted", lambda c=compiled: c)
        out = tmp_path / str(compiled)
        with honeysift.open(str(trace)) as cap:
            flows = build_flows(cap, packet_flows=True)
            seg = SegmentIndex(cap, flows.packet_flow, flows.packet_dir)
            try:
                index = export.export_streams(seg, flows, out, batch_bytes=4096)
            finally:
                seg.close()
        files = {p.name: p.read_bytes() for p in out.iterdir()}
        results.append(([e.to_dict() for e in index], files))
    assert results[0] == results[1]


def test_export_error_in_writer_thread_is_raised(corpus, tmp_path):
    """A file the writer threads cannot create (a directory holds its name) stops the export
    with that OSError, after the batches in flight drained: no hang, no silent loss."""
    trace = corpus / "traces" / "http__1000-requests-one-dropped-response.pcap.gz"
    out = tmp_path / "out"
    with honeysift.open(str(trace)) as cap:
        flows = build_flows(cap, packet_flows=True)
        seg = SegmentIndex(cap, flows.packet_flow, flows.packet_dir)
        try:
            index = export.export_streams(seg, flows, tmp_path / "probe", write_files=False)
            victim = index[len(index) // 2].file
            assert victim
            (out / victim).mkdir(parents=True)
            with pytest.raises(IsADirectoryError):
                export.export_streams(seg, flows, out, write_index=True, batch_bytes=4096)
        finally:
            seg.close()


@pytest.mark.parametrize("path", ["native", "hashlib", "python"])
def test_export_does_not_follow_a_planted_symlink(corpus, tmp_path, monkeypatch, path):
    """A symlink planted in the output directory under a stream's name is not followed (the
    file it points to stays as it was) and the export stops with the error, whichever writer
    runs: compiled libc calls, the threads' os/hashlib fallback, or the Python reassembler."""
    if path == "hashlib":
        monkeypatch.setattr(kernels, "native_io", lambda: None)
    if path == "python":
        monkeypatch.setattr(kernels, "wanted", lambda: False)
    trace = corpus / "traces" / "http__get.pcap"
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"keep me")
    out = tmp_path / "out"
    with honeysift.open(str(trace)) as cap:
        flows = build_flows(cap, packet_flows=True)
        seg = SegmentIndex(cap, flows.packet_flow, flows.packet_dir)
        try:
            name = export.export_streams(seg, flows, None, write_files=False)[0].file
            out.mkdir()
            (out / name).symlink_to(victim)
            with pytest.raises(OSError):
                export.export_streams(seg, flows, out)
        finally:
            seg.close()
    assert victim.read_bytes() == b"keep me"


def _simple_case(seed: int, sizes: list[int]) -> list[bool]:
    """Random directions (every other one clean and in order, so both answers occur) through
    the compiled and the numpy _simple_groups; asserts they agree, returns the answers."""
    from honeysift.streams.extract import _simple_groups

    rng = np.random.default_rng(seed)
    cols: dict[str, list] = {"seq": [], "flags": [], "cap": [], "wire": []}
    starts, ends = [], []
    for k, n in enumerate(sizes):
        if k % 2:
            seq, flags, cap, wire, _ = _direction(rng, n)
        else:  # in order, SYN first sometimes, pure ACKs inside or outside the data
            s0 = int(rng.integers(0, 1 << 32))
            lens = rng.integers(0, 30, n)
            seq = (s0 + np.concatenate(([0], np.cumsum(lens)[:-1]))) & 0xFFFFFFFF
            seq = seq + (rng.integers(0, 20, n) == 0) * rng.integers(-2, 3, n)
            flags = np.where(lens > 0, 0x18, 0x10)
            if rng.integers(0, 2):
                flags[-1] |= 0x01  # a FIN last
            cap = wire = lens
        starts.append(len(cols["seq"]))
        for name, v in zip(("seq", "flags", "cap", "wire"), (seq, flags, cap, wire), strict=True):
            cols[name].extend(np.asarray(v).tolist())
        ends.append(len(cols["seq"]))
    c = {
        "seq": np.asarray(cols["seq"], np.int64).astype(np.uint32),
        "flags": np.asarray(cols["flags"], np.uint8),
        "cap": np.asarray(cols["cap"], np.uint32),
        "wire": np.asarray(cols["wire"], np.uint32),
    }
    s, e = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    got = kernels.simple_groups(s, e, c["seq"], c["flags"], c["cap"], c["wire"])
    assert got.tolist() == _simple_groups(c, s, e).tolist()
    return got.tolist()


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sizes=st.lists(st.integers(1, 40), min_size=1, max_size=8))
def test_simple_groups_compiled_matches_numpy(seed, sizes):
    """Which directions may be joined without the full reassembler: both passes agree."""
    _simple_case(seed, sizes)


def test_simple_groups_cases_meet_both_answers():
    seen = set()
    for seed in range(40):
        seen.update(_simple_case(seed, [5, 12, 30, 3]))
    assert seen == {True, False}


@pytest.mark.parametrize("trace", corpus_traces(), ids=trace_name)
def test_simple_groups_compiled_matches_numpy_on_corpus(trace):
    from honeysift.streams.extract import _simple_groups

    with honeysift.open(str(trace)) as cap:
        flows = build_flows(cap, packet_flows=True)
        seg = SegmentIndex(cap, flows.packet_flow, flows.packet_dir)
        c = seg.c
        if not c["flow"].size:
            return
        got = seg.simple
        assert got.tolist() == _simple_groups(c, seg.starts, seg.ends).tolist()
        seg.close()


@pytest.mark.parametrize("trace", corpus_traces(), ids=trace_name)
def test_bulk_export_writes_what_write_streams_writes(trace, tmp_path):
    """The command's bulk path (names formatted as columns, compiled reassembly) and the
    library's write_streams (names one by one, the Python reassembler; the path compared with
    tcpflow's reference files in test_streams_vs_tcpflow) write the same files and index."""
    from honeysift.streams.extract import iter_tcp_streams

    with honeysift.open(str(trace)) as cap:
        flows = build_flows(cap, packet_flows=True)
        lib = export.write_streams(
            iter_tcp_streams(cap, flows.packet_flow, flows.packet_dir), flows, tmp_path / "lib"
        )
        seg = SegmentIndex(cap, flows.packet_flow, flows.packet_dir)
        try:
            bulk = export.export_streams(seg, flows, tmp_path / "bulk")
        finally:
            seg.close()
    assert [e.to_dict() for e in bulk] == [e.to_dict() for e in lib]
    read = {}
    for side in ("lib", "bulk"):
        read[side] = {p.name: p.read_bytes() for p in (tmp_path / side).iterdir()}
    assert read["bulk"] == read["lib"]
