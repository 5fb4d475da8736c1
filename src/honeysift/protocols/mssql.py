"""SQL Server Resolution Protocol on udp/1434 ([MC-SQLR]), where the Slammer worm struck.

Why: a honeypot sees SQL Browser probes (instance enumeration) and, historically, the Slammer
worm (MS02-039), whose single 376-byte datagram is a CLNT_UCAST_INST (0x04) followed by ~375
bytes of shellcode instead of an instance name of at most 32 bytes. Records flag such
datagrams as ``overflow_suspect`` with the reason; the verdict belongs to ``analysis``.

Message layouts: [MC-SQLR] 2.2.1 CLNT_BCAST_EX, 2.2.2 CLNT_UCAST_EX, 2.2.3 CLNT_UCAST_INST,
2.2.4 CLNT_UCAST_DAC, 2.2.5 SVR_RESP (and 2.2.6 SVR_RESP for DAC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from honeysift.protocols.base import Node

CLNT_BCAST_EX = 0x02
CLNT_UCAST_EX = 0x03
CLNT_UCAST_INST = 0x04
SVR_RESP = 0x05
CLNT_UCAST_DAC = 0x0F

TYPE_NAMES = {
    CLNT_BCAST_EX: "CLNT_BCAST_EX",
    CLNT_UCAST_EX: "CLNT_UCAST_EX",
    CLNT_UCAST_INST: "CLNT_UCAST_INST",
    SVR_RESP: "SVR_RESP",
    CLNT_UCAST_DAC: "CLNT_UCAST_DAC",
}
#: [MC-SQLR] 2.2.3: INSTANCENAME is at most 32 bytes, not counting the terminating NUL.
MAX_INSTANCE_NAME = 32
# 2.2.5: RESP_DATA is at most 1,024 bytes in reply to CLNT_UCAST_INST.
MAX_INST_RESPONSE = 1024

#: tshark shows these fields in hex (``-T fields``); the value is the hex digit count.
TSHARK_HEX = {"mssql.type": 2}


@dataclass(slots=True)
class SqlrMessage:
    """One SQL Server Resolution Protocol datagram."""

    type: int | None
    length: int
    instance: str | None = None
    protocol_version: int | None = None
    response_size: int | None = None
    response_text: str | None = None
    #: SVR_RESP: one dict per instance, keys as sent (ServerName, InstanceName, Version, tcp...).
    instances: list[dict[str, str]] = field(default_factory=list)
    dac_port: int | None = None
    overflow_suspect: bool = False
    overflow_reason: str | None = None
    malformed: str | None = None
    malformed_offset: int | None = None

    @property
    def type_text(self) -> str:
        if self.type is None:
            return "empty"
        return TYPE_NAMES.get(self.type, f"Unknown (0x{self.type:02x})")

    def tree(self) -> Node:
        root = Node(f"SQL Server Resolution Protocol ({self.type_text})")
        if self.type is not None:
            root.add(f"Type: {self.type_text} (0x{self.type:02x})", "mssql.type", self.type)
        if self.protocol_version is not None:
            root.add(
                f"Protocol version: {self.protocol_version}",
                "mssql.protocol_version",
                self.protocol_version,
            )
        if self.instance is not None:
            root.add(f"Instance name: {self.instance}", "mssql.instance", self.instance)
        if self.response_size is not None:
            root.add(
                f"Response size: {self.response_size}", "mssql.response_size", self.response_size
            )
        for inst in self.instances:
            n = root.add(f"Instance: {inst.get('InstanceName', '?')}")
            for k, v in inst.items():
                n.add(f"{k}: {v}", f"mssql.{k.lower()}", v)
        if self.dac_port is not None:
            root.add(f"DAC TCP port: {self.dac_port}", "mssql.dac_port", self.dac_port)
        if self.overflow_suspect:
            root.add(f"[Overflow suspect: {self.overflow_reason}]", "mssql.overflow_suspect", 1)
        if self.malformed:
            root.add(f"[Malformed: {self.malformed}]", "_ws.malformed", self.malformed_offset)
        return root

    def fields(self) -> dict[str, list[Any]]:
        return self.tree().fields()


def parse_response_data(text: str) -> list[dict[str, str]]:
    """Split RESP_DATA ``key;value;key;value;;key;...;;`` into one dict per instance.

    Bounded by the text length (``split`` is linear); a dangling key gets an empty value.
    """
    out: list[dict[str, str]] = []
    for chunk in text.split(";;"):
        if not chunk:
            continue
        parts = chunk.split(";")
        inst = {
            parts[i]: (parts[i + 1] if i + 1 < len(parts) else "") for i in range(0, len(parts), 2)
        }
        out.append(inst)
    return out


def _instance_name(data: bytes, start: int, msg: SqlrMessage) -> None:
    nul = data.find(b"\x00", start)
    raw = data[start:] if nul < 0 else data[start:nul]
    msg.instance = raw.decode("latin-1")
    if len(raw) > MAX_INSTANCE_NAME:
        msg.overflow_suspect = True
        msg.overflow_reason = (
            f"{msg.type_text} instance name is {len(raw)} bytes"
            f"{'' if nul >= 0 else ' (no NUL terminator)'}; [MC-SQLR] allows "
            f"at most {MAX_INSTANCE_NAME} (Slammer/MS02-039 pattern)"
        )
    elif nul < 0:
        msg.malformed = "instance name has no NUL terminator"
        msg.malformed_offset = len(data)
    elif nul + 1 < len(data):
        msg.malformed = f"{len(data) - nul - 1} bytes after the instance name"
        msg.malformed_offset = nul + 1


def parse(data: bytes) -> SqlrMessage:
    """Decode one udp/1434 datagram; never raises."""
    data = bytes(data)
    if not data:
        return SqlrMessage(None, 0, malformed="empty datagram", malformed_offset=0)
    msg = SqlrMessage(data[0], len(data))
    t = data[0]
    if t in (CLNT_BCAST_EX, CLNT_UCAST_EX):
        if len(data) > 1:
            msg.malformed = f"{len(data) - 1} unexpected bytes after the type"
            msg.malformed_offset = 1
            if len(data) - 1 > MAX_INSTANCE_NAME + 1:
                msg.overflow_suspect = True
                msg.overflow_reason = f"{msg.type_text} carries {len(data) - 1} extra bytes"
    elif t == CLNT_UCAST_INST:
        _instance_name(data, 1, msg)
    elif t == CLNT_UCAST_DAC:
        if len(data) < 2:
            msg.malformed, msg.malformed_offset = "truncated before PROTOCOLVERSION", 1
        else:
            msg.protocol_version = data[1]
            _instance_name(data, 2, msg)
    elif t == SVR_RESP:
        if len(data) < 3:
            msg.malformed, msg.malformed_offset = "truncated before RESP_SIZE", len(data)
            return msg
        msg.response_size = int.from_bytes(data[1:3], "little")
        if msg.response_size == 6 and len(data) == 6 and data[3] == 0x01:
            # SVR_RESP to CLNT_UCAST_DAC: RESP_SIZE counts the whole 6-byte message, then
            # PROTOCOLVERSION (1) and the DAC TCP port (little-endian).
            msg.protocol_version = data[3]
            msg.dac_port = int.from_bytes(data[4:6], "little")
            return msg
        body = data[3 : 3 + msg.response_size]
        msg.response_text = body.decode("latin-1")
        msg.instances = parse_response_data(msg.response_text)
        if len(body) < msg.response_size:
            msg.malformed = f"RESP_DATA has {len(body)} of {msg.response_size} bytes"
            msg.malformed_offset = len(data)
    else:
        msg.malformed = f"unknown message type 0x{t:02x}"
        msg.malformed_offset = 0
    return msg
