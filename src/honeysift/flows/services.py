"""Service guess for a flow: by the first payload bytes when they are recognisable, else by port.

Why payload first: honeypots see IRC on 6669, HTTP on 6667 and bots on odd ports; a port table
alone mislabels exactly the flows an analyst cares about. Names follow Zeek's conn.log
``service`` values where Zeek has one (http, ftp, irc, smb, dns, ssh, ssl, ...).
"""

from __future__ import annotations

import numpy as np

from honeysift.capture import kernels as capture_kernels
from honeysift.protocols.ftp import looks_like_ftp
from honeysift.protocols.http import METHODS, looks_like_http
from honeysift.protocols.irc import looks_like_irc

#: How many leading payload bytes the payload tests look at.
SNIFF_BYTES = 512

# IANA service-name registry ports, named as Zeek names the analyzer where it has one.
TCP_PORTS: dict[int, str] = {
    20: "ftp-data",
    21: "ftp",
    22: "ssh",
    23: "telnet",
    25: "smtp",
    53: "dns",
    80: "http",
    88: "krb",
    110: "pop3",
    111: "portmapper",
    113: "ident",
    135: "dce_rpc",
    139: "smb",
    143: "imap",
    389: "ldap",
    443: "ssl",
    445: "smb",
    513: "rlogin",
    514: "rsh",
    587: "smtp",
    993: "ssl",
    995: "ssl",
    1080: "socks",
    1433: "mssql",
    1723: "pptp",
    3128: "http",
    3306: "mysql",
    3389: "rdp",
    5060: "sip",
    5900: "vnc",
    6379: "redis",
    8000: "http",
    8080: "http",
    8443: "ssl",
    8888: "http",
    **{p: "irc" for p in range(6660, 6670)},
    6697: "irc",
    7000: "irc",
}
UDP_PORTS: dict[int, str] = {
    53: "dns",
    67: "dhcp",
    68: "dhcp",
    69: "tftp",
    111: "portmapper",
    123: "ntp",
    137: "dns",
    138: "netbios-dgm",
    161: "snmp",
    162: "snmp",
    500: "ipsec",
    514: "syslog",
    1434: "mssql-monitor",
    1900: "ssdp",
    3544: "teredo",
    4789: "vxlan",
    5060: "sip",
    5353: "dns",
    5355: "dns",
}


#: Service names as stored (column ``service`` holds codes into this array; 0 is "").
SERVICES = np.array(
    [""] + sorted(set(TCP_PORTS.values()) | set(UDP_PORTS.values()) | {"http", "ftp", "irc"}),
    dtype=object,
)
SERVICE_CODE = {name: i for i, name in enumerate(SERVICES)}


def _code_lut(table: dict[int, str]) -> np.ndarray:
    lut = np.zeros(65536, dtype=np.uint8)
    for port, name in table.items():
        lut[port] = SERVICE_CODE[name]
    return lut


#: Service code by port number (0 when the port has no name).
TCP_CODES = _code_lut(TCP_PORTS)
UDP_CODES = _code_lut(UDP_PORTS)


def port_table(proto: int) -> dict[int, str]:
    return TCP_PORTS if proto == 6 else UDP_PORTS if proto == 17 else {}


def _server_lut(table: dict[int, str]) -> np.ndarray:
    lut = np.zeros(65536, dtype=bool)
    lut[list(table)] = True
    return lut


#: Port numbers that look like a server's: a known service port (lookup table by port).
TCP_SERVER = _server_lut(TCP_PORTS)
UDP_SERVER = _server_lut(UDP_PORTS)


def server_like(proto: np.ndarray, port: np.ndarray) -> np.ndarray:
    """True where *port* is a known service port, or below 1024, for TCP/UDP rows."""
    p = port.astype(np.int64)
    known = np.where(proto == 6, TCP_SERVER[p], np.where(proto == 17, UDP_SERVER[p], False))
    return ((p < 1024) & (p > 0)) | known


def looks_like_smb(data: bytes) -> bool:
    """NBSS session message (type 0x00, RFC 1002 section 4.3.1) carrying SMB1 or SMB2."""
    return len(data) >= 8 and data[0] == 0 and data[4:8] in (b"\xffSMB", b"\xfeSMB")


def looks_like_dns(data: bytes, tcp: bool = False) -> bool:
    """RFC 1035 section 4.1.1 header with one to a few questions and a sane first label."""
    if tcp:
        if len(data) < 2 or int.from_bytes(data[:2], "big") < 12:
            return False
        data = data[2:]
    if len(data) < 17:
        return False
    flags = int.from_bytes(data[2:4], "big")
    opcode = (flags >> 11) & 0xF
    qd = int.from_bytes(data[4:6], "big")
    if opcode not in (0, 1, 2, 4, 5) or not 1 <= qd <= 4 or (flags >> 4) & 0x7 == 7:
        return False
    lab = data[12]
    return 0 < lab <= 63 and len(data) > 12 + lab


def by_payload(proto: int, data: bytes) -> str | None:
    """Service recognised from the first payload bytes of a direction, or None."""
    if not data:
        return None
    if proto == 6:
        if looks_like_smb(data):
            return "smb"
        if looks_like_http(data):
            return "http"
        line = data.split(b"\n", 1)[0]
        if data.startswith((b"220 ", b"220-")) and any(
            w in line.upper() for w in (b"SMTP", b"MAIL")
        ):
            return "smtp"  # both greet with 220; a mail server says so
        if data.startswith((b"220 ", b"220-")) or (
            line[:5].upper() == b"USER " and line.rstrip(b"\r").count(b" ") == 1
        ):
            return "ftp"
        if looks_like_irc(data):
            return "irc"
        if looks_like_ftp(data):
            return "ftp"
        return None
    if proto == 17 and looks_like_dns(data):
        return "dns"
    return None


def guess(proto: int, orig_p: int, resp_p: int, orig_data: bytes, resp_data: bytes) -> str:
    """Payload verdict (originator's bytes first), else the responder's port, else ''."""
    for d in (orig_data, resp_data):
        s = by_payload(proto, d)
        if s:
            return s
    table = port_table(proto)
    return table.get(resp_p) or table.get(orig_p) or ""


_PREFIXES = sorted(
    {(m + b"    ")[:4] for m in METHODS}
    | {
        b"HTTP",
        b"220 ",
        b"220-",
        b"USER",
        b"AUTH",
        b"FEAT",
        b"SYST",
        b"OPTS",
        b"user",
        b"NICK",
        b"PASS",
        b"CAP ",
        b"SERV",
        b"NOTI",
        b"PING",
        b"ERRO",
        b"PRIV",
        b"MODE",
        b"JOIN",
    }
)
_PREFIX_U32 = np.unique(np.array([int.from_bytes(p, "big") for p in _PREFIXES], np.uint32))


PRE_NONE, PRE_MAYBE, PRE_DNS, PRE_SMB, PRE_HTTP, PRE_FTP = 0, 1, 2, 3, 4, 5
_U32 = {k: int.from_bytes(k, "big") for k in (b"GET ", b"PUT ", b"POST", b"HEAD", b"220 ", b"220-")}


def _is_prefix(w: np.ndarray) -> np.ndarray:
    """w in _PREFIX_U32 (sorted): one binary search instead of np.isin's sort."""
    i = np.minimum(np.searchsorted(_PREFIX_U32, w), len(_PREFIX_U32) - 1)
    return _PREFIX_U32[i] == w


PRE_NAMES = {PRE_DNS: "dns", PRE_SMB: "smb", PRE_HTTP: "http", PRE_FTP: "ftp"}


def candidates(
    mapped: np.ndarray, off: np.ndarray, avail: np.ndarray, proto: np.ndarray
) -> np.ndarray:
    """Vectorized test on the first payload bytes of many flows: PRE_DNS / PRE_SMB /
    PRE_HTTP / PRE_FTP when the bytes alone decide (the same checks as looks_like_dns /
    looks_like_smb), PRE_MAYBE where a text protocol test could succeed (only those are read
    and parsed in Python), PRE_NONE otherwise. Payloads not in the file (reassembled
    fragments, ``off < 0``) are PRE_MAYBE. The bytes are read from *mapped* (the capture file);
    :func:`classify` takes them from the packet table's ``heads`` instead."""
    off = np.asarray(off, np.int64)
    if len(off) == 0:
        return np.zeros(0, dtype=np.int8)
    # read in file order: the pages are visited front to back (TLB and prefetch friendly)
    o = np.argsort(off)
    h8, h12 = np.empty(len(off), np.uint64), np.empty(len(off), np.uint8)
    h8[o], h12[o] = capture_kernels.payload_heads(mapped, off[o], np.asarray(avail, np.int64)[o])
    return classify(h8, h12, off, avail, proto)


def classify(
    head8: np.ndarray, head12: np.ndarray, off: np.ndarray, avail: np.ndarray, proto: np.ndarray
) -> np.ndarray:
    """:func:`candidates` on payload bytes already read (capture.kernels.payload_heads: bytes
    0-7 as a big-endian number, byte 12), e.g. the packet table's own."""
    if len(head8) == 0:
        return np.zeros(0, dtype=np.int8)
    off, avail = np.asarray(off, np.int64), np.asarray(avail, np.int64)
    w0 = (head8 >> np.uint64(32)).astype(np.uint32)  # payload bytes 0-3, big-endian
    w4 = (head8 & np.uint64(0xFFFFFFFF)).astype(np.uint32)  # bytes 4-7
    b0, b4, b12 = w0 >> 24, w4 >> 24, head12
    smb = (b0 == 0) & ((w4 == 0xFF534D42) | (w4 == 0xFE534D42))
    text = _is_prefix(w0) | (b0 == ord(":")) | (b0 == ord("@"))
    qd = w4 >> 16  # DNS question count (bytes 4-5)
    opcode = (w0 >> 11) & 0xF  # DNS opcode (byte 2, bits 3-6)
    dns = (
        (avail >= 17)
        & (qd >= 1)
        & (qd <= 4)
        & np.isin(opcode, (0, 1, 2, 4, 5))
        & (b12 > 0)
        & (b12 <= 63)
    )
    # the commonest text starts decided here (what by_payload answers for them): a 3- or
    # 4-letter method and a space (looks_like_http), an FTP/SMTP-style "220" greeting
    u = _U32
    http = (w0 == u[b"GET "]) | (w0 == u[b"PUT "])
    http |= ((w0 == u[b"POST"]) | (w0 == u[b"HEAD"])) & (b4 == ord(" "))
    ftp = (w0 == u[b"220 "]) | (w0 == u[b"220-"])
    tcp = proto == 6
    code = np.select(
        [off < 0, tcp & smb, tcp & http, tcp & ftp, tcp & text, (proto == 17) & dns],
        [
            PRE_MAYBE,
            PRE_SMB,
            PRE_HTTP,
            PRE_MAYBE,
            PRE_MAYBE,
            PRE_DNS,
        ],  # "220": FTP or SMTP, read it
        PRE_NONE,
    )
    return code.astype(np.int8)
