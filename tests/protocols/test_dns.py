"""DNS decoder against real captures (tshark oracle, Zeek dns.log) and hand-built messages."""

from __future__ import annotations

import csv
import os
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeysift.protocols import dns

CORPUS = Path(
    os.environ.get("HONEYSIFT_CORPUS")
    or Path(__file__).resolve().parents[3] / "shared" / "corpus" / "zeek"
)
ORACLE_FIELDS = [
    "dns.id",
    "dns.flags.response",
    "dns.flags.rcode",
    "dns.qry.name",
    "dns.qry.type",
    "dns.count.answers",
    "dns.a",
    "dns.aaaa",
    "dns.cname",
]


def _trace(name: str) -> Path:
    for ext in (".pcap", ".pcapng"):
        p = CORPUS / "traces" / f"{name}{ext}"
        if p.exists():
            return p
    pytest.skip(f"corpus trace {name} not available")


def _udp_payloads(name: str, port: int = 53) -> dict[int, bytes]:
    """frame number -> payload of the innermost UDP layer on ``port`` (padding trimmed)."""
    scapy = pytest.importorskip("scapy.all")
    out = {}
    for i, pkt in enumerate(scapy.rdpcap(str(_trace(name))), 1):
        udp, layer = None, pkt
        while layer is not None and not isinstance(layer, scapy.NoPayload):
            if isinstance(layer, scapy.UDP):
                udp = layer
            layer = layer.payload
        if udp is not None and port in (udp.sport, udp.dport):
            out[i] = bytes(udp.payload)[: udp.len - 8]
    return out


def _oracle(name: str) -> list[dict[str, str]]:
    path = CORPUS / "oracle" / name / "dns_fields.tsv"
    if not path.exists():
        pytest.skip(f"oracle for {name} not available")
    with path.open() as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _tshark_text(fields: dict, name: str) -> str:
    vals = fields.get(name, [])
    if name in dns.TSHARK_HEX:
        return ",".join(f"0x{v:0{dns.TSHARK_HEX[name]}x}" for v in vals)
    return ",".join(str(v) for v in vals)


@pytest.mark.parametrize(
    "trace",
    [
        "dns53",
        "dns__dns-binds",
        "pcapng-multi-interface",
        "tunnels__Teredo",
        "erspan",
        "tunnels__gre-sample",
        "dce-rpc__mapi",
    ],
)
def test_fields_match_tshark(trace: str) -> None:
    payloads = _udp_payloads(trace)
    rows = _oracle(trace)
    assert rows
    for row in rows:
        msg = dns.parse(payloads[int(row["frame.number"])])
        assert msg.malformed is None, (row["frame.number"], msg.malformed)
        fields = msg.fields()
        for name in ORACLE_FIELDS:
            assert _tshark_text(fields, name) == row[name], (trace, row["frame.number"], name)


def test_ipv6_fragmented_txt_matches_tshark_and_zeek() -> None:
    scapy = pytest.importorskip("scapy.all")
    from scapy.layers.inet6 import defragment6

    pkts = scapy.rdpcap(str(_trace("ipv6-fragmented-dns")))
    # Frames 6-8 carry one fragmented response (tshark decodes it on frame 8).
    whole = defragment6(scapy.PacketList([pkts[i] for i in (5, 6, 7)]))
    udp = whole[scapy.UDP]
    msg = dns.parse(bytes(udp.payload)[: udp.len - 8])
    assert msg.malformed is None
    row = [r for r in _oracle("ipv6-fragmented-dns") if r["frame.number"] == "8"][0]
    fields = msg.fields()
    for name in ORACLE_FIELDS:
        assert _tshark_text(fields, name) == row[name], name
    # Zeek dns.log: "TXT 33 This TXT record should be ignored TXT 21 As it is just padding TXT 189
    # XXX..." (15 x 189, then 192): Zeek prints each string with its length.
    zeek = (CORPUS / "expected" / "ipv6-fragmented-dns" / "dns.log").read_text().splitlines()
    answers = [ln.split("\t")[21] for ln in zeek if ln.startswith("X") and "3230" in ln][0]
    txt = [rr for rr in msg.answers if rr.rtype == 16][0].data
    assert answers == " ".join(f"TXT {len(s)} {s}" for s in txt)
    assert [rr.ttl for rr in msg.answers if rr.rtype == 16] == [1]


def test_dns53_answers_and_flags_match_zeek() -> None:
    msg = dns.parse(_udp_payloads("dns53")[1])
    log = (CORPUS / "expected" / "dns53" / "dns.log").read_text().splitlines()
    cols = [ln for ln in log if ln.startswith("#fields")][0].split("\t")[1:]
    rec = dict(zip(cols, [ln for ln in log if not ln.startswith("#")][0].split("\t"), strict=True))
    assert msg.id == int(rec["trans_id"])
    assert [rr.data for rr in msg.answers] == rec["answers"].split(",")
    assert [f"{rr.ttl:.6f}" for rr in msg.answers] == rec["TTLs"].split(",")
    flag = {"T": True, "F": False}
    assert bool(msg.flags & 0x0400) is flag[rec["AA"]]
    assert bool(msg.flags & 0x0100) is flag[rec["RD"]]
    assert bool(msg.flags & 0x0080) is flag[rec["RA"]]
    assert msg.rcode == int(rec["rcode"])
    assert len(msg.authority) == 7 and len(msg.additional) == 7


def _scapy_dns():
    return pytest.importorskip("scapy.layers.dns")


def test_record_types_built_with_scapy() -> None:
    d = _scapy_dns()
    pkt = d.DNS(
        id=0x1234,
        qr=1,
        aa=1,
        rd=1,
        ra=1,
        qd=d.DNSQR(qname="example.com", qtype=255),
        an=[
            d.DNSRR(rrname="example.com", type="A", ttl=60, rdata="192.0.2.1"),
            d.DNSRR(rrname="example.com", type="AAAA", ttl=60, rdata="2001:db8::1"),
            d.DNSRR(rrname="www.example.com", type="CNAME", rdata="example.com"),
            d.DNSRR(rrname="example.com", type="MX", rdata=b"\x00\x0a\x04mail\xc0\x0c"),
            d.DNSRR(rrname="example.com", type="TXT", rdata=["v=spf1 -all", "second"]),
            d.DNSRR(rrname="1.2.0.192.in-addr.arpa", type="PTR", rdata="host.example.com"),
            d.DNSRRSRV(
                rrname="_irc._tcp.example.com",
                priority=1,
                weight=5,
                port=6667,
                target="irc.example.com",
            ),
            d.DNSRRSOA(
                rrname="example.com",
                mname="ns1.example.com",
                rname="hostmaster.example.com",
                serial=2003,
                refresh=1,
                retry=2,
                expire=3,
                minimum=4,
            ),
            d.DNSRR(rrname="example.com", type=99, rdata=b"\x01\x02\x03"),
        ],
        ar=d.DNSRROPT(rclass=4096),
    )
    msg = dns.parse(bytes(pkt))
    assert msg.malformed is None
    by_type = {rr.rtype: rr.data for rr in msg.answers}
    assert by_type[1] == "192.0.2.1"
    assert by_type[28] == "2001:db8::1"
    assert by_type[5] == "example.com"
    assert by_type[15] == {"preference": 10, "exchange": "mail.example.com"}
    assert by_type[16] == ["v=spf1 -all", "second"]
    assert by_type[12] == "host.example.com"
    assert by_type[33] == {"priority": 1, "weight": 5, "port": 6667, "target": "irc.example.com"}
    assert by_type[6]["mname"] == "ns1.example.com" and by_type[6]["minimum"] == 4
    assert by_type[99] == b"\x01\x02\x03"
    opt = msg.additional[0]
    assert opt.rtype == 41 and opt.rclass == 4096 and opt.name == "<Root>"
    f = msg.fields()
    assert f["dns.mx.mail_exchange"] == ["mail.example.com"]
    assert f["dns.srv.port"] == [6667]
    assert msg.flags_text() == "Standard query response, No error"


def test_tcp_framing_and_stream_split() -> None:
    d = _scapy_dns()
    a = bytes(d.DNS(id=1, qd=d.DNSQR(qname="a.example", qtype="A")))
    b = bytes(d.DNS(id=2, qd=d.DNSQR(qname="b.example", qtype="AXFR")))
    stream = struct.pack(">H", len(a)) + a + struct.pack(">H", len(b)) + b
    one = dns.parse(stream, tcp=True)
    assert (one.id, one.tcp_length, one.malformed) == (1, len(a), None)
    msgs = dns.parse_stream(stream)
    assert [m.id for m in msgs] == [1, 2]
    assert msgs[1].questions[0].qtype == 252
    cut = dns.parse_stream(stream[:-3])
    assert cut[-1].malformed is not None
    assert cut[-1].malformed_offset is not None and cut[-1].malformed_offset > len(a)


def test_compression_loops_and_forward_pointers_are_flagged() -> None:
    header = struct.pack(">6H", 7, 0, 1, 0, 0, 0)
    # Pointer to itself (offset 12).
    msg = dns.parse(header + b"\xc0\x0c\x00\x01\x00\x01")
    assert msg.malformed and "pointer" in msg.malformed and msg.malformed_offset == 12
    # Forward pointer: two-label loop built out of forward references.
    msg = dns.parse(header + b"\x01a\xc0\x10\x01b\xc0\x0c\x00\x01\x00\x01")
    assert msg.malformed and msg.id == 7
    # Valid backward pointer still works.
    body = b"\x07example\x03com\x00\x00\x01\x00\x01"
    ok = struct.pack(">6H", 8, 0x8180, 1, 1, 0, 0) + body + b"\xc0\x0c\x00\x01\x00\x01"
    ok += struct.pack(">IH", 5, 4) + bytes([192, 0, 2, 9])
    good = dns.parse(ok)
    assert good.malformed is None and good.answers[0].name == "example.com"


def test_truncated_message_keeps_what_was_read() -> None:
    d = _scapy_dns()
    raw = bytes(
        d.DNS(
            id=9,
            qr=1,
            qd=d.DNSQR(qname="x.example"),
            an=[
                d.DNSRR(rrname="x.example", rdata="192.0.2.1"),
                d.DNSRR(rrname="x.example", rdata="192.0.2.2"),
            ],
        )
    )
    msg = dns.parse(raw[:-2])
    assert msg.malformed and len(msg.answers) == 1 and msg.answers[0].data == "192.0.2.1"
    assert msg.questions[0].name == "x.example"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.booleans())
def test_fuzz_never_raises(data: bytes, tcp: bool) -> None:
    msg = dns.parse(data, tcp=tcp)
    msg.tree().render()
    msg.fields()
    for m in dns.parse_stream(data):
        m.fields()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 255), min_size=0, max_size=60))
def test_fuzz_names_after_valid_header(tail: list[int]) -> None:
    data = struct.pack(">6H", 1, 0x8000, 2, 2, 1, 1) + bytes(tail)
    msg = dns.parse(data)
    assert msg.malformed is not None or msg.id == 1
    msg.tree().render()
