"""SQL Server Resolution Protocol (udp/1434): requests, responses, and the Slammer datagram."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from honeysift.protocols import mssql


def test_slammer_like_datagram_is_overflow_suspect() -> None:
    # Slammer: 0x04 then 375 bytes (376-byte UDP payload), no NUL within the first 32 bytes.
    payload = b"\x04" + b"\x01" * 96 + b"\xdc\xc9\xb0\x42\xeb\x0e" + b"\x90" * (375 - 102)
    assert len(payload) == 376
    m = mssql.parse(payload)
    assert m.type == mssql.CLNT_UCAST_INST and m.type_text == "CLNT_UCAST_INST"
    assert m.overflow_suspect
    assert "375 bytes" in m.overflow_reason and "32" in m.overflow_reason
    assert m.fields()["mssql.overflow_suspect"] == [1]


def test_long_name_with_nul_is_still_suspect() -> None:
    m = mssql.parse(b"\x04" + b"A" * 40 + b"\x00")
    assert m.overflow_suspect and "40 bytes" in m.overflow_reason
    assert "no NUL" not in m.overflow_reason


def test_legitimate_requests() -> None:
    assert mssql.parse(b"\x02").type_text == "CLNT_BCAST_EX"
    m = mssql.parse(b"\x03")
    assert m.type_text == "CLNT_UCAST_EX" and not m.malformed and not m.overflow_suspect
    m = mssql.parse(b"\x04MSSQLSERVER\x00")
    assert m.instance == "MSSQLSERVER" and not m.overflow_suspect and m.malformed is None
    m = mssql.parse(b"\x04" + b"N" * 32 + b"\x00")  # exactly the limit
    assert not m.overflow_suspect
    m = mssql.parse(b"\x0f\x01SQLEXPRESS\x00")
    assert (m.type_text, m.protocol_version, m.instance) == ("CLNT_UCAST_DAC", 1, "SQLEXPRESS")
    m = mssql.parse(b"\x04short")
    assert m.malformed and not m.overflow_suspect


def test_server_response_key_values() -> None:
    text = (
        b"ServerName;PC0191;InstanceName;MSSQLSERVER;IsClustered;No;Version;8.00.194;"
        b"tcp;1433;np;\\\\PC0191\\pipe\\sql\\query;;"
        b"ServerName;PC0191;InstanceName;SECOND;IsClustered;No;Version;8.00.194;tcp;1050;;"
    )
    m = mssql.parse(b"\x05" + struct.pack("<H", len(text)) + text)
    assert m.type_text == "SVR_RESP" and m.malformed is None
    assert [i["InstanceName"] for i in m.instances] == ["MSSQLSERVER", "SECOND"]
    assert m.instances[0]["tcp"] == "1433" and m.instances[0]["np"].endswith("query")
    assert m.fields()["mssql.version"] == ["8.00.194", "8.00.194"]
    cut = mssql.parse(b"\x05" + struct.pack("<H", len(text)) + text[:20])
    assert cut.malformed and cut.response_size == len(text)


def test_dac_response_and_garbage() -> None:
    m = mssql.parse(b"\x05\x06\x00\x01" + struct.pack("<H", 1434))
    assert (m.protocol_version, m.dac_port, m.malformed) == (1, 1434, None)
    assert mssql.parse(b"").malformed == "empty datagram"
    assert mssql.parse(b"\x99abc").malformed.startswith("unknown message type 0x99")
    m = mssql.parse(b"\x02" + b"X" * 300)
    assert m.malformed and m.overflow_suspect


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_never_raises(data: bytes) -> None:
    m = mssql.parse(data)
    m.tree().render()
    m.fields()
    if data[:1] == b"\x04":
        assert m.overflow_suspect == (b"\x00" not in data[1:34] and len(data) > 33)
