"""FTP control decoder: real traces against tshark/Zeek, hand-built lines, fuzzing."""

from __future__ import annotations

import bisect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeysift.protocols import ftp
from tests.protocols.scapy_streams import CORPUS, _corpus, tcp_streams  # noqa: F401


def oracle_rows(trace: str) -> list[list[str]]:
    path = _corpus() / "oracle" / trace / "ftp_fields.tsv"
    if not path.exists():
        pytest.skip(f"{path} missing")
    lines = path.read_bytes().decode("utf-8", "surrogateescape").split("\n")[1:]
    return [ln.split("\t") for ln in lines if ln]


def _frame_at(frames: list[tuple[int, int]], offset: int) -> int:
    i = bisect.bisect_right([o for o, _ in frames], offset) - 1
    return frames[i][1]


def _control(trace: str):
    streams = tcp_streams(trace)
    ((key, (cdata, cframes)),) = [(k, v) for k, v in streams.items() if k[3] == 21]
    sdata, sframes = streams.get((key[2], key[3], key[0], key[1]), (b"", []))
    return streams, (cdata, cframes), (sdata, sframes)


TRACES = ["ftp__ipv4.pcap", "ftp__retr.pcap", "ftp__ftp-many-port-expected.pcap.gz"]


@pytest.mark.parametrize("trace", TRACES)
def test_commands_and_replies_match_tshark(trace: str) -> None:
    """tshark decodes each frame on its own: a frame's first line gives the fields.

    Commands: one per frame here, so (frame, command, arg) must match exactly.
    Replies: tshark rows with a code are the frames where a reply starts; rows with neither a
    command nor a code are continuation lines of a multi-line reply (RFC 959 4.2) that fall in
    a later frame; our parser folds those into the reply that owns them, so we check that each
    such frame lies inside one of our multi-line replies.
    """
    rows = oracle_rows(trace.split(".pcap")[0])
    _, (cdata, cframes), (sdata, sframes) = _control(trace)
    cmds = ftp.parse_commands(cdata)
    reps = ftp.parse_replies(sdata)
    f = [c.fields() for c in cmds]
    ours_c = [
        (
            _frame_at(cframes, c.offset),
            x["ftp.request.command"][0],
            (x.get("ftp.request.arg") or [""])[0],
        )
        for c, x in zip(cmds, f, strict=True)
    ]
    assert ours_c == [(int(r[0]), r[2], r[3]) for r in rows if r[2]]
    ours_r = [
        (_frame_at(sframes, r.offset), str(r.code), r.fields()["ftp.response.arg"][0]) for r in reps
    ]
    assert ours_r == [(int(r[0]), r[4], r[5]) for r in rows if r[4]]
    spans = [
        (_frame_at(sframes, r.offset), _frame_at(sframes, r.offset + sum(map(len, r.lines))))
        for r in reps
        if r.multiline
    ]
    for r in rows:
        if not r[2] and not r[4]:
            assert any(a < int(r[0]) <= b for a, b in spans), r[0]
    assert all(c.malformed is None for c in cmds) and all(r.malformed is None for r in reps)


def test_ipv4_data_channels_match_zeek() -> None:
    """Zeek ftp.log: PASV 56666, PASV 56667 (RETR robots.txt), PORT 33582, PORT 37835."""
    log = (_corpus() / "expected/ftp__ipv4/ftp.log").read_text()
    streams, (cdata, _), (sdata, _) = _control("ftp__ipv4.pcap")
    ex = ftp.pair(ftp.parse_commands(cdata), ftp.parse_replies(sdata))
    chans = ftp.data_channels(ex)
    got = [(c.passive, c.address, c.port, c.command, c.argument, c.reply_code) for c in chans]
    assert got == [
        (True, "199.233.217.249", 56666, b"LIST", None, 226),
        (True, "199.233.217.249", 56667, b"RETR", b"robots.txt", 226),
        (False, "141.142.220.235", 33582, b"LIST", None, 226),
        (False, "141.142.220.235", 37835, b"RETR", b"robots.txt", 226),
    ]
    for c in chans:
        assert f"\t{c.port}\t" in log or c.command != b"PORT"
        # the expected connection is really in the trace: the server side sends the data
        (data,) = [
            d
            for k, (d, _) in streams.items()
            if (k[1] == c.port if c.passive else k[3] == c.port) and d
        ]
        if c.command == b"RETR":
            assert len(data) == 77  # Zeek: text/plain, file_size 77
    assert ex[0].command is None and ex[0].reply.code == 220
    multi = [r for r in ftp.parse_replies(sdata) if r.multiline]
    assert multi and multi[0].code == 230 and b"NetBSD Project" in multi[0].full_text


def test_retr_epsv_channel() -> None:
    """EPSV (|||38141|): Zeek extracted 16557 bytes from 141.142.192.162:38141."""
    assert "resp_p=38141/tcp" in (_corpus() / "expected/ftp__retr/out").read_text()
    streams, (cdata, _), (sdata, _) = _control("ftp__retr.pcap")
    (chan,) = ftp.data_channels(ftp.pair(ftp.parse_commands(cdata), ftp.parse_replies(sdata)))
    assert (chan.passive, chan.address, chan.port) == (True, None, 38141)
    assert (chan.command, chan.argument, chan.direction) == (b"RETR", b"/README", "download")
    (data,) = [d for k, (d, _) in streams.items() if k[1] == 38141 and d]
    assert len(data) == 16557


def test_many_port_expected() -> None:
    """500 PORT commands, none answered: every one is an expected channel (Zeek weird at 499+)."""
    assert (
        "FTP_too_many_expected_data_channels"
        in (_corpus() / "expected/ftp__ftp-many-port-expected/weird.log.cut").read_text()
    )
    rows = oracle_rows("ftp__ftp-many-port-expected")
    _, (cdata, _), (sdata, _) = _control("ftp__ftp-many-port-expected.pcap.gz")
    chans = ftp.data_channels(ftp.pair(ftp.parse_commands(cdata), ftp.parse_replies(sdata)))
    assert len(chans) == sum(r[2] == "PORT" for r in rows) == 500
    assert chans[0].port == 78 * 256 + 33 and chans[-1].port == 80 * 256 + 20
    assert all(c.command is None and not c.passive for c in chans)


# ---------------------------------------------------------------- hand-built
def test_port_forms() -> None:
    assert ftp.parse_host_port(b"10,0,0,1,4,1") == ("10.0.0.1", 1025)
    assert ftp.parse_host_port(b"Entering Passive Mode (1,2,3,4,255,255).") == ("1.2.3.4", 65535)
    assert ftp.parse_host_port(b"=1,2,3,4,0,21") == ("1.2.3.4", 21)
    assert ftp.parse_host_port(b"1,2,3,999,0,21") is None
    assert ftp.parse_host_port(b"garbage") is None
    assert ftp.parse_eprt(b"|1|132.235.1.2|6275|") == ("132.235.1.2", 6275)
    assert ftp.parse_eprt(b"|2|1080::8:800:200C:417A|5282|") == ("1080::8:800:200c:417a", 5282)
    assert ftp.parse_eprt(b"!1!1.2.3.4!80!") == ("1.2.3.4", 80)
    for bad in (b"|1|::1|5|", b"|3|1.2.3.4|5|", b"|1|1.2.3.4|99999|", b"|1|x|5|", b"|", b""):
        assert ftp.parse_eprt(bad) is None


def test_hostile_session() -> None:
    client = (
        b"USER anonymous\r\nPASS \x1b[2J\xff\r\nEPRT |2|::1|2121|\r\nSTOR evil.exe\r\n"
        b"PASV\r\nAPPE x\r\nNOOP"
    )
    server = (
        b"220-hello\r\n220 ready\r\n331 pw\r\n230 ok\r\n200 EPRT ok\r\n150 opening\r\n"
        b"226 done\r\n227 Entering Passive Mode (10,1,1,1,200,10)\r\n550 denied\r\n"
    )
    cmds = ftp.parse_commands(client)
    assert cmds[-1].partial and cmds[-1].command == b"NOOP"
    assert cmds[1].arg == b"\x1b[2J\xff"
    assert "\x1b" not in "\n".join(cmds[1].tree().render())
    reps = ftp.parse_replies(server)
    assert (
        reps[0].multiline and reps[0].code == 220 and reps[0].lines == [b"220-hello", b"220 ready"]
    )
    ex = ftp.pair(cmds, reps)
    assert ex[0].command is None
    stor = next(e for e in ex if e.command and e.command.command == b"STOR")
    assert [p.code for p in stor.preliminary] == [150] and stor.reply.code == 226
    chans = ftp.data_channels(ex)
    assert [(c.address, c.port, c.direction, c.reply_code) for c in chans] == [
        ("::1", 2121, "upload", 226),
        ("10.1.1.1", 200 * 256 + 10, "upload", 550),
    ]
    f = cmds[2].fields()
    assert f["ftp.eprt.ipv6"] == ["::1"] and f["ftp.eprt.port"] == [2121]
    assert reps[-2].fields()["ftp.passive.port"] == [51210]


def test_refused_port_and_malformed() -> None:
    cmds = ftp.parse_commands(b"PORT 1,2,3,4,5,6\r\nRETR a\r\n\x00\x01 x\r\n")
    reps = ftp.parse_replies(b"500 no\r\n550 no\r\nnot a reply\r\n123-open")
    assert ftp.data_channels(ftp.pair(cmds, reps)) == []
    assert cmds[2].malformed
    assert reps[2].code is None and reps[2].malformed
    assert reps[3].partial and reps[3].code == 123


def test_looks_like_ftp() -> None:
    assert ftp.looks_like_ftp(b"220 ProFTPD ready\r\n") and ftp.looks_like_ftp(b"USER x\r\n")
    assert not ftp.looks_like_ftp(b"GET / HTTP/1.1\r\n") and not ftp.looks_like_ftp(b"")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.binary(max_size=2000))
def test_fuzz_never_raises(client: bytes, server: bytes) -> None:
    cmds = ftp.parse_commands(client)
    reps = ftp.parse_replies(server)
    for x in [*cmds, *reps]:
        x.tree().render()
        x.fields()
    ftp.data_channels(ftp.pair(cmds, reps))
    ftp.parse_eprt(client[:50])
    ftp.parse_host_port(server[:50])
    ftp.looks_like_ftp(client)


_C = [b"PORT ", b"EPRT ", b"PASV", b"EPSV", b"RETR f", b"1,2,3,4,5,6", b"|1|1.2.3.4|5|", b"\r\n"]
_R = [b"227 (1,2,3,4,5,6)", b"229 (|||5|)", b"150 x", b"226 ok", b"123-", b"123 ", b"\r\n", b"x"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_C), max_size=30), st.lists(st.sampled_from(_R), max_size=30))
def test_fuzz_structured(c: list[bytes], r: list[bytes]) -> None:
    chans = ftp.data_channels(
        ftp.pair(ftp.parse_commands(b"".join(c)), ftp.parse_replies(b"".join(r)))
    )
    assert all(0 <= ch.port <= 65535 for ch in chans)
