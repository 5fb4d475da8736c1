"""The inbound attack surface: every honeypot service remote hosts reached, and by whom.

Names are IANA service names (RFC 6335 registry) plus the backdoor and trojan ports analysts
look for; a port with no name shows as ``unknown``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from honeysift.analysis.context import AnalysisContext
from honeysift.analysis.model import Evidence, ServiceVerdict

IANA_TCP = {
    21: "ftp",
    22: "ssh",
    23: "telnet",
    25: "smtp",
    53: "domain",
    80: "http",
    110: "pop3",
    111: "sunrpc",
    113: "ident",
    135: "epmap (DCE/RPC)",
    139: "netbios-ssn",
    143: "imap",
    443: "https",
    445: "microsoft-ds",
    1025: "blackjack (Windows RPC)",
    1080: "socks",
    1433: "ms-sql-s",
    1723: "pptp",
    3127: "mydoom backdoor",
    3128: "squid",
    3306: "mysql",
    3389: "ms-wbt-server (RDP)",
    4444: "msblast shell",
    4899: "radmin",
    5000: "upnp",
    5554: "sasser ftp",
    5900: "vnc",
    6129: "dameware",
    6667: "ircd",
    8080: "http-alt",
    9996: "sasser shell",
    10000: "webmin",
    12345: "netbus",
    27374: "subseven",
    31337: "back orifice",
}
IANA_UDP = {
    53: "domain",
    67: "bootps",
    69: "tftp",
    123: "ntp",
    137: "netbios-ns",
    138: "netbios-dgm",
    161: "snmp",
    500: "isakmp",
    1434: "ms-sql-m",
    1900: "ssdp",
    5060: "sip",
    28431: "hack-a-tack",
    31337: "back orifice",
    31789: "hack-a-tack",
}

#: Ports whose mere use suggests a backdoor or trojan (what the write-up flagged by hand).
BACKDOOR_PORTS = {
    ("tcp", 4899): "Radmin remote administration (installed by W32/Deloder after SMB logons)",
    ("udp", 28431): "Hack-a-Tack trojan (its client sends from udp/28432)",
    ("udp", 31789): "Hack-a-Tack trojan",
    ("tcp", 31337): "Back Orifice",
    ("udp", 31337): "Back Orifice",
    ("tcp", 12345): "NetBus",
    ("tcp", 27374): "SubSeven",
    ("tcp", 1524): "ingreslock root shell",
    ("tcp", 3127): "MyDoom backdoor",
    ("tcp", 4444): "MSBlast remote shell",
    ("tcp", 5554): "Sasser FTP server",
    ("tcp", 9996): "Sasser remote shell",
    ("tcp", 6129): "DameWare remote control",
}


def service_name(proto: str, port: int) -> str:
    table = IANA_TCP if proto == "tcp" else IANA_UDP if proto == "udp" else {}
    return table.get(port, "unknown")


@dataclass(slots=True)
class _Svc:
    proto: str
    port: int
    attackers: dict[str, None] = field(default_factory=dict)
    probers: dict[str, None] = field(default_factory=dict)
    connections: int = 0
    packets: int = 0
    flows: list[int] = field(default_factory=list)
    first_frame: int = 0


def inbound_services(ctx: AnalysisContext) -> dict[tuple[str, int], ServiceVerdict]:
    """One ServiceVerdict per (proto, honeypot port) reached by remote hosts; verdict
    "unknown" until an analyzer decides it."""
    f = ctx.flows
    c = f.columns
    proto = f.column("proto").tolist()
    oh, rh = f.column("orig_h"), f.column("resp_h")
    rp = c["resp_p"].tolist()
    opay = c["orig_payload_bytes"].tolist()
    pk = (c["orig_pkts"] + c["resp_pkts"]).tolist()
    ff = c["first_frame"].tolist()
    uid = c["uid"]
    svcs: dict[tuple[str, int], _Svc] = {}
    hp: dict[str, bool] = defaultdict(bool)
    for a in set(oh) | set(rh):
        hp[a] = ctx.is_honeypot(a)
    for i in range(len(f)):
        if not hp[rh[i]] or hp[oh[i]] or proto[i] not in ("tcp", "udp"):
            continue
        key = (proto[i], rp[i])
        s = svcs.get(key)
        if s is None:
            s = svcs[key] = _Svc(proto[i], rp[i], first_frame=ff[i])
        s.connections += 1
        s.packets += pk[i]
        s.flows.append(i)
        if opay[i] > 0:
            s.attackers[oh[i]] = None
        else:
            s.probers[oh[i]] = None
    out: dict[tuple[str, int], ServiceVerdict] = {}
    for key, s in sorted(svcs.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        probers = [h for h in s.probers if h not in s.attackers]
        bpf = f"{s.proto} and dst port {s.port}"
        out[key] = ServiceVerdict(
            proto=s.proto,
            port=s.port,
            name=service_name(s.proto, s.port),
            attackers=list(s.attackers),
            probers=probers,
            connections=s.connections,
            packets=s.packets,
            verdict="unknown" if s.attackers else "failed",
            reasons=(
                ["payload was sent; no analyzer for this service decided more"]
                if s.attackers
                else ["only probes without payload: nothing that could exploit a service was sent"]
            ),
            evidence=Evidence([s.first_frame], [str(uid[i]) for i in s.flows[:50]]),
            command=ctx.cmd("flows", bpf),
            details={"flows": s.flows},
        )
    return out
