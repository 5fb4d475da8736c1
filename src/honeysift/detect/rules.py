"""Snort 2 / Suricata rule text -> :class:`Rule` records, with a per-rule load report.

Why a report instead of errors: analysts bring rule files written for other engines. A rule we
cannot run exactly is either *skipped* (an unknown detection option would change what matches,
so running without it could raise false alerts) or *run without* an option that does not affect
matching (``tag``, ``target``...). Either way the rule id, the option and the decision are
recorded in :class:`LoadIssue`; nothing in a rule file raises. docs/alerts.md lists the syntax.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

import numpy as np
import pcre2

from honeysift.iprange import RangeSet, network_range

# -- variables -------------------------------------------------------------------------------

#: Defaults as in snort.conf / suricata.yaml (HOME_NET is replaced by the honeypot addresses).
DEFAULT_VARS: dict[str, str] = {
    "HOME_NET": "any",
    "EXTERNAL_NET": "any",
    "HTTP_SERVERS": "$HOME_NET",
    "SMTP_SERVERS": "$HOME_NET",
    "SQL_SERVERS": "$HOME_NET",
    "DNS_SERVERS": "$HOME_NET",
    "TELNET_SERVERS": "$HOME_NET",
    "SNMP_SERVERS": "$HOME_NET",
    "SIP_SERVERS": "$HOME_NET",
    "AIM_SERVERS": "any",
    "HTTP_PORTS": "[80,81,311,591,593,901,1220,1414,2301,2381,2809,3128,3702,5250,7001,7777,"
    "8000,8008,8028,8080,8088,8118,8123,8180,8181,8243,8280,8800,8888,8899,9080,9090,9443]",
    "SHELLCODE_PORTS": "!80",
    "ORACLE_PORTS": "1521",
    "SSH_PORTS": "22",
    "FTP_PORTS": "[21,2100,3535]",
    "SIP_PORTS": "[5060,5061,5600]",
    "FILE_DATA_PORTS": "[$HTTP_PORTS,110,143]",
    "IRC_PORTS": "[6660:6669,7000]",
    "SMB_PORTS": "[139,445]",
}

# -- classification.config (Snort 2.9 etc/classification.config: name, description, priority) --
CLASSTYPES: dict[str, tuple[str, int]] = {
    "not-suspicious": ("Not Suspicious Traffic", 3),
    "unknown": ("Unknown Traffic", 3),
    "bad-unknown": ("Potentially Bad Traffic", 2),
    "attempted-recon": ("Attempted Information Leak", 2),
    "successful-recon-limited": ("Information Leak", 2),
    "successful-recon-largescale": ("Large Scale Information Leak", 2),
    "attempted-dos": ("Attempted Denial of Service", 2),
    "successful-dos": ("Denial of Service", 2),
    "attempted-user": ("Attempted User Privilege Gain", 1),
    "unsuccessful-user": ("Unsuccessful User Privilege Gain", 1),
    "successful-user": ("Successful User Privilege Gain", 1),
    "attempted-admin": ("Attempted Administrator Privilege Gain", 1),
    "successful-admin": ("Successful Administrator Privilege Gain", 1),
    "rpc-portmap-decode": ("Decode of an RPC Query", 2),
    "shellcode-detect": ("Executable code was detected", 1),
    "string-detect": ("A suspicious string was detected", 3),
    "suspicious-filename-detect": ("A suspicious filename was detected", 2),
    "suspicious-login": ("An attempted login using a suspicious username was detected", 2),
    "system-call-detect": ("A system call was detected", 2),
    "tcp-connection": ("A TCP connection was detected", 4),
    "trojan-activity": ("A Network Trojan was detected", 1),
    "unusual-client-port-connection": ("A client was using an unusual port", 2),
    "network-scan": ("Detection of a Network Scan", 3),
    "denial-of-service": ("Detection of a Denial of Service Attack", 2),
    "non-standard-protocol": ("Detection of a non-standard protocol or event", 2),
    "protocol-command-decode": ("Generic Protocol Command Decode", 3),
    "web-application-activity": ("access to a potentially vulnerable web application", 2),
    "web-application-attack": ("Web Application Attack", 1),
    "misc-activity": ("Misc activity", 3),
    "misc-attack": ("Misc Attack", 2),
    "icmp-event": ("Generic ICMP event", 3),
    "inappropriate-content": ("Inappropriate Content was Detected", 1),
    "policy-violation": ("Potential Corporate Privacy Violation", 1),
    "default-login-attempt": ("Attempt to login by a default username and password", 2),
    "policy-violation-low": ("Potential Corporate Privacy Violation", 3),
}

ACTIONS = {"alert", "log", "pass", "drop", "reject", "sdrop", "activate", "dynamic"}
#: Header protocols: IP protocol (None: any) and the application layer they require.
PROTOCOLS: dict[str, tuple[int | None, str | None]] = {
    "ip": (None, None),
    "tcp": (6, None),
    "udp": (17, None),
    "icmp": (1, None),
    "http": (6, "http"),
    "smb": (6, "smb"),
    "dns": (None, "dns"),
    "irc": (6, "irc"),
}

#: Options that do not change what matches: the rule runs without them (reported as "ignored").
IGNORED_OPTIONS = {"tag", "target", "rawbytes", "sid_rev", "activates", "activated_by", "count"}

#: Snort 2 content modifiers naming a buffer, and Suricata sticky buffers -> our buffer names.
MODIFIER_BUFFERS = {
    "http_uri": "http_uri",
    "http_raw_uri": "http_uri",
    "http_header": "http_header",
    "http_raw_header": "http_header",
    "http_method": "http_method",
    "http_client_body": "http_client_body",
}
STICKY_BUFFERS = {
    "http.uri": "http_uri",
    "http.uri.raw": "http_uri",
    "http.header": "http_header",
    "http.header.raw": "http_header",
    "http.method": "http_method",
    "http.request_body": "http_client_body",
    "dns.query": "dns_query",
    "dns_query": "dns_query",
    "pkt_data": "pkt",
}
HTTP_BUFFERS = ("http_uri", "http_header", "http_method", "http_client_body")


class RuleError(ValueError):
    """A rule (or one of its parts) cannot be parsed: becomes a LoadIssue, never escapes."""


# -- addresses and ports ---------------------------------------------------------------------

_V4_PREFIX = 0xFFFF << 32


def ip_key(addr: str) -> int:
    """An address as the 128-bit key the packet table uses (IPv4 in IPv4-mapped form)."""
    ip = ipaddress.ip_address(addr)
    return (_V4_PREFIX | int(ip)) if ip.version == 4 else int(ip)


@dataclass(slots=True)
class AddrSpec:
    """A set of addresses: ``any``, or positive/negative lists of ranges and nested specs."""

    any: bool = False
    ranges: list[tuple[int, int]] = field(default_factory=list)
    subs: list[AddrSpec] = field(default_factory=list)
    neg: list[AddrSpec] = field(default_factory=list)
    text: str = "any"
    _set: tuple[int, RangeSet] | None = field(default=None, repr=False, compare=False)

    def contains(self, key: int) -> bool:
        pos = (
            self.any
            or (not self.ranges and not self.subs)
            or any(a <= key <= b for a, b in self.ranges)
            or any(s.contains(key) for s in self.subs)
        )
        return pos and not any(n.contains(key) for n in self.neg)

    def mask(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        n = hi.shape[0]
        if self.any or (not self.ranges and not self.subs):
            m = np.ones(n, dtype=bool)
        else:
            if self._set is None or self._set[0] != len(self.ranges):
                self._set = (len(self.ranges), RangeSet(self.ranges))
            m = self._set[1].mask(hi, lo)
            for s in self.subs:
                m |= s.mask(hi, lo)
        for s in self.neg:
            m &= ~s.mask(hi, lo)
        return m


@dataclass(slots=True)
class PortSpec:
    any: bool = False
    ranges: list[tuple[int, int]] = field(default_factory=list)
    subs: list[PortSpec] = field(default_factory=list)
    neg: list[PortSpec] = field(default_factory=list)
    text: str = "any"

    def contains(self, port: int) -> bool:
        pos = (
            self.any
            or (not self.ranges and not self.subs)
            or any(a <= port <= b for a, b in self.ranges)
            or any(s.contains(port) for s in self.subs)
        )
        return pos and not any(n.contains(port) for n in self.neg)

    def mask(self, ports: np.ndarray) -> np.ndarray:
        if self.any or (not self.ranges and not self.subs):
            m = np.ones(ports.shape[0], dtype=bool)
        else:
            m = np.zeros(ports.shape[0], dtype=bool)
            for a, b in self.ranges:
                m |= (ports >= a) & (ports <= b)
            for s in self.subs:
                m |= s.mask(ports)
        for s in self.neg:
            m &= ~s.mask(ports)
        return m


def _split_list(body: str) -> list[str]:
    """Split a ``[a,b,[c,d]]`` body on top-level commas."""
    out, depth, cur = [], 0, []
    for ch in body:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise RuleError("unbalanced ']'")
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise RuleError("unbalanced '['")
    out.append("".join(cur).strip())
    return [x for x in out if x]


def _expand(text: str, variables: dict[str, str], depth: int) -> str:
    if depth > 16:
        raise RuleError("variables nested too deeply (a loop?)")
    name = text[1:]
    if name not in variables:
        raise RuleError(f"undefined variable ${name}")
    return variables[name]


def _parse_set(text: str, variables: dict[str, str], depth: int, cls, what: str, leaf):
    """The grammar addresses and ports share (negation, $VAR, ``any``, ``[a,b,...]`` lists);
    *leaf* turns one plain item into its ranges."""
    text = text.strip()
    if depth > 32:
        raise RuleError(f"{what} nested too deeply")
    if not text:
        raise RuleError(f"empty {what}")
    if text.startswith("!"):
        return cls(neg=[_parse_set(text[1:], variables, depth + 1, cls, what, leaf)], text=text)
    if text.startswith("$"):
        spec = _parse_set(_expand(text, variables, depth), variables, depth + 1, cls, what, leaf)
        spec.text = text
        return spec
    if text == "any":
        return cls(any=True, text=text)
    if text.startswith("["):
        if not text.endswith("]"):
            raise RuleError(f"bad {what} list {text!r}")
        spec = cls(text=text)
        for part in _split_list(text[1:-1]):
            sub = _parse_set(part, variables, depth + 1, cls, what, leaf)
            if sub.any and not sub.neg:
                spec.any = True
            elif not sub.ranges and not sub.subs and not sub.any and sub.neg:
                spec.neg.extend(sub.neg)
            elif sub.ranges and not sub.subs and not sub.any and not sub.neg:
                spec.ranges.extend(sub.ranges)  # a plain item: one range set, one lookup
            else:
                spec.subs.append(sub)
        if spec.neg and not spec.subs and not spec.ranges:
            spec.any = True  # [!a,!b]: everything but
        return spec
    return cls(ranges=leaf(text), text=text)


def _addr_ranges(text: str) -> list[tuple[int, int]]:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise RuleError(f"bad address {text!r}") from exc
    return [network_range(net)]


def _port_num(s: str) -> int:
    if not s.isdigit() or int(s) > 65535:
        raise RuleError(f"bad port {s!r}")
    return int(s)


def _port_ranges(text: str) -> list[tuple[int, int]]:
    if ":" in text:
        a, _, b = text.partition(":")
        lo = _port_num(a) if a else 0
        hi = _port_num(b) if b else 65535
        if lo > hi:
            raise RuleError(f"bad port range {text!r}")
        return [(lo, hi)]
    p = _port_num(text)
    return [(p, p)]


def parse_addr(text: str, variables: dict[str, str], depth: int = 0) -> AddrSpec:
    return _parse_set(text, variables, depth, AddrSpec, "address", _addr_ranges)


def parse_port(text: str, variables: dict[str, str], depth: int = 0) -> PortSpec:
    return _parse_set(text, variables, depth, PortSpec, "port", _port_ranges)


# -- detection options -----------------------------------------------------------------------


@dataclass(slots=True)
class Content:
    pattern: bytes
    negated: bool = False
    nocase: bool = False
    offset: int | None = None
    depth: int | None = None
    distance: int | None = None
    within: int | None = None
    fast_pattern: bool = False
    fast_only: bool = False
    fp_slice: tuple[int, int] | None = None

    @property
    def relative(self) -> bool:
        return self.distance is not None or self.within is not None


@dataclass(slots=True)
class Pcre:
    regex: pcre2.Pattern  # compiled with (*LIMIT_MATCH=PCRE_MATCH_LIMIT): see translate_pcre
    source: str
    negated: bool = False
    relative: bool = False
    anchored: bool = False  # flag A: match only at the start position


@dataclass(slots=True)
class ByteTest:
    nbytes: int
    op: str  # < > = ! & ^ <= >=
    value: int
    offset: int
    relative: bool = False
    negate: bool = False
    little: bool = False
    string: bool = False
    base: int = 10
    bitmask: int | None = None


@dataclass(slots=True)
class ByteJump:
    nbytes: int
    offset: int
    relative: bool = False
    multiplier: int = 1
    little: bool = False
    string: bool = False
    base: int = 10
    align: bool = False
    from_beginning: bool = False
    post_offset: int = 0


@dataclass(slots=True)
class IsDataAt:
    size: int
    relative: bool = False
    negated: bool = False


Op = Content | Pcre | ByteTest | ByteJump | IsDataAt


@dataclass(slots=True)
class Threshold:
    kind: str  # limit | threshold | both | detection_filter
    track: str  # by_src | by_dst
    count: int
    seconds: float


@dataclass(slots=True)
class IntTest:
    """dsize / itype / icode / ip_proto: ``N``, ``<N``, ``>N``, ``<=N``, ``>=N``, ``!N``,
    ``A<>B`` (exclusive, as Snort) or ``A-B``."""

    op: str
    a: int
    b: int = 0

    def mask(self, v: np.ndarray) -> np.ndarray:
        v = v.astype(np.int64)
        return {
            "=": lambda: v == self.a,
            "!": lambda: v != self.a,
            "<": lambda: v < self.a,
            ">": lambda: v > self.a,
            "<=": lambda: v <= self.a,
            ">=": lambda: v >= self.a,
            "<>": lambda: (v > self.a) & (v < self.b),
        }[self.op]()


def parse_int_test(value: str, names: dict[str, int] | None = None) -> IntTest:
    v = value.strip().replace(" ", "")
    m = re.fullmatch(r"(\d+)<>(\d+)", v) or re.fullmatch(r"(\d+)-(\d+)", v)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        return IntTest("<>", a - (1 if "-" in v else 0), b + (1 if "-" in v else 0))
    m = re.fullmatch(r"(<=|>=|<|>|!|=)?(\w+)", v)
    if not m:
        raise RuleError(f"bad number test {value!r}")
    op, num = m.group(1) or "=", m.group(2)
    if names and num.lower() in names:
        n = names[num.lower()]
    elif num.isdigit():
        n = int(num)
    else:
        raise RuleError(f"bad number {num!r}")
    return IntTest(op, n)


@dataclass(slots=True)
class FlagTest:
    """``flags``: required bits, the mode (exact, + all of, * any of, ! none of) and a mask of
    bits to ignore."""

    bits: int
    mode: str  # "=", "+", "*", "!"
    ignore: int = 0

    def mask(self, flags: np.ndarray) -> np.ndarray:
        f = flags.astype(np.int64) & ~self.ignore & 0xFF
        if self.mode == "+":
            return (f & self.bits) == self.bits
        if self.mode == "*":
            return (f & self.bits) != 0 if self.bits else np.ones(f.shape[0], bool)
        if self.mode == "!":
            return (f & self.bits) == 0 if self.bits else f != 0
        return f == self.bits


# RFC 9293 / RFC 3168 bit values; Snort also names CWR/ECE as "1"/"2" (old reserved bits).
_FLAG_BITS = {"F": 1, "S": 2, "R": 4, "P": 8, "A": 16, "U": 32, "E": 64, "C": 128}
_FLAG_BITS.update({"2": 64, "1": 128, "0": 0})


def parse_flags(value: str) -> FlagTest:
    v = value.strip()
    main, _, ign = v.partition(",")
    mode = "="
    bits = 0
    for ch in main.strip():
        if ch in "+*!":
            mode = ch
        elif ch.upper() in _FLAG_BITS:
            bits |= _FLAG_BITS[ch.upper()]
        else:
            raise RuleError(f"bad flag {ch!r}")
    ignore = 0
    for ch in ign.strip():
        if ch.upper() not in _FLAG_BITS:
            raise RuleError(f"bad flag mask {ch!r}")
        ignore |= _FLAG_BITS[ch.upper()]
    return FlagTest(bits, mode, ignore)


# -- the rule --------------------------------------------------------------------------------


@dataclass(slots=True)
class Rule:
    action: str
    proto: str
    ip_proto: int | None  # from the header protocol (None: any)
    app: str | None  # application layer the header protocol requires
    src: AddrSpec
    sport: PortSpec
    bidirectional: bool
    dst: AddrSpec
    dport: PortSpec
    text: str = ""
    source: str = ""  # "file:line"
    msg: str = ""
    sid: int = 0
    gid: int = 1
    rev: int = 1
    classtype: str = ""
    priority: int | None = None
    references: list[str] = field(default_factory=list)
    metadata: list[str] = field(default_factory=list)
    buffers: dict[str, list[Op]] = field(default_factory=dict)  # buffer -> ops in rule order
    flow_dir: str | None = None  # "to_server" | "to_client"
    established: bool | None = None  # True: established; False: not_established
    stateless: bool = False
    stream_mode: str | None = None  # "only_stream" | "no_stream"
    flowbits: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    noalert: bool = False
    dsize: IntTest | None = None
    flags: FlagTest | None = None
    itype: IntTest | None = None
    icode: IntTest | None = None
    ipproto_test: IntTest | None = None
    threshold: Threshold | None = None
    ignored: list[str] = field(default_factory=list)  # options run without

    @property
    def key(self) -> str:
        return f"{self.gid}:{self.sid}:{self.rev}"

    @property
    def classification(self) -> str:
        return CLASSTYPES.get(self.classtype, (self.classtype, 3))[0] if self.classtype else ""

    @property
    def effective_priority(self) -> int:
        if self.priority is not None:
            return self.priority
        return CLASSTYPES.get(self.classtype, ("", 3))[1] if self.classtype else 3

    @property
    def kind(self) -> str:
        """Where the rule is evaluated: "http" (each decoded request), "dns" (each DNS message),
        "stream" (each reassembled TCP direction) or "packet"."""
        if self.app == "http" or any(b in self.buffers for b in HTTP_BUFFERS):
            return "http"
        if self.app == "dns" or "dns_query" in self.buffers:
            return "dns"
        if self.stream_mode == "only_stream" and self.ip_proto in (6, None):
            return "stream"
        return "packet"

    def fast_pattern(self, buffer: str) -> Content | None:
        """The content the prefilter looks for in *buffer*: the one marked fast_pattern, else the
        longest positive content (Snort's choice); None when the buffer has none."""
        cands = [o for o in self.buffers.get(buffer, []) if isinstance(o, Content)]
        cands = [c for c in cands if not c.negated and c.pattern]
        for c in cands:
            if c.fast_pattern:
                return c
        return max(cands, key=lambda c: len(c.pattern)) if cands else None


@dataclass(slots=True)
class LoadIssue:
    source: str  # file:line
    sid: int | None
    option: str
    message: str
    decision: str  # "skipped" (rule not loaded) or "ignored" (rule runs without the option)

    def __str__(self) -> str:
        sid = f"sid {self.sid}" if self.sid else "rule"
        return f"{self.source}: {sid}: {self.option}: {self.message} ({self.decision})"


@dataclass(slots=True)
class RuleSet:
    rules: list[Rule] = field(default_factory=list)
    issues: list[LoadIssue] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    lines_read: int = 0
    disabled: int = 0  # commented-out rules (not counted as issues)

    @property
    def skipped(self) -> int:
        return len({(i.source, i.sid) for i in self.issues if i.decision == "skipped"})

    def extend(self, other: RuleSet) -> None:
        self.rules.extend(other.rules)
        self.issues.extend(other.issues)
        self.lines_read += other.lines_read
        self.disabled += other.disabled


# -- option text -----------------------------------------------------------------------------


def split_options(body: str) -> list[tuple[str, str | None]]:
    """``msg:"a;b"; nocase; content:"x"`` -> [(name, value)], honouring quotes and ``\\`` escapes."""
    out: list[tuple[str, str | None]] = []
    cur: list[str] = []
    quoted = False
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch == "\\" and i + 1 < n:
            cur.append(ch + body[i + 1])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            _add_option(out, "".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    if quoted:
        raise RuleError("unterminated quoted string")
    _add_option(out, "".join(cur))
    return out


def _add_option(out: list[tuple[str, str | None]], text: str) -> None:
    text = text.strip()
    if not text:
        return
    name, sep, value = text.partition(":")
    out.append((name.strip().lower(), value.strip() if sep else None))


def unquote(value: str | None) -> str:
    if value is None:
        raise RuleError("missing value")
    v = value.strip()
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        v = v[1:-1]
    return re.sub(r"\\(.)", r"\1", v)


def parse_content(value: str | None) -> tuple[bytes, bool]:
    """``"GET |20 2f|"`` (optionally ``!"..."``) -> (bytes, negated)."""
    if value is None:
        raise RuleError("content needs a value")
    v = value.strip()
    negated = v.startswith("!")
    if negated:
        v = v[1:].strip()
    if not (len(v) >= 2 and v[0] == '"' and v[-1] == '"'):
        raise RuleError("content must be quoted")
    v = v[1:-1]
    out = bytearray()
    i = 0
    hexmode = False
    while i < len(v):
        ch = v[i]
        if ch == "|":
            hexmode = not hexmode
            i += 1
            continue
        if hexmode:
            if ch.isspace():
                i += 1
                continue
            pair = v[i : i + 2]
            if len(pair) < 2 or not all(c in "0123456789abcdefABCDEF" for c in pair):
                raise RuleError(f"bad hex in content near {v[i : i + 4]!r}")
            out.append(int(pair, 16))
            i += 2
            continue
        if ch == "\\" and i + 1 < len(v):
            ch = v[i + 1]
            i += 1
        if ord(ch) > 255:
            raise RuleError("content has a character outside Latin-1")
        out.append(ord(ch))
        i += 1
    if hexmode:
        raise RuleError("unterminated |hex| in content")
    if not out:
        raise RuleError("empty content")
    return bytes(out), negated


def _int(value: str | None, name: str) -> int:
    try:
        return int(str(value).strip(), 0)
    except (TypeError, ValueError) as exc:
        raise RuleError(f"{name} needs a number, got {value!r}") from exc


# -- pcre translation ------------------------------------------------------------------------

_PCRE_BUFFER_FLAGS = {"U": "http_uri", "I": "http_uri", "H": "http_header", "D": "http_header",
                      "M": "http_method", "P": "http_client_body"}  # fmt: skip

#: Backtracking steps one pcre evaluation may take (PCRE2's match limit: a step count, the
#: same on every machine). Over it the pcre counts as no match and the rule is reported, as
#: Snort does with ``pcre_match_limit`` (1,500) and Suricata with ``pcre: match-limit`` (3,500). 3,500 keeps
#: every alert of the built-in rules on the corpus traces; a hostile subject costs < 1.5 ms.
#: The price: a benign match needing more steps (a lazy ``.*?`` across 28 KB) is missed too.
PCRE_MATCH_LIMIT = 3500

_PCRE_FLAGS = {"i": pcre2.IGNORECASE, "s": pcre2.DOTALL, "m": pcre2.MULTILINE, "x": pcre2.VERBOSE}


def translate_pcre(value: str) -> tuple[Pcre, str | None]:
    """``"/regex/flags"`` -> (Pcre, buffer named by a flag or None).

    Why PCRE2 (the ``pcre2`` bindings) and not Python ``re``: rules are written for PCRE, and
    a backtracking engine without a bound lets one crafted packet hang the run (``^(a|aa)+$``
    on 44 bytes took 73 s in ``re``, x1.6 per byte). PCRE2's match limit is a step count, so
    the bound is the same on every machine and a hit is an exact, reportable event, the way
    Snort and Suricata bound pcre. Rejected: ``regex``'s ``timeout=`` (a wall-clock bound:
    results depend on the machine, and every hostile packet costs the whole timeout); RE2
    (linear, but no backreferences or lookaround, which rules use, and those would still need
    a bounded backtracker). JIT is off: its 32 KiB stack fails long benign repeats (the
    bindings cannot enlarge it) and the interpreter is fast enough for rule evaluation."""
    v = unquote_keep(value)
    negated = v.startswith("!")
    if negated:
        v = v[1:]
    if not v.startswith("/"):
        # Snort also allows m{...}; only the slash form is supported.
        raise RuleError("pcre must be /regex/flags")
    end = v.rfind("/")
    if end <= 0:
        raise RuleError("pcre has no closing '/'")
    body, flags = v[1:end], v[end + 1 :]
    reflags = pcre2.NOFLAG
    relative = False
    buffer = None
    anchored = dollar_end = False
    for f in flags:
        if f in _PCRE_FLAGS:
            reflags |= _PCRE_FLAGS[f]
        elif f == "A":
            anchored = True
        elif f == "E":
            dollar_end = True
        elif f == "R":
            relative = True
        elif f in _PCRE_BUFFER_FLAGS:
            buffer = _PCRE_BUFFER_FLAGS[f]
        elif f in "OB":
            pass  # match-limit override, rawbytes: no effect here
        elif f == "G":
            raise RuleError("pcre flag G (ungreedy) is not supported")
        else:
            raise RuleError(f"pcre flag {f!r} not supported")
    body = _pcre_body(body)
    if dollar_end and body.endswith("$") and not body.endswith("\\$"):
        body = body[:-1] + r"\z"
    try:
        raw = f"(*LIMIT_MATCH={PCRE_MATCH_LIMIT})".encode() + body.encode("latin-1")
        rx = pcre2.compile(raw, reflags, jit=False)
    except (pcre2.LibraryError, UnicodeEncodeError, ValueError) as exc:
        raise RuleError(f"pcre does not compile: {exc}") from exc
    return Pcre(rx, value, negated, relative, anchored), buffer


def unquote_keep(value: str | None) -> str:
    """Strip the surrounding quotes only (a regex keeps its backslashes)."""
    if value is None:
        raise RuleError("missing value")
    v = value.strip()
    neg = v.startswith("!")
    if neg:
        v = v[1:].strip()
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        v = v[1:-1]
    v = v.replace('\\"', '"').replace("\\;", ";")
    return ("!" if neg else "") + v


def _pcre_body(body: str) -> str:
    r"""The PCRE body for PCRE2, which reads PCRE syntax natively: only ``\x{hh}`` becomes
    ``\xhh`` (the bindings compile with Python-style ``\u``/``\x`` escapes). Escapes that
    were never supported stay skipped (``\h``, ``\R``, ``\K``, ``\p{..}``, ``\Q``...: RuleError),
    so a ruleset loads the same rules as before the move from Python ``re``."""
    if body.startswith("(*"):
        # start-of-pattern options: (*LIMIT_MATCH=..) would let a rule lift its own bound
        raise RuleError("pcre start-of-pattern options (*...) are not supported")
    out: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch == "\\" and i + 1 < n:
            nx = body[i + 1]
            if nx == "x" and i + 2 < n and body[i + 2] == "{":
                close = body.find("}", i)
                hexv = body[i + 3 : close] if close > 0 else ""
                if close < 0 or not hexv or len(hexv) > 2:
                    raise RuleError("pcre \\x{...} beyond one byte is not supported")
                try:
                    out.append(f"\\x{int(hexv, 16):02x}")
                except ValueError as exc:
                    raise RuleError(f"bad hex in pcre \\x{{{hexv}}}") from exc
                i = close + 1
                continue
            if nx in "hHRKpPXCgkQuUNLlE":
                raise RuleError(f"pcre escape \\{nx} is not supported")
            out.append(body[i : i + 2])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


# -- one rule --------------------------------------------------------------------------------

_HEADER = re.compile(r"^\s*(\S+)\s+(\S+)\s+(\S+|\[[^\]]*\])\s+(\S+|\[[^\]]*\])\s+(->|<>|<-)\s+")


def _header_fields(text: str) -> tuple[list[str], str]:
    """Split the header (7 fields, lists may hold spaces) from the ``(options)`` body."""
    open_at = text.find("(")
    if open_at < 0 or not text.rstrip().endswith(")"):
        raise RuleError("rule has no (options)")
    head, body = text[:open_at], text[open_at + 1 : text.rstrip().rfind(")")]
    parts: list[str] = []
    cur, depth = [], 0
    for ch in head:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch.isspace() and depth <= 0:
            if cur:
                parts.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
    if cur:
        parts.append("".join(cur))
    if len(parts) != 7:
        raise RuleError(
            f"header needs 7 fields (action proto src sport dir dst dport), got {len(parts)}"
        )
    return parts, body


class _Builder:
    """Turns one rule's option list into Rule fields, in order (modifiers apply to the last
    content; sticky buffers to what follows)."""

    def __init__(self, rule: Rule, issues: list[tuple[str, str, str]]) -> None:
        self.rule = rule
        self.issues = issues  # (option, message, decision)
        self.sticky = "pkt"
        self.last: Content | None = None
        self.last_buffer = "pkt"
        self.threshold_kind: str | None = None

    def add(self, buffer: str, op: Op) -> None:
        self.rule.buffers.setdefault(buffer, []).append(op)

    def move_last(self, buffer: str) -> None:
        """A Snort 2 modifier: the last content belongs to *buffer*."""
        if self.last is None:
            raise RuleError("modifier without a preceding content")
        ops = self.rule.buffers.get(self.last_buffer, [])
        if self.last in ops and buffer != self.last_buffer:
            ops.remove(self.last)
            if not ops:
                del self.rule.buffers[self.last_buffer]
            self.add(buffer, self.last)
            self.last_buffer = buffer

    def option(self, name: str, value: str | None) -> None:
        r = self.rule
        c = self.last
        if name == "msg":
            r.msg = unquote(value)
        elif name == "sid":
            r.sid = _int(value, name)
        elif name == "rev":
            r.rev = _int(value, name)
        elif name == "gid":
            r.gid = _int(value, name)
        elif name == "classtype":
            r.classtype = (value or "").strip()
            if r.classtype not in CLASSTYPES:
                self.issues.append((name, f"unknown classtype {r.classtype!r}", "ignored"))
        elif name == "priority":
            r.priority = _int(value, name)
        elif name == "reference":
            r.references.append((value or "").strip())
        elif name == "metadata":
            r.metadata.extend(x.strip() for x in (value or "").split(",") if x.strip())
        elif name in ("content", "uricontent"):
            pat, neg = parse_content(value)
            self.last = Content(pat, negated=neg)
            buf = "http_uri" if name == "uricontent" else self.sticky
            self.last_buffer = buf
            self.add(buf, self.last)
        elif name == "nocase":
            self._need(c, name).nocase = True
        elif name in ("offset", "depth", "distance", "within"):
            setattr(self._need(c, name), name, _int(value, name))
            if name == "depth" and c.depth is not None and c.depth < len(c.pattern):
                raise RuleError("depth is shorter than the content")
        elif name == "fast_pattern":
            c = self._need(c, name)
            c.fast_pattern = True
            v = (value or "").strip()
            if v == "only":
                c.fast_only = True
            elif v:
                a, _, b = v.partition(",")
                c.fp_slice = (_int(a, name), _int(b, name))
        elif name in MODIFIER_BUFFERS:
            self.move_last(MODIFIER_BUFFERS[name])
        elif name in STICKY_BUFFERS:
            self.sticky = self.last_buffer = STICKY_BUFFERS[name]
            self.last = None
        elif name == "pcre":
            p, buf = translate_pcre(value or "")
            self.add(buf or self._rel_buffer(p.relative), p)
        elif name == "byte_test":
            op = parse_byte_test(value)
            self.add(self._rel_buffer(op.relative), op)
        elif name == "byte_jump":
            op = parse_byte_jump(value)
            self.add(self._rel_buffer(op.relative), op)
        elif name == "isdataat":
            v = (value or "").strip()
            neg = v.startswith("!")
            parts = [x.strip() for x in v.lstrip("!").split(",")]
            op = IsDataAt(_int(parts[0], name), "relative" in parts[1:], neg)
            self.add(self._rel_buffer(op.relative), op)
        elif name == "flow":
            for item in (x.strip().lower() for x in (value or "").split(",")):
                if item in ("to_server", "from_client"):
                    r.flow_dir = "to_server"
                elif item in ("to_client", "from_server"):
                    r.flow_dir = "to_client"
                elif item == "established":
                    r.established = True
                elif item == "not_established":
                    r.established = False
                elif item == "stateless":
                    r.stateless = True
                elif item in ("only_stream", "no_stream"):
                    r.stream_mode = item
                elif item in ("no_frag", "only_frag"):
                    self.issues.append(("flow", f"{item} not supported", "ignored"))
                else:
                    raise RuleError(f"flow option {item!r} not supported")
        elif name == "flowbits":
            parts = [x.strip() for x in (value or "").split(",")]
            cmd = parts[0].lower()
            if cmd == "noalert":
                r.noalert = True
            elif cmd in ("set", "isset", "isnotset", "unset", "toggle") and len(parts) >= 2:
                names = tuple(x for p in parts[1:] for x in re.split(r"[&|]", p) if x)
                if cmd != "toggle" and any("|" in p for p in parts[1:]) and cmd == "isset":
                    cmd = "isset_any"
                r.flowbits.append((cmd, names))
            else:
                raise RuleError(f"flowbits {value!r} not supported")
        elif name == "dsize":
            r.dsize = parse_int_test(value or "")
        elif name == "flags":
            r.flags = parse_flags(value or "")
        elif name == "itype":
            r.itype = parse_int_test(value or "")
        elif name == "icode":
            r.icode = parse_int_test(value or "")
        elif name == "ip_proto":
            r.ipproto_test = parse_int_test(value or "", {"tcp": 6, "udp": 17, "icmp": 1})
        elif name in ("threshold", "detection_filter"):
            r.threshold = parse_threshold(name, value)
        elif name in IGNORED_OPTIONS:
            r.ignored.append(name)
            self.issues.append((name, "has no effect on matching here", "ignored"))
        else:
            raise RuleError("option not supported")

    def _rel_buffer(self, relative: bool) -> str:
        """Snort 2: a relative option works in the buffer of the content before it."""
        return self.last_buffer if relative and self.last is not None else self.sticky

    @staticmethod
    def _need(c: Content | None, name: str) -> Content:
        if c is None:
            raise RuleError(f"{name} without a preceding content")
        return c


def _byte_common(parts: list[str]) -> dict:
    d: dict = {"relative": False, "little": False, "string": False, "base": 10}
    for p in parts:
        pl = p.lower()
        if pl == "relative":
            d["relative"] = True
        elif pl == "little":
            d["little"] = True
        elif pl == "big":
            d["little"] = False
        elif pl == "string":
            d["string"] = True
        elif pl in ("hex", "dec", "oct"):
            d["base"] = {"hex": 16, "dec": 10, "oct": 8}[pl]
        elif pl == "dce":
            d["little"] = True  # DCE/RPC data representation: little-endian on Windows hosts
        else:
            d.setdefault("rest", []).append(p)
    return d


def parse_byte_test(value: str | None) -> ByteTest:
    parts = [x.strip() for x in (value or "").split(",")]
    if len(parts) < 4:
        raise RuleError("byte_test needs bytes, operator, value, offset")
    nbytes = _int(parts[0], "byte_test")
    op = parts[1].replace(" ", "")
    negate = op.startswith("!") and len(op) > 1
    if negate:
        op = op[1:]
    if op not in ("<", ">", "=", "!", "&", "^", "<=", ">="):
        raise RuleError(f"byte_test operator {op!r} not supported")
    d = _byte_common(parts[4:])
    bitmask = None
    for p in d.pop("rest", []):
        if p.lower().startswith("bitmask"):
            bitmask = _int(p.split()[-1], "bitmask")
        else:
            raise RuleError(f"byte_test argument {p!r} not supported")
    if not (1 <= nbytes <= (10 if d["string"] else 4)):
        raise RuleError("byte_test reads 1-4 bytes (1-10 as a string)")
    return ByteTest(nbytes, op, _int(parts[2], "byte_test"), _int(parts[3], "byte_test"),
                    negate=negate, bitmask=bitmask, **d)  # fmt: skip


def parse_byte_jump(value: str | None) -> ByteJump:
    parts = [x.strip() for x in (value or "").split(",")]
    if len(parts) < 2:
        raise RuleError("byte_jump needs bytes, offset")
    nbytes = _int(parts[0], "byte_jump")
    d = _byte_common(parts[2:])
    bj = ByteJump(nbytes, _int(parts[1], "byte_jump"))
    for p in d.pop("rest", []):
        pl = p.lower()
        if pl.startswith("multiplier"):
            bj.multiplier = _int(p.split()[-1], "multiplier")
        elif pl == "align":
            bj.align = True
        elif pl == "from_beginning":
            bj.from_beginning = True
        elif pl.startswith("post_offset"):
            bj.post_offset = _int(p.split()[-1], "post_offset")
        else:
            raise RuleError(f"byte_jump argument {p!r} not supported")
    for k, v in d.items():
        setattr(bj, k, v)
    if not (1 <= nbytes <= (10 if bj.string else 4)):
        raise RuleError("byte_jump reads 1-4 bytes (1-10 as a string)")
    return bj


def parse_threshold(name: str, value: str | None) -> Threshold:
    d: dict[str, str] = {}
    for part in (value or "").split(","):
        k, _, v = part.strip().partition(" ")
        d[k.strip().lower()] = v.strip()
    kind = "detection_filter" if name == "detection_filter" else d.get("type", "")
    if kind not in ("limit", "threshold", "both", "detection_filter"):
        raise RuleError(f"threshold type {kind!r} not supported")
    track = d.get("track", "")
    if track not in ("by_src", "by_dst"):
        raise RuleError(f"threshold track {track!r} not supported")
    count, secs = _int(d.get("count"), "count"), _int(d.get("seconds"), "seconds")
    if count < 1 or secs < 0:
        raise RuleError("threshold count must be >= 1 and seconds >= 0")
    return Threshold(kind, track, count, float(secs))


def parse_rule(
    text: str, variables: dict[str, str], source: str = ""
) -> tuple[Rule | None, list[LoadIssue]]:
    """One rule line -> (Rule or None when skipped, issues). Never raises."""
    issues: list[LoadIssue] = []
    sid_m = re.search(r"[;(]\s*sid\s*:\s*(\d+)", text)
    sid = int(sid_m.group(1)) if sid_m else None
    try:
        parts, body = _header_fields(text)
        action, proto = parts[0].lower(), parts[1].lower()
        if action not in ACTIONS:
            raise RuleError(f"unknown action {action!r}")
        if proto not in PROTOCOLS:
            raise RuleError(f"protocol {proto!r} not supported")
        if parts[4] not in ("->", "<>"):
            raise RuleError(f"direction {parts[4]!r} not supported")
        ipp, app = PROTOCOLS[proto]
        rule = Rule(
            action, proto, ipp, app,
            parse_addr(parts[2], variables), parse_port(parts[3], variables),
            parts[4] == "<>",
            parse_addr(parts[5], variables), parse_port(parts[6], variables),
            text=text.strip(), source=source,
        )  # fmt: skip
        opts = split_options(body)
    except (RuleError, RecursionError) as exc:
        issues.append(LoadIssue(source, sid, "header", str(exc), "skipped"))
        return None, issues
    local: list[tuple[str, str, str]] = []
    b = _Builder(rule, local)
    failed = False
    for name, value in opts:
        try:
            b.option(name, value)
        except (RuleError, ValueError, RecursionError, OverflowError) as exc:
            local.append((name, str(exc), "skipped"))
            failed = True
    if not rule.sid:
        local.append(("sid", "rule has no sid", "skipped"))
        failed = True
    if rule.ip_proto not in (6, None) and (rule.flags is not None):
        local.append(("flags", "flags on a non-TCP rule never match", "ignored"))
    for opt, msg, decision in local:
        issues.append(LoadIssue(source, rule.sid or sid, opt, msg, decision))
    return (None if failed else rule), issues


def parse_rules(
    text: str, variables: dict[str, str] | None = None, source: str = "rules"
) -> RuleSet:
    """A rule file's text -> RuleSet. ``var``/``ipvar``/``portvar`` lines define variables;
    ``#`` comments and blank lines are skipped; a ``\\`` at line end continues the rule."""
    vars_ = dict(DEFAULT_VARS)
    vars_.update(variables or {})
    rs = RuleSet(variables=vars_)
    pending: list[str] = []
    start = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        rs.lines_read += 1
        s = line.strip()
        if not pending:
            start = lineno
        if s.endswith("\\"):
            pending.append(s[:-1])
            continue
        pending.append(s)
        full = " ".join(pending).strip()
        pending = []
        if not full:
            continue
        if full.startswith("#"):
            if _HEADER.match(full.lstrip("# ")):
                rs.disabled += 1
            continue
        where = f"{source}:{start}"
        words = full.split(None, 2)
        if words[0] in ("var", "ipvar", "portvar"):
            if len(words) == 3:
                vars_[words[1]] = words[2]
            else:
                rs.issues.append(LoadIssue(where, None, words[0], "needs NAME VALUE", "skipped"))
            continue
        if words[0] in ("include", "config", "preprocessor", "output", "dynamicpreprocessor"):
            rs.issues.append(LoadIssue(where, None, words[0], "configuration line not supported", "skipped"))  # fmt: skip
            continue
        rule, issues = parse_rule(full, vars_, where)
        rs.issues.extend(issues)
        if rule is not None:
            rs.rules.append(rule)
    return rs
