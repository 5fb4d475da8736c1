"""Every remote host that exchanged packets with a honeypot, and the services it touched."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from honeysift.analysis.context import AnalysisContext


@dataclass(slots=True)
class RemoteHost:
    ip: str
    first_seen: float
    last_seen: float
    flows: int = 0
    initiated: int = 0  # flows this host started towards a honeypot
    contacted: int = 0  # flows a honeypot started towards it
    bytes_to_honeypot: int = 0  # IP bytes
    bytes_from_honeypot: int = 0
    packets_to_honeypot: int = 0
    packets_from_honeypot: int = 0
    payload_to_honeypot: int = 0
    ports: list[str] = field(default_factory=list)  # honeypot services it connected to ("tcp/445")
    contacted_ports: list[str] = field(default_factory=list)  # its services a honeypot connected to
    sent_payload: bool = False

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.__slots__}


def remote_hosts(ctx: AnalysisContext) -> list[RemoteHost]:
    f = ctx.flows
    c = f.columns
    oh, rh = f.column("orig_h"), f.column("resp_h")
    proto = f.column("proto").tolist()
    start = (c["start_ns"] / 1e9).tolist()
    end = (c["end_ns"] / 1e9).tolist()
    _op, rp = c["orig_p"].tolist(), c["resp_p"].tolist()
    oib, rib = c["orig_ip_bytes"].tolist(), c["resp_ip_bytes"].tolist()
    opk, rpk = c["orig_pkts"].tolist(), c["resp_pkts"].tolist()
    opay = c["orig_payload_bytes"].tolist()
    rpay = c["resp_payload_bytes"].tolist()
    o_mask = ctx.honeypot_mask(c["orig_hi"], c["orig_lo"]).tolist()
    r_mask = ctx.honeypot_mask(c["resp_hi"], c["resp_lo"]).tolist()

    hosts: dict[str, RemoteHost] = {}
    ports: dict[str, dict[str, None]] = defaultdict(dict)
    cports: dict[str, dict[str, None]] = defaultdict(dict)
    for i in range(len(f)):
        o_hp, r_hp = o_mask[i], r_mask[i]
        if o_hp == r_hp:
            continue
        remote = rh[i] if o_hp else oh[i]
        h = hosts.get(remote)
        if h is None:
            h = hosts[remote] = RemoteHost(remote, start[i], end[i])
        h.first_seen = min(h.first_seen, start[i])
        h.last_seen = max(h.last_seen, end[i])
        h.flows += 1
        if r_hp:  # remote originated
            h.initiated += 1
            h.bytes_to_honeypot += oib[i]
            h.bytes_from_honeypot += rib[i]
            h.packets_to_honeypot += opk[i]
            h.packets_from_honeypot += rpk[i]
            h.payload_to_honeypot += opay[i]
            ports[remote][f"{proto[i]}/{rp[i]}"] = None
        else:
            h.contacted += 1
            h.bytes_to_honeypot += rib[i]
            h.bytes_from_honeypot += oib[i]
            h.packets_to_honeypot += rpk[i]
            h.packets_from_honeypot += opk[i]
            h.payload_to_honeypot += rpay[i]
            cports[remote][f"{proto[i]}/{rp[i]}"] = None
    for ip, h in hosts.items():
        h.ports = sorted(ports[ip], key=_port_key)
        h.contacted_ports = sorted(cports[ip], key=_port_key)
        h.sent_payload = h.payload_to_honeypot > 0
    return sorted(hosts.values(), key=lambda h: _ip_key(h.ip))


def _port_key(s: str):
    proto, _, port = s.partition("/")
    return (proto, int(port) if port.isdigit() else 0)


def _ip_key(ip: str):
    import ipaddress

    try:
        a = ipaddress.ip_address(ip)
        return (a.version, int(a))
    except ValueError:
        return (9, 0)
