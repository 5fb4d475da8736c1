"""NBSS framing against tshark/Zeek on reassembled corpus streams, and hand-built messages."""

from __future__ import annotations

import csv
import os
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeysift.protocols import nbns, nbss

CORPUS = Path(
    os.environ.get("HONEYSIFT_CORPUS")
    or Path(__file__).resolve().parents[3] / "shared" / "corpus" / "zeek"
)


def _directions(name: str) -> tuple[dict[int, tuple], dict[tuple, bytes]]:
    """Per-direction bytes, placed by sequence number (a stand-in for the project's reassembler:
    enough for these clean traces, with retransmissions overwriting the same range).

    Returns (frame -> direction key, direction key -> bytes).
    """
    scapy = pytest.importorskip("scapy.all")
    path = CORPUS / "traces" / f"{name}.pcap"
    if not path.exists():
        pytest.skip(f"corpus trace {name} not available")
    keyof: dict[int, tuple] = {}
    segs: dict[tuple, list] = {}
    for i, pkt in enumerate(scapy.rdpcap(str(path)), 1):
        if scapy.IP not in pkt or scapy.TCP not in pkt:
            continue
        ip, tcp = pkt[scapy.IP], pkt[scapy.TCP]
        key = (ip.src, tcp.sport, ip.dst, tcp.dport)
        keyof[i] = key
        size = ip.len - ip.ihl * 4 - tcp.dataofs * 4  # drop Ethernet padding
        segs.setdefault(key, []).append((tcp.seq, bytes(tcp.payload)[:size], "S" in tcp.flags))
    streams = {}
    for key, lst in segs.items():
        syn = [seq for seq, _, s in lst if s]
        isn = syn[0] + 1 if syn else min((seq for seq, data, _ in lst if data), default=0)
        buf = bytearray()
        for seq, data, _ in lst:
            off = (seq - isn) % (1 << 32)
            if not data or off >= 1 << 31:
                continue
            buf.extend(b"\0" * max(0, off + len(data) - len(buf)))
            buf[off : off + len(data)] = data
        streams[key] = bytes(buf)
    return keyof, streams


@pytest.mark.parametrize(
    "trace",
    [
        "netbios__netbios-split-session-msg",
        "smb__smb1",
        "smb__smb2",
        "smb__smb2readwrite",
        "smb__cifs_negotiate_lanman",
        "smb__smb_v2_only_non_zero_reserved1",
        "dce-rpc__mapi",
    ],
)
def test_split_matches_tshark(trace: str) -> None:
    oracle = CORPUS / "oracle" / trace / "nbss_fields.tsv"
    if not oracle.exists():
        pytest.skip("oracle not available")
    keyof, streams = _directions(trace)
    expected: dict[tuple, list[tuple[int, int]]] = {}
    for row in csv.DictReader(oracle.open(), delimiter="\t"):
        key = keyof[int(row["frame.number"])]
        types, lengths = row["nbss.type"].split(","), row["nbss.length"].split(",")
        expected.setdefault(key, []).extend(
            (int(t, 16), int(n)) for t, n in zip(types, lengths, strict=True)
        )
    assert expected
    for key, exp in expected.items():
        msgs = nbss.split(streams[key], direct=445 in (key[1], key[3]))
        assert [(m.type, m.length) for m in msgs] == exp, key
        assert not any(m.malformed or m.truncated for m in msgs)
        # Offsets chain: each message starts where the previous one ended.
        assert [m.offset for m in msgs[1:]] == [m.offset + 4 + m.length for m in msgs[:-1]]
        got = {}
        for m in msgs:
            for k, v in m.fields().items():
                got.setdefault(k, []).extend(v)
        assert [f"0x{v:02x}" for v in got["nbss.type"]] == [f"0x{t:02x}" for t, _ in exp]


def test_split_session_message_matches_zeek() -> None:
    out = CORPUS / "expected" / "netbios__netbios-split-session-msg" / "out"
    if not out.exists():
        pytest.skip("baseline not available")
    keyof, streams = _directions("netbios__netbios-split-session-msg")
    orig = [k for k in streams if k[3] == 139][0]
    got = [f"netbios_session_message, T, {m.type}, {m.length}" for m in nbss.split(streams[orig])]
    assert got == [ln for ln in out.read_text().splitlines() if ln.startswith("netbios_session")]


def _nb_name(name: bytes, suffix: int) -> bytes:
    return b"\x20" + nbns.encode_first_level(name.ljust(15, b" ") + bytes([suffix])) + b"\x00"


def test_session_request_responses_keepalive_retarget() -> None:
    req_body = _nb_name(b"*SMBSERVER", 0x20) + _nb_name(b"ATTACKER", 0x00)
    stream = (
        struct.pack(">BBH", 0x81, 0, len(req_body))
        + req_body
        + struct.pack(">BBHB", 0x83, 0, 1, 0x82)
        + struct.pack(">BBH", 0x85, 0, 0)
        + struct.pack(">BBH", 0x84, 0, 6)
        + bytes([10, 0, 0, 9])
        + struct.pack(">H", 139)
        + struct.pack(">BBH", 0x82, 0, 0)
    )
    msgs = nbss.split(stream)
    assert [m.type for m in msgs] == [0x81, 0x83, 0x85, 0x84, 0x82]
    req, neg, keep, ret, pos = msgs
    assert str(req.called) == "*SMBSERVER<20>" and req.called.suffix_text == "Server service"
    assert str(req.calling) == "ATTACKER<00>"
    assert req.fields()["nbss.called_name"] == ["*SMBSERVER<20>"]
    assert neg.error_code == 0x82 and neg.error_text == "Called name not present"
    assert keep.type_text == "Session keep-alive" and keep.body == b""
    assert (ret.retarget_ip, ret.retarget_port) == ("10.0.0.9", 139)
    assert pos.type_text == "Positive session response"
    assert all(m.malformed is None for m in msgs)


def test_scapy_session_request() -> None:
    nb = pytest.importorskip("scapy.layers.netbios")
    pkt = nb.NBTSession(TYPE=0x81) / (_nb_name(b"PC0191", 0x20) + _nb_name(b"KIDDIE", 0x00))
    msgs = nbss.split(bytes(pkt))
    assert len(msgs) == 1 and msgs[0].length == 68
    assert str(msgs[0].called) == "PC0191<20>" and str(msgs[0].calling) == "KIDDIE<00>"


def test_length_extension_and_direct_tcp() -> None:
    body = b"\xffSMB" + b"A" * (0x10000 + 5 - 4)
    on139 = struct.pack(">BBH", 0, 1, 5) + body
    assert nbss.split(on139)[0].length == 0x10005
    on445 = struct.pack(">BBH", 0, 1, 5) + body
    assert nbss.split(on445, direct=True)[0].length == 0x10005
    big = struct.pack(">I", 0x020000) + b"x" * 10
    m = nbss.split(big, direct=True)[0]
    assert m.length == 0x20000 and m.truncated and m.body == b"x" * 10
    m = nbss.split(big)[0]  # on 139 flags 0x02 is a reserved bit
    assert m.malformed and "reserved" in m.malformed


def test_truncated_and_garbage() -> None:
    msgs = nbss.split(struct.pack(">BBH", 0, 0, 100) + b"partial")
    assert len(msgs) == 1 and msgs[0].truncated and msgs[0].body == b"partial"
    msgs = nbss.split(struct.pack(">BBH", 0, 0, 1) + b"x" + b"\x00\x00")
    assert msgs[-1].malformed and msgs[-1].offset == 5
    msgs = nbss.split(b"GET / HTTP/1.0\r\n\r\n")
    assert len(msgs) == 1 and msgs[0].malformed and msgs[0].malformed_offset == 0
    req = struct.pack(">BBH", 0x81, 0, 3) + b"\x20AB"
    m = nbss.split(req)[0]
    assert m.malformed and m.called is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.booleans())
def test_fuzz_never_raises(data: bytes, direct: bool) -> None:
    msgs = nbss.split(data, direct=direct)
    assert sum(4 + len(m.body) for m in msgs) >= min(len(data), 4) or not data
    assert len(msgs) <= len(data) // 4 + 1
    for m in msgs:
        m.tree().render()
        m.fields()
