"""The inbound attack surface: every honeypot service remote hosts reached, and by whom.

Names are IANA service names (RFC 6335 registry) plus the backdoor and trojan ports analysts
look for; a port with no name shows as ``unknown``.
"""

from __future__ import annotations

import numpy as np

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


#: At most this many attacker and prober addresses are listed per service (all are counted).
MAX_LISTED = 5000


def inbound_services(ctx: AnalysisContext) -> dict[tuple[str, int], ServiceVerdict]:
    """One ServiceVerdict per (proto, honeypot port) reached by remote hosts; verdict "unknown"
    until an analyzer decides it. Grouped with numpy; ``details["flows"]`` holds the flow rows."""
    from honeysift.analysis.addrs import AddressIds

    f = ctx.flows
    c = f.columns
    out: dict[tuple[str, int], ServiceVerdict] = {}
    if not len(f):
        return out
    ids = ctx.__dict__.get("_addr_ids") or AddressIds.of(f)
    ctx.__dict__["_addr_ids"] = ids
    o_hp = ctx.honeypot_mask(c["orig_hi"], c["orig_lo"])
    r_hp = ctx.honeypot_mask(c["resp_hi"], c["resp_lo"])
    proto = c["proto"]
    rows = np.flatnonzero(r_hp & ~o_hp & ((proto == 6) | (proto == 17)))
    if not rows.size:
        return out
    key = proto[rows].astype(np.int64) * 65536 + c["resp_p"][rows].astype(np.int64)
    order = np.lexsort((c["start_ns"][rows], key))
    rows, key = rows[order], key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], rows.shape[0]]
    pkts = c["orig_pkts"][rows].astype(np.int64) + c["resp_pkts"][rows].astype(np.int64)
    pay = c["orig_payload_bytes"][rows] > 0
    orig = ids.orig[rows]
    ff = c["first_frame"][rows]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        k = int(key[a])
        pname = "tcp" if k >> 16 == 6 else "udp"
        port = k & 0xFFFF
        att = np.unique(orig[a:b][pay[a:b]])
        prb = np.setdiff1d(np.unique(orig[a:b][~pay[a:b]]), att)
        svc_rows = rows[a:b]
        bpf = f"{pname} and dst port {port}"
        out[(pname, port)] = ServiceVerdict(
            proto=pname,
            port=port,
            name=service_name(pname, port),
            attackers=ids.texts(att[:MAX_LISTED]),
            probers=ids.texts(prb[:MAX_LISTED]),
            connections=b - a,
            packets=int(pkts[a:b].sum()),
            verdict="unknown" if att.size else "failed",
            reasons=(
                ["payload was sent; no analyzer for this service decided more"]
                if att.size
                else ["only probes without payload: nothing that could exploit a service was sent"]
            ),
            evidence=Evidence(
                [int(ff[a:b].min())], [ctx.pipe.uid(i) for i in svc_rows[:50].tolist()]
            ),
            command=ctx.cmd("flows", bpf),
            details={
                "flows": svc_rows,
                "attacker_count": int(att.size),
                "prober_count": int(prb.size),
            },
        )
    return dict(sorted(out.items()))
