"""NetBIOS Name Service (RFC 1001/1002, udp/137): queries, node status, registrations.

Why: node-status (NBSTAT) probes are the classic first step against a Windows honeypot, and
their responses leak the machine's whole name table (host, domain, logged-on user, services)
and its MAC address. Names are shown the way tshark shows them (``PC0191<20>``,
``<01><02>__MSBROWSE__<02><01>``) so output can be checked against ``tshark -V``.

Layout: RFC 1002 section 4.2.1 (header), 4.2.1.2/4.2.1.3 (question/RR), 4.2.18 (node status
response), first-level name encoding in RFC 1001 section 14.1.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from honeysift.protocols.base import Node, Reader, Truncated
from honeysift.protocols.dns import BadName, Header, add_sections, label_text, read_labels

# Opcodes, RFC 1002 section 4.2.1.1 (9 and 15 are Microsoft/Wireshark extensions).
OPCODE_NAMES = {
    0: "Name query",
    5: "Registration",
    6: "Release",
    7: "Wait for acknowledgment",
    8: "Refresh",
    9: "Refresh (alternate opcode)",
    15: "Multi-homed registration",
}
RCODE_NAMES = {
    0: "No error",
    1: "Request was invalidly formatted",  # FMT_ERR
    2: "Server failure",  # SRV_ERR
    3: "Requested name does not exist",  # NAM_ERR
    4: "Request is not implemented",  # IMP_ERR
    5: "Request was refused",  # RFS_ERR
    6: "Name is owned by another node",  # ACT_ERR
    7: "Name is in conflict",  # CFT_ERR
}
TYPE_NAMES = {1: "A", 2: "NS", 10: "NULL", 32: "NB", 33: "NBSTAT"}
CLASS_NAMES = {1: "IN"}
NODE_TYPES = {0: "B-node", 1: "P-node", 2: "M-node", 3: "H-node"}

# The 16th byte of a NetBIOS name says which service registered it. Texts as printed by
# tethereal/tshark in the SotM 27 write-up, completed from Microsoft's "NetBIOS suffixes
# (16th character of the NetBIOS name)" (KB 163409).
SUFFIX_NAMES = {
    0x00: "Workstation/Redirector",
    0x01: "Browser",
    0x02: "Workstation/Redirector",
    0x03: "Messenger service/Main name",
    0x05: "Forwarded name",
    0x06: "RAS Server service",
    0x1B: "Domain Master Browser",
    0x1C: "Domain Controllers",
    0x1D: "Local Master Browser",
    0x1E: "Browser Election Service",
    0x1F: "Net DDE Service",
    0x20: "Server service",
    0x21: "RAS client service",
    0x22: "Exchange Interchange (MSMail Connector)",
    0x23: "Exchange Store",
    0x24: "Exchange Directory",
    0x2B: "Lotus Notes Server service",
    0x30: "Modem sharing server service",
    0x31: "Modem sharing client service",
    0x43: "SMS Clients Remote Control",
    0x44: "SMS Administrators Remote Control Tool",
    0x45: "SMS Clients Remote Chat",
    0x46: "SMS Clients Remote Transfer",
    0x4C: "DEC Pathworks TCP/IP Service on Windows NT",
    0x52: "DEC Pathworks TCP/IP Service on Windows NT",
    0x6A: "Microsoft Exchange IMC",
    0x87: "Microsoft Exchange MTA",
    0xBE: "Network Monitor Agent",
    0xBF: "Network Monitor Analyzer",
}

#: tshark shows these fields in hex (``-T fields``); the value is the hex digit count.
TSHARK_HEX = {"nbns.id": 4, "nbns.flags": 4, "nbns.nb_flags": 4, "nbns.name_flags": 4}

F_RESPONSE, F_AA, F_TC, F_RD, F_RA, F_BROADCAST = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0010


def netbios_name_text(raw: bytes) -> str:
    """The 15 name bytes as tshark prints them: printable kept, others ``<xx>``, trailing
    spaces dropped (the suffix byte is not included)."""
    head = raw[:15]
    if head.isascii():  # the common case: all printable ASCII (0x20-0x7e), decided in C
        text = head.decode("ascii")
        if text.isprintable():
            return text.rstrip(" ")
    text = "".join(chr(b) if 0x20 <= b <= 0x7E else f"<{b:02x}>" for b in raw[:15])
    return text.rstrip(" ")


@dataclass(slots=True)
class NetbiosName:
    """A decoded NetBIOS name: 15 bytes + suffix byte (+ scope). ``raw`` is the 16 bytes."""

    raw: bytes
    scope: str = ""
    encoded_ok: bool = True  # False: the label was not a valid 32-char first-level encoding

    @property
    def suffix(self) -> int:
        return self.raw[15] if len(self.raw) == 16 else -1

    @property
    def name(self) -> str:
        """The 15-byte name part, tshark-style."""
        return netbios_name_text(self.raw) if self.encoded_ok else label_text(self.raw)

    @property
    def suffix_text(self) -> str:
        return SUFFIX_NAMES.get(self.suffix, "Unknown")

    def __str__(self) -> str:
        """``NAME<xx>`` (plus ``.scope``), the form of tshark's ``nbns.name``."""
        if not self.encoded_ok:
            return label_text(self.raw) + (f".{self.scope}" if self.scope else "")
        text = f"{self.name}<{self.suffix:02x}>"
        return text + (f".{self.scope}" if self.scope else "")


def decode_first_level(label: bytes) -> bytes | None:
    """RFC 1001 section 14.1: 32 chars 'A'..'P', two per byte (high nibble first)."""
    if len(label) != 32 or any(not 0x41 <= c <= 0x50 for c in label):
        return None
    return bytes(((label[i] - 0x41) << 4) | (label[i + 1] - 0x41) for i in range(0, 32, 2))


def encode_first_level(name16: bytes) -> bytes:
    """The inverse of :func:`decode_first_level` (used to build test messages)."""
    return bytes(c for b in name16 for c in (0x41 + (b >> 4), 0x41 + (b & 0xF)))


def name_from_labels(labels: list[bytes]) -> NetbiosName:
    if not labels:
        return NetbiosName(b"", encoded_ok=False)
    scope = ".".join(label_text(lb) for lb in labels[1:])
    raw = decode_first_level(labels[0])
    if raw is None:
        return NetbiosName(labels[0], scope, encoded_ok=False)
    return NetbiosName(raw, scope)


def read_name(data: bytes, pos: int) -> tuple[NetbiosName, int]:
    labels, end = read_labels(data, pos)
    return name_from_labels(labels), end


class _GroupAndNodeType:
    """The G and ONT bits that NB_FLAGS and NAME_FLAGS share (RFC 1002 4.2.2, 4.2.18)."""

    __slots__ = ()
    flags: int

    @property
    def group(self) -> bool:
        return bool(self.flags & 0x8000)

    @property
    def node_type(self) -> str:
        return NODE_TYPES[(self.flags >> 13) & 3]


@dataclass(slots=True)
class NbAddress(_GroupAndNodeType):
    """One NB_FLAGS + NB_ADDRESS entry (RFC 1002 section 4.2.2)."""

    flags: int
    address: str


@dataclass(slots=True)
class NodeName(_GroupAndNodeType):
    """One entry of a node status name table (RFC 1002 section 4.2.18)."""

    name: NetbiosName
    flags: int

    @property
    def deregistering(self) -> bool:
        return bool(self.flags & 0x1000)

    @property
    def conflict(self) -> bool:
        return bool(self.flags & 0x0800)

    @property
    def active(self) -> bool:
        return bool(self.flags & 0x0400)

    @property
    def permanent(self) -> bool:
        return bool(self.flags & 0x0200)


# Node status STATISTICS after UNIT_ID, RFC 1002 section 4.2.18: (key, struct format, tshark
# field, label). Field names are tshark's where it has one.
_STATS = (
    ("jumpers", "B", "nbns.jumpers", "Jumpers"),
    ("test_result", "B", "nbns.test_result", "Test result"),
    ("version_number", "H", "nbns.version_number", "Version number"),
    ("period_of_statistics", "H", "nbns.period_of_statistics", "Period of statistics"),
    ("number_of_crcs", "H", "nbns.num_crcs", "Number of CRCs"),
    ("number_alignment_errors", "H", "nbns.num_alignment_errors", "Number of alignment errors"),
    ("number_of_collisions", "H", "nbns.num_collisions", "Number of collisions"),
    ("number_send_aborts", "H", "nbns.num_send_aborts", "Number of send aborts"),
    ("number_good_sends", "I", "nbns.num_good_sends", "Number of good sends"),
    ("number_good_receives", "I", "nbns.num_good_receives", "Number of good receives"),
    ("number_retransmits", "H", "nbns.numretransmits", "Number of retransmits"),
    (
        "number_no_resource_conditions",
        "H",
        "nbns.num_no_resource_conditions",
        "Number of no resource conditions",
    ),
    ("number_free_command_blocks", "H", "nbns.numcommand_blocks", "Number of free command blocks"),
    (
        "total_number_command_blocks",
        "H",
        "nbns.total_command_blocks",
        "Total number of command blocks",
    ),
    (
        "max_total_number_command_blocks",
        "H",
        "nbns.max_total_command_blocks",
        "Max total number of command blocks",
    ),
    ("number_pending_sessions", "H", "nbns.numpending_sessions", "Number of pending sessions"),
    (
        "max_number_pending_sessions",
        "H",
        "nbns.max_num_pending_sessions",
        "Max number of pending sessions",
    ),
    (
        "max_total_sessions_possible",
        "H",
        "nbns.max_total_sessions_possible",
        "Max total sessions possible",
    ),
    ("session_data_packet_size", "H", "nbns.session_data_packet_size", "Session data packet size"),
)
_STAT_INFO = {key: (fld, label) for key, _fmt, fld, label in _STATS}


@dataclass(slots=True)
class NbnsRR:
    """A resource record; NB and NBSTAT RDATA decoded, other types kept as ``rdata``."""

    name: NetbiosName
    rtype: int
    rclass: int
    ttl: int
    rdlength: int
    rdata: bytes = b""
    addresses: list[NbAddress] = field(default_factory=list)
    node_names: list[NodeName] = field(default_factory=list)
    unit_id: str | None = None  # MAC address in node status, aa:bb:cc:dd:ee:ff
    statistics: dict[str, int] = field(default_factory=dict)
    malformed: str | None = None

    def tree(self) -> Node:
        tname = TYPE_NAMES.get(self.rtype, f"Unknown ({self.rtype})")
        n = Node(f"{self.name}: type {tname}, class {CLASS_NAMES.get(self.rclass, self.rclass)}")
        # tshark quirk kept for -T fields parity: the owner name of an NBSTAT answer carries no
        # suffix description, other answers carry it in the field value itself.
        if self.rtype == 33 or not self.name.encoded_ok:
            n.add(f"Name: {self.name}", "nbns.name", str(self.name))
        else:
            text = f"{self.name} ({self.name.suffix_text})"
            n.add(f"Name: {text}", "nbns.name", text)
        n.add(f"Type: {tname} ({self.rtype})", "nbns.type", self.rtype)
        n.add(
            f"Class: {CLASS_NAMES.get(self.rclass, 'Unknown')} ({self.rclass})",
            "nbns.class",
            self.rclass,
        )
        n.add(f"Time to live: {self.ttl}", "nbns.ttl", self.ttl)
        n.add(f"Data length: {self.rdlength}", "nbns.data_length", self.rdlength)
        for a in self.addresses:
            n.add(
                f"Name flags: 0x{a.flags:04x} ({'Group' if a.group else 'Unique'} name, "
                f"{a.node_type})",
                "nbns.nb_flags",
                a.flags,
            )
            n.add(f"Addr: {a.address}", "nbns.addr", a.address)
        if self.rtype == 33 and (self.node_names or self.unit_id):
            n.add(
                f"Number of names: {len(self.node_names)}",
                "nbns.number_of_names",
                len(self.node_names),
            )
            for nn in self.node_names:
                e = n.add(
                    f"Name: {nn.name} ({nn.name.suffix_text})", "nbns.netbios_name", nn.name.name
                )
                bits = [("Group" if nn.group else "Unique") + " name", nn.node_type]
                bits += [
                    t
                    for t, b in (
                        ("deregistering", nn.deregistering),
                        ("conflict", nn.conflict),
                        ("active", nn.active),
                        ("permanent", nn.permanent),
                    )
                    if b
                ]
                e.add(
                    f"Name flags: 0x{nn.flags:04x} ({', '.join(bits)})", "nbns.name_flags", nn.flags
                )
            if self.unit_id is not None:
                n.add(f"Unit ID: {self.unit_id}", "nbns.unit_id", self.unit_id)
            for key, v in self.statistics.items():
                fld, label = _STAT_INFO[key]
                n.add(f"{label}: {v}", fld, v)
        elif self.rdata and not self.addresses:
            n.add(f"Data: {self.rdata.hex()}", "nbns.data", self.rdata.hex())
        if self.malformed:
            n.add(f"[Malformed: {self.malformed}]")
        return n


@dataclass(slots=True)
class NbnsQuestion:
    name: NetbiosName
    qtype: int
    qclass: int

    def tree(self) -> Node:
        tname = TYPE_NAMES.get(self.qtype, f"Unknown ({self.qtype})")
        n = Node(f"{self.name}: type {tname}, class {CLASS_NAMES.get(self.qclass, self.qclass)}")
        text = f"Name: {self.name}" + (
            f" ({self.name.suffix_text})" if self.name.encoded_ok else ""
        )
        n.add(text, "nbns.name", str(self.name))
        n.add(f"Type: {tname} ({self.qtype})", "nbns.type", self.qtype)
        n.add(
            f"Class: {CLASS_NAMES.get(self.qclass, 'Unknown')} ({self.qclass})",
            "nbns.class",
            self.qclass,
        )
        return n


@dataclass(slots=True)
class NbnsMessage(Header):
    """One NBNS datagram. ``malformed`` (+ ``malformed_offset``) when it could not be read whole."""

    questions: list[NbnsQuestion] = field(default_factory=list)
    answers: list[NbnsRR] = field(default_factory=list)
    authority: list[NbnsRR] = field(default_factory=list)
    additional: list[NbnsRR] = field(default_factory=list)

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & F_BROADCAST)

    @property
    def wack(self) -> bool:
        return self.opcode == 7

    @property
    def kind(self) -> str:
        """Short classification: query, node-status, registration, release, wack, refresh..."""
        if self.opcode == 0:
            node_status = any(q.qtype == 33 for q in self.questions) or any(
                rr.rtype == 33 for rr in self.answers
            )
            base = "node-status" if node_status else "query"
        else:
            base = {
                5: "registration",
                6: "release",
                7: "wack",
                8: "refresh",
                9: "refresh",
                15: "multihomed-registration",
            }.get(self.opcode, f"opcode-{self.opcode}")
        return base + ("-response" if self.response and not self.wack else "")

    def flags_text(self) -> str:
        """tshark's summary: ``Name query``, ``Name query response, No error``."""
        text = OPCODE_NAMES.get(self.opcode, "Unknown operation")
        if self.response and not self.wack:
            text += " response, " + RCODE_NAMES.get(self.rcode, "Unknown error")
        return text

    @property
    def names(self) -> list[NetbiosName]:
        """Every name carried: questions, RR owners, node-status tables."""
        out = [q.name for q in self.questions]
        for rr in self.answers + self.authority + self.additional:
            out.append(rr.name)
            out.extend(nn.name for nn in rr.node_names)
        return out

    def tree(self) -> Node:
        root = Node("NetBIOS Name Service")
        root.add(f"Transaction ID: 0x{self.id:04x}", "nbns.id", self.id)
        fl = root.add(f"Flags: 0x{self.flags:04x} ({self.flags_text()})", "nbns.flags", self.flags)
        fl.add(f"Response: {int(self.response)}", "nbns.flags.response", int(self.response))
        fl.add(
            f"Opcode: {OPCODE_NAMES.get(self.opcode, 'Unknown')} ({self.opcode})",
            "nbns.flags.opcode",
            self.opcode,
        )
        for bit, label, fld in (
            (F_AA, "Authoritative", "authoritative"),
            (F_TC, "Truncated", "truncated"),
            (F_RD, "Recursion desired", "recdesired"),
            (F_RA, "Recursion available", "recavail"),
            (F_BROADCAST, "Broadcast", "broadcast"),
        ):
            if self.response or bit not in (F_AA, F_RA):  # tshark shows AA/RA in responses only
                fl.add(
                    f"{label}: {int(bool(self.flags & bit))}",
                    f"nbns.flags.{fld}",
                    int(bool(self.flags & bit)),
                )
        if self.response:
            fl.add(
                f"Reply code: {RCODE_NAMES.get(self.rcode, 'Unknown error')} ({self.rcode})",
                "nbns.flags.rcode",
                self.rcode,
            )
        add_sections(root, "nbns", self)
        return root

    def fields(self) -> dict[str, list[Any]]:
        return self.tree().fields()


def _read_rr(data: bytes, r: Reader) -> NbnsRR:
    name, r.pos = read_name(data, r.pos)
    rtype, rclass, ttl, rdlength = r.unpack(">HHIH")
    rr = NbnsRR(name, rtype, rclass, ttl, rdlength)
    avail = min(rdlength, r.remaining)
    rr.rdata = r.bytes(avail)
    rd = Reader(rr.rdata)
    try:
        if rtype == 32:
            # RFC 1002 4.2.2: a list of (NB_FLAGS, NB_ADDRESS); WACK uses 2 bytes only.
            while rd.remaining >= 6:
                flags = rd.u16be()
                rr.addresses.append(NbAddress(flags, str(ipaddress.IPv4Address(rd.bytes(4)))))
        elif rtype == 33 and rr.rdata:
            count = rd.u8()
            for _ in range(count):
                raw = rd.bytes(16)
                rr.node_names.append(NodeName(NetbiosName(raw), rd.u16be()))
            if rd.remaining:
                rr.unit_id = ":".join(f"{b:02x}" for b in rd.bytes(min(6, rd.remaining)))
            for key, fmt, _fld, _label in _STATS:
                if rd.remaining < (1 if fmt == "B" else 2 if fmt == "H" else 4):
                    break
                rr.statistics[key] = rd.unpack(">" + fmt)[0]
    except Truncated as exc:
        rr.malformed = f"RDATA {exc}"
    return rr


def parse(data: bytes) -> NbnsMessage:
    """Decode one NBNS datagram (the UDP payload)."""
    msg = NbnsMessage()
    data = bytes(data)
    r = Reader(data)
    try:
        msg.read_header(r)
        for _ in range(msg.qdcount):
            name, r.pos = read_name(data, r.pos)
            qtype, qclass = r.unpack(">HH")
            msg.questions.append(NbnsQuestion(name, qtype, qclass))
        for count, section in (
            (msg.ancount, msg.answers),
            (msg.nscount, msg.authority),
            (msg.arcount, msg.additional),
        ):
            for _ in range(count):
                rr = _read_rr(data, r)
                section.append(rr)
                if len(rr.rdata) < rr.rdlength:
                    raise Truncated(r.pos, rr.rdlength - len(rr.rdata), 0)
    except (Truncated, BadName) as exc:
        msg.malformed = str(exc)
        msg.malformed_offset = exc.offset
    return msg
