"""SMB2 decoder: corpus traces against tshark/Zeek, hand-built compound and pipe IOCTL."""

from __future__ import annotations

import csv
import os
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeysift.protocols import dcerpc, smb2
from tests.protocols.scapy_streams import seq_streams

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("HONEYSIFT_CORPUS", REPO.parent / "shared" / "corpus" / "zeek"))


def _trace(name: str) -> Path:
    p = CORPUS / "traces" / f"{name}.pcap"
    if not p.exists():
        pytest.skip(f"corpus trace {p} not found (set HONEYSIFT_CORPUS)")
    return p


def _streams(path: Path) -> dict[tuple, tuple[bytes, list[int]]]:
    return seq_streams(path)


def _nbss(data: bytes, frames: list[int]):
    pos, msgs = 0, []
    while pos + 4 <= len(data):
        ln = int.from_bytes(data[pos + 1 : pos + 4], "big")
        if pos + 4 + ln > len(data):
            break
        if data[pos] == 0 and data[pos + 4 : pos + 8] == smb2.MAGIC:
            msgs.append((data[pos + 4 : pos + 4 + ln], frames[pos + 4 + ln - 1]))
        pos += 4 + ln
    return msgs


def _sessions(name: str):
    """Exchanges per connection, connections in order of first byte, sharing one context."""
    s = _streams(_trace(name))
    ctx = smb2.Smb2Context()
    for k in sorted((k for k in s if k[3] == 445), key=lambda k: s[k][1][0]):
        rk = (k[2], k[3], k[0], k[1])
        yield k, smb2.decode_session(_nbss(*s[k]), _nbss(*s.get(rk, (b"", []))), ctx)


def _messages(exchanges):
    seen = {}
    for e in exchanges:
        for m in [e.request, e.response, *e.interim]:
            if m is not None:
                seen[id(m)] = m
    return sorted(seen.values(), key=lambda m: (m.ref, m.offset))


@pytest.mark.parametrize(
    "name",
    ["smb__smb1", "smb__smb2", "smb__smb2readwrite", "smb__smb_v2_only_non_zero_reserved1"],
)
def test_fields_match_tshark(name):
    """cmd, response flag, NT status and tree (tracked tid -> share) per frame, exactly;
    smb2.filename: ours is the CREATE name, a subset of tshark's, which also lists names
    inside Find / GetInfo response bodies (not decoded here)."""
    p = CORPUS / "oracle" / name / "smb2_fields.tsv"
    if not p.exists():
        pytest.skip("oracle missing")
    with p.open() as f:
        oracle = {int(r["frame.number"]): r for r in csv.DictReader(f, delimiter="\t")}
    mine: dict[int, dict[str, list]] = {}
    for _k, ex in _sessions(name):
        for m in _messages(ex):
            f = m.fields()
            row = mine.setdefault(m.ref, {"c": [], "r": [], "s": [], "t": [], "f": []})
            row["c"] += [str(v) for v in f.get("smb2.cmd", [])]
            row["r"] += [str(int(v)) for v in f.get("smb2.flags.response", [])]
            row["s"] += [f"0x{v:08x}" for v in f.get("smb2.nt_status", [])]
            row["t"] += f.get("smb2.tree", [])
            row["f"] += [v for v in f.get("smb2.filename", []) if v]
    assert set(mine) == set(oracle)
    for fr, r in oracle.items():
        got = mine[fr]
        exp = (r["smb2.cmd"], r["smb2.flags.response"], r["smb2.nt_status"], r["smb2.tree"])
        assert (
            ",".join(got["c"]),
            ",".join(got["r"]),
            ",".join(got["s"]),
            ",".join(got["t"]),
        ) == exp, fr
        assert set(got["f"]) <= set(r["smb2.filename"].split(",")), fr


def test_smb2_mapping_and_pipe_match_zeek():
    ex = [e for _k, x in _sessions("smb__smb2") for e in x]
    trees = [(e.request.path, e.response.share_type) for e in ex if e.command == 3 and e.ok]
    # Zeek smb_mapping.log: \\10.0.0.12\smb2 DISK, \\10.0.0.12\IPC$ PIPE
    assert trees == [("\\\\10.0.0.12\\smb2", 1), ("\\\\10.0.0.12\\IPC$", 2)]
    sess = [e for e in ex if e.command == 1 and e.request.ntlmssp is not None]
    assert {e.request.ntlmssp.message_type for e in sess} >= {1, 3}
    # srvsvc over IPC$ (tshark's dcerpc_fields.tsv shows a bind and NetrShareEnum)
    pipes = smb2.pipe_streams(ex)
    conns = [dcerpc.decode_connection(p.client, p.server) for p in pipes]
    calls = [c for conn in conns for c in conn.calls]
    assert any(c.interface == "SRVSVC" for c in calls)
    assert {p.name for p in pipes} == {"srvsvc"}


def test_read_write_files_match_zeek():
    ex = [e for _k, x in _sessions("smb__smb2readwrite") for e in x]
    reads = [e for e in ex if e.command == smb2.READ and e.ok]
    writes = [e for e in ex if e.command == smb2.WRITE]
    assert {e.file_name for e in reads} == {"pythonfile"}
    assert {e.file_name for e in writes} == {"pythonfile2"}
    # Zeek logs this one write twice (request and response: smb2-write-response test)
    assert len(writes) == 1 and writes[0].ok
    (w,) = writes
    assert w.response.length == len(w.written) == w.request.length > 0


# ---- hand-built ------------------------------------------------------------------------------


def hdr(cmd, mid, *, resp=False, status=0, tid=1, sid=0x1111, nxt=0, flags=0):
    f = flags | (smb2.FLAGS_RESPONSE if resp else 0)
    return smb2.MAGIC + struct.pack(
        "<HHIHHIIQIIQ16s", 64, 1, status, cmd, 1, f, nxt, mid, 0, tid, sid, b"\0" * 16
    )


def test_compound_create_ioctl_transceive_and_related_file_id():
    path = "\\\\PC0191\\IPC$".encode("utf-16-le")
    tc = hdr(3, 1, tid=0) + struct.pack("<HHHH", 9, 0, 72, len(path)) + path
    tc_r = hdr(3, 1, resp=True, tid=5) + struct.pack("<HBBIII", 16, 2, 0, 0, 0, 0x1F01FF)
    name = "samr".encode("utf-16-le")
    create = (
        hdr(5, 2, tid=5)
        + struct.pack(
            "<HBBIQQIIIIIHHII", 57, 0, 0, 2, 0, 0, 0x12019F, 0, 7, 1, 0, 120, len(name), 0, 0
        )
        + name
    )
    create += b"\0" * ((8 - len(create) % 8) % 8)
    bind = bytes.fromhex("05000b0310000000") + b"\0" * 8
    ioctl = (
        hdr(0x0B, 3, tid=5, flags=smb2.FLAGS_RELATED)
        + struct.pack(
            "<HHI16sIIIIIIII",
            57,
            0,
            smb2.FSCTL_PIPE_TRANSCEIVE,
            b"\xff" * 16,
            120,
            len(bind),
            0,
            0,
            0,
            4280,
            1,
            0,
        )
        + bind
    )
    compound = bytearray(create)
    compound[20:24] = struct.pack("<I", len(create))  # NextCommand
    compound += ioctl
    fid = bytes(range(16))
    cr = hdr(5, 2, resp=True, tid=5) + struct.pack("<HBBI", 89, 0, 0, 1) + b"\0" * 40
    cr += struct.pack("<Q", 0) + b"\0" * 8 + fid + b"\0" * 8
    back = bytes.fromhex("05000c0310000000") + b"\0" * 8
    ir = (
        hdr(0x0B, 3, resp=True, tid=5)
        + struct.pack(
            "<HHI16sIIIIII", 49, 0, smb2.FSCTL_PIPE_TRANSCEIVE, fid, 112, 0, 112, len(back), 0, 0
        )
        + back
    )
    pending = (
        hdr(0x0B, 3, resp=True, status=smb2.STATUS_PENDING, flags=smb2.FLAGS_ASYNC)
        + struct.pack("<HBBI", 9, 0, 0, 0)
        + b"\0"
    )
    ex = smb2.decode_session(
        [(tc, 1), (bytes(compound), 3)], [(tc_r, 2), (cr, 4), (pending, 5), (ir, 6)]
    )
    assert [
        (e.name, e.status_name, e.share, e.file_name, e.request_ref, e.response_ref) for e in ex
    ] == [
        ("Tree Connect", "STATUS_SUCCESS", "\\\\PC0191\\IPC$", None, 1, 2),
        ("Create", "STATUS_SUCCESS", "\\\\PC0191\\IPC$", "samr", 3, 4),
        ("Ioctl", "STATUS_SUCCESS", "\\\\PC0191\\IPC$", "samr", 3, 6),
    ]
    assert ex[0].response.share_type == 2
    assert ex[1].request.disposition == 1 and ex[1].response.create_action == 1
    assert ex[2].file_id == fid and len(ex[2].interim) == 1
    assert ex[2].written == bind and ex[2].read == back
    (pipe,) = smb2.pipe_streams(ex)
    assert (pipe.name, pipe.client, pipe.server) == ("samr", [(bind, 3)], [(back, 6)])
    text = "\n".join(line for e in ex for line in e.tree().render())
    assert "Tree: \\\\PC0191\\IPC$" in text and "Filename: samr" in text
    assert "FSCTL_PIPE_TRANSCEIVE" in text
    denied = hdr(3, 9, resp=True, status=0xC0000022) + struct.pack("<HBBI", 9, 0, 0, 0) + b"\0"
    (m,) = smb2.parse_messages(denied)
    assert m.error and "NT Status: STATUS_ACCESS_DENIED (0xc0000022)" in "\n".join(
        m.tree().render()
    )


def test_compound_loop_and_encrypted_are_flagged():
    m = bytearray(hdr(4, 1) + struct.pack("<HH", 4, 0))
    m[20:24] = struct.pack("<I", 8)  # NextCommand pointing into its own header
    (one,) = smb2.parse_messages(bytes(m))
    assert one.malformed and "NextCommand" in one.malformed
    (enc,) = smb2.parse_messages(smb2.TRANSFORM_MAGIC + b"\0" * 60)
    assert enc.header is None and "encrypted" in enc.malformed


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 0x13), st.booleans(), st.binary(max_size=200), st.integers(0, 300))
def test_fuzz_messages(cmd, resp, body, nxt):
    data = hdr(cmd, 1, resp=resp, nxt=nxt) + body
    msgs = smb2.parse_messages(data)
    assert len(msgs) <= smb2.MAX_COMPOUND
    for m in msgs:
        m.tree().render()
    for e in smb2.decode_session([data], [data]):
        e.tree().render()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_raw(data):
    for m in smb2.parse_messages(data):
        m.tree().render()
    for m in smb2.parse_messages(smb2.MAGIC + data):
        m.tree().render()
