"""IRC client/server lines (RFC 1459 section 2.3, RFC 2812 section 2.3.1, IRCv3 message-tags).

Why bytes: IRC has no mandated charset and bots use arbitrary bytes in nicks and channel names,
so records keep every field as the exact ``bytes`` of the line (``raw`` is the whole line without
its terminator). ``fields()`` decodes with UTF-8 ``errors="surrogateescape"`` (lossless:
``.encode("utf-8", "surrogateescape")`` gives the bytes back), so values compare with tshark's
``-T fields`` output read the same way. Tree text goes through :func:`honeysift.safe_text.safe_bytes`
so control bytes (ESC[2J...) never reach a terminal. Never print ``fields()`` values unescaped.

Direction follows tshark: a *request* is a line sent by the client (to the server port), a
*response* a line sent by the server.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from honeysift.protocols.base import Node
from honeysift.safe_text import safe_bytes

MAX_LINE = 510  # RFC 2812 2.3: 512 bytes including the CR-LF
MAX_TAGS = 8191  # IRCv3 message-tags: extra room for the tag section
MAX_PARAMS = 15  # RFC 2812 2.3.1: at most 14 middles + a trailing
CHANNEL_PREFIXES = b"#&+!"  # RFC 2812 1.3

_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\n|\r|\Z)")
_DIGITS3 = re.compile(rb"[0-9]{3}\Z")


def _s(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", "surrogateescape")


@dataclass(slots=True)
class IrcMessage:
    """One IRC line. ``params`` are the middle parameters; ``trailing`` the part after ' :'."""

    offset: int
    raw: bytes
    from_client: bool = True
    terminator: bytes = b"\r\n"
    tags: bytes | None = None
    prefix: bytes | None = None
    command: bytes = b""
    params: list[bytes] = field(default_factory=list)
    trailing: bytes | None = None
    overlong: bool = False
    partial: bool = False
    malformed: str | None = None

    # -- prefix parts (RFC 2812 2.3.1: prefix = servername / ( nickname [ [ "!" user ] "@" host ] ))
    @property
    def nick(self) -> bytes | None:
        p = self.prefix
        if p is None or (b"!" not in p and b"@" not in p):
            return None
        return p.split(b"!", 1)[0].split(b"@", 1)[0]

    @property
    def user(self) -> bytes | None:
        p = self.prefix
        if p is None or b"!" not in p:
            return None
        return p.split(b"!", 1)[1].split(b"@", 1)[0]

    @property
    def host(self) -> bytes | None:
        p = self.prefix
        if p is None or b"@" not in p:
            return None
        return p.rsplit(b"@", 1)[1]

    @property
    def server(self) -> bytes | None:
        """The prefix when it names a server (no '!'/'@'); a bare nick also lands here."""
        p = self.prefix
        if p is None or b"!" in p or b"@" in p:
            return None
        return p

    @property
    def args(self) -> list[bytes]:
        """Middle params followed by the trailing one (when present)."""
        return self.params + ([self.trailing] if self.trailing is not None else [])

    @property
    def numeric(self) -> int | None:
        return int(self.command) if is_numeric(self.command) else None

    @property
    def verb(self) -> bytes:
        """The command upper-cased (IRC commands are case-insensitive)."""
        return self.command.upper()

    def fields(self) -> dict[str, list]:
        return self.tree().fields()

    def tree(self) -> Node:
        d = "request" if self.from_client else "response"
        root = Node(f"{d.capitalize()}: {safe_bytes(self.raw)}", f"irc.{d}", _s(self.raw))
        if self.tags is not None:
            root.add(f"Tags: {safe_bytes(self.tags)}", None, _s(self.tags))
        if self.prefix is not None:
            root.add(f"Prefix: {safe_bytes(self.prefix)}", f"irc.{d}.prefix", _s(self.prefix))
        if self.command:
            root.add(f"Command: {safe_bytes(self.command)}", f"irc.{d}.command", _s(self.command))
            if not self.from_client and self.numeric is not None:
                root.add(f"Numeric: {self.numeric}", "irc.response.num_command", self.numeric)
        if self.params:
            cp = root.add("Command parameters")
            for p in self.params:
                cp.add(f"Parameter: {safe_bytes(p)}", f"irc.{d}.command_parameter", _s(p))
        if self.trailing is not None:
            root.add(f"Trailer: {safe_bytes(self.trailing)}", f"irc.{d}.trailer", _s(self.trailing))
        if self.overlong:
            root.add(f"[Line longer than {MAX_LINE} bytes: {len(self.raw)}]")
        if self.partial:
            root.add("[Line not terminated: stream ended inside it]")
        if self.malformed:
            root.add(f"[Malformed: {self.malformed}]")
        return root


def _parse_line(raw: bytes, offset: int, from_client: bool, term: bytes) -> IrcMessage:
    msg = IrcMessage(offset, raw, from_client, term, partial=not term)
    rest = raw
    pos = 0  # offset of ``rest`` inside raw, for malformed reasons
    if rest.startswith(b"@"):  # IRCv3 message-tags
        sp = rest.find(b" ")
        msg.tags = rest[1:] if sp < 0 else rest[1:sp]
        cut = len(rest) if sp < 0 else sp + 1
        rest, pos = rest[cut:].lstrip(b" "), pos + cut
    body_len = len(rest)
    if rest.startswith(b":"):
        sp = rest.find(b" ")
        if sp < 0:
            msg.prefix = rest[1:]
            msg.malformed = f"prefix without command at byte {offset + pos}"
            return msg
        msg.prefix = rest[1:sp]
        rest, pos = rest[sp + 1 :].lstrip(b" "), pos + sp + 1
    sp = rest.find(b" ")
    msg.command = rest if sp < 0 else rest[:sp]
    rest = b"" if sp < 0 else rest[sp + 1 :]
    # RFC 2812 2.3.1: command = 1*letter / 3digit; keep anything else but flag it.
    if not msg.command:
        msg.malformed = f"no command at byte {offset + pos}"
    elif not (msg.command.isalpha() or _DIGITS3.match(msg.command)):
        msg.malformed = f"invalid command at byte {offset + pos}"
    # Params: runs of spaces tolerated; ':' starts the trailing; the 15th param is trailing.
    while rest:
        rest = rest.lstrip(b" ")
        if not rest:
            break
        if rest.startswith(b":"):
            msg.trailing = rest[1:]
            break
        if len(msg.params) == MAX_PARAMS - 1:
            msg.trailing = rest
            break
        sp = rest.find(b" ")
        if sp < 0:
            msg.params.append(rest)
            break
        msg.params.append(rest[:sp])
        rest = rest[sp + 1 :]
    if b"\x00" in raw and msg.malformed is None:
        msg.malformed = f"NUL byte at byte {offset + raw.index(0)}"
    msg.overlong = body_len > MAX_LINE or (msg.tags is not None and len(msg.tags) > MAX_TAGS)
    return msg


def parse_lines(data: bytes, *, from_client: bool = True, base_offset: int = 0) -> list[IrcMessage]:
    """Split one direction's bytes into lines (CR-LF, bare LF or bare CR) and parse each.

    Empty lines are skipped (RFC 2812 2.3.1). ``offset`` is ``base_offset`` + the line's position.
    A final line without terminator is kept and flagged ``partial``; lines over 510 bytes are kept
    whole and flagged ``overlong``. Work is linear in ``len(data)``.
    """
    out: list[IrcMessage] = []
    pos, n = 0, len(data)
    while pos < n:
        m = _LINE.match(data, pos)
        assert m is not None  # the pattern matches the empty string
        end = m.end()
        chunk = m.group(0)
        body = chunk.rstrip(b"\r\n")
        term = chunk[len(body) :]
        if body:
            out.append(_parse_line(body, base_offset + pos, from_client, term))
        if end == pos:  # cannot happen (pos < n), but never loop without progress
            break
        pos = end
    return out


# ---------------------------------------------------------------- helpers for census
def is_numeric(command: bytes) -> bool:
    """A 3-digit numeric reply (RFC 2812 section 5)."""
    return bool(_DIGITS3.match(command))


def is_channel(name: bytes) -> bool:
    """Channel name test (RFC 2812 1.3): starts with # & + !; no space, BEL, comma or NUL."""
    return (
        len(name) > 1
        and name[0] in CHANNEL_PREFIXES
        and not any(c in name for c in (b" ", b"\x07", b",", b"\x00"))
    )


@dataclass(slots=True)
class Join:
    """JOIN <channel>{,<channel>} [<key>{,<key>}] (RFC 2812 3.2.1); ``nick`` from the prefix."""

    nick: bytes | None
    channels: list[bytes]
    keys: list[bytes]
    part_all: bool = False  # "JOIN 0"


def join(msg: IrcMessage) -> Join | None:
    if msg.verb != b"JOIN":
        return None
    a = msg.args
    chans = [c for c in a[0].split(b",") if c] if a else []
    keys = [k for k in a[1].split(b",")] if len(a) > 1 else []
    return Join(msg.nick, chans, keys, part_all=chans == [b"0"])


def part(msg: IrcMessage) -> tuple[list[bytes], bytes | None] | None:
    """PART <channel>{,<channel>} [:<message>] -> (channels, message)."""
    if msg.verb != b"PART" or not msg.args:
        return None
    a = msg.args
    return [c for c in a[0].split(b",") if c], (a[1] if len(a) > 1 else None)


def quit_message(msg: IrcMessage) -> bytes | None:
    """The QUIT reason (b"" when none given); None when not a QUIT."""
    if msg.verb != b"QUIT":
        return None
    return msg.args[0] if msg.args else b""


def nick_change(msg: IrcMessage) -> tuple[bytes | None, bytes] | None:
    """NICK <new>: (old nick from the prefix or None for a client's own NICK, new nick)."""
    if msg.verb != b"NICK" or not msg.args:
        return None
    return (msg.nick or msg.server), msg.args[0]


def kick(msg: IrcMessage) -> tuple[bytes, list[bytes], bytes | None] | None:
    """KICK <channel> <user>{,<user>} [:<comment>] -> (channel, users, comment)."""
    if msg.verb != b"KICK" or len(msg.args) < 2:
        return None
    a = msg.args
    return a[0], a[1].split(b","), (a[2] if len(a) > 2 else None)


def privmsg(msg: IrcMessage) -> tuple[list[bytes], bytes] | None:
    """PRIVMSG/NOTICE <target>{,<target>} :<text> -> (targets, text)."""
    if msg.verb not in (b"PRIVMSG", b"NOTICE") or not msg.args:
        return None
    a = msg.args
    return a[0].split(b","), (a[1] if len(a) > 1 else b"")


def topic(msg: IrcMessage) -> tuple[bytes, bytes | None] | None:
    """TOPIC <channel> [:<topic>] or RPL_TOPIC 332 <me> <channel> :<topic>."""
    a = msg.args
    if msg.verb == b"TOPIC" and a:
        return a[0], (a[1] if len(a) > 1 else None)
    if msg.command == b"332" and len(a) >= 2:
        return a[1], (a[2] if len(a) > 2 else b"")
    return None


def mode(msg: IrcMessage) -> tuple[bytes, bytes, list[bytes]] | None:
    """MODE <target> <modes> [<args>...] -> (target, modes, args)."""
    if msg.verb != b"MODE" or not msg.args:
        return None
    a = msg.args
    return a[0], (a[1] if len(a) > 1 else b""), a[2:]


@dataclass(slots=True)
class Names:
    """RPL_NAMREPLY 353: ``<me> ( "=" / "*" / "@" ) <channel> :[@|+]<nick> ...`` (RFC 2812 5.1).

    RFC 1459 servers omit the channel type. ``members`` is ``(mode prefix, nick)``.
    """

    channel_type: bytes | None
    channel: bytes
    members: list[tuple[bytes, bytes]]


_NICK_PREFIXES = b"~&@%+"  # op/voice per RFC; ~ & % are common extensions (PREFIX= in 005)


def names_reply(msg: IrcMessage) -> Names | None:
    """Parse a 353 line; None when it is not a well-formed 353 (Zeek: irc_invalid_names_line)."""
    if msg.command != b"353":
        return None
    a = msg.args
    if len(a) < 3:
        return None
    if a[1] in (b"=", b"*", b"@") and len(a) >= 4:
        ctype, chan, nicks = a[1], a[2], a[3]
    else:
        ctype, chan, nicks = None, a[1], a[2]
    members = []
    for tok in nicks.split(b" "):
        if not tok:
            continue
        i = 0
        while i < len(tok) and tok[i] in _NICK_PREFIXES:
            i += 1
        members.append((tok[:i], tok[i:]))
    return Names(ctype, chan, members)


def end_of_names(msg: IrcMessage) -> bytes | None:
    """RPL_ENDOFNAMES 366 <me> <channel> :End of NAMES list -> channel."""
    if msg.command != b"366" or len(msg.args) < 2:
        return None
    return msg.args[1]


# LUSERS replies (RFC 2812 5.1, 251-255; 250/265/266 are common ircd extensions).
_LUSERS_RE: dict[bytes, re.Pattern[bytes]] = {
    b"251": re.compile(
        rb"(?P<users>\d+)\s+users?\s+and\s+(?P<second>\d+)\s+(?P<kind>invisible|services?)"
        rb"\s+on\s+(?P<servers>\d+)\s+servers?",
        re.I,
    ),
    b"255": re.compile(rb"(?P<clients>\d+)\s+clients?\s+and\s+(?P<servers>\d+)\s+servers?", re.I),
    b"250": re.compile(
        rb"connection count:?\s*(?P<max_connections>\d+)"
        rb"(?:\s*\((?P<max_clients>\d+)\s+clients?\))?"
        rb"(?:\s*\((?P<connections_received>\d+)\s+connections\s+received\))?",
        re.I,
    ),
    b"265": re.compile(rb"users:?\s*(?P<current>\d+),?\s*max:?\s*(?P<max>\d+)", re.I),
    b"266": re.compile(rb"users:?\s*(?P<current>\d+),?\s*max:?\s*(?P<max>\d+)", re.I),
}
_LUSERS_COUNT = {b"252": "operators", b"253": "unknown", b"254": "channels"}
LUSERS_NUMERICS = frozenset({b"250", b"251", b"252", b"253", b"254", b"255", b"265", b"266"})


def lusers(msg: IrcMessage) -> dict[str, int] | None:
    """Figures of a LUSERS numeric, e.g. 251 -> {users, invisible|services, servers}.

    252/253/254 give their count as a middle param (``<me> 27 :IRC Operators online``);
    265/266 as params (``<me> 5758 5799 :...``) or only in the text (``Current global users:
    4752  Max: 4765``). Returns {} when the text has no recognisable figures, None when not LUSERS.
    """
    cmd = msg.command
    if cmd not in LUSERS_NUMERICS:
        return None
    a = msg.args
    text = msg.trailing or b""
    out: dict[str, int] = {}
    if cmd in _LUSERS_COUNT:
        cand = a[1] if len(a) > 2 else None
        m = re.match(rb"\s*(\d+)", cand if cand is not None else text)
        if m:
            out[_LUSERS_COUNT[cmd]] = int(m.group(1))
        return out
    if cmd in (b"265", b"266") and len(a) >= 4 and a[1].isdigit() and a[2].isdigit():
        return {"current": int(a[1]), "max": int(a[2])}
    m = _LUSERS_RE[cmd].search(text)
    if not m:
        return out
    for k, v in m.groupdict().items():
        if k == "kind" or v is None:
            continue
        if k == "second":
            kind = m.group("kind").lower()
            k = "invisible" if kind.startswith(b"inv") else "services"
        out[k] = int(v)
    return out


def nick_in_use(msg: IrcMessage) -> bytes | None:
    """ERR_NICKNAMEINUSE 433 <me> <nick> :Nickname is already in use -> nick."""
    if msg.command != b"433" or len(msg.args) < 2:
        return None
    return msg.args[1]


def error_message(msg: IrcMessage) -> bytes | None:
    """ERROR :<text> (RFC 2812 3.7.4), e.g. ``Closing Link: [x@y] (Connection Timed Out)``."""
    if msg.verb != b"ERROR":
        return None
    return msg.args[0] if msg.args else b""


def ping_token(msg: IrcMessage) -> bytes | None:
    """PING/PONG <server1> [<server2>] -> the first token (what a PONG must echo)."""
    if msg.verb not in (b"PING", b"PONG"):
        return None
    return msg.args[0] if msg.args else b""


def ctcp(text: bytes) -> tuple[bytes, bytes] | None:
    """A CTCP request inside PRIVMSG/NOTICE text (``\\x01TAG args\\x01``) -> (TAG, args)."""
    if not text.startswith(b"\x01"):
        return None
    body = text[1:]
    if body.endswith(b"\x01"):
        body = body[:-1]
    tag, _, rest = body.partition(b" ")
    return tag.upper(), rest


@dataclass(slots=True)
class DccOffer:
    """A CTCP ``DCC SEND <file> <ip> <port> [<size>]`` or ``DCC CHAT chat <ip> <port>`` offer.

    ``address`` is dotted IPv4 / IPv6 text (the 32-bit integer form is converted); None and
    ``malformed`` set when the host field is not an address (Zeek: irc_invalid_dcc_host).
    """

    kind: bytes
    argument: bytes  # file name (SEND) or protocol (CHAT)
    host_raw: bytes
    address: str | None
    port: int | None
    size: int | None = None
    malformed: str | None = None


def _dcc_address(host: bytes) -> str | None:
    if host.isdigit() and len(host) <= 10:
        v = int(host)
        return str(ipaddress.IPv4Address(v)) if v < 2**32 else None
    try:
        return str(ipaddress.ip_address(host.decode("ascii")))
    except (UnicodeDecodeError, ValueError):
        return None


def dcc(text: bytes) -> DccOffer | None:
    """Parse a DCC offer from PRIVMSG text; the CTCP \\x01 delimiters are optional.

    Fields are taken from the right (``... <host> <port> [<size>]``) so unquoted file names with
    spaces survive; a quoted name loses its quotes. Reverse-DCC tokens are not interpreted.
    """
    body = text[1:] if text.startswith(b"\x01") else text
    body = body[:-1] if body.endswith(b"\x01") else body
    head, _, rest = body.partition(b" ")
    if head.upper() != b"DCC":
        return None
    kind, _, rest = rest.lstrip(b" ").partition(b" ")
    kind = kind.upper()
    toks = [t for t in rest.split(b" ") if t]
    size: int | None = None
    if kind == b"SEND" and len(toks) >= 4 and toks[-1].isdigit() and toks[-2].isdigit():
        size = int(toks[-1])
        toks = toks[:-1]
    if len(toks) < 3:
        return DccOffer(kind, b" ".join(toks), b"", None, None, size, "too few DCC arguments")
    arg = b" ".join(toks[:-2])
    if len(arg) >= 2 and arg.startswith(b'"') and arg.endswith(b'"'):
        arg = arg[1:-1]
    host, port_b = toks[-2], toks[-1]
    addr = _dcc_address(host)
    port = int(port_b) if port_b.isdigit() and int(port_b) <= 65535 else None
    bad = []
    if addr is None:
        bad.append("invalid DCC host")
    if port is None:
        bad.append("invalid DCC port")
    return DccOffer(kind, arg, host, addr, port, size, "; ".join(bad) or None)


def dcc_offer(msg: IrcMessage) -> DccOffer | None:
    """DCC offer carried by a PRIVMSG (or NOTICE) message, else None."""
    pm = privmsg(msg)
    return dcc(pm[1]) if pm else None


# ---------------------------------------------------------------- detection
#: first commands of a client's and a server's side (looks_like_irc; the sniffer's prefilter)
CLIENT_FIRST = (b"NICK", b"USER", b"PASS", b"CAP", b"SERVER", b"SERVICE")
SERVER_FIRST = (b"NOTICE", b"PING", b"ERROR", b"PRIVMSG", b"MODE", b"JOIN")
#: commands a server may open with and no prefix (``PING :x``, ``ERROR :...``)
UNPREFIXED_SERVER_FIRST = (b"PING", b"ERROR", b"NOTICE")


def looks_like_irc(data: bytes) -> bool:
    """Cheap content test for IRC on any port, from the first line only.

    Client side: the line starts with NICK/USER/PASS/CAP/SERVER. Server side: ``:server NOTICE
    ...`` (e.g. ``NOTICE AUTH``), a numeric reply, PING or ERROR. Tags (``@...``) are skipped.
    """
    head = data[: MAX_LINE + MAX_TAGS + 2]
    first = re.split(rb"\r\n|\n|\r", head, maxsplit=1)[0]
    if first.startswith(b"@"):
        _, _, first = first.partition(b" ")
    if not first or any(c < 0x20 and c != 0x01 for c in first):
        return False
    if first.startswith(b":"):
        parts = first[1:].split(b" ", 2)
        if len(parts) < 3 or not parts[0]:
            return False
        cmd = parts[1].upper()
        return is_numeric(cmd) or cmd in SERVER_FIRST
    cmd, sp, _ = first.partition(b" ")
    return bool(sp) and (cmd.upper() in CLIENT_FIRST or cmd.upper() in UNPREFIXED_SERVER_FIRST)
