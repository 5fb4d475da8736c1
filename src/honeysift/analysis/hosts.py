"""Every remote host that exchanged packets with a honeypot, and the services it touched."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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


#: At most this many remote hosts are listed one by one (the busiest first); answers count all.
MAX_LISTED_HOSTS = 20000


def remote_hosts(ctx: AnalysisContext) -> list[RemoteHost]:
    """Grouped with numpy by remote address id; only listed hosts become objects."""
    from honeysift.analysis.addrs import AddressIds

    f = ctx.flows
    c = f.columns
    if not len(f):
        return []
    ids = ctx.__dict__.get("_addr_ids") or AddressIds.of(f)
    ctx.__dict__["_addr_ids"] = ids
    o_hp = ctx.honeypot_mask(c["orig_hi"], c["orig_lo"])
    r_hp = ctx.honeypot_mask(c["resp_hi"], c["resp_lo"])
    inbound = r_hp & ~o_hp
    outbound = o_hp & ~r_hp
    rows = np.flatnonzero(inbound | outbound)
    if not rows.size:
        return []
    inb = inbound[rows]
    remote = np.where(inb, ids.orig[rows], ids.resp[rows])
    order = np.argsort(remote, kind="stable")
    rows, inb, remote = rows[order], inb[order], remote[order]
    starts = np.flatnonzero(np.r_[True, remote[1:] != remote[:-1]])

    def red(values, fn=np.add):
        return fn.reduceat(values, starts)

    start_s = c["start_ns"][rows] / 1e9
    end_s = c["end_ns"][rows] / 1e9
    oib, rib = c["orig_ip_bytes"][rows].astype(np.int64), c["resp_ip_bytes"][rows].astype(np.int64)
    opk, rpk = c["orig_pkts"][rows].astype(np.int64), c["resp_pkts"][rows].astype(np.int64)
    opay, rpay = (
        c["orig_payload_bytes"][rows].astype(np.int64),
        c["resp_payload_bytes"][rows].astype(np.int64),
    )
    first = red(start_s, np.minimum)
    last = red(end_s, np.maximum)
    nflows = np.diff(np.r_[starts, rows.shape[0]])
    initiated = red(inb.astype(np.int64))
    to_hp = red(np.where(inb, oib, rib))
    from_hp = red(np.where(inb, rib, oib))
    pk_to = red(np.where(inb, opk, rpk))
    pk_from = red(np.where(inb, rpk, opk))
    pay_to = red(np.where(inb, opay, rpay))
    listed = np.argsort(-nflows, kind="stable")[:MAX_LISTED_HOSTS]
    proto = c["proto"][rows].astype(np.int64)
    port = c["resp_p"][rows].astype(np.int64)
    names = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}
    out = []
    for g in listed.tolist():
        a, b = int(starts[g]), int(starts[g + 1]) if g + 1 < starts.shape[0] else rows.shape[0]
        ip = ids.text(int(remote[a]))
        keys = np.unique(proto[a:b] * 65536 + port[a:b] + np.where(inb[a:b], 0, 1 << 40))
        ports = [
            f"{names.get(int(k % (1 << 40)) >> 16, str(int(k % (1 << 40)) >> 16))}/{int(k) & 0xFFFF}"
            for k in keys.tolist()
            if k < (1 << 40)
        ]
        cports = [
            f"{names.get(int(k % (1 << 40)) >> 16, str(int(k % (1 << 40)) >> 16))}/{int(k) & 0xFFFF}"
            for k in keys.tolist()
            if k >= (1 << 40)
        ]
        h = RemoteHost(
            ip,
            float(first[g]),
            float(last[g]),
            flows=int(nflows[g]),
            initiated=int(initiated[g]),
            contacted=int(nflows[g] - initiated[g]),
            bytes_to_honeypot=int(to_hp[g]),
            bytes_from_honeypot=int(from_hp[g]),
            packets_to_honeypot=int(pk_to[g]),
            packets_from_honeypot=int(pk_from[g]),
            payload_to_honeypot=int(pay_to[g]),
            ports=sorted(ports, key=_port_key),
            contacted_ports=sorted(cports, key=_port_key),
            sent_payload=bool(pay_to[g] > 0),
        )
        out.append(h)
    ctx.__dict__["_remote_host_count"] = int(starts.shape[0])
    return sorted(out, key=lambda h: _ip_key(h.ip))


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
