"""SMB1 decoder: real traces against tshark/Zeek oracles, and hand-built attack scenarios."""

from __future__ import annotations

import csv
import os
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeysift.protocols import smb1
from honeysift.protocols.ntstatus import NT_STATUS_CODE
from tests.protocols.scapy_streams import seq_streams

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("HONEYSIFT_CORPUS", REPO.parent / "shared" / "corpus" / "zeek"))


# ---- small helpers: TCP payload per direction (scapy) and NBSS framing -----------------------


def _streams(path: Path) -> dict[tuple, tuple[bytes, list[int]]]:
    return seq_streams(path)


def _nbss(data: bytes, frames: list[int]) -> list[tuple[bytes, int]]:
    """Split NBSS session messages (type 0, 24-bit big-endian length); ref = completing frame."""
    pos, msgs = 0, []
    while pos + 4 <= len(data):
        ln = int.from_bytes(data[pos + 1 : pos + 4], "big")
        if pos + 4 + ln > len(data):
            break
        if data[pos] == 0 and ln:
            msgs.append((data[pos + 4 : pos + 4 + ln], frames[pos + 4 + ln - 1]))
        pos += 4 + ln
    return msgs


def _trace(name: str) -> Path:
    p = CORPUS / "traces" / f"{name}.pcap"
    if not p.exists():
        pytest.skip(f"corpus trace {p} not found (set HONEYSIFT_CORPUS)")
    return p


def _sessions(name: str, ports=(139, 445)):
    s = _streams(_trace(name))
    for k in s:
        if k[3] in ports:
            rk = (k[2], k[3], k[0], k[1])
            c = [m for m in _nbss(*s[k]) if m[0][:4] == smb1.MAGIC]
            r = [m for m in _nbss(*s.get(rk, (b"", []))) if m[0][:4] == smb1.MAGIC]
            yield k, smb1.decode_session(c, r)


def _oracle(name: str, file: str) -> list[dict[str, str]]:
    p = CORPUS / "oracle" / name / file
    if not p.exists():
        pytest.skip(f"oracle {p} not found")
    with p.open() as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _messages(exchanges):
    seen = {}
    for e in exchanges:
        for m in [e.request_msg, e.response_msg, *e.extra_responses]:
            if m is not None:
                seen[id(m)] = m
    return list(seen.values())


# ---- real traces -------------------------------------------------------------------------------


def test_mapi_trace_matches_tshark_cmd_and_file_fields():
    """smb.cmd (incl. AndXCommand) and smb.file (tracked via FID) agree with tshark per frame."""
    name = "dce-rpc__mapi"
    mine = {}
    for _k, exchanges in _sessions(name):
        for m in _messages(exchanges):
            f = m.fields()
            mine[m.ref] = (
                ",".join(f"0x{v:02x}" for v in f.get("smb.cmd", [])),
                sorted(set(f.get("smb.file", [])) - {""}),
            )
    rows = [r for r in _oracle(name, "smb_fields.tsv") if r["smb.cmd"]]
    assert len(rows) == 156
    for r in rows:
        exp = (r["smb.cmd"], sorted(set(r["smb.file"].split(",")) - {""}))
        assert mine.get(int(r["frame.number"])) == exp, r["frame.number"]
    assert set(mine) == {int(r["frame.number"]) for r in rows}


def test_mapi_trace_pipe_exchanges_and_dos_status():
    exchanges = [e for _k, ex in _sessions("dce-rpc__mapi") for e in ex]
    creates = [e for e in exchanges if e.command == 0xA2]
    assert [e.file_name for e in creates].count("\\lsarpc") == 8
    assert all(e.ok for e in creates)
    # the DOS-status session (FLAGS2_NT_STATUS clear): status class 0 renders as SUCCESS
    lsa = [e for e in exchanges if e.file_name == "\\lsarpc" and e.command == 0x25]
    assert lsa and all(e.status_name == "SUCCESS" for e in lsa)
    assert all(e.request.fid == e.fid and e.request.subcommand == 0x26 for e in lsa)
    # TransactNmPipe data is the DCE/RPC bind: version 5, type 11
    first = lsa[0]
    assert first.request_ref == 424 and first.response_ref == 425
    assert first.written[:3] == b"\x05\x00\x0b" and first.read[:3] == b"\x05\x00\x0c"
    # Trans2 QUERY_PATH_INFORMATION for a missing DLL, NT status session
    missing = [e for e in exchanges if e.status_name == "STATUS_OBJECT_NAME_NOT_FOUND"]
    assert [e.file_name for e in missing] == ["\\wshENU.DLL", "\\wshEN.DLL", "\\wshENU.DLL"]
    reads = [e for e in exchanges if e.command == 0x2E]
    assert {e.file_name for e in reads} == {"\\Exchange\\mailbox.PAB"}
    # tshark: smb.offset / smb.data_len_low of frames 514..547
    assert [e.request.offset64 for e in reads] == [0, 45056, 94208, 20480, 106496, 98304]
    assert [e.response.data_length for e in reads] == [4096, 4096, 4096, 4096, 8192, 4096]
    assert sum(len(e.read) for e in reads) == 4096 * 5 + 8192
    streams = smb1.pipe_streams(exchanges)
    assert {s.name for s in streams} >= {"\\lsarpc"}


def test_lanman_negotiate_matches_zeek():
    """Zeek's smb1_negotiate_response for the LANMAN2.1 dialect (expected/.../out)."""
    msgs = [
        smb1.parse_message(m, fr)
        for k, v in _streams(_trace("smb__cifs_negotiate_lanman")).items()
        for m, fr in _nbss(*v)
    ]
    req = next(m for m in msgs if not m.is_response)
    resp = next(m for m in msgs if m.is_response)
    h = req.header
    assert (h.command, h.status, h.flags, h.flags2, h.tid, h.pid, h.uid, h.mid) == (
        114,
        0,
        24,
        51283,
        0,
        4660,
        0,
        1,
    )
    assert req.commands[0].dialects == [
        "PC NETWORK PROGRAM 1.0",
        "LANMAN1.0",
        "LM1.2X002",
        "LANMAN2.1",
    ]
    n = resp.commands[0]
    assert (n.word_count, n.dialect_index, n.max_buffer, n.max_mpx) == (13, 3, 4356, 32)
    assert n.security_mode & 3 == 3  # user level, challenge/response
    assert n.server_time.timestamp() == 1758862898.0
    assert n.challenge == b'\x11"3DUfw\x88'
    # Zeek shows the domain decoded as UTF-16 (flags2 says Unicode); [MS-CIFS] 2.2.4.52.2 makes
    # it an OEM string, which reads as a plausible name.
    assert n.domain == "WORKGROUP"
    assert "Selected Index: 3" in "\n".join(resp.tree().render())


# ---- hand-built scenario: the sotm27 attack shapes ----------------------------------------------

UNI = smb1.FLAGS2_UNICODE | smb1.FLAGS2_NT_STATUS | 0x0001


def smb(
    cmd, words=b"", data=b"", *, resp=False, status=0, flags2=UNI, tid=0, pid=0xFEFF, uid=0, mid=1
) -> bytes:
    hdr = smb1.MAGIC + struct.pack(
        "<BIBHH8sHHHHH",
        cmd,
        status,
        0x98 if resp else 0x18,
        flags2,
        0,
        b"\0" * 8,
        0,
        tid,
        pid,
        uid,
        mid,
    )
    assert len(words) % 2 == 0
    return hdr + bytes([len(words) // 2]) + words + struct.pack("<H", len(data)) + data


def u16z(s: str) -> bytes:
    return s.encode("utf-16-le") + b"\0\0"


def andx(nxt=0xFF, off=0) -> bytes:
    return struct.pack("<BBH", nxt, 0, off)


def test_null_session_denied_ipc_then_upload_and_samr_bind():
    c, s = [], []
    # 1. negotiate
    dialects = b"".join(b"\x02" + d + b"\0" for d in (b"PC NETWORK PROGRAM 1.0", b"NT LM 0.12"))
    c.append((smb(0x72, b"", dialects, mid=1), 1))
    words = struct.pack("<HBHHIIIIQhB", 1, 3, 50, 1, 16644, 65536, 0, 0xE3FD, 0, 0, 8)
    s.append((smb(0x72, words, b"\x01" * 8 + u16z("WORKGROUP"), resp=True, mid=1), 2))
    # 2. null session (NT LM 0.12 form, empty passwords and account)
    w = andx() + struct.pack("<HHHIHHII", 4356, 50, 0, 0, 0, 0, 0, 0xD4)
    b = b"\0" + u16z("") + u16z("") + u16z("Windows 2000 2195") + u16z("Windows 2000 5.0")
    c.append((smb(0x73, w, b, mid=2), 3))
    s.append(
        (
            smb(
                0x73,
                andx() + struct.pack("<H", 1),
                b"\0" + u16z("Windows 5.0"),
                resp=True,
                uid=2048,
                mid=2,
            ),
            4,
        )
    )
    # 3. tree connect to IPC$ denied
    tc = andx() + struct.pack("<HH", 0, 1)
    c.append((smb(0x75, tc, b"\0" + u16z("\\\\PC0191\\IPC$") + b"?????\0", uid=2048, mid=3), 5))
    s.append(
        (smb(0x75, status=NT_STATUS_CODE["STATUS_ACCESS_DENIED"], resp=True, uid=2048, mid=3), 6)
    )
    # 4. tree connect to C$ accepted, tid 2049
    c.append((smb(0x75, tc, b"\0" + u16z("\\\\PC0191\\C$") + b"A:\0", uid=2048, mid=4), 7))
    s.append(
        (
            smb(
                0x75,
                andx() + struct.pack("<H", 1),
                b"A:\0" + u16z("NTFS"),
                resp=True,
                tid=2049,
                uid=2048,
                mid=4,
            ),
            8,
        )
    )
    # 5. NT Create \WINNT\System32\raddrv.dll (overwrite-if) -> fid 0x4001, created
    name = "\\WINNT\\System32\\raddrv.dll"
    w = andx() + struct.pack(
        "<BHIIIQIIIIIB", 0, len(name) * 2, 0, 0, 0x0012019F, 0, 0x80, 0, 5, 0x44, 2, 0
    )
    c.append((smb(0xA2, w, b"\0" + u16z(name), tid=2049, uid=2048, mid=5), 9))
    w = (
        andx()
        + struct.pack("<BHI", 0, 0x4001, 2)
        + b"\0" * 36
        + struct.pack("<QQHHB", 0, 0, 0, 0, 0)
    )
    s.append((smb(0xA2, w, b"", resp=True, tid=2049, uid=2048, mid=5), 10))
    # 6. two WriteAndX chunks; the second uses wct 14 with OffsetHigh = 1
    chunk1, chunk2 = b"MZ\x90\x00" + b"A" * 60, b"Unloading Raddrv"
    for i, (chunk, high) in enumerate(((chunk1, None), (chunk2, 1))):
        wc = 14 if high is not None else 12
        data_off = 32 + 1 + wc * 2 + 2 + 1  # one pad byte before the data
        w = andx() + struct.pack("<HIIHHHHH", 0x4001, 64 * i, 0, 0, 0, 0, len(chunk), data_off)
        if high is not None:
            w += struct.pack("<I", high)
        c.append((smb(0x2F, w, b"\0" + chunk, tid=2049, uid=2048, mid=6 + i), 11 + 2 * i))
        s.append(
            (
                smb(
                    0x2F,
                    andx() + struct.pack("<HHHH", len(chunk), 0, 0, 0),
                    resp=True,
                    tid=2049,
                    uid=2048,
                    mid=6 + i,
                ),
                12 + 2 * i,
            )
        )
    # 7. close
    c.append((smb(0x04, struct.pack("<HI", 0x4001, 0), tid=2049, uid=2048, mid=8), 15))
    s.append((smb(0x04, resp=True, tid=2049, uid=2048, mid=8), 16))
    # 8. IPC$ accepted this time (tid 2050), open \samr, DCE/RPC bind via TransactNmPipe
    c.append((smb(0x75, tc, b"\0" + u16z("\\\\PC0191\\IPC$") + b"?????\0", uid=2048, mid=9), 17))
    s.append(
        (
            smb(
                0x75, andx() + struct.pack("<H", 1), b"IPC\0", resp=True, tid=2050, uid=2048, mid=9
            ),
            18,
        )
    )
    w = andx() + struct.pack("<BHIIIQIIIIIB", 0, 10, 0, 0, 0x0002019F, 0, 0, 3, 1, 0, 2, 0)
    c.append((smb(0xA2, w, b"\0" + u16z("\\samr"), tid=2050, uid=2048, mid=10), 19))
    w = (
        andx()
        + struct.pack("<BHI", 0, 0x4002, 1)
        + b"\0" * 36
        + struct.pack("<QQHHB", 0, 0, 2, 0xFF, 0)
    )
    s.append((smb(0xA2, w, b"", resp=True, tid=2050, uid=2048, mid=10), 20))
    samr = bytes.fromhex("785734123412cdabef000123456789ac")
    ndr = bytes.fromhex("045d888aeb1cc9119fe808002b104860")
    bind = struct.pack("<HHI", 4280, 4280, 0) + struct.pack("<BBH", 1, 0, 0)
    bind += (
        struct.pack("<HBB", 0, 1, 0) + samr + struct.pack("<HH", 1, 0) + ndr + struct.pack("<I", 2)
    )
    bind = struct.pack("<BBBB4sHHI", 5, 0, 11, 3, b"\x10\0\0\0", 16 + len(bind), 0, 1) + bind
    name_b = u16z("\\PIPE\\")
    data_off = 32 + 1 + 2 * 16 + 2 + 1 + len(name_b)
    w = struct.pack(
        "<HHHHBBHIHHHHHBB",
        0,
        len(bind),
        0,
        1024,
        0,
        0,
        0,
        0,
        0,
        0,
        data_off,
        len(bind),
        data_off,
        2,
        0,
    ) + struct.pack("<HH", 0x26, 0x4002)
    c.append((smb(0x25, w, b"\0" + name_b + bind, tid=2050, uid=2048, mid=11), 21))
    ack = struct.pack("<BBBB4sHHI", 5, 0, 12, 3, b"\x10\0\0\0", 68, 0, 1)
    ack += struct.pack("<HHIH", 4280, 4280, 0x1234, 13) + b"\\PIPE\\samr\0" + b"\0\0\0"
    ack += struct.pack("<BBHHH", 1, 0, 0, 0, 0) + ndr + struct.pack("<I", 2)
    assert len(ack) == 68
    data_off = 32 + 1 + 20 + 2 + 1
    w = struct.pack("<HHHHHHHHHBB", 0, len(ack), 0, 0, data_off, 0, len(ack), data_off, 0, 0, 0)
    s.append((smb(0x25, w, b"\0" + ack, resp=True, tid=2050, uid=2048, mid=11), 22))

    ex = smb1.decode_session(c, s)
    got = [(e.name, e.status_name, e.share, e.file_name, e.request_ref, e.response_ref) for e in ex]
    assert got == [
        ("Negotiate Protocol", "STATUS_SUCCESS", None, None, 1, 2),
        ("Session Setup AndX", "STATUS_SUCCESS", None, None, 3, 4),
        ("Tree Connect AndX", "STATUS_ACCESS_DENIED", None, None, 5, 6),
        ("Tree Connect AndX", "STATUS_SUCCESS", "\\\\PC0191\\C$", None, 7, 8),
        ("NT Create AndX", "STATUS_SUCCESS", "\\\\PC0191\\C$", name, 9, 10),
        ("Write AndX", "STATUS_SUCCESS", "\\\\PC0191\\C$", name, 11, 12),
        ("Write AndX", "STATUS_SUCCESS", "\\\\PC0191\\C$", name, 13, 14),
        ("Close", "STATUS_SUCCESS", "\\\\PC0191\\C$", name, 15, 16),
        ("Tree Connect AndX", "STATUS_SUCCESS", "\\\\PC0191\\IPC$", None, 17, 18),
        ("NT Create AndX", "STATUS_SUCCESS", "\\\\PC0191\\IPC$", "\\samr", 19, 20),
        ("Trans", "STATUS_SUCCESS", "\\\\PC0191\\IPC$", "\\samr", 21, 22),
    ]
    neg = ex[0]
    assert neg.request.dialects == ["PC NETWORK PROGRAM 1.0", "NT LM 0.12"]
    assert (neg.response.dialect_index, neg.response.max_buffer, neg.response.domain) == (
        1,
        16644,
        "WORKGROUP",
    )
    sess = ex[1].request
    assert sess.null_session and sess.account == "" and sess.native_os == "Windows 2000 2195"
    assert ex[1].response.guest and ex[1].response.native_os == "Windows 5.0"
    assert ex[2].request.path == "\\\\PC0191\\IPC$" and ex[2].request.service == "?????"
    assert not ex[2].ok
    create = ex[4]
    assert (create.request.disposition, create.fid, create.response.create_action) == (5, 0x4001, 2)
    w1, w2 = ex[5], ex[6]
    assert (w1.request.offset64, w1.written, w1.response.count) == (0, chunk1, len(chunk1))
    assert (w2.request.offset64, w2.written) == ((1 << 32) | 64, chunk2)
    trans = ex[10]
    assert trans.request.is_pipe and trans.request.name == "\\PIPE\\"
    assert trans.request.subcommand == smb1.TRANS_NMPIPE and trans.fid == 0x4002
    assert trans.written == bind and trans.read == ack
    (pipe,) = smb1.pipe_streams(ex)
    assert (pipe.name, pipe.share, pipe.client, pipe.server) == (
        "\\samr",
        "\\\\PC0191\\IPC$",
        [(bind, 21)],
        [(ack, 22)],
    )

    # the tethereal-style lines the 2003 write-up grepped for
    text = "\n".join(line for e in ex for line in e.tree().render())
    assert "Path: \\\\PC0191\\IPC$" in text
    assert "File Name: \\WINNT\\System32\\raddrv.dll" in text
    assert "NT Status: STATUS_ACCESS_DENIED (0xc0000022)" in text
    req_text = "\n".join(smb1.parse_message(c[2][0]).tree().render())
    assert "Path: \\\\PC0191\\IPC$" in req_text and "Service: ?????" in req_text
    fields = ex[4].request_msg.fields()
    assert fields["smb.file"] == [name] and fields["smb.cmd"] == [0xA2, 0xFF]


def test_andx_chain_session_setup_plus_tree_connect():
    ss = andx(0x75, 0) + struct.pack("<HHHIHHII", 4356, 50, 0, 0, 1, 0, 0, 0)
    body = b"\0" + u16z("guest") + u16z("") + u16z("Unix") + u16z("Samba")
    first = smb(0x73, ss, body)
    tc = andx() + struct.pack("<HH", 0, 1) + b"\0\0"
    tc_bytes = b"\0" + u16z("\\\\HOST\\SHARE") + b"A:\0"
    pos = len(first)
    msg = bytearray(first[:33]) + struct.pack("<BBH", 0x75, 0, pos) + first[37:]
    msg += bytes([len(tc) // 2]) + tc + struct.pack("<H", len(tc_bytes)) + tc_bytes
    m = smb1.parse_message(bytes(msg))
    assert m.malformed is None
    assert [c.command for c in m.commands] == [0x73, 0x75]
    assert m.commands[0].account == "guest" and not m.commands[0].null_session
    assert m.commands[1].path == "\\\\HOST\\SHARE"
    assert m.fields()["smb.cmd"] == [0x73, 0x75, 0xFF]  # header, then each AndXCommand


@pytest.mark.parametrize("offset", [0, 10, 32, 33, 5000])
def test_andx_offset_must_advance(offset):
    """A chain pointing backwards (or to itself, or outside) stops with a malformed flag."""
    ss = andx(0x73, offset) + struct.pack("<HHHIHHII", 4356, 50, 0, 0, 0, 0, 0, 0)
    m = smb1.parse_message(smb(0x73, ss, b"\0" * 8))
    assert len(m.commands) == 1
    assert m.malformed and "AndXOffset" in m.malformed


def test_dos_error_status_and_unknown_nt_status():
    flags2 = smb1.FLAGS2_UNICODE  # NT status bit clear -> DOS class/code
    m = smb1.parse_message(smb(0x75, resp=True, status=0x02 | (2 << 16), flags2=flags2))
    assert m.header.status_name == "ERRSRV/ERRbadpw"
    assert "ERRSRV/ERRbadpw" in "\n".join(m.tree().render())
    m = smb1.parse_message(smb(0x75, resp=True, status=0xC0FFEE01))
    assert m.header.status_name == "0xc0ffee01"


def test_extended_security_ntlmssp_anonymous():
    # NTLMSSP AUTHENTICATE with empty LM/NT responses and empty user, inside an SPNEGO wrapper
    hdr = b"NTLMSSP\0" + struct.pack("<I", 3)
    off = 64
    fields = b""
    for ln in (0, 0, 0, 0, 8, 0):  # lm, nt, domain, user, workstation, key
        fields += struct.pack("<HHI", ln, ln, off)
        off += ln
    auth = hdr + fields + struct.pack("<I", 0x00000A05) + b"\0" * (64 - 12 - 48 - 4)
    auth += "WKS1".encode("utf-16-le")
    blob = b"\xa1\x81\x80\x30\x7e\xa2\x7c\x04\x7a" + auth
    w = andx() + struct.pack("<HHHIHII", 4356, 50, 0, 0, len(blob), 0, 0x800000D4)
    m = smb1.parse_message(smb(0x73, w, blob + u16z("Windows") + u16z("LM")))
    c = m.commands[0]
    assert c.ntlmssp is not None and c.ntlmssp.message_type == 3
    assert (c.ntlmssp.user, c.ntlmssp.workstation, c.ntlmssp.anonymous) == ("", "WKS1", True)
    assert c.null_session and c.native_os == "Windows"
    assert m.fields()["ntlmssp.auth.hostname"] == ["WKS1"]


# ---- hostile input ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_parse_message_raw(data):
    m = smb1.parse_message(data)
    m.tree().render()


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(smb1.COMMANDS)),
    st.booleans(),
    st.integers(0, 255),
    st.binary(max_size=120),
    st.integers(0, 0xFFFF),
)
def test_fuzz_parse_message_commands(cmd, resp, wc, body, flags2):
    """Valid header, hostile word/byte counts, offsets and AndX links."""
    hdr = smb1.MAGIC + struct.pack(
        "<BIBHH8sHHHHH", cmd, 0, 0x98 if resp else 0x18, flags2, 0, b"\0" * 8, 0, 1, 2, 3, 4
    )
    m = smb1.parse_message(hdr + bytes([wc]) + body)
    assert len(m.commands) <= smb1.MAX_ANDX
    m.tree().render()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=6), st.lists(st.binary(max_size=80), max_size=6))
def test_fuzz_decode_session(c, s):
    hdr = smb1.MAGIC + b"\x25" + b"\0" * 27
    ex = smb1.decode_session([hdr + x for x in c], [hdr[:9] + b"\x80" + hdr[10:] + x for x in s])
    for e in ex:
        e.tree().render()
    smb1.pipe_streams(ex)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_ntlmssp(data):
    for t in (1, 2, 3):
        m = smb1.parse_ntlmssp(b"NTLMSSP\0" + struct.pack("<I", t) + data)
        assert m is not None
        m.tree().render()
