"""The bulk paths of ``show -V`` against the direct ones: the per-payload text cache (DNS/NBNS
transaction id put back per frame) and the column-wise header formatting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.netbios import NBNSHeader, NBNSQueryRequest

import honeysift.dissect as dissect_mod
import honeysift.dissect.tcp as dissect_tcp
from honeysift import parallel
from honeysift.capture.table import addr_to_halves, halves_to_addr
from honeysift.dissect import app, show_command
from honeysift.dissect.frames import _addr_col, _rel_col
from honeysift.report import show_text

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sotm27-mini.pcap"


def _direct(kind: str, data: bytes) -> str:
    return app.render_text(app.udp_record(kind, data).node)


def test_dns_text_cache_puts_each_frames_id_back() -> None:
    cache = app.UdpCache()
    msgs = [bytes(DNS(id=i, rd=1, qd=DNSQR(qname="www.example.com"))) for i in (1, 0xBEEF, 1)]
    recs = [cache.record("dns", m) for m in msgs]
    assert len(cache.entries) == 1  # one decode for the three datagrams
    for m, rec in zip(msgs, recs, strict=True):
        assert rec.text_of() == _direct("dns", m)
        assert rec.fields()["dns.id"] == [int.from_bytes(m[:2], "big")]
        assert rec.info == app.udp_record("dns", m).info
    assert "Transaction ID: 0xbeef" in recs[1].text_of()
    assert "0xbeef" in recs[1].info


def test_nbns_text_cache() -> None:
    cache = app.UdpCache()
    msgs = [
        bytes(NBNSHeader(NAME_TRN_ID=i) / NBNSQueryRequest(QUESTION_NAME="HONEY")) for i in (7, 8)
    ]
    recs = [cache.record("nbns", m) for m in msgs]
    assert len(cache.entries) == 1
    for m, rec in zip(msgs, recs, strict=True):
        assert rec.text_of() == _direct("nbns", m)


def test_pointer_into_the_id_is_not_masked() -> None:
    # an answer whose name is a compression pointer to offset 0: the id bytes are read as a
    # label, so datagrams differing only in the id must not share one text
    cache = app.UdpCache()
    base = bytes(DNS(id=0x0141, qr=1, qd=[], an=DNSRR(rrname="a.", type="A", rdata="1.2.3.4")))
    msgs = []
    for ident in (0x0141, 0x0142):
        m = bytearray(base)
        m[0:2] = ident.to_bytes(2, "big")
        at = m.index(b"\x01a\x00")
        msgs.append(bytes(m[:at]) + b"\xc0\x00" + bytes(m[at + 3 :]))
    recs = [cache.record("dns", m) for m in msgs]
    assert len(cache.entries) == 2
    for m, rec in zip(msgs, recs, strict=True):
        assert rec.text_of() == _direct("dns", m)


@settings(max_examples=200)
@given(st.binary(min_size=0, max_size=80), st.integers(0, 0xFFFF))
def test_cache_matches_direct_on_any_bytes(data: bytes, ident: int) -> None:
    cache = app.UdpCache()
    other = ident.to_bytes(2, "big") + data[2:] if len(data) >= 2 else data
    for kind in ("dns", "nbns", "mssql"):
        for m in (data, other):
            rec = cache.record(kind, m)
            direct = app.udp_record(kind, m)
            assert (rec.text_of() if rec.text_of else app.render_text(rec.node)) == (
                app.render_text(direct.node)
            )
            assert rec.info == direct.info


def test_unsafe_text_is_escaped_like_safe() -> None:
    from honeysift.protocols.base import Node
    from honeysift.safe_text import safe

    root = Node("a\x1b[31m")
    root.add("b\nc\u202e").add("ok")
    assert app.render_text(root) == "\n".join(safe(x) for x in root.render())


def test_relative_time_column_matches_printf() -> None:
    rng = np.random.default_rng(1)
    v = np.concatenate([rng.integers(-(10**12), 10**13, 2000), [0, 500, 1500, -500, 10**9 + 500]])
    assert _rel_col(v).to_pylist() == [f"{x / 1e9:.6f}" for x in v.tolist()]


def test_address_column_matches_per_value_text() -> None:
    addrs = ["10.0.0.1", "255.255.255.255", "0.0.0.0", "2001:db8::1", "::1", "::ffff:1.2.3.4"]
    halves = [addr_to_halves(a) for a in addrs]
    hi = np.array([h for h, _ in halves], np.uint64)
    lo = np.array([lo for _, lo in halves], np.uint64)
    assert _addr_col(hi, lo).to_pylist() == [halves_to_addr(h, lo) for h, lo in halves]


SHOW_MODES = [
    {"verbose": True},
    {},
    {"verbose": True, "hexdump": True},
    {"display_filter": "nbns or smb", "verbose": True},
    {"mode": "json"},
    # mostly empty lines: a batch of one frame without the field is one empty line
    {"mode": "fields", "fields": ["frame.number", "smb.file"], "batch": 1},
]


@pytest.mark.parametrize("args", SHOW_MODES)
def test_show_output_is_the_same_in_any_number_of_processes(
    monkeypatch: pytest.MonkeyPatch, args: dict
) -> None:
    # small batches so the 2,553 frames of the example make many; the datagram records are
    # decoded batch by batch in each process, the TCP ones before the children start
    args = dict(args)
    batch = args.pop("batch", 200)
    monkeypatch.setattr(dissect_tcp, "PARALLEL_TCP_MIN", 0)  # TCP decoding in shares too
    monkeypatch.setattr(show_text, "BATCH", batch)
    monkeypatch.setattr(show_text, "HEX_BATCH", batch)
    texts = []
    for procs in ("1", "2", "3"):
        monkeypatch.setenv(parallel.ENV, procs)
        lines: list[str] = []
        assert show_command(str(EXAMPLE), (), out=lines.append, **args) == 0
        texts.append("\n".join(lines))
    assert texts[0] == texts[1] == texts[2]
    if args.get("display_filter"):
        assert 20 < texts[0].count("\nFrame ") < 2500
    elif args.get("verbose"):
        assert texts[0].count("\nFrame ") == 2552  # the first has no newline before it
    else:
        assert texts[0].count("\n") == 2552  # one line per frame
    if args.get("verbose"):
        assert "NetBIOS Name Service" in texts[0] and "Server Message Block" in texts[0]


_STARTS = [b"", b"GET / HTTP/1.0\r\n", b"HTTP/1.1 200 OK\r\n", b":irc.example NOTICE AUTH :hi",
           b"nick bot\r\n", b"ping :x\r\n", b"@time=1 :srv 001 me :hi", b"\x05\x00\x0b\x03\x10",
           b"SSH-2.0-x\r\n", b"\xff\xfb\x01", b"error :closing"]  # fmt: skip


@settings(max_examples=400)
@given(st.sampled_from(_STARTS), st.binary(max_size=40), st.sampled_from(_STARTS),
       st.binary(max_size=40))  # fmt: skip
def test_sniffing_prefilter_changes_no_answer(c0: bytes, c1: bytes, s0: bytes, s1: bytes) -> None:
    from honeysift.protocols import http, irc

    c, s = c0 + c1, s0 + s1
    want = (
        "http" if http.looks_like_http(c)
        else "irc" if irc.looks_like_irc(c) or irc.looks_like_irc(s)
        else "dcerpc" if app.looks_like_dcerpc(c)
        else None
    )  # fmt: skip
    assert app.sniff_kind(c, s) == want
    assert app.sniff_kind(c1, s1) == (
        "http" if http.looks_like_http(c1)
        else "irc" if irc.looks_like_irc(c1) or irc.looks_like_irc(s1)
        else "dcerpc" if app.looks_like_dcerpc(c1)
        else None
    )  # fmt: skip


def test_release_forgets_each_batch_and_changes_no_text(monkeypatch: pytest.MonkeyPatch) -> None:
    from honeysift.capture.reader import Capture
    from honeysift.dissect import dissect

    monkeypatch.setattr(show_text, "BATCH", 300)
    monkeypatch.setenv(parallel.ENV, "1")
    texts = []
    for release in (False, True):
        with Capture(str(EXAMPLE)) as cap:
            d = dissect(cap, lazy=True)
            assert d.records  # TCP records are made before the batches
            texts.append("\n".join(show_text.render(d, verbose=True, release=release)))
            assert (not d.records) if release else len(d.records) > 100
    assert texts[0] == texts[1]


class _Progress:
    """Records what show_command reports (the CLI's Progress prints it on a terminal)."""

    def __init__(self) -> None:
        self.label = "reading"
        self.calls: list[tuple[str, int, int]] = []
        self.cleared = 0

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((self.label, done, total))

    def phase(self, label: str) -> None:
        self.label = label

    def done(self) -> None:
        self.cleared += 1


def test_show_reports_progress_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(show_text, "BATCH", 500)
    p = _Progress()
    assert show_command(str(EXAMPLE), (), None, True, out=lambda s: None, progress=p) == 0
    steps = list(dict.fromkeys(label for label, _, _ in p.calls))
    assert steps == ["reading", "decoding TCP", "writing"]
    size = EXAMPLE.stat().st_size
    assert all(0 <= done <= total == size for _, done, total in p.calls)
    assert p.calls[-1] == ("writing", size, size)  # 2,553 frames: 6 batches, the last at 100 %
    assert sum(1 for label, _, _ in p.calls if label == "writing") == 6
    assert p.cleared >= 1  # the line is gone before any warning is printed


def test_tcp_shares_keep_smb_in_the_caller_and_cover_every_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from honeysift.capture.reader import Capture

    monkeypatch.setattr(dissect_tcp, "PARALLEL_TCP_MIN", 0)
    monkeypatch.setenv(parallel.ENV, "3")
    seen = []
    real = dissect_tcp._partition
    monkeypatch.setattr(dissect_tcp, "_partition", lambda *a: seen.append((a[1], real(*a))) or
                        seen[-1][1])  # fmt: skip
    with Capture(str(EXAMPLE)) as cap:
        dissect_mod.dissect(cap, lazy=True, share=frozenset({"text"}))
    plan, parts = seen[0]
    assert len(parts) == 3
    assert (np.sum(parts, axis=0) == 1).all()  # each group decoded exactly once
    gkind = [plan.kinds[int(k >> 1)] for k in plan.key[plan.starts]]
    assert all(parts[0][j] for j, k in enumerate(gkind) if k == "smb")
    assert {"smb", "http", "irc"} <= set(gkind)
    assert parts[1].any() and parts[2].any()


@pytest.mark.parametrize("mode", [{"verbose": True}, {"mode": "json"}])
def test_corpus_output_is_the_same_with_tcp_in_shares(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, mode: dict
) -> None:
    monkeypatch.setattr(dissect_tcp, "PARALLEL_TCP_MIN", 0)
    from tests.conftest import corpus_traces

    for trace in corpus_traces():
        texts = []
        for procs in ("1", "2"):
            monkeypatch.setenv(parallel.ENV, procs)
            lines: list[str] = []
            show_command(str(trace), (), out=lines.append, **mode)
            texts.append("\n".join(lines))
        assert texts[0] == texts[1], trace.name
