"""NetBIOS Session Service framing (RFC 1002 section 4.3) and direct-hosted SMB on tcp/445.

Why: every SMB exchange on tcp/139 and tcp/445 is wrapped in a 4-byte NBSS header; splitting a
reassembled direction into messages is the first step of SMB analysis, and the session request
on tcp/139 names the called/calling machines (NetBIOS first-level encoded).

Header: TYPE (1 byte), FLAGS (1 byte, bit 0 = length extension E), LENGTH (2 bytes), i.e. a
17-bit length on tcp/139 (RFC 1002 4.3.1). Direct TCP transport on tcp/445 ([MS-SMB2] 2.1,
[MS-CIFS] 2.1.1.2) uses a zero byte and a 24-bit length: pass ``direct=True``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from honeysift.protocols.base import Node, Reader, Truncated
from honeysift.protocols.dns import BadName, read_labels
from honeysift.protocols.nbns import NetbiosName, name_from_labels

SESSION_MESSAGE = 0x00
SESSION_REQUEST = 0x81
POSITIVE_RESPONSE = 0x82
NEGATIVE_RESPONSE = 0x83
RETARGET_RESPONSE = 0x84
KEEPALIVE = 0x85

TYPE_NAMES = {
    SESSION_MESSAGE: "Session message",
    SESSION_REQUEST: "Session request",
    POSITIVE_RESPONSE: "Positive session response",
    NEGATIVE_RESPONSE: "Negative session response",
    RETARGET_RESPONSE: "Retarget session response",
    KEEPALIVE: "Session keep-alive",
}
# RFC 1002 section 4.3.4.
ERROR_NAMES = {
    0x80: "Not listening on called name",
    0x81: "Not listening for calling name",
    0x82: "Called name not present",
    0x83: "Called name present, but insufficient resources",
    0x8F: "Unspecified error",
}

#: tshark shows these fields in hex (``-T fields``); the value is the hex digit count.
TSHARK_HEX = {"nbss.type": 2, "nbss.flags": 2}


@dataclass(slots=True)
class NbssMessage:
    """One NBSS message found at ``offset`` in a direction's byte stream.

    ``truncated`` means the stream ended before ``length`` body bytes (``body`` is partial);
    ``malformed`` names what could not be decoded (e.g. an unknown type: the stream is
    probably not NBSS, or we are not at a message boundary).
    """

    type: int
    flags: int
    length: int
    offset: int
    body: bytes
    truncated: bool = False
    called: NetbiosName | None = None
    calling: NetbiosName | None = None
    error_code: int | None = None
    retarget_ip: str | None = None
    retarget_port: int | None = None
    malformed: str | None = None
    malformed_offset: int | None = None

    @property
    def type_text(self) -> str:
        return TYPE_NAMES.get(self.type, f"Unknown (0x{self.type:02x})")

    @property
    def error_text(self) -> str | None:
        if self.error_code is None:
            return None
        return ERROR_NAMES.get(self.error_code, f"Unknown (0x{self.error_code:02x})")

    def tree(self) -> Node:
        root = Node(f"NetBIOS Session Service ({self.type_text})")
        root.add(f"Message Type: {self.type_text} (0x{self.type:02x})", "nbss.type", self.type)
        root.add(f"Flags: 0x{self.flags:02x}", "nbss.flags", self.flags)
        root.add(f"Length: {self.length}", "nbss.length", self.length)
        if self.called is not None:
            root.add(
                f"Called name: {self.called} ({self.called.suffix_text})",
                "nbss.called_name",
                str(self.called),
            )
        if self.calling is not None:
            root.add(
                f"Calling name: {self.calling} ({self.calling.suffix_text})",
                "nbss.calling_name",
                str(self.calling),
            )
        if self.error_code is not None:
            root.add(
                f"Error code: {self.error_text} (0x{self.error_code:02x})",
                "nbss.error_code",
                self.error_code,
            )
        if self.retarget_ip is not None:
            root.add(
                f"Retarget IP address: {self.retarget_ip}",
                "nbss.retarget_ip_address",
                self.retarget_ip,
            )
            root.add(
                f"Retarget port: {self.retarget_port}", "nbss.retarget_port", self.retarget_port
            )
        if self.truncated:
            root.add(f"[Truncated: {len(self.body)} of {self.length} bytes present]")
        if self.malformed:
            root.add(f"[Malformed: {self.malformed}]", "_ws.malformed", self.malformed_offset)
        return root

    def fields(self) -> dict[str, list[Any]]:
        return self.tree().fields()


def _session_names(msg: NbssMessage) -> None:
    """RFC 1002 4.3.2: CALLED NAME then CALLING NAME, each a DNS-style encoded name."""
    body = msg.body
    try:
        labels, pos = read_labels(body, 0)
        msg.called = name_from_labels(labels)
        labels, pos = read_labels(body, pos)
        msg.calling = name_from_labels(labels)
    except (Truncated, BadName) as exc:
        msg.malformed = f"session request names: {exc}"
        msg.malformed_offset = msg.offset + 4 + exc.offset


def _decode_body(msg: NbssMessage) -> None:
    r = Reader(msg.body)
    try:
        if msg.type == SESSION_REQUEST:
            _session_names(msg)
        elif msg.type == NEGATIVE_RESPONSE:
            msg.error_code = r.u8()
        elif msg.type == RETARGET_RESPONSE:
            msg.retarget_ip = str(ipaddress.IPv4Address(r.bytes(4)))
            msg.retarget_port = r.u16be()
    except Truncated as exc:
        msg.malformed = f"{msg.type_text}: {exc}"
        msg.malformed_offset = msg.offset + 4 + exc.offset


def split(data: bytes, direct: bool = False) -> list[NbssMessage]:
    """Split one direction's reassembled bytes into NBSS messages.

    ``direct=True`` for tcp/445 (24-bit length, any type byte other than 0 is an error).
    Stops at the first unknown message type (flagged ``malformed``, rest of the data as body),
    and flags a last message cut short as ``truncated``. Every message consumes at least its
    4-byte header, so the loop is bounded by the input size.
    """
    data = bytes(data)
    out: list[NbssMessage] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 4:
            out.append(
                NbssMessage(
                    data[pos],
                    0,
                    0,
                    pos,
                    data[pos + 1 :],
                    truncated=True,
                    malformed=f"truncated at byte {pos}: need 4 bytes for the "
                    f"header, {len(data) - pos} left",
                    malformed_offset=pos,
                )
            )
            break
        mtype, flags, short = data[pos], data[pos + 1], int.from_bytes(data[pos + 2 : pos + 4])
        length = (flags << 16) | short if direct else ((flags & 1) << 16) | short
        body = data[pos + 4 : pos + 4 + length]
        msg = NbssMessage(mtype, flags, length, pos, body, truncated=len(body) < length)
        if mtype not in TYPE_NAMES or (direct and mtype != SESSION_MESSAGE):
            msg.malformed = f"unknown message type 0x{mtype:02x} at byte {pos}"
            msg.malformed_offset = pos
            msg.body = data[pos + 4 :]
            msg.truncated = False
            out.append(msg)
            break
        if not direct and flags & 0xFE:
            msg.malformed = f"reserved flag bits set (0x{flags:02x}) at byte {pos + 1}"
            msg.malformed_offset = pos + 1
        _decode_body(msg)
        out.append(msg)
        pos += 4 + length
    return out
