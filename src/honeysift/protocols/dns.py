"""DNS messages (RFC 1035 section 4), over UDP or over TCP with the 2-byte length prefix.

Why here: honeypot traffic is full of DNS (bots resolving their IRC servers, PTR lookups of
attackers) and the name reader with compression-pointer protection is shared with NBNS, whose
wire format is DNS's (RFC 1002 section 4.2).

Compression pointers are followed only strictly backwards (RFC 1035 section 4.1.4 says a
pointer refers to a *prior* occurrence), so a hostile message cannot loop; the number of jumps
and the decoded length are bounded as well.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from honeysift.protocols.base import Node, Reader, Truncated

# RFC 1035 section 3.2.2 / 3.2.4 and later registrations (IANA "DNS Parameters").
TYPE_NAMES = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    10: "NULL",
    12: "PTR",
    13: "HINFO",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    32: "NB",
    33: "SRV",  # NBSTAT in NBNS (RFC 1002) - same number, different protocol
    41: "OPT",
    43: "DS",
    46: "RRSIG",
    47: "NSEC",
    48: "DNSKEY",
    250: "TSIG",
    251: "IXFR",
    252: "AXFR",
    255: "ANY",
    257: "CAA",
}
CLASS_NAMES = {1: "IN", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}
OPCODE_NAMES = {
    0: "Standard query",
    1: "Inverse query",
    2: "Server status request",
    4: "Notify",
    5: "Dynamic update",
}
# RFC 1035 section 4.1.1, RFC 2136 section 2.2; texts as tshark prints them.
RCODE_NAMES = {
    0: "No error",
    1: "Format error",
    2: "Server failure",
    3: "No such name",
    4: "Not implemented",
    5: "Refused",
    6: "Name exists",
    7: "RRset exists",
    8: "RRset does not exist",
    9: "Not authoritative",
    10: "Name out of zone",
}

#: tshark shows these fields in hex (``-T fields``); the value is the hex digit count.
TSHARK_HEX = {"dns.id": 4, "dns.flags": 4}

MAX_NAME = 255  # RFC 1035 section 2.3.4 (we tolerate more, but stop decoding past 1024 bytes)
_MAX_DECODED = 1024
_MAX_JUMPS = 64


class BadName(Exception):
    """A name that cannot be read: bad pointer, bad label type, too long."""

    def __init__(self, offset: int, reason: str) -> None:
        self.offset = offset
        super().__init__(f"{reason} at byte {offset}")


def read_labels(data: bytes, pos: int) -> tuple[list[bytes], int]:
    """Read a possibly compressed name at ``pos``; return (labels, offset after the name).

    Raises :class:`Truncated` or :class:`BadName`.
    """
    labels: list[bytes] = []
    end_after: int | None = None
    total = 0
    jumps = 0
    floor = pos  # a pointer must point strictly before the label where it was found
    while True:
        if pos >= len(data):
            raise Truncated(pos, 1, 0)
        length = data[pos]
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 2 > len(data):
                raise Truncated(pos, 2, len(data) - pos)
            target = ((length & 0x3F) << 8) | data[pos + 1]
            if end_after is None:
                end_after = pos + 2
            jumps += 1
            if target >= floor or jumps > _MAX_JUMPS:
                raise BadName(pos, f"compression pointer to {target} is not backwards")
            pos = floor = target
            continue
        if kind != 0:
            raise BadName(pos, f"unsupported label type 0x{length:02x}")
        if length == 0:
            return labels, (end_after if end_after is not None else pos + 1)
        if pos + 1 + length > len(data):
            raise Truncated(pos + 1, length, len(data) - pos - 1)
        labels.append(bytes(data[pos + 1 : pos + 1 + length]))
        total += length + 1
        if total > _MAX_DECODED:
            raise BadName(pos, "name longer than 1024 bytes")
        pos += 1 + length


def label_text(label: bytes) -> str:
    """Printable ASCII as is, everything else (and the separator) as ``\\xNN``."""
    return "".join(chr(b) if 0x20 < b < 0x7F and b != 0x2E else f"\\x{b:02x}" for b in label)


def name_text(labels: list[bytes]) -> str:
    return ".".join(label_text(lb) for lb in labels) if labels else "<Root>"


def _type_text(t: int) -> str:
    return TYPE_NAMES.get(t, f"Unknown ({t})")


@dataclass(slots=True)
class DnsQuestion:
    name: str
    qtype: int
    qclass: int

    def tree(self) -> Node:
        cls = CLASS_NAMES.get(self.qclass & 0x7FFF, f"0x{self.qclass:04x}")
        n = Node(f"{self.name}: type {_type_text(self.qtype)}, class {cls}")
        n.add(f"Name: {self.name}", "dns.qry.name", self.name)
        n.add(f"Type: {_type_text(self.qtype)} ({self.qtype})", "dns.qry.type", self.qtype)
        n.add(f"Class: {cls} (0x{self.qclass:04x})", "dns.qry.class", self.qclass)
        return n


@dataclass(slots=True)
class DnsRR:
    """One resource record; ``data`` is the decoded RDATA (str, list, dict) or raw bytes."""

    name: str
    rtype: int
    rclass: int
    ttl: int
    rdlength: int
    data: Any = None
    malformed: str | None = None

    def summary(self) -> str:
        d = self.data
        if self.rtype in (1, 28):
            return f"addr {d}"
        if self.rtype in (2, 5, 12):
            return f"{TYPE_NAMES[self.rtype].lower()} {d}"
        if self.rtype == 15 and isinstance(d, dict):
            return f"preference {d['preference']}, mx {d['exchange']}"
        return f"{self.rdlength} bytes"

    def tree(self, section: str = "resp") -> Node:
        if self.rtype == 41:
            n = Node(f"{self.name}: type OPT")
        else:
            cls = CLASS_NAMES.get(self.rclass & 0x7FFF, f"0x{self.rclass:04x}")
            n = Node(f"{self.name}: type {_type_text(self.rtype)}, class {cls}, {self.summary()}")
        n.add(f"Name: {self.name}", "dns.resp.name", self.name)
        n.add(f"Type: {_type_text(self.rtype)} ({self.rtype})", "dns.resp.type", self.rtype)
        if self.rtype == 41:
            n.add(f"UDP payload size: {self.rclass}", "dns.rr.udp_payload_size", self.rclass)
            n.add(
                f"Higher bits in extended RCODE: 0x{self.ttl >> 24:02x}",
                "dns.resp.ext_rcode",
                self.ttl >> 24,
            )
            n.add(
                f"EDNS0 version: {(self.ttl >> 16) & 0xFF}",
                "dns.resp.edns0_version",
                (self.ttl >> 16) & 0xFF,
            )
        else:
            n.add(f"Class: 0x{self.rclass:04x}", "dns.resp.class", self.rclass)
            n.add(f"Time to live: {self.ttl}", "dns.resp.ttl", self.ttl)
        n.add(f"Data length: {self.rdlength}", "dns.resp.len", self.rdlength)
        _rdata_nodes(n, self.rtype, self.data)
        if self.malformed:
            n.add(f"[Malformed: {self.malformed}]")
        return n


def _rdata_nodes(n: Node, rtype: int, d: Any) -> None:
    simple = {
        1: ("Address", "dns.a"),
        28: ("AAAA Address", "dns.aaaa"),
        5: ("CNAME", "dns.cname"),
        2: ("Name Server", "dns.ns"),
        12: ("Domain Name", "dns.ptr.domain_name"),
    }
    if d is None:
        return
    if rtype in simple and isinstance(d, str):
        label, fld = simple[rtype]
        n.add(f"{label}: {d}", fld, d)
    elif rtype == 15 and isinstance(d, dict):
        n.add(f"Preference: {d['preference']}", "dns.mx.preference", d["preference"])
        n.add(f"Mail Exchange: {d['exchange']}", "dns.mx.mail_exchange", d["exchange"])
    elif rtype == 16 and isinstance(d, list):
        for s in d:
            n.add(f"TXT: {s}", "dns.txt", s)
    elif rtype == 6 and isinstance(d, dict):
        n.add(f"Primary name server: {d['mname']}", "dns.soa.mname", d["mname"])
        n.add(f"Responsible authority's mailbox: {d['rname']}", "dns.soa.rname", d["rname"])
        for key, fld in (
            ("serial", "serial_number"),
            ("refresh", "refresh_interval"),
            ("retry", "retry_interval"),
            ("expire", "expire_limit"),
            ("minimum", "minimum_ttl"),
        ):
            n.add(f"{key.capitalize()}: {d[key]}", f"dns.soa.{fld}", d[key])
    elif rtype == 33 and isinstance(d, dict):
        for key in ("priority", "weight", "port"):
            n.add(f"{key.capitalize()}: {d[key]}", f"dns.srv.{key}", d[key])
        n.add(f"Target: {d['target']}", "dns.srv.target", d["target"])
    elif rtype == 41 and isinstance(d, list):
        for code, val in d:
            n.add(f"Option: code {code}, {len(val)} bytes", "dns.opt.code", code)
    elif isinstance(d, bytes):
        n.add(f"Data: {d.hex()}", "dns.data", d.hex())


def _rdata(data: bytes, start: int, rdlength: int, rtype: int) -> Any:
    """Decode RDATA in ``data[start:start+rdlength]`` (names may point back into ``data``)."""
    end = start + rdlength
    body = data[start:end]
    if rtype == 1:
        if rdlength != 4:
            raise BadName(start, f"A record with {rdlength} data bytes")
        return str(ipaddress.IPv4Address(body))
    if rtype == 28:
        if rdlength != 16:
            raise BadName(start, f"AAAA record with {rdlength} data bytes")
        return str(ipaddress.IPv6Address(body))
    if rtype in (2, 5, 12):
        labels, _ = read_labels(data[:end], start)
        return name_text(labels)
    if rtype == 15:
        r = Reader(data, start, end)
        pref = r.u16be()
        labels, _ = read_labels(data[:end], r.pos)
        return {"preference": pref, "exchange": name_text(labels)}
    if rtype == 16:
        r = Reader(data, start, end)
        out = []
        while r.remaining:
            out.append(r.bytes(r.u8()).decode("latin-1"))
        return out
    if rtype == 6:
        mname, p = read_labels(data[:end], start)
        rname, p = read_labels(data[:end], p)
        r = Reader(data, p, end)
        serial, refresh, retry, expire, minimum = r.unpack(">IIIII")
        return {
            "mname": name_text(mname),
            "rname": name_text(rname),
            "serial": serial,
            "refresh": refresh,
            "retry": retry,
            "expire": expire,
            "minimum": minimum,
        }
    if rtype == 33:
        r = Reader(data, start, end)
        prio, weight, port = r.unpack(">HHH")
        labels, _ = read_labels(data[:end], r.pos)
        return {"priority": prio, "weight": weight, "port": port, "target": name_text(labels)}
    if rtype == 41:
        r = Reader(data, start, end)
        opts = []
        while r.remaining:
            code, ln = r.unpack(">HH")
            opts.append((code, r.bytes(ln)))
        return opts
    return bytes(body)


@dataclass(slots=True)
class Header:
    """The header DNS and NBNS share (RFC 1035 4.1.1; RFC 1002 4.2.1 reuses the layout):
    transaction id, flags, the four section counts, and where decoding stopped if it did."""

    id: int = 0
    flags: int = 0
    qdcount: int = 0
    ancount: int = 0
    nscount: int = 0
    arcount: int = 0
    malformed: str | None = None
    malformed_offset: int | None = None

    def read_header(self, r: Reader) -> None:
        (self.id, self.flags, self.qdcount, self.ancount, self.nscount, self.arcount) = r.unpack(
            ">6H"
        )

    @property
    def response(self) -> bool:
        return bool(self.flags & 0x8000)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    @property
    def rcode(self) -> int:
        return self.flags & 0xF


@dataclass(slots=True)
class DnsMessage(Header):
    """One DNS message. ``malformed`` is set (with ``malformed_offset``) if it was cut short."""

    questions: list[DnsQuestion] = field(default_factory=list)
    answers: list[DnsRR] = field(default_factory=list)
    authority: list[DnsRR] = field(default_factory=list)
    additional: list[DnsRR] = field(default_factory=list)
    tcp_length: int | None = None

    def flags_text(self) -> str:
        text = OPCODE_NAMES.get(self.opcode, f"Unknown operation ({self.opcode})")
        if self.response:
            text += " response, " + RCODE_NAMES.get(self.rcode, f"Unknown error ({self.rcode})")
        return text

    def tree(self) -> Node:
        root = Node(f"Domain Name System ({'response' if self.response else 'query'})")
        if self.tcp_length is not None:
            root.add(f"Length: {self.tcp_length}", "dns.length", self.tcp_length)
        root.add(f"Transaction ID: 0x{self.id:04x}", "dns.id", self.id)
        fl = root.add(f"Flags: 0x{self.flags:04x} {self.flags_text()}", "dns.flags", self.flags)
        fl.add(f"Response: {int(self.response)}", "dns.flags.response", int(self.response))
        fl.add(f"Opcode: {self.opcode}", "dns.flags.opcode", self.opcode)
        for bit, name, fld in (
            (0x0400, "Authoritative", "authoritative"),
            (0x0200, "Truncated", "truncated"),
            (0x0100, "Recursion desired", "recdesired"),
            (0x0080, "Recursion available", "recavail"),
        ):
            if fld != "recavail" or self.response:
                fl.add(
                    f"{name}: {int(bool(self.flags & bit))}",
                    f"dns.flags.{fld}",
                    int(bool(self.flags & bit)),
                )
        if self.response:
            fl.add(
                f"Reply code: {RCODE_NAMES.get(self.rcode, 'Unknown')} ({self.rcode})",
                "dns.flags.rcode",
                self.rcode,
            )
        add_sections(root, "dns", self)
        return root

    def fields(self) -> dict[str, list[Any]]:
        return self.tree().fields()


def add_sections(root: Node, prefix: str, m: Any) -> None:
    """The counts, queries and record sections of a DNS-format message (RFC 1035 4.1; NBNS
    uses the same layout, RFC 1002 4.2.1), as tshark lays them out."""
    for label, fld, v in (
        ("Questions", "queries", m.qdcount),
        ("Answer RRs", "answers", m.ancount),
        ("Authority RRs", "auth_rr", m.nscount),
        ("Additional RRs", "add_rr", m.arcount),
    ):
        root.add(f"{label}: {v}", f"{prefix}.count.{fld}", v)
    if m.questions:
        q = root.add("Queries")
        q.children.extend(x.tree() for x in m.questions)
    for label, rrs in (
        ("Answers", m.answers),
        ("Authoritative nameservers", m.authority),
        ("Additional records", m.additional),
    ):
        if rrs:
            s = root.add(label)
            s.children.extend(rr.tree() for rr in rrs)
    if m.malformed:
        root.add(f"[Malformed: {m.malformed}]", "_ws.malformed", m.malformed_offset)


def _read_rr(data: bytes, r: Reader) -> DnsRR:
    labels, r.pos = read_labels(data, r.pos)
    rtype, rclass, ttl, rdlength = r.unpack(">HHIH")
    start = r.pos
    r.need(rdlength)
    r.pos += rdlength
    rr = DnsRR(name_text(labels), rtype, rclass, ttl, rdlength)
    try:
        rr.data = _rdata(data, start, rdlength, rtype)
    except (Truncated, BadName, ValueError) as exc:
        rr.data = bytes(data[start : start + rdlength])
        rr.malformed = str(exc)
    return rr


def parse(data: bytes, tcp: bool = False) -> DnsMessage:
    """Decode one DNS message (``tcp=True``: it starts with the 2-byte length, RFC 1035 4.2.2)."""
    msg = DnsMessage()
    data = bytes(data)
    base = 0
    try:
        if tcp:
            r0 = Reader(data)
            msg.tcp_length = r0.u16be()
            base = 2
            data = data[2 : 2 + msg.tcp_length]
        r = Reader(data)
        msg.read_header(r)
        for _ in range(msg.qdcount):
            labels, r.pos = read_labels(data, r.pos)
            qtype, qclass = r.unpack(">HH")
            msg.questions.append(DnsQuestion(name_text(labels), qtype, qclass))
        for count, out in (
            (msg.ancount, msg.answers),
            (msg.nscount, msg.authority),
            (msg.arcount, msg.additional),
        ):
            for _ in range(count):
                out.append(_read_rr(data, r))
        if tcp and msg.tcp_length is not None and len(data) < msg.tcp_length:
            raise Truncated(base + len(data), msg.tcp_length - len(data), 0)
    except (Truncated, BadName) as exc:
        msg.malformed = str(exc)
        msg.malformed_offset = exc.offset + base
    return msg


def parse_stream(data: bytes) -> list[DnsMessage]:
    """Split one direction of a DNS-over-TCP stream into messages (each length-prefixed)."""
    out: list[DnsMessage] = []
    pos = 0
    while pos < len(data):
        msg = parse(data[pos:], tcp=True)
        if msg.malformed_offset is not None:
            msg.malformed_offset += pos
        out.append(msg)
        if msg.tcp_length is None:
            break
        pos += 2 + msg.tcp_length
    return out
