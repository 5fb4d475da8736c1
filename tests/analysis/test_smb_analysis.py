"""SMB analysis (tcp/139, tcp/445) against the SotM 27 scenario's ground truth, Zeek's SMB
logs on the corpus traces, and hand-built SMB1 conversations ([MS-CIFS] 2.2.4)."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import honeysift
import honeysift.pipeline
from honeysift.analysis.context import AnalysisContext
from honeysift.analysis.smb import (
    analyze_smb,
    assemble,
    decode_connection,
    magic_of,
    samr_enumeration_names,
)
from tests.conftest import CORPUS
from tests.scenario import msgs as m
from tests.scenario import sotm27

HP = sotm27.HONEYPOT_IP


def _analyze(path: Path, honeypot: str):
    cap = honeysift.open(path)
    pipe = honeysift.pipeline.Pipeline(cap)
    ctx = AnalysisContext(cap, pipe, honeypots=[honeypot], capture_label=str(path))
    return ctx, analyze_smb(ctx)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    path = tmp_path_factory.mktemp("smb") / "sotm27.pcap"
    gt = sotm27.build(path)
    ctx, result = _analyze(path, HP)
    return gt, ctx, result


def _service(result, port):
    (sv,) = [s for s in result.services if s.port == port]
    return sv


# ------------------------------------------------------------------------------------------------
# tcp/139: share scans refused


def test_139_attackers_probers_and_counts(scenario):
    gt, _ctx, result = scenario
    sv = _service(result, 139)
    flows = gt.flows_for("smb139")
    only = gt.smb139_session_only
    assert sv.name == "netbios-ssn"
    assert sv.connections == len(flows)
    assert sv.packets == sum(sum(f.packets) for f in flows)
    assert set(sv.attackers) == {f.client for f in flows if f.client != only}
    assert sv.probers == [only]
    assert sv.details["session_request_only"] == [only]
    assert sv.verdict == "failed"


def test_139_tree_connects_and_fates(scenario):
    gt, _ctx, result = scenario
    sv = _service(result, 139)
    sessions = sv.details["sessions"]
    paths = Counter(t["path"] for s in sessions for t in s["shares"])
    assert dict(paths) == dict(gt.smb139_paths)
    # IPC$ denied, from exactly the hosts whose connection the generator closed after the denial
    denied = {s["client"] for s in sessions for d in s["access_denied"]}
    ipc_hosts = {f.client for f in gt.flows_for("smb139") if f.note == "IPC$ access denied"}
    assert denied == ipc_hosts and len(ipc_hosts) == 2
    for s in sessions:
        for d in s["access_denied"]:
            assert d["status"] == "STATUS_ACCESS_DENIED" and d["share"].endswith("\\IPC$")
    # how each connection ended: RST from the honeypot or a negative session response
    by_note = Counter(f.note for f in gt.flows_for("smb139"))
    outcomes = Counter(s["outcome"] for s in sessions)
    resets = by_note["bare tree connect to C"] + by_note["session setup + tree connect to C"]
    assert outcomes["reset by the honeypot"] == resets
    neg = "negative session response: Called name not present"
    assert outcomes[neg] == by_note["session refused (called name not present)"]
    # the host that only asked for a session named the honeypot and sent no SMB
    (s_only,) = [s for s in sessions if s["client"] == gt.smb139_session_only]
    assert s_only["requests"] == 0 and s_only["session_requests"][0]["called"].startswith("PC0191")
    assert s_only["session_responses"] == ["positive"]


# ------------------------------------------------------------------------------------------------
# tcp/445: null sessions, SAMR, Administrator with an empty password, uploads


def _sessions_445(result):
    return {s["client"]: s for s in _service(result, 445).details["sessions"]}


def test_445_attackers_and_verdict(scenario):
    gt, _ctx, result = scenario
    sv = _service(result, 445)
    flows = gt.flows_for("smb445")
    assert sv.name == "microsoft-ds"
    assert sorted(sv.attackers) == sorted(a.client for a in gt.smb445)
    assert sv.probers == []
    assert sv.connections == len(flows)
    assert sv.packets == sum(sum(f.packets) for f in flows)
    assert sv.verdict == "succeeded"


def test_445_logons_shares_samr_files(scenario):
    gt, _ctx, result = scenario
    sessions = _sessions_445(result)
    for a in gt.smb445:
        s = sessions[a.client]
        logons = s["logons"]
        nulls = [lg for lg in logons if lg["null_session"]]
        assert bool(nulls) == a.null_session
        assert all(lg["success"] and lg["status"] == "STATUS_SUCCESS" for lg in nulls)
        admin = [lg for lg in logons if lg["user"] == "Administrator"]
        if a.admin_logon == "success":
            (lg,) = admin
            assert lg["success"] and not lg["guest"] and lg["empty_password"] is True
        else:
            assert len(admin) == 3
            assert all(lg["status"] == "STATUS_LOGON_FAILURE" for lg in admin)
            assert all(lg["empty_password"] is False for lg in admin)
        assert [(t["path"], t["status"]) for t in s["shares"]] == list(a.shares)
        samr = [c["operation"] for c in s["rpc_calls"] if c["interface"] == "SAMR"]
        assert tuple(samr) == a.samr_calls
        users = [u for c in s["rpc_calls"] for u in c.get("users", [])]
        assert tuple(users) == a.domain_users
        files = [f["path"] for f in s["files"]]
        assert tuple(files) == a.files
        for f in s["files"]:
            assert f["status"] == "STATUS_SUCCESS" and f["disposition"] == "Overwrite If"
        if a.samr_calls:
            assert [p["path"] for p in s["pipes"]] == ["\\samr"]
            assert {b["interface"] for b in s["rpc_binds"]} == {"SAMR"}


def test_445_carved_files_exact(scenario):
    gt, ctx, result = scenario
    truth = [f for f in gt.files if f.share]  # SMB uploads (HTTP downloads have no share)
    carved = {cf.name: cf for cf in result.files}
    assert len(carved) == len(truth) == 3
    for ft in truth:
        cf = carved[ft.share + ft.name]
        assert cf.data == ft.content
        assert (cf.size, cf.md5, cf.sha256) == (len(ft.content), ft.md5, ft.sha256)
        assert cf.complete and cf.direction == "upload" and cf.protocol == "smb"
        assert (cf.src, cf.dst) == (ft.client, HP)
        assert cf.magic.startswith("PE32 executable")
        assert cf.evidence.frames and all(
            ft.first_frame < f < ft.last_frame for f in cf.evidence.frames
        )
        assert cf.time == ctx.ts_of_frame(cf.evidence.frames[0])


def test_445_findings_and_timeline(scenario):
    gt, _ctx, result = scenario
    by = Counter((f.severity, f.title.split(" on tcp")[0].split(":")[0]) for f in result.findings)
    admins = {a.client for a in gt.smb445 if a.admin_logon == "success"}
    crit_logon = {
        f.hosts[0]
        for f in result.findings
        if f.severity == "critical" and "empty password" in f.title
    }
    assert crit_logon == admins
    uploads = [f for f in result.findings if f.title.startswith("Executable uploaded")]
    assert len(uploads) == 3 and all(f.severity == "critical" for f in uploads)
    enum = {f.hosts[0] for f in result.findings if f.title.startswith("SAMR/LSA enumeration")}
    assert enum == {a.client for a in gt.smb445 if a.samr_calls}
    null = {f.hosts[0] for f in result.findings if f.title.startswith("Null session")}
    assert null == {a.client for a in gt.smb445 if a.null_session}
    failed = [f for f in result.findings if f.title.startswith("Failed logon")]
    assert {f.hosts[0] for f in failed} == {
        a.client for a in gt.smb445 if a.admin_logon != "success"
    }
    assert by[("info", "NetBIOS session request only")] == 1
    for f in result.findings:
        assert f.command.startswith("honeysift show ") and f.hosts[1] == HP
    kinds = Counter(e.kind for e in result.timeline)
    assert kinds == {"logon": len(admins), "enumeration": len(enum), "upload": 3}
    logon_frames = {fr for e in result.timeline if e.kind == "logon" for fr in e.evidence.frames}
    assert gt.events["smb445_admin_logon"] in logon_frames
    times = [e.time for e in result.timeline]
    assert times == sorted(times)


# ------------------------------------------------------------------------------------------------
# Corpus traces against Zeek's smb_files.log / files.log


def _zeek_log(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    fields: list[str] = []
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rows.append(dict(zip(fields, line.split("\t"), strict=True)))
    return rows


def _corpus_trace(name: str) -> Path:
    if not (CORPUS / "traces").is_dir():
        pytest.skip(f"corpus not found at {CORPUS} (set HONEYSIFT_CORPUS)")
    for p in (CORPUS / "traces").iterdir():
        if p.name.split(".")[0] == name:
            return p
    pytest.skip(f"{name} not in the corpus")


# Server addresses (the "honeypot" side) of the corpus traces, from Zeek's logs (id.resp_h).
SERVERS = {
    "smb__smb1": "192.168.1.53",
    "smb__smb2": "10.0.0.12",
    "smb__smb2readwrite": "169.254.128.15",
    "dce-rpc__mapi": "192.168.0.2",
}
# md5 of the objects `tshark -r TRACE --export-objects smb,DIR` writes (Wireshark 4.0),
# an independent reassembly of the same transfers.
TSHARK_MD5 = {
    "WP_SMBPlugin.pdf": "6963bec0dabec7af2996fcab1cd36507",
    "pythonfile": "d8a73157ce10cd94a91c2079fc9a92c8",
    "pythonfile2": "227869e7d5bd4fbf9eb90ec2ec8f5c42",
    "Test\\2009-12 Payroll.xlsx": "a32f7d177c243bf75c3f1deb153d426e",
}


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_corpus_files_match_zeek(name):
    path = _corpus_trace(name)
    _ctx, result = _analyze(path, SERVERS[name])
    exp = CORPUS / "expected" / name
    files = _zeek_log(exp / "files.log")
    smb_files = _zeek_log(exp / "smb_files.log")
    if name == "dce-rpc__mapi":  # DCE/RPC on tcp/135 and dynamic ports: no SMB at all
        assert result.services == [] and result.files == []
        return
    (sv,) = result.services
    assert sv.port == 445 and sv.attackers == [smb_files[0]["id.orig_h"]]
    carved = {
        cf.name.rsplit("\\", 1)[-1] if cf.name.startswith("\\\\") else cf.name: cf
        for cf in result.files
    }
    for z in files:
        cf = carved[z["filename"]]
        assert cf.size == int(z["seen_bytes"])
        if z["total_bytes"] != "-":
            assert cf.size == int(z["total_bytes"]) and cf.complete
        assert cf.direction == ("upload" if z["is_orig"] == "T" else "download")
        for algo in ("md5", "sha1", "sha256"):
            if z.get(algo, "-") != "-":
                assert hashlib.new(algo, cf.data).hexdigest() == z[algo]
    zeek_names = {z["filename"] for z in files}
    assert set(carved) == zeek_names or not files
    for row in smb_files:  # files opened with content moved: sizes agree with the open
        cf = carved.get(row["name"])
        if cf is not None and cf.direction == "download" and row["action"] == "SMB::FILE_OPEN":
            assert cf.size == int(row["size"])
    for n, cf in carved.items():
        assert hashlib.md5(cf.data).hexdigest() == TSHARK_MD5[n] == cf.md5
    if name == "smb__smb1":  # no files.log in that test: the xlsx must be a valid ZIP
        (cf,) = result.files
        assert cf.name == "Test\\2009-12 Payroll.xlsx" and cf.magic == "ZIP archive"
        assert zipfile.ZipFile(io.BytesIO(cf.data)).testzip() is None
    if name == "smb__smb2":
        pdf = carved["WP_SMBPlugin.pdf"]
        assert pdf.magic == "PDF document" and pdf.data.rstrip().endswith(b"%%EOF")
        (s,) = sv.details["sessions"]
        assert [c["operation"] for c in s["rpc_calls"]] == ["NetrShareGetInfo"]
        assert s["logons"][0]["user"] == "Administrator" and s["logons"][0]["success"]


# ------------------------------------------------------------------------------------------------
# Hand-built SMB1: legacy Write, WriteRaw with its raw follow-up, holes, Read


def _hdr(cmd: int, mid: int, *, reply: bool, tid: int = 0x800, status: int = 0) -> bytes:
    return m.smb_header(cmd, reply=reply, tid=tid, uid=0x801, mid=mid, status=status)


def _msg(cmd: int, mid: int, words: bytes, data: bytes = b"", *, reply: bool = False) -> bytes:
    blocks = [m.SmbBlock(cmd, words, data)]
    return m.nbss(0, m.smb_message(_hdr(cmd, mid, reply=reply), blocks))


def _conversation(content: bytes, hole: bytes, read_back: bytes) -> tuple[bytes, bytes]:
    c, s = bytearray(), bytearray()
    tc = m.smb_message(_hdr(0x75, 1, reply=False, tid=0), [m.tree_connect_block("\\\\HP\\C$")])
    c += m.nbss(0, tc)
    s += m.nbss(
        0, m.smb_message(_hdr(0x75, 1, reply=True), [m.tree_connect_response_block("A:", "NTFS")])
    )
    for mid, (name, fid, size) in enumerate(
        [("\\a.exe", 0x4001, 0), ("\\b.bin", 0x4002, 0), ("\\c.txt", 0x4003, len(read_back))], 2
    ):
        blk = m.nt_create_block(name, access=0x00130197, disposition=5, options=0x44)
        c += m.nbss(0, m.smb_message(_hdr(0xA2, mid, reply=False), [blk]))
        rsp = m.nt_create_response_block(fid, action=2, filetime=0, size=size, pipe=False)
        s += m.nbss(0, m.smb_message(_hdr(0xA2, mid, reply=True), [rsp]))
    # a.exe: SMB_COM_WRITE ([MS-CIFS] 2.2.4.12.1) for bytes [0, 100)
    part = content[:100]
    c += _msg(
        0x0B,
        10,
        struct.pack("<HHIH", 0x4001, len(part), 0, 0),
        b"\x01" + struct.pack("<H", len(part)) + part,
    )
    s += _msg(0x0B, 10, struct.pack("<H", len(part)), b"", reply=True)
    # then SMB_COM_WRITE_RAW (2.2.4.25.1): 100 bytes inside, the rest as a raw NBSS message
    first, rest = content[100:200], content[200:]
    words = struct.pack(
        "<HHHIIHIHH", 0x4001, len(first) + len(rest), 0, 100, 0, 0, 0, len(first), 32 + 1 + 24 + 2
    )
    c += _msg(0x1D, 11, words, first)
    s += _msg(0x1D, 11, struct.pack("<H", 0xFFFF), b"", reply=True)  # interim: send the rest
    c += m.nbss(0, rest)
    # b.bin: two WriteAndX with a hole between them
    for mid, off in ((12, 0), (13, 50)):
        c += m.nbss(
            0, m.smb_message(_hdr(0x2F, mid, reply=False), [m.write_andx_block(0x4002, off, hole)])
        )
        s += m.nbss(
            0, m.smb_message(_hdr(0x2F, mid, reply=True), [m.write_andx_response_block(len(hole))])
        )
    # c.txt: SMB_COM_READ (2.2.4.11) of the whole file
    c += _msg(0x0A, 14, struct.pack("<HHIH", 0x4003, len(read_back), 0, 0))
    s += _msg(
        0x0A,
        14,
        struct.pack("<H8s", len(read_back), b""),
        b"\x01" + struct.pack("<H", len(read_back)) + read_back,
        reply=True,
    )
    # an access-denied open
    blk = m.nt_create_block("\\secret", access=0x00120089, disposition=1, options=0x40)
    c += m.nbss(0, m.smb_message(_hdr(0xA2, 15, reply=False), [blk]))
    s += m.nbss(
        0,
        m.smb_message(
            _hdr(0xA2, 15, reply=True, status=m.STATUS_ACCESS_DENIED), [m.error_block(0xA2)]
        ),
    )
    return bytes(c), bytes(s)


def test_legacy_write_writeraw_read_and_holes():
    content = b"MZ" + bytes(range(256)) * 2
    content = content[:400]
    c, s = _conversation(content, b"0123456789", b"hello, world\n")
    conn = decode_connection(c, s, direct=True)
    assert conn.protocol == "SMB1"
    files = {o.path: o for o in conn.opens}
    a = files["\\a.exe"]
    assert a.write_count == 3 and a.bytes_written == 400
    data, complete, _ = assemble(a.writes)
    assert data == content and complete
    b = files["\\b.bin"]
    data, complete, _ = assemble(b.writes)
    assert len(data) == 60 and not complete and data[:10] == data[50:] == b"0123456789"
    cfile = files["\\c.txt"]
    data, complete, _ = assemble(cfile.reads, cfile.end_of_file)
    assert data == b"hello, world\n" and complete and cfile.name == "\\\\HP\\C$\\c.txt"
    assert files["\\secret"].status == "STATUS_ACCESS_DENIED"
    assert [d["command"] for d in conn.denied] == ["NT Create AndX"]


def test_hostile_offsets_and_many_writes_are_bounded():
    c, s = bytearray(), bytearray()
    blk = m.nt_create_block("\\x", access=0x00130197, disposition=5, options=0x44)
    c += m.nbss(0, m.smb_message(_hdr(0xA2, 1, reply=False), [blk]))
    rsp = m.nt_create_response_block(0x4001, action=2, filetime=0, size=0, pipe=False)
    s += m.nbss(0, m.smb_message(_hdr(0xA2, 1, reply=True), [rsp]))
    n = 3000
    for i in range(n):
        w = m.write_andx_block(0x4001, i, b"A")
        c += m.nbss(0, m.smb_message(_hdr(0x2F, 2 + i % 60000, reply=False), [w]))
    far = m.write_andx_block(0x4001, 1 << 40, b"B")  # offset 1 TiB
    c += m.nbss(0, m.smb_message(_hdr(0x2F, 1, reply=False), [far]))
    conn = decode_connection(bytes(c), bytes(s), direct=True)
    (op,) = conn.opens
    assert op.write_count == n + 1 and op.bytes_written == n + 1
    assert op.capped  # the far write is counted but not kept: the file is not complete
    data, complete, _ = assemble(op.writes)
    assert data == b"A" * n and complete
    data, complete, _ = assemble([*op.writes, (1 << 40, b"B", ())], size=1 << 50)
    assert data[:n] == b"A" * n and not complete and len(data) <= n + 1 + (1 << 20)


def test_magic_and_samr_names():
    assert magic_of(b"\x7fELF\x02") == "ELF"
    assert magic_of(b"PK\x03\x04rest") == "ZIP archive"
    assert magic_of(b"\x1f\x8b\x08") == "gzip compressed data"
    assert magic_of(b"MZ" + b"\x00" * 10) == "MS-DOS executable"
    assert magic_of(b"plain text\r\n") == "text"
    assert magic_of(b"\x00\x01\x02") == "data"
    stub = m.samr_enum_resp([(500, "Administrator"), (501, "Guest")])
    assert samr_enumeration_names(stub) == ["Administrator", "Guest"]
    assert samr_enumeration_names(stub[:30]) == []


# ------------------------------------------------------------------------------------------------
# Hostile input


_BASE = _conversation(b"MZ" + b"x" * 398, b"0123456789", b"hi")


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 1),
    st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=12),
    st.integers(0, 4000),
    st.booleans(),
)
def test_mutated_streams_never_raise(which, flips, cut, direct):
    c, s = (bytearray(x) for x in _BASE)
    target = c if which == 0 else s
    for pos, val in flips:
        if target:
            target[pos % len(target)] = val
    conn = decode_connection(bytes(c[: cut + 200]), bytes(s), direct=direct)
    for o in conn.opens:
        assemble(o.writes, o.end_of_file)
        assemble(o.reads, o.end_of_file)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.binary(max_size=600))
def test_random_bytes_never_raise(client, server):
    decode_connection(b"\x00\x00\x01\x00\xffSMB" + client, server)
    decode_connection(client, server, direct=False)
    samr_enumeration_names(client)
    magic_of(client)
