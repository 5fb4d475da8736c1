"""Capture filters against tcpdump: masks must select exactly the frames tcpdump selected.

The oracle (data/tcpdump_oracle.tsv) was recorded with tcpdump 4.99.3 / libpcap 1.10.3 by
data/make_oracle.py over data/synthetic.pcap and corpus traces; tcpdump is not needed here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeysift.capture.table import PacketTable
from honeysift.errors import FilterError
from honeysift.filters.bpf import compile_filter
from tests.filters.table_helper import frame_bytes_for, table_from_file

DATA = Path(__file__).resolve().parent / "data"
CORPUS = Path(
    os.environ.get(
        "HONEYSIFT_CORPUS", Path(__file__).resolve().parents[3] / "shared" / "corpus" / "zeek"
    )
)


def _oracle() -> list[tuple[str, str, list[int]]]:
    rows = []
    for line in (DATA / "tcpdump_oracle.tsv").read_text().splitlines():
        if line.startswith("#") or line.startswith("trace\t"):
            continue
        trace, expr, frames = line.split("\t")
        rows.append((trace, expr, [int(x) for x in frames.split(",") if x]))
    return rows


ORACLE = _oracle()


@cache
def _load(trace: str) -> tuple[PacketTable, list[bytes]]:
    path = DATA / trace if trace == "synthetic.pcap" else CORPUS / "traces" / trace
    if not path.exists():
        pytest.skip(f"{path} not found (set HONEYSIFT_CORPUS)")
    return table_from_file(path)


def _selected(trace: str, expr: str, with_bytes: bool = True) -> list[int]:
    table, frames = _load(trace)
    fb = frame_bytes_for(frames) if with_bytes else None
    m = compile_filter(expr).mask(table, fb)
    return table.frame[m].tolist()


def test_oracle_is_broad() -> None:
    traces = {t for t, _, _ in ORACLE}
    assert len(traces) >= 10 and len(ORACLE) >= 1000
    # the expressions are not all trivially empty or full
    assert sum(1 for *_, f in ORACLE if f) > 300


@pytest.mark.parametrize("trace", sorted({t for t, _, _ in ORACLE}))
def test_matches_tcpdump(trace: str) -> None:
    wrong = []
    for t, expr, want in ORACLE:
        if t != trace:
            continue
        got = _selected(trace, expr)
        if got != want:
            wrong.append((expr, sorted(set(got) - set(want)), sorted(set(want) - set(got))))
    assert not wrong, wrong


def _reader_accessor(cap):
    """frame_bytes over the capture reader's random access (one read per needed row)."""

    def fb(table: PacketTable, offsets: np.ndarray, size: int) -> np.ndarray:
        out = np.zeros((len(table), size), dtype=np.uint8)
        for i in np.flatnonzero(offsets >= 0):
            b = cap.frame_bytes(int(table.offset[i]) + int(offsets[i]), size)
            out[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)
        return out

    return fb


@pytest.mark.parametrize("trace", sorted({t for t, _, _ in ORACLE}))
def test_matches_tcpdump_on_reader_tables(trace: str) -> None:
    """The same oracle on tables from the real capture reader (honeysift.open)."""
    import honeysift

    if not hasattr(honeysift, "open"):
        pytest.skip("capture reader not available")
    path = DATA / trace if trace == "synthetic.pcap" else CORPUS / "traces" / trace
    if not path.exists():
        pytest.skip(f"{path} not found (set HONEYSIFT_CORPUS)")
    wrong = []
    with honeysift.open(str(path)) as cap:
        table, fb = cap.packets().outer_view(), _reader_accessor(cap)  # filters see outer headers
        for t, expr, want in ORACLE:
            if t != trace:
                continue
            got = table.frame[compile_filter(expr).mask(table, fb)].tolist()
            if got != want:
                wrong.append((expr, sorted(set(got) - set(want)), sorted(set(want) - set(got))))
    assert not wrong, wrong


WRITEUP = [
    ("tcp and dst port 445", [1, 25]),
    ("udp and port 1434", [7, 29]),
    ("tcp and port 139", [5, 31]),
    ("udp and port 137 and dst host 172.16.134.191", [8]),
]


@pytest.mark.parametrize(("expr", "want"), WRITEUP)
def test_writeup_filters_on_synthetic(expr: str, want: list[int]) -> None:
    # frame numbers of make_oracle.synthetic(); 29 is the first fragment of a UDP datagram
    # (offset 0, ports present) and 31 the tiny first fragment of a TCP one, as tcpdump sees them
    assert _selected("synthetic.pcap", expr) == want


def test_decoded_fields_need_no_frame_bytes() -> None:
    """Filters on decoded fields work without raw bytes on rows whose headers were decoded."""
    table, _ = _load("synthetic.pcap")
    plain = np.isin(table.status, [0, 3]) & ~table.reassembled & (table.caplen == table.origlen)
    plain &= (table.ip_version != 6) | (table.ip_hlen == 40)  # no IPv6 extension headers
    plain &= table.proto != 132  # SCTP ports are not decoded
    for t, expr, want in ORACLE:
        f = compile_filter(expr)
        if t != "synthetic.pcap" or f.needs_frame_bytes or "ether" in expr or "arp" in expr:
            continue
        if "vlan or" in expr:  # a test after vlan reads payload bytes of untagged frames
            continue
        got = f.mask(table)
        exp = np.isin(table.frame, want)
        assert (got[plain] == exp[plain]).all(), expr


def test_unmapped_byte_test_without_accessor_raises() -> None:
    table, _ = _load("synthetic.pcap")
    f = compile_filter("tcp[12] >> 4 > 5")
    assert f.needs_frame_bytes
    with pytest.raises(FilterError) as e:
        f.mask(table)
    assert e.value.position == 0 and "raw frame bytes" in e.value.message
    assert not compile_filter("tcp[13] = 2").needs_frame_bytes


@pytest.mark.parametrize(
    ("expr", "norm"),
    [
        ("tcp and dst port 445", "tcp and dst port 445"),
        ("host 1.2.3.4 or 5.6.7.8", "host 1.2.3.4 or host 5.6.7.8"),
        ("port 80 or (443 or 8080)", "port 80 or (port 443 or port 8080)"),
        ("tcp or udp and not port 53", "(tcp or udp) and not port 53"),
        ("tcp || (udp && !icmp)", "tcp or (udp and not icmp)"),
        ("net 10", "net 10.0.0.0/8"),
        ("net 10.1", "net 10.1.0.0/16"),
        ("src net 10.0.0.0 mask 255.0.0.0", "src net 10.0.0.0/8"),
        ("tcp[tcpflags] & (tcp-syn|tcp-fin) != 0", "tcp[13] & 3 != 0"),
        ("udp[0:2] = 53", "udp[0:2] = 53"),
        ("ip proto \\tcp", "ip proto 6"),
        ("ip proto udp", "ip proto 17"),
        ("vlan 10 and ip", "vlan 10 and ip"),
        ("less 100", "less 100"),
        ("src or dst port 80", "src or dst port 80"),
        ("portrange 1-1024", "portrange 1-1024"),
        ("port http", "port 80"),
        ("ip6 net 2001:db8::/32", "ip6 net 2001:db8::/32"),
        ("", "(everything)"),
    ],
)
def test_describe(expr: str, norm: str) -> None:
    assert compile_filter(expr).describe() == norm
    # the normalized form means the same thing
    table, frames = _load("synthetic.pcap")
    fb = frame_bytes_for(frames)
    assert (compile_filter(norm if norm != "(everything)" else "").mask(table, fb)
            == compile_filter(expr).mask(table, fb)).all()  # fmt: skip


@pytest.mark.parametrize(
    ("expr", "pos", "words"),
    [
        ("port", 4, "port number"),
        ("tcp port", 8, "port number"),
        ("host", 4, "address"),
        ("foo", 0, "unknown word"),
        ("tcp and foo", 8, "unknown word"),
        ("(tcp or udp", 11, "')'"),
        ("tcp or udp)", 10, "unbalanced"),
        ("host 1.2.3.999", 5, "bad IPv4"),
        ("host 1::2::3", 5, "bad IPv6"),
        ("net 10.1.2.3/8", 4, "non-network bits"),
        ("port 70000", 5, "65535"),
        ("tcp[13] ==", 10, "expected a number"),
        ("tcp[13:3] = 1", 7, "size of 1, 2 or 4"),
        ("tcp src 80", 8, "modifier"),
        ("1.2.3.4", 0, "qualifier"),
        ("gateway 1.2.3.4", 0, "not supported"),
        ("tcp[0] / 0 = 1", 7, "division by zero"),
        ("tcp[0] << 32 = 1", 7, "31 bits"),
        ("ip proto 300", 9, "255"),
        ("vlan 5000", 5, "4095"),
        ("host example.com", 5, "host names"),
        ("tcp and", 7, "end of expression"),
        ("ip $ 4", 3, "unexpected character"),
    ],
)
def test_errors_point_at_token(expr: str, pos: int, words: str) -> None:
    with pytest.raises(FilterError) as e:
        compile_filter(expr)
    assert e.value.position == pos, (e.value.position, e.value.message)
    assert words in e.value.message
    assert e.value.expression == expr


_WORDS = ["tcp", "udp", "ip", "host", "port", "net", "and", "or", "not", "(", ")", "[", "]",
          "1.2.3.4", "80", "src", "dst", "vlan", "tcp[13]", "=", "&", "!", "::1", "-", ":",
          "proto", "less", "tcp-syn", "portrange", "1-5", "len", "\\", "ether"]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), max_size=8), st.text(max_size=6))
def test_fuzz_parser_only_raises_filter_error(words: list[str], junk: str) -> None:
    table, frames = _load("synthetic.pcap")
    for expr in (" ".join(words), " ".join(words) + junk):
        try:
            f = compile_filter(expr)
        except FilterError:
            continue
        m = f.mask(table, frame_bytes_for(frames))
        assert m.dtype == bool and m.shape == (len(table),)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
def test_fuzz_any_text_only_raises_filter_error(expr: str) -> None:
    table, frames = _load("synthetic.pcap")
    try:
        f = compile_filter(expr)
    except FilterError as e:
        assert 0 <= e.position <= len(expr)
        return
    assert f.mask(table, frame_bytes_for(frames)).shape == (len(table),)


def test_no_accessor_rejects_rows_that_need_bytes() -> None:
    """Without raw bytes, a frame whose field is not decoded is rejected, as BPF rejects a
    frame whose load fails: `tcp` cannot be told on a frame cut inside its IP header."""
    table, frames = _load("synthetic.pcap")
    cut = int(np.flatnonzero(table.caplen == 24)[0])  # IP header cut after the protocol byte
    for expr in ("tcp", "not tcp"):
        f = compile_filter(expr)
        assert not f.mask(table)[cut]
    assert compile_filter("tcp").mask(table, frame_bytes_for(frames))[cut]


def test_five_million_rows_select_what_each_copy_selects() -> None:
    # a big table is masked in one column-wise pass (its speed: benchmarks/bench_filter.py)
    table, _ = _load("synthetic.pcap")
    reps = 5_000_000 // len(table) + 1
    big = PacketTable.concat([table] * reps)
    f = compile_filter("tcp and dst port 445 and not host 10.1.2.3 or udp port 1434 or icmp")
    one = f.mask(table)
    assert one.any() and not one.all()
    assert np.array_equal(f.mask(big), np.tile(one, reps))


# --- long chains and deep nesting ------------------------------------------------------------


def _mask(expr: str, with_bytes: bool = True) -> np.ndarray:
    table, frames = _load("synthetic.pcap")
    return compile_filter(expr).mask(table, frame_bytes_for(frames) if with_bytes else None)


def test_or_chain_of_2000_terms_is_the_union_of_its_terms() -> None:
    """Generated port lists are common and tcpdump takes thousands of terms: no recursion per
    term, and the chain selects the union of what each term selects."""
    terms = [f"dst port {p}" for p in range(2000)]
    got = _mask(" or ".join(terms))
    union = np.zeros_like(got)
    for t in terms:
        union |= _mask(t)
    assert got.any() and not got.all()
    assert (got == union).all()
    # the same set written two other ways: bare ids repeating 'dst port', and one range
    assert (got == _mask("dst port " + " or ".join(map(str, range(2000))))).all()
    assert (got == _mask("dst portrange 0-1999")).all()


def test_and_chain_of_2000_terms_is_the_intersection_of_its_terms() -> None:
    terms = [f"not dst port {p}" for p in range(2000)]
    got = _mask(" and ".join(terms))
    both = np.ones_like(got)
    for t in terms:
        both &= _mask(t)
    assert got.any() and not got.all()
    assert (got == both).all()
    assert (got == _mask("not dst portrange 0-1999")).all()


_CHAIN_TERMS = ["tcp", "udp", "icmp", "ip", "ip6", "dst port 445", "port 80", "src port 137",
                "port 1434", "host 172.16.134.191", "net 10", "dst host 1.2.3.4"]  # fmt: skip


def test_long_mixed_chain_folds_left_to_right() -> None:
    """pcap-filter(7): 'and' and 'or' have equal precedence and associate left to right, so a
    2000-term mixed chain is ((t1 op t2) op t3) ..., not 'and' binding tighter as in C."""
    table, _ = _load("synthetic.pcap")
    # rows whose fields are all decoded: without frame bytes no term can abort (reject) there
    plain = np.isin(table.status, [0, 3]) & ~table.reassembled & (table.caplen == table.origlen)
    plain &= (table.ip_version != 6) | (table.ip_hlen == 40)
    rng = np.random.default_rng(7)
    terms = [_CHAIN_TERMS[i] for i in rng.integers(len(_CHAIN_TERMS), size=2000)]
    ops = [("and", "or")[i] for i in rng.integers(2, size=1999)]
    masks = {t: _mask(t, with_bytes=False) for t in _CHAIN_TERMS}
    left = masks[terms[0]].copy()
    groups, group = [], masks[terms[0]].copy()  # the C reading: an 'or' of 'and' groups
    for op, t in zip(ops, terms[1:], strict=True):
        left = left & masks[t] if op == "and" else left | masks[t]
        if op == "and":
            group &= masks[t]
        else:
            groups.append(group)
            group = masks[t].copy()
    c_reading = np.logical_or.reduce([*groups, group])
    expr = terms[0] + "".join(f" {op} {t}" for op, t in zip(ops, terms[1:], strict=True))
    got = _mask(expr, with_bytes=False)
    assert (got[plain] == left[plain]).all()
    assert (got[plain] != c_reading[plain]).any()  # the check tells the two readings apart


_TCPDUMP_TERMS = [*_CHAIN_TERMS, "tcp[13] & 2 != 0", "udp[0:2] = 53", "ip[40] > 3", "less 60",
                  "greater 100", "icmp[0] = 8", "not tcp", "not port 80", "portrange 100-200",
                  "(tcp or udp)", "(udp and not port 53)"]  # fmt: skip


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump")
@pytest.mark.parametrize("seed", range(8))
def test_mixed_chains_match_tcpdump(seed: int) -> None:
    """Random 40-term and/or chains (with byte tests that can reject cut frames) select what
    tcpdump selects. (tcpdump's optimizer gets slow on thousands of terms, so 40 here.)"""
    from tests.filters.data.make_oracle import selected

    def tcpdump(expr: str) -> list[int]:
        try:
            return selected(DATA / "synthetic.pcap", expr)
        except subprocess.CalledProcessError as e:  # libpcap's optimizer proved it empty
            if b"expression rejects all packets" in e.stderr:
                return []
            raise

    rng = np.random.default_rng(seed)
    terms = [_TCPDUMP_TERMS[i] for i in rng.integers(len(_TCPDUMP_TERMS), size=40)]
    expr = terms[0] + "".join(
        f" {('and', 'or', '&&', '||')[rng.integers(4)]} {t}" for t in terms[1:]
    )
    assert _selected("synthetic.pcap", expr) == tcpdump(expr), expr


_DEEP = 10_000


@pytest.mark.parametrize(
    ("expr", "pos"),
    [
        ("(" * _DEEP + "tcp" + ")" * _DEEP, 200),
        ("not " * _DEEP + "tcp", 800),
        ("!" * _DEEP + "tcp", 200),
        ("tcp and " + "(" * _DEEP + "udp" + ")" * _DEEP, 208),
        ("port 1 or " + "(" * _DEEP + "2" + ")" * _DEEP, 210),
        ("(" * _DEEP + "len" + ")" * _DEEP + " = 1", 200),
        ("-" * _DEEP + "len = 1", 200),
        ("tcp[" * _DEEP + "0" + "]" * _DEEP + " = 1", 803),
    ],
    ids=["parens", "not", "bang", "and-parens", "bare-id-parens", "arith-parens", "minus", "loads"],
)
def test_deep_nesting_is_a_filter_error(expr: str, pos: int) -> None:
    """Past 200 levels (as for -Y) a clear error at the token, not a RecursionError."""
    with pytest.raises(FilterError) as e:
        compile_filter(expr)
    assert "nested too deeply" in e.value.message
    assert e.value.position == pos


@pytest.mark.parametrize(
    ("expr", "same_as"),
    [
        ("(" * 200 + "tcp" + ")" * 200, "tcp"),
        ("not " * 200 + "tcp", "tcp"),
        ("not (" * 100 + "udp" + ")" * 100, "udp"),
        ("(" * 199 + "tcp or (port 80 or udp)" + ")" * 199, "tcp or port 80 or udp"),
        ("(" * 200 + "len" + ")" * 200 + " > 100", "greater 101"),
        ("-" * 200 + "len = len", "len = len"),
        ("ip[" * 199 + "0" + "]" * 199 + " > 0", None),
    ],
    ids=["parens", "not", "not-parens", "or-parens", "arith-parens", "minus", "loads"],
)
def test_nesting_up_to_the_limit_works(expr: str, same_as: str | None) -> None:
    assert compile_filter(expr).describe()
    m = _mask(expr)
    assert m.shape == _mask("").shape
    if same_as is not None:
        assert (m == _mask(same_as)).all()


def test_long_arithmetic_chain() -> None:
    """A generated sum is one node too: 5000 operands, no recursion."""
    assert (_mask(" + ".join(["len"] * 5000) + " > 0") == _mask("len > 0")).all()
    assert compile_filter(" + ".join(["len"] * 5000) + " > 0").describe().startswith("(" * 4998)


@pytest.mark.parametrize("command", ["flows", "payloads", "show", "alerts", "streams", "query"])
def test_cli_deep_filter_exits_2_and_long_chain_works(command: str, tmp_path: Path) -> None:
    """Every command that takes a FILTER reports deep nesting as a usage error (exit 2)."""
    from click.testing import CliRunner

    from honeysift.cli import main

    pre = [command, str(DATA / "synthetic.pcap")]
    if command == "streams":
        pre[1:1] = ["-o", str(tmp_path)]
    if command == "query":
        pre.append("select count(*) from packets")
    for expr in ("(" * _DEEP + "tcp" + ")" * _DEEP, "not " * _DEEP + "tcp"):
        res = CliRunner().invoke(main, [*pre, expr])
        assert res.exit_code == 2, (res.exit_code, res.stderr[-300:])
        assert "error: expression nested too deeply" in res.stderr
        assert "internal error" not in res.stderr
    chain = " or ".join(f"port {p}" for p in range(2000))
    res = CliRunner().invoke(main, [*pre, chain])
    assert res.exit_code == 0, (res.exit_code, res.stderr[-300:])
