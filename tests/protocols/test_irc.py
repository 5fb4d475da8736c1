"""IRC line decoder: real traces against tshark/Zeek, hand-built hostile lines, fuzzing."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeysift.protocols import irc
from honeysift.safe_text import safe_bytes
from tests.protocols.scapy_streams import CORPUS, _corpus, tcp_streams  # noqa: F401


def oracle_rows(trace: str, name: str) -> list[list[bytes]]:
    path = _corpus() / "oracle" / trace / name
    if not path.exists():
        pytest.skip(f"{path} missing")
    lines = path.read_bytes().split(b"\n")[1:]
    return [ln.split(b"\t") for ln in lines if ln]


def _as_tshark(piece: bytes) -> bytes:
    """tshark's IRC fields are ASCII strings: each byte >= 0x80 is shown as U+FFFD."""
    return re.sub(rb"[\x80-\xff]", "\ufffd".encode(), piece)


def expected_tshark_rows(trace: str, ports=(6667, 6666)) -> dict[int, tuple[bytes, bytes]]:
    """Rebuild tshark's per-frame irc.request/irc.response from our stream records.

    tshark dissects each frame on its own: a line spread over two segments is shown as two
    pieces (the first piece in the first frame, the rest in the next), and the lines of one
    frame are joined with ','. So we cut each of our records at the frame boundaries of the
    stream and join the pieces per frame; the result must equal tshark's row byte for byte.
    """
    rows: dict[int, list[list[bytes]]] = {}
    for key, (data, frames) in tcp_streams(trace).items():
        if key[1] not in ports and key[3] not in ports:
            continue  # DCC data, TLS and other non-IRC connections in the same trace
        from_client = key[3] in ports
        starts = [o for o, _ in frames] + [len(data)]
        for msg in irc.parse_lines(data, from_client=from_client):
            lo, hi = msg.offset, msg.offset + len(msg.raw)
            for i, (fo, frame) in enumerate(frames):
                a, b = max(lo, fo), min(hi, starts[i + 1])
                if a < b:
                    cols = rows.setdefault(frame, [[], []])
                    cols[0 if from_client else 1].append(_as_tshark(data[a:b]))
    return {f: (b",".join(c[0]), b",".join(c[1])) for f, c in rows.items()}


@pytest.mark.parametrize(
    "trace,ports",
    [
        ("irc-basic.pcap", (6667,)),
        ("irc-353.pcap", (6666,)),
        ("irc-dcc-send.pcapng", (6667,)),
        ("irc-dcc-send-malformed-host.pcap", (6667,)),
        ("contentline__contentline-irc-5k-line.pcap", (6667,)),
        ("irc-dcc-state-growth.pcapng", (6667,)),
    ],
)
def test_lines_match_tshark_per_frame(trace: str, ports: tuple[int, ...]) -> None:
    name = trace.rsplit(".", 1)[0]
    oracle = {int(r[0]): (r[1], r[2]) for r in oracle_rows(name, "irc_fields.tsv")}
    ours = expected_tshark_rows(trace, ports)
    assert oracle, "oracle has rows"
    assert ours == oracle


def _parsed(trace: str) -> tuple[list[irc.IrcMessage], list[irc.IrcMessage]]:
    client, server = [], []
    for key, (data, _frames) in tcp_streams(trace).items():
        if key[3] in (6667, 6666):
            client += irc.parse_lines(data, from_client=True)
        elif key[1] in (6667, 6666):
            server += irc.parse_lines(data, from_client=False)
    return client, server


def test_irc_basic_fields_agree_with_tshark_tree() -> None:
    """Prefix/command/params/trailer of frame 14's first line, as `tshark -O irc` shows them."""
    _, server = _parsed("irc-basic.pcap")
    first = next(m for m in server if m.command == b"001")
    f = first.fields()
    assert f["irc.response.prefix"] == ["leguin.freenode.net"]
    assert f["irc.response.command"] == ["001"]
    assert f["irc.response.num_command"] == [1]
    assert f["irc.response.command_parameter"] == ["brotest"]
    assert f["irc.response.trailer"] == [
        "Welcome to the freenode Internet Relay Chat Network brotest"
    ]
    four = next(m for m in server if m.command == b"004")
    assert len(four.params) == 6 and four.trailing is None


def test_irc_basic_agrees_with_zeek_events() -> None:
    """Figures Zeek's irc analyzer printed (expected/irc-basic/output)."""
    client, server = _parsed("irc-basic.pcap")
    out = (_corpus() / "expected" / "irc-basic" / "output").read_text()
    lus = {m.command: irc.lusers(m) for m in server if m.command in irc.LUSERS_NUMERICS}
    # network_info: 148 users, 0 services, 27 servers (Zeek ignores the invisible count)
    assert "network_info: 148 users, 0 services, 27 servers" in out
    assert lus[b"251"] == {"users": 148, "invisible": 91306, "servers": 27}
    assert "channel_info: 56817 channels" in out and lus[b"254"] == {"channels": 56817}
    assert "server_info: 5758 users, 0 services, 1 servers" in out
    assert lus[b"255"] == {"clients": 5758, "servers": 1}
    assert lus[b"266"] == {"current": 91454, "max": 97497}
    assert lus[b"252"] == {"operators": 27} and lus[b"253"] == {"unknown": 14}
    assert lus[b"250"] == {
        "max_connections": 5800,
        "max_clients": 5799,
        "connections_received": 106267,
    }
    names = [irc.names_reply(m) for m in server if m.command == b"353"]
    assert "names_info: @ #brotest: brotest" in out
    assert [(n.channel_type, n.channel, n.members) for n in names] == [
        (b"@", b"#brotest", [(b"@", b"brotest")])
    ]
    joins = [irc.join(m) for m in client + server if m.verb == b"JOIN"]
    assert [j.channels for j in joins] == [[b"#brotest"], [b"#brotest"]]
    assert [j.nick for j in joins] == [None, b"brotest"]  # Zeek: nick= then nick=brotest
    quits = [(m.nick, irc.quit_message(m)) for m in client + server if m.verb == b"QUIT"]
    assert "quit:  (quitting)" in out and "quit: brotest (Client Quit)" in out
    assert sorted(quits, key=repr) == sorted(
        [(None, b"quitting"), (b"brotest", b"Client Quit")], key=repr
    )
    errs = [irc.error_message(m) for m in server if m.verb == b"ERROR"]
    assert errs == [b"Closing Link: new-wifi-nat.ICSI.Berkeley.EDU (Client Quit)"]
    assert all(m.malformed is None and not m.partial for m in client + server)
    assert irc.looks_like_irc(next(iter(tcp_streams("irc-basic.pcap").values()))[0])


def test_irc_353_invalid_names_line() -> None:
    """Zeek logs irc_invalid_names_line for the bare '353 ' line (LF-terminated)."""
    assert "irc_invalid_names_line" in (_corpus() / "expected/irc-353/weird.log").read_text()
    client, _ = _parsed("irc-353.pcap")
    assert [m.raw for m in client] == [b"353 "] and client[0].terminator == b"\n"
    assert irc.names_reply(client[0]) is None


def test_dcc_send_and_chat_match_zeek() -> None:
    client, server = _parsed("irc-dcc-send.pcapng")
    offers = [irc.dcc_offer(m) for m in client + server]
    offers = [o for o in offers if o]
    send = next(o for o in offers if o.kind == b"SEND")
    # Zeek irc.log: DCC #testing ssh.trace 1320211; 167772167 == 10.0.0.7 (the client's address)
    log = (_corpus() / "expected/irc-dcc-send/irc.log").read_text()
    assert "ssh.trace\t1320211" in log
    assert (send.argument, send.address, send.port, send.size) == (
        b"ssh.trace",
        "10.0.0.7",
        59130,
        1320211,
    )
    chat = next(o for o in offers if o.kind == b"CHAT")
    assert (chat.argument, chat.address, chat.port, chat.malformed) == (
        b"CHAT",
        "10.0.0.7",
        59214,
        None,
    )
    # IRCv3 tags are split off (tshark 4.0 does not know them and calls "@time=..." the command)
    tagged = [m for m in server if m.tags]
    assert tagged and all(m.tags.startswith(b"time=") and m.command for m in tagged)
    assert all(m.malformed is None for m in tagged)


def test_dcc_malformed_host_flagged() -> None:
    assert (
        "irc_invalid_dcc_host"
        in (_corpus() / "expected/irc-dcc-send-malformed-host/weird.log.cut").read_text()
    )
    _, server = _parsed("irc-dcc-send-malformed-host.pcap")
    (offer,) = [irc.dcc_offer(m) for m in server]
    assert offer.argument == b"file.txt" and offer.host_raw == b"\x01\x02\x03\x04\x05"
    assert offer.address is None and "invalid DCC host" in offer.malformed
    assert (offer.port, offer.size) == (5000, 1024)


def test_dcc_state_growth_offer_counts() -> None:
    """The trace has 10 DCC SEND offers from one address and 20 from another (btest.zeek)."""
    client, _ = _parsed("irc-dcc-state-growth.pcapng")
    offers = [o for o in map(irc.dcc_offer, client) if o]
    counts = sorted(Counter(o.address for o in offers).values())
    assert counts == [10, 20]
    assert all(o.malformed is None and o.size == 1 for o in offers)


def test_5k_line_kept_whole_and_flagged() -> None:
    assert (
        "irc_line_size_exceeded"
        in (_corpus() / "expected/contentline__contentline-irc-5k-line/weird.log").read_text()
    )
    client, _ = _parsed("contentline__contentline-irc-5k-line.pcap")
    long = [m for m in client if m.overlong]
    assert len(long) == 1 and len(long[0].raw) > 5000
    assert [m.command for m in client[:3]] == [b"USER", b"NICK", b"JOIN"]


# ---------------------------------------------------------------- hand-built lines
def test_writeup_lines() -> None:
    data = (
        b":irc5.aol.com 251 rgdiuggac :There are 0 users and 4752 invisible on 4 servers\r\n"
        b":irc5.aol.com 266 rgdiuggac :Current global users: 4752  Max: 4765\r\n"
        b"ERROR :Closing Link: [x@y] (Connection Timed Out)\r\n"
        b":irc5.aol.com 353 rgdiuggac = #x :@rgdiuggac +bot1 bot2\r\n"
        b":irc5.aol.com 366 rgdiuggac #x :End of /NAMES list.\r\n"
        b":irc5.aol.com 433 * rgdiuggac :Nickname is already in use.\r\n"
    )
    m = irc.parse_lines(data, from_client=False)
    assert m[0].server == b"irc5.aol.com" and m[0].nick is None
    assert irc.lusers(m[0]) == {"users": 0, "invisible": 4752, "servers": 4}
    assert irc.lusers(m[1]) == {"current": 4752, "max": 4765}
    assert irc.error_message(m[2]) == b"Closing Link: [x@y] (Connection Timed Out)"
    n = irc.names_reply(m[3])
    assert n.channel == b"#x" and n.members == [
        (b"@", b"rgdiuggac"),
        (b"+", b"bot1"),
        (b"", b"bot2"),
    ]
    assert irc.end_of_names(m[4]) == b"#x"
    assert irc.nick_in_use(m[5]) == b"rgdiuggac"
    assert [x.offset for x in m] == [i for i in range(len(data)) if i == 0 or data[i - 1] == 10]


def test_rfc1459_names_without_type_and_prefix_parts() -> None:
    (m,) = irc.parse_lines(b":nick!~user@host.example 353 me #chan :@a b", from_client=False)
    assert (m.nick, m.user, m.host, m.server) == (b"nick", b"~user", b"host.example", None)
    assert m.partial
    n = irc.names_reply(m)
    assert (n.channel_type, n.channel) == (None, b"#chan")


def test_non_utf8_channel_and_escape_sequence() -> None:
    line = b":a!b@c JOIN :#\xff\xfe\x1b[2J\r\n:a!b@c PRIVMSG #\xff\xfe :hi \x1b[2J there\r\n"
    m = irc.parse_lines(line, from_client=False)
    assert irc.join(m[0]).channels == [b"#\xff\xfe\x1b[2J"]
    assert irc.privmsg(m[1]) == ([b"#\xff\xfe"], b"hi \x1b[2J there")
    assert irc.is_channel(b"#\xff\xfe")
    # fields() round-trip to the exact bytes; the tree never shows the raw ESC
    f = m[1].fields()
    assert f["irc.response"][0].encode("utf-8", "surrogateescape") == line.split(b"\r\n")[1]
    text = "\n".join(m[1].tree().render())
    assert "\x1b" not in text and "\\x1b[2J" in text
    assert "\x1b" not in safe_bytes(m[1].raw)


def test_line_terminators_and_commands() -> None:
    data = b"NICK a\rUSER a 0 * :Real Name\nJOIN #a,#b key1\r\n\r\nPART #a :bye\r\nKICK #b x,y :out"
    m = irc.parse_lines(data)
    assert [x.terminator for x in m] == [b"\r", b"\n", b"\r\n", b"\r\n", b""]
    assert irc.nick_change(m[0]) == (None, b"a")
    assert m[1].params == [b"a", b"0", b"*"] and m[1].trailing == b"Real Name"
    j = irc.join(m[2])
    assert (j.channels, j.keys) == ([b"#a", b"#b"], [b"key1"])
    assert irc.part(m[3]) == ([b"#a"], b"bye")
    assert irc.kick(m[4]) == (b"#b", [b"x", b"y"], b"out") and m[4].partial
    assert m[0].fields()["irc.request.command"] == ["NICK"]


def test_misc_commands() -> None:
    data = (
        b":n!u@h NICK :new\r\n:n!u@h TOPIC #c :the topic\r\n:s 332 me #c :t2\r\n"
        b":n!u@h MODE #c +o-v a b\r\nPING :irc.x\r\nPONG irc.x\r\n:n!u@h QUIT\r\n"
        b"PRIVMSG a,b :\x01VERSION\x01\r\n"
    )
    m = irc.parse_lines(data)
    assert irc.nick_change(m[0]) == (b"n", b"new")
    assert irc.topic(m[1]) == (b"#c", b"the topic") and irc.topic(m[2]) == (b"#c", b"t2")
    assert irc.mode(m[3]) == (b"#c", b"+o-v", [b"a", b"b"])
    assert irc.ping_token(m[4]) == b"irc.x" and irc.ping_token(m[5]) == b"irc.x"
    assert irc.quit_message(m[6]) == b""
    assert irc.privmsg(m[7])[0] == [b"a", b"b"]
    assert irc.ctcp(irc.privmsg(m[7])[1]) == (b"VERSION", b"")
    assert irc.dcc_offer(m[7]) is None


def test_params_limit_and_spaces() -> None:
    words = b" ".join(b"p%d" % i for i in range(20))
    (m,) = irc.parse_lines(b"CMD   " + words + b"\r\n")
    assert len(m.params) == 14 and m.trailing == b" ".join(b"p%d" % i for i in range(14, 20))
    (m,) = irc.parse_lines(b":pfx\r\n")
    assert m.malformed and m.prefix == b"pfx" and m.command == b""
    (m,) = irc.parse_lines(b"NI\x00CK x\r\n")
    assert m.malformed


@pytest.mark.parametrize(
    "text,addr,port,size,bad",
    [
        (b"\x01DCC SEND f.exe 3232235777 1024 100\x01", "192.168.1.1", 1024, 100, False),
        (b"\x01DCC SEND f.exe 10.1.2.3 1024\x01", "10.1.2.3", 1024, None, False),
        (b"\x01DCC SEND f.exe ::1 1024 5\x01", "::1", 1024, 5, False),
        (b"\x01DCC SEND my file.exe 16909060 99 7\x01", "1.2.3.4", 99, 7, False),
        (b"\x01DCC SEND f.exe 99999999999 1024 5\x01", None, 1024, 5, True),
        (b"\x01DCC SEND f.exe 1.2.3.4 70000 5\x01", "1.2.3.4", None, 5, True),
        (b"\x01DCC SEND f.exe\x01", None, None, None, True),
    ],
)
def test_dcc_forms(text: bytes, addr, port, size, bad: bool) -> None:
    o = irc.dcc(text)
    assert (o.address, o.port, o.size, o.malformed is not None) == (addr, port, size, bad)


def test_looks_like_irc() -> None:
    yes = [
        b"NICK bot\r\nUSER x\r\n",
        b"USER a b c :d\r\n",
        b"PASS secret\r\n",
        b":irc.example.net NOTICE AUTH :*** Looking up your hostname...\r\n",
        b":irc5.aol.com 001 me :Welcome\r\n",
        b"@time=1 :s NOTICE * :hi\r\n",
    ]
    no = [
        b"GET / HTTP/1.1\r\n",
        b"\x16\x03\x01\x02\x00",
        b"SSH-2.0-OpenSSH\r\n",
        b"",
        b":\r\n",
        b"220 ftp ready\r\n",
        b"\x00\x00\x00\x85\xffSMB",
    ]
    assert all(irc.looks_like_irc(d) for d in yes)
    assert not any(irc.looks_like_irc(d) for d in no)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.booleans())
def test_fuzz_never_raises(data: bytes, from_client: bool) -> None:
    msgs = irc.parse_lines(data, from_client=from_client)
    assert len(msgs) <= len(data)
    for m in msgs:
        m.tree().render()
        m.fields()
        for fn in (
            irc.join, irc.part, irc.quit_message, irc.nick_change, irc.kick, irc.privmsg,
            irc.topic, irc.mode, irc.names_reply, irc.end_of_names, irc.lusers,
            irc.nick_in_use, irc.error_message, irc.ping_token, irc.dcc_offer,
        ):  # fmt: skip
            fn(m)
        assert data[m.offset : m.offset + len(m.raw)] == m.raw
    irc.looks_like_irc(data)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b":",
                b" ",
                b"!",
                b"@",
                b"\x01",
                b"DCC",
                b"SEND",
                b"353",
                b"251",
                b"JOIN",
                b"#",
                b"1",
                b"\r\n",
                b"\n",
                b"=",
                b",",
                b"x",
                b"\xff",
            ]
        ),  # fmt: skip
        max_size=60,
    )
)
def test_fuzz_structured(parts: list[bytes]) -> None:
    data = b"".join(parts)
    for m in irc.parse_lines(data, from_client=False):
        irc.lusers(m), irc.names_reply(m), irc.dcc_offer(m), m.fields()
        irc.dcc(m.trailing or b"")


def test_large_input_linear() -> None:
    data = b"PRIVMSG #a :" + b"x" * 5_000_000 + b"\r\n" + b"PING :a\r\n" * 100_000
    msgs = irc.parse_lines(data)
    assert len(msgs) == 100_001 and msgs[0].overlong
