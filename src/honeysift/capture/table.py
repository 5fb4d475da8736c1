"""The columnar packet table: one numpy array per field, one row per captured frame.

Why columnar: every later stage (filters, flows, statistics) works on whole columns with numpy,
so no per-packet Python object is ever built. A capture is read as a sequence of
:class:`PacketTable` chunks (bounded memory); small captures can be concatenated.

Addresses are stored as two unsigned 64-bit halves (``src_hi``/``src_lo``, ``dst_hi``/``dst_lo``)
so IPv4 and IPv6 share one numeric key; IPv4 uses the IPv4-mapped form ``::ffff:a.b.c.d``
(hi = 0, lo = 0x0000_ffff_aabb_ccdd), as in RFC 4291 section 2.5.5.2.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, fields

import numpy as np

# Decode status of a row (column ``status``). 0 means every layer we know was decoded.
ST_OK = 0
ST_LINKTYPE = 1  # link type we do not decode (counted, not decoded)
ST_L2_TRUNC = 2  # frame shorter than its link-layer header
ST_NOT_IP = 3  # decoded link layer, payload is not IP (ARP, LLC, ...): not an error
ST_IP_TRUNC = 4  # IP header cut short by the snap length
ST_IP_BAD = 5  # IP header invalid (version mismatch, header length < 20, total length < header)
ST_L4_TRUNC = 6  # TCP/UDP/ICMP header cut short
ST_L4_BAD = 7  # TCP data offset < 5 or UDP length < 8
ST_FRAGMENT = 8  # IP fragment; its datagram is decoded on the row that completed it
ST_FRAG_INCOMPLETE = 9  # fragment of a datagram that never completed
ST_EXT_BAD = 10  # IPv6 extension header chain runs past the captured bytes

STATUS_NAMES = {
    ST_OK: "ok",
    ST_LINKTYPE: "unsupported link type",
    ST_L2_TRUNC: "truncated link-layer header",
    ST_NOT_IP: "not IP",
    ST_IP_TRUNC: "truncated IP header",
    ST_IP_BAD: "invalid IP header",
    ST_L4_TRUNC: "truncated transport header",
    ST_L4_BAD: "invalid transport header",
    ST_FRAGMENT: "IP fragment (reassembled on a later frame)",
    ST_FRAG_INCOMPLETE: "IP fragment of an incomplete datagram",
    ST_EXT_BAD: "invalid IPv6 extension header chain",
}

#: Statuses counted as "undecodable" by ``honeysift info``.
UNDECODABLE = (ST_LINKTYPE, ST_L2_TRUNC, ST_IP_TRUNC, ST_IP_BAD, ST_L4_TRUNC, ST_L4_BAD, ST_EXT_BAD)

# TCP flag bits (column ``tcp_flags``), RFC 9293 section 3.1 plus RFC 3168 ECE/CWR.
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80

# ``ip_flags`` bits: IPv4 DF/MF as in the header (RFC 791); IPv6 fragment M flag maps to MF.
IPF_MF = 0x1
IPF_DF = 0x2

V4_MAPPED_HI = np.uint64(0)
V4_MAPPED_LO_PREFIX = np.uint64(0x0000FFFF00000000)


def ipv4_rows(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Which stored addresses are IPv4 (kept IPv4-mapped, ::ffff:a.b.c.d, in the halves)."""
    return (hi == V4_MAPPED_HI) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))


NO_VLAN = -1


@dataclass(slots=True)
class PacketTable:
    """Columns of decoded packets. All arrays have the same length (``len(table)``).

    Column (dtype): meaning. Unset numeric fields are 0 unless said otherwise.
    """

    frame: np.ndarray  # uint64: 1-based frame number, as tshark numbers frames
    ts_ns: np.ndarray  # int64: timestamp, integer nanoseconds since the epoch (UTC)
    caplen: np.ndarray  # uint32: captured length
    origlen: np.ndarray  # uint32: original (wire) length
    offset: np.ndarray  # int64: byte offset of the frame data in the (decompressed) capture
    linktype: np.ndarray  # uint16: link-layer type (LINKTYPE_* value)
    iface: np.ndarray  # uint16: pcapng interface id (0 for classic pcap)
    status: np.ndarray  # uint8: ST_* decode status
    vlan: np.ndarray  # int32: outer 802.1Q VLAN id, NO_VLAN (-1) when untagged
    vlan_inner: np.ndarray  # int32: inner (QinQ) VLAN id, NO_VLAN when absent
    ethertype: (
        np.ndarray
    )  # uint16: protocol of the L2 payload (0x0800 IPv4, 0x86dd IPv6, 0x0806 ARP)
    l3_off: np.ndarray  # uint16: offset of the IP header within the frame
    ip_version: np.ndarray  # uint8: 4, 6, or 0 when not IP
    src_hi: np.ndarray  # uint64: source address, high 64 bits (0 for IPv4)
    src_lo: np.ndarray  # uint64: source address, low 64 bits (0xffff_aabbccdd for IPv4)
    dst_hi: np.ndarray  # uint64
    dst_lo: np.ndarray  # uint64
    proto: (
        np.ndarray
    )  # uint8: IP protocol / final IPv6 next header (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6)
    ip_len: (
        np.ndarray
    )  # uint32: IPv4 total length; IPv6 payload length + 40 (of this frame's packet)
    ip_hlen: np.ndarray  # uint16: IP header length incl. IPv6 extension headers
    ttl: np.ndarray  # uint8: IPv4 TTL / IPv6 hop limit
    ip_id: np.ndarray  # uint32: IPv4 identification / IPv6 fragment identification
    ip_flags: np.ndarray  # uint8: IPF_DF | IPF_MF
    frag_off: np.ndarray  # uint32: fragment offset in bytes
    l4_off: np.ndarray  # uint16: offset of the transport header within the frame
    sport: np.ndarray  # uint16: TCP/UDP source port
    dport: np.ndarray  # uint16: TCP/UDP destination port
    tcp_flags: np.ndarray  # uint8: FIN SYN RST PSH ACK URG ECE CWR bits
    seq: np.ndarray  # uint32: TCP sequence number
    ack: np.ndarray  # uint32: TCP acknowledgment number
    win: np.ndarray  # uint16: TCP window (unscaled)
    icmp_type: np.ndarray  # uint8: ICMP / ICMPv6 type
    icmp_code: np.ndarray  # uint8: ICMP / ICMPv6 code
    payload_off: np.ndarray  # uint32: offset of the L4 payload within the frame (see reassembled)
    payload_len: np.ndarray  # uint32: L4 payload length (bounded by what was captured)
    reassembled: (
        np.ndarray
    )  # bool: the L3/L4 fields describe an IP datagram reassembled from fragments
    # Payloads of reassembled datagrams: frame number -> the whole L4 segment's payload bytes.
    extra_payload: dict[int, bytes]
    # Outer layers of tunnelled frames (GRE, ERSPAN, Teredo, VXLAN, IP in IP), whose main columns
    # describe the innermost packet: None, or a dict of equal-length arrays, one entry per outer
    # layer, outermost first: "row" (int64 row in this table), "type" (uint8, TUN_* in decode.py),
    # "depth" (uint8, 0 = outermost), and that layer's values of the columns "ip_version",
    # "src_hi", "src_lo", "dst_hi", "dst_lo", "proto", "sport", "dport", "ip_len", "payload_len",
    # "ethertype", "l3_off", "ip_hlen", "ttl", "ip_id", "ip_flags", "frag_off", "l4_off",
    # "payload_off".
    tunnels: dict[str, np.ndarray] | None = None
    # Payload bytes 0-7 (uint64, big-endian: byte 0 is the top byte) and byte 12 (uint8) of
    # each row as captured (0 past the payload), read while the chunk is in memory, for the
    # flows' service pre-test (capture.kernels.payload_heads); None when the table was not
    # built by the reader.
    head8: np.ndarray | None = None
    head12: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.frame.shape[0])

    @property
    def ts(self) -> np.ndarray:
        """float64 epoch seconds (derived from ``ts_ns``)."""
        return self.ts_ns / 1e9

    def outer_view(self) -> PacketTable:
        """The table as the outermost headers describe it (what tcpdump filters look at):
        tunnelled rows get their outermost layer's values back, transport fields they lack are 0."""
        if self.tunnels is None:
            return self
        tun = self.tunnels
        first = tun["depth"] == 0
        rows = tun["row"][first]
        cols = {name: getattr(self, name) for name in COLUMN_DTYPES}
        cols = {k: (v.copy() if k in tun or k in _TRANSPORT_ONLY else v) for k, v in cols.items()}
        for k in tun:
            if k in cols:
                cols[k][rows] = tun[k][first]
        for k in _TRANSPORT_ONLY:
            cols[k][rows] = 0
        # no head8/head12: for tunnelled rows they hold the inner packet's payload bytes
        return PacketTable(**cols, extra_payload=self.extra_payload)

    @staticmethod
    def column_names() -> list[str]:
        return [f.name for f in fields(PacketTable) if f.name in COLUMN_DTYPES]

    @classmethod
    def empty(cls, n: int = 0) -> PacketTable:
        cols = {name: np.zeros(n, dtype=dt) for name, dt in COLUMN_DTYPES.items()}
        cols["vlan"][:] = NO_VLAN
        cols["vlan_inner"][:] = NO_VLAN
        return cls(**cols, extra_payload={})

    @classmethod
    def concat(cls, parts: list[PacketTable]) -> PacketTable:
        if not parts:
            return cls.empty(0)
        if len(parts) == 1:
            return parts[0]
        cols = {name: np.concatenate([getattr(p, name) for p in parts]) for name in COLUMN_DTYPES}
        extra: dict[int, bytes] = {}
        tun_parts: list[dict[str, np.ndarray]] = []
        base = 0
        for p in parts:
            extra.update(p.extra_payload)
            if p.tunnels is not None:
                shifted = dict(p.tunnels)
                shifted["row"] = p.tunnels["row"] + base
                tun_parts.append(shifted)
            base += len(p)
        tunnels = (
            {k: np.concatenate([t[k] for t in tun_parts]) for k in tun_parts[0]}
            if tun_parts
            else None
        )
        heads = {}
        if all(p.head8 is not None and p.head12 is not None for p in parts):
            heads = {k: np.concatenate([getattr(p, k) for p in parts]) for k in _HEADS}
        return cls(**cols, extra_payload=extra, tunnels=tunnels, **heads)

    def take(self, index: np.ndarray) -> PacketTable:
        """Rows selected by a boolean mask or an index array."""
        cols = {name: getattr(self, name)[index] for name in COLUMN_DTYPES}
        frames = set(cols["frame"][cols["reassembled"]].tolist()) if self.extra_payload else set()
        extra = {k: v for k, v in self.extra_payload.items() if k in frames}
        tunnels = None
        if self.tunnels is not None:
            idx = np.arange(len(self))[index]
            new_pos = np.full(len(self), -1, dtype=np.int64)
            new_pos[idx] = np.arange(idx.shape[0])
            keep = new_pos[self.tunnels["row"]] >= 0
            if keep.any():
                tunnels = {k: v[keep] for k, v in self.tunnels.items()}
                tunnels["row"] = new_pos[tunnels["row"]]
        return PacketTable(**cols, extra_payload=extra, tunnels=tunnels, **self._heads(index))

    def _heads(self, index) -> dict[str, np.ndarray]:
        """head8/head12 of rows *index*, or nothing when the table has none."""
        if self.head8 is None or self.head12 is None:
            return {}
        return {k: getattr(self, k)[index] for k in _HEADS}


COLUMN_DTYPES: dict[str, np.dtype] = {
    "frame": np.dtype(np.uint64),
    "ts_ns": np.dtype(np.int64),
    "caplen": np.dtype(np.uint32),
    "origlen": np.dtype(np.uint32),
    "offset": np.dtype(np.int64),
    "linktype": np.dtype(np.uint16),
    "iface": np.dtype(np.uint16),
    "status": np.dtype(np.uint8),
    "vlan": np.dtype(np.int32),
    "vlan_inner": np.dtype(np.int32),
    "ethertype": np.dtype(np.uint16),
    "l3_off": np.dtype(np.uint16),
    "ip_version": np.dtype(np.uint8),
    "src_hi": np.dtype(np.uint64),
    "src_lo": np.dtype(np.uint64),
    "dst_hi": np.dtype(np.uint64),
    "dst_lo": np.dtype(np.uint64),
    "proto": np.dtype(np.uint8),
    "ip_len": np.dtype(np.uint32),
    "ip_hlen": np.dtype(np.uint16),
    "ttl": np.dtype(np.uint8),
    "ip_id": np.dtype(np.uint32),
    "ip_flags": np.dtype(np.uint8),
    "frag_off": np.dtype(np.uint32),
    "l4_off": np.dtype(np.uint16),
    "sport": np.dtype(np.uint16),
    "dport": np.dtype(np.uint16),
    "tcp_flags": np.dtype(np.uint8),
    "seq": np.dtype(np.uint32),
    "ack": np.dtype(np.uint32),
    "win": np.dtype(np.uint16),
    "icmp_type": np.dtype(np.uint8),
    "icmp_code": np.dtype(np.uint8),
    "payload_off": np.dtype(np.uint32),
    "payload_len": np.dtype(np.uint32),
    "reassembled": np.dtype(np.bool_),
}


_HEADS = ("head8", "head12")
_TRANSPORT_ONLY = ("tcp_flags", "seq", "ack", "win", "icmp_type", "icmp_code", "reassembled")


def addr_to_halves(addr: str) -> tuple[int, int]:
    """'1.2.3.4' or '2001:db8::1' -> (hi, lo) as stored in the table."""
    ip = ipaddress.ip_address(addr)
    if ip.version == 4:
        return 0, 0x0000FFFF00000000 | int(ip)
    v = int(ip)
    return v >> 64, v & 0xFFFFFFFFFFFFFFFF


def halves_to_addr(hi: int, lo: int) -> str:
    """Inverse of :func:`addr_to_halves` (IPv4-mapped values print as dotted quads)."""
    hi = int(hi)
    lo = int(lo)
    if hi == 0 and (lo >> 32) == 0xFFFF:  # inet_ntoa: the same dotted quad, 10x faster
        return socket.inet_ntoa((lo & 0xFFFFFFFF).to_bytes(4, "big"))
    return str(ipaddress.IPv6Address((hi << 64) | lo))


def pair_groups(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows grouped by the pair (hi, lo) with one stable 2-key sort (np.unique over rows
    sorts a structured view, several times slower): (order, new, ids) where ``order`` sorts
    the rows by (hi, lo), ``new[j]`` marks the first sorted row of each distinct pair (the
    pair's first row in the input: the sort is stable) and ``ids`` numbers each row's pair in
    (hi, lo) order."""
    order = np.lexsort((lo, hi)) if hi.any() else np.argsort(lo, kind="stable")
    hs, ls = hi[order], lo[order]
    new = np.ones(hs.shape[0], dtype=bool)
    new[1:] = (hs[1:] != hs[:-1]) | (ls[1:] != ls[:-1])
    ids = np.empty(hs.shape[0], np.int64)
    ids[order] = np.cumsum(new) - 1
    return order, new, ids


def address_ids(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(id per row, distinct hi, distinct lo): ids number the distinct addresses in (hi, lo)
    order, as np.unique(axis=0) would (:func:`pair_groups`)."""
    order, new, ids = pair_groups(hi, lo)
    return ids, hi[order][new], lo[order][new]
