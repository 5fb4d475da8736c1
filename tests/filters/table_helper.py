"""Test-only: build a PacketTable from raw Ethernet frames (until the capture reader exists).

Headers are decoded straight from the bytes (RFC 791, 8200, 9293, 768, 792, 826) following the
column semantics in honeysift/capture/table.py, including IP reassembly: the frame completing a
datagram carries the reassembled transport fields (``reassembled``), earlier fragments are
``ST_FRAGMENT`` and pieces of never-completed datagrams ``ST_FRAG_INCOMPLETE``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from scapy.utils import RawPcapReader

from honeysift.capture import table as tb
from honeysift.capture.table import PacketTable

TPIDS = (0x8100, 0x88A8, 0x9100)
V6_EXT = (0, 43, 60)  # hop-by-hop, routing, destination options (RFC 8200 section 4)


def read_frames(path: Path) -> tuple[list[bytes], list[int], list[int]]:
    """Frames, wire lengths and linktypes of a pcap/pcapng file."""
    frames, wire, links = [], [], []
    with RawPcapReader(str(path)) as rd:
        for data, meta in rd:
            frames.append(bytes(data))
            wire.append(int(getattr(meta, "wirelen", None) or len(data)))
            links.append(int(getattr(meta, "linktype", None) or rd.linktype))
    return frames, wire, links


def frame_bytes_for(frames: list[bytes]):
    """A ``frame_bytes`` accessor over in-memory frames (rows map to frames by frame number)."""

    def fb(table: PacketTable, offsets: np.ndarray, size: int) -> np.ndarray:
        out = np.zeros((len(table), size), dtype=np.uint8)
        for i in np.flatnonzero(offsets >= 0):
            data = frames[int(table.frame[i]) - 1]
            o = int(offsets[i])
            chunk = data[o : o + size]
            out[i, : len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        return out

    return fb


def _v4(addr: bytes) -> int:
    return 0x0000FFFF00000000 | int.from_bytes(addr, "big")


def _decode_l4(row: dict, proto: int, seg: bytes) -> None:
    if proto == 6:
        if len(seg) < 20:
            row["status"] = tb.ST_L4_TRUNC
            return
        sp, dp, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", seg[:16])
        row.update(sport=sp, dport=dp, seq=seq, ack=ack, tcp_flags=flags, win=win)
        if off >> 4 < 5:
            row["status"] = tb.ST_L4_BAD
    elif proto == 17:
        if len(seg) < 8:
            row["status"] = tb.ST_L4_TRUNC
            return
        row["sport"], row["dport"] = struct.unpack("!HH", seg[:4])
    elif proto in (1, 58):
        if len(seg) < 4:
            row["status"] = tb.ST_L4_TRUNC
            return
        row["icmp_type"], row["icmp_code"] = seg[0], seg[1]


class _Reasm:
    def __init__(self) -> None:
        self.pieces: dict[tuple, dict[int, bytes]] = {}
        self.total: dict[tuple, int] = {}
        self.rows: dict[tuple, list[int]] = {}

    def add(self, key: tuple, idx: int, off: int, more: bool, data: bytes) -> bytes | None:
        self.pieces.setdefault(key, {})[off] = data
        self.rows.setdefault(key, []).append(idx)
        if not more:
            self.total[key] = off + len(data)
        if key not in self.total:
            return None
        buf, pos = b"", 0
        for o in sorted(self.pieces[key]):
            if o > pos:
                return None
            buf = buf[:o] + self.pieces[key][o]
            pos = max(pos, o + len(self.pieces[key][o]))
        if pos < self.total[key]:
            return None
        del self.pieces[key], self.total[key], self.rows[key]
        return buf[:pos]


def build_table(frames: list[bytes], wire: list[int], links: list[int]) -> PacketTable:
    rows = []
    reasm = _Reasm()
    for idx, (data, wl, lt) in enumerate(zip(frames, wire, links, strict=True)):
        row = {"frame": idx + 1, "caplen": len(data), "origlen": wl, "linktype": lt,
               "vlan": -1, "vlan_inner": -1}  # fmt: skip
        rows.append(row)
        if lt != 1:
            row["status"] = tb.ST_LINKTYPE
            continue
        if len(data) < 14:
            row["status"] = tb.ST_L2_TRUNC
            continue
        off, et, tags = 14, struct.unpack("!H", data[12:14])[0], []
        while et in TPIDS and len(data) >= off + 4 and len(tags) < 2:
            tags.append(struct.unpack("!H", data[off : off + 2])[0] & 0x0FFF)
            et = struct.unpack("!H", data[off + 2 : off + 4])[0]
            off += 4
        if tags:
            row["vlan"] = tags[0]
        if len(tags) > 1:
            row["vlan_inner"] = tags[1]
        row.update(ethertype=et, l3_off=off)
        l3 = data[off:]
        if et == 0x0806:
            row["status"] = tb.ST_NOT_IP
            if len(l3) >= 28:
                row.update(src_lo=_v4(l3[14:18]), dst_lo=_v4(l3[24:28]))
        elif et == 0x0800:
            _ipv4(row, l3, off, idx, reasm)
        elif et == 0x86DD:
            _ipv6(row, l3, off, idx, reasm)
        else:
            row["status"] = tb.ST_NOT_IP
    for pending in reasm.rows.values():
        for i in pending:
            rows[i]["status"] = tb.ST_FRAG_INCOMPLETE
    t = PacketTable.empty(len(rows))
    for name in tb.COLUMN_DTYPES:
        col = getattr(t, name)
        for i, r in enumerate(rows):
            if name in r:
                col[i] = r[name]
    return t


def _ipv4(row: dict, l3: bytes, off: int, idx: int, reasm: _Reasm) -> None:
    if len(l3) < 20:
        row["status"] = tb.ST_IP_TRUNC
        return
    vihl, _tos, tlen, ident, ff, ttl, proto = struct.unpack("!BBHHHBB", l3[:10])
    hlen = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or hlen < 20 or tlen < hlen:
        row["status"] = tb.ST_IP_BAD
        return
    if len(l3) < hlen:
        row["status"] = tb.ST_IP_TRUNC
        return
    row.update(ip_version=4, src_lo=_v4(l3[12:16]), dst_lo=_v4(l3[16:20]), proto=proto,
               ip_len=tlen, ip_hlen=hlen, ttl=ttl, ip_id=ident, frag_off=(ff & 0x1FFF) * 8,
               ip_flags=(tb.IPF_DF if ff & 0x4000 else 0) | (tb.IPF_MF if ff & 0x2000 else 0),
               l4_off=off + hlen, status=tb.ST_OK)  # fmt: skip
    body = l3[hlen:tlen]
    if ff & 0x3FFF:
        key = (4, l3[12:20], ident, proto)
        whole = reasm.add(key, idx, (ff & 0x1FFF) * 8, bool(ff & 0x2000), body)
        if whole is None:
            row["status"] = tb.ST_FRAGMENT
            return
        row["reassembled"] = True
        _decode_l4(row, proto, whole)
        return
    _decode_l4(row, proto, body)


def _ipv6(row: dict, l3: bytes, off: int, idx: int, reasm: _Reasm) -> None:
    if len(l3) < 40:
        row["status"] = tb.ST_IP_TRUNC
        return
    plen, nxt, hlim = struct.unpack("!HBB", l3[4:8])
    src, dst = int.from_bytes(l3[8:24], "big"), int.from_bytes(l3[24:40], "big")
    row.update(ip_version=6, src_hi=src >> 64, src_lo=src & (2**64 - 1), dst_hi=dst >> 64,
               dst_lo=dst & (2**64 - 1), ip_len=plen + 40, ttl=hlim, status=tb.ST_OK)  # fmt: skip
    pos, frag = 40, None
    for _ in range(16):
        if nxt in V6_EXT:
            if len(l3) < pos + 2:
                row["status"] = tb.ST_EXT_BAD
                return
            nxt, pos = l3[pos], pos + 8 + 8 * l3[pos + 1]
        elif nxt == 44:
            if len(l3) < pos + 8:
                row["status"] = tb.ST_EXT_BAD
                return
            nh, _r, fo, ident = struct.unpack("!BBHI", l3[pos : pos + 8])
            frag = (fo & 0xFFF8, bool(fo & 1), ident)
            nxt, pos = nh, pos + 8
        else:
            break
    row.update(proto=nxt, ip_hlen=pos, l4_off=off + pos)
    body = l3[pos : 40 + plen]
    if frag is not None:
        row.update(frag_off=frag[0], ip_flags=tb.IPF_MF if frag[1] else 0, ip_id=frag[2])
        whole = reasm.add((6, l3[8:40], frag[2], nxt), idx, frag[0], frag[1], body)
        if whole is None:
            row["status"] = tb.ST_FRAGMENT
            return
        row["reassembled"] = True
        _decode_l4(row, nxt, whole)
        return
    _decode_l4(row, nxt, body)


def table_from_file(path: Path) -> tuple[PacketTable, list[bytes]]:
    frames, wire, links = read_frames(path)
    return build_table(frames, wire, links), frames
