"""Web attacks on the honeypot and the honeypot's own web downloads (the write-up's tcp/80 part).

What it answers, per honeypot: who sent which HTTP requests (method, URI, size, user agent, the
frame where the request completed) and what the server answered (status and size, or "no
response" and how the connection ended); which requests match a known exploit; whether each
exploit class succeeded; the write-up's request-size triage; and every file the honeypot itself
fetched over HTTP, carved byte-exactly.

Exploit classes (``EXPLOIT_CLASSES``), matched on the raw request-target and on an IIS-style
decoding of it (percent-decoding repeated, ``%uXXXX``, overlong UTF-8):

* ``iis-traversal`` -- ``..`` plus an encoded ``/`` or ``\\`` escaping a script directory
  (``/scripts/..``, ``/msadc/..``, ``/_vti_bin/..``) to reach ``winnt/system32/cmd.exe``.
  Overlong UTF-8 (``..%c0%af..``, ``..%c1%1c..``, ``%c1%9c``, ``%c0%2f``) is the "Web Server
  Folder Traversal" (MS00-078, CVE-2000-0884); a second decoding (``..%255c..``, ``..%252f..``,
  ``..%25%35%63..``) is the "superfluous decoding" flaw (MS01-026, CVE-2001-0333).
* ``cmd-exec`` -- ``cmd.exe`` or ``root.exe`` in the URI; with ``?/c+`` it carries a command
  (``dir``, ``tftp -i ...``) for the shell to run: the goal of the traversal attacks.
* ``nimda`` -- the probes of W32/Nimda (CERT CA-2001-26): ``/scripts/root.exe`` and
  ``/MSADC/root.exe`` (the cmd.exe copies that Code Red II and sadmind/IIS leave, CA-2001-11),
  ``/c/winnt/system32/cmd.exe`` and ``/d/winnt/...`` (Code Red II's virtual roots), and its
  traversals through ``/_mem_bin/`` and ``/msadc/``.
* ``code-red-ii`` / ``code-red`` / ``ida-overflow`` -- the Indexing Service ISAPI overflow
  (``.ida``/``.idq``, MS01-033, CVE-2001-0500). Code Red II (CERT IN-2001-09) pads the query
  with ``X``, Code Red I (CA-2001-19) with ``N``, both followed by ``%u``-encoded shellcode.
* ``webdav-overflow`` -- WebDAV ``SEARCH``/``PROPFIND``... with a very long URI or body: the
  ntdll.dll ``RtlDosPathNameToNtPathName_U`` overflow reached through WebDAV (MS03-007,
  CVE-2003-0109). ``webdav-probe``: the same methods without the overflow.
* ``translate-f`` -- the ``Translate: f`` header asks IIS for a script's source (MS00-058,
  CVE-2000-0778).
* ``iis-probe`` -- requests for components with known holes: ``msadcs.dll`` (RDS, MS99-025,
  CVE-1999-1011), ``.htw`` (webhits, MS00-006, CVE-2000-0097), ``.htr`` (MS02-028,
  CVE-2002-0071; ``/iisadmpwd/``: CVE-1999-0407), ``.printer`` (IPP, MS01-023, CVE-2001-0241),
  FrontPage ``fp30reg.dll``/``_vti_`` (MS03-051, CVE-2003-0822).
* ``buffer-overflow`` -- anything else shaped like an overflow: a URI or header line over
  1000 bytes, a run of 100+ identical bytes, or ``%u``-encoded shellcode.

Verdict per class (``ClassVerdict``): *succeeded* when the honeypot answered an attempt with 200
and command output (a directory listing...), connected back to the attacker afterwards, or
started the worm's propagation (Code Red: outbound tcp/80 to many hosts; Nimda: tftp udp/69
out); *failed* when every attempt got no response, a reset or an error status and nothing
followed; *unknown* otherwise. A successful overflow usually answers nothing, so for overflow
classes "failed" rests on the absence of follow-up traffic, as in the write-up.

Request-size triage: the write-up kept the hosts whose requests carry >= 100 bytes, measured
with argus on bytes per *connection* (``ra -A`` column 11). Both are given: ``per_connection``
(client payload of each connection, as argus) and ``per_request`` (each HTTP request's bytes).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from honeysift.analysis.context import AnalysisContext
from honeysift.analysis.magic import file_type
from honeysift.analysis.model import (
    AnalyzerResult,
    CarvedFile,
    Evidence,
    Finding,
    ServiceVerdict,
    TimelineEvent,
    plain,
)
from honeysift.protocols import http as H
from honeysift.safe_text import safe_bytes

TRIAGE_BYTES = 100  # the write-up's threshold: smaller requests cannot hold overflow + shellcode
LONG_FIELD = 1000  # a URI or header line longer than this is overflow-shaped
LONG_RUN = 100  # identical bytes in a row
PROPAGATION_HOSTS = 10  # distinct outbound tcp/80 targets that mean a worm is scanning
MAX_CONNECTIONS = 200_000  # analysed HTTP connections (bounded work on huge captures)

EXPLOIT_CLASSES: dict[str, str] = {
    "code-red-ii": "Code Red II .ida overflow (MS01-033, CVE-2001-0500)",
    "code-red": "Code Red .ida overflow (MS01-033, CVE-2001-0500)",
    "ida-overflow": "Indexing Service .ida/.idq overflow (MS01-033, CVE-2001-0500)",
    "nimda": "Nimda scan for cmd.exe/root.exe (CERT CA-2001-26)",
    "iis-traversal": "IIS directory traversal (MS00-078 CVE-2000-0884, MS01-026 CVE-2001-0333)",
    "cmd-exec": "cmd.exe / root.exe requested through the web server",
    "webdav-overflow": "WebDAV long-request overflow (MS03-007, CVE-2003-0109)",
    "webdav-probe": "WebDAV method probe",
    "translate-f": "Translate: f source disclosure (MS00-058, CVE-2000-0778)",
    "iis-probe": "probe for an IIS component with known holes",
    "buffer-overflow": "overflow-shaped request (long field, byte run or %u shellcode)",
}
_OVERFLOW_CLASSES = {"code-red-ii", "code-red", "ida-overflow", "webdav-overflow"}
_WEBDAV = {b"SEARCH", b"PROPFIND", b"PROPPATCH", b"MKCOL", b"COPY", b"MOVE", b"LOCK", b"UNLOCK"}
_IIS_PROBES = (
    (re.compile(rb"msadcs\.dll", re.I), "RDS msadcs.dll (MS99-025)"),
    (re.compile(rb"\.htw(\?|$)", re.I), "webhits .htw (MS00-006)"),
    (re.compile(rb"/iisadmpwd/", re.I), "IISADMPWD .htr (CVE-1999-0407)"),
    (re.compile(rb"\.htr(\?|$)", re.I), ".htr ISAPI (MS02-028)"),
    (re.compile(rb"\.printer(\?|$)", re.I), "IPP .printer (MS01-023)"),
    (re.compile(rb"fp30reg\.dll|fp4areg\.dll", re.I), "FrontPage fp30reg.dll (MS03-051)"),
)
_NIMDA = (
    (re.compile(rb"^/(scripts|msadc)/root\.exe", re.I), "root.exe backdoor"),
    (re.compile(rb"^/[cd]/winnt/system32/cmd\.exe", re.I), "Code Red II virtual root"),
    (re.compile(rb"^/_mem_bin/\.\.", re.I), "traversal through /_mem_bin/"),
    (re.compile(rb"^/msadc/\.\.", re.I), "traversal through /msadc/"),
)
_PCT = re.compile(rb"%([0-9A-Fa-f]{2})")
_PCTU = re.compile(rb"%[uU]([0-9A-Fa-f]{4})")
_OVERLONG2 = re.compile(rb"[\xc0\xc1][\x00-\xff]")
_OVERLONG3 = re.compile(rb"\xe0[\x80-\x9f][\x00-\xff]")
_RUN = re.compile(rb"(.)\1{%d,}" % (LONG_RUN - 1), re.S)
_SHELLCODE_U = re.compile(rb"(?:%u[0-9A-Fa-f]{4}){4,}")
_OUTPUT_SIGNS = (
    b"Directory of",
    b"<DIR>",
    b"Volume in drive",
    b"Volume Serial Number",
    b"bytes free",
    b"Windows IP Configuration",
    b"Microsoft Windows 2000 [Version",
)


# ----------------------------------------------------------------------------- records
@dataclass(slots=True)
class ExploitMatch:
    cls: str  # one of EXPLOIT_CLASSES
    pattern: str  # what matched, in words


@dataclass(slots=True)
class HttpRequestInfo:
    """One request and what became of it."""

    client: str
    client_port: int
    server: str
    server_port: int
    uid: str
    method: str
    uri: str
    version: str
    size: int  # request bytes on the wire (start line + headers + body)
    body_len: int
    user_agent: str | None
    host: str | None
    first_frame: int | None  # frame carrying the request's first byte
    frame: int | None  # frame where the request is complete
    time: float
    status: int | None = None
    reason: str | None = None
    response_size: int | None = None  # response bytes on the wire
    response_body_len: int | None = None  # after transfer and content decoding (as Zeek)
    response_type: str | None = None
    response_frame: int | None = None
    outcome: str = "no response"  # "response" / "no response" / "reset by server" ...
    exploits: list[ExploitMatch] = field(default_factory=list)
    malformed: str | None = None
    output_seen: bool = False  # response body looks like command output

    @property
    def classes(self) -> list[str]:
        return list(dict.fromkeys(m.cls for m in self.exploits))

    def to_dict(self) -> dict[str, Any]:
        d = plain(self)
        d["classes"] = self.classes
        return d


@dataclass(slots=True)
class HttpClient:
    """Everything one remote host sent to the honeypot's web servers."""

    address: str
    role: str  # "attacker", "benign", "non-http", "no-payload"
    connections: int = 0
    requests: int = 0
    bytes_sent: int = 0
    classes: list[str] = field(default_factory=list)
    user_agents: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    first_frame: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


@dataclass(slots=True)
class ClassVerdict:
    cls: str
    description: str
    clients: list[str]
    attempts: int
    verdict: str  # succeeded / failed / unknown
    reasons: list[str]
    frames: list[int]
    answered: dict[str, int]  # status or "no response" -> count

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


@dataclass(slots=True)
class HttpDownload:
    """A transaction in which the honeypot was the HTTP client."""

    client: str
    server: str
    server_port: int
    uid: str
    method: str
    uri: str
    host: str | None
    server_software: str | None
    status: int | None
    content_type: str | None
    size: int  # body bytes after transfer/content decoding
    declared_length: int | None
    complete: bool
    md5: str | None
    magic: str | None
    request_frame: int | None
    response_frame: int | None
    time: float

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


@dataclass(slots=True)
class Triage:
    threshold: int
    per_connection: list[str]  # hosts with a connection carrying >= threshold client bytes
    per_request: list[str]  # hosts with an HTTP request of >= threshold bytes
    basis: str = (
        "per_connection = client payload bytes of each connection (the write-up's argus "
        "'ra -A' column 11); per_request = bytes of each parsed HTTP request"
    )

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


# ----------------------------------------------------------------------------- matching
def _t(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", "surrogateescape")


def _pct_once(b: bytes) -> bytes:
    return _PCT.sub(lambda m: bytes([int(m.group(1), 16)]), b)


def _unicode(b: bytes) -> bytes:
    def u(m: re.Match[bytes]) -> bytes:
        v = int(m.group(1), 16)
        return bytes([v]) if v < 0x80 else b"?"

    b = _PCTU.sub(u, b)
    b = _OVERLONG3.sub(
        lambda m: bytes([((m.group(0)[0] & 0x0F) << 12 | (m.group(0)[1] & 0x3F) << 6
                          | (m.group(0)[2] & 0x3F)) & 0xFF]),
        b,
    )  # fmt: skip
    # overlong two-byte UTF-8 as IIS decoded it: ((b1 & 0x1f) << 6) | (b2 & 0x3f)
    return _OVERLONG2.sub(
        lambda m: bytes([(((m.group(0)[0] & 0x1F) << 6) | (m.group(0)[1] & 0x3F)) & 0xFF]), b
    )


def iis_decode(uri: bytes, rounds: int = 3) -> list[bytes]:
    """The URI after 1..rounds decodings (percent, then %u and overlong UTF-8), as IIS saw it."""
    out = []
    cur = uri[:8192]
    for _ in range(rounds):
        nxt = _unicode(_pct_once(cur))
        out.append(nxt)
        if nxt == cur:
            break
        cur = nxt
    return out


def _traversal(path: bytes) -> bool:
    p = path.replace(b"\\", b"/")
    return b"/../" in p or p.startswith(b"../") or p.endswith(b"/..")


def classify_request(
    method: bytes | None, uri: bytes | None, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> list[ExploitMatch]:
    """Known exploit patterns in one request (see the module docstring for what each means)."""
    out: list[ExploitMatch] = []
    uri = uri or b""
    method = method or b""
    path_raw = uri.split(b"?", 1)[0]
    low = uri.lower()
    decoded = iis_decode(path_raw)
    # .ida / .idq overflow family (MS01-033)
    m = re.match(rb"/[^?]*\.id[aq]\?(.*)", uri, re.I | re.S)
    if m:
        q = m.group(1)
        if re.match(rb"X{100,}", q):
            out.append(ExploitMatch("code-red-ii", "/default.ida?XXXX... + %u shellcode"))
        elif re.match(rb"N{100,}", q):
            out.append(ExploitMatch("code-red", "/default.ida?NNNN... + %u shellcode"))
        elif len(q) > 200 or _SHELLCODE_U.search(q):
            out.append(ExploitMatch("ida-overflow", f".ida/.idq query of {len(q)} bytes"))
    for rx, what in _NIMDA:
        if rx.search(uri):
            out.append(ExploitMatch("nimda", what))
            break
    # traversal: encoded separators that decode to ../ or ..\
    if not _traversal(path_raw) and any(_traversal(d) for d in decoded):
        if re.search(rb"%c[01]%|%e0%[89]", low):
            what = "overlong UTF-8 separator (unicode, MS00-078)"
        elif _traversal(decoded[0]):
            what = "percent-encoded separator"
        else:
            what = "double-encoded separator (MS01-026)"
        out.append(ExploitMatch("iis-traversal", what))
    elif _traversal(path_raw):
        out.append(ExploitMatch("iis-traversal", "plain ../ in the path"))
    full = [uri.lower()] + [d.lower() for d in iis_decode(uri)]
    if any(b"cmd.exe" in x or b"root.exe" in x for x in full):
        if any(re.search(rb"(cmd|root)\.exe\?/c[+ ]", x) for x in full):
            out.append(ExploitMatch("cmd-exec", "command in the query (cmd.exe?/c+...)"))
        else:
            out.append(ExploitMatch("cmd-exec", "cmd.exe in the URI"))
    # WebDAV
    hdr_long = max((len(k) + len(v) + 2 for k, v in headers), default=0)
    if method.upper() in _WEBDAV:
        if len(uri) > LONG_FIELD or len(body) > 10 * LONG_FIELD or hdr_long > LONG_FIELD:
            out.append(ExploitMatch("webdav-overflow", f"{_t(method)} with a {len(uri)}-byte URI"))
        else:
            out.append(ExploitMatch("webdav-probe", f"{_t(method)} request"))
    if any(k.lower() == b"translate" and v.strip().lower() == b"f" for k, v in headers):
        out.append(ExploitMatch("translate-f", "Translate: f header"))
    for rx, what in _IIS_PROBES:
        if rx.search(path_raw):
            out.append(ExploitMatch("iis-probe", what))
            break
    if not any(x.cls in _OVERFLOW_CLASSES for x in out):
        why = None
        if len(uri) > LONG_FIELD:
            why = f"{len(uri)}-byte URI"
        elif hdr_long > LONG_FIELD:
            why = f"{hdr_long}-byte header line"
        elif (r := _RUN.search(uri)) is not None:
            why = f"run of {len(r.group(0))} x {safe_bytes(r.group(1))!s} in the URI"
        elif _SHELLCODE_U.search(uri):
            why = "%u-encoded shellcode in the URI"
        elif body and (r := _RUN.search(body[:65536])) is not None and method.upper() != b"POST":
            why = f"run of {len(r.group(0))} identical bytes in the body"
        if why:
            out.append(ExploitMatch("buffer-overflow", why))
    return out


def output_sign(body: bytes) -> bool:
    """A response body that looks like shell output (dir listing, ipconfig...)."""
    head = body[:65536]
    return any(s in head for s in _OUTPUT_SIGNS)


# ----------------------------------------------------------------------------- connections
@dataclass(slots=True)
class _Conn:
    flow: int
    row: dict
    transactions: list[H.HttpTransaction]
    client_len: int
    c_stream: Any
    s_stream: Any


def _end_reason(row: dict) -> str:
    hist = str(row.get("history") or "")
    if "r" in hist:
        return "reset by server"
    if "R" in hist:
        return "reset by client"
    if "f" in hist or "F" in hist:
        return "no response (connection closed)"
    return "no response"


def _frame(stream: Any, off: int) -> int | None:
    return None if stream is None else stream.frame_at(off)


def _connection(ctx: AnalysisContext, flow: int) -> _Conn:
    row = ctx.row(flow)
    cs, ss = ctx.stream(flow, 0), ctx.stream(flow, 1)
    client = cs.stream.read() if cs is not None else b""
    server = ss.stream.read() if ss is not None else b""
    txs = H.parse_connection(client, server) if client or server else []
    return _Conn(
        flow,
        row,
        txs,
        cs.stream.seq_length if cs is not None else 0,
        cs.stream if cs is not None else None,
        ss.stream if ss is not None else None,
    )


def _http_flows(ctx: AnalysisContext, inbound: bool) -> list[int]:
    """TCP flows to (inbound) or from (outbound) a honeypot that carry HTTP: port 80 always (so
    payload-less and non-HTTP attempts are seen too), other ports when the flow table's
    content check (the client's first bytes, read once for all flows) says HTTP."""
    import numpy as np

    idx = np.asarray(ctx.flows_where(proto=6, inbound=inbound), dtype=np.int64)
    if not idx.size:
        return []
    f = ctx.flows
    port80 = f.numeric["resp_p"][idx] == 80
    svc = f.codes["service"][idx]
    from honeysift.flows import LABELS

    http_code = np.flatnonzero(LABELS["service"] == "http")
    labelled = np.isin(svc, http_code) if http_code.size else np.zeros(idx.shape[0], bool)
    # the label may come from the port alone (8080...): check those flows' first client bytes
    maybe = idx[labelled & ~port80 & (f.numeric["orig_payload_bytes"][idx] > 0)]
    ctx.load_streams(maybe.tolist()[:MAX_CONNECTIONS])
    extra = []
    for i in maybe.tolist()[:MAX_CONNECTIONS]:
        ds = ctx.stream(i, 0)
        if ds is None:
            continue
        with ds.stream.open() as fh:
            head = fh.read(64)
        if head and H.looks_like_http(head) and not head.startswith(b"HTTP/"):
            extra.append(i)
    return sorted(idx[port80].tolist() + extra)[:MAX_CONNECTIONS]


def _request_info(ctx: AnalysisContext, c: _Conn, tx: H.HttpTransaction) -> HttpRequestInfo:
    q, r = tx.request, tx.response
    assert q is not None
    row = c.row
    first = _frame(c.c_stream, q.offset)
    last = _frame(c.c_stream, max(q.offset, q.end - 1))
    info = HttpRequestInfo(
        client=row["orig_h"],
        client_port=int(row["orig_p"]),
        server=row["resp_h"],
        server_port=int(row["resp_p"]),
        uid=row["uid"],
        method=_t(q.method) or "",
        uri=_t(q.uri) or "",
        version=_t(q.version) or "",
        size=q.end - q.offset,
        body_len=len(q.body),
        user_agent=_t(q.user_agent),
        host=_t(q.host),
        first_frame=first,
        frame=last,
        time=ctx.ts_of_frame(last) if last else float(row["start"]),
        malformed=q.malformed,
        exploits=classify_request(q.method, q.uri, q.headers, q.body),
    )
    if r is not None:
        info.status, info.reason = r.status, _t(r.reason)
        info.response_size = r.end - r.offset
        body = r.decoded_body if r.decoded_body is not None else r.body
        info.response_body_len = len(body)
        info.response_type = _t(r.content_type)
        info.response_frame = _frame(c.s_stream, r.offset)
        info.outcome = "response"
        info.output_seen = r.status == 200 and output_sign(body)
    else:
        info.outcome = _end_reason(row)
    return info


# ----------------------------------------------------------------------------- verdicts
@dataclass(slots=True)
class _Outbound:
    """Honeypot-originated flows: (start, proto, resp_h, resp_p, uid)."""

    flows: list[tuple[float, int, str, int, str]]

    @classmethod
    def of(cls, ctx: AnalysisContext) -> _Outbound:
        f = ctx.flows
        idx = ctx.flows_where(inbound=False)
        rh, start = f.column("resp_h"), f.column("start")
        proto, rp, uid = f.columns["proto"], f.columns["resp_p"], ctx.pipe.uid
        return cls([(float(start[i]), int(proto[i]), rh[i], int(rp[i]), uid(i)) for i in idx])

    def after(self, t: float, proto: int | None = None, port: int | None = None) -> list:
        return [
            x
            for x in self.flows
            if x[0] >= t and (proto is None or x[1] == proto) and (port is None or x[3] == port)
        ]


def _verdict(cls: str, reqs: list[HttpRequestInfo], out: _Outbound) -> tuple[str, list[str]]:
    reasons: list[str] = []
    t0 = min(r.time for r in reqs)
    wins = [r for r in reqs if r.output_seen]
    if wins:
        reasons.append(
            f"the honeypot answered 200 with command output (frame {wins[0].response_frame})"
        )
    attackers = {r.client for r in reqs}
    back = [x for x in out.after(t0) if x[2] in attackers]
    if back:
        x = back[0]
        proto = {6: "tcp", 17: "udp"}.get(x[1], str(x[1]))
        reasons.append(f"the honeypot later connected to the attacker {x[2]} ({proto}/{x[3]})")
    if cls in ("code-red", "code-red-ii", "ida-overflow", "nimda"):
        web = {x[2] for x in out.after(t0, 6, 80)}
        if len(web) >= PROPAGATION_HOSTS:
            reasons.append(f"the honeypot then connected to tcp/80 on {len(web)} hosts (worm scan)")
    if cls == "nimda":
        tftp = out.after(t0, 17, 69)
        if tftp:
            reasons.append(f"the honeypot then sent tftp (udp/69) to {tftp[0][2]}")
    if reasons:
        return "succeeded", reasons
    bad = [r for r in reqs if r.status is None or r.status >= 400]
    if len(bad) == len(reqs):
        codes = sorted({str(r.status) for r in reqs if r.status is not None})
        none = sum(1 for r in reqs if r.status is None)
        parts = []
        if none:
            parts.append(f"{none} got no response")
        if codes:
            parts.append(f"{len(reqs) - none} got error status {', '.join(codes)}")
        reasons.append("; ".join(parts))
        reasons.append("no follow-up traffic from the honeypot (no connect-back, no propagation)")
        if cls in _OVERFLOW_CLASSES or cls == "buffer-overflow":
            reasons.append(
                "an overflow that works often answers nothing: the verdict rests on the "
                "absence of follow-up traffic"
            )
        return "failed", reasons
    ok = sorted({str(r.status) for r in reqs if r.status is not None and r.status < 400})
    reasons.append(f"answered with status {', '.join(ok)} but no command output or follow-up seen")
    return "unknown", reasons


# ----------------------------------------------------------------------------- the analyzer
def analyze_http(ctx: AnalysisContext, *, carve_served: bool = False) -> AnalyzerResult:
    """Inbound web attacks and outbound HTTP downloads of the honeypots (module docstring).

    ``carve_served``: also carve the bodies the honeypot's servers sent and the request bodies
    remote clients sent (off by default: a honeypot's own pages are rarely of interest).
    """
    res = AnalyzerResult()
    out = _Outbound.of(ctx)
    requests: list[HttpRequestInfo] = []
    clients: dict[str, HttpClient] = {}
    conn_bytes: dict[str, int] = defaultdict(int)
    ports: dict[int, dict[str, Any]] = {}
    carver = _Carver()
    for flow in ctx.each_loaded(_http_flows(ctx, inbound=True)):
        c = _connection(ctx, flow)
        addr = c.row["orig_h"]
        cl = clients.get(addr)
        if cl is None:
            cl = clients[addr] = HttpClient(addr, "no-payload", first_frame=c.row["first_frame"])
        cl.connections += 1
        cl.bytes_sent += c.client_len
        conn_bytes[addr] = max(conn_bytes[addr], c.client_len)
        p = ports.setdefault(
            int(c.row["resp_p"]), {"flows": [], "packets": 0, "attackers": set(), "probers": set()}
        )
        p["flows"].append(c.row["uid"])
        p["packets"] += int(c.row["orig_pkts"]) + int(c.row["resp_pkts"])
        if c.client_len == 0:
            p["probers"].add(addr)
        if c.client_len and not any(t.request for t in c.transactions) and cl.role != "benign":
            cl.role = "non-http" if cl.role == "no-payload" else cl.role
        for tx in c.transactions:
            if tx.request is None:
                continue
            info = _request_info(ctx, c, tx)
            requests.append(info)
            cl.requests += 1
            if cl.role in ("no-payload", "non-http"):
                cl.role = "benign"
            if info.user_agent and info.user_agent not in cl.user_agents:
                cl.user_agents.append(info.user_agent)
            key = str(info.status) if info.status is not None else info.outcome
            cl.statuses[key] = cl.statuses.get(key, 0) + 1
            for k in info.classes:
                if k not in cl.classes:
                    cl.classes.append(k)
            if info.classes:
                cl.role = "attacker"
                p["attackers"].add(addr)
            if carve_served:
                _carve_served(ctx, c, tx, carver)
    requests.sort(key=lambda r: (r.first_frame or 0, r.frame or 0))
    res.files.extend(carver.finish())
    _nimda_sequences(requests, clients)
    triage = Triage(
        TRIAGE_BYTES,
        sorted((a for a, n in conn_bytes.items() if n >= TRIAGE_BYTES), key=_ipkey),
        sorted({r.client for r in requests if r.size >= TRIAGE_BYTES}, key=_ipkey),
    )
    verdicts = _class_verdicts(ctx, requests, out, res)
    for port, p in sorted(ports.items()):
        cls_here = [
            v for v in verdicts if any(r.server_port == port and r.client in v.clients
                                       for r in requests if v.cls in r.classes)
        ]  # fmt: skip
        if not cls_here:
            verdict = "not-attacked"
            reasons = ["no request matched a known exploit pattern"]
        elif any(v.verdict == "succeeded" for v in cls_here):
            verdict = "succeeded"
            reasons = [
                f"{v.cls}: {r}" for v in cls_here if v.verdict == "succeeded" for r in v.reasons
            ]
        elif all(v.verdict == "failed" for v in cls_here):
            verdict = "failed"
            reasons = [f"{v.cls}: {v.reasons[0]}" for v in cls_here]
        else:
            verdict = "unknown"
            reasons = [f"{v.cls}: {v.verdict}: {v.reasons[0]}" for v in cls_here]
        frames = sorted({r.first_frame for r in requests if r.server_port == port and r.classes
                         and r.first_frame})  # fmt: skip
        res.services.append(
            ServiceVerdict(
                proto="tcp",
                port=port,
                name="http",
                attackers=sorted(p["attackers"], key=_ipkey),
                probers=sorted(p["probers"] - p["attackers"], key=_ipkey),
                connections=len(p["flows"]),
                packets=p["packets"],
                verdict=verdict,
                reasons=reasons,
                evidence=Evidence(frames[:200], p["flows"][:200]),
                command=ctx.show_cmd(f"tcp port {port}"),
                details={"classes": [v.to_dict() for v in cls_here]},
            )
        )
    downloads = _outbound(ctx, res)
    res.extra["http"] = {
        "requests": [r.to_dict() for r in requests],
        "clients": [c.to_dict() for c in sorted(clients.values(), key=lambda c: _ipkey(c.address))],
        "classes": [v.to_dict() for v in verdicts],
        "triage": triage.to_dict(),
        "downloads": [d.to_dict() for d in downloads],
    }
    res.extra["http_objects"] = {
        "requests": requests,
        "clients": clients,
        "classes": verdicts,
        "triage": triage,
        "downloads": downloads,
    }
    return res


def _nimda_sequences(requests: list[HttpRequestInfo], clients: dict[str, HttpClient]) -> None:
    """A client that probed two or more Nimda-only URIs ran Nimda's scan list: its cmd.exe
    traversals belong to the same scan (Nimda tries them all in one sequence)."""
    marks: dict[str, set[str]] = defaultdict(set)
    for r in requests:
        for m in r.exploits:
            if m.cls == "nimda":
                marks[r.client].add(m.pattern)
    for r in requests:
        if len(marks[r.client]) < 2 or "nimda" in r.classes:
            continue
        if "iis-traversal" in r.classes and "cmd-exec" in r.classes:
            r.exploits.append(ExploitMatch("nimda", "traversal in a Nimda scan sequence"))


@lru_cache(maxsize=1 << 16)
def _ipkey(a: str) -> tuple:
    import ipaddress

    try:
        ip = ipaddress.ip_address(a)
        return (ip.version, int(ip))
    except ValueError:
        return (9, 0)


def _class_verdicts(
    ctx: AnalysisContext, requests: list[HttpRequestInfo], out: _Outbound, res: AnalyzerResult
) -> list[ClassVerdict]:
    by_cls: dict[str, list[HttpRequestInfo]] = defaultdict(list)
    for r in requests:
        for k in r.classes:
            by_cls[k].append(r)
        if r.classes:
            names = ", ".join(r.classes)
            st = f"answered {r.status}" if r.status is not None else r.outcome
            res.timeline.append(
                TimelineEvent(
                    r.time,
                    "attack",
                    f"{r.client} -> {r.server}:{r.server_port} HTTP {names}: "
                    f"{r.method} {safe_bytes(r.uri.encode('utf-8', 'surrogateescape')[:120])}"
                    f" ({st})",
                    [r.client, r.server],
                    Evidence([f for f in (r.first_frame, r.frame) if f], [r.uid]),
                    ctx.show_cmd(f"host {r.client} and tcp port {r.server_port}"),
                )
            )
    verdicts = []
    for cls in EXPLOIT_CLASSES:
        reqs = by_cls.get(cls)
        if not reqs:
            continue
        verdict, reasons = _verdict(cls, reqs, out)
        answered: dict[str, int] = {}
        for r in reqs:
            k = str(r.status) if r.status is not None else r.outcome
            answered[k] = answered.get(k, 0) + 1
        clients_ = sorted({r.client for r in reqs}, key=_ipkey)
        v = ClassVerdict(
            cls,
            EXPLOIT_CLASSES[cls],
            clients_,
            len(reqs),
            verdict,
            reasons,
            sorted({r.first_frame for r in reqs if r.first_frame})[:200],
            answered,
        )
        verdicts.append(v)
        sev = {"succeeded": "critical", "unknown": "high"}.get(
            verdict, "low" if cls in ("iis-probe", "webdav-probe") else "medium"
        )
        for client in clients_:
            mine = [r for r in reqs if r.client == client]
            ex = mine[0]
            port = ex.server_port
            res.findings.append(
                Finding(
                    severity=sev,
                    title=f"{EXPLOIT_CLASSES[cls]} from {client}: {verdict}",
                    detail=(
                        f"{len(mine)} request(s), e.g. {ex.method} "
                        f"{safe_bytes(ex.uri.encode('utf-8', 'surrogateescape')[:160])}; "
                        f"answers: {_answers(mine)}; " + "; ".join(reasons)
                    ),
                    evidence=Evidence(
                        sorted({r.first_frame for r in mine if r.first_frame})[:200],
                        list(dict.fromkeys(r.uid for r in mine))[:200],
                    ),
                    command=ctx.show_cmd(f"host {client} and tcp port {port}"),
                    category="compromise" if verdict == "succeeded" else "attack",
                    hosts=[client, ex.server],
                    time=min(r.time for r in mine),
                )
            )
    return verdicts


def _answers(reqs: list[HttpRequestInfo]) -> str:
    c: dict[str, int] = {}
    for r in reqs:
        k = str(r.status) if r.status is not None else r.outcome
        c[k] = c.get(k, 0) + 1
    return ", ".join(f"{k} x{n}" for k, n in sorted(c.items()))


# ----------------------------------------------------------------------------- carving
def _uri_name(uri: bytes | None, fallback: str) -> str:
    if not uri:
        return fallback
    path = uri.split(b"?", 1)[0].split(b"#", 1)[0]
    if b"://" in path:
        path = path.split(b"://", 1)[1].partition(b"/")[2]
    name = path.rstrip(b"/").rsplit(b"/", 1)[-1]
    return _t(_pct_once(name)) or fallback


def _gap_inside(stream: Any, start: int, end: int) -> bool:
    return stream is not None and any(start <= at <= end for at, _n in stream.gaps)


def _body_of(msg: H.HttpMessage, stream: Any) -> tuple[bytes, bool]:
    """(content after transfer and content decoding, every byte seen and framing satisfied)."""
    body = msg.decoded_body if msg.decoded_body is not None else msg.body
    complete = msg.body_complete and not msg.decoded_capped and msg.decode_error is None
    if msg.until_close:
        complete = complete and stream is not None and stream.fin_seen
    if _gap_inside(stream, msg.body_offset, msg.end):
        complete = False
    return body, complete


def _carve(
    ctx: AnalysisContext,
    row: dict,
    msg: H.HttpMessage,
    stream: Any,
    name: str,
    src: str,
    dst: str,
    direction: str,
) -> CarvedFile | None:
    import hashlib

    body, complete = _body_of(msg, stream)
    if not body:
        return None
    f1 = _frame(stream, msg.body_offset)
    f2 = _frame(stream, max(msg.body_offset, msg.end - 1))
    return CarvedFile(
        name=name,
        protocol="http",
        src=src,
        dst=dst,
        time=ctx.ts_of_frame(f2) if f2 else None,
        size=len(body),
        md5=hashlib.md5(body).hexdigest(),
        sha256=hashlib.sha256(body).hexdigest(),
        magic=file_type(body),
        complete=complete,
        evidence=Evidence([f for f in (f1, f2) if f], [row["uid"]]),
        direction=direction,
        data=body,
    )


def _carve_served(ctx: AnalysisContext, c: _Conn, tx: H.HttpTransaction, carver: _Carver) -> None:
    q, r = tx.request, tx.response
    row = c.row
    if q is not None and q.body:
        cf = _carve(ctx, row, q, c.c_stream, _uri_name(q.uri, "request-body"),
                    row["orig_h"], row["resp_h"], "upload")  # fmt: skip
        carver.add(cf, q, None)
    if r is not None and q is not None:
        cf = _carve(ctx, row, r, c.s_stream, _uri_name(q.uri, "index.html"),
                    row["resp_h"], row["orig_h"], "")  # fmt: skip
        carver.add(cf, r, q)


_RANGE = re.compile(rb"bytes\s+(\d{1,15})-(\d{1,15})/(\d{1,15})")
MAX_ASSEMBLED = 256 * 1024 * 1024  # largest file rebuilt from 206 ranges


class _Carver:
    """Collects carved bodies; 206 Partial Content pieces of one resource (same server, URI and
    Content-Range total) are put back together at their offsets (RFC 9110 14.4, 15.3.7) and
    given as one file when the ranges cover it, else as the pieces (incomplete)."""

    def __init__(self) -> None:
        self.files: list[CarvedFile] = []
        self.ranges: dict[tuple, list[tuple[int, CarvedFile]]] = {}

    def add(self, cf: CarvedFile | None, msg: H.HttpMessage, req: H.HttpMessage | None) -> None:
        if cf is None:
            return
        m = _RANGE.fullmatch((msg.header(b"content-range") or b"").strip())
        if msg.status == 206 and m and req is not None and cf.data is not None:
            a, b, total = (int(x) for x in m.groups())
            if b - a + 1 == cf.size and b < total <= MAX_ASSEMBLED:
                key = (cf.src, req.host, req.uri, total, cf.direction)
                self.ranges.setdefault(key, []).append((a, cf))
                return
        if msg.status == 206:
            cf.complete = False  # a part of a resource (multipart/byteranges or odd range)
        self.files.append(cf)

    def finish(self) -> list[CarvedFile]:
        import hashlib

        for (_src, _host, _uri, total, _d), parts in self.ranges.items():
            parts.sort(key=lambda p: p[0])
            buf = bytearray(total)
            covered = 0
            for a, cf in parts:
                assert cf.data is not None
                if a > covered:
                    break
                buf[a : a + cf.size] = cf.data
                covered = max(covered, a + cf.size)
            first = parts[0][1]
            if covered >= total and all(cf.complete for _a, cf in parts):
                data = bytes(buf)
                ev = Evidence()
                for _a, cf in parts:
                    ev = ev.merge(cf.evidence)
                ev.note = f"rebuilt from {len(parts)} 206 Partial Content responses"
                self.files.append(
                    CarvedFile(
                        name=first.name, protocol="http", src=first.src, dst=first.dst,
                        time=max((cf.time or 0.0) for _a, cf in parts), size=total,
                        md5=hashlib.md5(data).hexdigest(),
                        sha256=hashlib.sha256(data).hexdigest(), magic=file_type(data),
                        complete=True, evidence=ev, direction=first.direction, data=data,
                    )
                )  # fmt: skip
            else:
                for _a, cf in parts:
                    cf.complete = False
                    self.files.append(cf)
        self.ranges = {}
        return self.files


def _outbound(ctx: AnalysisContext, res: AnalyzerResult) -> list[HttpDownload]:
    downloads: list[HttpDownload] = []
    made: dict[int, HttpDownload] = {}
    carver = _Carver()
    for flow in ctx.each_loaded(_http_flows(ctx, inbound=False)):
        c = _connection(ctx, flow)
        row = c.row
        for tx in c.transactions:
            q, r = tx.request, tx.response
            if q is None:
                continue
            qf = _frame(c.c_stream, q.offset)
            rf = _frame(c.s_stream, r.offset) if r is not None else None
            cf = None
            if r is not None and r.status is not None and 200 <= r.status < 300:
                cf = _carve(
                    ctx, row, r, c.s_stream, _uri_name(q.uri, "index.html"),
                    row["resp_h"], row["orig_h"], "download",
                )  # fmt: skip
            body_len = cf.size if cf else (len(r.body) if r is not None else 0)
            d = HttpDownload(
                client=row["orig_h"],
                server=row["resp_h"],
                server_port=int(row["resp_p"]),
                uid=row["uid"],
                method=_t(q.method) or "",
                uri=_t(q.uri) or "",
                host=_t(q.host),
                server_software=_t(r.header(b"server")) if r is not None else None,
                status=r.status if r is not None else None,
                content_type=_t(r.content_type) if r is not None else None,
                size=body_len,
                declared_length=r.content_length if r is not None else None,
                complete=bool(cf and cf.complete),
                md5=cf.md5 if cf else None,
                magic=cf.magic if cf else None,
                request_frame=qf,
                response_frame=rf,
                time=ctx.ts_of_frame(qf) if qf else float(row["start"]),
            )
            downloads.append(d)
            host = d.host or d.server
            ev = Evidence([f for f in (qf, rf) if f], [row["uid"]])
            cmd = ctx.show_cmd(f"host {d.server} and tcp port {d.server_port}")
            st = d.status if d.status is not None else "no response"
            res.timeline.append(
                TimelineEvent(
                    d.time,
                    "outbound",
                    f"{d.client} fetched http://{safe_bytes((host + d.uri).encode('utf-8', 'surrogateescape'))[:200]}"
                    f" from {d.server}:{d.server_port} ({st}, {d.size} bytes)",
                    [d.client, d.server],
                    ev,
                    cmd,
                )
            )
            if r is not None:
                carver.add(cf, r, q)
            if cf is not None:
                made[id(cf)] = d
    for d in made.values():  # 206 pieces are parts of a file, not complete files
        d.complete = d.complete and d.status != 206
    for cf in carver.finish():
        res.files.append(cf)
        exe = cf.magic.startswith(("PE32", "MS-DOS", "ELF"))
        if not (exe or cf.magic.endswith(("archive", "compressed data", "script, text"))):
            continue  # pages, images and text: listed in files and the timeline only
        d = next(x for x in downloads if x.uid in cf.evidence.flows)
        res.findings.append(
            Finding(
                severity="high" if exe else "medium",
                title=(
                    "honeypot downloaded an executable"
                    if exe
                    else f"honeypot downloaded a file ({cf.magic})"
                ),
                detail=(
                    f"{d.client} fetched {safe_bytes(d.uri.encode('utf-8', 'surrogateescape'))} "
                    f"from {d.server} (Host: {d.host or '-'}, Server: {d.server_software or '-'}):"
                    f" status {d.status}, {cf.size} bytes, {cf.magic}, md5 {cf.md5}"
                    + ("" if cf.complete else " (incomplete)")
                ),
                evidence=cf.evidence,
                command=ctx.show_cmd(f"host {d.server} and tcp port {d.server_port}"),
                category="outbound",
                hosts=[d.client, d.server],
                time=d.time,
            )
        )
    return downloads
