"""``honeysift payloads``: per-packet dumps and clusters, with fields masked before grouping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from scapy.all import DNS, DNSQR, IP, TCP, UDP, Ether, Raw, wrpcap
from scapy.layers.netbios import NBNSHeader, NBNSNodeStatusRequest

from honeysift.cli import main

HONEYPOT = "172.16.134.191"


def _nbstat(txid: int, src: str, ipid: int):
    return (
        Ether()
        / IP(src=src, dst=HONEYPOT, id=ipid)
        / UDP(sport=137, dport=137)
        / NBNSHeader(NAME_TRN_ID=txid, QDCOUNT=1)
        / NBNSNodeStatusRequest()
    )


@pytest.fixture()
def cap(tmp_path: Path) -> Path:
    pkts = []
    t = 1_046_476_800.0
    # 12 node-status probes from 3 sources, each with its own transaction id and IP id
    for i in range(12):
        p = _nbstat(0x1000 + i * 7, f"61.1.{i % 3}.9", 100 + i)
        p.time = t + i
        pkts.append(p)
    # 4 identical DNS queries over TCP (2-byte length prefix) with different ids
    for i in range(4):
        q = DNS(id=0x200 + i, rd=1, qd=DNSQR(qname="example.org"))
        raw = bytes(q)
        p = (
            Ether()
            / IP(src="10.0.0.1", dst="10.0.0.53")
            / TCP(sport=40000 + i, dport=53, flags="PA", seq=1000 * i)
            / Raw(len(raw).to_bytes(2, "big") + raw)
        )
        p.time = t + 20 + i
        pkts.append(p)
    # a 376-byte Slammer-like datagram
    p = (
        Ether()
        / IP(src="200.1.2.3", dst=HONEYPOT)
        / UDP(sport=1234, dport=1434)
        / Raw(b"\x04" + b"\x01" * 375)
    )
    p.time = t + 30
    pkts.append(p)
    out = tmp_path / "p.pcap"
    wrpcap(str(out), pkts)
    return out


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["payloads", *args])
    return res.exit_code, res.stdout


def test_group_without_mask_keeps_txids_apart(cap: Path) -> None:
    code, out = _run(str(cap), "udp", "and", "port", "137", "--group", "--json")
    assert code == 0
    groups = [json.loads(x) for x in out.splitlines()]
    assert len(groups) == 12 and all(g["count"] == 1 for g in groups)


def test_group_with_txid_masked_is_one_query(cap: Path) -> None:
    code, out = _run(str(cap), "udp and dst port 137", "--group", "--ignore", "nbns.txid", "--json")
    groups = [json.loads(x) for x in out.splitlines()]
    assert len(groups) == 1
    g = groups[0]
    assert g["count"] == 12 and g["size"] == 50
    assert g["sources"] == ["61.1.0.9", "61.1.1.9", "61.1.2.9"]
    assert g["frames"] == list(range(1, 13))
    assert g["example"]["masked"] == [{"region": "payload", "offset": 0, "length": 2}]


def test_dns_id_masked_over_tcp_after_length_prefix(cap: Path) -> None:
    code, out = _run(str(cap), "tcp", "--group", "--ignore", "dns.id", "--json")
    groups = [json.loads(x) for x in out.splitlines()]
    assert [g["count"] for g in groups] == [4]
    assert groups[0]["example"]["masked"] == [{"region": "payload", "offset": 2, "length": 2}]


def test_header_fields_only_matter_with_headers(cap: Path) -> None:
    # with headers in the key, IP ids and checksums split the probes; masking them joins them
    _, out = _run(
        str(cap), "udp port 137", "--group", "--headers", "--ignore", "nbns.txid", "--json"
    )
    assert len(out.splitlines()) > 1
    _, out = _run(
        str(cap),
        "udp port 137",
        "--group",
        "--headers",
        "--ignore",
        "nbns.txid",
        "--ignore",
        "ip.id",
        "--ignore",
        "ip.checksum",
        "--ignore",
        "udp.checksum",
        "--json",
    )
    # sources differ, so the IP headers differ in the addresses: still one group per source
    assert sorted(json.loads(x)["count"] for x in out.splitlines()) == [4, 4, 4]


def test_text_dump_and_slammer(cap: Path) -> None:
    code, out = _run(str(cap), "udp and port 1434")
    assert code == 0
    assert "UDP 200.1.2.3:1234 -> 172.16.134.191:1434  len 376" in out
    assert "0000  04 01 01 01" in out


def test_unknown_ignore_field_is_a_usage_error(cap: Path) -> None:
    res = CliRunner().invoke(main, ["payloads", str(cap), "--ignore", "nope"])
    assert res.exit_code == 2 and "unknown field 'nope'" in res.output
