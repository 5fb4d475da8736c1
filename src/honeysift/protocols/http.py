"""HTTP/1.x messages from one reassembled stream direction (RFC 9112, RFC 9110).

Why so defensive: honeypot HTTP is mostly worms and scanners (Code Red, IIS traversal, header
floods, zip bombs). Every message keeps its stream ``offset`` (to map back to frames), the raw
start line and header fields as bytes, and the body after transfer decoding. Header sections are
bounded (``MAX_HEADER_BYTES``, ``MAX_HEADERS``) and content decoding (gzip/deflate) is capped at
``MAX_DECODED`` output bytes, so memory and time stay bounded whatever the input.

Bytes, not str: ``method``/``uri``/header names and values are ``bytes``; ``fields()`` decodes
them as UTF-8 with ``errors="surrogateescape"`` (lossless), the tree text via ``safe_bytes``.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from honeysift.protocols.base import Node
from honeysift.safe_text import safe_bytes

MAX_HEADER_BYTES = 64 * 1024  # start line + header fields + blank line
MAX_HEADERS = 256
MAX_DECODED = 16 * 1024 * 1024  # output cap for gzip/deflate (zip bombs)
MAX_CODINGS = 4  # "gzip, gzip, gzip, ..." layers decoded at most

# RFC 9110 9.1/9.3 and common WebDAV/extension methods, for detection and start-line checks.
METHODS = frozenset(
    b"GET HEAD POST PUT DELETE CONNECT OPTIONS TRACE PATCH PROPFIND PROPPATCH MKCOL COPY "
    b"MOVE LOCK UNLOCK SEARCH SUBSCRIBE NOTIFY M-SEARCH".split()
)
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # RFC 9110 5.6.2
_VERSION = re.compile(rb"HTTP/\d\.\d\Z")
_LF = b"\n"


def _s(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", "surrogateescape")


@dataclass(slots=True)
class HttpMessage:
    """One request or response. ``body`` is after transfer decoding (de-chunked)."""

    offset: int
    is_request: bool
    end: int = 0  # stream offset just after the message
    method: bytes | None = None
    uri: bytes | None = None
    version: bytes | None = None
    status: int | None = None
    reason: bytes | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    body_offset: int = 0
    chunked: bool = False
    body_complete: bool = True  # False: stream ended before Content-Length / last chunk
    until_close: bool = False  # response body delimited by the end of the connection
    decoded_body: bytes | None = None  # after Content-Encoding (gzip/deflate), capped
    decoded_capped: bool = False
    decode_error: str | None = None
    headers_truncated: bool = False  # MAX_HEADER_BYTES or MAX_HEADERS hit
    skipped_before: int = 0  # non-HTTP bytes skipped to resynchronise before this message
    malformed: str | None = None

    def header(self, name: bytes) -> bytes | None:
        """First value of a header field (case-insensitive name)."""
        n = name.lower()
        for k, v in self.headers:
            if k.lower() == n:
                return v
        return None

    def header_all(self, name: bytes) -> list[bytes]:
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    @property
    def host(self) -> bytes | None:
        return self.header(b"host")

    @property
    def user_agent(self) -> bytes | None:
        return self.header(b"user-agent")

    @property
    def content_type(self) -> bytes | None:
        return self.header(b"content-type")

    @property
    def content_length(self) -> int | None:
        v = self.header(b"content-length")
        return int(v) if v is not None and v.strip().isdigit() else None

    @property
    def is_interim(self) -> bool:
        """1xx (other than 101) responses precede the final response to the same request."""
        return self.status is not None and 100 <= self.status < 200 and self.status != 101

    def fields(self) -> dict[str, list]:
        return self.tree().fields()

    def tree(self) -> Node:
        if self.is_request:
            line = b" ".join(x for x in (self.method, self.uri, self.version) if x is not None)
            root = Node(f"Hypertext Transfer Protocol: {safe_bytes(line)}", "http.request", True)
            root.add(
                f"Request Method: {safe_bytes(self.method or b'')}",
                "http.request.method",
                _s(self.method),
            )
            root.add(
                f"Request URI: {safe_bytes(self.uri or b'')}", "http.request.uri", _s(self.uri)
            )
            if self.version is not None:
                root.add(
                    f"Request Version: {safe_bytes(self.version)}",
                    "http.request.version",
                    _s(self.version),
                )
        else:
            line = b"%s %d %s" % (self.version or b"", self.status or 0, self.reason or b"")
            root = Node(f"Hypertext Transfer Protocol: {safe_bytes(line)}", "http.response", True)
            root.add(
                f"Response Version: {safe_bytes(self.version or b'')}",
                "http.response.version",
                _s(self.version),
            )
            root.add(f"Status Code: {self.status}", "http.response.code", self.status)
            root.add(
                f"Response Phrase: {safe_bytes(self.reason or b'')}",
                "http.response.phrase",
                _s(self.reason),
            )
        line_field = "http.request.line" if self.is_request else "http.response.line"
        named = {
            b"host": "http.host",
            b"user-agent": "http.user_agent",
            b"content-length": "http.content_length_header",
            b"content-type": "http.content_type",
            b"transfer-encoding": "http.transfer_encoding",
            b"content-encoding": "http.content_encoding",
        }
        for k, v in self.headers:
            raw = k + b": " + v
            n = root.add(safe_bytes(raw), line_field, _s(raw) + "\r\n")
            fname = named.get(k.lower())
            if fname:
                n.add(f"{safe_bytes(k)}: {safe_bytes(v)}", fname, _s(v))
        if self.body or not self.body_complete:
            root.add(
                f"[Body: {len(self.body)} bytes{'' if self.body_complete else ', incomplete'}]"
            )
        if self.decoded_body is not None:
            cap = ", capped" if self.decoded_capped else ""
            root.add(f"[Content-encoded body decoded: {len(self.decoded_body)} bytes{cap}]")
        for flag, text in (
            (self.headers_truncated, "[Header section truncated at the size/count limit]"),
            (self.decode_error, f"[Content decoding failed: {self.decode_error}]"),
            (self.malformed, f"[Malformed: {self.malformed}]"),
        ):
            if flag:
                root.add(text)
        return root


# ---------------------------------------------------------------- header section
def _read_head(data: bytes, pos: int, base: int, msg: HttpMessage) -> int | None:
    """Parse start line + header fields at ``pos``; return the body start, None if incomplete."""
    limit = min(len(data), pos + MAX_HEADER_BYTES)
    lines: list[bytes] = []
    p = pos
    end = None
    while p < limit:
        nl = data.find(_LF, p, limit)
        if nl < 0:
            break
        line = data[p:nl]
        if line.endswith(b"\r"):
            line = line[:-1]
        p = nl + 1
        if not line and lines:
            end = p
            break
        if line or lines:
            lines.append(line)
        if len(lines) > MAX_HEADERS + 1:
            msg.headers_truncated = True
            break
    if end is None and not msg.headers_truncated:
        msg.headers_truncated = limit - pos >= MAX_HEADER_BYTES
    if not lines:
        if p < len(data) and data[p:limit]:
            lines.append(data[p:limit].rstrip(b"\r"))
        else:
            return None
    _start_line(lines[0], msg, base + pos)
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and msg.headers:  # obs-fold, RFC 9112 5.2
            k, v = msg.headers[-1]
            msg.headers[-1] = (k, v + b" " + line.strip(b" \t"))
            continue
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.match(name):
            if msg.malformed is None:
                msg.malformed = f"invalid header field line in message at byte {base + pos}"
            if not colon:
                continue
        if len(msg.headers) >= MAX_HEADERS:
            msg.headers_truncated = True
            break
        msg.headers.append((name, value.strip(b" \t")))
    if msg.headers_truncated:
        msg.malformed = msg.malformed or (
            f"header section over {MAX_HEADER_BYTES} bytes or {MAX_HEADERS} fields "
            f"at byte {base + pos}"
        )
        return None
    return end


def _start_line(line: bytes, msg: HttpMessage, at: int) -> None:
    parts = line.split(None, 2)
    if msg.is_request:
        # request-line = method SP request-target SP HTTP-version (RFC 9112 3)
        if len(parts) >= 1:
            msg.method = parts[0]
        if len(parts) >= 2:
            msg.uri = parts[1]
        if len(parts) == 3:
            msg.version = parts[2]
        if len(parts) != 3 or not _VERSION.match(parts[2]) or not _TOKEN.match(parts[0]):
            msg.malformed = f"invalid request line at byte {at}"
    else:
        # status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 4)
        ver, _, rest = line.partition(b" ")
        code, _, reason = rest.lstrip(b" ").partition(b" ")
        msg.version, msg.reason = ver, reason
        if len(code) == 3 and code.isdigit():
            msg.status = int(code)
        if msg.status is None or not _VERSION.match(ver):
            msg.malformed = f"invalid status line at byte {at}"


# ---------------------------------------------------------------- bodies
def _chunked(data: bytes, pos: int, msg: HttpMessage, base: int) -> int:
    """Decode chunked transfer coding (RFC 9112 7.1); returns the offset after the message."""
    out = bytearray()
    n = len(data)
    while True:
        nl = data.find(_LF, pos, min(n, pos + 1024))
        if nl < 0:
            msg.body_complete = False
            if n - pos >= 1024:
                msg.malformed = f"chunk-size line too long at byte {base + pos}"
            pos = n
            break
        size_txt = data[pos:nl].split(b";", 1)[0].strip()
        try:
            size = int(size_txt, 16) if size_txt and len(size_txt) <= 16 else -1
        except ValueError:
            size = -1
        if size < 0:
            msg.malformed = f"invalid chunk size at byte {base + pos}"
            msg.body_complete = False
            pos = n
            break
        pos = nl + 1
        if size == 0:  # last-chunk, then trailer section until an empty line
            for _ in range(MAX_HEADERS + 1):
                nl = data.find(_LF, pos, min(n, pos + MAX_HEADER_BYTES))
                if nl < 0:
                    msg.body_complete = pos >= n  # tolerate a missing final CRLF at the end
                    pos = n
                    break
                line = data[pos:nl].rstrip(b"\r")
                pos = nl + 1
                if not line:
                    break
                name, colon, value = line.partition(b":")
                if colon and len(msg.headers) < MAX_HEADERS:
                    msg.headers.append((name, value.strip(b" \t")))
            break
        out += data[pos : pos + size]
        if pos + size > n:
            msg.body_complete = False
            pos = n
            break
        pos += size
        if data[pos : pos + 2] == b"\r\n":
            pos += 2
        elif data[pos : pos + 1] == b"\n":
            pos += 1
    msg.body = bytes(out)
    return pos


def _decode_content(msg: HttpMessage) -> None:
    """Undo gzip/deflate Content-Encoding into ``decoded_body``, capped at MAX_DECODED."""
    codings = [
        c.strip().lower()
        for v in msg.header_all(b"content-encoding")
        for c in v.split(b",")
        if c.strip() and c.strip().lower() != b"identity"
    ]
    if not codings or not msg.body:
        return
    if len(codings) > MAX_CODINGS:
        msg.decode_error = f"{len(codings)} content codings"
        return
    data = msg.body
    for coding in reversed(codings):
        if coding in (b"gzip", b"x-gzip"):
            attempts = (31,)
        elif coding == b"deflate":  # RFC 9110 8.4.1.2 says zlib; raw deflate is common too
            attempts = (15, -15)
        else:
            msg.decode_error = f"unsupported content coding {_s(coding)!r}"
            return
        for wbits in attempts:
            try:
                d = zlib.decompressobj(wbits)
                out = d.decompress(data, MAX_DECODED + 1)
                break
            except zlib.error as exc:
                err = str(exc)
        else:
            msg.decode_error = err
            return
        if len(out) > MAX_DECODED:
            out = out[:MAX_DECODED]
            msg.decoded_capped = True
        data = out
    msg.decoded_body = data


def _no_body_response(msg: HttpMessage, method: bytes | None) -> bool:
    # RFC 9112 6.3 rule 1: HEAD, 1xx, 204, 304 have no content
    s = msg.status or 0
    return method == b"HEAD" or 100 <= s < 200 or s in (204, 304)


def _body(data: bytes, pos: int, msg: HttpMessage, base: int, method: bytes | None) -> int:
    msg.body_offset = base + pos
    if not msg.is_request and _no_body_response(msg, method):
        return pos
    te = b",".join(msg.header_all(b"transfer-encoding")).lower()
    if te:
        codings = [c.strip() for c in te.split(b",") if c.strip()]
        if codings and codings[-1] == b"chunked":
            msg.chunked = True
            return _chunked(data, pos, msg, base)
        if msg.is_request:  # RFC 9112 6.3 rule 4: cannot determine the length
            msg.malformed = (
                msg.malformed or f"transfer-encoding without chunked at byte {base + pos}"
            )
            msg.body_complete = False
            return len(data)
        msg.until_close = True
        msg.body = data[pos:]
        return len(data)
    lengths = {v.strip() for v in msg.header_all(b"content-length")}
    lengths = {x for v in lengths for x in v.split(b",") if x.strip()}
    if lengths:
        vals = {x.strip() for x in lengths}
        if len(vals) != 1 or not next(iter(vals)).isdigit():
            msg.malformed = msg.malformed or f"invalid Content-Length at byte {base + pos}"
            msg.body_complete = False
            msg.body = data[pos:]
            return len(data)
        n = int(next(iter(vals)))
        msg.body = data[pos : pos + n]
        msg.body_complete = pos + n <= len(data)
        return min(len(data), pos + n)
    if msg.is_request:
        return pos
    msg.until_close = True
    msg.body = data[pos:]
    return len(data)


# ---------------------------------------------------------------- direction parsers
_METHOD_ALT = b"|".join(re.escape(m) for m in sorted(METHODS))
_REQ_START = re.compile(rb"(?m)^(?:" + _METHOD_ALT + rb") [^\r\n]* HTTP/\d\.\d\r?$")
_RESP_START = re.compile(rb"(?m)^HTTP/\d\.\d \d{3}")


def _parse(
    data: bytes, is_request: bool, base_offset: int, methods: Sequence[bytes | None] | None
) -> list[HttpMessage]:
    out: list[HttpMessage] = []
    pos, n = 0, len(data)
    req_index = 0
    skipped = 0
    resync = _REQ_START if is_request else _RESP_START
    while pos < n:
        while pos < n and data[pos] in (0x0D, 0x0A):  # RFC 9112 2.2: ignore empty lines
            pos += 1
        if pos >= n:
            break
        msg = HttpMessage(base_offset + pos, is_request)
        body_start = _read_head(data, pos, base_offset, msg)
        bad_start = (msg.method is None and msg.status is None) or (
            is_request and (msg.version is None or not _VERSION.match(msg.version))
        )
        if bad_start and not msg.headers_truncated:
            # Not a start line (mid-body after a capture gap, or another protocol): skip to
            # the next plausible start line instead of guessing at framing.
            m = resync.search(data, pos + 1)
            nxt = m.start() if m else n
            skipped += nxt - pos
            if m is None:
                msg.malformed = (
                    f"no HTTP start line in {skipped} bytes before byte {base_offset + n}"
                )
                msg.method = msg.uri = msg.version = msg.reason = None
                msg.status, msg.headers, msg.end = None, [], base_offset + n
                msg.body_complete = False
                out.append(msg)  # a marker: neither request nor response (pair() skips it)
                break
            pos = nxt
            continue
        msg.skipped_before, skipped = skipped, 0
        method = None
        if not is_request and methods is not None and req_index < len(methods):
            method = methods[req_index]
        if body_start is None:  # incomplete or over-limit header section: keep what we have
            msg.body_complete = False
            msg.malformed = msg.malformed or f"incomplete header section at byte {msg.offset}"
            msg.end = base_offset + n
            out.append(msg)
            break
        end = _body(data, body_start, msg, base_offset, method)
        _decode_content(msg)
        msg.end = base_offset + end
        out.append(msg)
        if not msg.is_interim and not is_request:
            req_index += 1
        switched = msg.status == 101 or (method == b"CONNECT" and 200 <= (msg.status or 0) < 300)
        if switched or end <= pos:
            break  # the rest of the connection is another protocol (RFC 9110 15.2.2, 9.3.6)
        pos = end
    return out


def parse_requests(data: bytes, *, base_offset: int = 0) -> list[HttpMessage]:
    """All requests (pipelined or sequential) in the client-to-server bytes."""
    return _parse(data, True, base_offset, None)


def parse_responses(
    data: bytes, *, request_methods: Sequence[bytes | None] | None = None, base_offset: int = 0
) -> list[HttpMessage]:
    """All responses in the server-to-client bytes.

    ``request_methods`` (the methods of the requests, in order) lets a response to HEAD be
    read without a body and a 2xx to CONNECT end the HTTP part; 1xx interim responses do not
    consume a request.
    """
    return _parse(data, False, base_offset, request_methods)


@dataclass(slots=True)
class HttpTransaction:
    """A request and its final response (either may be None), plus 1xx interim responses."""

    request: HttpMessage | None
    response: HttpMessage | None
    interim: list[HttpMessage] = field(default_factory=list)


def pair(
    requests: Sequence[HttpMessage], responses: Sequence[HttpMessage]
) -> list[HttpTransaction]:
    """Match responses to requests in order (RFC 9112 9.3.2: responses come in request order)."""
    out = [HttpTransaction(r, None) for r in requests if r.method is not None]
    i = 0
    for resp in responses:
        if resp.status is None:
            continue  # a resync marker or an unreadable status line
        if i >= len(out):
            out.append(HttpTransaction(None, None))
        if resp.is_interim:
            out[i].interim.append(resp)
            continue
        out[i].response = resp
        i += 1
    return out


def parse_connection(
    client: bytes, server: bytes, *, client_base: int = 0, server_base: int = 0
) -> list[HttpTransaction]:
    """Convenience: parse both directions and pair them."""
    reqs = parse_requests(client, base_offset=client_base)
    resps = parse_responses(
        server,
        request_methods=[r.method for r in reqs if r.method is not None],
        base_offset=server_base,
    )
    return pair(reqs, resps)


def looks_like_http(data: bytes) -> bool:
    """Cheap content test: a known method followed by a space, or a status line."""
    if data.startswith(b"HTTP/1.") or data.startswith(b"HTTP/0.9"):
        return data[8:9] in (b" ", b"")
    sp = data.find(b" ", 0, 16)
    return sp > 0 and data[:sp] in METHODS
