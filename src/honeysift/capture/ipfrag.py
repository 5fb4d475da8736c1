"""IPv4 and IPv6 fragment reassembly (RFC 791 section 3.2, RFC 8200 section 4.5).

Only fragment rows reach this code, so a per-fragment Python loop is cheap. Policy:

* Datagrams are keyed by (IP version, source, destination, protocol, identification).
* The first copy of every byte wins; a later fragment that overlaps earlier bytes only fills
  holes. An overlap whose bytes differ is counted in ``conflicting_overlaps`` and warned about:
  it is a classic IDS-evasion sign (RFC 5722 tells IPv6 hosts to drop such datagrams; we keep
  the first bytes so the analyst still sees what one receiver would have seen).
* The datagram is decoded on the frame that completed it (as tshark shows it); every other
  fragment keeps status ``ST_FRAGMENT``. Pending datagrams are bounded in number and size and
  expire after 60 s of capture time without a new fragment.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from honeysift.capture.table import IPF_MF, ST_FRAGMENT, ST_OK

MAX_PENDING = 2048
MAX_DATAGRAM = 65535 + 8  # IPv4 total length limit; IPv6 jumbograms are not fragmented
TIMEOUT_NS = 60 * 1_000_000_000


@dataclass(slots=True)
class _Pending:
    first_ts: int
    last_ts: int
    data: bytearray = field(default_factory=bytearray)
    have: list[tuple[int, int]] = field(default_factory=list)  # merged [start, end) ranges
    total: int | None = None
    frames: list[int] = field(default_factory=list)


def _merge(ranges: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted([*ranges, (start, end)]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


class Defragmenter:
    """Stateful across chunks; call :meth:`process` on every decoded chunk in order."""

    def __init__(self) -> None:
        self.pending: dict[tuple, _Pending] = {}
        self.completed = 0
        self.expired = 0
        self.conflicting_overlaps = 0
        self.dropped = 0

    def process(
        self, buf: np.ndarray, data_off: np.ndarray, caplen: np.ndarray, cols: dict, frame0: int
    ) -> None:
        rows = np.flatnonzero(cols["status"] == ST_FRAGMENT)
        if not rows.size:
            return
        c = {
            k: cols[k][rows].tolist()
            for k in (
                "ip_version",
                "src_hi",
                "src_lo",
                "dst_hi",
                "dst_lo",
                "proto",
                "ip_id",
                "frag_off",
                "ip_flags",
                "l4_off",
                "l3_off",
                "ip_len",
                "ts_ns",
            )
        }
        offs = data_off[rows].tolist()
        caps = caplen[rows].tolist()
        for k, r in enumerate(rows.tolist()):
            ts = c["ts_ns"][k]
            self._expire(ts)
            key = (
                c["ip_version"][k],
                c["src_hi"][k],
                c["src_lo"][k],
                c["dst_hi"][k],
                c["dst_lo"][k],
                c["proto"][k],
                c["ip_id"][k],
            )
            start = c["frag_off"][k]
            begin = c["l4_off"][k]
            stop = min(c["l3_off"][k] + c["ip_len"][k], caps[k])
            if stop < begin:
                continue
            chunk = bytes(buf[offs[k] + begin : offs[k] + stop])
            end = start + len(chunk)
            if end > MAX_DATAGRAM:
                self.dropped += 1
                continue
            p = self.pending.get(key)
            if p is None:
                if len(self.pending) >= MAX_PENDING:
                    self.dropped += 1
                    continue
                p = self.pending[key] = _Pending(ts, ts)
            p.last_ts = ts
            p.frames.append(frame0 + r + 1)
            if len(p.data) < end:
                p.data.extend(bytes(end - len(p.data)))
            self._place(p, start, chunk)
            if not (c["ip_flags"][k] & IPF_MF):
                p.total = end
            if p.total is not None and p.have[0][0] == 0 and p.have[0][1] >= p.total:
                del self.pending[key]
                self.completed += 1
                _decode_datagram(bytes(p.data[: p.total]), r, cols, frame0)

    def _place(self, p: _Pending, start: int, chunk: bytes) -> None:
        end = start + len(chunk)
        for a, b in p.have:  # keep earlier bytes; note conflicting overlaps
            lo, hi = max(a, start), min(b, end)
            if lo < hi and p.data[lo:hi] != chunk[lo - start : hi - start]:
                self.conflicting_overlaps += 1
        pos = start
        for a, b in [*p.have, (end, end)]:
            if b <= pos:
                continue
            if a > pos:
                hi = min(a, end)
                p.data[pos:hi] = chunk[pos - start : hi - start]
            pos = max(pos, b)
            if pos >= end:
                break
        p.have = _merge(p.have, start, end)

    def _expire(self, now: int) -> None:
        if not self.pending:
            return
        old = [k for k, p in self.pending.items() if now - p.last_ts > TIMEOUT_NS]
        for k in old:
            del self.pending[k]
            self.expired += 1

    def finish(self) -> int:
        """Datagrams still incomplete at the end of the capture (counted as expired)."""
        left = len(self.pending)
        self.expired += left
        self.pending.clear()
        return left


def _decode_datagram(data: bytes, row: int, cols: dict, frame0: int, depth: int = 0) -> None:
    """Fill the transport columns of *row* from a whole reassembled datagram payload; a tunnel
    inside it (GRE, ERSPAN, IP in IP, Teredo, VXLAN) is followed to the inner packet."""
    proto = int(cols["proto"][row])
    if depth < 3 and _follow_tunnel(data, row, cols, frame0, depth):
        return
    payload = data
    if proto == 6 and len(data) >= 20:
        sport, dport, seq, ack, off, flags, win = struct.unpack_from(">HHIIBBH", data, 0)
        doff = (off >> 4) * 4
        if doff < 20:
            return
        cols["sport"][row], cols["dport"][row] = sport, dport
        cols["seq"][row], cols["ack"][row] = seq, ack
        cols["tcp_flags"][row], cols["win"][row] = flags, win
        payload = data[doff:]
    elif proto == 17 and len(data) >= 8:
        sport, dport, ulen = struct.unpack_from(">HHH", data, 0)
        cols["sport"][row], cols["dport"][row] = sport, dport
        payload = data[8:ulen] if 8 <= ulen <= len(data) else data[8:]
    elif proto in (1, 58) and len(data) >= 4:
        cols["icmp_type"][row], cols["icmp_code"][row] = data[0], data[1]
        payload = data[8:]
    elif proto in (6, 17, 1, 58):
        return
    cols["status"][row] = ST_OK
    cols["reassembled"][row] = True
    cols["payload_off"][row] = 0
    cols["payload_len"][row] = len(payload)
    cols.setdefault("_extra", {})[frame0 + row + 1] = payload


def _follow_tunnel(data: bytes, row: int, cols: dict, frame0: int, depth: int) -> bool:
    """Decapsulate a tunnel found in a reassembled datagram (the rare path, scalar code)."""
    from honeysift.capture.decode import _OUTER_KEYS, _tunnel_payload

    proto = int(cols["proto"][row])
    start, sport, dport = 0, 0, 0
    if proto == 17:
        if len(data) < 8:
            return False
        sport, dport, ulen = struct.unpack_from(">HHH", data, 0)
        data = data[8:ulen] if 8 <= ulen <= len(data) else data[8:]
    elif proto not in (4, 41, 47):
        return False
    got = _tunnel_payload(proto, sport, dport, data, start)
    if got is None or got[1] not in (0x0800, 0x86DD):
        return False
    kind, et, off = got
    inner = data[off:]
    outer = {k: cols[k][row] for k in _OUTER_KEYS}
    outer["payload_off"] = 0  # the payload of a reassembled datagram is not in one frame
    outer["sport"], outer["dport"] = sport, dport
    outer["payload_len"] = len(data)
    if et == 0x0800:
        if len(inner) < 20 or inner[0] >> 4 != 4:
            return False
        ihl = (inner[0] & 15) * 4
        tot, ident, ff, ttl, iproto = struct.unpack_from(">HHHBB", inner, 2)
        if ihl < 20 or len(inner) < ihl or ff & 0x3FFF:
            return False  # a fragment inside a tunnel inside a fragment: not followed
        cols["ip_version"][row] = 4
        cols["src_hi"][row] = cols["dst_hi"][row] = 0
        cols["src_lo"][row] = 0x0000FFFF00000000 | int.from_bytes(inner[12:16], "big")
        cols["dst_lo"][row] = 0x0000FFFF00000000 | int.from_bytes(inner[16:20], "big")
        cols["ip_len"][row], cols["ip_hlen"][row], cols["ttl"][row], cols["ip_id"][row] = (
            tot,
            ihl,
            ttl,
            ident,
        )
        cols["ip_flags"][row] = 2 if ff & 0x4000 else 0
        body = inner[ihl : max(ihl, min(tot, len(inner)))]
    else:
        if len(inner) < 40 or inner[0] >> 4 != 6:
            return False
        plen = int.from_bytes(inner[4:6], "big")
        iproto = inner[6]
        cols["ip_version"][row] = 6
        cols["src_hi"][row] = int.from_bytes(inner[8:16], "big")
        cols["src_lo"][row] = int.from_bytes(inner[16:24], "big")
        cols["dst_hi"][row] = int.from_bytes(inner[24:32], "big")
        cols["dst_lo"][row] = int.from_bytes(inner[32:40], "big")
        cols["ip_len"][row], cols["ip_hlen"][row], cols["ttl"][row] = plen + 40, 40, inner[7]
        body = inner[40 : 40 + plen]
    cols["proto"][row] = iproto
    cols["ethertype"][row] = et
    tun = cols.setdefault("_tunnels_frag", [])
    tun.append((row, kind, depth, outer))
    _decode_datagram(body, row, cols, frame0, depth + 1)
    return True
