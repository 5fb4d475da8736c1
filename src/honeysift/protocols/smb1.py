"""SMB1/CIFS messages ([MS-CIFS] 2.2.3.1 header, 2.2.4 commands) and the session view.

Analysts ask of an SMB1 conversation: who logged on (or was it a null session), which share
(``\\\\PC0191\\IPC$``) and file (``\\WINNT\\System32\\raddrv.dll``) were touched, what was
written, which named pipe carried DCE/RPC, and what status came back. :func:`parse_message`
decodes one SMB message (an NBSS payload) including its AndX chain; :func:`decode_session`
pairs requests with responses and carries the tid -> share and fid -> file context that a single
message lacks. NTLMSSP ([MS-NLMP] 2.2.1) is decoded here too because SMB2 and DCE/RPC reuse it.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from honeysift.protocols.base import Node, Reader, Truncated
from honeysift.protocols.ntstatus import smb1_status_name, smb1_status_text
from honeysift.safe_text import safe

MAGIC = b"\xffSMB"
HEADER_LEN = 32
MAX_ANDX = 16  # an AndX chain longer than this is hostile; real clients use 2-3 links
MAX_DIALECTS = 256
MAX_MESSAGES = 1_000_000

# [MS-CIFS] 2.2.3.1 Flags / Flags2
FLAGS_REPLY = 0x80
FLAGS2_UNICODE = 0x8000
FLAGS2_NT_STATUS = 0x4000
FLAGS2_EXTENDED_SECURITY = 0x0800
FLAGS2_SECURITY_SIGNATURE = 0x0004
CAP_EXTENDED_SECURITY = 0x80000000

# [MS-CIFS] 2.2.2.1 command codes -> tshark's display names.
COMMANDS: dict[int, str] = {
    0x00: "Create Directory",
    0x01: "Delete Directory",
    0x02: "Open",
    0x03: "Create",
    0x04: "Close",
    0x05: "Flush",
    0x06: "Delete",
    0x07: "Rename",
    0x08: "Query Information",
    0x09: "Set Information",
    0x0A: "Read",
    0x0B: "Write",
    0x0C: "Lock Byte Range",
    0x0D: "Unlock Byte Range",
    0x0E: "Create Temp",
    0x0F: "Create New",
    0x10: "Check Directory",
    0x11: "Process Exit",
    0x12: "Seek",
    0x13: "Lock And Read",
    0x14: "Write And Unlock",
    0x1A: "Read Raw",
    0x1D: "Write Raw",
    0x22: "Set Information2",
    0x23: "Query Information2",
    0x24: "Locking AndX",
    0x25: "Trans",
    0x26: "Trans Secondary",
    0x27: "IOCTL",
    0x2B: "Echo",
    0x2C: "Write And Close",
    0x2D: "Open AndX",
    0x2E: "Read AndX",
    0x2F: "Write AndX",
    0x32: "Trans2",
    0x33: "Trans2 Secondary",
    0x34: "Find Close2",
    0x70: "Tree Connect",
    0x71: "Tree Disconnect",
    0x72: "Negotiate Protocol",
    0x73: "Session Setup AndX",
    0x74: "Logoff AndX",
    0x75: "Tree Connect AndX",
    0x80: "Query Information Disk",
    0x81: "Search",
    0x82: "Find",
    0x83: "Find Unique",
    0x84: "Find Close",
    0xA0: "NT Trans",
    0xA1: "NT Trans Secondary",
    0xA2: "NT Create AndX",
    0xA4: "NT Cancel",
    0xA5: "NT Rename",
    0xC0: "Open Print File",
    0xC1: "Write Print File",
    0xC2: "Close Print File",
    0xFF: "No further commands",
}
ANDX_COMMANDS = frozenset({0x24, 0x2D, 0x2E, 0x2F, 0x73, 0x74, 0x75, 0xA2})

# [MS-CIFS] 2.2.5.1 TRANS_* named-pipe subcommands.
PIPE_FUNCTIONS: dict[int, str] = {
    0x0001: "SetNmPHandState",
    0x0011: "RawReadNmPipe",
    0x0021: "QueryNmPHandState",
    0x0022: "QueryNmPipeInfo",
    0x0023: "PeekNmPipe",
    0x0026: "TransactNmPipe",
    0x0031: "RawWriteNmPipe",
    0x0036: "ReadNmPipe",
    0x0037: "WriteNmPipe",
    0x0053: "WaitNmPipe",
    0x0054: "CallNmPipe",
}
TRANS_NMPIPE = 0x0026

# [MS-CIFS] 2.2.6 TRANS2_* subcommands.
TRANS2_FUNCTIONS: dict[int, str] = {
    0x00: "OPEN2",
    0x01: "FIND_FIRST2",
    0x02: "FIND_NEXT2",
    0x03: "QUERY_FS_INFORMATION",
    0x04: "SET_FS_INFORMATION",
    0x05: "QUERY_PATH_INFORMATION",
    0x06: "SET_PATH_INFORMATION",
    0x07: "QUERY_FILE_INFORMATION",
    0x08: "SET_FILE_INFORMATION",
    0x09: "FSCTL",
    0x0A: "IOCTL2",
    0x0B: "FIND_NOTIFY_FIRST",
    0x0C: "FIND_NOTIFY_NEXT",
    0x0D: "CREATE_DIRECTORY",
    0x0E: "SESSION_SETUP",
    0x10: "GET_DFS_REFERRAL",
    0x11: "REPORT_DFS_INCONSISTENCY",
}

# [MS-CIFS] 2.2.4.64.1 CreateDisposition / [MS-SMB2] 2.2.13 (same values).
DISPOSITIONS: dict[int, str] = {
    0: "Supersede",
    1: "Open",
    2: "Create",
    3: "Open If",
    4: "Overwrite",
    5: "Overwrite If",
}
# [MS-CIFS] 2.2.4.64.2 CreateAction.
CREATE_ACTIONS: dict[int, str] = {0: "Superseded", 1: "Opened", 2: "Created", 3: "Overwritten"}


def command_name(code: int) -> str:
    return COMMANDS.get(code, f"Unknown (0x{code:02x})")


def _hexs(b: bytes, limit: int = 64) -> str:
    h = b[:limit].hex()
    return h + ("..." if len(b) > limit else "")


def _filetime(v: int) -> datetime | None:
    """FILETIME (100 ns since 1601-01-01 UTC) -> datetime; None for 0 or absurd values."""
    if v <= 0 or v >= 0x7FFFFFFFFFFFFFFF:
        return None
    try:
        return datetime(1601, 1, 1, tzinfo=UTC) + timedelta(microseconds=v // 10)
    except OverflowError:
        return None


def _smb_datetime(date: int, time: int) -> datetime | None:
    """SMB_DATE + SMB_TIME ([MS-CIFS] 2.2.1.4.1), read as UTC (the wire has no zone)."""
    try:
        return datetime(
            1980 + (date >> 9),
            (date >> 5) & 0xF,
            date & 0x1F,
            time >> 11,
            (time >> 5) & 0x3F,
            (time & 0x1F) * 2,
            tzinfo=UTC,
        )
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# NTLMSSP ([MS-NLMP] 2.2.1), found inside SPNEGO or raw security blobs, and DCE/RPC verifiers.

NTLMSSP_SIG = b"NTLMSSP\x00"
NTLM_NEGOTIATE_UNICODE = 0x00000001
NTLM_NEGOTIATE_ANONYMOUS = 0x00000800
NTLM_NEGOTIATE_VERSION = 0x02000000
NTLM_MESSAGE_TYPES = {1: "NTLMSSP_NEGOTIATE", 2: "NTLMSSP_CHALLENGE", 3: "NTLMSSP_AUTH"}
# [MS-NLMP] 2.2.2.1 AV_PAIR ids
AV_NAMES = {
    1: "nb_computer_name",
    2: "nb_domain_name",
    3: "dns_computer_name",
    4: "dns_domain_name",
    5: "dns_tree_name",
}


@dataclass(slots=True)
class Ntlmssp:
    """One NTLMSSP message. ``anonymous`` is set for an AUTHENTICATE with empty credentials."""

    message_type: int
    flags: int = 0
    domain: str = ""
    workstation: str = ""
    user: str = ""
    challenge: bytes = b""
    target_name: str = ""
    target_info: dict[str, str] = field(default_factory=dict)
    lm_response: bytes = b""
    nt_response: bytes = b""
    session_key: bytes = b""
    version: tuple[int, int, int] | None = None
    anonymous: bool = False
    malformed: str | None = None

    @property
    def type_name(self) -> str:
        return NTLM_MESSAGE_TYPES.get(self.message_type, f"Unknown ({self.message_type})")

    def tree(self) -> Node:
        n = Node("NTLM Secure Service Provider")
        n.add(
            f"NTLM Message Type: {self.type_name} (0x{self.message_type:08x})",
            "ntlmssp.messagetype",
            self.message_type,
        )
        n.add(f"Negotiate Flags: 0x{self.flags:08x}", "ntlmssp.negotiateflags", self.flags)
        if self.message_type == 1:
            n.add(
                f"Calling workstation domain: {safe(self.domain)}",
                "ntlmssp.negotiate.domain",
                self.domain,
            )
            n.add(
                f"Calling workstation name: {safe(self.workstation)}",
                "ntlmssp.negotiate.callingworkstation",
                self.workstation,
            )
        elif self.message_type == 2:
            n.add(f"Target Name: {safe(self.target_name)}")
            n.add(
                f"NTLM Server Challenge: {self.challenge.hex()}",
                "ntlmssp.ntlmserverchallenge",
                self.challenge,
            )
            for k, v in self.target_info.items():
                n.add(f"{k}: {safe(v)}")
        elif self.message_type == 3:
            n.add(
                f"Lan Manager Response: {_hexs(self.lm_response)}",
                "ntlmssp.auth.lmresponse",
                self.lm_response,
            )
            n.add(
                f"NTLM Response: {_hexs(self.nt_response)}",
                "ntlmssp.auth.ntresponse",
                self.nt_response,
            )
            n.add(f"Domain name: {safe(self.domain) or 'NULL'}", "ntlmssp.auth.domain", self.domain)
            n.add(f"User name: {safe(self.user) or 'NULL'}", "ntlmssp.auth.username", self.user)
            n.add(
                f"Host name: {safe(self.workstation) or 'NULL'}",
                "ntlmssp.auth.hostname",
                self.workstation,
            )
            if self.anonymous:
                n.add("[Anonymous authentication]")
        if self.version:
            n.add("Version {}.{} (Build {})".format(*self.version))
        if self.malformed:
            n.add(f"[Malformed: {self.malformed}]")
        return n


def parse_ntlmssp(data: bytes) -> Ntlmssp | None:
    """Decode an NTLMSSP message starting at ``data[0]``; None if the signature is absent."""
    if not data.startswith(NTLMSSP_SIG) or len(data) < 12:
        return None
    mtype = struct.unpack_from("<I", data, 8)[0]
    msg = Ntlmssp(mtype)
    r = Reader(data, 12)

    def payload(unicode: bool | None = None) -> Any:
        length, _maxlen, offset = r.unpack("<HHI")
        if length == 0:
            blob = b""
        elif offset + length > len(data):
            msg.malformed = f"field at offset {offset} length {length} beyond message end"
            blob = data[offset : offset + length] if offset < len(data) else b""
        else:
            blob = data[offset : offset + length]
        if unicode is None:
            return blob
        return blob.decode("utf-16-le" if unicode else "latin-1", "replace")

    try:
        if mtype == 1:
            msg.flags = r.u32le()
            msg.domain = payload(False)
            msg.workstation = payload(False)
            if msg.flags & NTLM_NEGOTIATE_VERSION and r.remaining >= 8:
                major, minor, build = r.unpack("<BBH")
                msg.version = (major, minor, build)
        elif mtype == 2:
            name_fields = r.unpack("<HHI")
            msg.flags = r.u32le()
            msg.challenge = r.bytes(8)
            r.skip(8)
            uni = bool(msg.flags & NTLM_NEGOTIATE_UNICODE)
            ln, _m, off = name_fields
            msg.target_name = data[off : off + ln].decode(
                "utf-16-le" if uni else "latin-1", "replace"
            )
            if r.remaining >= 8:
                info = payload()
                msg.target_info = _av_pairs(info)
            if msg.flags & NTLM_NEGOTIATE_VERSION and r.remaining >= 8:
                major, minor, build = r.unpack("<BBH")
                msg.version = (major, minor, build)
        elif mtype == 3:
            lm = r.unpack("<HHI")
            nt = r.unpack("<HHI")
            dom = r.unpack("<HHI")
            usr = r.unpack("<HHI")
            wks = r.unpack("<HHI")
            key = r.unpack("<HHI") if r.remaining >= 8 else (0, 0, 0)
            msg.flags = r.u32le() if r.remaining >= 4 else 0
            uni = bool(msg.flags & NTLM_NEGOTIATE_UNICODE) or msg.flags == 0

            def get(f: tuple[int, int, int]) -> bytes:
                ln, _m, off = f
                if off + ln > len(data):
                    msg.malformed = f"field at offset {off} length {ln} beyond message end"
                return data[off : off + ln] if ln else b""

            enc = "utf-16-le" if uni else "latin-1"
            msg.lm_response = get(lm)
            msg.nt_response = get(nt)
            msg.domain = get(dom).decode(enc, "replace")
            msg.user = get(usr).decode(enc, "replace")
            msg.workstation = get(wks).decode(enc, "replace")
            msg.session_key = get(key)
            if msg.flags & NTLM_NEGOTIATE_VERSION and r.remaining >= 8:
                major, minor, build = r.unpack("<BBH")
                msg.version = (major, minor, build)
            # [MS-NLMP] 3.2.5.1.2: anonymous = empty user, empty NT response, LM empty or Z(1).
            msg.anonymous = (
                msg.user == "" and msg.nt_response == b"" and msg.lm_response in (b"", b"\x00")
            )
        else:
            msg.malformed = f"unknown NTLMSSP message type {mtype}"
    except Truncated as e:
        msg.malformed = f"NTLMSSP truncated at byte {e.offset}"
    return msg


def _av_pairs(info: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    r = Reader(info)
    try:
        while r.remaining >= 4:  # each pair consumes >= 4 bytes: loop bounded by input size
            av_id, av_len = r.unpack("<HH")
            if av_id == 0:
                break
            val = r.bytes(av_len)
            if av_id in AV_NAMES:
                out[AV_NAMES[av_id]] = val.decode("utf-16-le", "replace")
    except Truncated:
        pass
    return out


def find_ntlmssp(blob: bytes) -> Ntlmssp | None:
    """The NTLMSSP message inside a security blob: raw, or wrapped in SPNEGO (RFC 4178).

    The DER wrapping is not walked: the NTLMSSP signature is searched for, which also finds the
    token inside negTokenInit/negTokenResp without trusting attacker-supplied ASN.1 lengths.
    """
    idx = blob.find(NTLMSSP_SIG)
    if idx < 0:
        return None
    return parse_ntlmssp(blob[idx:])


# --------------------------------------------------------------------------------------------
# Header and commands


@dataclass(slots=True)
class Smb1Header:
    command: int
    status: int
    flags: int
    flags2: int
    pid_high: int
    signature: bytes
    tid: int
    pid: int
    uid: int
    mid: int

    @property
    def is_response(self) -> bool:
        return bool(self.flags & FLAGS_REPLY)

    @property
    def nt_status(self) -> bool:
        return bool(self.flags2 & FLAGS2_NT_STATUS)

    @property
    def unicode(self) -> bool:
        return bool(self.flags2 & FLAGS2_UNICODE)

    @property
    def status_name(self) -> str:
        return smb1_status_name(self.status, self.nt_status)

    def tree(self) -> Node:
        n = Node("SMB Header")
        n.add("Server Component: SMB")
        n.add(
            f"SMB Command: {command_name(self.command)} (0x{self.command:02x})",
            "smb.cmd",
            self.command,
        )
        if self.nt_status:
            n.add(f"NT Status: {smb1_status_text(self.status, True)}", "smb.nt_status", self.status)
        else:
            cls, code = self.status & 0xFF, (self.status >> 16) & 0xFFFF
            n.add(f"Error Class: 0x{cls:02x}", "smb.error_class", cls)
            n.add(
                f"Error Code: {smb1_status_name(self.status, False)} ({code})",
                "smb.error_code",
                code,
            )
        f = n.add(f"Flags: 0x{self.flags:02x}", "smb.flags", self.flags)
        f.add(
            "Request/Response: Message is a "
            + (
                "response to the client/redirector" if self.is_response else "request to the server"
            ),
            "smb.flags.response",
            self.is_response,
        )
        f2 = n.add(f"Flags2: 0x{self.flags2:04x}", "smb.flags2", self.flags2)
        f2.add(f"Unicode Strings: {self.unicode}", "smb.flags2.string", self.unicode)
        f2.add(
            "Error Code Type: " + ("NT error codes" if self.nt_status else "DOS error codes"),
            "smb.flags2.nt_error",
            self.nt_status,
        )
        n.add(f"Process ID High: {self.pid_high}", "smb.pid.high", self.pid_high)
        n.add(f"Signature: {self.signature.hex()}", "smb.signature", self.signature)
        n.add(f"Tree ID: {self.tid}", "smb.tid", self.tid)
        n.add(f"Process ID: {self.pid}", "smb.pid", self.pid)
        n.add(f"User ID: {self.uid}", "smb.uid", self.uid)
        n.add(f"Multiplex ID: {self.mid}", "smb.mid", self.mid)
        return n


@dataclass(slots=True)
class Smb1Command:
    """One command of a message's AndX chain. Subclasses add the decoded fields."""

    command: int
    response: bool
    offset: int
    word_count: int = 0
    byte_count: int = 0
    andx_command: int | None = None
    andx_offset: int | None = None
    malformed: str | None = None

    @property
    def name(self) -> str:
        return command_name(self.command)

    def tree(self, ctx: _Context | None = None) -> Node:
        kind = "Response" if self.response else "Request"
        n = Node(f"{self.name} {kind} (0x{self.command:02x})")
        n.add(f"Word Count (WCT): {self.word_count}", "smb.wct", self.word_count)
        if self.andx_command is not None:
            n.add(
                f"AndXCommand: {command_name(self.andx_command)} (0x{self.andx_command:02x})",
                "smb.cmd",
                self.andx_command,
            )
            n.add(f"AndXOffset: {self.andx_offset}", "smb.andxoffset", self.andx_offset)
        ctx = ctx or _Context()
        self._body(n, ctx)
        if self.response and getattr(self, "fid", None) is None:
            # tshark shows the request's FID / file on the response too
            if ctx.fid is not None:
                f = n.add(f"[FID: 0x{ctx.fid:04x}]", "smb.fid", ctx.fid)
                name = ctx.files.get(ctx.fid, ctx.file)
                if name is not None:
                    f.add(f"[File Name: {safe(name)}]", "smb.file", name)
            elif ctx.file is not None:
                n.add(f"[File Name: {safe(ctx.file)}]", "smb.file", ctx.file)
        n.add(f"Byte Count (BCC): {self.byte_count}", "smb.bcc", self.byte_count)
        if self.malformed:
            n.add(f"[Malformed: {self.malformed}]", "_ws.malformed", self.malformed)
        return n

    def _body(self, n: Node, ctx: _Context) -> None:
        return None


@dataclass(slots=True)
class _Context:
    """What the session knows when rendering: tid -> share, fid -> file, the request's fid."""

    share: str | None = None
    files: dict[int, str] = field(default_factory=dict)
    fid: int | None = None
    file: str | None = None


def _fid_node(n: Node, fid: int, ctx: _Context) -> None:
    name = ctx.files.get(fid)
    f = n.add(f"FID: 0x{fid:04x}" + (f" ({safe(name)})" if name else ""), "smb.fid", fid)
    if name is not None:
        f.add(f"[File Name: {safe(name)}]", "smb.file", name)


@dataclass(slots=True)
class Generic(Smb1Command):
    """A command this decoder does not break down: raw parameter words and data bytes."""

    words: bytes = b""
    data: bytes = b""

    def _body(self, n: Node, ctx: _Context) -> None:
        if self.words:
            n.add(f"Parameters: {_hexs(self.words)}")
        if self.data:
            n.add(f"Data: {_hexs(self.data)}")


@dataclass(slots=True)
class Negotiate(Smb1Command):
    dialects: list[str] = field(default_factory=list)
    dialect_index: int | None = None
    security_mode: int | None = None
    max_mpx: int | None = None
    max_buffer: int | None = None
    capabilities: int | None = None
    session_key: int | None = None
    server_time: datetime | None = None
    timezone: int | None = None
    challenge: bytes = b""
    server_guid: bytes = b""
    security_blob: bytes = b""
    domain: str = ""
    server: str = ""

    @property
    def selected_dialect(self) -> int | None:
        return self.dialect_index

    def _body(self, n: Node, ctx: _Context) -> None:
        for d in self.dialects:
            n.add(f"Dialect: {safe(d)}", "smb.dialect", d)
        if self.dialect_index is not None:
            n.add(f"Selected Index: {self.dialect_index}", "smb.dialect.index", self.dialect_index)
        if self.security_mode is not None:
            n.add(f"Security Mode: 0x{self.security_mode:02x}", "smb.sm", self.security_mode)
        if self.max_mpx is not None:
            n.add(f"Max Mpx Count: {self.max_mpx}", "smb.max_mpx_count", self.max_mpx)
        if self.max_buffer is not None:
            n.add(f"Max Buffer: {self.max_buffer}", "smb.max_buf", self.max_buffer)
        if self.session_key is not None:
            n.add(f"Session Key: 0x{self.session_key:08x}", "smb.session_key", self.session_key)
        if self.capabilities is not None:
            n.add(f"Capabilities: 0x{self.capabilities:08x}", "smb.server_cap", self.capabilities)
        if self.server_time is not None:
            n.add(
                f"System Time: {self.server_time.isoformat()}", "smb.system.time", self.server_time
            )
        if self.timezone is not None:
            n.add(
                f"Server Time Zone: {self.timezone} min from UTC",
                "smb.server_timezone",
                self.timezone,
            )
        if self.challenge:
            n.add(f"Challenge: {self.challenge.hex()}", "smb.challenge", self.challenge)
        if self.server_guid:
            n.add(f"Server GUID: {self.server_guid.hex()}", "smb.server_guid", self.server_guid)
        if self.security_blob:
            n.add(
                f"Security Blob: {_hexs(self.security_blob)}",
                "smb.security_blob",
                self.security_blob,
            )
        if self.domain:
            n.add(f"Primary Domain: {safe(self.domain)}", "smb.primary_domain", self.domain)
        if self.server:
            n.add(f"Server: {safe(self.server)}", "smb.server", self.server)


@dataclass(slots=True)
class SessionSetup(Smb1Command):
    """SessionSetupAndX: pre-NT LM (wct 10), NT LM 0.12 (13) and extended security (12/4)."""

    max_buffer: int | None = None
    vc_number: int | None = None
    capabilities: int | None = None
    oem_password: bytes = b""
    unicode_password: bytes = b""
    account: str = ""
    domain: str = ""
    native_os: str = ""
    native_lanman: str = ""
    security_blob: bytes = b""
    ntlmssp: Ntlmssp | None = None
    action: int | None = None

    @property
    def null_session(self) -> bool:
        """Empty account and empty password (a lone NUL counts as empty), no NTLMSSP user."""
        if self.response:
            return False
        if self.ntlmssp is not None:
            return self.ntlmssp.anonymous
        if self.security_blob:
            return False
        return (
            self.account == ""
            and self.oem_password.strip(b"\x00") == b""
            and self.unicode_password.strip(b"\x00") == b""
        )

    @property
    def guest(self) -> bool:
        """Response Action bit 0 (SMB_SETUP_GUEST): logged on as guest."""
        return bool(self.action and self.action & 1)

    @property
    def user(self) -> str:
        if self.ntlmssp is not None and self.ntlmssp.message_type == 3:
            return self.ntlmssp.user
        return self.account

    def _body(self, n: Node, ctx: _Context) -> None:
        if self.max_buffer is not None:
            n.add(f"Max Buffer: {self.max_buffer}", "smb.max_buf", self.max_buffer)
        if self.vc_number is not None:
            n.add(f"VC Number: {self.vc_number}", "smb.vc", self.vc_number)
        if self.action is not None:
            a = n.add(f"Action: 0x{self.action:04x}", "smb.setup.action", self.action)
            a.add(f"Guest: {self.guest}", "smb.setup.action.guest", self.guest)
        if not self.response and not self.security_blob:
            n.add(
                f"ANSI Password Length: {len(self.oem_password)}",
                "smb.ansi_pwlen",
                len(self.oem_password),
            )
            n.add(
                f"Unicode Password Length: {len(self.unicode_password)}",
                "smb.unicode_pwlen",
                len(self.unicode_password),
            )
            if self.oem_password:
                n.add(
                    f"ANSI Password: {self.oem_password.hex()}",
                    "smb.ansi_password",
                    self.oem_password,
                )
            if self.unicode_password:
                n.add(
                    f"Unicode Password: {self.unicode_password.hex()}",
                    "smb.unicode_password",
                    self.unicode_password,
                )
        if self.capabilities is not None:
            n.add(f"Capabilities: 0x{self.capabilities:08x}", "smb.client_cap", self.capabilities)
        if self.security_blob:
            b = n.add(
                f"Security Blob: {_hexs(self.security_blob)}",
                "smb.security_blob",
                self.security_blob,
            )
            if self.ntlmssp is not None:
                b.children.append(self.ntlmssp.tree())
        if not self.response and not self.security_blob:
            n.add(f"Account: {safe(self.account)}", "smb.account", self.account)
            n.add(f"Primary Domain: {safe(self.domain)}", "smb.primary_domain", self.domain)
        n.add(f"Native OS: {safe(self.native_os)}", "smb.native_os", self.native_os)
        n.add(
            f"Native LAN Manager: {safe(self.native_lanman)}",
            "smb.native_lanman",
            self.native_lanman,
        )
        if self.response and self.domain:
            n.add(f"Primary Domain: {safe(self.domain)}", "smb.primary_domain", self.domain)
        if self.null_session:
            n.add("[Null session: empty account and password]")


@dataclass(slots=True)
class TreeConnect(Smb1Command):
    path: str = ""
    service: str = ""
    password: bytes = b""
    native_fs: str = ""
    optional_support: int | None = None

    def _body(self, n: Node, ctx: _Context) -> None:
        if not self.response:
            n.add(f"Password Length: {len(self.password)}", "smb.pwlen", len(self.password))
            if self.password:
                n.add(f"Password: {self.password.hex()}", "smb.password", self.password)
            n.add(f"Path: {safe(self.path)}", "smb.path", self.path)
        elif ctx.share is not None:
            n.add(f"[Path: {safe(ctx.share)}]", "smb.path", ctx.share)
        if self.optional_support is not None:
            n.add(
                f"Optional Support: 0x{self.optional_support:04x}",
                "smb.optional_support",
                self.optional_support,
            )
        n.add(f"Service: {safe(self.service)}", "smb.service", self.service)
        if self.native_fs:
            n.add(f"Native File System: {safe(self.native_fs)}", "smb.fs", self.native_fs)


@dataclass(slots=True)
class NtCreate(Smb1Command):
    file_name: str = ""
    create_flags: int = 0
    root_fid: int = 0
    access_mask: int = 0
    alloc_size: int = 0
    file_attributes: int = 0
    share_access: int = 0
    disposition: int | None = None
    create_options: int = 0
    impersonation: int = 0
    fid: int | None = None
    create_action: int | None = None
    end_of_file: int | None = None
    is_directory: bool | None = None
    resource_type: int | None = None

    def _body(self, n: Node, ctx: _Context) -> None:
        if not self.response:
            n.add(f"Create Flags: 0x{self.create_flags:08x}", "smb.create_flags", self.create_flags)
            n.add(f"Access Mask: 0x{self.access_mask:08x}", "smb.access_mask", self.access_mask)
            n.add(f"Share Access: 0x{self.share_access:08x}", "smb.share_access", self.share_access)
            d = self.disposition or 0
            n.add(
                f"Disposition: {DISPOSITIONS.get(d, 'Unknown')} ({d})", "smb.create.disposition", d
            )
            n.add(
                f"Create Options: 0x{self.create_options:08x}",
                "smb.create_options",
                self.create_options,
            )
            n.add(f"File Name: {safe(self.file_name)}", "smb.file", self.file_name)
            return
        if self.fid is not None:
            _fid_node(n, self.fid, ctx)
        if self.create_action is not None:
            a = self.create_action
            n.add(
                f"Create action: The file was {CREATE_ACTIONS.get(a, 'unknown').lower()} ({a})",
                "smb.create.action",
                a,
            )
        if self.end_of_file is not None:
            n.add(f"End Of File: {self.end_of_file}", "smb.end_of_file", self.end_of_file)
        if self.is_directory is not None:
            n.add(f"Is Directory: {self.is_directory}", "smb.is_directory", self.is_directory)


@dataclass(slots=True)
class OpenAndX(Smb1Command):
    file_name: str = ""
    access_mode: int | None = None
    open_function: int | None = None
    fid: int | None = None
    file_size: int | None = None
    open_action: int | None = None

    def _body(self, n: Node, ctx: _Context) -> None:
        if not self.response:
            if self.open_function is not None:
                n.add(
                    f"Open Function: 0x{self.open_function:04x}",
                    "smb.open.function",
                    self.open_function,
                )
            n.add(f"File Name: {safe(self.file_name)}", "smb.file", self.file_name)
            return
        if self.fid is not None:
            _fid_node(n, self.fid, ctx)
        if self.file_size is not None:
            n.add(f"File Size: {self.file_size}", "smb.file_size", self.file_size)
        if self.open_action is not None:
            n.add(f"Action: 0x{self.open_action:04x}", "smb.open.action", self.open_action)


@dataclass(slots=True)
class ReadWrite(Smb1Command):
    """ReadAndX / WriteAndX: offset includes OffsetHigh when present (wct 12 / 14)."""

    fid: int | None = None
    offset64: int | None = None
    requested: int | None = None
    data_length: int | None = None
    data_offset: int | None = None
    data: bytes = b""
    count: int | None = None

    def _body(self, n: Node, ctx: _Context) -> None:
        if self.fid is not None:
            _fid_node(n, self.fid, ctx)
        if self.offset64 is not None:
            n.add(f"Offset: {self.offset64}", "smb.offset", self.offset64 & 0xFFFFFFFF)
            if self.offset64 >> 32:
                n.add(f"High Offset: {self.offset64 >> 32}", "smb.offset_high", self.offset64 >> 32)
        if self.requested is not None:
            n.add(
                f"Max Count Low: {self.requested & 0xFFFF}",
                "smb.maxcount_low",
                self.requested & 0xFFFF,
            )
        if self.count is not None:
            n.add(f"Count: {self.count}", "smb.count", self.count)
        if self.data_length is not None:
            n.add(
                f"Data Length Low: {self.data_length & 0xFFFF}",
                "smb.data_len_low",
                self.data_length & 0xFFFF,
            )
            n.add(f"Data Offset: {self.data_offset}", "smb.data_offset", self.data_offset)
        if self.data:
            n.add(f"File Data: {_hexs(self.data)}", "smb.file_data", self.data)


@dataclass(slots=True)
class Close(Smb1Command):
    fid: int | None = None

    def _body(self, n: Node, ctx: _Context) -> None:
        if self.fid is not None:
            _fid_node(n, self.fid, ctx)


@dataclass(slots=True)
class Transaction(Smb1Command):
    """Trans / Trans2 (and their secondaries): named pipes live in Trans with ``\\PIPE\\``.

    ``partial`` is set when this piece carries less than the announced total (a multi-part
    transaction: secondaries or further responses carry the rest).
    """

    name: str = ""
    setup: list[int] = field(default_factory=list)
    total_param: int = 0
    total_data: int = 0
    param_disp: int = 0
    data_disp: int = 0
    parameters: bytes = b""
    data: bytes = b""
    trans2_file: str | None = None

    @property
    def partial(self) -> bool:
        return (
            len(self.parameters) + self.param_disp < self.total_param
            or len(self.data) + self.data_disp < self.total_data
            or self.param_disp > 0
            or self.data_disp > 0
            or self.command in (0x26, 0x33)
        )

    @property
    def subcommand(self) -> int | None:
        return self.setup[0] if self.setup else None

    @property
    def fid(self) -> int | None:
        """The FID of a TRANS pipe subcommand (setup word 1) or TRANS2 *_FILE_INFORMATION."""
        if self.command == 0x25 and len(self.setup) >= 2 and self.setup[0] in PIPE_FUNCTIONS:
            return self.setup[1]
        if (
            self.command == 0x32
            and not self.response
            and self.setup
            and self.setup[0] in (0x07, 0x08)
            and len(self.parameters) >= 2
        ):
            return struct.unpack_from("<H", self.parameters)[0]
        return None

    @property
    def is_pipe(self) -> bool:
        return self.command == 0x25 and self.name.upper().startswith("\\PIPE\\")

    def _body(self, n: Node, ctx: _Context) -> None:
        n.add(f"Total Parameter Count: {self.total_param}", "smb.tpc", self.total_param)
        n.add(f"Total Data Count: {self.total_data}", "smb.tdc", self.total_data)
        n.add(f"Parameter Count: {len(self.parameters)}", "smb.pc", len(self.parameters))
        n.add(f"Data Count: {len(self.data)}", "smb.dc", len(self.data))
        if self.param_disp or self.data_disp:
            n.add(f"Parameter Displacement: {self.param_disp}", "smb.pd", self.param_disp)
            n.add(f"Data Displacement: {self.data_disp}", "smb.data_disp", self.data_disp)
        n.add(f"Setup Count: {len(self.setup)}", "smb.sc", len(self.setup))
        if self.partial:
            n.add("[Multi-part transaction]")
        if self.name:
            n.add(f"Transaction Name: {safe(self.name)}", "smb.trans_name", self.name)
        if self.command == 0x32 and self.setup:
            sub = self.setup[0]
            n.add(
                f"Subcommand: {TRANS2_FUNCTIONS.get(sub, 'Unknown')} (0x{sub:04x})",
                "smb.trans2.cmd",
                sub,
            )
        if self.trans2_file is not None:
            n.add(f"File Name: {safe(self.trans2_file)}", "smb.file", self.trans2_file)
        if self.command == 0x32 and self.fid is not None:
            _fid_node(n, self.fid, ctx)
        if (
            self.command == 0x25
            and self.setup
            and (self.is_pipe or self.setup[0] in PIPE_FUNCTIONS)
        ):
            p = n.add("SMB Pipe Protocol")
            fn = self.setup[0]
            p.add(
                f"Function: {PIPE_FUNCTIONS.get(fn, 'Unknown')} (0x{fn:04x})",
                "smb_pipe.function",
                fn,
            )
            if self.fid is not None:
                _fid_node(p, self.fid, ctx)
        if self.parameters:
            n.add(f"Parameters: {_hexs(self.parameters)}")
        if self.data:
            n.add(f"Data: {_hexs(self.data)}", "smb.trans_data", self.data)


@dataclass(slots=True)
class Echo(Smb1Command):
    echo_count: int | None = None
    data: bytes = b""

    def _body(self, n: Node, ctx: _Context) -> None:
        if self.echo_count is not None:
            label = "Sequence Number" if self.response else "Echo Count"
            n.add(f"{label}: {self.echo_count}", "smb.echo.count", self.echo_count)
        n.add(f"Echo Data: {_hexs(self.data)}", "smb.echo.data", self.data)


# --------------------------------------------------------------------------------------------
# Message


@dataclass(slots=True)
class Smb1Message:
    """One SMB1 message (NBSS payload): header plus the commands of its AndX chain."""

    header: Smb1Header | None
    commands: list[Smb1Command] = field(default_factory=list)
    ref: Any = None
    malformed: str | None = None
    malformed_offset: int | None = None
    length: int = 0
    # filled in by decode_session: the tid's share path, fid -> name known at this point, and
    # for a response the fid / file name of its request
    share: str | None = None
    files: dict[int, str] = field(default_factory=dict)
    context_fid: int | None = None
    context_file: str | None = None

    @property
    def is_response(self) -> bool:
        return self.header is not None and self.header.is_response

    def tree(self) -> Node:
        n = Node("SMB (Server Message Block Protocol)")
        if self.header is not None:
            n.children.append(self.header.tree())
            if self.share is not None:
                n.add(f"[Tree: {safe(self.share)}]")
        ctx = _Context(self.share, self.files, self.context_fid, self.context_file)
        for c in self.commands:
            n.children.append(c.tree(ctx))
        if self.malformed:
            n.add(
                f"[Malformed Packet: {self.malformed} at byte {self.malformed_offset}]",
                "_ws.malformed",
                self.malformed,
            )
        return n

    def fields(self) -> dict[str, list[Any]]:
        return self.tree().fields()


def parse_message(data: bytes, ref: Any = None) -> Smb1Message:
    """Decode one SMB1 message (the NBSS payload starting with ``\\xffSMB``). Never raises."""
    data = bytes(data)
    msg = Smb1Message(None, ref=ref, length=len(data))
    if len(data) < HEADER_LEN or not data.startswith(MAGIC):
        msg.malformed = "not an SMB1 header" if len(data) >= 4 else "too short"
        msg.malformed_offset = 0
        return msg
    cmd, status, flags, flags2, pid_high, sig, _res, tid, pid, uid, mid = struct.unpack_from(
        "<BIBHH8sHHHHH", data, 4
    )
    h = Smb1Header(cmd, status, flags, flags2, pid_high, sig, tid, pid, uid, mid)
    msg.header = h
    pos = HEADER_LEN
    seen: set[int] = set()
    for _ in range(MAX_ANDX):
        c = _parse_command(data, pos, cmd, h)
        msg.commands.append(c)
        seen.add(pos)
        if c.malformed:
            msg.malformed = c.malformed
            msg.malformed_offset = pos
            break
        if c.andx_command is None or c.andx_command == 0xFF or cmd not in ANDX_COMMANDS:
            break
        nxt = c.andx_offset or 0
        # [MS-CIFS] 2.2.3.4: AndXOffset points forward; require it to land past this command's
        # words and byte count (so strictly increasing: no loops) and inside the message.
        if nxt < pos + 3 + 2 * c.word_count or nxt >= len(data) or nxt in seen:
            msg.malformed = f"AndXOffset {nxt} does not advance inside the message"
            msg.malformed_offset = pos
            break
        pos = nxt
        cmd = c.andx_command
    else:
        msg.malformed = f"AndX chain longer than {MAX_ANDX}"
        msg.malformed_offset = pos
    return msg


def _string(r: Reader, unicode: bool, limit: int = 4096, *, pad: bool = True) -> str:
    """An SMB string in the Bytes block: UTF-16LE (2-aligned from the header) or OEM.

    Lenient at the end of the block: an unterminated final string is taken as is.
    """
    if unicode:
        if pad and r.pos % 2 and r.remaining:
            r.pos += 1
        try:
            return r.utf16z(limit)
        except Truncated:
            raw = r.rest()
            return raw[: len(raw) // 2 * 2].decode("utf-16-le", "replace")
    try:
        return r.cstring(limit).decode("latin-1")
    except Truncated:
        return r.rest().decode("latin-1")


def _parse_command(data: bytes, pos: int, cmd: int, h: Smb1Header) -> Smb1Command:
    resp = h.is_response
    base = dict(command=cmd, response=resp, offset=pos)
    if pos >= len(data):
        return Generic(**base, malformed="missing word count")
    wc = data[pos]
    wend = pos + 1 + 2 * wc
    if wend + 2 > len(data):
        words = data[pos + 1 : wend]
        return Generic(**base, word_count=wc, words=words, malformed="words/byte count truncated")
    bc = struct.unpack_from("<H", data, wend)[0]
    bstart = wend + 2
    w = Reader(data, pos + 1, wend)
    b = Reader(data, bstart, bstart + bc)
    c = _build(cmd, resp, base, wc, bc)
    try:
        if cmd in ANDX_COMMANDS and wc >= 2:
            c.andx_command = w.u8()
            w.skip(1)
            c.andx_offset = w.u16le()
        _decode_body(c, data, w, b, h)
    except Truncated as e:
        c.malformed = f"{c.name}: truncated at byte {e.offset}"
    # A ByteCount past the end is tolerated (Windows' extended NT Create response under-counts
    # its words, so its ByteCount is read from the wrong place): the Bytes reader is clipped.
    return c


_CLASSES: dict[int, type[Smb1Command]] = {
    0x72: Negotiate,
    0x73: SessionSetup,
    0x75: TreeConnect,
    0xA2: NtCreate,
    0x2D: OpenAndX,
    0x2E: ReadWrite,
    0x2F: ReadWrite,
    0x04: Close,
    0x25: Transaction,
    0x26: Transaction,
    0x32: Transaction,
    0x33: Transaction,
    0x2B: Echo,
}


def _build(cmd: int, resp: bool, base: dict[str, Any], wc: int, bc: int) -> Smb1Command:
    cls = _CLASSES.get(cmd, Generic)
    return cls(**base, word_count=wc, byte_count=bc)


def _decode_body(c: Smb1Command, data: bytes, w: Reader, b: Reader, h: Smb1Header) -> None:
    uni = h.unicode
    wc = c.word_count
    if isinstance(c, Generic):
        c.words = data[c.offset + 1 : w.end]
        c.data = b.rest()
    elif isinstance(c, Negotiate):
        _negotiate(c, w, b, h)
    elif isinstance(c, SessionSetup):
        _session_setup(c, w, b, h)
    elif isinstance(c, TreeConnect):
        if not c.response:
            if wc >= 4:
                w.skip(2)  # Flags
                pwlen = w.u16le()
                c.password = b.bytes(min(pwlen, b.remaining))
            c.path = _string(b, uni)
            c.service = _string(b, False)
        else:
            if wc >= 3:
                c.optional_support = w.u16le()
            if b.remaining:
                c.service = _string(b, False)
                c.native_fs = _string(b, uni) if b.remaining else ""
    elif isinstance(c, NtCreate):
        if not c.response:
            if wc >= 24:
                w.skip(1)
                _namelen, c.create_flags, c.root_fid, c.access_mask = w.unpack("<HIII")
                c.alloc_size, c.file_attributes, c.share_access = w.unpack("<QII")
                c.disposition, c.create_options, c.impersonation = w.unpack("<III")
            c.file_name = _string(b, uni)
        elif wc >= 34:
            _oplock, c.fid, c.create_action = w.unpack("<BHI")
            w.skip(32 + 4)  # four FILETIMEs, ExtFileAttributes
            c.alloc_size, c.end_of_file, c.resource_type, _nmp, directory = w.unpack("<QQHHB")
            c.is_directory = bool(directory)
    elif isinstance(c, OpenAndX):
        if not c.response:
            if wc >= 15:
                _flags, c.access_mode = w.unpack("<HH")
                w.skip(2 + 2 + 4)
                c.open_function = w.u16le()
            c.file_name = _string(b, uni)
        elif wc >= 15:
            c.fid = w.u16le()
            w.skip(2 + 4)
            c.file_size, _rights, _rtype, _nmp, c.open_action = w.unpack("<IHHHH")
    elif isinstance(c, ReadWrite):
        _read_write(c, data, w, b)
    elif isinstance(c, Close):
        if not c.response and wc >= 1:
            c.fid = w.u16le()
    elif isinstance(c, Transaction):
        _transaction(c, data, w, b, h)
    elif isinstance(c, Echo):
        if wc >= 1:
            c.echo_count = w.u16le()
        c.data = b.rest()


def _negotiate(c: Negotiate, w: Reader, b: Reader, h: Smb1Header) -> None:
    wc = c.word_count
    if not c.response:
        # [MS-CIFS] 2.2.4.52.1: a list of (0x02 BufferFormat, OEM dialect string).
        while b.remaining and len(c.dialects) < MAX_DIALECTS:
            if b.u8() != 0x02:
                c.malformed = f"bad dialect buffer format at byte {b.pos - 1}"
                return
            c.dialects.append(_string(b, False))
        return
    if wc >= 1:
        c.dialect_index = w.u16le()
    if wc == 13:  # LANMAN 2.1 response ([MS-CIFS] 2.2.4.52.2)
        c.security_mode, c.max_buffer, c.max_mpx, _vcs, _raw = w.unpack("<HHHHH")
        c.session_key = w.u32le()
        time, date = w.unpack("<HH")
        c.server_time = _smb_datetime(date, time)
        c.timezone = w.unpack("<h")[0]
        chlen = w.u16le()
        c.challenge = b.bytes(min(chlen, b.remaining))
        c.domain = _string(b, False) if b.remaining else ""
    elif wc == 17:  # NT LM 0.12
        c.security_mode, c.max_mpx, _vcs, c.max_buffer, _raw = w.unpack("<BHHII")
        c.session_key, c.capabilities, systime = w.unpack("<IIQ")
        c.server_time = _filetime(systime)
        c.timezone = w.unpack("<h")[0]
        chlen = w.u8()
        if c.capabilities & CAP_EXTENDED_SECURITY:
            c.server_guid = b.bytes(min(16, b.remaining))
            c.security_blob = b.rest()
        else:
            c.challenge = b.bytes(min(chlen, b.remaining))
            # Windows does not align these two names (they follow the 8-byte challenge)
            if b.remaining:
                c.domain = _string(b, h.unicode, pad=False)
            if b.remaining:
                c.server = _string(b, h.unicode, pad=False)


def _session_setup(c: SessionSetup, w: Reader, b: Reader, h: Smb1Header) -> None:
    wc, uni = c.word_count, h.unicode
    if not c.response:
        if wc == 10:  # pre-NT LM 0.12 ([MS-CIFS] 2.2.4.53.1)
            c.max_buffer, _mpx, c.vc_number, _key, pwlen = w.unpack("<HHHIH")
            c.oem_password = b.bytes(min(pwlen, b.remaining))
            c.account = _string(b, uni)
            c.domain = _string(b, uni)
            c.native_os = _string(b, uni)
            c.native_lanman = _string(b, uni)
        elif wc == 12:  # extended security ([MS-SMB] 2.2.4.6.1)
            c.max_buffer, _mpx, c.vc_number, _key, bloblen = w.unpack("<HHHIH")
            w.skip(4)
            c.capabilities = w.u32le()
            c.security_blob = b.bytes(min(bloblen, b.remaining))
            c.ntlmssp = find_ntlmssp(c.security_blob)
            c.native_os = _string(b, uni)
            c.native_lanman = _string(b, uni)
        elif wc == 13:  # NT LM 0.12 ([MS-CIFS] 2.2.4.53.1)
            c.max_buffer, _mpx, c.vc_number, _key, oemlen, unilen = w.unpack("<HHHIHH")
            w.skip(4)
            c.capabilities = w.u32le()
            c.oem_password = b.bytes(min(oemlen, b.remaining))
            c.unicode_password = b.bytes(min(unilen, b.remaining))
            c.account = _string(b, uni)
            c.domain = _string(b, uni)
            c.native_os = _string(b, uni)
            c.native_lanman = _string(b, uni)
        return
    if wc >= 3:
        c.action = w.u16le()
    if wc == 4:
        bloblen = w.u16le()
        c.security_blob = b.bytes(min(bloblen, b.remaining))
        c.ntlmssp = find_ntlmssp(c.security_blob)
    if b.remaining:
        c.native_os = _string(b, uni)
    if b.remaining:
        c.native_lanman = _string(b, uni)
    if b.remaining:
        c.domain = _string(b, uni)


def _read_write(c: ReadWrite, data: bytes, w: Reader, b: Reader) -> None:
    wc = c.word_count
    if c.command == 0x2E:  # ReadAndX
        if not c.response:
            if wc >= 10:
                c.fid, off, c.requested, _min, _to, _rem = w.unpack("<HIHHIH")
                high = w.u32le() if wc >= 12 else 0
                c.offset64 = off | (high << 32)
        elif wc >= 12:
            _avail, _dcm, _res, dlen, doff, dhigh = w.unpack("<HHHHHH")
            c.data_length = _large_len(data, doff, dlen, dhigh)
            c.data_offset = doff
            c.data = _data_at(c, data, doff, c.data_length)
    else:  # WriteAndX
        if not c.response:
            if wc >= 12:
                c.fid, off, _to, _mode, _rem, dhigh, dlen, doff = w.unpack("<HIIHHHHH")
                high = w.u32le() if wc >= 14 else 0
                c.offset64 = off | (high << 32)
                c.data_length = _large_len(data, doff, dlen, dhigh)
                c.data_offset = doff
                c.data = _data_at(c, data, doff, c.data_length)
        elif wc >= 6:
            count, _avail, count_high = w.unpack("<HHH")
            c.count = count | (count_high << 16 if count_high < 0x100 else 0)


def _large_len(data: bytes, offset: int, low: int, high: int) -> int:
    """DataLength plus DataLengthHigh ([MS-SMB] large read/write) when that fits the message;
    servers without CAP_LARGE_* leave junk there, so a value that cannot fit is ignored."""
    full = low | (high << 16)
    return full if high and offset + full <= len(data) else low


def _data_at(c: Smb1Command, data: bytes, offset: int, length: int) -> bytes:
    """Data located by DataOffset (from the header start), clipped to the message."""
    if offset + length > len(data):
        c.malformed = f"data at offset {offset} length {length} beyond message end"
    return data[offset : offset + length] if offset < len(data) else b""


def _transaction(c: Transaction, data: bytes, w: Reader, b: Reader, h: Smb1Header) -> None:
    wc = c.word_count
    if wc == 0:
        return  # interim response or error
    if c.command in (0x25, 0x32) and not c.response:
        c.total_param, c.total_data, _mpc, _mdc, _msc = w.unpack("<HHHHB")
        w.skip(1 + 2 + 4 + 2)
        pc, po, dc, do, sc = w.unpack("<HHHHB")
        w.skip(1)
    elif c.command in (0x25, 0x32):  # response
        c.total_param, c.total_data = w.unpack("<HH")
        w.skip(2)
        pc, po, c.param_disp, dc, do, c.data_disp, sc = w.unpack("<HHHHHHB")
        w.skip(1)
    else:  # secondary requests 0x26 / 0x33 ([MS-CIFS] 2.2.4.34, 2.2.4.47)
        c.total_param, c.total_data, pc, po, c.param_disp, dc, do, c.data_disp = w.unpack(
            "<HHHHHHHH"
        )
        sc = 0
    c.setup = [w.u16le() for _ in range(min(sc, w.remaining // 2))]
    if c.command == 0x25 and not c.response:
        c.name = _string(b, h.unicode, 1024)
    c.parameters = _data_at(c, data, po, pc) if pc else b""
    c.data = _data_at(c, data, do, dc) if dc else b""
    if c.command == 0x32 and not c.response and c.setup:
        c.trans2_file = _trans2_file(c.setup[0], c.parameters, h.unicode)


def _trans2_file(sub: int, params: bytes, unicode: bool) -> str | None:
    """The path name inside TRANS2 request parameters ([MS-CIFS] 2.2.6.x.1)."""
    skip = {0x00: 28, 0x01: 12, 0x05: 6, 0x06: 6, 0x0D: 4}.get(sub)
    if skip is None or len(params) < skip:
        return None
    raw = params[skip:]
    if unicode:
        end = next((i for i in range(0, len(raw) - 1, 2) if raw[i : i + 2] == b"\0\0"), None)
        return raw[: end if end is not None else len(raw) // 2 * 2].decode("utf-16-le", "replace")
    return raw.split(b"\0", 1)[0].decode("latin-1")


# --------------------------------------------------------------------------------------------
# Session view: requests paired with responses, with tree/file context


@dataclass(slots=True)
class Smb1Exchange:
    """One command of a request chain with its response, status and share/file context."""

    command: int
    request: Smb1Command | None
    response: Smb1Command | None
    request_msg: Smb1Message | None
    response_msg: Smb1Message | None
    status: int | None = None
    status_name: str = ""
    share: str | None = None
    file_name: str | None = None
    fid: int | None = None
    extra_responses: list[Smb1Message] = field(default_factory=list)

    @property
    def name(self) -> str:
        return command_name(self.command)

    @property
    def request_ref(self) -> Any:
        return self.request_msg.ref if self.request_msg else None

    @property
    def response_ref(self) -> Any:
        return self.response_msg.ref if self.response_msg else None

    @property
    def ok(self) -> bool:
        return self.status is not None and (self.status == 0 or self.status_name == "SUCCESS")

    @property
    def written(self) -> bytes:
        """Bytes the client sent: WriteAndX data or a transaction's data block."""
        r = self.request
        if isinstance(r, (ReadWrite, Transaction)) and not r.response:
            return r.data
        return b""

    @property
    def read(self) -> bytes:
        """Bytes the server returned: ReadAndX data or transaction response data."""
        parts = []
        for m in ([self.response_msg] if self.response_msg else []) + self.extra_responses:
            for c in m.commands:
                if c.command == self.command and isinstance(c, (ReadWrite, Transaction)):
                    parts.append(c.data)
                    break
        return b"".join(parts)

    def tree(self) -> Node:
        n = Node(f"SMB {self.name} (0x{self.command:02x})")
        n.add(f"SMB Command: {self.name} (0x{self.command:02x})", "smb.cmd", self.command)
        if self.share is not None:
            n.add(f"Path: {safe(self.share)}", "smb.path", self.share)
        if self.file_name is not None:
            n.add(f"File Name: {safe(self.file_name)}", "smb.file", self.file_name)
        if self.fid is not None:
            n.add(f"FID: 0x{self.fid:04x}", "smb.fid", self.fid)
        if self.status is not None:
            nt = (
                self.response_msg is not None
                and self.response_msg.header is not None
                and (self.response_msg.header.nt_status)
            )
            if nt:
                n.add(
                    f"NT Status: {smb1_status_text(self.status, True)}",
                    "smb.nt_status",
                    self.status,
                )
            else:
                n.add(f"Status: {smb1_status_text(self.status, False)}")
        else:
            n.add("[No response seen]")
        ctx = _Context(
            self.share,
            {self.fid: self.file_name}
            if self.fid is not None and self.file_name is not None
            else {},
        )
        if self.request is not None:
            n.children.append(self.request.tree(ctx))
        if self.response is not None:
            n.children.append(self.response.tree(ctx))
        return n

    def fields(self) -> dict[str, list[Any]]:
        return self.tree().fields()


def _key(h: Smb1Header) -> tuple[int, int]:
    return ((h.pid_high << 16) | h.pid, h.mid)


def _as_message(item: Any) -> Smb1Message:
    if isinstance(item, Smb1Message):
        return item
    if isinstance(item, (bytes, bytearray, memoryview)):
        return parse_message(bytes(item))
    data, ref = item
    return parse_message(bytes(data), ref)


def decode_session(client: list[Any], server: list[Any]) -> list[Smb1Exchange]:
    """Pair SMB1 requests (client -> server) with responses and apply tree/file context.

    Each list holds messages as ``(bytes, ref)`` pairs (``ref`` is opaque, e.g. ``(frame, ts)``,
    echoed into the records), plain ``bytes`` or already parsed :class:`Smb1Message`. Pairing
    is by (pid, mid) in order of appearance, preferring a pending request whose (tid, uid)
    match; multi-part transaction responses are attached to the request they continue.
    Records come in request order; responses nobody asked for follow at the end.
    """
    reqs = [_as_message(m) for m in client[:MAX_MESSAGES]]
    resps = [_as_message(m) for m in server[:MAX_MESSAGES]]
    pending: dict[tuple[int, int], deque[int]] = {}
    for i, m in enumerate(reqs):
        if m.header is not None and not m.header.is_response:
            pending.setdefault(_key(m.header), deque()).append(i)
    matched: dict[int, Smb1Message] = {}
    extras: dict[int, list[Smb1Message]] = {}
    last_for_key: dict[tuple[int, int], int] = {}
    orphans: list[Smb1Message] = []
    for m in resps:
        h = m.header
        if h is None or not h.is_response:
            orphans.append(m)
            continue
        k = _key(h)
        first = m.commands[0] if m.commands else None
        if (
            isinstance(first, Transaction)
            and (first.param_disp or first.data_disp)
            and k in last_for_key
        ):
            extras.setdefault(last_for_key[k], []).append(m)
            continue
        q = pending.get(k)
        if not q:
            orphans.append(m)
            continue
        pick = next(
            (j for j in q if reqs[j].header.tid == h.tid and reqs[j].header.uid == h.uid),  # type: ignore[union-attr]
            q[0],
        )
        q.remove(pick)
        matched[pick] = m
        last_for_key[k] = pick

    shares: dict[int, str] = {}
    files: dict[int, str] = {}
    out: list[Smb1Exchange] = []
    for i, req in enumerate(reqs):
        resp = matched.get(i)
        if req.header is None:
            out.append(Smb1Exchange(-1, None, None, req, None, status_name="malformed"))
            continue
        tid = req.header.tid
        for j, rc in enumerate(req.commands):
            rsc = _response_command(resp, j, rc.command)
            ex = Smb1Exchange(rc.command, rc, rsc, req, resp)
            if resp is not None and resp.header is not None:
                ex.status = resp.header.status
                ex.status_name = resp.header.status_name
            ok = resp is not None and ex.ok
            if isinstance(rc, TreeConnect) and ok and resp is not None and resp.header:
                tid = resp.header.tid
                shares[tid] = rc.path
            ex.share = shares.get(tid)
            fid = _fid_of(rc, rsc)
            if isinstance(rc, (NtCreate, OpenAndX)):
                ex.file_name = rc.file_name
                if fid is not None and ok:
                    files[fid] = rc.file_name
            elif isinstance(rc, Transaction) and rc.trans2_file is not None:
                ex.file_name = rc.trans2_file
            elif fid is not None:
                ex.file_name = files.get(fid)
            ex.fid = fid
            if j == 0:
                ex.extra_responses = extras.get(i, [])
            out.append(ex)
        req.share = shares.get(req.header.tid)
        req.files = dict(files)
        for m in [resp, *extras.get(i, [])]:
            if m is not None and m.header is not None:
                first = out[-1] if out and out[-1].request_msg is req else None
                m.share = shares.get(m.header.tid)
                m.files = dict(files)
                if first is not None and len(req.commands) == 1:
                    m.context_fid = first.fid
                    m.context_file = first.file_name
    for m in orphans:
        st = m.header.status if m.header else None
        out.append(
            Smb1Exchange(
                m.header.command if m.header else -1,
                None,
                m.commands[0] if m.commands else None,
                None,
                m,
                status=st,
                status_name=m.header.status_name if m.header else "malformed",
                share=shares.get(m.header.tid) if m.header else None,
            )
        )
    return out


def _response_command(resp: Smb1Message | None, idx: int, cmd: int) -> Smb1Command | None:
    if resp is None:
        return None
    if idx < len(resp.commands) and resp.commands[idx].command == cmd:
        return resp.commands[idx]
    return None


def _fid_of(req: Smb1Command, resp: Smb1Command | None) -> int | None:
    for c in (resp, req):
        fid = getattr(c, "fid", None) if c is not None else None
        if fid is not None:
            return fid
    return None


@dataclass(slots=True)
class PipeStream:
    """The bytes a client and server exchanged over one named pipe (for the DCE/RPC decoder)."""

    fid: int
    name: str | None
    share: str | None
    client: list[tuple[bytes, Any]] = field(default_factory=list)
    server: list[tuple[bytes, Any]] = field(default_factory=list)


def pipe_streams(exchanges: list[Smb1Exchange]) -> list[PipeStream]:
    """Collect pipe writes/transactions and reads per fid, in order, as (data, ref) chunks.

    Only fids on an ``IPC$`` share or used by a pipe transaction are included.
    """
    streams: dict[int, PipeStream] = {}
    for ex in exchanges:
        if ex.fid is None or ex.request is None:
            continue
        is_pipe = isinstance(ex.request, Transaction) and ex.request.is_pipe
        on_ipc = (ex.share or "").upper().endswith("IPC$")
        if not (is_pipe or on_ipc) or not isinstance(ex.request, (ReadWrite, Transaction)):
            continue
        ps = streams.get(ex.fid)
        if ps is None:
            ps = streams[ex.fid] = PipeStream(ex.fid, ex.file_name, ex.share)
        if ex.written:
            ps.client.append((ex.written, ex.request_ref))
        rd = ex.read
        if rd:
            ps.server.append((rd, ex.response_ref))
    return list(streams.values())
