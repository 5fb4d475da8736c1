"""Per-packet payloads and payload clusters: ``snort -devp`` and the write-up's udpsniff.c.

The 2003 analyst dumped every UDP payload to a line, then ``cut | sort | uniq -c`` showed that
65 NetBIOS requests were 5 distinct queries differing only in their transaction id. Here the
same falls out of one call: payloads are grouped by content, and named fields (a transaction
id, a DNS id, or with ``headers=True`` the IP id or TCP sequence number) are masked first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from honeysift.capture.reader import Capture
from honeysift.capture.table import halves_to_addr


@dataclass(frozen=True, slots=True)
class MaskField:
    """A named field that ``--ignore`` can mask: where it lives and when it applies."""

    name: str
    region: str  # "payload", "ip" (IP header) or "l4" (transport header)
    offset: int
    length: int
    proto: int | None = None  # 6 or 17, None for any
    ports: tuple[int, ...] = ()  # applies when either port is one of these
    tcp_offset: int | None = None  # payload offset when carried over TCP (DNS length prefix)
    ip_version: int | None = None
    description: str = ""


MASKABLE: dict[str, MaskField] = {
    f.name: f
    for f in [
        MaskField(
            "nbns.txid",
            "payload",
            0,
            2,
            17,
            (137,),
            description="NetBIOS name service transaction id (RFC 1002 4.2.1.1)",
        ),
        MaskField(
            "nbns.id", "payload", 0, 2, 17, (137,), description="alias of nbns.txid (tshark's name)"
        ),
        MaskField(
            "dns.id",
            "payload",
            0,
            2,
            None,
            (53, 5353, 5355),
            tcp_offset=2,
            description="DNS message id (RFC 1035 4.1.1)",
        ),
        MaskField(
            "smb.mid",
            "payload",
            4 + 30,
            2,
            6,
            (139, 445),
            description="SMB1 multiplex id (after the 4-byte NBSS header)",
        ),
        MaskField("smb.pid", "payload", 4 + 26, 2, 6, (139, 445), description="SMB1 process id"),
        MaskField("ip.id", "ip", 4, 2, ip_version=4, description="IPv4 identification"),
        MaskField("ip.ttl", "ip", 8, 1, ip_version=4, description="IPv4 time to live"),
        MaskField("ip.checksum", "ip", 10, 2, ip_version=4, description="IPv4 header checksum"),
        MaskField("tcp.srcport", "l4", 0, 2, 6, description="TCP source port"),
        MaskField("tcp.seq", "l4", 4, 4, 6, description="TCP sequence number"),
        MaskField("tcp.ack", "l4", 8, 4, 6, description="TCP acknowledgment number"),
        MaskField("tcp.window", "l4", 14, 2, 6, description="TCP window"),
        MaskField("tcp.checksum", "l4", 16, 2, 6, description="TCP checksum"),
        MaskField("udp.srcport", "l4", 0, 2, 17, description="UDP source port"),
        MaskField("udp.checksum", "l4", 6, 2, 17, description="UDP checksum"),
    ]
}


@dataclass(slots=True)
class PayloadRecord:
    frame: int
    ts: float
    proto: int
    src: str
    sport: int
    dst: str
    dport: int
    ip_id: int
    seq: int
    data: bytes  # the transport payload
    headers: bytes = b""  # IP + transport header bytes (only with headers=True)
    masked: list[tuple[str, int, int]] = field(default_factory=list)  # (region, offset, length)

    def key(self) -> bytes:
        """Content with masked fields zeroed: what grouping compares."""
        parts = {"payload": bytearray(self.data), "hdr": bytearray(self.headers)}
        for region, off, length in self.masked:
            buf = parts["payload" if region == "payload" else "hdr"]
            buf[off : off + length] = bytes(min(length, max(0, len(buf) - off)))
        return bytes(parts["hdr"]) + b"\x00|" + bytes(parts["payload"])


@dataclass(slots=True)
class PayloadGroup:
    count: int
    size: int
    md5: str  # of the masked key
    example: PayloadRecord
    frames: list[int]
    sources: list[str]
    destinations: list[str]
    first_ts: float
    last_ts: float


def _mask_for(
    rec: PayloadRecord, fields: Iterable[MaskField], ip_hlen: int
) -> list[tuple[str, int, int]]:
    out = []
    for f in fields:
        if f.proto is not None and rec.proto != f.proto:
            continue
        if f.ports and rec.sport not in f.ports and rec.dport not in f.ports:
            continue
        if f.region == "payload":
            off = (
                f.tcp_offset + f.offset
                if (rec.proto == 6 and f.tcp_offset is not None)
                else f.offset
            )
            out.append(("payload", off, f.length))
        elif rec.headers:
            if f.region == "ip":
                out.append(("hdr", f.offset, f.length))
            else:
                out.append(("hdr", ip_hlen + f.offset, f.length))
    return out


def iter_payloads(
    cap: Capture,
    flt=None,
    *,
    ignore: Iterable[str] = (),
    headers: bool = False,
    include_empty: bool = False,
    limit: int | None = None,
) -> Iterator[PayloadRecord]:
    """Every selected packet with a transport payload, in capture order."""
    fields = [MASKABLE[n] for n in ignore]
    n = 0
    for table in cap.chunks():
        t = cap.select(table, flt)
        rows = np.flatnonzero((t.ip_version > 0) & ((t.payload_len > 0) | include_empty))
        if not rows.size:
            continue
        for i in rows.tolist():
            data = cap.payload(t, i)
            hdr = b""
            hlen = int(t.ip_hlen[i])
            if headers and not t.reassembled[i]:
                start = int(t.l3_off[i])
                hdr = cap.frame_bytes(
                    int(t.offset[i]) + start, max(0, int(t.payload_off[i]) - start)
                )
            rec = PayloadRecord(
                frame=int(t.frame[i]),
                ts=int(t.ts_ns[i]) / 1e9,
                proto=int(t.proto[i]),
                src=halves_to_addr(t.src_hi[i], t.src_lo[i]),
                sport=int(t.sport[i]),
                dst=halves_to_addr(t.dst_hi[i], t.dst_lo[i]),
                dport=int(t.dport[i]),
                ip_id=int(t.ip_id[i]),
                seq=int(t.seq[i]),
                data=data,
                headers=hdr,
            )
            rec.masked = _mask_for(rec, fields, hlen)
            yield rec
            n += 1
            if limit is not None and n >= limit:
                return


def group_payloads(records: Iterable[PayloadRecord]) -> list[PayloadGroup]:
    """Cluster identical (masked) payloads; largest clusters first."""
    groups: dict[bytes, PayloadGroup] = {}
    srcs: dict[bytes, dict[str, None]] = {}
    dsts: dict[bytes, dict[str, None]] = {}
    for r in records:
        k = hashlib.md5(r.key()).digest()
        g = groups.get(k)
        if g is None:
            groups[k] = PayloadGroup(1, len(r.data), k.hex(), r, [r.frame], [], [], r.ts, r.ts)
            srcs[k] = {r.src: None}
            dsts[k] = {r.dst: None}
            continue
        g.count += 1
        g.frames.append(r.frame)
        g.first_ts = min(g.first_ts, r.ts)
        g.last_ts = max(g.last_ts, r.ts)
        srcs[k][r.src] = None
        dsts[k][r.dst] = None
    for k, g in groups.items():
        g.sources = list(srcs[k])
        g.destinations = list(dsts[k])
    return sorted(groups.values(), key=lambda g: (-g.count, g.frames[0]))


def proto_name(proto: int) -> str:
    return {6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMPv6"}.get(proto, f"IP/{proto}")
