"""FTP control connection (RFC 959, RFC 2428 for EPRT/EPSV): commands, replies, data channels.

Why: a honeypot's FTP session is how attackers fetch their tools; the control connection says
which data connection (address, port) carries which file and in which direction, so the stream
holding the payload can be found and carved. Fields are kept as ``bytes``; ``fields()`` decodes
with UTF-8 ``surrogateescape`` (lossless), tree text goes through ``safe_bytes``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from honeysift.protocols.base import Node
from honeysift.safe_text import safe_bytes

MAX_LINE = 8192  # RFC 959 sets no limit; longer lines are kept but flagged
# Commands that open a data connection, and which way the data flows (RFC 959 4.1.3, RFC 3659).
TRANSFER = {
    b"RETR": "download",
    b"STOR": "upload",
    b"STOU": "upload",
    b"APPE": "upload",
    b"LIST": "listing",
    b"NLST": "listing",
    b"MLSD": "listing",
}
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\n|\r|\Z)")
_H6 = re.compile(rb"(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})")
_REPLY = re.compile(rb"([1-5][0-9][0-9])([ -]|\Z)")


def _s(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", "surrogateescape")


def _lines(data: bytes) -> Iterator[tuple[int, bytes, bool]]:
    """(offset, line without terminator, terminated) for each non-empty line; linear."""
    pos, n = 0, len(data)
    while pos < n:
        m = _LINE.match(data, pos)
        assert m is not None
        chunk = m.group(0)
        body = chunk.rstrip(b"\r\n")
        if body:
            yield pos, body, len(body) != len(chunk)
        if m.end() == pos:
            break
        pos = m.end()


@dataclass(slots=True)
class FtpCommand:
    """One client command line: ``command`` (upper-cased) and ``arg`` (rest of the line)."""

    offset: int
    raw: bytes
    command: bytes
    arg: bytes | None
    partial: bool = False
    malformed: str | None = None

    def fields(self) -> dict[str, list]:
        return self.tree().fields()

    def tree(self) -> Node:
        root = Node(f"Request: {safe_bytes(self.raw)}", "ftp.request", True)
        root.add(
            f"Request command: {safe_bytes(self.command)}", "ftp.request.command", _s(self.command)
        )
        if self.arg is not None:
            root.add(f"Request arg: {safe_bytes(self.arg)}", "ftp.request.arg", _s(self.arg))
        ep = self.endpoint()
        if ep is not None and self.command == b"PORT":
            root.add(f"Active IP address: {ep[0]}", "ftp.active.cip", ep[0])
            root.add(f"Active port: {ep[1]}", "ftp.active.port", ep[1])
        elif ep is not None and self.command == b"EPRT":
            fname = "ftp.eprt.ipv6" if ep[0] and ":" in ep[0] else "ftp.eprt.ip"
            root.add(f"Extended active IP address: {ep[0]}", fname, ep[0])
            root.add(f"Extended active port: {ep[1]}", "ftp.eprt.port", ep[1])
        if self.partial:
            root.add("[Line not terminated]")
        if self.malformed:
            root.add(f"[Malformed: {self.malformed}]")
        return root

    def endpoint(self) -> tuple[str | None, int] | None:
        """(address, port) announced by PORT / EPRT, else None."""
        if self.command == b"PORT" and self.arg:
            return parse_host_port(self.arg)
        if self.command == b"EPRT" and self.arg:
            return parse_eprt(self.arg)
        return None


@dataclass(slots=True)
class FtpReply:
    """A reply, possibly multi-line (RFC 959 4.2: ``123-first`` ... ``123 last``)."""

    offset: int
    code: int | None
    text: bytes  # text of the first line after the code and separator
    lines: list[bytes] = field(default_factory=list)  # every raw line of the reply
    partial: bool = False  # stream ended before the closing line
    malformed: str | None = None

    @property
    def multiline(self) -> bool:
        return len(self.lines) > 1

    @property
    def is_preliminary(self) -> bool:
        return self.code is not None and 100 <= self.code < 200

    @property
    def full_text(self) -> bytes:
        """All lines' text joined with LF (codes of continuation/closing lines stripped)."""
        out = []
        for i, ln in enumerate(self.lines):
            m = _REPLY.match(ln)
            out.append(ln[4:] if m and (i == 0 or i == len(self.lines) - 1) else ln)
        return b"\n".join(out)

    def fields(self) -> dict[str, list]:
        return self.tree().fields()

    def tree(self) -> Node:
        first = self.lines[0] if self.lines else b""
        root = Node(f"Response: {safe_bytes(first)}", "ftp.response", True)
        if self.code is not None:
            root.add(f"Response code: {self.code}", "ftp.response.code", self.code)
        root.add(f"Response arg: {safe_bytes(self.text)}", "ftp.response.arg", _s(self.text))
        for ln in self.lines[1:]:
            root.add(safe_bytes(ln))
        ep = self.endpoint()
        if ep is not None and self.code == 227:
            root.add(f"Passive IP address: {ep[0]}", "ftp.passive.ip", ep[0])
            root.add(f"Passive port: {ep[1]}", "ftp.passive.port", ep[1])
        elif ep is not None and self.code == 229:
            root.add(f"Extended passive port: {ep[1]}", "ftp.epsv.port", ep[1])
        if self.partial:
            root.add("[Reply not terminated]")
        if self.malformed:
            root.add(f"[Malformed: {self.malformed}]")
        return root

    def endpoint(self) -> tuple[str | None, int] | None:
        """(address, port) offered by 227 (PASV) or 229 (EPSV: address None = the server's)."""
        if self.code == 227:
            return parse_host_port(self.text)
        if self.code == 229:
            m = re.search(rb"\((.)\1\1(\d{1,5})\1\)", self.text)
            if m and int(m.group(2)) <= 65535:
                return None, int(m.group(2))
        return None


def parse_host_port(text: bytes) -> tuple[str, int] | None:
    """h1,h2,h3,h4,p1,p2 (PORT argument or inside a 227 reply, RFC 1123 4.1.2.6) -> (ip, port)."""
    m = _H6.search(text)
    if not m:
        return None
    v = [int(x) for x in m.groups()]
    if any(x > 255 for x in v):
        return None
    return ".".join(map(str, v[:4])), v[4] * 256 + v[5]


def parse_eprt(arg: bytes) -> tuple[str, int] | None:
    """EPRT |af|addr|port| (RFC 2428 2): any printable delimiter, af 1 = IPv4, 2 = IPv6."""
    if len(arg) < 2:
        return None
    parts = arg.split(arg[:1])
    if len(parts) != 5 or parts[0] or parts[4] or not parts[3].isdigit():
        return None
    try:
        addr = ipaddress.ip_address(parts[2].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    if (parts[1], addr.version) not in ((b"1", 4), (b"2", 6)) or int(parts[3]) > 65535:
        return None
    return str(addr), int(parts[3])


def parse_commands(data: bytes, *, base_offset: int = 0) -> list[FtpCommand]:
    """Client-to-server bytes -> commands (RFC 959 5.3: command [SP argument] CRLF)."""
    out = []
    for pos, line, term in _lines(data):
        cmd, sp, arg = line.partition(b" ")
        c = FtpCommand(base_offset + pos, line, cmd.upper(), arg if sp else None, not term)
        if not cmd.isalpha() or len(cmd) > 8:
            c.malformed = f"invalid command at byte {base_offset + pos}"
        elif len(line) > MAX_LINE:
            c.malformed = f"line over {MAX_LINE} bytes at byte {base_offset + pos}"
        out.append(c)
    return out


def parse_replies(data: bytes, *, base_offset: int = 0) -> list[FtpReply]:
    """Server-to-client bytes -> replies; multi-line replies are gathered into one record.

    A line that is not inside a multi-line reply and does not start with a code becomes its
    own malformed record (so nothing is lost).
    """
    out: list[FtpReply] = []
    cur: FtpReply | None = None
    for pos, line, term in _lines(data):
        m = _REPLY.match(line)
        if cur is not None:
            cur.lines.append(line)
            # RFC 959 4.2: the last line starts with the same code followed by a space
            if m and int(m.group(1)) == cur.code and m.group(2) != b"-":
                cur.partial = not term
                cur = None
            continue
        if m is None:
            out.append(
                FtpReply(
                    base_offset + pos, None, line, [line], not term,
                    f"reply without code at byte {base_offset + pos}",
                )
            )  # fmt: skip
            continue
        r = FtpReply(base_offset + pos, int(m.group(1)), line[4:], [line], not term)
        out.append(r)
        if m.group(2) == b"-":
            cur = r
    if cur is not None:
        cur.partial = True
    return out


@dataclass(slots=True)
class FtpExchange:
    """A command with its preliminary (1xx) replies and its final reply (None if none seen)."""

    command: FtpCommand | None
    preliminary: list[FtpReply] = field(default_factory=list)
    reply: FtpReply | None = None


def pair(commands: Sequence[FtpCommand], replies: Sequence[FtpReply]) -> list[FtpExchange]:
    """Match replies to commands in order; the server greeting (120/220 before any command) is
    returned as an exchange with ``command=None``. Replies beyond the commands are likewise."""
    out: list[FtpExchange] = []
    pending = list(replies)
    i = 0
    if pending and pending[0].code in (120, 220):
        greet = FtpExchange(None)
        while i < len(pending) and pending[i].code == 120:
            greet.preliminary.append(pending[i])
            i += 1
        if i < len(pending):
            greet.reply = pending[i]
            i += 1
        out.append(greet)
    for cmd in commands:
        ex = FtpExchange(cmd)
        while i < len(pending) and pending[i].is_preliminary:
            ex.preliminary.append(pending[i])
            i += 1
        if i < len(pending):
            ex.reply = pending[i]
            i += 1
        out.append(ex)
    out.extend(FtpExchange(None, reply=r) for r in pending[i:])
    return out


@dataclass(slots=True)
class DataChannel:
    """An expected data connection and what it carries.

    Active mode (PORT/EPRT): the server connects to ``address:port`` (the client's). Passive
    mode (PASV/EPSV): the client connects to ``address:port`` (the server's; ``address`` None
    for EPSV, meaning the control connection's server address).
    """

    passive: bool
    address: str | None
    port: int
    setup_offset: int  # stream offset of the PORT/EPRT command or the 227/229 reply
    command: bytes | None = None  # RETR/STOR/LIST... that used the channel
    argument: bytes | None = None  # file name for RETR/STOR
    direction: str | None = None  # "download", "upload", "listing"
    reply_code: int | None = None  # final reply to the transfer command (226 = complete)


def data_channels(exchanges: Sequence[FtpExchange]) -> list[DataChannel]:
    """Expected data connections in order, each with the transfer command that used it.

    A channel is recorded when announced unless the server refused it (4xx/5xx); the next
    transfer command consumes it. Channels never used are still listed (scanners, floods).
    """
    out: list[DataChannel] = []
    pending: DataChannel | None = None
    for ex in exchanges:
        cmd, rep = ex.command, ex.reply
        if cmd is None:
            continue
        refused = rep is not None and rep.code is not None and rep.code >= 400
        if cmd.command in (b"PORT", b"EPRT"):
            ep = cmd.endpoint()
            if ep is not None and not refused:
                pending = DataChannel(False, ep[0], ep[1], cmd.offset)
                out.append(pending)
        elif cmd.command in (b"PASV", b"EPSV") and rep is not None:
            ep = rep.endpoint()
            if ep is not None:
                pending = DataChannel(True, ep[0], ep[1], rep.offset)
                out.append(pending)
        elif cmd.command in TRANSFER and pending is not None:
            pending.command, pending.argument = cmd.command, cmd.arg
            pending.direction = TRANSFER[cmd.command]
            pending.reply_code = rep.code if rep is not None else None
            pending = None
    return out


_CLIENT_FIRST = (b"USER ", b"AUTH ", b"FEAT", b"SYST", b"OPTS ")


def looks_like_ftp(data: bytes) -> bool:
    """Cheap content test: a 220 greeting, or a first client line USER/AUTH/FEAT/SYST."""
    head = data[:512]
    return head.startswith((b"220 ", b"220-")) or head.upper().startswith(_CLIENT_FIRST)
