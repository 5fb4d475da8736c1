"""SMB2/3 messages ([MS-SMB2] 2.2) and the session view (requests paired with responses).

The same questions as for SMB1 (who logged on, which share and file, what was written, which
pipe carried DCE/RPC, what status came back), for the protocol that replaced it.
:func:`parse_messages` decodes one NBSS payload (a message or a NextCommand compound chain);
:func:`decode_session` pairs requests and responses by MessageId and tracks tree id -> share
and file id -> name.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from honeysift.protocols.base import Node, Reader, Truncated
from honeysift.protocols.ntstatus import nt_status_name, nt_status_text
from honeysift.protocols.smb1 import CREATE_ACTIONS, DISPOSITIONS, Ntlmssp, find_ntlmssp
from honeysift.safe_text import safe

MAGIC = b"\xfeSMB"
TRANSFORM_MAGIC = b"\xfdSMB"  # [MS-SMB2] 2.2.41 encrypted
COMPRESSED_MAGIC = b"\xfcSMB"  # [MS-SMB2] 2.2.42 compressed
HEADER_LEN = 64
MAX_COMPOUND = 64
MAX_MESSAGES = 1_000_000

FLAGS_RESPONSE = 0x00000001
FLAGS_ASYNC = 0x00000002
FLAGS_RELATED = 0x00000004
FLAGS_SIGNED = 0x00000008
STATUS_PENDING = 0x00000103
STATUS_MORE_PROCESSING_REQUIRED = 0xC0000016
STATUS_BUFFER_OVERFLOW = 0x80000005

# [MS-SMB2] 2.2.1.2 Command
COMMANDS: dict[int, str] = {
    0x00: "Negotiate Protocol",
    0x01: "Session Setup",
    0x02: "Session Logoff",
    0x03: "Tree Connect",
    0x04: "Tree Disconnect",
    0x05: "Create",
    0x06: "Close",
    0x07: "Flush",
    0x08: "Read",
    0x09: "Write",
    0x0A: "Lock",
    0x0B: "Ioctl",
    0x0C: "Cancel",
    0x0D: "KeepAlive",
    0x0E: "Find",
    0x0F: "Notify",
    0x10: "GetInfo",
    0x11: "SetInfo",
    0x12: "Break",
}
NEGOTIATE, SESSION_SETUP, LOGOFF, TREE_CONNECT, TREE_DISCONNECT, CREATE, CLOSE = range(7)
READ, WRITE, IOCTL = 0x08, 0x09, 0x0B

SHARE_TYPES = {1: "Physical disk", 2: "Named pipe", 3: "Printer"}
DIALECTS = {
    0x0202: "SMB 2.0.2",
    0x0210: "SMB 2.1",
    0x0222: "SMB 2.2.2",
    0x0224: "SMB 2.2.4",
    0x0300: "SMB 3.0",
    0x0302: "SMB 3.0.2",
    0x0310: "SMB 3.1.0",
    0x0311: "SMB 3.1.1",
    0x02FF: "SMB2 wildcard",
}
# [MS-SMB2] 2.2.31 CtlCode values ([MS-FSCC] 2.3)
FSCTLS = {
    0x0011C017: "FSCTL_PIPE_TRANSCEIVE",
    0x00110018: "FSCTL_PIPE_WAIT",
    0x0011400C: "FSCTL_PIPE_PEEK",
    0x00060194: "FSCTL_DFS_GET_REFERRALS",
    0x000601B0: "FSCTL_DFS_GET_REFERRALS_EX",
    0x00140204: "FSCTL_VALIDATE_NEGOTIATE_INFO",
    0x00144064: "FSCTL_SRV_ENUMERATE_SNAPSHOTS",
    0x00140078: "FSCTL_SRV_REQUEST_RESUME_KEY",
    0x001440F2: "FSCTL_SRV_COPYCHUNK",
    0x001480F2: "FSCTL_SRV_COPYCHUNK_WRITE",
    0x001441BB: "FSCTL_SRV_READ_HASH",
    0x001401D4: "FSCTL_LMR_REQUEST_RESILIENCY",
    0x001401FC: "FSCTL_QUERY_NETWORK_INTERFACE_INFO",
    0x000900A4: "FSCTL_SET_REPARSE_POINT",
    0x00098208: "FSCTL_FILE_LEVEL_TRIM",
}
FSCTL_PIPE_TRANSCEIVE = 0x0011C017

# Offset of the 16-byte FileId inside the body of requests that name an open file.
_REQ_FILEID = {
    0x06: 8,
    0x07: 8,
    0x08: 16,
    0x09: 16,
    0x0A: 8,
    0x0B: 8,
    0x0E: 8,
    0x0F: 8,
    0x10: 24,
    0x11: 16,
    0x12: 8,
}


def command_name(code: int) -> str:
    return COMMANDS.get(code, f"Unknown (0x{code:02x})")


def _hexs(b: bytes, limit: int = 64) -> str:
    return b[:limit].hex() + ("..." if len(b) > limit else "")


def _guid(b: bytes) -> str:
    return str(uuid.UUID(bytes_le=b)) if len(b) == 16 else b.hex()


@dataclass(slots=True)
class Smb2Header:
    credit_charge: int
    status: int
    command: int
    credits: int
    flags: int
    next_command: int
    message_id: int
    async_id: int | None
    tree_id: int | None
    session_id: int
    signature: bytes

    @property
    def is_response(self) -> bool:
        return bool(self.flags & FLAGS_RESPONSE)

    @property
    def is_async(self) -> bool:
        return bool(self.flags & FLAGS_ASYNC)

    @property
    def signed(self) -> bool:
        return bool(self.flags & FLAGS_SIGNED)

    @property
    def related(self) -> bool:
        return bool(self.flags & FLAGS_RELATED)

    @property
    def status_name(self) -> str:
        return nt_status_name(self.status)


@dataclass(slots=True)
class Smb2Message:
    """One SMB2 message (one element of a compound). Command fields stay None when absent."""

    header: Smb2Header | None
    ref: Any = None
    offset: int = 0  # within the NBSS payload
    structure_size: int | None = None
    error: bool = False  # an error response body ([MS-SMB2] 2.2.2)
    # negotiate
    dialects: list[int] = field(default_factory=list)
    dialect: int | None = None
    guid: str | None = None
    capabilities: int | None = None
    security_mode: int | None = None
    # session setup
    security_blob: bytes = b""
    ntlmssp: Ntlmssp | None = None
    session_flags: int | None = None
    # tree connect
    path: str | None = None
    share_type: int | None = None
    # create
    file_name: str | None = None
    desired_access: int | None = None
    disposition: int | None = None
    create_options: int | None = None
    create_action: int | None = None
    end_of_file: int | None = None
    file_id: bytes | None = None
    # read / write / ioctl
    offset64: int | None = None
    length: int | None = None
    data: bytes = b""
    ctl_code: int | None = None
    ioctl_out: bytes = b""
    # context applied by decode_session: the tree id's share path, the handle's file name
    share: str | None = None
    context_file: str | None = None
    malformed: str | None = None

    @property
    def is_response(self) -> bool:
        return self.header is not None and self.header.is_response

    @property
    def command(self) -> int | None:
        return self.header.command if self.header else None

    @property
    def name(self) -> str:
        return command_name(self.header.command) if self.header else "malformed"

    def tree(self) -> Node:
        n = Node("SMB2 (Server Message Block Protocol version 2)")
        h = self.header
        if h is None:
            n.add(f"[Malformed: {self.malformed}]", "_ws.malformed", self.malformed)
            return n
        hn = n.add("SMB2 Header")
        hn.add(f"Credit Charge: {h.credit_charge}", "smb2.credit.charge", h.credit_charge)
        if h.is_response:
            hn.add(f"NT Status: {nt_status_text(h.status)}", "smb2.nt_status", h.status)
        else:
            hn.add(
                f"Channel Sequence: {h.status & 0xFFFF}", "smb2.channel_sequence", h.status & 0xFFFF
            )
        hn.add(f"Command: {command_name(h.command)} ({h.command})", "smb2.cmd", h.command)
        label = "Credits granted" if h.is_response else "Credits requested"
        fld = "smb2.credits.granted" if h.is_response else "smb2.credits.requested"
        hn.add(f"{label}: {h.credits}", fld, h.credits)
        f = hn.add(f"Flags: 0x{h.flags:08x}", "smb2.flags", h.flags)
        f.add(f"Response: {h.is_response}", "smb2.flags.response", h.is_response)
        f.add(f"Async command: {h.is_async}", "smb2.flags.async", h.is_async)
        f.add(f"Chained: {h.related}", "smb2.flags.chained", h.related)
        f.add(f"Signing: {h.signed}", "smb2.flags.signature", h.signed)
        hn.add(f"Chain Offset: 0x{h.next_command:08x}", "smb2.chain_offset", h.next_command)
        hn.add(f"Message ID: {h.message_id}", "smb2.msg_id", h.message_id)
        if h.async_id is not None:
            hn.add(f"Async Id: 0x{h.async_id:016x}", "smb2.aid", h.async_id)
        if h.tree_id is not None:
            t = hn.add(
                f"Tree Id: 0x{h.tree_id:08x}" + (f"  {safe(self.share)}" if self.share else ""),
                "smb2.tid",
                h.tree_id,
            )
            if (
                self.share is not None
                and self.path is None
                and not (h.command == TREE_CONNECT and h.is_response)
            ):
                t.add(f"[Tree: {safe(self.share)}]", "smb2.tree", self.share)
        hn.add(f"Session Id: 0x{h.session_id:016x}", "smb2.sesid", h.session_id)
        hn.add(f"Signature: {h.signature.hex()}", "smb2.signature", h.signature)
        kind = "Response" if h.is_response else "Request"
        b = n.add(f"{command_name(h.command)} {kind} ({h.command:#04x})")
        if self.structure_size is not None:
            b.add(
                f"StructureSize: 0x{self.structure_size:04x}",
                "smb2.buffer_code",
                self.structure_size,
            )
        if self.error:
            b.add("[Error Response]")
        for d in self.dialects:
            b.add(f"Dialect: {DIALECTS.get(d, 'Unknown')} (0x{d:04x})", "smb2.dialect", d)
        if self.dialect is not None:
            b.add(
                f"Dialect: {DIALECTS.get(self.dialect, 'Unknown')} (0x{self.dialect:04x})",
                "smb2.dialect",
                self.dialect,
            )
        if self.guid is not None:
            fld = "smb2.server_guid" if h.is_response else "smb2.client_guid"
            b.add(f"{'Server' if h.is_response else 'Client'} Guid: {self.guid}", fld, self.guid)
        if self.session_flags is not None:
            b.add(
                f"Session Flags: 0x{self.session_flags:04x}", "smb2.ses_flags", self.session_flags
            )
        if self.security_blob:
            s = b.add(
                f"Security Blob: {_hexs(self.security_blob)}",
                "smb2.security_blob",
                self.security_blob,
            )
            if self.ntlmssp is not None:
                s.children.append(self.ntlmssp.tree())
                if self.ntlmssp.message_type == 3:
                    b.add(f"[Account: {safe(self.ntlmssp.user)}]", "smb2.acct", self.ntlmssp.user)
                    b.add(
                        f"[Domain: {safe(self.ntlmssp.domain)}]", "smb2.domain", self.ntlmssp.domain
                    )
                    b.add(
                        f"[Host: {safe(self.ntlmssp.workstation)}]",
                        "smb2.host",
                        self.ntlmssp.workstation,
                    )
        if self.path is not None:
            b.add(f"Tree: {safe(self.path)}", "smb2.tree", self.path)
        if self.share_type is not None:
            b.add(
                f"Share Type: {SHARE_TYPES.get(self.share_type, 'Unknown')} "
                f"(0x{self.share_type:02x})",
                "smb2.share_type",
                self.share_type,
            )
        if self.desired_access is not None:
            b.add(
                f"Access Mask: 0x{self.desired_access:08x}", "smb2.access_mask", self.desired_access
            )
        if self.disposition is not None:
            d = self.disposition
            b.add(
                f"Disposition: {DISPOSITIONS.get(d, 'Unknown')} ({d})", "smb2.create.disposition", d
            )
        if self.create_options is not None:
            b.add(
                f"Create Options: 0x{self.create_options:08x}",
                "smb2.create_options",
                self.create_options,
            )
        if self.file_name is not None:
            b.add(f"Filename: {safe(self.file_name)}", "smb2.filename", self.file_name)
        if self.create_action is not None:
            a = self.create_action
            b.add(
                f"Create Action: The file was {CREATE_ACTIONS.get(a, 'unknown').lower()} ({a})",
                "smb2.create.action",
                a,
            )
        if self.end_of_file is not None:
            b.add(f"End Of File: {self.end_of_file}", "smb2.eof", self.end_of_file)
        if self.file_id is not None:
            fid = b.add(f"GUID handle File: {_guid(self.file_id)}", "smb2.fid", _guid(self.file_id))
            # context only (tshark's smb2.filename is the CREATE request's name)
            if self.context_file is not None and self.file_name is None:
                fid.add(f"[File Name: {safe(self.context_file)}]")
        elif self.context_file is not None and self.file_name is None:
            b.add(f"[File Name: {safe(self.context_file)}]")
        if self.ctl_code is not None:
            b.add(
                f"Function: {FSCTLS.get(self.ctl_code, 'Unknown')} (0x{self.ctl_code:08x})",
                "smb2.ioctl.function",
                self.ctl_code,
            )
        if self.offset64 is not None:
            b.add(f"File Offset: {self.offset64}", "smb2.file_offset", self.offset64)
        if self.length is not None:
            if h.command == READ and not h.is_response:
                b.add(f"Read Length: {self.length}", "smb2.read_length", self.length)
            elif h.command == WRITE:
                b.add(f"Write Length: {self.length}", "smb2.write_length", self.length)
            else:
                b.add(f"Length: {self.length}", "smb2.length", self.length)
        if self.data:
            fld = {READ: "smb2.read_data", WRITE: "smb2.write_data"}.get(h.command, "smb2.ioctl.in")
            b.add(f"Data: {_hexs(self.data)}", fld, self.data)
        if self.ioctl_out:
            b.add(f"Out Data: {_hexs(self.ioctl_out)}", "smb2.ioctl.out", self.ioctl_out)
        if self.malformed:
            n.add(f"[Malformed: {self.malformed}]", "_ws.malformed", self.malformed)
        return n

    def fields(self) -> dict[str, list[Any]]:
        return self.tree().fields()


def parse_messages(data: bytes, ref: Any = None) -> list[Smb2Message]:
    """Decode an NBSS payload: one SMB2 message or a compound chain. Never raises."""
    data = bytes(data)
    if data[:4] in (TRANSFORM_MAGIC, COMPRESSED_MAGIC):
        kind = "encrypted" if data[:4] == TRANSFORM_MAGIC else "compressed"
        return [Smb2Message(None, ref, malformed=f"{kind} SMB3 message (not decoded)")]
    out: list[Smb2Message] = []
    pos = 0
    for _ in range(MAX_COMPOUND):
        m = parse_message(data[pos:], ref)
        m.offset = pos
        out.append(m)
        h = m.header
        if h is None or h.next_command == 0:
            break
        # [MS-SMB2] 2.2.1: NextCommand is 8-byte aligned and points past this header
        if h.next_command < HEADER_LEN or pos + h.next_command >= len(data):
            m.malformed = m.malformed or f"NextCommand {h.next_command} outside the message"
            break
        pos += h.next_command
    else:
        out[-1].malformed = f"compound longer than {MAX_COMPOUND}"
    return out


def parse_message(data: bytes, ref: Any = None) -> Smb2Message:
    """Decode one SMB2 message at ``data[0]`` (offsets in it are relative to its header)."""
    data = bytes(data)
    if len(data) < HEADER_LEN or not data.startswith(MAGIC):
        return Smb2Message(
            None, ref, malformed="not an SMB2 header" if len(data) >= 4 else "too short"
        )
    (_size, charge, status, cmd, credits, flags, nxt, mid) = struct.unpack_from(
        "<HHIHHIIQ", data, 4
    )
    if flags & FLAGS_ASYNC:
        async_id, tid = struct.unpack_from("<Q", data, 32)[0], None
    else:
        async_id, tid = None, struct.unpack_from("<I", data, 36)[0]
    sid = struct.unpack_from("<Q", data, 40)[0]
    h = Smb2Header(charge, status, cmd, credits, flags, nxt, mid, async_id, tid, sid, data[48:64])
    m = Smb2Message(h, ref)
    if nxt and nxt < HEADER_LEN:
        m.malformed = f"NextCommand {nxt} points inside the header"
    end = min(nxt, len(data)) if nxt >= HEADER_LEN else len(data)
    r = Reader(data, HEADER_LEN, end)
    try:
        m.structure_size = r.u16le()
        resp = h.is_response
        if (
            resp
            and m.structure_size == 9
            and status not in (0, STATUS_MORE_PROCESSING_REQUIRED, STATUS_BUFFER_OVERFLOW)
            and cmd != SESSION_SETUP
        ):
            m.error = True
            return m
        _body(m, h, r, data[:end])
    except Truncated as e:
        m.malformed = m.malformed or f"{m.name}: truncated at byte {e.offset}"
    return m


def _buf(m: Smb2Message, data: bytes, offset: int, length: int) -> bytes:
    if length and offset + length > len(data):
        m.malformed = f"buffer at {offset} length {length} beyond message end"
    return data[offset : offset + length] if length and offset < len(data) else b""


def _utf16(b: bytes) -> str:
    return b[: len(b) // 2 * 2].decode("utf-16-le", "replace")


def _body(m: Smb2Message, h: Smb2Header, r: Reader, data: bytes) -> None:
    cmd, resp = h.command, h.is_response
    if cmd == NEGOTIATE:
        if not resp:
            count, m.security_mode, _res, m.capabilities = r.unpack("<HHHI")
            m.guid = _guid(r.bytes(16))
            r.skip(8)
            m.dialects = [r.u16le() for _ in range(min(count, r.remaining // 2))]
        else:
            m.security_mode, m.dialect, _n = r.unpack("<HHH")
            m.guid = _guid(r.bytes(16))
            m.capabilities = r.u32le()
            r.skip(12 + 16)
            off, ln = r.unpack("<HH")
            m.security_blob = _buf(m, data, off, ln)
    elif cmd == SESSION_SETUP:
        if not resp:
            r.skip(2)
            _cap, _chan, off, ln = r.unpack("<IIHH")
        else:
            m.session_flags, off, ln = r.unpack("<HHH")
        m.security_blob = _buf(m, data, off, ln)
        m.ntlmssp = find_ntlmssp(m.security_blob)
    elif cmd == TREE_CONNECT:
        if not resp:
            _flags, off, ln = r.unpack("<HHH")
            m.path = _utf16(_buf(m, data, off, ln))
        else:
            m.share_type = r.u8()
    elif cmd == CREATE:
        if not resp:
            r.skip(1 + 1 + 4 + 8 + 8)
            m.desired_access, _attrs, _share, m.disposition, m.create_options = r.unpack("<IIIII")
            off, ln = r.unpack("<HH")
            m.file_name = _utf16(_buf(m, data, off, ln))
        else:
            _oplock, _flags, m.create_action = r.unpack("<BBI")
            r.skip(32 + 8)
            m.end_of_file = r.unpack("<Q")[0]
            r.skip(8)
            m.file_id = r.bytes(16)
    elif cmd == READ:
        if not resp:
            r.skip(2)
            m.length, m.offset64 = r.unpack("<IQ")
            m.file_id = r.bytes(16)
        else:
            off = r.u8()
            r.skip(1)
            ln = r.u32le()
            m.length = ln
            m.data = _buf(m, data, off, ln)
    elif cmd == WRITE:
        if not resp:
            off, ln, m.offset64 = r.unpack("<HIQ")
            m.file_id = r.bytes(16)
            m.length = ln
            m.data = _buf(m, data, off, ln)
        else:
            r.skip(2)
            m.length = r.u32le()
    elif cmd == IOCTL:
        r.skip(2)
        m.ctl_code = r.u32le()
        m.file_id = r.bytes(16)
        if not resp:
            ioff, icnt, _mir, ooff, ocnt = r.unpack("<IIIII")
        else:
            ioff, icnt, ooff, ocnt = r.unpack("<IIII")
        m.data = _buf(m, data, ioff, icnt)
        m.ioctl_out = _buf(m, data, ooff, ocnt)
    elif not resp and cmd in _REQ_FILEID:
        r.skip(_REQ_FILEID[cmd] - 2)
        m.file_id = r.bytes(16)


@dataclass(slots=True)
class Smb2Exchange:
    """A request with its final response (interim STATUS_PENDING replies kept aside)."""

    command: int
    request: Smb2Message | None
    response: Smb2Message | None
    interim: list[Smb2Message] = field(default_factory=list)
    status: int | None = None
    status_name: str = ""
    share: str | None = None
    file_name: str | None = None
    file_id: bytes | None = None

    @property
    def name(self) -> str:
        return command_name(self.command)

    @property
    def ok(self) -> bool:
        return self.status == 0

    @property
    def request_ref(self) -> Any:
        return self.request.ref if self.request else None

    @property
    def response_ref(self) -> Any:
        return self.response.ref if self.response else None

    @property
    def written(self) -> bytes:
        """Client bytes: WRITE data or IOCTL input (pipe transceive)."""
        return self.request.data if self.request else b""

    @property
    def read(self) -> bytes:
        """Server bytes: READ data or IOCTL output."""
        if self.response is None:
            return b""
        return self.response.ioctl_out if self.command == IOCTL else self.response.data

    def tree(self) -> Node:
        n = Node(f"SMB2 {self.name} ({self.command})")
        n.add(f"Command: {self.name} ({self.command})", "smb2.cmd", self.command)
        if self.share is not None:
            n.add(f"Tree: {safe(self.share)}", "smb2.tree", self.share)
        if self.file_name is not None:
            n.add(f"Filename: {safe(self.file_name)}", "smb2.filename", self.file_name)
        if self.status is not None:
            n.add(f"NT Status: {nt_status_text(self.status)}", "smb2.nt_status", self.status)
        else:
            n.add("[No response seen]")
        for m in (self.request, self.response):
            if m is not None:
                n.children.append(m.tree())
        return n

    def fields(self) -> dict[str, list[Any]]:
        return self.tree().fields()


def _as_messages(items: Iterable[Any]) -> list[Smb2Message]:
    out: list[Smb2Message] = []
    for item in items:
        if isinstance(item, Smb2Message):
            out.append(item)
            continue
        if isinstance(item, (bytes, bytearray, memoryview)):
            data, ref = bytes(item), None
        else:
            data, ref = bytes(item[0]), item[1]
        out.extend(parse_messages(data, ref))
        if len(out) >= MAX_MESSAGES:
            break
    return out


@dataclass(slots=True)
class Smb2Context:
    """Tree and file names known so far; share one across the connections of a client, since
    a session (and its tree ids / file ids) can continue on a new TCP connection."""

    trees: dict[tuple[int, int], str] = field(default_factory=dict)
    files: dict[bytes, str] = field(default_factory=dict)


def decode_session(
    client: list[Any], server: list[Any], context: Smb2Context | None = None
) -> list[Smb2Exchange]:
    """Pair SMB2 requests and responses by MessageId; apply tree and file context.

    Inputs are NBSS payloads as ``(bytes, ref)`` pairs, ``bytes`` or parsed messages. An async
    STATUS_PENDING reply is kept as ``interim`` and the final reply with the same MessageId
    completes the exchange. Records are in request order; unanswered responses follow.
    """
    reqs = _as_messages(client)
    resps = _as_messages(server)
    by_mid: dict[int, list[Smb2Message]] = {}
    for m in resps:
        if m.header is not None:
            by_mid.setdefault(m.header.message_id, []).append(m)
    used: set[int] = set()
    ctx = context if context is not None else Smb2Context()
    trees, files = ctx.trees, ctx.files
    out: list[Smb2Exchange] = []
    last_create: bytes | None = None
    for q in reqs:
        h = q.header
        if h is None:
            out.append(Smb2Exchange(-1, q, None, status_name="malformed"))
            continue
        ex = Smb2Exchange(h.command, q, None)
        for r in by_mid.get(h.message_id, []):
            if id(r) in used or r.header is None or r.header.command != h.command:
                continue
            used.add(id(r))
            if r.header.is_async and r.header.status == STATUS_PENDING and not r.error:
                ex.interim.append(r)
                continue
            if r.header.status == STATUS_PENDING:
                ex.interim.append(r)
                continue
            ex.response = r
            break
        rh = ex.response.header if ex.response is not None else None
        if rh is not None:
            ex.status, ex.status_name = rh.status, rh.status_name
        tid = h.tree_id
        if h.command == TREE_CONNECT and q.path is not None:
            ex.share = q.path
            if rh is not None and rh.status == 0 and rh.tree_id is not None:
                trees[(rh.session_id, rh.tree_id)] = q.path
        elif tid is not None:
            ex.share = trees.get((h.session_id, tid))
        fid = q.file_id
        if fid is not None and fid == b"\xff" * 16 and h.related and last_create is not None:
            fid = last_create  # [MS-SMB2] 3.2.4.1.4: related compound uses the prior create
        if h.command == CREATE:
            ex.file_name = q.file_name
            if ex.response is not None and ex.response.file_id is not None:
                fid = ex.response.file_id
                last_create = fid
                if ex.ok and q.file_name is not None:
                    files[fid] = q.file_name
        elif fid is not None:
            ex.file_name = files.get(fid)
        ex.file_id = fid
        for m in [q, ex.response, *ex.interim]:
            if m is None or m.header is None:
                continue
            sid = m.header.session_id or h.session_id
            if m.header.tree_id is not None:
                m.share = trees.get((sid, m.header.tree_id))
            elif tid is not None:
                m.share = trees.get((h.session_id, tid))
            if ex.file_name is not None and (m is not q or h.command != CREATE):
                m.context_file = ex.file_name
        out.append(ex)
    for m in resps:
        if id(m) not in used:
            st = m.header.status if m.header else None
            out.append(
                Smb2Exchange(
                    m.header.command if m.header else -1,
                    None,
                    m,
                    status=st,
                    status_name=m.header.status_name if m.header else "malformed",
                )
            )
    return out


@dataclass(slots=True)
class PipeStream:
    """Bytes exchanged over one named-pipe open (for the DCE/RPC decoder)."""

    file_id: bytes
    name: str | None
    tree: str | None
    client: list[tuple[bytes, Any]] = field(default_factory=list)
    server: list[tuple[bytes, Any]] = field(default_factory=list)


def pipe_streams(exchanges: list[Smb2Exchange]) -> list[PipeStream]:
    """WRITE / READ / FSCTL_PIPE_TRANSCEIVE data per file id on IPC$ (or transceive) opens."""
    out: dict[bytes, PipeStream] = {}
    for ex in exchanges:
        if ex.file_id is None or ex.command not in (READ, WRITE, IOCTL):
            continue
        transceive = ex.request is not None and ex.request.ctl_code == FSCTL_PIPE_TRANSCEIVE
        if not (transceive or (ex.share or "").upper().endswith("IPC$")):
            continue
        if ex.command == IOCTL and not transceive:
            continue
        ps = out.get(ex.file_id)
        if ps is None:
            ps = out[ex.file_id] = PipeStream(ex.file_id, ex.file_name, ex.share)
        if ex.written:
            ps.client.append((ex.written, ex.request_ref))
        if ex.read:
            ps.server.append((ex.read, ex.response_ref))
    return list(out.values())
