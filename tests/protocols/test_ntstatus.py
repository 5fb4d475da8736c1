"""NTSTATUS / SMB1 DOS error names ([MS-ERREF] 2.3.1, [MS-CIFS] 2.2.2.4)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from honeysift.protocols import ntstatus as nt


def test_known_codes():
    assert nt.nt_status_name(0) == "STATUS_SUCCESS"
    assert nt.nt_status_text(0xC0000022) == "STATUS_ACCESS_DENIED (0xc0000022)"
    assert nt.NT_STATUS_CODE["STATUS_LOGON_FAILURE"] == 0xC000006D
    assert nt.NT_STATUS_CODE["STATUS_MORE_PROCESSING_REQUIRED"] == 0xC0000016
    assert nt.NT_STATUS_CODE["STATUS_BAD_NETWORK_NAME"] == 0xC00000CC
    assert nt.NT_STATUS_CODE["STATUS_NO_MORE_FILES"] == 0x80000006
    assert nt.NT_STATUS_CODE["STATUS_PIPE_BROKEN"] == 0xC000014B
    assert nt.is_error(0xC0000022) and not nt.is_error(0x80000005) and not nt.is_error(0)


def test_unknown_renders_hex():
    assert nt.nt_status_name(0xC0DEC0DE) == "0xc0dec0de"
    assert nt.nt_status_text(0x12345678) == "0x12345678"


def test_dos_errors():
    # [MS-CIFS] 2.2.3.1: class in the low byte, code in the high 16 bits
    assert nt.smb1_status_name(0x00050001, nt_status=False) == "ERRDOS/ERRnoaccess"
    assert nt.smb1_status_name(0x00020002, nt_status=False) == "ERRSRV/ERRbadpw"
    assert nt.smb1_status_name(0x00200001, nt_status=False) == "ERRDOS/ERRbadshare"
    assert nt.smb1_status_name(0, nt_status=False) == "SUCCESS"
    assert nt.smb1_status_name(0x00630002, nt_status=False) == "ERRSRV/0x0063"
    assert nt.smb1_status_text(0x00050001, False) == "ERRDOS/ERRnoaccess (0x00050001)"


def test_names_unique():
    assert len(set(nt.NT_STATUS.values())) == len(nt.NT_STATUS)


@given(st.integers(0, 0xFFFFFFFF), st.booleans())
def test_any_code_renders(code, ntflag):
    assert nt.smb1_status_text(code, ntflag)
    assert nt.nt_status_text(code).endswith(f"0x{code:08x}") or "(" in nt.nt_status_text(code)
