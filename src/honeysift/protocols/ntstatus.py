"""NTSTATUS and SMB1 DOS error names, so SMB records print ``STATUS_ACCESS_DENIED (0xc0000022)``.

Values are from [MS-ERREF] 2.3.1 (NTSTATUS) and [MS-CIFS] 2.2.2.4 (SMB_ERROR classes/codes, used
when FLAGS2_NT_STATUS is clear). Only the codes SMB/DCE-RPC analysis meets are listed; any other
code renders as ``0x%08x``.
"""

from __future__ import annotations

# [MS-ERREF] 2.3.1 NTSTATUS values.
NT_STATUS: dict[int, str] = {
    0x00000000: "STATUS_SUCCESS",
    0x00000103: "STATUS_PENDING",
    0x00000107: "STATUS_SOME_NOT_MAPPED",
    0x0000010C: "STATUS_NOTIFY_ENUM_DIR",
    0x80000005: "STATUS_BUFFER_OVERFLOW",
    0x80000006: "STATUS_NO_MORE_FILES",
    0x8000001A: "STATUS_NO_MORE_ENTRIES",
    0x8000002D: "STATUS_STOPPED_ON_SYMLINK",
    0xC0000001: "STATUS_UNSUCCESSFUL",
    0xC0000002: "STATUS_NOT_IMPLEMENTED",
    0xC0000003: "STATUS_INVALID_INFO_CLASS",
    0xC0000004: "STATUS_INFO_LENGTH_MISMATCH",
    0xC0000005: "STATUS_ACCESS_VIOLATION",
    0xC0000008: "STATUS_INVALID_HANDLE",
    0xC000000D: "STATUS_INVALID_PARAMETER",
    0xC000000E: "STATUS_NO_SUCH_DEVICE",
    0xC000000F: "STATUS_NO_SUCH_FILE",
    0xC0000010: "STATUS_INVALID_DEVICE_REQUEST",
    0xC0000011: "STATUS_END_OF_FILE",
    0xC0000016: "STATUS_MORE_PROCESSING_REQUIRED",
    0xC0000017: "STATUS_NO_MEMORY",
    0xC0000022: "STATUS_ACCESS_DENIED",
    0xC0000023: "STATUS_BUFFER_TOO_SMALL",
    0xC0000024: "STATUS_OBJECT_TYPE_MISMATCH",
    0xC0000033: "STATUS_OBJECT_NAME_INVALID",
    0xC0000034: "STATUS_OBJECT_NAME_NOT_FOUND",
    0xC0000035: "STATUS_OBJECT_NAME_COLLISION",
    0xC0000039: "STATUS_OBJECT_PATH_INVALID",
    0xC000003A: "STATUS_OBJECT_PATH_NOT_FOUND",
    0xC000003B: "STATUS_OBJECT_PATH_SYNTAX_BAD",
    0xC0000043: "STATUS_SHARING_VIOLATION",
    0xC000004F: "STATUS_EAS_NOT_SUPPORTED",
    0xC0000054: "STATUS_FILE_LOCK_CONFLICT",
    0xC0000055: "STATUS_LOCK_NOT_GRANTED",
    0xC0000056: "STATUS_DELETE_PENDING",
    0xC000005E: "STATUS_NO_LOGON_SERVERS",
    0xC0000061: "STATUS_PRIVILEGE_NOT_HELD",
    0xC0000063: "STATUS_USER_EXISTS",
    0xC0000064: "STATUS_NO_SUCH_USER",
    0xC000006A: "STATUS_WRONG_PASSWORD",
    0xC000006D: "STATUS_LOGON_FAILURE",
    0xC000006E: "STATUS_ACCOUNT_RESTRICTION",
    0xC000006F: "STATUS_INVALID_LOGON_HOURS",
    0xC0000070: "STATUS_INVALID_WORKSTATION",
    0xC0000071: "STATUS_PASSWORD_EXPIRED",
    0xC0000072: "STATUS_ACCOUNT_DISABLED",
    0xC0000073: "STATUS_NONE_MAPPED",
    0xC000007E: "STATUS_RANGE_NOT_LOCKED",
    0xC000007F: "STATUS_DISK_FULL",
    0xC0000098: "STATUS_FILE_INVALID",
    0xC000009A: "STATUS_INSUFFICIENT_RESOURCES",
    0xC00000A2: "STATUS_MEDIA_WRITE_PROTECTED",
    0xC00000AB: "STATUS_INSTANCE_NOT_AVAILABLE",
    0xC00000AC: "STATUS_PIPE_NOT_AVAILABLE",
    0xC00000AD: "STATUS_INVALID_PIPE_STATE",
    0xC00000AE: "STATUS_PIPE_BUSY",
    0xC00000B0: "STATUS_PIPE_DISCONNECTED",
    0xC00000B1: "STATUS_PIPE_CLOSING",
    0xC00000B2: "STATUS_PIPE_CONNECTED",
    0xC00000B3: "STATUS_PIPE_LISTENING",
    0xC00000B4: "STATUS_INVALID_READ_MODE",
    0xC00000B5: "STATUS_IO_TIMEOUT",
    0xC00000BA: "STATUS_FILE_IS_A_DIRECTORY",
    0xC00000BB: "STATUS_NOT_SUPPORTED",
    0xC00000BD: "STATUS_DUPLICATE_NAME",
    0xC00000BE: "STATUS_BAD_NETWORK_PATH",
    0xC00000BF: "STATUS_NETWORK_BUSY",
    0xC00000C3: "STATUS_INVALID_NETWORK_RESPONSE",
    0xC00000C9: "STATUS_NETWORK_NAME_DELETED",
    0xC00000CA: "STATUS_NETWORK_ACCESS_DENIED",
    0xC00000CB: "STATUS_BAD_DEVICE_TYPE",
    0xC00000CC: "STATUS_BAD_NETWORK_NAME",
    0xC00000D0: "STATUS_REQUEST_NOT_ACCEPTED",
    0xC00000D4: "STATUS_NOT_SAME_DEVICE",
    0xC00000D9: "STATUS_PIPE_EMPTY",
    0xC00000DF: "STATUS_NO_SUCH_DOMAIN",
    0xC0000101: "STATUS_DIRECTORY_NOT_EMPTY",
    0xC0000103: "STATUS_NOT_A_DIRECTORY",
    0xC000011F: "STATUS_TOO_MANY_OPENED_FILES",
    0xC0000120: "STATUS_CANCELLED",
    0xC0000121: "STATUS_CANNOT_DELETE",
    0xC0000128: "STATUS_FILE_CLOSED",
    0xC0000148: "STATUS_INVALID_LEVEL",
    0xC000014B: "STATUS_PIPE_BROKEN",
    0xC000018D: "STATUS_TRUSTED_RELATIONSHIP_FAILURE",
    0xC0000193: "STATUS_ACCOUNT_EXPIRED",
    0xC000019C: "STATUS_FS_DRIVER_REQUIRED",
    0xC0000203: "STATUS_USER_SESSION_DELETED",
    0xC0000224: "STATUS_PASSWORD_MUST_CHANGE",
    0xC0000225: "STATUS_NOT_FOUND",
    0xC0000234: "STATUS_ACCOUNT_LOCKED_OUT",
    0xC0000275: "STATUS_NOT_A_REPARSE_POINT",
    0xC000035C: "STATUS_NETWORK_SESSION_EXPIRED",
}

NT_STATUS_CODE: dict[str, int] = {name: code for code, name in NT_STATUS.items()}

# [MS-CIFS] 2.2.2.4: SMB_ERROR.ErrorClass values.
ERRDOS = 0x01
ERRSRV = 0x02
ERRHRD = 0x03
ERRCMD = 0xFF

ERROR_CLASS: dict[int, str] = {
    0x00: "SUCCESS",
    ERRDOS: "ERRDOS",
    ERRSRV: "ERRSRV",
    ERRHRD: "ERRHRD",
    ERRCMD: "ERRCMD",
}

# [MS-CIFS] 2.2.2.4: (ErrorClass, ErrorCode) -> name.
DOS_ERROR: dict[tuple[int, int], str] = {
    (0x00, 0): "SUCCESS",
    (ERRDOS, 1): "ERRbadfunc",
    (ERRDOS, 2): "ERRbadfile",
    (ERRDOS, 3): "ERRbadpath",
    (ERRDOS, 4): "ERRnofids",
    (ERRDOS, 5): "ERRnoaccess",
    (ERRDOS, 6): "ERRbadfid",
    (ERRDOS, 7): "ERRbadmcb",
    (ERRDOS, 8): "ERRnomem",
    (ERRDOS, 9): "ERRbadmem",
    (ERRDOS, 10): "ERRbadenv",
    (ERRDOS, 11): "ERRbadformat",
    (ERRDOS, 12): "ERRbadaccess",
    (ERRDOS, 13): "ERRbaddata",
    (ERRDOS, 15): "ERRbaddrive",
    (ERRDOS, 16): "ERRremcd",
    (ERRDOS, 17): "ERRdiffdevice",
    (ERRDOS, 18): "ERRnofiles",
    (ERRDOS, 31): "ERRgeneral",
    (ERRDOS, 32): "ERRbadshare",
    (ERRDOS, 33): "ERRlock",
    (ERRDOS, 38): "ERReof",
    (ERRDOS, 50): "ERRunsup",
    (ERRDOS, 80): "ERRfilexists",
    (ERRDOS, 87): "ERRinvalidparam",
    (ERRDOS, 110): "ERRcannotopen",
    (ERRDOS, 124): "ERRunknownlevel",
    (ERRDOS, 145): "ERRdirnotempty",
    (ERRDOS, 183): "ERRalreadyexists",
    (ERRDOS, 230): "ERRbadpipe",
    (ERRDOS, 231): "ERRpipebusy",
    (ERRDOS, 232): "ERRpipeclosing",
    (ERRDOS, 233): "ERRnotconnected",
    (ERRDOS, 234): "ERRmoredata",
    (ERRDOS, 255): "ERRbadealist",
    (ERRDOS, 282): "ERReasnotsupported",
    (ERRDOS, 1022): "ERR_NOTIFY_ENUM_DIR",
    (ERRSRV, 1): "ERRerror",
    (ERRSRV, 2): "ERRbadpw",
    (ERRSRV, 4): "ERRaccess",
    (ERRSRV, 5): "ERRinvtid",
    (ERRSRV, 6): "ERRinvnetname",
    (ERRSRV, 7): "ERRinvdevice",
    (ERRSRV, 49): "ERRqfull",
    (ERRSRV, 50): "ERRqtoobig",
    (ERRSRV, 51): "ERRqeof",
    (ERRSRV, 52): "ERRinvpfid",
    (ERRSRV, 64): "ERRsmbcmd",
    (ERRSRV, 65): "ERRsrverror",
    (ERRSRV, 67): "ERRfilespecs",
    (ERRSRV, 69): "ERRbadpermits",
    (ERRSRV, 71): "ERRsetattrmode",
    (ERRSRV, 88): "ERRtimeout",
    (ERRSRV, 89): "ERRnoresource",
    (ERRSRV, 90): "ERRtoomanyuids",
    (ERRSRV, 91): "ERRbaduid",
    (ERRSRV, 250): "ERRusempx",
    (ERRSRV, 251): "ERRusestd",
    (ERRSRV, 252): "ERRcontmpx",
    (ERRSRV, 2239): "ERRaccountExpired",
    (ERRSRV, 2240): "ERRbadClient",
    (ERRSRV, 2241): "ERRbadLogonTime",
    (ERRSRV, 2242): "ERRpasswordExpired",
    (ERRSRV, 0xFFFF): "ERRnosupport",
    (ERRHRD, 19): "ERRnowrite",
    (ERRHRD, 20): "ERRbadunit",
    (ERRHRD, 21): "ERRnotready",
    (ERRHRD, 22): "ERRbadcmd",
    (ERRHRD, 23): "ERRdata",
    (ERRHRD, 24): "ERRbadreq",
    (ERRHRD, 25): "ERRseek",
    (ERRHRD, 26): "ERRbadmedia",
    (ERRHRD, 27): "ERRbadsector",
    (ERRHRD, 28): "ERRnopaper",
    (ERRHRD, 29): "ERRwrite",
    (ERRHRD, 30): "ERRread",
    (ERRHRD, 31): "ERRgeneral",
    (ERRHRD, 32): "ERRbadshare",
    (ERRHRD, 33): "ERRlock",
    (ERRHRD, 34): "ERRwrongdisk",
    (ERRHRD, 35): "ERRFCBUnavail",
    (ERRHRD, 36): "ERRsharebufexc",
    (ERRHRD, 39): "ERRdiskfull",
}


def nt_status_name(code: int) -> str:
    """``STATUS_ACCESS_DENIED`` for a known code, else ``0x%08x``."""
    return NT_STATUS.get(code & 0xFFFFFFFF, f"0x{code & 0xFFFFFFFF:08x}")


def nt_status_text(code: int) -> str:
    """The tshark-style label value: ``STATUS_ACCESS_DENIED (0xc0000022)``."""
    code &= 0xFFFFFFFF
    name = NT_STATUS.get(code)
    return f"{name} (0x{code:08x})" if name else f"0x{code:08x}"


def is_error(code: int) -> bool:
    """NTSTATUS severity 3 (0xC...) is an error; 0x8... is a warning ([MS-ERREF] 2.3)."""
    return (code >> 30) & 3 == 3


def dos_error_name(error_class: int, error_code: int) -> str:
    """``ERRDOS/ERRnoaccess`` for a known pair, else ``ERRDOS/0x0005`` (class hex if unknown)."""
    cls = ERROR_CLASS.get(error_class, f"0x{error_class:02x}")
    name = DOS_ERROR.get((error_class, error_code))
    if error_class == 0 and error_code == 0:
        return "SUCCESS"
    return f"{cls}/{name}" if name else f"{cls}/0x{error_code:04x}"


def smb1_status_name(status: int, nt_status: bool) -> str:
    """Name of a 32-bit SMB1 status field, read as NTSTATUS or as the DOS (class, code) form.

    [MS-CIFS] 2.2.3.1: with FLAGS2_NT_STATUS clear the field is ErrorClass (1 byte), Reserved
    (1 byte), ErrorCode (2 bytes, little-endian), i.e. class = low byte, code = high 16 bits.
    """
    if nt_status:
        return nt_status_name(status)
    return dos_error_name(status & 0xFF, (status >> 16) & 0xFFFF)


def smb1_status_text(status: int, nt_status: bool) -> str:
    if nt_status:
        return nt_status_text(status)
    return f"{smb1_status_name(status, False)} (0x{status & 0xFFFFFFFF:08x})"
