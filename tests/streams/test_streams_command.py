"""``honeysift streams`` end to end on scapy-built captures: 5-tuple reuse, gaps, the index."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from scapy.all import IP, TCP, Ether, Raw, wrpcap

from honeysift.cli import main

C, S = "10.0.0.1", "10.0.0.2"


def _conn(
    t0: float,
    cisn: int,
    sisn: int,
    request: list[bytes],
    response: bytes,
    skip: set[int] = frozenset(),
):
    """A whole connection: handshake, request segments (some maybe not captured), response, FINs."""
    out = []

    def pkt(src, dst, sport, dport, flags, seq, ack, data=b""):
        p = (
            Ether()
            / IP(src=src, dst=dst)
            / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack)
        )
        if data:
            p = p / Raw(data)
        p.time = t0 + len(out) * 0.01
        out.append(p)

    pkt(C, S, 1234, 80, "S", cisn, 0)
    pkt(S, C, 80, 1234, "SA", sisn, cisn + 1)
    pkt(C, S, 1234, 80, "A", cisn + 1, sisn + 1)
    seq = cisn + 1
    for k, part in enumerate(request):
        if k not in skip:
            pkt(C, S, 1234, 80, "PA", seq, sisn + 1, part)
        seq += len(part)
    pkt(S, C, 80, 1234, "PA", sisn + 1, seq, response)
    pkt(C, S, 1234, 80, "FA", seq, sisn + 1 + len(response))
    pkt(S, C, 80, 1234, "FA", sisn + 1 + len(response), seq + 1)
    pkt(C, S, 1234, 80, "A", seq + 1, sisn + 2 + len(response))
    return out


def _run(tmp_path: Path, pkts) -> tuple[Path, list[dict]]:
    cap = tmp_path / "c.pcap"
    wrpcap(str(cap), pkts)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["streams", str(cap), "-o", str(out)])
    assert res.exit_code == 0, res.output
    index = json.loads((out / "index.json").read_text())
    return out, index


def test_reused_five_tuple_gives_c1_files(tmp_path: Path) -> None:
    a = _conn(1000.0, 100, 5000, [b"GET /a HTTP/1.0\r\n", b"\r\n"], b"HELLO")
    b = _conn(1010.0, 900000, 777777, [b"GET /b HTTP/1.0\r\n\r\n"], b"WORLD!")
    out, index = _run(tmp_path, a + b)
    base_c = "010.000.000.001.01234-010.000.000.002.00080"
    base_s = "010.000.000.002.00080-010.000.000.001.01234"
    assert (out / base_c).read_bytes() == b"GET /a HTTP/1.0\r\n\r\n"
    assert (out / (base_c + "c1")).read_bytes() == b"GET /b HTTP/1.0\r\n\r\n"
    assert (out / base_s).read_bytes() == b"HELLO"
    assert (out / (base_s + "c1")).read_bytes() == b"WORLD!"
    uids = {e["file"]: e["flow_uid"] for e in index}
    assert uids[base_c] == uids[base_s] != uids[base_c + "c1"] == uids[base_s + "c1"]
    assert all(e["gaps"] == 0 and e["overlaps"] == 0 for e in index)


def test_gap_recorded_in_the_index(tmp_path: Path) -> None:
    a = _conn(1000.0, 100, 5000, [b"AAAA", b"BBBBBB", b"CC"], b"ok", skip={1})
    out, index = _run(tmp_path, a)
    e = next(x for x in index if x["direction"] == "orig")
    assert (out / e["file"]).read_bytes() == b"AAAACC"  # the gap is not filled
    assert e["gap_list"] == [[4, 6]] and e["missing_bytes"] == 6


def test_group_prints_uniq_c(tmp_path: Path) -> None:
    pkts = []
    for k in range(3):
        pkts += _conn(1000.0 + 10 * k, 100 + k * 1000, 5000, [b"SAME"], b"x" * (k + 1))
    cap = tmp_path / "g.pcap"
    wrpcap(str(cap), pkts)
    res = CliRunner().invoke(main, ["streams", str(cap), "--group"])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip().startswith(("3 ", "1 "))]
    assert any(ln.split()[0] == "3" and ln.split()[2] == "4" for ln in lines)  # 3 x "SAME", 4 bytes


def test_planted_symlink_is_a_clear_error(tmp_path: Path) -> None:
    """A symlink under a stream's name in the output directory: exit status 2 and one line
    naming the file system's refusal, not an internal error; the link's target is untouched."""
    cap = tmp_path / "c.pcap"
    wrpcap(str(cap), _conn(1000.0, 100, 5000, [b"GET / HTTP/1.0\r\n\r\n"], b"HELLO"))
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / "010.000.000.001.01234-010.000.000.002.00080").symlink_to(victim)
    res = CliRunner().invoke(main, ["streams", str(cap), "-o", str(out)])
    assert res.exit_code == 2
    assert "error:" in res.output and "symbolic links" in res.output
    assert "internal error" not in res.output
    assert victim.read_bytes() == b"keep"
