"""Byte builders for the Windows protocols of the scenario, written from the specifications.

NetBIOS (RFC 1001/1002), SMB1 (MS-CIFS), DCE/RPC connection-oriented PDUs (C706 chapter 12) and
the few SAMR calls (MS-SAMR) an attacker's enumeration makes. Only what the scenario sends is
covered; every layout below cites the section it follows. All integers are little-endian (SMB
and NDR with drep 0x10) except the NetBIOS headers, which are big-endian.
"""

from __future__ import annotations

import struct
import uuid

# ---------------------------------------------------------------------------------------------
# NetBIOS names (RFC 1001 section 14.1 first-level encoding; RFC 1002 section 4.1)


def nb_encode(name: bytes, suffix: int, pad: bytes = b" ") -> bytes:
    """Encoded NetBIOS name as a DNS label: length 0x20, 32 half-byte letters, root label."""
    raw = name[:15].ljust(15, pad) + bytes([suffix])
    enc = bytearray()
    for b in raw:
        enc += bytes([0x41 + (b >> 4), 0x41 + (b & 0x0F)])
    return b"\x20" + bytes(enc) + b"\x00"


# ---------------------------------------------------------------------------------------------
# NBNS node status (RFC 1002 sections 4.2.17 NODE STATUS REQUEST and 4.2.18 NODE STATUS RESPONSE)

NBSTAT = 0x0021
NB_GROUP = 0x8000  # NAME_FLAGS G bit
NB_ACTIVE = 0x0400  # NAME_FLAGS ACT bit


def nbns_node_status_query(trn_id: int) -> bytes:
    """Node status request for the wildcard name ``*`` (padded with NULs), flags 0x0010."""
    header = struct.pack(">HHHHHH", trn_id, 0x0010, 1, 0, 0, 0)
    return header + nb_encode(b"*", 0x00, pad=b"\x00") + struct.pack(">HH", NBSTAT, 1)


def nbns_node_status_response(
    trn_id: int, names: list[tuple[bytes, int, int]], unit_id: bytes
) -> bytes:
    """Node status response: ``names`` are (15-byte-padded name, suffix, NAME_FLAGS).

    RDATA = NUM_NAMES, NODE_NAME entries (16 bytes + 2 flag bytes), then STATISTICS whose first
    6 bytes are the unit id (the adapter's MAC) followed by 40 bytes of counters.
    """
    header = struct.pack(">HHHHHH", trn_id, 0x8400, 0, 1, 0, 0)
    rdata = bytearray([len(names)])
    for name, suffix, flags in names:
        rdata += name[:15].ljust(15, b" ") + bytes([suffix]) + struct.pack(">H", flags)
    rdata += unit_id + bytes(40)  # counters left at zero
    rr = nb_encode(b"*", 0x00, pad=b"\x00") + struct.pack(">HHIH", NBSTAT, 1, 0, len(rdata))
    return header + rr + bytes(rdata)


# ---------------------------------------------------------------------------------------------
# NetBIOS session service (RFC 1002 section 4.3) and direct-hosted SMB ([MS-SMB] 2.1: the same
# 4-byte header with type 0 and a 24-bit length, used on tcp/445)

NBSS_MESSAGE = 0x00
NBSS_REQUEST = 0x81
NBSS_POSITIVE = 0x82
NBSS_NEGATIVE = 0x83


def nbss(msg_type: int, payload: bytes) -> bytes:
    """One session-service packet: TYPE, FLAGS (length bit 16), LENGTH."""
    if len(payload) > 0x1FFFF:
        raise ValueError("NBSS payload too long")
    flags = (len(payload) >> 16) & 0x01
    return struct.pack(">BBH", msg_type, flags, len(payload) & 0xFFFF) + payload


def nbss_session_request(called: bytes, calling: bytes) -> bytes:
    """SESSION REQUEST: called name (suffix 0x20, server service) and calling name (0x00)."""
    return nbss(NBSS_REQUEST, nb_encode(called, 0x20) + nb_encode(calling, 0x00))


def nbss_positive() -> bytes:
    return nbss(NBSS_POSITIVE, b"")


def nbss_negative(error: int = 0x82) -> bytes:
    """NEGATIVE SESSION RESPONSE; 0x82 = called name not present (RFC 1002 4.3.4)."""
    return nbss(NBSS_NEGATIVE, bytes([error]))


# ---------------------------------------------------------------------------------------------
# SMB1 (MS-CIFS). Header 2.2.3.1; commands 2.2.4.x; status codes MS-ERREF 2.3.

SMB_COM_CLOSE = 0x04
SMB_COM_TRANSACTION = 0x25
SMB_COM_WRITE_ANDX = 0x2F
SMB_COM_TREE_DISCONNECT = 0x71
SMB_COM_NEGOTIATE = 0x72
SMB_COM_SESSION_SETUP_ANDX = 0x73
SMB_COM_LOGOFF_ANDX = 0x74
SMB_COM_TREE_CONNECT_ANDX = 0x75
SMB_COM_NT_CREATE_ANDX = 0xA2
NO_ANDX = 0xFF

STATUS_SUCCESS = 0x00000000
STATUS_ACCESS_DENIED = 0xC0000022
STATUS_LOGON_FAILURE = 0xC000006D
STATUS_BAD_NETWORK_NAME = 0xC00000CC
STATUS_NO_MORE_ENTRIES = 0x8000001A  # SAMR enumeration done (MS-ERREF 2.3.1)
STATUS_MORE_ENTRIES = 0x00000105

FLAGS_REPLY = 0x80
FLAGS_CASELESS = 0x08
FLAGS_CANONICAL = 0x10
FLAGS2_UNICODE = 0x8000
FLAGS2_NT_STATUS = 0x4000
FLAGS2_LONG_NAMES = 0x0001
FLAGS2_EAS = 0x0002

DIALECTS = (
    b"PC NETWORK PROGRAM 1.0",
    b"LANMAN1.0",
    b"Windows for Workgroups 3.1a",
    b"LM1.2X002",
    b"LANMAN2.1",
    b"NT LM 0.12",
)


def uni(text: str, *, nul: bool = True) -> bytes:
    return text.encode("utf-16-le") + (b"\x00\x00" if nul else b"")


def oem(text: str) -> bytes:
    return text.encode("ascii") + b"\x00"


def smb_header(
    cmd: int,
    *,
    reply: bool,
    status: int = 0,
    tid: int = 0,
    pid: int = 0xFEFF,
    uid: int = 0,
    mid: int = 0,
    unicode: bool = True,
) -> bytes:
    """32-byte SMB header (MS-CIFS 2.2.3.1) with NT status codes."""
    flags = FLAGS_CASELESS | FLAGS_CANONICAL | (FLAGS_REPLY if reply else 0)
    flags2 = FLAGS2_NT_STATUS | FLAGS2_LONG_NAMES | FLAGS2_EAS | (FLAGS2_UNICODE if unicode else 0)
    return (
        b"\xffSMB"
        + struct.pack("<BIBH", cmd, status, flags, flags2)
        + struct.pack("<H8sH", 0, b"\x00" * 8, 0)
        + struct.pack("<HHHH", tid, pid, uid, mid)
    )


class SmbBlock:
    """One command block: words (parameter bytes, WordCount = len/2) and data bytes.

    ``data`` may be a function of the block's absolute offset from the SMB header start, so that
    Unicode strings can be 2-byte aligned and data offsets computed (MS-CIFS 2.2.3.2/2.2.3.3).
    For AndX chains the first 4 parameter bytes are filled in by :func:`smb_message`.
    """

    def __init__(self, cmd: int, words: bytes, data=b"") -> None:  # type: ignore[no-untyped-def]
        if len(words) % 2:
            raise ValueError("SMB parameter block must be whole words")
        self.cmd = cmd
        self.words = words
        self.data = data


def smb_message(header: bytes, blocks: list[SmbBlock]) -> bytes:
    """Header plus one command block or an AndX chain; AndXCommand/AndXOffset are set here."""
    out = bytearray(header)
    andx_at: int | None = None
    for blk in blocks:
        start = len(out)
        if andx_at is not None:
            out[andx_at] = blk.cmd
            struct.pack_into("<H", out, andx_at + 2, start)
        words = bytearray(blk.words)
        if _is_andx(blk.cmd) and len(words) >= 4:
            words[0] = NO_ANDX
            words[1] = 0
            struct.pack_into("<H", words, 2, 0)
            andx_at = start + 1
        data_start = start + 1 + len(words) + 2
        data = blk.data(data_start) if callable(blk.data) else blk.data
        out += bytes([len(words) // 2]) + words + struct.pack("<H", len(data)) + data
    return bytes(out)


def _is_andx(cmd: int) -> bool:
    return cmd in (
        SMB_COM_SESSION_SETUP_ANDX,
        SMB_COM_TREE_CONNECT_ANDX,
        SMB_COM_NT_CREATE_ANDX,
        SMB_COM_WRITE_ANDX,
        SMB_COM_LOGOFF_ANDX,
    )


def _pad2(offset: int) -> bytes:
    return b"\x00" if offset % 2 else b""


ANDX = b"\xff\x00\x00\x00"  # placeholder: AndXCommand, AndXReserved, AndXOffset


def negotiate_request(**hdr) -> bytes:  # type: ignore[no-untyped-def]
    """SMB_COM_NEGOTIATE request (MS-CIFS 2.2.4.52.1): WordCount 0, dialect strings."""
    data = b"".join(b"\x02" + d + b"\x00" for d in DIALECTS)
    return smb_message(
        smb_header(SMB_COM_NEGOTIATE, reply=False, **hdr), [SmbBlock(0x72, b"", data)]
    )


def negotiate_response(
    *, challenge: bytes, domain: str, server: str, system_time: int, **hdr
) -> bytes:  # type: ignore[no-untyped-def]
    """NT LM 0.12 response without extended security (MS-CIFS 2.2.4.52.2), WordCount 17."""
    caps = 0x0000F3FD & ~0x80000000  # NT-era capability bits, no extended security
    words = struct.pack(
        "<HBHHIIIIqhB",
        len(DIALECTS) - 1,  # DialectIndex: NT LM 0.12
        0x03,  # SecurityMode: user level, encrypt passwords
        50,  # MaxMpxCount
        1,  # MaxNumberVcs
        16644,  # MaxBufferSize
        65536,  # MaxRawSize
        0,  # SessionKey
        caps,
        system_time,
        0,  # ServerTimeZone
        len(challenge),
    )
    data = challenge + uni(domain) + uni(server)
    header = smb_header(SMB_COM_NEGOTIATE, reply=True, **hdr)
    return smb_message(header, [SmbBlock(SMB_COM_NEGOTIATE, words, data)])


def session_setup_block(
    account: str, domain: str, *, oem_password: bytes = b"", unicode_password: bytes = b""
) -> SmbBlock:
    """SMB_COM_SESSION_SETUP_ANDX request, NT LM 0.12 form (MS-CIFS 2.2.4.53.1), WordCount 13."""
    words = ANDX + struct.pack(
        "<HHHIHHII",
        16644,  # MaxBufferSize
        50,  # MaxMpxCount
        0,  # VcNumber
        0,  # SessionKey
        len(oem_password),
        len(unicode_password),
        0,  # Reserved
        0x000000D4,  # Capabilities: unicode, NT status, NT SMBs, large files
    )

    def data(off: int) -> bytes:
        head = oem_password + unicode_password
        return (
            head
            + _pad2(off + len(head))
            + uni(account)
            + uni(domain)
            + uni("Windows 2000 2195")
            + uni("Windows 2000 5.0")
        )

    return SmbBlock(SMB_COM_SESSION_SETUP_ANDX, words, data)


def session_setup_response_block(*, guest: bool = False) -> SmbBlock:
    """SMB_COM_SESSION_SETUP_ANDX response (MS-CIFS 2.2.4.53.2), WordCount 3."""
    words = ANDX + struct.pack("<H", 1 if guest else 0)

    def data(off: int) -> bytes:
        return _pad2(off) + uni("Windows 5.0") + uni("Windows 2000 LAN Manager") + uni("SBM")

    return SmbBlock(SMB_COM_SESSION_SETUP_ANDX, words, data)


def tree_connect_block(path: str, service: str = "?????") -> SmbBlock:
    """SMB_COM_TREE_CONNECT_ANDX request (MS-CIFS 2.2.4.55.1), WordCount 4, one-byte password."""
    words = ANDX + struct.pack("<HH", 0x0008, 1)  # Flags: extended response; PasswordLength 1

    def data(off: int) -> bytes:
        return b"\x00" + _pad2(off + 1) + uni(path) + oem(service)

    return SmbBlock(SMB_COM_TREE_CONNECT_ANDX, words, data)


def tree_connect_response_block(service: str, fs: str) -> SmbBlock:
    """SMB_COM_TREE_CONNECT_ANDX response (MS-CIFS 2.2.4.55.2), WordCount 3."""
    words = ANDX + struct.pack("<H", 0x0001)  # OptionalSupport: SMB_SUPPORT_SEARCH_BITS

    def data(off: int) -> bytes:
        s = oem(service)
        return s + _pad2(off + len(s)) + uni(fs)

    return SmbBlock(SMB_COM_TREE_CONNECT_ANDX, words, data)


def error_block(cmd: int) -> SmbBlock:
    """An error response: WordCount 0, ByteCount 0 (MS-CIFS 2.2.3.3)."""
    return SmbBlock(cmd, b"", b"")


def nt_create_block(name: str, *, access: int, disposition: int, options: int) -> SmbBlock:
    """SMB_COM_NT_CREATE_ANDX request (MS-CIFS 2.2.4.64.1), WordCount 24."""
    name_bytes = uni(name, nul=False)
    words = ANDX + struct.pack(
        "<BHIIIqIIIIIB",
        0,  # Reserved
        len(name_bytes),  # NameLength in bytes
        0,  # Flags
        0,  # RootDirectoryFID
        access,
        0,  # AllocationSize
        0x80 if options == 0 else 0x20,  # ExtFileAttributes: NORMAL / ARCHIVE
        0x03,  # ShareAccess: read | write
        disposition,
        options,
        2,  # ImpersonationLevel: SEC_IMPERSONATE
        0,  # SecurityFlags
    )

    def data(off: int) -> bytes:
        return _pad2(off) + name_bytes + b"\x00\x00"

    return SmbBlock(SMB_COM_NT_CREATE_ANDX, words, data)


def nt_create_response_block(
    fid: int, *, action: int, filetime: int, size: int, pipe: bool
) -> SmbBlock:
    """SMB_COM_NT_CREATE_ANDX response (MS-CIFS 2.2.4.64.2), WordCount 34."""
    words = ANDX + struct.pack(
        "<BHIqqqqIqqHHB",
        0,  # OplockLevel
        fid,
        action,  # CreateDisposition taken: 1 opened, 2 created
        filetime,
        filetime,
        filetime,
        filetime,
        0x80 if pipe else 0x20,
        0 if pipe else (size + 4095) // 4096 * 4096,
        size,
        2 if pipe else 0,  # ResourceType: message-mode pipe / disk
        0x05FF if pipe else 0,  # NMPipeStatus
        0,
    )
    return SmbBlock(SMB_COM_NT_CREATE_ANDX, words, b"")


def write_andx_block(fid: int, offset: int, payload: bytes) -> SmbBlock:
    """SMB_COM_WRITE_ANDX request (MS-CIFS 2.2.4.43.1), WordCount 14, data after one pad byte."""
    # DataOffset is measured from the start of the SMB header; the block starts after the
    # 32-byte header (this builder is used only as the first block of a message).
    data_offset = 32 + 1 + 28 + 2 + 1
    words = ANDX + struct.pack(
        "<HIIHHHHHI",
        fid,
        offset & 0xFFFFFFFF,
        0,  # Timeout
        0x0000,  # WriteMode
        0,  # Remaining
        len(payload) >> 16,  # DataLengthHigh
        len(payload) & 0xFFFF,
        data_offset,
        offset >> 32,
    )
    return SmbBlock(SMB_COM_WRITE_ANDX, words, b"\x00" + payload)


def write_andx_response_block(count: int) -> SmbBlock:
    """SMB_COM_WRITE_ANDX response (MS-CIFS 2.2.4.43.2), WordCount 6."""
    return SmbBlock(SMB_COM_WRITE_ANDX, ANDX + struct.pack("<HHI", count, 0xFFFF, 0), b"")


def close_block(fid: int) -> SmbBlock:
    """SMB_COM_CLOSE request (MS-CIFS 2.2.4.5.1): FID and LastTimeModified (0 = leave)."""
    return SmbBlock(SMB_COM_CLOSE, struct.pack("<HI", fid, 0xFFFFFFFF), b"")


def trans_pipe_request_block(fid: int, rpc: bytes, max_data: int = 4280) -> SmbBlock:
    """SMB_COM_TRANSACTION carrying TRANS_TRANSACT_NMPIPE (MS-CIFS 2.2.4.33.1, 2.2.5.6).

    Name is ``\\PIPE\\``; no parameters; the DCE/RPC PDU is the data, 4-byte aligned.
    """
    name = uni("\\PIPE\\")
    bytes_start = 32 + 1 + 32 + 2
    name_at = bytes_start + (bytes_start % 2)
    params_at = name_at + len(name)
    data_at = (params_at + 3) & ~3
    words = struct.pack(
        "<HHHHBBHIHHHHHBBHH",
        0,  # TotalParameterCount
        len(rpc),  # TotalDataCount
        0,  # MaxParameterCount
        max_data,  # MaxDataCount
        0,  # MaxSetupCount
        0,
        0,  # Flags
        0,  # Timeout
        0,
        0,  # ParameterCount
        params_at,
        len(rpc),
        data_at,
        2,  # SetupCount
        0,
        0x0026,  # TRANS_TRANSACT_NMPIPE
        fid,
    )
    data = (b"\x00" * (name_at - bytes_start)) + name + b"\x00" * (data_at - params_at) + rpc
    return SmbBlock(SMB_COM_TRANSACTION, words, data)


def trans_response_block(rpc: bytes) -> SmbBlock:
    """SMB_COM_TRANSACTION final response (MS-CIFS 2.2.4.33.2), WordCount 10, no setup."""
    bytes_start = 32 + 1 + 20 + 2
    data_at = (bytes_start + 3) & ~3
    words = struct.pack("<HHHHHHHHHBB", 0, len(rpc), 0, 0, data_at, 0, len(rpc), data_at, 0, 0, 0)
    return SmbBlock(SMB_COM_TRANSACTION, words, b"\x00" * (data_at - bytes_start) + rpc)


# ---------------------------------------------------------------------------------------------
# DCE/RPC connection-oriented PDUs (C706 chapter 12.6), NDR little-endian, character ASCII.

NDR_UUID = "8a885d04-1ceb-11c9-9fe8-08002b104860"  # NDR transfer syntax v2 (C706 appendix I)
SAMR_UUID = "12345778-1234-abcd-ef00-0123456789ac"  # MS-SAMR 1.9, version 1.0
PTYPE_REQUEST, PTYPE_RESPONSE, PTYPE_BIND, PTYPE_BIND_ACK = 0, 2, 11, 12


def _uuid_ndr(u: str) -> bytes:
    return uuid.UUID(u).bytes_le


def _rpc(ptype: int, call_id: int, body: bytes) -> bytes:
    """Common header (C706 12.6.3.1): version 5.0, first+last fragment, drep LE/ASCII/IEEE."""
    return (
        struct.pack(
            "<BBBB4sHHI", 5, 0, ptype, 0x03, b"\x10\x00\x00\x00", 16 + len(body), 0, call_id
        )
        + body
    )


def rpc_bind(call_id: int, iface: str, version: tuple[int, int]) -> bytes:
    """bind PDU with one presentation context (C706 12.6.4.3)."""
    ctx = struct.pack("<HBB", 0, 1, 0) + _uuid_ndr(iface) + struct.pack("<HH", *version)
    ctx += _uuid_ndr(NDR_UUID) + struct.pack("<I", 2)
    body = struct.pack("<HHI", 4280, 4280, 0) + struct.pack("<BBH", 1, 0, 0) + ctx
    return _rpc(PTYPE_BIND, call_id, body)


def rpc_bind_ack(call_id: int, sec_addr: str, assoc_group: int) -> bytes:
    """bind_ack PDU accepting context 0 (C706 12.6.4.4); sec_addr is the pipe name."""
    port = sec_addr.encode("ascii") + b"\x00"
    body = struct.pack("<HHIH", 4280, 4280, assoc_group, len(port)) + port
    body += b"\x00" * (-(16 + len(body)) % 4)
    body += struct.pack("<BBH", 1, 0, 0) + struct.pack("<HH", 0, 0)
    body += _uuid_ndr(NDR_UUID) + struct.pack("<I", 2)
    return _rpc(PTYPE_BIND_ACK, call_id, body)


def rpc_request(call_id: int, opnum: int, stub: bytes) -> bytes:
    """request PDU (C706 12.6.4.9)."""
    return _rpc(PTYPE_REQUEST, call_id, struct.pack("<IHH", len(stub), 0, opnum) + stub)


def rpc_response(call_id: int, stub: bytes) -> bytes:
    """response PDU (C706 12.6.4.10)."""
    return _rpc(PTYPE_RESPONSE, call_id, struct.pack("<IHBB", len(stub), 0, 0, 0) + stub)


# ---------------------------------------------------------------------------------------------
# SAMR stubs (MS-SAMR 3.1.5; NDR per C706 chapter 14). Opnums from MS-SAMR 3.1.5.

SAMR_CONNECT = 0
SAMR_CLOSE_HANDLE = 1
SAMR_LOOKUP_DOMAIN = 5
SAMR_ENUMERATE_DOMAINS = 6
SAMR_OPEN_DOMAIN = 7
SAMR_ENUMERATE_USERS = 13


class Ndr:
    """A tiny NDR marshaller: aligned primitives and a referent-id counter."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self._ref = 0x00020000

    def align(self, n: int) -> None:
        self.buf += b"\x00" * (-len(self.buf) % n)

    def u16(self, v: int) -> None:
        self.align(2)
        self.buf += struct.pack("<H", v)

    def u32(self, v: int) -> None:
        self.align(4)
        self.buf += struct.pack("<I", v)

    def ref(self) -> None:
        """A non-null unique/full pointer's referent id."""
        self.u32(self._ref)
        self._ref += 4

    def raw(self, b: bytes) -> None:
        self.buf += b

    def ustring_header(self, text: str) -> None:
        """RPC_UNICODE_STRING (MS-DTYP 2.3.10): Length, MaximumLength, pointer to Buffer."""
        n = len(text) * 2
        self.u16(n)
        self.u16(n)
        self.ref()

    def ustring_body(self, text: str) -> None:
        """Deferred conformant-varying WCHAR array of an RPC_UNICODE_STRING (no terminator)."""
        self.u32(len(text))
        self.u32(0)
        self.u32(len(text))
        self.raw(text.encode("utf-16-le"))

    def sid(self, sid: tuple[int, ...]) -> None:
        """RPC_SID (MS-DTYP 2.4.2.3): conformance, Revision, count, authority, sub-authorities."""
        subs = sid[2:]
        self.u32(len(subs))
        self.raw(struct.pack("<BB", 1, len(subs)) + sid[1].to_bytes(6, "big"))
        for s in subs:
            self.u32(s)

    def bytes(self) -> bytes:
        return bytes(self.buf)


def samr_connect_req(server_char: str = "\\") -> bytes:
    """SamrConnect: [in, unique] wchar_t *ServerName, [in] DesiredAccess."""
    n = Ndr()
    n.ref()
    n.u16(ord(server_char))
    n.u32(0x000F003F)
    return n.bytes()


def samr_handle_resp(handle: bytes, status: int = STATUS_SUCCESS) -> bytes:
    """Any call whose output is one context handle (20 bytes) and the NTSTATUS."""
    return handle + struct.pack("<I", status)


def samr_enum_req(
    handle: bytes, resume: int = 0, max_len: int = 0xFFFF, uac: int | None = None
) -> bytes:
    """SamrEnumerateDomainsInSamServer / SamrEnumerateUsersInDomain request."""
    n = Ndr()
    n.raw(handle)
    n.u32(resume)
    if uac is not None:
        n.u32(uac)
    n.u32(max_len)
    return n.bytes()


def samr_enum_resp(entries: list[tuple[int, str]], status: int = STATUS_SUCCESS) -> bytes:
    """Enumeration output: resume handle, SAMPR_ENUMERATION_BUFFER*, count, status."""
    n = Ndr()
    n.u32(0)  # EnumerationContext
    n.ref()  # Buffer (pointer to pointer; top-level out ref pointer is implicit)
    n.u32(len(entries))  # EntriesRead
    n.ref()  # Buffer->Buffer
    n.u32(len(entries))  # conformance of the array
    for rid, name in entries:
        n.u32(rid)
        n.ustring_header(name)
    for _rid, name in entries:
        n.ustring_body(name)
    n.u32(len(entries))  # CountReturned
    n.u32(status)
    return n.bytes()


def samr_lookup_domain_req(handle: bytes, name: str) -> bytes:
    """SamrLookupDomainInSamServer: handle, RPC_UNICODE_STRING Name."""
    n = Ndr()
    n.raw(handle)
    n.ustring_header(name)
    n.ustring_body(name)
    return n.bytes()


def samr_lookup_domain_resp(sid: tuple[int, ...]) -> bytes:
    """Output: PRPC_SID* DomainId (unique pointer to the SID), status."""
    n = Ndr()
    n.ref()
    n.sid(sid)
    n.u32(STATUS_SUCCESS)
    return n.bytes()


def samr_open_domain_req(handle: bytes, sid: tuple[int, ...]) -> bytes:
    """SamrOpenDomain: server handle, DesiredAccess, [in] PRPC_SID DomainId (ref pointer)."""
    n = Ndr()
    n.raw(handle)
    n.u32(0x00000305)
    n.sid(sid)
    return n.bytes()


def samr_close_req(handle: bytes) -> bytes:
    return handle
