"""Test-only: read a pcap with scapy into the per-direction arrays the reassembler takes.

The project's own reader is not used here on purpose (it is tested separately); scapy gives the
header fields and the payload is cut from the original frame bytes at the offset the headers say,
so scapy's application-layer dissectors cannot re-serialise (and alter) the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinux, Dot1AD, Dot1Q, Ether, Loopback
from scapy.utils import PcapReader, rdpcap

from honeysift.streams.tcp import ReassembledStream, reassemble_direction

# Fixed header sizes of the link layers the corpus traces use.
_LINK_SIZES = {Ether: 14, Dot1Q: 4, Dot1AD: 4, CookedLinux: 16, Loopback: 4}

Key = tuple[str, int, str, int]


@dataclass
class Direction:
    seq: list[int] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    cap_len: list[int] = field(default_factory=list)
    wire_len: list[int] = field(default_factory=list)
    frame: list[int] = field(default_factory=list)
    ts_ns: list[int] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    padded: list[bytes] = field(default_factory=list)  # payload + link-layer padding (tcpflow)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "seq": np.array(self.seq, np.uint32),
            "tcp_flags": np.array(self.flags, np.uint8),
            "payload_len": np.array(self.cap_len, np.uint32),
            "frame": np.array(self.frame, np.uint64),
            "ts_ns": np.array(self.ts_ns, np.int64),
        }

    def reassemble(self, **kw) -> ReassembledStream:
        kw.setdefault("wire_len", np.array(self.wire_len, np.int64))
        return reassemble_direction(**self.arrays(), payload=self.payloads, **kw)


def _l3_offset(pkt) -> int | None:
    off = 0
    layer = pkt
    while layer is not None and not isinstance(layer, IP | IPv6):
        size = _LINK_SIZES.get(type(layer))
        if size is None:
            return None
        off += size
        layer = layer.payload if layer.payload else None
    return off if layer is not None else None


def read_directions(path: Path | str) -> dict[Key, Direction]:
    """Every TCP direction of a capture, keyed (src, sport, dst, dport), frames in file order."""
    out: dict[Key, Direction] = {}
    with PcapReader(str(path)) as reader:
        for number, pkt in enumerate(reader, start=1):
            if TCP not in pkt:
                continue
            l3 = _l3_offset(pkt)
            if l3 is None:
                continue
            raw = bytes(pkt.original)
            tcp = pkt[TCP]
            if IP in pkt and pkt[IP].payload is tcp:
                ip = pkt[IP]
                if ip.frag or ip.flags.MF:
                    continue
                hdr = ip.ihl * 4
                wire = ip.len - hdr - tcp.dataofs * 4
            elif IPv6 in pkt and pkt[IPv6].payload is tcp:
                ip = pkt[IPv6]
                hdr = 40
                wire = ip.plen - tcp.dataofs * 4
            else:
                continue
            start = l3 + hdr + tcp.dataofs * 4
            wire = max(wire, 0)
            payload = raw[start : start + wire]
            key = (ip.src, int(tcp.sport), ip.dst, int(tcp.dport))
            d = out.setdefault(key, Direction())
            d.seq.append(int(tcp.seq))
            d.flags.append(int(tcp.flags))
            d.cap_len.append(len(payload))
            d.wire_len.append(wire)
            d.frame.append(number)
            d.ts_ns.append(int(pkt.time * 1_000_000_000))
            d.payloads.append(payload)
            d.padded.append(raw[start:] if len(raw) - start > wire else payload)
    return out


def write_and_read(tmp_path: Path, packets, name: str = "t.pcap") -> dict[Key, Direction]:
    """wrpcap the scapy packets to a temporary pcap and read them back."""
    from scapy.utils import wrpcap

    path = tmp_path / name
    wrpcap(str(path), packets)
    return read_directions(path)


__all__ = ["Direction", "read_directions", "write_and_read", "rdpcap"]
