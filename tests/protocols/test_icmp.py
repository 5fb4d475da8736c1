"""ICMP/ICMPv6 decoder against corpus packets (cross-checked with scapy's own decoding)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeysift.protocols import icmp

CORPUS = Path(
    os.environ.get("HONEYSIFT_CORPUS")
    or Path(__file__).resolve().parents[3] / "shared" / "corpus" / "zeek"
)
scapy = pytest.importorskip("scapy.all")
inet6 = pytest.importorskip("scapy.layers.inet6")


def _packets(name: str):
    path = CORPUS / "traces" / f"{name}.pcap"
    if not path.exists():
        pytest.skip(f"corpus trace {name} not available")
    return scapy.rdpcap(str(path))


def _innermost(pkt, cls):
    found, layer = None, pkt
    while layer is not None and not isinstance(layer, scapy.NoPayload):
        if isinstance(layer, cls):
            found = layer
        layer = layer.payload
    return found


def test_port_unreachable_in_corpus() -> None:
    # tshark: frame 133 is ICMP 3/3 quoting UDP 172.31.112.17:5355 -> 172.31.112.16:52272.
    pkt = _packets("smb__smb_v2_only_non_zero_reserved1")[132]
    ip = pkt[scapy.IP]
    m = icmp.parse(bytes(ip.payload)[: ip.len - ip.ihl * 4])
    assert (m.type, m.code, m.type_text, m.code_text) == (
        3,
        3,
        "Destination unreachable",
        "Port unreachable",
    )
    assert m.is_error and m.malformed is None
    q = m.quoted
    err = pkt[scapy.IPerror]
    assert (q.src, q.dst, q.protocol) == (err.src, err.dst, err.proto)
    assert (q.sport, q.dport) == (pkt[scapy.UDPerror].sport, pkt[scapy.UDPerror].dport)
    assert (q.sport, q.dport) == (5355, 52272)
    assert m.fields()["udp.srcport"] == [5355]


@pytest.mark.parametrize("trace", ["tunnels__gre-sample", "erspan", "tunnels__vxlan"])
def test_echo_in_tunnels_matches_scapy(trace: str) -> None:
    seen = 0
    for pkt in _packets(trace):
        ic = _innermost(pkt, scapy.ICMP)
        if ic is None or ic.type not in (0, 8):
            continue
        ip = ic.underlayer
        m = icmp.parse(bytes(ip.payload)[: ip.len - ip.ihl * 4])
        assert (m.type, m.code, m.checksum) == (ic.type, ic.code, ic.chksum)
        assert (m.ident, m.seq) == (ic.id, ic.seq)
        assert m.data == bytes(ic.payload)[: len(m.data)] and m.malformed is None
        seen += 1
    assert seen >= 2


def test_icmpv6_echo_in_sll2_trace() -> None:
    seen = 0
    for pkt in _packets("linux_dlt_sll2"):
        if inet6.IPv6 not in pkt or pkt[inet6.IPv6].nh != 58:
            continue
        v6 = pkt[inet6.IPv6]
        m = icmp.parse(bytes(v6.payload)[: v6.plen], v6=True)
        echo = pkt[inet6.IPv6].payload
        assert (m.type, m.code) == (echo.type, echo.code)
        assert (m.ident, m.seq) == (echo.id, echo.seq)
        assert m.type_text.startswith("Echo (ping)")
        seen += 1
    assert seen == 2


def test_time_exceeded_quoting_tcp() -> None:
    probe = scapy.IP(src="10.0.0.5", dst="10.0.0.9", ttl=1, id=77) / scapy.TCP(
        sport=4444, dport=445, seq=123456789
    )
    raw = bytes(scapy.ICMP(type=11, code=0) / bytes(probe)[:28])
    m = icmp.parse(raw)
    assert m.code_text == "Time to live exceeded in transit"
    q = m.quoted
    assert (q.src, q.dst, q.protocol, q.ttl, q.ip_id) == ("10.0.0.5", "10.0.0.9", 6, 1, 77)
    assert (q.sport, q.dport, q.tcp_seq) == (4444, 445, 123456789)
    assert m.fields()["tcp.dstport"] == [445]


def test_redirect_problem_fragneeded_timestamp_mask() -> None:
    inner = bytes(scapy.IP(src="1.1.1.1", dst="2.2.2.2") / scapy.UDP(sport=1, dport=2))[:28]
    m = icmp.parse(bytes(scapy.ICMP(type=5, code=1, gw="192.0.2.254") / inner))
    assert m.gateway == "192.0.2.254" and m.code_text == "Redirect for host"
    m = icmp.parse(bytes(scapy.ICMP(type=12, code=0, ptr=9) / inner))
    assert m.pointer == 9 and m.type_text == "Parameter problem"
    m = icmp.parse(bytes(scapy.ICMP(type=3, code=4, nexthopmtu=1400) / inner))
    assert m.mtu == 1400 and m.code_text == "Fragmentation needed"
    ts = scapy.ICMP(type=13, id=5, seq=6, ts_ori=1, ts_rx=2, ts_tx=3)
    m = icmp.parse(bytes(ts))
    assert m.timestamps == (1, 2, 3) and m.ident == 5 and m.seq == 6
    m = icmp.parse(bytes(scapy.ICMP(type=18, id=1, seq=1, addr_mask="255.255.255.0")))
    assert m.address_mask == "255.255.255.0"


def test_icmpv6_errors_and_nd() -> None:
    probe = (
        inet6.IPv6(src="2001:db8::1", dst="2001:db8::2")
        / inet6.IPv6ExtHdrHopByHop()
        / (scapy.UDP(sport=53, dport=5353))
    )
    m = icmp.parse(bytes(inet6.ICMPv6DestUnreach(code=4) / bytes(probe)), v6=True)
    assert m.code_text == "port unreachable" and m.is_error
    assert (m.quoted.src, m.quoted.protocol, m.quoted.sport, m.quoted.dport) == (
        "2001:db8::1",
        17,
        53,
        5353,
    )
    m = icmp.parse(bytes(inet6.ICMPv6PacketTooBig(mtu=1280) / bytes(probe)), v6=True)
    assert m.mtu == 1280 and m.fields()["icmpv6.mtu"] == [1280]
    m = icmp.parse(bytes(inet6.ICMPv6ND_NS(tgt="fe80::1")), v6=True)
    assert m.target == "fe80::1" and m.type_text == "Neighbor Solicitation"
    assert m.fields()["icmpv6.nd.ns.target_address"] == ["fe80::1"]


def test_truncated_errors() -> None:
    m = icmp.parse(b"\x03\x03\x00\x00\x00\x00\x00\x00\x45\x00")
    assert m.malformed and m.quoted is None and m.type == 3
    m = icmp.parse(b"\x08")
    assert m.malformed and m.malformed_offset == 0
    m = icmp.parse(b"\x08\x00\x00\x00\x00\x01")
    assert m.malformed and m.type == 8


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_fuzz_never_raises(data: bytes, v6: bool) -> None:
    m = icmp.parse(data, v6=v6)
    m.tree().render()
    m.fields()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([3, 4, 5, 11, 12]), st.binary(max_size=80))
def test_fuzz_quoted_headers(t: int, tail: bytes) -> None:
    m = icmp.parse(bytes([t, 0, 0, 0, 0, 0, 0, 0]) + tail)
    assert m.is_error
    m.tree().render()
    m6 = icmp.parse(bytes([t % 4 + 1, 0, 0, 0, 0, 0, 0, 0]) + tail, v6=True)
    m6.tree().render()
