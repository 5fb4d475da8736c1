"""What happened on tcp/139 and tcp/445: logons, shares, named pipes, RPC calls, files written.

Why: the judges of Scan of the Month 27 grepped tethereal trees for ``Path:``, ``File Name:`` and
``Status:`` to decide that the share scans on tcp/139 failed (resets, IPC$ denied) and that the
tcp/445 attackers logged on as Administrator with an empty password, enumerated SAMR and uploaded
raddrv.dll and r_server.exe. This module answers the same questions from decoded SMB1/SMB2
sessions, with the frames that prove each fact, and carves the files written (or read) over SMB.

:func:`decode_connection` turns the two directions of one connection into an
:class:`SmbConnection` (pure, no capture needed; used by the fuzz tests); :func:`analyze_smb`
runs it on every inbound connection to tcp/139 and tcp/445 (and SMB found by content on other
ports) and returns the verdicts, findings, carved files and timeline. Work is bounded: at most
``MAX_MESSAGES`` NBSS messages per direction, ``MAX_LISTED`` records per list in the details,
``MAX_FILE_BYTES`` per carved file; hitting a cap is said in the session's ``capped`` notes.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from honeysift.analysis.context import AnalysisContext
from honeysift.analysis.magic import file_type
from honeysift.analysis.model import (
    AnalyzerResult,
    CarvedFile,
    Evidence,
    Finding,
    ServiceVerdict,
    TimelineEvent,
)
from honeysift.protocols import dcerpc, nbss, smb1, smb2
from honeysift.protocols.ntstatus import nt_status_name
from honeysift.safe_text import safe

SMB_PORTS = {139: "netbios-ssn", 445: "microsoft-ds"}
MAX_MESSAGES = 100_000  # NBSS messages decoded per direction
MAX_STREAM_BYTES = 512 * 1024 * 1024  # bytes read per direction
MAX_LISTED = 200  # records kept per list in a session's details
MAX_FILE_BYTES = 64 * 1024 * 1024  # per carved file (beyond: cut, complete=False)
MAX_HOLE_BYTES = 1024 * 1024  # a carved file's buffer exceeds the bytes seen by at most this
MAX_TOTAL_CARVED = 512 * 1024 * 1024  # all carved files of one analysis together
MAX_CHUNKS = 200_000  # writes/reads kept per file
MAX_HOST_FINDINGS = 50  # per-host findings of one kind; the rest are summarised
MAX_RPC_NAMES = 1000  # user/domain names kept per RPC response

# [MS-SMB2] 2.2.6 SessionFlags
SMB2_SESSION_FLAG_IS_GUEST = 0x0001
SMB2_SESSION_FLAG_IS_NULL = 0x0002
# MD4(UTF-16LE("")): NTOWFv1 of the empty password ([MS-NLMP] 3.3.1).
_EMPTY_NT_HASH = bytes.fromhex("31d6cfe0d16ae931b73c59d7e0c089c0")
# SAMR calls whose output is a SAMPR_ENUMERATION_BUFFER ([MS-SAMR] 3.1.5.2.x): opnum -> kind.
_SAMR_ENUM = {6: "domains", 11: "groups", 13: "users", 15: "aliases"}
_ENUM_INTERFACES = frozenset({"SAMR", "LSARPC"})
_EXEC_MAGIC = ("PE32", "MS-DOS", "ELF")

Ref = tuple[int, ...]  # the frames that carried one NBSS message, in order; () when unknown
FramesOf = Callable[[int, int], Ref]  # (start, end) stream offsets -> frames


def _first(ref: Ref) -> int:
    return ref[0] if ref else 0


# ------------------------------------------------------------------------------------------------
# Records


@dataclass(slots=True)
class SmbLogon:
    """One SessionSetup (SMB1) / SESSION_SETUP (SMB2) authentication and its outcome."""

    user: str
    domain: str
    workstation: str
    null_session: bool  # empty account and password, or anonymous NTLMSSP
    empty_password: bool | None  # None: cannot tell (e.g. NTLMv1 challenge/response)
    status: str
    success: bool  # STATUS_SUCCESS
    answered: bool  # a response was seen
    guest: bool  # the server mapped the logon to Guest
    uid: int | None
    frames: Ref
    mechanism: str  # "plaintext/LM", "NTLMSSP", "none"

    @property
    def named(self) -> bool:
        """A real account logged on: success, not null, not guest."""
        return self.success and not self.null_session and not self.guest and bool(self.user)

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "domain": self.domain,
            "workstation": self.workstation,
            "null_session": self.null_session,
            "empty_password": self.empty_password,
            "status": self.status,
            "success": self.success,
            "answered": self.answered,
            "guest": self.guest,
            "uid": self.uid,
            "mechanism": self.mechanism,
            "frame": _first(self.frames),
        }


@dataclass(slots=True)
class SmbOpen:
    """One open of a file or pipe, and the bytes written to / read from it."""

    name: str  # share + path, as the attacker named it
    share: str
    path: str
    pipe: bool
    disposition: str
    status: str
    create_action: str | None
    end_of_file: int | None
    frames: Ref
    writes: list[tuple[int, bytes, Ref]] = field(default_factory=list)  # (offset, data, frames)
    reads: list[tuple[int, bytes, Ref]] = field(default_factory=list)
    bytes_written: int = 0
    bytes_read: int = 0
    write_count: int = 0
    read_count: int = 0
    failed_writes: int = 0
    capped: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "share": self.share,
            "path": self.path,
            "disposition": self.disposition,
            "status": self.status,
            "create_action": self.create_action,
            "end_of_file": self.end_of_file,
            "bytes_written": self.bytes_written,
            "writes": self.write_count,
            "failed_writes": self.failed_writes,
            "bytes_read": self.bytes_read,
            "reads": self.read_count,
            "frame": _first(self.frames),
        }


@dataclass(slots=True)
class RpcCall:
    pipe: str
    interface: str
    operation: str
    status: str  # NTSTATUS at the end of the response stub, the fault, or "no response"
    names: list[str]  # user/domain/group names the response disclosed
    kind: str  # "users", "domains"... for enumeration outputs, else ""
    frames: Ref

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "pipe": self.pipe,
            "interface": self.interface,
            "operation": self.operation,
            "status": self.status,
            "frame": _first(self.frames),
        }
        if self.names:
            d[self.kind or "names"] = self.names
        return d


@dataclass(slots=True)
class SmbConnection:
    """Everything one TCP connection's SMB conversation showed."""

    protocol: str = "none"  # "SMB1", "SMB2", "SMB1+SMB2", "none"
    session_requests: list[dict[str, Any]] = field(default_factory=list)
    session_responses: list[str] = field(default_factory=list)
    dialects: list[str] = field(default_factory=list)
    dialect: str | None = None
    logons: list[SmbLogon] = field(default_factory=list)
    trees: list[dict[str, Any]] = field(default_factory=list)  # path, status, frame
    opens: list[SmbOpen] = field(default_factory=list)
    rpc: list[RpcCall] = field(default_factory=list)
    binds: list[dict[str, Any]] = field(default_factory=list)  # pipe, interface
    denied: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    responses: int = 0
    unanswered: int = 0
    malformed: int = 0
    capped: list[str] = field(default_factory=list)

    @property
    def sent_smb(self) -> bool:
        return self.requests > 0

    def negative(self) -> str | None:
        return next((r for r in self.session_responses if r.startswith("negative")), None)


# ------------------------------------------------------------------------------------------------
# Decoding one connection


def frames_of_stream(stream: Any) -> FramesOf:
    """(start, end) content offsets -> the frames that delivered them, for a
    :class:`~honeysift.streams.tcp.ReassembledStream` (its segment offsets are sorted)."""
    offs, frs = stream.offsets, stream.frames

    def frames(start: int, end: int) -> Ref:
        if offs.size == 0 or end <= start:
            return ()
        i0 = max(int(np.searchsorted(offs, start, "right")) - 1, 0)
        i1 = int(np.searchsorted(offs, end - 1, "right"))
        return tuple(sorted({int(x) for x in frs[i0:i1]}))

    return frames


def _split(
    data: bytes, direct: bool, frames_of: FramesOf | None, conn: SmbConnection
) -> list[tuple[nbss.NbssMessage, Ref]]:
    msgs = nbss.split(data, direct=direct)
    if len(msgs) > MAX_MESSAGES:
        conn.capped.append(f"only the first {MAX_MESSAGES} of {len(msgs)} NBSS messages decoded")
        msgs = msgs[:MAX_MESSAGES]
    if frames_of is None:
        return [(m, ()) for m in msgs]
    return [(m, frames_of(m.offset, m.offset + 4 + len(m.body))) for m in msgs]


def _looks_direct(data: bytes) -> bool:
    """tcp/445 framing: a zero type byte followed by an SMB header."""
    return len(data) >= 8 and data[0] == 0 and data[4:8] in (smb1.MAGIC, smb2.MAGIC)


def decode_connection(
    client: bytes,
    server: bytes,
    *,
    direct: bool | None = None,
    client_frames: FramesOf | None = None,
    server_frames: FramesOf | None = None,
    smb2_context: smb2.Smb2Context | None = None,
) -> SmbConnection:
    """Decode both directions of one SMB connection (NBSS framed). Never raises.

    ``direct`` selects tcp/445 framing (24-bit lengths); None guesses from the first bytes.
    ``*_frames`` map a span of stream offsets to the frames that carried it (evidence).
    """
    conn = SmbConnection()
    if direct is None:
        direct = _looks_direct(client) or _looks_direct(server)
    cmsgs = _split(client, direct, client_frames, conn)
    smsgs = _split(server, direct, server_frames, conn)
    c1: list[smb1.Smb1Message] = []
    s1: list[tuple[bytes, Ref]] = []
    c2: list[tuple[bytes, Ref]] = []
    s2: list[tuple[bytes, Ref]] = []
    raw_after_writeraw: list[tuple[int, bytes, int, Ref]] = []  # (fid, data, offset, ref)
    pending_raw: tuple[int, int, int] | None = None  # fid, next offset, bytes still due
    for m, ref in cmsgs:
        if m.malformed and m.type not in nbss.TYPE_NAMES:
            conn.malformed += 1
            continue
        if m.type == nbss.SESSION_REQUEST:
            conn.session_requests.append(
                {
                    "called": str(m.called) if m.called else None,
                    "calling": str(m.calling) if m.calling else None,
                    "frame": _first(ref),
                }
            )
            continue
        if m.type != nbss.SESSION_MESSAGE or not m.body:
            continue
        body = m.body
        if body.startswith(smb1.MAGIC):
            msg = smb1.parse_message(body, ref)
            c1.append(msg)
            pending_raw = _writeraw_pending(msg)
        elif body[:4] in (smb2.MAGIC, smb2.TRANSFORM_MAGIC, smb2.COMPRESSED_MAGIC):
            c2.append((body, ref))
        elif pending_raw is not None:
            # [MS-CIFS] 3.2.4.23: after the interim response the client sends the rest of a
            # WriteRaw as raw bytes in one NBSS message, with no SMB header.
            fid, off, due = pending_raw
            part = body[:due]
            raw_after_writeraw.append((fid, part, off, ref))
            pending_raw = None
        else:
            conn.malformed += 1
    for m, ref in smsgs:
        if m.type in (nbss.POSITIVE_RESPONSE, nbss.NEGATIVE_RESPONSE, nbss.RETARGET_RESPONSE):
            text = "positive" if m.type == nbss.POSITIVE_RESPONSE else m.type_text.lower()
            if m.type == nbss.NEGATIVE_RESPONSE and m.error_text:
                text = f"negative: {m.error_text}"
            conn.session_responses.append(text)
            continue
        if m.type != nbss.SESSION_MESSAGE or not m.body:
            continue
        if m.body.startswith(smb1.MAGIC):
            s1.append((m.body, ref))
        elif m.body[:4] in (smb2.MAGIC, smb2.TRANSFORM_MAGIC, smb2.COMPRESSED_MAGIC):
            s2.append((m.body, ref))
    protos = []
    if c1 or s1:
        protos.append("SMB1")
    if c2 or s2:
        protos.append("SMB2")
    conn.protocol = "+".join(protos) or "none"
    if c1 or s1:
        _smb1_session(conn, smb1.decode_session(c1, s1), raw_after_writeraw)
    if c2 or s2:
        ctx2 = smb2_context if smb2_context is not None else smb2.Smb2Context()
        _smb2_session(conn, smb2.decode_session(c2, s2, ctx2))
    conn.requests = len(c1) + len(c2)
    conn.responses = len(s1) + len(s2)
    for name in ("logons", "trees", "opens", "rpc", "binds", "denied"):
        items = getattr(conn, name)
        if len(items) > MAX_LISTED:
            conn.capped.append(f"{name}: first {MAX_LISTED} of {len(items)} kept")
            del items[MAX_LISTED:]
    return conn


def _writeraw_pending(msg: smb1.Smb1Message) -> tuple[int, int, int] | None:
    for c in msg.commands:
        if c.command == 0x1D and not c.response:
            w = _writeraw(c)
            if w is not None:
                fid, off, data, total = w
                if total > len(data):
                    return fid, off + len(data), total - len(data)
    return None


def _dialect_name(d: int) -> str:
    return smb2.DIALECTS.get(d, f"0x{d:04x}")


def _add(lst: list, item: Any) -> None:
    """Append, bounded (the caller's session cap is applied once at the end)."""
    if len(lst) <= MAX_LISTED:
        lst.append(item)


def _is_ipc(share: str | None) -> bool:
    return (share or "").upper().rstrip("\\").endswith("IPC$")


def _join(share: str | None, path: str | None) -> str:
    share, path = share or "", path or ""
    if not share:
        return path
    if not path:
        return share
    return share.rstrip("\\") + "\\" + path.lstrip("\\")


# -- SMB1 ----------------------------------------------------------------------------------------


def _u(words: bytes, fmt: str, off: int = 0) -> tuple[int, ...] | None:
    if len(words) < off + struct.calcsize(fmt):
        return None
    return struct.unpack_from(fmt, words, off)


def _legacy_write(c: smb1.Smb1Command) -> tuple[int, int, bytes] | None:
    """SMB_COM_WRITE / WRITE_AND_UNLOCK ([MS-CIFS] 2.2.4.12.1, 2.2.4.21.1) and WRITE_AND_CLOSE
    (2.2.4.40.1): (fid, offset, data) from a Generic request."""
    words, data = getattr(c, "words", b""), getattr(c, "data", b"")
    v = _u(words, "<HHI")
    if v is None:
        return None
    fid, count, off = v
    if c.command == 0x2C:  # Pad (1 byte) then Data
        return fid, off, data[1 : 1 + count]
    # BufferFormat 0x01, DataLength, Data
    if len(data) < 3:
        return fid, off, b""
    dlen = struct.unpack_from("<H", data, 1)[0]
    return fid, off, data[3 : 3 + min(dlen, count)]


def _legacy_read_req(c: smb1.Smb1Command) -> tuple[int, int] | None:
    """SMB_COM_READ request ([MS-CIFS] 2.2.4.11.1): (fid, offset)."""
    v = _u(getattr(c, "words", b""), "<HHI")
    return None if v is None else (v[0], v[2])


def _legacy_read_data(c: smb1.Smb1Command | None) -> bytes:
    """SMB_COM_READ response (2.2.4.11.2): BufferFormat 0x01, CountOfBytesRead, Bytes."""
    data = getattr(c, "data", b"") if c is not None else b""
    if len(data) < 3:
        return b""
    n = struct.unpack_from("<H", data, 1)[0]
    return data[3 : 3 + n]


def _writeraw(c: smb1.Smb1Command) -> tuple[int, int, bytes, int] | None:
    """SMB_COM_WRITE_RAW request ([MS-CIFS] 2.2.4.25.1): (fid, offset, data, total count)."""
    words, data = getattr(c, "words", b""), getattr(c, "data", b"")
    v = _u(words, "<HHHIIHIHH")
    if v is None:
        return None
    fid, total, _r, off, _to, _mode, _r2, dlen, doff = v
    high = _u(words, "<I", 24)
    if c.word_count >= 14 and high is not None:
        off |= high[0] << 32
    block = c.offset + 1 + 2 * c.word_count + 2  # bytes block, from the header start
    start = doff - block
    part = data[start : start + dlen] if 0 <= start <= len(data) else b""
    return fid, off, part, total


def _smb1_session(
    conn: SmbConnection,
    exchanges: list[smb1.Smb1Exchange],
    raw: list[tuple[int, bytes, int, Ref]],
) -> None:
    opens: dict[int, SmbOpen] = {}
    challenge = b""
    raw_by_fid: dict[int, list[tuple[int, bytes, int, Ref]]] = {}
    counted: set[int] = set()
    for r in raw:
        raw_by_fid.setdefault(r[0], []).append(r)
    for ex in exchanges:
        ref: Ref = ex.request_ref or ex.response_ref or ()
        if ex.request is None:
            continue
        if ex.response_msg is None and id(ex.request_msg) not in counted:
            counted.add(id(ex.request_msg))
            conn.unanswered += 1
        rq, rs = ex.request, ex.response
        status = ex.status_name if ex.status is not None else "no response"
        if ex.status is not None and ("ACCESS_DENIED" in status.upper() or "ERRnoaccess" in status):
            _add(
                conn.denied,
                {
                    "command": ex.name,
                    "share": ex.share or getattr(rq, "path", None),
                    "file": ex.file_name,
                    "status": status,
                    "frame": _first(ref),
                },
            )
        if isinstance(rq, smb1.Negotiate):
            conn.dialects.extend(d for d in rq.dialects[:64] if d not in conn.dialects)
            if isinstance(rs, smb1.Negotiate):
                i = rs.dialect_index
                if i is not None and 0 <= i < len(rq.dialects):
                    conn.dialect = rq.dialects[i]
                if rs.challenge:
                    challenge = rs.challenge
        elif isinstance(rq, smb1.SessionSetup):
            nt = rs.ntlmssp if isinstance(rs, smb1.SessionSetup) else None
            if nt is not None and nt.message_type == 2:
                challenge = nt.challenge
            lg = _smb1_logon(ex, rq, rs, status, ref, challenge)
            if lg is not None:
                _add(conn.logons, lg)
        elif isinstance(rq, smb1.TreeConnect):
            _add(conn.trees, {"path": rq.path, "status": status, "frame": _first(ref)})
        elif isinstance(rq, (smb1.NtCreate, smb1.OpenAndX)):
            disp = ""
            if isinstance(rq, smb1.NtCreate) and rq.disposition is not None:
                disp = smb1.DISPOSITIONS.get(rq.disposition, str(rq.disposition))
            elif isinstance(rq, smb1.OpenAndX) and rq.open_function is not None:
                disp = f"open function 0x{rq.open_function:04x}"
            action = eof = None
            if isinstance(rs, smb1.NtCreate):
                if rs.create_action is not None:
                    action = smb1.CREATE_ACTIONS.get(rs.create_action, str(rs.create_action))
                eof = rs.end_of_file
            elif isinstance(rs, smb1.OpenAndX):
                eof = rs.file_size
            share = ex.share or ""
            op = SmbOpen(
                _join(share, rq.file_name),
                share,
                rq.file_name,
                _is_ipc(share),
                disp,
                status,
                action,
                eof,
                ref,
            )
            _add(conn.opens, op)
            if ex.ok and ex.fid is not None:
                opens[ex.fid] = op
        elif rq.command in (0x2F, 0x0B, 0x14, 0x2C, 0x1D):
            w = _smb1_write(rq)
            if w is None:
                continue
            fid, off, data = w
            op = opens.get(fid) or _unknown_open(conn, opens, fid, ex.share, ref)
            failed = ex.status is not None and not ex.ok and rq.command != 0x1D
            _record(op, "w", off, data, ref, failed)
            if rq.command == 0x1D:
                for _f, part, roff, rref in raw_by_fid.pop(fid, []):
                    _record(op, "w", roff, part, rref, False)
        elif rq.command in (0x2E, 0x0A):
            if rq.command == 0x2E:
                fid, off = getattr(rq, "fid", None), getattr(rq, "offset64", None)
                data = ex.read
            else:
                fr = _legacy_read_req(rq)
                fid, off = (fr[0], fr[1]) if fr else (None, None)
                data = _legacy_read_data(rs)
            if fid is None or off is None or not data:
                continue
            op = opens.get(fid) or _unknown_open(conn, opens, fid, ex.share, ref)
            _record(op, "r", off, data, ex.response_ref or ref, False)
    _rpc_over_pipes(conn, smb1.pipe_streams(exchanges), lambda ps: ps.name or f"fid 0x{ps.fid:04x}")


def _smb1_write(rq: smb1.Smb1Command) -> tuple[int, int, bytes] | None:
    if isinstance(rq, smb1.ReadWrite):
        if rq.fid is None or rq.offset64 is None:
            return None
        return rq.fid, rq.offset64, rq.data
    if rq.command == 0x1D:
        w = _writeraw(rq)
        return None if w is None else (w[0], w[1], w[2])
    return _legacy_write(rq)


def _blob_logon(
    nt, challenge: bytes, null: bool, status: str, ex, guest: bool, uid, ref: Ref
) -> SmbLogon:
    """A logon carried in a security blob (SMB1 extended security, SMB2): NTLMSSP AUTHENTICATE
    (account, and whether the password was empty), else SPNEGO with another mechanism
    (Kerberos: no account to read)."""
    if nt is not None:
        user, domain, ws = nt.user, nt.domain, nt.workstation
        empty, mech = _ntlm_empty_password(nt, challenge), "NTLMSSP"
    else:
        user = domain = ws = ""
        empty, mech = None, "SPNEGO"
    return SmbLogon(
        user, domain, ws, null, empty, status, ex.ok, ex.status is not None, guest, uid, ref, mech
    )


def _smb1_logon(
    ex: smb1.Smb1Exchange,
    rq: smb1.SessionSetup,
    rs: smb1.Smb1Command | None,
    status: str,
    ref: Ref,
    challenge: bytes,
) -> SmbLogon | None:
    nt = rq.ntlmssp
    if nt is not None and nt.message_type != 3:
        return None  # NEGOTIATE leg of a multi-leg NTLMSSP exchange: not a logon attempt yet
    guest = isinstance(rs, smb1.SessionSetup) and rs.guest
    uid = ex.response_msg.header.uid if ex.response_msg and ex.response_msg.header else None
    if nt is not None:
        return _blob_logon(nt, challenge, nt.anonymous, status, ex, guest, uid, ref)
    if rq.security_blob:
        return _blob_logon(None, challenge, False, status, ex, guest, uid, ref)
    pw = rq.oem_password + rq.unicode_password
    return SmbLogon(
        rq.account,
        rq.domain,
        "",
        rq.null_session,
        pw.strip(b"\x00") == b"",
        status,
        ex.ok,
        ex.status is not None,
        guest,
        uid,
        ref,
        "plaintext/LM" if pw else "none",
    )


def _ntlm_empty_password(nt: smb1.Ntlmssp, challenge: bytes) -> bool | None:
    """Whether an NTLMSSP AUTHENTICATE was computed from the empty password.

    Anonymous / no responses: True. NTLMv2 ([MS-NLMP] 3.3.2): recompute NTProofStr from
    NTOWFv2("", user, domain) and the server challenge. NTLMv1 (24-byte responses) would need
    DES: None (unknown).
    """
    if not nt.nt_response and nt.lm_response in (b"", b"\x00"):
        return True
    resp = nt.nt_response
    if len(resp) <= 24 or len(challenge) != 8:
        return None
    ident = (nt.user.upper() + nt.domain).encode("utf-16-le")
    key = hmac.new(_EMPTY_NT_HASH, ident, "md5").digest()
    proof = hmac.new(key, challenge + resp[16:], "md5").digest()
    return hmac.compare_digest(proof, resp[:16])


def _unknown_open(
    conn: SmbConnection, opens: dict[Any, SmbOpen], key: Any, share: str | None, ref: Ref
) -> SmbOpen:
    """A write/read on a handle whose open was not seen (before the capture started)."""
    label = f"fid 0x{key:04x}" if isinstance(key, int) else f"file id {bytes(key).hex()}"
    share = share or ""
    op = SmbOpen(
        _join(share, f"<{label}>"),
        share,
        f"<{label}>",
        _is_ipc(share),
        "",
        "not seen",
        None,
        None,
        ref,
    )
    opens[key] = op
    _add(conn.opens, op)
    return op


def _record(op: SmbOpen, kind: str, off: int, data: bytes, ref: Ref, failed: bool) -> None:
    if op.pipe:
        return  # named-pipe traffic is DCE/RPC, decoded separately
    if failed:
        op.failed_writes += 1
        return
    lst = op.writes if kind == "w" else op.reads
    if kind == "w":
        op.write_count += 1
        op.bytes_written += len(data)
    else:
        op.read_count += 1
        op.bytes_read += len(data)
    if len(lst) >= MAX_CHUNKS or off >= MAX_FILE_BYTES:
        op.capped = True
        return
    lst.append((off, data, ref))


# -- SMB2 ----------------------------------------------------------------------------------------


def _smb2_session(conn: SmbConnection, exchanges: list[smb2.Smb2Exchange]) -> None:
    opens: dict[bytes, SmbOpen] = {}
    challenge = b""
    for ex in exchanges:
        q, r = ex.request, ex.response
        ref: Ref = ex.request_ref or ex.response_ref or ()
        if q is None and r is not None and r.dialect is not None and ex.command == smb2.NEGOTIATE:
            conn.dialect = _dialect_name(r.dialect)  # answer to an SMB1 multi-protocol negotiate
        if q is None or q.header is None:
            continue
        if r is None:
            conn.unanswered += 1
        status = ex.status_name if ex.status is not None else "no response"
        if ex.status is not None and nt_status_name(ex.status) in (
            "STATUS_ACCESS_DENIED",
            "STATUS_NETWORK_ACCESS_DENIED",
        ):
            _add(
                conn.denied,
                {
                    "command": ex.name,
                    "share": ex.share,
                    "file": ex.file_name,
                    "status": status,
                    "frame": _first(ref),
                },
            )
        cmd = ex.command
        if cmd == smb2.NEGOTIATE:
            conn.dialects.extend(
                n for n in (_dialect_name(d) for d in q.dialects[:64]) if n not in conn.dialects
            )
            if r is not None and r.dialect is not None:
                conn.dialect = _dialect_name(r.dialect)
        elif cmd == smb2.SESSION_SETUP:
            if r is not None and r.ntlmssp is not None and r.ntlmssp.message_type == 2:
                challenge = r.ntlmssp.challenge
            nt = q.ntlmssp
            if nt is not None and nt.message_type != 3:
                continue
            flags = (r.session_flags or 0) if r is not None else 0
            guest = bool(flags & SMB2_SESSION_FLAG_IS_GUEST)
            null = bool(flags & SMB2_SESSION_FLAG_IS_NULL) or (nt is not None and nt.anonymous)
            uid = r.header.session_id if r is not None and r.header else None
            _add(conn.logons, _blob_logon(nt, challenge, null, status, ex, guest, uid, ref))
        elif cmd == smb2.TREE_CONNECT:
            _add(conn.trees, {"path": q.path or "", "status": status, "frame": _first(ref)})
        elif cmd == smb2.CREATE:
            disp = smb1.DISPOSITIONS.get(q.disposition, "") if q.disposition is not None else ""
            action = eof = None
            if r is not None and r.create_action is not None:
                action = smb1.CREATE_ACTIONS.get(r.create_action, str(r.create_action))
                eof = r.end_of_file
            share = ex.share or ""
            path = q.file_name or ""
            op = SmbOpen(
                _join(share, path), share, path, _is_ipc(share), disp, status, action, eof, ref
            )
            _add(conn.opens, op)
            if ex.ok and ex.file_id is not None:
                opens[ex.file_id] = op
        elif cmd in (smb2.WRITE, smb2.READ) and ex.file_id is not None:
            if cmd == smb2.WRITE:
                data, off = q.data, q.offset64
                failed = ex.status is not None and not ex.ok
                kind, rref = "w", ref
            else:
                data, off = ex.read, q.offset64
                failed = False
                kind, rref = "r", ex.response_ref or ref
            if off is None or not data:
                continue
            op = opens.get(ex.file_id)
            if op is None:
                op = _unknown_open(conn, opens, ex.file_id, ex.share, ref)
                if ex.file_name:
                    op.path, op.name = ex.file_name, _join(op.share, ex.file_name)
            _record(op, kind, off, data, rref, failed)
    _rpc_over_pipes(
        conn, smb2.pipe_streams(exchanges), lambda ps: ps.name or f"file id {ps.file_id.hex()}"
    )


# -- DCE/RPC over named pipes --------------------------------------------------------------------


def _rpc_over_pipes(conn: SmbConnection, pipes: list[Any], name_of: Callable[[Any], str]) -> None:
    for ps in pipes:
        if not ps.client:
            continue
        rc = dcerpc.decode_connection(ps.client, ps.server)
        pipe = name_of(ps)
        for syn in rc.contexts.values():
            b = {"pipe": pipe, "interface": syn.name, "uuid": syn.uuid}
            if b not in conn.binds:
                _add(conn.binds, b)
        for call in rc.calls:
            if call.opnum is None and not call.request:
                continue
            _add(conn.rpc, _rpc_call(pipe, call))


def _rpc_call(pipe: str, call: dcerpc.DcerpcCall) -> RpcCall:
    iface = call.interface or (call.interface_uuid or "unknown interface")
    op = call.operation or (f"opnum {call.opnum}" if call.opnum is not None else "?")
    ref: Ref = call.request_ref or call.response_ref or ()
    if call.fault_status is not None:
        status = f"fault {nt_status_name(call.fault_status)}"
    elif not call.response:
        status = "no response"
    else:
        stub = call.response_stub
        if len(stub) >= 4:
            status = nt_status_name(struct.unpack_from("<I", stub, len(stub) - 4)[0])
        else:
            status = "short response"
    names: list[str] = []
    kind = ""
    if call.interface == "SAMR" and call.opnum in _SAMR_ENUM and call.response:
        kind = _SAMR_ENUM[call.opnum]
        names = samr_enumeration_names(call.response_stub)
    return RpcCall(pipe, iface, op, status, names, kind, ref)


def samr_enumeration_names(stub: bytes) -> list[str]:
    """Names in a SAMR enumeration output ([MS-SAMR] 2.2.3.9 SAMPR_RID_ENUMERATION in a
    2.2.3.10 SAMPR_ENUMERATION_BUFFER, NDR as in C706 chapter 14): EnumerationContext, a unique
    pointer to the buffer, EntriesRead, a pointer to the conformant array of (RelativeId,
    RPC_UNICODE_STRING), then the deferred strings. Bounded by the stub; [] when damaged."""
    pos = 0
    n = len(stub)

    def u32() -> int:
        nonlocal pos
        pos += -pos % 4
        if pos + 4 > n:
            raise ValueError
        v = struct.unpack_from("<I", stub, pos)[0]
        pos += 4
        return v

    try:
        u32()  # EnumerationContext
        if u32() == 0:  # Buffer pointer
            return []
        entries = u32()
        if u32() == 0 or entries == 0:
            return []
        count = u32()  # conformance
        if count != entries or count * 12 > n:
            return []
        ptrs = []
        for _ in range(count):
            u32()  # RelativeId
            if pos + 4 > n:
                return []
            length = struct.unpack_from("<H", stub, pos)[0]
            pos += 4
            ptrs.append((u32(), length))
        names: list[str] = []
        for ptr, _length in ptrs:
            if ptr == 0:
                names.append("")
                continue
            _max, _off, actual = u32(), u32(), u32()
            if pos + 2 * actual > n:
                return names
            names.append(stub[pos : pos + 2 * actual].decode("utf-16-le", "replace"))
            pos += 2 * actual
            if len(names) >= MAX_RPC_NAMES:
                break
        return names
    except ValueError:
        return []


# ------------------------------------------------------------------------------------------------
# Carving


def magic_of(data: bytes) -> str:
    """File type by content: one table for every carver (analysis.magic)."""
    return file_type(data)


def assemble(
    chunks: list[tuple[int, bytes, Ref]], size: int | None = None, limit: int = MAX_FILE_BYTES
) -> tuple[bytes, bool, list[int]]:
    """Lay chunks (offset, data, frames) out by offset, later ones over earlier ones.

    Returns (content, complete, frames). ``size`` (the file's known final size) truncates or
    extends the extent; complete means every byte of [0, extent) was covered. The buffer is at
    most ``limit`` bytes and at most ``MAX_HOLE_BYTES`` more than the bytes seen, so a hostile
    offset or announced size cannot make it allocate more than the input warrants.
    """
    extent = max((o + len(d) for o, d, _ in chunks), default=0)
    if size is not None:
        extent = size
    seen = sum(len(d) for _, d, _ in chunks)
    cap = max(0, min(limit, MAX_FILE_BYTES, seen + MAX_HOLE_BYTES))
    capped = extent > cap
    extent = min(extent, cap)
    buf = bytearray(extent)
    spans: list[tuple[int, int]] = []
    frames: list[int] = []
    for off, data, ref in chunks:
        if off >= extent:
            continue
        end = min(off + len(data), extent)
        buf[off:end] = data[: end - off]
        spans.append((off, end))
        frames.extend(f for f in ref if f)
    spans.sort()
    covered = 0
    holes = False
    for a, e in spans:
        if a > covered:
            holes = True
            break
        covered = max(covered, e)
    complete = not holes and not capped and covered >= extent
    return bytes(buf), complete, sorted(set(frames))


def _carve(
    op: SmbOpen, kind: str, src: str, dst: str, ctx: AnalysisContext | None, limit: int
) -> CarvedFile:
    chunks = op.writes if kind == "w" else op.reads
    size = op.end_of_file if kind == "r" and op.end_of_file else None
    data, complete, frames = assemble(chunks, size, limit)
    complete = complete and not op.capped
    first = frames[0] if frames else 0
    return CarvedFile(
        name=op.name,
        protocol="smb",
        src=src,
        dst=dst,
        time=ctx.ts_of_frame(first) if ctx is not None and first else None,
        size=len(data),
        md5=hashlib.md5(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        magic=magic_of(data),
        complete=complete,
        evidence=Evidence(frames[:200], [], f"{len(chunks)} {'write' if kind == 'w' else 'read'}s"),
        direction="upload" if kind == "w" else "download",
        data=data,
    )


# ------------------------------------------------------------------------------------------------
# The analyzer


@dataclass(slots=True)
class _Session:
    """One inbound connection and its decoded conversation."""

    flow: int
    uid: str
    client: str
    cport: int
    server: str
    port: int
    start: float
    packets: int
    conn_state: str
    history: str
    conn: SmbConnection
    carved: list[CarvedFile] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        neg = self.conn.negative()
        if neg:
            return f"{neg.replace('negative:', 'negative session response:')}"
        if "r" in self.history:
            return "reset by the honeypot"
        if "R" in self.history:
            return "reset by the client"
        if self.conn_state in ("S0", "REJ", "RSTOS0", "SH", "OTH") and not self.conn.sent_smb:
            return {"REJ": "refused", "S0": "no answer"}.get(self.conn_state, self.conn_state)
        if "F" in self.history or "f" in self.history:
            return "closed"
        return "open at the end of the capture"

    def to_dict(self) -> dict[str, Any]:
        c = self.conn
        return {
            "flow": self.uid,
            "client": self.client,
            "client_port": self.cport,
            "server": self.server,
            "port": self.port,
            "start": self.start,
            "protocol": c.protocol,
            "session_requests": c.session_requests,
            "session_responses": c.session_responses,
            "dialects": c.dialects,
            "dialect": c.dialect,
            "logons": [lg.to_dict() for lg in c.logons],
            "shares": c.trees,
            "pipes": [o.to_dict() for o in c.opens if o.pipe],
            "rpc_binds": c.binds,
            "rpc_calls": [r.to_dict() for r in c.rpc],
            "files": [o.to_dict() for o in c.opens if not o.pipe],
            "access_denied": c.denied,
            "requests": c.requests,
            "responses": c.responses,
            "unanswered": c.unanswered,
            "malformed_messages": c.malformed,
            "outcome": self.outcome,
            "capped": c.capped,
        }


def _read_stream(ctx: AnalysisContext, flow: int, direction: int) -> tuple[bytes, Any]:
    ds = ctx.stream(flow, direction)
    if ds is None:
        return b"", None
    st = ds.stream
    if st.length > MAX_STREAM_BYTES:
        with st.open() as fh:
            return fh.read(MAX_STREAM_BYTES), frames_of_stream(st)
    return st.read(), frames_of_stream(st)


def _session(
    ctx: AnalysisContext,
    fi: int,
    port: int,
    contexts: dict[tuple[str, str], smb2.Smb2Context],
    budget: list[int],
) -> _Session:
    row = ctx.row(fi)
    client, server = str(row["orig_h"]), str(row["resp_h"])
    cdata, cfa = _read_stream(ctx, fi, 0)
    sdata, sfa = _read_stream(ctx, fi, 1)
    direct = None if port not in SMB_PORTS else port != 139
    conn = decode_connection(
        cdata,
        sdata,
        direct=direct,
        client_frames=cfa,
        server_frames=sfa,
        smb2_context=contexts.setdefault((client, server), smb2.Smb2Context()),
    )
    if ctx.stream(fi, 0) is not None and ctx.stream(fi, 0).stream.length > MAX_STREAM_BYTES:
        conn.capped.append(f"client stream cut at {MAX_STREAM_BYTES} bytes")
    s = _Session(
        fi,
        str(row["uid"]),
        client,
        int(row["orig_p"]),
        server,
        int(row["resp_p"]),
        float(row["start"]),
        int(row["orig_pkts"]) + int(row["resp_pkts"]),
        str(row["conn_state"]),
        str(row["history"]),
        conn,
    )
    for op in conn.opens:
        if op.pipe:
            continue
        for kind, chunks in (("w", op.writes), ("r", op.reads)):
            if not chunks:
                continue
            if budget[0] <= 0:
                conn.capped.append(f"{op.name}: not carved (over {MAX_TOTAL_CARVED} bytes)")
                continue
            src, dst = (client, server) if kind == "w" else (server, client)
            cf = _carve(op, kind, src, dst, ctx, budget[0])
            budget[0] -= cf.size
            s.carved.append(cf)
    for cf in s.carved:
        cf.evidence.flows = [s.uid]
    return s


def _smb_by_content(ctx: AnalysisContext) -> dict[int, list[int]]:
    """Inbound TCP flows to other ports that the flow table labelled ``smb`` by their first
    payload bytes (flows/services.py: an NBSS header followed by an SMB magic)."""
    out: dict[int, list[int]] = {}
    svc = ctx.flows.column("service")
    resp_p = ctx.flows.column("resp_p")
    for fi in ctx.flows_where(proto=6, inbound=True):
        if str(svc[fi]) == "smb" and int(resp_p[fi]) not in SMB_PORTS:
            out.setdefault(int(resp_p[fi]), []).append(fi)
    return out


def analyze_smb(ctx: AnalysisContext) -> AnalyzerResult:
    """Verdicts for tcp/139 and tcp/445 (per honeypot), findings, carved files and timeline."""
    result = AnalyzerResult()
    contexts: dict[tuple[str, str], smb2.Smb2Context] = {}
    budget = [MAX_TOTAL_CARVED]  # bytes of carved content left
    by_port: dict[int, list[int]] = {
        p: ctx.flows_where(proto=6, resp_port=p, inbound=True) for p in SMB_PORTS
    }
    by_port.update(_smb_by_content(ctx))
    all_sessions: list[_Session] = []
    start = ctx.flows.numeric["start_ns"]
    for port in sorted(by_port):
        flows = sorted(by_port[port], key=lambda i: int(start[i]))
        sessions = [_session(ctx, fi, port, contexts, budget) for fi in ctx.each_loaded(flows)]
        all_sessions.extend(sessions)
        by_server: dict[str, list[_Session]] = {}
        for sess in sessions:
            by_server.setdefault(sess.server, []).append(sess)
        for hp in sorted(by_server):
            result.services.append(_verdict(ctx, port, hp, by_server[hp]))
    for s in all_sessions:
        result.files.extend(s.carved)
    _findings(ctx, all_sessions, result)
    capped = [f"{s.uid}: {note}" for s in all_sessions for note in s.conn.capped]
    result.extra["smb"] = {
        "sessions": len(all_sessions),
        "files_carved": len(result.files),
        "capped": capped[:MAX_LISTED],
    }
    return result


# -- verdicts ------------------------------------------------------------------------------------


def _hosts(items: list[str], limit: int = 10) -> str:
    uniq = list(dict.fromkeys(items))
    text = ", ".join(uniq[:limit])
    return text + (f" and {len(uniq) - limit} more" if len(uniq) > limit else "")


def _tree_fate(s: _Session, tree: dict[str, Any]) -> str:
    if tree["status"] != "no response":
        return tree["status"]
    return f"no SMB reply ({s.outcome})"


def _enumerations(s: _Session) -> list[RpcCall]:
    return [
        r for r in s.conn.rpc if r.interface in _ENUM_INTERFACES and r.status == "STATUS_SUCCESS"
    ]


def _verdict(ctx: AnalysisContext, port: int, hp: str, sessions: list[_Session]) -> ServiceVerdict:
    name = SMB_PORTS.get(port, "smb (by content)")
    attackers = list(dict.fromkeys(s.client for s in sessions if s.conn.sent_smb))
    probers = [h for h in dict.fromkeys(s.client for s in sessions) if h not in attackers]
    nb_only = [
        s.client
        for s in sessions
        if not s.conn.sent_smb and s.conn.session_requests and s.client not in attackers
    ]
    reasons: list[str] = []
    ev = Evidence(flows=[s.uid for s in sessions][:200])
    frames: list[int] = []
    success = False

    # tree connects grouped by (path, fate)
    fates: Counter[tuple[str, str]] = Counter()
    fate_hosts: dict[tuple[str, str], list[str]] = {}
    for s in sessions:
        for t in s.conn.trees:
            k = (t["path"], _tree_fate(s, t))
            fates[k] += 1
            fate_hosts.setdefault(k, []).append(s.client)
            if t["frame"] and len(frames) < 100:
                frames.append(t["frame"])
    for (path, fate), n in sorted(fates.items(), key=lambda kv: (-kv[1], kv[0])):
        hosts = fate_hosts[(path, fate)]
        reasons.append(
            f"{n} tree connect(s) to {safe(path)} from {len(set(hosts))} host(s): {fate}"
            + (f" ({_hosts(hosts, 3)})" if len(set(hosts)) <= 3 else "")
        )
        if fate == "STATUS_SUCCESS" and not _is_ipc(path):
            success = True

    named = [(s, lg) for s in sessions for lg in s.conn.logons if lg.named]
    for (user, empty), group in _group(named, lambda x: (x[1].user, x[1].empty_password)).items():
        pw = {True: "an empty password", False: "a password", None: "a password (not checked)"}
        hosts = [s.client for s, _ in group]
        reasons.append(
            f"{safe(user)} logged on with {pw[empty]} (STATUS_SUCCESS, not as guest) "
            f"{len(group)} time(s) from {len(set(hosts))} host(s): {_hosts(hosts)}"
        )
        frames.extend(_first(lg.frames) for _, lg in group[:50] if _first(lg.frames))
        success = True
    nulls = [s for s in sessions if any(lg.success and lg.null_session for lg in s.conn.logons)]
    if nulls:
        reasons.append(
            f"null sessions accepted from {len(set(s.client for s in nulls))} host(s): "
            f"{_hosts([s.client for s in nulls])}"
        )
    guests = [s for s in sessions if any(lg.success and lg.guest for lg in s.conn.logons)]
    if guests:
        reasons.append(f"logons mapped to Guest from {_hosts([s.client for s in guests])}")
    failures = [(s, lg) for s in sessions for lg in s.conn.logons if lg.answered and not lg.success]
    unanswered = [(s, lg) for s in sessions for lg in s.conn.logons if not lg.answered]
    if unanswered:
        ends = Counter(s.outcome for s, _ in unanswered)
        reasons.append(
            f"{len(unanswered)} logon attempt(s) got no SMB reply ("
            + ", ".join(f"{k} x{v}" for k, v in ends.most_common())
            + f") from {len(set(s.client for s, _ in unanswered))} host(s)"
        )
    if failures:
        st = Counter(lg.status for _, lg in failures)
        reasons.append(
            f"{len(failures)} failed logon(s) ("
            + ", ".join(f"{k} x{v}" for k, v in st.most_common())
            + f") from {_hosts([s.client for s, _ in failures])}"
        )
        frames.extend(_first(lg.frames) for _, lg in failures[:20] if _first(lg.frames))

    enum = [(s, r) for s in sessions for r in _enumerations(s)]
    if enum:
        ops = Counter(f"{r.interface} {r.operation}" for _, r in enum)
        disclosed = list(dict.fromkeys(n for _, r in enum if r.kind == "users" for n in r.names))
        reasons.append(
            f"RPC enumeration answered with STATUS_SUCCESS for {len(set(s.client for s, _ in enum))}"
            f" host(s): " + ", ".join(f"{k} x{v}" for k, v in ops.most_common(12))
        )
        if disclosed:
            reasons.append(
                f"user names disclosed: {', '.join(safe(n) for n in disclosed[:20])}"
                + (f" and {len(disclosed) - 20} more" if len(disclosed) > 20 else "")
            )
            success = True
        frames.extend(_first(r.frames) for _, r in enum[:50] if _first(r.frames))

    uploads = [(s, cf) for s in sessions for cf in s.carved if cf.direction == "upload"]
    for s, cf in uploads[:20]:
        reasons.append(
            f"{s.client} wrote {safe(cf.name)} ({cf.size} bytes, {cf.magic}, md5 {cf.md5}"
            + ("" if cf.complete else ", incomplete")
            + ")"
        )
        frames.extend(cf.evidence.frames[:5])
        success = True
    if len(uploads) > 20:
        reasons.append(f"... and {len(uploads) - 20} more files written")
    downloads = [(s, cf) for s in sessions for cf in s.carved if cf.direction == "download"]
    if downloads:
        reasons.append(
            f"{len(downloads)} file(s) read from the honeypot: "
            + ", ".join(safe(cf.name) for _, cf in downloads[:5])
        )
        frames.extend(f for _, cf in downloads[:20] for f in cf.evidence.frames[:5])
        success = True
    denied = [(s, d) for s in sessions for d in s.conn.denied]
    if denied:
        what = Counter(f"{d['command']} {d.get('share') or ''}".strip() for _, d in denied)
        reasons.append(
            f"{len(denied)} access-denied repl(ies): "
            + ", ".join(f"{safe(k)} x{v}" for k, v in what.most_common(6))
        )
        frames.extend(d["frame"] for _, d in denied[:20] if d["frame"])
    outcomes = Counter(s.outcome for s in sessions if s.conn.sent_smb)
    if outcomes:
        reasons.append(
            "attacking connections ended: "
            + ", ".join(f"{k} x{v}" for k, v in outcomes.most_common())
        )
    if nb_only:
        reasons.append(
            f"{len(set(nb_only))} host(s) sent only a NetBIOS session request, no SMB command: "
            f"{_hosts(nb_only)}"
        )
    answered = any(
        s.conn.responses or s.conn.negative() or "r" in s.history
        for s in sessions
        if s.conn.sent_smb
    )
    if not attackers:
        verdict = "not-attacked"
        reasons.append("no host sent an SMB command (connections without SMB payload only)")
    elif success:
        verdict = "succeeded"
    elif not answered:
        verdict = "unknown"
        reasons.append("the honeypot's replies are not in the capture: outcome unknown")
    else:
        verdict = "failed"
        reasons.append(
            "no named-account logon succeeded, no share other than IPC$ was connected, "
            "no file was written or read and no enumeration disclosed names"
        )
    ev.frames = sorted(set(f for f in frames if f))[:200]
    ev.note = "tree connects, logons, RPC calls, writes"
    details = {
        "honeypot": hp,
        "session_request_only": list(dict.fromkeys(nb_only)),
        "tree_connects": {
            f"{p} -> {f}": n for (p, f), n in sorted(fates.items(), key=lambda kv: kv[0])
        },
        "sessions": [s.to_dict() for s in sessions[:MAX_LISTED]],
    }
    if len(sessions) > MAX_LISTED:
        details["sessions_capped"] = f"first {MAX_LISTED} of {len(sessions)} sessions listed"
    return ServiceVerdict(
        proto="tcp",
        port=port,
        name=name,
        attackers=attackers,
        probers=probers,
        connections=len(sessions),
        packets=sum(s.packets for s in sessions),
        verdict=verdict,
        reasons=reasons,
        evidence=ev,
        command=ctx.show_cmd(f"host {hp} and tcp port {port}"),
        details=details,
    )


def _group(items: list, key: Callable[[Any], Any]) -> dict[Any, list]:
    out: dict[Any, list] = {}
    for it in items:
        out.setdefault(key(it), []).append(it)
    return out


# -- findings and timeline -----------------------------------------------------------------------


def _findings(ctx: AnalysisContext, sessions: list[_Session], result: AnalyzerResult) -> None:
    counts: Counter[str] = Counter()

    def add(kind: str, f: Finding) -> None:
        counts[kind] += 1
        if counts[kind] <= MAX_HOST_FINDINGS:
            result.findings.append(f)

    def cmd(s: _Session) -> str:
        return ctx.show_cmd(f"host {s.client} and tcp port {s.port}")

    def ts(frame: int) -> float | None:
        return ctx.ts_of_frame(frame) if frame else None

    for s in sessions:
        c = s.conn
        hosts = [s.client, s.server]
        for lg in c.logons:
            fr = [f for f in lg.frames if f]
            ev = Evidence(sorted(set(fr)), [s.uid], f"SessionSetup as {lg.user or '(null)'}")
            if lg.named:
                blank = lg.empty_password is True
                sev = "critical" if blank else "high"
                pw = "an empty password" if blank else "a password"
                add(
                    "logon",
                    Finding(
                        sev,
                        f"{safe(lg.user)} logon with {pw} succeeded on tcp/{s.port}",
                        f"{s.client} logged on to {s.server} as {safe(lg.domain)}\\"
                        f"{safe(lg.user)} with {pw} ({lg.mechanism}); the server answered "
                        f"{lg.status} without mapping it to Guest (uid {lg.uid}).",
                        ev,
                        cmd(s),
                        "compromise",
                        hosts,
                        ts(_first(lg.frames)),
                    ),
                )
                result.timeline.append(
                    TimelineEvent(
                        ts(_first(lg.frames)) or s.start,
                        "logon",
                        f"{s.client} logged on as {safe(lg.user)} ({pw}) on tcp/{s.port}",
                        hosts,
                        ev,
                        cmd(s),
                    )
                )
            elif lg.answered and not lg.success:
                add(
                    "failed",
                    Finding(
                        "low",
                        f"Failed logon as {safe(lg.user) or '(null)'} on tcp/{s.port}",
                        f"{s.client}: SessionSetup as {safe(lg.user) or '(null)'} answered "
                        f"{lg.status}.",
                        ev,
                        cmd(s),
                        "attack",
                        hosts,
                        ts(_first(lg.frames)),
                    ),
                )
        ipc_ok = [t for t in c.trees if _is_ipc(t["path"]) and t["status"] == "STATUS_SUCCESS"]
        if ipc_ok and any(lg.null_session and lg.success for lg in c.logons):
            fr = [t["frame"] for t in ipc_ok if t["frame"]]
            add(
                "null",
                Finding(
                    "medium",
                    f"Null session to {safe(ipc_ok[0]['path'])}",
                    f"{s.client} connected to {safe(ipc_ok[0]['path'])} with an empty account and "
                    "password (null session) and the honeypot accepted it.",
                    Evidence(fr, [s.uid], "tree connect to IPC$"),
                    cmd(s),
                    "recon",
                    hosts,
                    ts(fr[0]) if fr else s.start,
                ),
            )
        enum = _enumerations(s)
        if enum:
            users = list(dict.fromkeys(n for r in enum if r.kind == "users" for n in r.names))
            ops = list(dict.fromkeys(f"{r.interface} {r.operation}" for r in enum))
            fr = sorted({_first(r.frames) for r in enum if _first(r.frames)})
            ev = Evidence(fr[:200], [s.uid], "DCE/RPC calls over named pipes")
            detail = f"{s.client} called " + ", ".join(ops[:12])
            if users:
                detail += "; user names disclosed: " + ", ".join(safe(u) for u in users[:50])
            add(
                "enum",
                Finding(
                    "high",
                    f"SAMR/LSA enumeration over tcp/{s.port}",
                    detail + ".",
                    ev,
                    cmd(s),
                    "recon",
                    hosts,
                    ts(fr[0]) if fr else s.start,
                ),
            )
            result.timeline.append(
                TimelineEvent(
                    ts(fr[0]) if fr else s.start,
                    "enumeration",
                    f"{s.client} enumerated {', '.join(dict.fromkeys(r.interface for r in enum))}"
                    + (f" ({len(users)} user names disclosed)" if users else ""),
                    hosts,
                    ev,
                    cmd(s),
                )
            )
        for cf in s.carved:
            ev = Evidence(cf.evidence.frames, [s.uid], cf.evidence.note)
            exe = cf.magic.startswith(_EXEC_MAGIC)
            if cf.direction == "upload":
                sev = "critical" if exe else "high"
                title = f"{'Executable' if exe else 'File'} uploaded over SMB: {safe(cf.name)}"
                cat = "compromise"
            else:
                sev, cat = "medium", "attack"
                title = f"File read from the honeypot over SMB: {safe(cf.name)}"
            add(
                "file",
                Finding(
                    sev,
                    title,
                    f"{cf.src} -> {cf.dst}: {cf.size} bytes, {cf.magic}, md5 {cf.md5}, sha256 "
                    f"{cf.sha256}" + ("" if cf.complete else " (incomplete: some bytes not seen)"),
                    ev,
                    cmd(s),
                    cat,
                    hosts,
                    cf.time,
                ),
            )
            if cf.direction == "upload":
                result.timeline.append(
                    TimelineEvent(
                        cf.time or s.start,
                        "upload",
                        f"{cf.src} wrote {safe(cf.name)} ({cf.size} bytes, {cf.magic})",
                        hosts,
                        ev,
                        cmd(s),
                    )
                )
        for d in c.denied[:5]:
            add(
                "denied",
                Finding(
                    "low",
                    f"Access denied: {d['command']} {safe(d.get('share') or '')}".strip(),
                    f"{s.client}: {d['command']} on {safe(d.get('share') or '?')}"
                    + (f" file {safe(d['file'])}" if d.get("file") else "")
                    + f" answered {d['status']}.",
                    Evidence([d["frame"]] if d["frame"] else [], [s.uid]),
                    cmd(s),
                    "attack",
                    hosts,
                    ts(d["frame"]),
                ),
            )
        if not c.sent_smb and c.session_requests:
            add(
                "nbss",
                Finding(
                    "info",
                    f"NetBIOS session request only on tcp/{s.port}",
                    f"{s.client} asked for a NetBIOS session "
                    f"({safe(str(c.session_requests[0].get('called')))} from "
                    f"{safe(str(c.session_requests[0].get('calling')))}) but sent no SMB command.",
                    Evidence([c.session_requests[0]["frame"]], [s.uid]),
                    cmd(s),
                    "recon",
                    hosts,
                    s.start,
                ),
            )
    for kind, n in counts.items():
        if n > MAX_HOST_FINDINGS:
            result.findings.append(
                Finding(
                    "info",
                    f"{n - MAX_HOST_FINDINGS} more SMB findings of kind '{kind}' not listed",
                    "Per-host findings are capped; the service details list every session.",
                    Evidence(),
                    ctx.cmd("analyze"),
                    "attack",
                )
            )
    result.timeline.sort(key=lambda e: e.time)
