"""Regenerate the tcpdump oracle for the filter tests (needs tcpdump; tests do not).

    python tests/filters/data/make_oracle.py [CORPUS_DIR]

Writes synthetic.pcap (packets built with scapy, plus snap-length-cut frames) and
tcpdump_oracle.tsv: for each (trace, expression) the 1-based frame numbers that
``tcpdump -nn -r TRACE -w OUT EXPR`` selected (matched back to the input by bytes and time).
"""

from __future__ import annotations

import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from scapy.all import (
    ARP,
    ICMP,
    IP,
    TCP,
    UDP,
    Dot1AD,
    Dot1Q,
    Ether,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    Raw,
    fragment,
    fragment6,
)
from scapy.layers.sctp import SCTP
from scapy.utils import RawPcapReader

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = HERE.parents[3] / "shared" / "corpus" / "zeek"

E = Ether(src="00:11:22:33:44:55", dst="66:77:88:99:aa:bb")
HP = "172.16.134.191"


def synthetic() -> list[tuple[bytes, int]]:
    """(frame, wire length) pairs covering the primitives; cut frames have caplen < wire."""
    p = [
        E / IP(src="1.2.3.4", dst=HP, ttl=50) / TCP(sport=1025, dport=445, flags="S"),
        E / IP(src=HP, dst="1.2.3.4", ttl=128) / TCP(sport=445, dport=1025, flags="SA"),
        E
        / IP(src="1.2.3.4", dst=HP)
        / TCP(sport=1025, dport=80, flags="PA")
        / Raw(b"GET / HTTP/1.0\r\n\r\n"),
        E / IP(src=HP, dst="1.2.3.4") / TCP(sport=80, dport=1025, flags="FA"),
        E / IP(src="10.1.2.3", dst=HP) / TCP(sport=139, dport=4000, flags="R"),
        E / IP(src="10.200.0.9", dst="192.168.1.1") / TCP(sport=6667, dport=1234, flags="EC"),
        E / IP(src="5.6.7.8", dst=HP) / UDP(sport=1434, dport=1434) / Raw(b"\x04" * 30),
        E / IP(src="192.168.1.1", dst=HP) / UDP(sport=137, dport=137) / Raw(b"x" * 20),
        E / IP(src=HP, dst="192.168.1.255") / UDP(sport=138, dport=137) / Raw(b"y" * 20),
        E / IP(src="8.8.8.8", dst=HP) / UDP(sport=53, dport=32768) / Raw(b"z" * 12),
        E / IP(src="1.2.3.4", dst=HP, ttl=3) / ICMP(type=8) / Raw(b"ping"),
        E / IP(src=HP, dst="1.2.3.4") / ICMP(type=0) / Raw(b"ping"),
        E / IP(src="9.9.9.9", dst=HP) / ICMP(type=3, code=3) / Raw(b"\x00" * 28),
        E / ARP(op=1, psrc=HP, pdst="172.16.134.1"),
        E / ARP(op=2, psrc="1.2.3.4", pdst=HP, hwsrc="00:11:22:33:44:55"),
        E / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=1025, dport=80, flags="S"),
        E / IPv6(src="2001:db8::2", dst="2001:db8::1", hlim=7) / UDP(sport=53, dport=5353),
        E / IPv6(src="fe80::1", dst="ff02::1") / ICMPv6EchoRequest(),
        E / IPv6(src="ff02::1", dst="fe80::1") / ICMPv6EchoReply(),
        E
        / IPv6(src="2001:db8::1", dst="2001:db8::2")
        / IPv6ExtHdrHopByHop()
        / UDP(sport=53, dport=53),
        E / Dot1Q(vlan=10) / IP(src="1.2.3.4", dst=HP) / TCP(sport=1, dport=80),
        E / Dot1Q(vlan=20) / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=7, dport=137),
        E
        / Dot1AD(vlan=100)
        / Dot1Q(vlan=200)
        / IP(src="1.2.3.4", dst=HP)
        / UDP(sport=2, dport=1434),
        E / Dot1Q(vlan=10) / ARP(psrc="1.2.3.4", pdst="1.2.3.5"),
        E
        / IP(src="1.2.3.4", dst=HP, options=b"\x01\x01\x01\x00")
        / TCP(sport=3, dport=445, flags="S"),
        E / IP(src="1.2.3.4", dst=HP) / SCTP(sport=80, dport=9),
        E / IP(src="1.2.3.4", dst=HP, proto=47) / Raw(b"\x00" * 8),
    ]
    out = [(bytes(x), len(bytes(x))) for x in p]
    # IPv4 UDP datagram in three fragments, the last first (out of order)
    dgram = IP(src="5.6.7.8", dst=HP, id=777) / UDP(sport=1434, dport=1434) / Raw(b"A" * 60)
    frags = [bytes(E / f) for f in fragment(dgram, fragsize=24)]
    out += [(f, len(f)) for f in [frags[2], frags[0], frags[1]]]
    # IPv4 TCP datagram split after 8 bytes of TCP header (tiny first fragment), completed
    seg = IP(src="1.2.3.4", dst=HP, id=778) / TCP(sport=4444, dport=139, flags="S") / Raw(b"B" * 16)
    out += [(bytes(E / f), len(bytes(E / f))) for f in fragment(seg, fragsize=8)]
    # an incomplete datagram: only its second fragment
    lone = E / IP(src="1.2.3.4", dst=HP, id=779, frag=3, proto=17) / Raw(b"C" * 16)
    out.append((bytes(lone), len(bytes(lone))))
    # IPv6 fragmented UDP
    v6 = (
        IPv6(src="2001:db8::5", dst="2001:db8::6")
        / IPv6ExtHdrFragment(id=9)
        / UDP(sport=53, dport=53)
        / Raw(b"D" * 100)
    )
    out += [(bytes(E / f), len(bytes(E / f))) for f in fragment6(v6, 96)]
    # frames cut by the snap length
    full = bytes(
        E / IP(src="1.2.3.4", dst=HP) / TCP(sport=1025, dport=80, flags="S") / Raw(b"GET /x")
    )
    out += [
        (full[:40], len(full)),
        (full[:24], len(full)),
        (full[:10], len(full)),
        (full[:54], len(full)),
    ]
    return out


def write_pcap(path: Path, items: list[tuple[bytes, int]]) -> None:
    with path.open("wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, (data, wl) in enumerate(items):
            fh.write(struct.pack("<IIII", 1_000_000 + i, 0, len(data), wl) + data)


COMMON = [
    "tcp", "udp", "icmp", "ip", "ip6", "arp", "not ip", "not tcp", "icmp6",
    "tcp and dst port 445", "udp and port 1434", "tcp and port 139",
    "udp and port 137 and dst host 172.16.134.191", "host 1.2.3.4 and not port 80",
    "port 80", "not port 80", "not tcp port 80", "src port 80", "tcp src port 80",
    "udp dst port 137", "port 80 or 443", "port 53 or 137 or 138", "portrange 130-140",
    "tcp portrange 1-1024", "src host 1.2.3.4", "host 1.2.3.4 or 5.6.7.8", "host 172.16.134.191",
    "dst host 172.16.134.191 and tcp", "net 10", "net 192.168", "net 172.16.0.0/16",
    "src net 10.0.0.0 mask 255.0.0.0", "src or dst net 192.168.0.0/16", "src and dst net 172.16.0.0/12",
    "ip proto 6", "ip proto \\udp", "proto 17", "ip6 proto 17", "ip6 proto 58", "ether proto 0x0806",
    "tcp[13] == 2", "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0", "tcp[tcpflags] & tcp-rst != 0",
    "tcp[13] & 0x12 = 0x12", "ip[8] < 64", "ip[9] = 17", "udp[0:2] = 53", "udp[2:2] = 137",
    "tcp[0:4] > 0x04000000", "icmp[icmptype] == icmp-echo", "icmp[icmptype] = icmp-echoreply",
    "ip[2:2] > 100", "ip[6:2] & 0x1fff != 0", "ip[6:2] & 0x3fff != 0", "ip[0] & 0xf > 5",
    "tcp[12] >> 4 > 5", "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420", "udp[4:2] > 20",
    "less 64", "greater 1000", "len > 100 and tcp", "vlan", "vlan and tcp", "vlan 10",
    "vlan 10 and ip", "vlan and vlan and ip", "vlan or ip", "not vlan", "ether[12:2] = 0x8100",
    "tcp or udp and not port 53", "not (tcp or udp)", "! arp && ! ip6", "ip and not tcp and not udp",
    "ether src 00:11:22:33:44:55", "ether host 66:77:88:99:aa:bb", "ip6 host 2001:db8::1",
    "ip6 net 2001:db8::/32", "dst host fe80::1", "tcp port 80 or (443 or 8080)",
    "host 1.2.3.4 and not port 80 or 443", "icmp6[0] = 128", "ip6[7] < 10", "arp host 1.2.3.4",
    "ip[1] = 0", "tcp[14:2] > 1000", "udp and not ip[6:2] & 0x1fff != 0",
    "not tcp[100] = 1", "ip[0] / ip[1] = 0", "ether proto 0x8100", "vlan and vlan",
    "ip6[40] = 17", "arp[7] = 2", "vlan 100 and vlan 200 and udp", "tcp[tcp[12] >> 2] = 0x47",
    "tcp[100] = 1 or icmp", "ip[-1] = 0", "ip6 or vlan or ip", "len - 100 > 0",
    "ip[2:2] * 3 > 300 and udp", "ip6 proto 6 or ip6 proto 44", "src and dst port 137",
    "dst net 172.16.134.0/24 and (tcp[13] & 2 != 0 or udp)", "greater 100 and less 200",
]  # fmt: skip
TRACES = [
    "smb__smb1.pcap", "netbios__netbios-split-session-msg.pcap", "ipv4__fragmented-1.pcap",
    "ipv6-fragmented-dns.pcap", "http-vlan-0.pcap", "q-in-q.pcap", "dns53.pcap", "irc-basic.pcap",
    "rpc-portmap-sadmind.pcap", "tunnels__Teredo.pcap", "chksums__ip6-tcp-bad-chksum.pcap",
    "tcp__reassembly.pcap", "pppoe-over-qinq.pcap", "erspan.pcap", "smb__cifs_negotiate_lanman.pcap",
]  # fmt: skip


def frames_of(path: Path) -> list[tuple[bytes, float]]:
    with RawPcapReader(str(path)) as rd:
        out = []
        for data, _meta in rd:
            out.append(bytes(data))
        return out


def selected(trace: Path, expr: str) -> list[int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sel.pcap"
        subprocess.run(
            ["tcpdump", "-nn", "-r", str(trace), "-w", str(out), expr],
            check=True,
            capture_output=True,
        )
        picked = frames_of(out) if out.stat().st_size > 24 else []
    frames = frames_of(trace)
    res, j = [], 0
    for data in picked:  # an ordered subsequence of the input
        while frames[j] != data:
            j += 1
        res.append(j + 1)
        j += 1
    return res


def main() -> None:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CORPUS
    syn = HERE / "synthetic.pcap"
    write_pcap(syn, synthetic())
    version = subprocess.run(["tcpdump", "--version"], capture_output=True, text=True).stdout
    lines = [
        "# tcpdump oracle for tests/filters/test_bpf.py, generated by make_oracle.py",
        "# " + " / ".join(version.strip().splitlines()[:2]),
        "# frames = 1-based numbers of the frames written by: tcpdump -nn -r TRACE -w OUT EXPR",
        "trace\texpression\tframes",
    ]
    traces = [("synthetic.pcap", syn)] + [(t, corpus / "traces" / t) for t in TRACES]
    for name, path in traces:
        for expr in COMMON:
            sel = selected(path, expr)
            lines.append(f"{name}\t{expr}\t{','.join(map(str, sel))}")
    (HERE / "tcpdump_oracle.tsv").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
