"""IRC sessions and botnet census: what the honeypot's IRC connections did, and how big the botnet is.

Why: the judges of Scan of the Month 27 answered "which servers did it try, which worked, how many
hosts are in the botnet, what is its bandwidth" with tcpflow, less and grep/sed/sort pipelines.
This module answers the same questions from parsed IRC lines, and every census figure carries a
``method`` sentence saying exactly how it was counted, because the write-up's point is that the
answer depends on the counting method (distinct JOIN/QUIT hosts, the server's LUSERS, NAMES).

Input is one :class:`IrcConversation` per TCP connection (refused and unanswered attempts
included); :func:`conversation_from_streams` builds it from reassembled streams. Output is an
:class:`IrcReport` (``to_dict()`` for JSON; docs/irc.md documents every key). Names and channels
stay ``bytes`` internally (bots use arbitrary bytes); JSON decodes them as UTF-8 with
``errors="backslashreplace"`` (:func:`text`). Work is linear in the bytes of the streams.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from honeysift.protocols import irc as P
from honeysift.streams.tcp import ReassembledStream

#: TCP ports conventionally used by IRC servers (IANA 194/529/994/6665-6669/6697 plus the
#: 6660-6670 and 7000 ranges the write-up mentions); for callers choosing candidate connections.
IRC_PORTS = frozenset({194, 529, 994, 6697, 7000, *range(6660, 6671)})

#: Zeek conn_state values meaning the connection was set up and then ended (FIN or RST).
_ENDED_STATES = frozenset({"SF", "S2", "S3", "RSTO", "RSTR", "RSTRH", "SHR"})
_NO_ANSWER_STATES = frozenset({"S0", "SH", "RSTOS0"})

# Outcome stages, furthest last: a session's outcome is the furthest stage it reached.
REFUSED = "refused"
NO_ANSWER = "no_answer"
CONNECTED = "connected"
CLOSED_DURING_REGISTRATION = "closed_during_registration"
NICKNAME_IN_USE = "nickname_in_use"
CLOSED_BY_SERVER = "closed_by_server"
REGISTERED = "registered"
JOINED = "joined"
STAGES = (
    REFUSED,
    NO_ANSWER,
    CONNECTED,
    CLOSED_DURING_REGISTRATION,
    NICKNAME_IN_USE,
    CLOSED_BY_SERVER,
    REGISTERED,
    JOINED,
)
_RANK = {s: i for i, s in enumerate(STAGES)}

#: Bot command verbs (agobot/sdbot/rbot/gtbot families) recognised as the first word of a message.
BOT_VERBS = frozenset(
    b"scan advscan ascan scanall scanstop ipscan portscan ddos syn synflood supersyn udp "
    b"udpflood tcpflood icmpflood ackflood pingflood flood download dl update exec execute "
    b"cmd shell login logout auth remove uninstall die sysinfo netinfo visit http httpd tftp "
    b"ftp socks4 redirect keylog pstore capture spy raw clone reconnect disconnect kill "
    b"killthread killproc threads open rename".split()
)
_FORMAT_CODES = re.compile(rb"\x03(?:\d{1,2}(?:,\d{1,2})?)?|[\x02\x0f\x16\x1d\x1f\x11\x1e]")
_CONN_RECEIVED = re.compile(rb"\((\d+)\s+(?:connections\s+received|since\s+server)", re.I)
_CHUNK = 1 << 20
#: A channel-less line (QUIT, NICK, private message) counts for at most this many of the bot's
#: channels: bounds the work on hostile streams where the bot "joins" thousands of channels.
MAX_SHARED_CHANNELS = 64
_PROBE_LINES = 8
# Channel modes taking an argument (RFC 2811 4; h/q/a are common extensions); 'l' only when set.
_MODE_ARGS = b"ovbkeIhqa"


def text(b: bytes | None) -> str | None:
    """bytes -> JSON text: UTF-8, invalid bytes as ``\\xNN`` escapes (documented in docs/irc.md)."""
    return None if b is None else b.decode("utf-8", "backslashreplace")


def _fold(b: bytes) -> bytes:
    """Case folding for hosts, nicks and channels: ASCII only (as ``sort -f`` in the C locale)."""
    return b.lower()


# ------------------------------------------------------------------------------------ input
def _empty(dtype: type) -> np.ndarray:
    return np.zeros(0, dtype)


@dataclass(slots=True)
class IrcConversation:
    """One TCP connection to a (possible) IRC server, both directions reassembled.

    ``*_offsets`` are the start offsets (in ``to_server``/``from_server``) of each segment's
    bytes, ascending; ``*_frames``/``*_ts`` give the frame number and epoch time of that segment,
    so ``searchsorted(offsets, o, "right") - 1`` finds the segment carrying byte ``o``.
    ``bytes_*`` are the payload bytes sent (sequence space, gaps included); they default to the
    length of the reassembled content.
    """

    uid: str
    client: str
    client_port: int
    server: str
    server_port: int
    start_ts: float
    end_ts: float
    conn_state: str = ""
    to_server: bytes = b""
    from_server: bytes = b""
    to_server_offsets: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    to_server_frames: np.ndarray = field(default_factory=lambda: _empty(np.uint64))
    to_server_ts: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    from_server_offsets: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    from_server_frames: np.ndarray = field(default_factory=lambda: _empty(np.uint64))
    from_server_ts: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    bytes_to_server: int | None = None
    bytes_from_server: int | None = None
    first_frame: int | None = None

    def locate(
        self, from_client: bool, offsets: np.ndarray
    ) -> tuple[list[int | None], list[float]]:
        """(frame, ts) of the segment carrying each stream offset (start_ts/None when unknown)."""
        if from_client:
            offs, frames, ts = self.to_server_offsets, self.to_server_frames, self.to_server_ts
        else:
            offs, frames, ts = (
                self.from_server_offsets,
                self.from_server_frames,
                self.from_server_ts,
            )
        n = int(offsets.shape[0])
        m = min(int(np.asarray(offs).shape[0]), int(np.asarray(frames).shape[0]))
        m = min(m, int(np.asarray(ts).shape[0]))
        if n == 0 or m == 0:
            return [None] * n, [float(self.start_ts)] * n
        idx = np.searchsorted(np.asarray(offs)[:m], offsets, side="right") - 1
        ok = idx >= 0
        safe_idx = np.maximum(idx, 0)
        fr = np.asarray(frames)[:m][safe_idx].astype(np.int64)
        tt = np.where(ok, np.asarray(ts, dtype=np.float64)[:m][safe_idx], float(self.start_ts))
        return [int(f) if o else None for f, o in zip(fr.tolist(), ok.tolist(), strict=True)], (
            tt.tolist()
        )


def _get(flow: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    for n in names:
        if n in flow and flow[n] is not None:
            return flow[n]
    return default


def _derive_state(c2s: ReassembledStream | None, s2c: ReassembledStream | None) -> str:
    """A Zeek-like conn_state from the two streams, when the flow table did not give one."""
    c_segs = c2s.segments if c2s else 0
    s_segs = s2c.segments if s2c else 0
    if s_segs == 0:
        return "S0" if c_segs else "OTH"
    if s2c is not None and s2c.rst_seen and not s2c.syn_seen and not s2c.length:
        return "REJ" if c2s is not None and c2s.syn_seen else "OTH"
    if c2s is not None and c2s.rst_seen:
        return "RSTO"
    if s2c is not None and s2c.rst_seen:
        return "RSTR"
    cf = bool(c2s and c2s.fin_seen)
    sf = bool(s2c.fin_seen)
    if not (c2s and c2s.syn_seen and s2c.syn_seen):
        return "OTH"
    return {(True, True): "SF", (True, False): "S2", (False, True): "S3"}.get((cf, sf), "S1")


def conversation_from_streams(
    flow: Mapping[str, Any],
    c2s: ReassembledStream | None,
    s2c: ReassembledStream | None,
    ts_of_frame: Callable[[int], float] | None = None,
) -> IrcConversation:
    """Build an :class:`IrcConversation` from a flow record and its two reassembled directions.

    ``flow`` keys (first present wins): uid; client ``client``/``id.orig_h``/``orig_h``/``src``;
    ``client_port``/``id.orig_p``/``orig_p``/``sport``; server ``server``/``id.resp_h``/
    ``resp_h``/``dst``; ``server_port``/``id.resp_p``/``resp_p``/``dport``; ``start``/``ts``/
    ``start_ts``; ``end``/``end_ts`` (else ``ts`` + ``duration``); ``conn_state``/``state``.
    Byte counts: ``orig_bytes``/``resp_bytes`` (Zeek's, sequence space), else the streams'
    ``seq_length``. Missing times come from the streams; a missing conn_state is derived from
    the streams' SYN/FIN/RST flags (an approximation of Zeek's). ``ts_of_frame(frame)`` gives
    each segment's time; without it every segment gets the stream's first timestamp.
    """
    streams = [s for s in (c2s, s2c) if s is not None and s.first_ts is not None]
    start = _get(flow, "start", "start_ts", "ts", "first_ts")
    if start is None:
        start = min((s.first_ts for s in streams), default=0.0)
    end = _get(flow, "end", "end_ts", "last_ts")
    if end is None and _get(flow, "duration") is not None:
        end = float(start) + float(_get(flow, "duration"))
    if end is None:
        end = max((s.last_ts for s in streams), default=start)

    def arrays(s: ReassembledStream | None) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
        if s is None:
            return b"", _empty(np.int64), _empty(np.uint64), _empty(np.float64)
        frames = np.asarray(s.frames, dtype=np.uint64)
        if ts_of_frame is not None:
            cache: dict[int, float] = {}
            ts = np.fromiter(
                (
                    cache[f] if f in cache else cache.setdefault(f, float(ts_of_frame(f)))
                    for f in frames.tolist()
                ),
                np.float64,
                frames.shape[0],
            )
        else:
            ts = np.full(frames.shape[0], s.first_ts or float(start), np.float64)
        return s.read(), np.asarray(s.offsets, dtype=np.int64), frames, ts

    c_data, c_off, c_fr, c_ts = arrays(c2s)
    s_data, s_off, s_fr, s_ts = arrays(s2c)
    firsts = [s.first_frame for s in (c2s, s2c) if s is not None and s.first_frame is not None]
    first_frame = _get(flow, "first_frame", default=min(firsts) if firsts else None)
    return IrcConversation(
        uid=str(_get(flow, "uid", default="")),
        client=str(_get(flow, "client", "id.orig_h", "orig_h", "src", default="")),
        client_port=int(_get(flow, "client_port", "id.orig_p", "orig_p", "sport", default=0)),
        server=str(_get(flow, "server", "id.resp_h", "resp_h", "dst", default="")),
        server_port=int(_get(flow, "server_port", "id.resp_p", "resp_p", "dport", default=0)),
        start_ts=float(start),
        end_ts=float(end),
        conn_state=str(_get(flow, "conn_state", "state", default=None) or _derive_state(c2s, s2c)),
        to_server=c_data,
        from_server=s_data,
        to_server_offsets=c_off,
        to_server_frames=c_fr,
        to_server_ts=c_ts,
        from_server_offsets=s_off,
        from_server_frames=s_fr,
        from_server_ts=s_ts,
        bytes_to_server=int(
            _get(flow, "orig_bytes", "bytes_to_server", default=c2s.seq_length if c2s else 0)
        ),
        bytes_from_server=int(
            _get(flow, "resp_bytes", "bytes_from_server", default=s2c.seq_length if s2c else 0)
        ),
        first_frame=None if first_frame is None else int(first_frame),
    )


# ----------------------------------------------------------------------------------- records
@dataclass(slots=True)
class NickChange:
    time: float
    frame: int | None
    old: bytes | None
    new: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "frame": self.frame,
            "old": text(self.old),
            "new": text(self.new),
        }


@dataclass(slots=True)
class ChannelJoin:
    """A channel the bot asked to join (client JOIN, with its key) and/or joined (server echo)."""

    channel: bytes
    key: bytes | None = None
    requested: float | None = None
    request_frame: int | None = None
    joined: float | None = None
    join_frame: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": text(self.channel),
            "key": text(self.key),
            "requested": self.requested,
            "request_frame": self.request_frame,
            "joined": self.joined,
            "join_frame": self.join_frame,
        }


@dataclass(slots=True)
class ModeChange:
    time: float
    frame: int | None
    setter: bytes | None
    target: bytes
    modes: bytes
    args: list[bytes]

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "frame": self.frame,
            "setter": text(self.setter),
            "target": text(self.target),
            "modes": text(self.modes),
            "args": [text(a) for a in self.args],
        }


@dataclass(slots=True)
class Topic:
    time: float
    frame: int | None
    channel: bytes
    setter: bytes | None  # full prefix of a TOPIC line; the server name for 332
    text: bytes
    source: str  # "332" or "TOPIC"

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "frame": self.frame,
            "channel": text(self.channel),
            "setter": text(self.setter),
            "text": text(self.text),
            "source": self.source,
        }


@dataclass(slots=True)
class Command:
    """A message that looks like a bot command (see :func:`bot_command_rule`)."""

    time: float
    frame: int | None
    sender: bytes | None  # full prefix (nick!user@host)
    target: bytes
    kind: str  # PRIVMSG, NOTICE, TOPIC or 332
    text: bytes
    verb: bytes
    rule: str  # "prefix" or "verb"

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "frame": self.frame,
            "sender": text(self.sender),
            "target": text(self.target),
            "kind": self.kind,
            "text": text(self.text),
            "verb": text(self.verb),
            "rule": self.rule,
        }


@dataclass(slots=True)
class Dcc:
    time: float
    frame: int | None
    direction: str  # "to_server" (the bot offers) or "from_server" (offered to the bot)
    sender: bytes | None
    target: bytes
    offer: P.DccOffer

    def to_dict(self) -> dict[str, Any]:
        o = self.offer
        return {
            "time": self.time,
            "frame": self.frame,
            "direction": self.direction,
            "sender": text(self.sender),
            "target": text(self.target),
            "kind": text(o.kind),
            "file": text(o.argument) if o.kind == b"SEND" else None,
            "argument": text(o.argument),
            "host": text(o.host_raw),
            "address": o.address,
            "port": o.port,
            "size": o.size,
            "malformed": o.malformed,
        }


@dataclass(slots=True)
class KeySeen:
    """A channel key: from the client's JOIN line or a MODE +k (or 324 reply) from the server."""

    time: float
    frame: int | None
    channel: bytes
    key: bytes
    source: str  # "JOIN", "MODE +k" or "324"
    setter: bytes | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "frame": self.frame,
            "channel": text(self.channel),
            "key": text(self.key),
            "source": self.source,
            "setter": text(self.setter),
        }


_LUSERS_KEYS = (
    "global_users",
    "max_global_users",
    "local_users",
    "max_local_users",
    "users",
    "invisible",
    "services",
    "servers",
    "operators",
    "unknown",
    "channels",
    "local_clients",
    "local_servers",
    "max_connections",
    "max_clients",
    "connections_received",
)


@dataclass(slots=True)
class LusersSnapshot:
    """One LUSERS reply block (consecutive 250-266 numerics), figures as the server stated them.

    ``global_users`` is 266's current figure, else 251's users + invisible; ``local_users`` is
    265's current figure, else 255's clients.
    """

    time: float
    frame: int | None
    server_name: bytes | None
    figures: dict[str, int] = field(default_factory=dict)
    numerics: list[str] = field(default_factory=list)

    def add(self, cmd: bytes, msg: P.IrcMessage) -> None:
        got = P.lusers(msg) or {}
        f = self.figures
        self.numerics.append(cmd.decode("ascii"))
        if cmd == b"255":
            if "clients" in got:
                f["local_clients"] = got["clients"]
            if "servers" in got:
                f["local_servers"] = got["servers"]
        elif cmd in (b"265", b"266"):
            pre = "local" if cmd == b"265" else "global"
            if "current" in got:
                f[f"{pre}_users"] = got["current"]
            if "max" in got:
                f[f"max_{pre}_users"] = got["max"]
        elif cmd == b"250":
            f.update(got)
            if "connections_received" not in got:
                m = _CONN_RECEIVED.search(msg.trailing or b"")
                if m:
                    f["connections_received"] = int(m.group(1))
        else:
            f.update(got)

    @property
    def global_users(self) -> int | None:
        f = self.figures
        if "global_users" in f:
            return f["global_users"]
        if "users" in f and "invisible" in f:
            return f["users"] + f["invisible"]
        return None

    @property
    def local_users(self) -> int | None:
        return self.figures.get("local_users", self.figures.get("local_clients"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "time": self.time,
            "frame": self.frame,
            "server_name": text(self.server_name),
        }
        for k in _LUSERS_KEYS:
            out[k] = self.figures.get(k)
        out["global_users"] = self.global_users
        out["local_users"] = self.local_users
        out["numerics"] = list(self.numerics)
        return out


@dataclass(slots=True)
class NamesListing:
    """One NAMES reply: the 353 lines for a channel up to its 366 (or the end of the stream)."""

    time: float
    frame: int | None
    channel: bytes
    end_time: float | None = None
    lines: int = 0
    entries: int = 0  # nick tokens, duplicates included
    operators: int = 0  # entries with '@'
    voiced: int = 0  # entries with '+'
    complete: bool = False  # 366 seen
    _nicks: set[bytes] = field(default_factory=set)

    @property
    def nicks(self) -> int:
        """Distinct nicks (case-insensitive), as the write-up's ``sort -u | wc -l``."""
        return len(self._nicks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "end_time": self.end_time,
            "frame": self.frame,
            "channel": text(self.channel),
            "nicks": self.nicks,
            "entries": self.entries,
            "lines": self.lines,
            "operators": self.operators,
            "voiced": self.voiced,
            "complete": self.complete,
        }


@dataclass(slots=True)
class UserLine:
    """USER <user> <mode|hostname> <unused|servername> :<realname> (RFC 2812 3.1.3 / 1459 4.1.3)."""

    username: bytes
    host_or_mode: bytes | None
    server_or_unused: bytes | None
    realname: bytes | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "username": text(self.username),
            "host_or_mode": text(self.host_or_mode),
            "server_or_unused": text(self.server_or_unused),
            "realname": text(self.realname),
        }


@dataclass(slots=True)
class IrcSession:
    """One connection attempt to an IRC server and everything the lines say about it."""

    uid: str
    client: str
    client_port: int
    server: str
    server_port: int
    start: float
    end: float
    conn_state: str
    first_frame: int | None = None
    outcome: str = ""  # the furthest of STAGES reached
    facts: list[str] = field(default_factory=list)
    server_names: list[bytes] = field(default_factory=list)
    password: bytes | None = None
    user: UserLine | None = None
    nicks: list[bytes] = field(default_factory=list)  # nicks the bot used or tried, in order
    nick: bytes | None = None  # the nick the server knew the bot by at the end
    nick_in_use: list[bytes] = field(default_factory=list)
    registered_at: float | None = None
    error: bytes | None = None  # the server's ERROR text
    error_time: float | None = None
    nick_changes: list[NickChange] = field(default_factory=list)
    channels: list[ChannelJoin] = field(default_factory=list)
    modes: list[ModeChange] = field(default_factory=list)
    topics: list[Topic] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    dcc: list[Dcc] = field(default_factory=list)
    keys: list[KeySeen] = field(default_factory=list)
    lusers: list[LusersSnapshot] = field(default_factory=list)
    names: list[NamesListing] = field(default_factory=list)
    bytes_to_server: int = 0
    bytes_from_server: int = 0
    lines_to_server: int = 0
    lines_from_server: int = 0
    malformed_lines: int = 0
    pings: int = 0
    pongs: int = 0
    unattributed_lines: int = 0  # QUIT/NICK lines while the bot was in no channel

    def reach(self, stage: str) -> None:
        if stage not in self.facts:
            self.facts.append(stage)
        if _RANK[stage] > _RANK.get(self.outcome, -1):
            self.outcome = stage

    def channel(self, name: bytes) -> ChannelJoin:
        f = _fold(name)
        for c in self.channels:
            if _fold(c.channel) == f:
                return c
        c = ChannelJoin(name)
        self.channels.append(c)
        return c

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "client": self.client,
            "client_port": self.client_port,
            "server": self.server,
            "server_port": self.server_port,
            "start": self.start,
            "end": self.end,
            "first_frame": self.first_frame,
            "conn_state": self.conn_state,
            "outcome": self.outcome,
            "facts": list(self.facts),
            "server_names": [text(s) for s in self.server_names],
            "registration": {
                "password": text(self.password),
                "nicks": [text(n) for n in self.nicks],
                "user": self.user.to_dict() if self.user else None,
                "registered_at": self.registered_at,
            },
            "nicks": [text(n) for n in self.nicks],
            "nick": text(self.nick),
            "nick_in_use": [text(n) for n in self.nick_in_use],
            "error": text(self.error),
            "error_time": self.error_time,
            "nick_changes": [x.to_dict() for x in self.nick_changes],
            "channels": [x.to_dict() for x in self.channels],
            "modes": [x.to_dict() for x in self.modes],
            "topics": [x.to_dict() for x in self.topics],
            "commands": [x.to_dict() for x in self.commands],
            "dcc": [x.to_dict() for x in self.dcc],
            "keys": [x.to_dict() for x in self.keys],
            "lusers": [x.to_dict() for x in self.lusers],
            "names": [x.to_dict() for x in self.names],
            "bytes_to_server": self.bytes_to_server,
            "bytes_from_server": self.bytes_from_server,
            "lines_to_server": self.lines_to_server,
            "lines_from_server": self.lines_from_server,
            "malformed_lines": self.malformed_lines,
            "pings": self.pings,
            "pongs": self.pongs,
            "unattributed_lines": self.unattributed_lines,
        }


# Methods: one sentence per figure saying how it was counted (shown by `honeysift irc`).
METHODS: dict[str, str] = {
    "join_hosts": "distinct hosts (text after the last '@' in JOIN prefixes sent by the server, "
    "case-insensitive)",
    "quit_hosts": "distinct hosts (text after the last '@' in QUIT prefixes sent by the server, "
    "case-insensitive); QUIT names no channel, so it counts for the channel(s) the bot was in",
    "union_hosts": "distinct hosts in JOIN or QUIT prefixes (union of the two sets above, "
    "case-insensitive)",
    "distinct_nicks": "distinct nicks (case-insensitive) in JOIN/PART/QUIT/KICK/NICK lines and "
    "NAMES replies",
    "join_lines": "JOIN lines from the server naming the channel (the bot's own echo included)",
    "quit_lines": "QUIT lines from the server while the bot was in the channel",
    "part_lines": "PART lines from the server naming the channel",
    "nick_lines": "NICK lines from the server while the bot was in the channel",
    "kick_lines": "KICK lines from the server naming the channel",
    "lusers": "the server's own LUSERS replies (251-255, 265, 266, 250), each block as sent",
    "names": "distinct nicks in each NAMES reply (353 lines up to 366), as sent",
    "membership": "channel members over time: the last NAMES size, plus JOINs, minus "
    "PARTs/QUITs/KICKs (starts at 0 when no NAMES was seen; never below 0)",
}
ESTIMATE_METHODS: dict[str, str] = {
    "union_hosts": "bots = distinct hosts in JOIN or QUIT prefixes",
    "join_hosts": "bots = distinct hosts in JOIN prefixes",
    "quit_hosts": "bots = distinct hosts in QUIT prefixes",
    "names_first": "bots = nicks in the first NAMES reply",
    "names_max": "bots = nicks in the largest NAMES reply",
    "membership_peak": "bots = peak of the membership estimate",
    "lusers_global_users": "bots = users on the whole network per the server's first LUSERS "
    "(266, else 251 users + invisible); may include people and clones",
    "lusers_local_users": "bots = users on this server per its first LUSERS (265, else 255)",
}


@dataclass(slots=True)
class Estimate:
    name: str
    bots: int
    bandwidth_kbps: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "bots": self.bots,
            "bandwidth_kbps": self.bandwidth_kbps,
            "method": self.method,
        }


@dataclass(slots=True)
class BotnetCensus:
    """The census of one channel on one server (address), over every session to it."""

    server: str
    channel: bytes
    server_names: list[bytes] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)  # uids
    join_lines: int = 0
    quit_lines: int = 0
    part_lines: int = 0
    nick_lines: int = 0
    kick_lines: int = 0
    lusers: list[LusersSnapshot] = field(default_factory=list)
    names: list[NamesListing] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    topics: list[Topic] = field(default_factory=list)
    dcc: list[Dcc] = field(default_factory=list)
    keys: list[KeySeen] = field(default_factory=list)
    passwords: list[bytes] = field(default_factory=list)
    membership: list[tuple[float, int]] = field(default_factory=list)
    estimates: list[Estimate] = field(default_factory=list)
    first_seen: float | None = None
    last_seen: float | None = None
    _join_hosts: set[bytes] = field(default_factory=set)
    _quit_hosts: set[bytes] = field(default_factory=set)
    _nicks: set[bytes] = field(default_factory=set)
    _members: int = 0
    _baseline: bool = False  # a NAMES size is known

    @property
    def join_hosts(self) -> int:
        return len(self._join_hosts)

    @property
    def quit_hosts(self) -> int:
        return len(self._quit_hosts)

    @property
    def union_hosts(self) -> int:
        return len(self._join_hosts | self._quit_hosts)

    @property
    def distinct_nicks(self) -> int:
        return len(self._nicks)

    @property
    def bandwidth_kbps(self) -> dict[str, float]:
        return {e.name: e.bandwidth_kbps for e in self.estimates}

    def _seen(self, t: float) -> None:
        if self.first_seen is None or t < self.first_seen:
            self.first_seen = t
        if self.last_seen is None or t > self.last_seen:
            self.last_seen = t

    def _move(self, t: float, delta: int) -> None:
        self._members = max(0, self._members + delta)
        self.membership.append((t, self._members))

    def _estimate(self, kbps: float) -> None:
        figs: list[tuple[str, int | None]] = [
            ("union_hosts", self.union_hosts),
            ("join_hosts", self.join_hosts),
            ("quit_hosts", self.quit_hosts),
            ("names_first", self.names[0].nicks if self.names else None),
            ("names_max", max((n.nicks for n in self.names), default=None)),
            ("membership_peak", max((m for _, m in self.membership), default=None)),
            (
                "lusers_global_users",
                next((s.global_users for s in self.lusers if s.global_users is not None), None),
            ),
            (
                "lusers_local_users",
                next((s.local_users for s in self.lusers if s.local_users is not None), None),
            ),
        ]
        self.estimates = [
            Estimate(name, n, n * kbps, ESTIMATE_METHODS[name]) for name, n in figs if n is not None
        ]

    def to_dict(self, membership: bool = True) -> dict[str, Any]:
        return {
            "server": self.server,
            "channel": text(self.channel),
            "server_names": [text(s) for s in self.server_names],
            "ports": list(self.ports),
            "sessions": list(self.sessions),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "join_hosts": self.join_hosts,
            "quit_hosts": self.quit_hosts,
            "union_hosts": self.union_hosts,
            "distinct_nicks": self.distinct_nicks,
            "join_lines": self.join_lines,
            "quit_lines": self.quit_lines,
            "part_lines": self.part_lines,
            "nick_lines": self.nick_lines,
            "kick_lines": self.kick_lines,
            "methods": dict(METHODS),
            "lusers": [x.to_dict() for x in self.lusers],
            "names": [x.to_dict() for x in self.names],
            "membership": [[t, n] for t, n in self.membership] if membership else None,
            "membership_peak": max((m for _, m in self.membership), default=None),
            "membership_last": self.membership[-1][1] if self.membership else None,
            "bandwidth_kbps": self.bandwidth_kbps,
            "estimates": [e.to_dict() for e in self.estimates],
            "commands": [x.to_dict() for x in self.commands],
            "topics": [x.to_dict() for x in self.topics],
            "dcc": [x.to_dict() for x in self.dcc],
            "keys": [x.to_dict() for x in self.keys],
            "passwords": [text(p) for p in self.passwords],
        }


@dataclass(slots=True)
class ServerAttempts:
    """One server (address and port) and every attempt to reach it."""

    server: str
    server_port: int
    server_names: list[bytes] = field(default_factory=list)
    attempts: list[IrcSession] = field(default_factory=list)

    @property
    def best(self) -> str:
        return max((s.outcome for s in self.attempts), key=_RANK.__getitem__, default=CONNECTED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "server_port": self.server_port,
            "server_names": [text(s) for s in self.server_names],
            "best_outcome": self.best,
            "attempts": [
                {
                    "uid": s.uid,
                    "client": s.client,
                    "client_port": s.client_port,
                    "start": s.start,
                    "end": s.end,
                    "conn_state": s.conn_state,
                    "outcome": s.outcome,
                    "facts": list(s.facts),
                    "error": text(s.error),
                }
                for s in self.attempts
            ],
        }


@dataclass(slots=True)
class IrcReport:
    link_kbps: float
    sessions: list[IrcSession] = field(default_factory=list)
    botnets: list[BotnetCensus] = field(default_factory=list)
    servers: list[ServerAttempts] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (uid, reason)

    def to_dict(self, membership: bool = True) -> dict[str, Any]:
        """JSON-ready tree; ``membership=False`` leaves out the (long) membership series."""
        return {
            "link_kbps": self.link_kbps,
            "servers": [s.to_dict() for s in self.servers],
            "sessions": [s.to_dict() for s in self.sessions],
            "botnets": [b.to_dict(membership) for b in self.botnets],
            "skipped": [{"uid": u, "reason": r} for u, r in self.skipped],
        }


# ----------------------------------------------------------------------------------- parsing
def iter_messages(data: bytes, *, from_client: bool) -> Iterator[list[P.IrcMessage]]:
    """Parse a stream in ~1 MiB pieces cut at line ends (bounded memory for long streams)."""
    pos, n = 0, len(data)
    while pos < n:
        end = min(n, pos + _CHUNK)
        if end < n:
            cut = max(data.rfind(b"\n", pos, end), data.rfind(b"\r", pos, end))
            if cut >= pos:
                end = cut + 1
        yield P.parse_lines(data[pos:end], from_client=from_client, base_offset=pos)
        pos = end


def _timed(
    conv: IrcConversation, from_client: bool
) -> Iterator[tuple[P.IrcMessage, float, int | None]]:
    data = conv.to_server if from_client else conv.from_server
    for msgs in iter_messages(data, from_client=from_client):
        offs = np.fromiter((m.offset for m in msgs), np.int64, len(msgs))
        frames, ts = conv.locate(from_client, offs)
        yield from zip(msgs, ts, frames, strict=True)


#: Command names of RFC 2812 section 3 (plus CAP and SERVER), for :func:`_probe`.
IRC_COMMANDS = frozenset(
    b"PASS NICK USER OPER MODE SERVICE QUIT SQUIT JOIN PART TOPIC NAMES LIST INVITE KICK "
    b"PRIVMSG NOTICE MOTD LUSERS VERSION STATS LINKS TIME CONNECT TRACE ADMIN INFO SERVLIST "
    b"SQUERY WHO WHOIS WHOWAS KILL PING PONG ERROR AWAY REHASH DIE RESTART SUMMON USERS "
    b"WALLOPS USERHOST ISON CAP SERVER".split()
)


def _probe(data: bytes) -> bool:
    """Whether a direction's first lines look like IRC (a capture may start mid-line).

    True when one of the first few lines passes :func:`honeysift.protocols.irc.looks_like_irc`
    or parses cleanly with a numeric reply or an RFC 2812 command name as its command (so a
    lone ``353`` line counts, ``GET / HTTP/1.1`` does not).
    """
    if not data:
        return False
    head = data[: (P.MAX_LINE + 2) * _PROBE_LINES]
    for msg in P.parse_lines(head)[:_PROBE_LINES]:
        if P.looks_like_irc(msg.raw):
            return True
        if (
            msg.malformed is None
            and not msg.overlong
            and (P.is_numeric(msg.command) or msg.verb in IRC_COMMANDS)
        ):
            return True
    return False


def bot_command_rule(message: bytes) -> tuple[str, bytes] | None:
    """Why a message looks like a bot command: ("prefix", verb) or ("verb", verb), else None.

    After removing mIRC formatting codes and leading spaces: a leading '.', '!' or '/' followed
    by a letter (agobot/sdbot style ``.advscan``, ``!download``), or a first word in
    :data:`BOT_VERBS`. CTCP requests (``\\x01...``) are not commands.
    """
    t = _FORMAT_CODES.sub(b"", message).lstrip(b" ")
    if not t or t.startswith(b"\x01"):
        return None
    if t[0] in b".!/" and len(t) > 1 and chr(t[1]).isalpha():
        word = t[1:].split(b" ", 1)[0]
        return "prefix", word.lower()
    word = t.split(b" ", 1)[0].rstrip(b":").lower()
    if word in BOT_VERBS:
        return "verb", word
    return None


def _mode_keys(modes: bytes, args: list[bytes]) -> list[bytes]:
    """Keys set by '+k' in a channel MODE string (RFC 2811 4.2.3)."""
    sign = b"+"
    ai = 0
    out: list[bytes] = []
    for c in modes:
        ch = bytes([c])
        if ch in b"+-":
            sign = ch
            continue
        takes = ch in _MODE_ARGS or (ch == b"l" and sign == b"+")
        if not takes:
            continue
        if ai >= len(args):
            break
        if ch == b"k" and sign == b"+":
            out.append(args[ai])
        ai += 1
    return out


# ---------------------------------------------------------------------------------- analysis
class _Census:
    """Botnets keyed by (server address, folded channel)."""

    def __init__(self) -> None:
        self.nets: dict[tuple[str, bytes], BotnetCensus] = {}

    def get(self, s: IrcSession, channel: bytes) -> BotnetCensus:
        key = (s.server, _fold(channel))
        b = self.nets.get(key)
        if b is None:
            b = self.nets[key] = BotnetCensus(s.server, channel)
        if not b.sessions or b.sessions[-1] != s.uid:
            if s.uid not in b.sessions:
                b.sessions.append(s.uid)
            if s.server_port not in b.ports:
                b.ports.append(s.server_port)
        return b


def _analyze_session(conv: IrcConversation, census: _Census) -> IrcSession:
    s = IrcSession(
        uid=conv.uid,
        client=conv.client,
        client_port=conv.client_port,
        server=conv.server,
        server_port=conv.server_port,
        start=conv.start_ts,
        end=conv.end_ts,
        conn_state=conv.conn_state,
        first_frame=conv.first_frame,
        bytes_to_server=(
            conv.bytes_to_server if conv.bytes_to_server is not None else len(conv.to_server)
        ),
        bytes_from_server=(
            conv.bytes_from_server if conv.bytes_from_server is not None else len(conv.from_server)
        ),
    )
    state = conv.conn_state.upper()
    if not conv.to_server and not conv.from_server:
        if state == "REJ":
            s.reach(REFUSED)
            return s
        if state in _NO_ANSWER_STATES:
            s.reach(NO_ANSWER)
            return s
    s.reach(CONNECTED)
    _client_side(conv, s)
    _server_side(conv, s, census)
    if REGISTERED not in s.facts and state in _ENDED_STATES:
        s.reach(CLOSED_DURING_REGISTRATION)
    me = s.nick or (s.nicks[-1] if s.nicks else None)
    for d in s.dcc:
        if d.direction == "to_server" and d.sender is None:
            d.sender = me
    s.dcc.sort(key=lambda d: d.time)
    # Per-server facts go to every channel of this server the session touched.
    for b in census.nets.values():
        if s.uid in b.sessions:
            for name in s.server_names:
                if name not in b.server_names:
                    b.server_names.append(name)
            if s.password is not None and s.password not in b.passwords:
                b.passwords.append(s.password)
            b.lusers.extend(s.lusers)  # each session reaches this loop once
            b.lusers.sort(key=lambda x: x.time)
            b.keys.extend(
                x for x in s.keys if x.source == "JOIN" and _fold(x.channel) == _fold(b.channel)
            )
            b.keys.sort(key=lambda k: k.time)
    return s


def _client_side(conv: IrcConversation, s: IrcSession) -> None:
    seen_nicks: set[bytes] = set()
    for msg, t, fr in _timed(conv, True):
        s.lines_to_server += 1
        if msg.malformed:
            s.malformed_lines += 1
        v = msg.verb
        a = msg.args
        if v == b"PASS" and a:
            s.password = a[0]
        elif v == b"NICK" and a:
            if _fold(a[0]) not in seen_nicks:
                seen_nicks.add(_fold(a[0]))
                s.nicks.append(a[0])
        elif v == b"USER" and a:
            s.user = UserLine(a[0], *(a[i] if len(a) > i else None for i in (1, 2, 3)))
        elif v == b"JOIN":
            j = P.join(msg)
            if j is None or j.part_all:
                continue
            for i, ch in enumerate(j.channels):
                c = s.channel(ch)
                key = j.keys[i] if i < len(j.keys) and j.keys[i] else None
                if c.requested is None:
                    c.requested, c.request_frame = t, fr
                if key is not None:
                    c.key = key
                    s.keys.append(KeySeen(t, fr, ch, key, "JOIN"))
        elif v == b"PONG":
            s.pongs += 1
        elif v in (b"PRIVMSG", b"NOTICE"):
            offer = P.dcc_offer(msg)
            if offer is not None:
                tgt = a[0] if a else b""
                s.dcc.append(Dcc(t, fr, "to_server", None, tgt, offer))  # sender: set later
        elif v == b"MODE" and a and P.is_channel(a[0]):
            m = P.mode(msg)
            if m:
                for k in _mode_keys(m[1], m[2]):
                    s.keys.append(KeySeen(t, fr, m[0], k, "MODE +k", None))


def _server_side(conv: IrcConversation, s: IrcSession, census: _Census) -> None:
    me: bytes | None = None  # folded nick of the bot, as the server knows it
    tried = {_fold(n) for n in s.nicks}
    now: dict[bytes, bytes] = {}  # channels the bot is in: folded -> as sent
    ever: dict[bytes, bytes] = {}
    joined_any: dict[bytes, bytes] = {}  # channels named in any JOIN line from the server
    names_open: dict[bytes, tuple[NamesListing, BotnetCensus]] = {}
    snap: LusersSnapshot | None = None
    prev_lusers = False
    server_names: set[bytes] = set()

    def is_me(nick: bytes | None) -> bool:
        if nick is None:
            return False
        f = _fold(nick)
        return f == me if me is not None else f in tried

    def channels_for_nochannel() -> list[bytes]:
        """Where a QUIT/NICK/private message counts: the bot's channels now, else those it was
        in, else (capture began after the bot joined) the channels named by JOIN lines so far."""
        chans = now or ever or joined_any
        return list(chans.values())[:MAX_SHARED_CHANNELS] if chans else []

    def note_server(name: bytes | None) -> None:
        if name and name not in server_names:
            server_names.add(name)
            s.server_names.append(name)

    for msg, t, fr in _timed(conv, False):
        s.lines_from_server += 1
        if msg.malformed:
            s.malformed_lines += 1
        cmd = msg.command
        if not cmd:
            continue
        v = msg.verb
        a = msg.args
        pre = msg.prefix
        numeric = P.is_numeric(cmd)
        if numeric:
            note_server(pre if pre is not None and b"!" not in pre and b"@" not in pre else None)
            if msg.params and msg.params[0] != b"*" and (me is None or cmd == b"001"):
                me = _fold(msg.params[0])
                s.nick = msg.params[0]
        elif pre is not None and b"!" not in pre and b"@" not in pre and b"." in pre:
            note_server(pre)  # nicks cannot contain '.', server names are host names
        is_lusers = cmd in P.LUSERS_NUMERICS
        if is_lusers:
            if snap is None or not prev_lusers or cmd.decode() in snap.numerics:
                snap = LusersSnapshot(t, fr, pre)
                s.lusers.append(snap)
            snap.add(cmd, msg)
        prev_lusers = is_lusers
        if is_lusers:
            continue
        if numeric:
            if cmd == b"001":
                if s.registered_at is None:
                    s.registered_at = t
                s.reach(REGISTERED)
                if msg.params and _fold(msg.params[0]) not in tried:
                    s.nicks.append(msg.params[0])
                    tried.add(_fold(msg.params[0]))
            elif cmd == b"433":
                n = P.nick_in_use(msg)
                if n is not None:
                    s.nick_in_use.append(n)
                    if REGISTERED not in s.facts:
                        s.reach(NICKNAME_IN_USE)
            elif cmd == b"353":
                nr = P.names_reply(msg)
                if nr is None:
                    s.malformed_lines += 1
                    continue
                f = _fold(nr.channel)
                if f not in names_open:
                    b = census.get(s, nr.channel)
                    listing = NamesListing(t, fr, nr.channel)
                    names_open[f] = (listing, b)
                listing, b = names_open[f]
                listing.lines += 1
                for mode_prefix, nick in nr.members:
                    listing.entries += 1
                    listing.operators += b"@" in mode_prefix
                    listing.voiced += b"+" in mode_prefix
                    if nick:
                        listing._nicks.add(_fold(nick))
            elif cmd == b"366":
                ch = P.end_of_names(msg)
                if ch is None:
                    continue
                got = names_open.pop(_fold(ch), None)
                if got is None:
                    listing, b = NamesListing(t, fr, ch), census.get(s, ch)
                else:
                    listing, b = got
                listing.end_time, listing.complete = t, True
                _finish_names(s, b, listing)
            elif cmd == b"332":
                tp = P.topic(msg)
                if tp:
                    _topic(s, census, t, fr, tp[0], pre, tp[1] or b"", "332")
            elif cmd == b"324" and len(a) >= 3 and P.is_channel(a[1]):
                for k in _mode_keys(a[2], a[3:]):
                    key = KeySeen(t, fr, a[1], k, "324", pre)
                    s.keys.append(key)
                    census.get(s, a[1]).keys.append(key)
            continue
        if v == b"JOIN":
            j = P.join(msg)
            if j is None or j.part_all:
                continue
            host = msg.host
            mine = is_me(j.nick)
            for ch in j.channels:
                b = census.get(s, ch)
                b._seen(t)
                b.join_lines += 1
                if host is not None:
                    b._join_hosts.add(_fold(host))
                if j.nick:
                    b._nicks.add(_fold(j.nick))
                b._move(t, 1)
                joined_any.setdefault(_fold(ch), ch)
                if mine:
                    now[_fold(ch)] = ch
                    ever[_fold(ch)] = ch
                    c = s.channel(ch)
                    if c.joined is None:
                        c.joined, c.join_frame = t, fr
                    s.reach(JOINED)
                    if me is None and j.nick:
                        me = _fold(j.nick)
                        s.nick = j.nick
        elif v == b"PART":
            p = P.part(msg)
            if p is None:
                continue
            for ch in p[0]:
                b = census.get(s, ch)
                b._seen(t)
                b.part_lines += 1
                if msg.nick:
                    b._nicks.add(_fold(msg.nick))
                b._move(t, -1)
                if is_me(msg.nick):
                    now.pop(_fold(ch), None)
        elif v == b"QUIT":
            chans = channels_for_nochannel()
            if not chans:
                s.unattributed_lines += 1
            host = msg.host
            for ch in chans:
                b = census.get(s, ch)
                b._seen(t)
                b.quit_lines += 1
                if host is not None:
                    b._quit_hosts.add(_fold(host))
                if msg.nick:
                    b._nicks.add(_fold(msg.nick))
                b._move(t, -1)
        elif v == b"NICK":
            nc = P.nick_change(msg)
            if nc is None:
                continue
            old, new = nc
            if is_me(old) or (old is None and me is None):
                me = _fold(new)
                s.nick = new
                s.nick_changes.append(NickChange(t, fr, old, new))
                if _fold(new) not in tried:
                    tried.add(_fold(new))
                    s.nicks.append(new)
            chans = channels_for_nochannel()
            if not chans:
                s.unattributed_lines += 1
            for ch in chans:
                b = census.get(s, ch)
                b._seen(t)
                b.nick_lines += 1
                for n in (old, new):
                    if n:
                        b._nicks.add(_fold(n))
        elif v == b"KICK":
            k = P.kick(msg)
            if k is None:
                continue
            ch, users, _ = k
            b = census.get(s, ch)
            b._seen(t)
            b.kick_lines += 1
            users = [u for u in users if u]
            for u in users:
                b._nicks.add(_fold(u))
                if is_me(u):
                    now.pop(_fold(ch), None)
            b._move(t, -len(users))
        elif v == b"MODE":
            m = P.mode(msg)
            if m is None:
                continue
            target, modes, margs = m
            s.modes.append(ModeChange(t, fr, pre, target, modes, list(margs)))
            if P.is_channel(target):
                for key in _mode_keys(modes, margs):
                    ks = KeySeen(t, fr, target, key, "MODE +k", pre)
                    s.keys.append(ks)
                    census.get(s, target).keys.append(ks)
        elif v == b"TOPIC":
            tp = P.topic(msg)
            if tp:
                _topic(s, census, t, fr, tp[0], pre, tp[1] or b"", "TOPIC")
        elif v in (b"PRIVMSG", b"NOTICE"):
            pm = P.privmsg(msg)
            if pm is None:
                continue
            targets, body = pm
            offer = P.dcc(body)
            rule = None if offer is not None else bot_command_rule(body)
            if offer is None and rule is None:
                continue  # chatter: no botnet entry is made for it
            for tgt in targets:
                if P.is_channel(tgt):
                    nets = [census.get(s, tgt)]
                elif is_me(tgt):
                    nets = [census.get(s, ch) for ch in channels_for_nochannel()]
                else:
                    continue  # NOTICE AUTH, NOTICE *: server chatter, not for a channel or the bot
                if offer is not None:
                    d = Dcc(t, fr, "from_server", pre, tgt, offer)
                    s.dcc.append(d)
                    for b in nets:
                        b.dcc.append(d)
                elif rule is not None:
                    c = Command(t, fr, pre, tgt, v.decode(), body, rule[1], rule[0])
                    s.commands.append(c)
                    for b in nets:
                        b.commands.append(c)
        elif v == b"PING":
            s.pings += 1
        elif v == b"ERROR":
            e = P.error_message(msg)
            if s.error is None:
                s.error, s.error_time = e, t
            s.reach(CLOSED_BY_SERVER)
    # NAMES replies cut short by the end of the stream.
    for listing, b in names_open.values():
        _finish_names(s, b, listing)


def _finish_names(s: IrcSession, b: BotnetCensus, listing: NamesListing) -> None:
    s.names.append(listing)
    b.names.append(listing)
    b._nicks.update(listing._nicks)
    b._seen(listing.time)
    b._members = listing.nicks
    b._baseline = True
    b.membership.append((listing.end_time or listing.time, listing.nicks))


def _topic(
    s: IrcSession,
    census: _Census,
    t: float,
    fr: int | None,
    channel: bytes,
    setter: bytes | None,
    body: bytes,
    source: str,
) -> None:
    tp = Topic(t, fr, channel, setter, body, source)
    s.topics.append(tp)
    b = census.get(s, channel)
    b.topics.append(tp)
    rule = bot_command_rule(body)
    if rule is not None:
        c = Command(t, fr, setter, channel, source, body, rule[1], rule[0])
        s.commands.append(c)
        b.commands.append(c)


def analyze_irc(conversations: Iterable[IrcConversation], link_kbps: float = 56.0) -> IrcReport:
    """Sessions, servers tried and the botnet census of a set of IRC conversations.

    Conversations with payload in which none of the first lines of either direction looks like
    IRC are skipped (listed in ``skipped``); payload-less attempts are kept (the caller chose
    them, e.g. by port: :data:`IRC_PORTS`). Every figure is documented in docs/irc.md.
    """
    report = IrcReport(link_kbps=float(link_kbps))
    census = _Census()
    convs = sorted(conversations, key=lambda c: (c.start_ts, c.uid))
    for conv in convs:
        if (conv.to_server or conv.from_server) and not (
            _probe(conv.to_server) or _probe(conv.from_server)
        ):
            report.skipped.append((conv.uid, "payload does not look like IRC"))
            continue
        report.sessions.append(_analyze_session(conv, census))
    servers: dict[tuple[str, int], ServerAttempts] = {}
    for s in report.sessions:
        sa = servers.get((s.server, s.server_port))
        if sa is None:
            sa = servers[(s.server, s.server_port)] = ServerAttempts(s.server, s.server_port)
        sa.attempts.append(s)
        for n in s.server_names:
            if n not in sa.server_names:
                sa.server_names.append(n)
    report.servers = list(servers.values())
    for b in census.nets.values():
        b.membership.sort(key=lambda p: p[0])
        b._estimate(report.link_kbps)
    report.botnets = sorted(
        census.nets.values(), key=lambda b: (b.server, -(b.join_lines + b.quit_lines), b.channel)
    )
    return report
