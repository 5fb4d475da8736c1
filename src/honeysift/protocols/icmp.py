"""ICMP (RFC 792) and ICMPv6 (RFC 4443, RFC 4861 neighbour discovery).

Why: on a honeypot, ICMP tells which probes were answered (echo), which ports were closed
(port unreachable quoting the probe), and which packets never arrived. Error messages quote the
offending IP header + at least 8 bytes of its payload (RFC 792; RFC 4443 2.4 "as much of the
invoking packet as possible"), which is enough to recover the addresses, protocol and ports.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from honeysift.protocols.base import Node, Reader, Truncated

# RFC 792, RFC 950 (address mask), RFC 1256 (router discovery); texts as tshark prints them.
ICMP_TYPES = {
    0: "Echo (ping) reply",
    3: "Destination unreachable",
    4: "Source quench (flow control)",
    5: "Redirect",
    8: "Echo (ping) request",
    9: "Router advertisement",
    10: "Router solicitation",
    11: "Time-to-live exceeded",
    12: "Parameter problem",
    13: "Timestamp request",
    14: "Timestamp reply",
    15: "Information request",
    16: "Information reply",
    17: "Address mask request",
    18: "Address mask reply",
}
ICMP_CODES = {
    3: {
        0: "Network unreachable",
        1: "Host unreachable",
        2: "Protocol unreachable",
        3: "Port unreachable",
        4: "Fragmentation needed",
        5: "Source route failed",
        6: "Destination network unknown",
        7: "Destination host unknown",
        8: "Source host isolated",
        9: "Network administratively prohibited",
        10: "Host administratively prohibited",
        11: "Network unreachable for TOS",
        12: "Host unreachable for TOS",
        13: "Communication administratively filtered",
        14: "Host precedence violation",
        15: "Precedence cutoff in effect",
    },
    5: {
        0: "Redirect for network",
        1: "Redirect for host",
        2: "Redirect for TOS and network",
        3: "Redirect for TOS and host",
    },
    11: {0: "Time to live exceeded in transit", 1: "Fragment reassembly time exceeded"},
    12: {0: "Pointer indicates the error", 1: "Missing a required option", 2: "Bad length"},
}
ICMP_ERRORS = frozenset({3, 4, 5, 11, 12})

# RFC 4443 section 2.1, RFC 4861 section 4, RFC 2710/3810 (MLD).
ICMPV6_TYPES = {
    1: "Destination Unreachable",
    2: "Packet Too Big",
    3: "Time Exceeded",
    4: "Parameter Problem",
    128: "Echo (ping) request",
    129: "Echo (ping) reply",
    130: "Multicast Listener Query",
    131: "Multicast Listener Report",
    132: "Multicast Listener Done",
    133: "Router Solicitation",
    134: "Router Advertisement",
    135: "Neighbor Solicitation",
    136: "Neighbor Advertisement",
    137: "Redirect",
    143: "Multicast Listener Report Message v2",
}
ICMPV6_CODES = {
    1: {
        0: "no route to destination",
        1: "communication with destination administratively prohibited",
        2: "beyond scope of source address",
        3: "address unreachable",
        4: "port unreachable",
        5: "source address failed ingress/egress policy",
        6: "reject route to destination",
    },
    3: {0: "hop limit exceeded in transit", 1: "fragment reassembly time exceeded"},
    4: {
        0: "erroneous header field encountered",
        1: "unrecognized Next Header type encountered",
        2: "unrecognized IPv6 option encountered",
    },
}
ICMPV6_ERRORS = frozenset({1, 2, 3, 4})

_PROTO_NAMES = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6"}
_V6_EXT = frozenset({0, 43, 60})  # hop-by-hop, routing, destination options (RFC 8200 4)

#: tshark shows these fields in hex (``-T fields``); the value is the hex digit count.
TSHARK_HEX = {"icmp.checksum": 4, "icmpv6.checksum": 4, "icmp.ident": 4}


@dataclass(slots=True)
class QuotedPacket:
    """The invoking packet quoted by an error: its IP header and the start of its payload."""

    version: int
    src: str
    dst: str
    protocol: int
    total_length: int | None = None
    ttl: int | None = None
    ip_id: int | None = None
    sport: int | None = None
    dport: int | None = None
    tcp_seq: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    icmp_ident: int | None = None
    icmp_seq: int | None = None
    malformed: str | None = None

    def tree(self) -> Node:
        pfx = "ip" if self.version == 4 else "ipv6"
        pname = _PROTO_NAMES.get(self.protocol, str(self.protocol))
        root = Node(f"Internet Protocol Version {self.version}, Src: {self.src}, Dst: {self.dst}")
        root.add(f"Source Address: {self.src}", f"{pfx}.src", self.src)
        root.add(f"Destination Address: {self.dst}", f"{pfx}.dst", self.dst)
        proto_field = "ip.proto" if self.version == 4 else "ipv6.nxt"
        root.add(f"Protocol: {pname} ({self.protocol})", proto_field, self.protocol)
        if self.ttl is not None:
            root.add(
                f"Time to live: {self.ttl}",
                "ip.ttl" if self.version == 4 else "ipv6.hlim",
                self.ttl,
            )
        if self.sport is not None:
            l4 = "tcp" if self.protocol == 6 else "udp" if self.protocol == 17 else "l4"
            root.add(f"Source Port: {self.sport}", f"{l4}.srcport", self.sport)
            root.add(f"Destination Port: {self.dport}", f"{l4}.dstport", self.dport)
        if self.tcp_seq is not None:
            root.add(f"Sequence Number (raw): {self.tcp_seq}", "tcp.seq_raw", self.tcp_seq)
        if self.icmp_type is not None:
            root.add(f"Quoted ICMP type {self.icmp_type} code {self.icmp_code}")
        if self.malformed:
            root.add(f"[Malformed: {self.malformed}]")
        return root


def _quoted_ports(q: QuotedPacket, r: Reader) -> None:
    if q.protocol in (6, 17) and r.remaining >= 4:
        q.sport, q.dport = r.unpack(">HH")
        if q.protocol == 6 and r.remaining >= 4:
            q.tcp_seq = r.u32be()
    elif q.protocol in (1, 58) and r.remaining >= 2:
        q.icmp_type, q.icmp_code = r.u8(), r.u8()
        if r.remaining >= 6:
            r.skip(2)
            q.icmp_ident, q.icmp_seq = r.unpack(">HH")


def parse_quoted_v4(data: bytes) -> QuotedPacket | None:
    r = Reader(data)
    try:
        vihl = r.u8()
        ihl = (vihl & 0xF) * 4
        r.skip(1)
        total = r.u16be()
        ip_id = r.u16be()
        r.skip(2)
        ttl, proto = r.u8(), r.u8()
        r.skip(2)
        src = str(ipaddress.IPv4Address(r.bytes(4)))
        dst = str(ipaddress.IPv4Address(r.bytes(4)))
    except Truncated:
        return None
    q = QuotedPacket(vihl >> 4, src, dst, proto, total, ttl, ip_id)
    if vihl >> 4 != 4 or ihl < 20:
        q.malformed = f"quoted header: version {vihl >> 4}, header length {ihl}"
        return q
    if ihl > len(data):
        q.malformed = f"quoted header length {ihl} > {len(data)} bytes quoted"
        return q
    r.pos = ihl
    _quoted_ports(q, r)
    return q


def parse_quoted_v6(data: bytes) -> QuotedPacket | None:
    r = Reader(data)
    try:
        first = r.u8()
        r.skip(3)
        plen = r.u16be()
        nxt, hlim = r.u8(), r.u8()
        src = str(ipaddress.IPv6Address(r.bytes(16)))
        dst = str(ipaddress.IPv6Address(r.bytes(16)))
    except Truncated:
        return None
    q = QuotedPacket(first >> 4, src, dst, nxt, plen + 40, hlim)
    if first >> 4 != 6:
        q.malformed = f"quoted header: version {first >> 4}"
        return q
    # Walk the extension headers that have the generic (next, length) layout; at most as many
    # steps as there are 8-byte units left, so the walk is bounded by the input.
    while q.protocol in _V6_EXT and r.remaining >= 8:
        nxt, hlen = r.u8(), r.u8()
        q.protocol = nxt
        if (hlen + 1) * 8 - 2 > r.remaining:
            q.malformed = "quoted extension header runs past the quote"
            return q
        r.skip((hlen + 1) * 8 - 2)
    _quoted_ports(q, r)
    return q


@dataclass(slots=True)
class IcmpMessage:
    """One ICMP or ICMPv6 message (``v6`` says which)."""

    v6: bool
    type: int = -1
    code: int = -1
    checksum: int = 0
    ident: int | None = None
    seq: int | None = None
    data: bytes = b""
    gateway: str | None = None  # ICMP redirect
    pointer: int | None = None  # parameter problem
    mtu: int | None = None  # ICMPv6 packet too big, ICMP fragmentation needed (RFC 1191)
    target: str | None = None  # ICMPv6 neighbour solicitation/advertisement, redirect
    timestamps: tuple[int, int, int] | None = None  # originate, receive, transmit
    address_mask: str | None = None
    quoted: QuotedPacket | None = None
    malformed: str | None = None
    malformed_offset: int | None = None

    @property
    def type_text(self) -> str:
        names = ICMPV6_TYPES if self.v6 else ICMP_TYPES
        return names.get(self.type, "Unknown type")

    @property
    def code_text(self) -> str | None:
        codes = (ICMPV6_CODES if self.v6 else ICMP_CODES).get(self.type)
        if codes is None:
            return None
        return codes.get(self.code, "Unknown code")

    @property
    def is_error(self) -> bool:
        return self.type in (ICMPV6_ERRORS if self.v6 else ICMP_ERRORS)

    def tree(self) -> Node:
        p = "icmpv6" if self.v6 else "icmp"
        root = Node("Internet Control Message Protocol" + ("v6" if self.v6 else ""))
        root.add(f"Type: {self.type} ({self.type_text})", f"{p}.type", self.type)
        code = f"Code: {self.code}" + (f" ({self.code_text})" if self.code_text else "")
        root.add(code, f"{p}.code", self.code)
        root.add(f"Checksum: 0x{self.checksum:04x}", f"{p}.checksum", self.checksum)
        if self.ident is not None:
            if self.v6:
                root.add(f"Identifier: 0x{self.ident:04x}", "icmpv6.echo.identifier", self.ident)
                root.add(f"Sequence: {self.seq}", "icmpv6.echo.sequence_number", self.seq)
            else:
                root.add(
                    f"Identifier (BE): {self.ident} (0x{self.ident:04x})", "icmp.ident", self.ident
                )
                root.add(f"Sequence Number (BE): {self.seq}", "icmp.seq", self.seq)
        if self.gateway is not None:
            root.add(f"Gateway address: {self.gateway}", "icmp.redir_gw", self.gateway)
        if self.pointer is not None:
            root.add(f"Pointer: {self.pointer}", f"{p}.pointer", self.pointer)
        if self.mtu is not None:
            root.add(f"MTU: {self.mtu}", f"{p}.mtu", self.mtu)
        if self.target is not None:
            fld = {
                135: "icmpv6.nd.ns.target_address",
                136: "icmpv6.nd.na.target_address",
                137: "icmpv6.nd.rd.target_address",
            }.get(self.type, "icmpv6.target")
            root.add(f"Target Address: {self.target}", fld, self.target)
        if self.timestamps is not None:
            for label, fld, v in zip(
                ("Originate", "Receive", "Transmit"),
                ("originate_timestamp", "receive_timestamp", "transmit_timestamp"),
                self.timestamps,
                strict=True,
            ):
                root.add(f"{label} timestamp: {v}", f"icmp.{fld}", v)
        if self.address_mask is not None:
            root.add(f"Address Mask: {self.address_mask}", "icmp.address_mask", self.address_mask)
        if self.quoted is not None:
            root.children.append(self.quoted.tree())
        elif self.data:
            root.add(f"Data ({len(self.data)} bytes)", "data.len", len(self.data))
        if self.malformed:
            root.add(f"[Malformed: {self.malformed}]", "_ws.malformed", self.malformed_offset)
        return root

    def fields(self) -> dict[str, list[Any]]:
        return self.tree().fields()


def parse(data: bytes, v6: bool = False) -> IcmpMessage:
    """Decode one ICMP (``v6=False``) or ICMPv6 message (the IP payload); never raises."""
    data = bytes(data)
    msg = IcmpMessage(v6)
    r = Reader(data)
    try:
        msg.type, msg.code, msg.checksum = r.unpack(">BBH")
        t = msg.type
        if (not v6 and t in (0, 8, 13, 14, 15, 16, 17, 18)) or (v6 and t in (128, 129)):
            msg.ident, msg.seq = r.unpack(">HH")
            if t in (13, 14) and not v6:
                msg.timestamps = r.unpack(">III")
            elif t in (17, 18) and not v6:
                msg.address_mask = str(ipaddress.IPv4Address(r.bytes(4)))
            msg.data = r.rest()
        elif msg.is_error:
            word = r.u32be()
            if not v6 and t == 5:
                msg.gateway = str(ipaddress.IPv4Address(word))
            elif t == (4 if v6 else 12):
                msg.pointer = word if v6 else word >> 24
            elif v6 and t == 2:
                msg.mtu = word
            elif not v6 and t == 3 and msg.code == 4 and word & 0xFFFF:
                msg.mtu = word & 0xFFFF  # RFC 1191 next-hop MTU
            msg.data = r.rest()
            msg.quoted = (parse_quoted_v6 if v6 else parse_quoted_v4)(msg.data)
            if msg.quoted is None:
                msg.malformed = f"quoted IP header cut short ({len(msg.data)} bytes)"
                msg.malformed_offset = len(data)
        elif v6 and t in (135, 136, 137):
            r.skip(4)  # reserved / flags (RFC 4861 4.3-4.5)
            msg.target = str(ipaddress.IPv6Address(r.bytes(16)))
            if t == 137:
                r.skip(16)  # destination address
            msg.data = r.rest()
        else:
            msg.data = r.rest()
    except Truncated as exc:
        msg.malformed = str(exc)
        msg.malformed_offset = exc.offset
        msg.data = bytes(data[r.pos :])
    return msg
