"""Test-only: per-direction TCP payload of a corpus trace read with scapy.

Independent of honeysift's own reader and reassembler on purpose, so the decoder tests check
the decoders alone: segments are sorted by sequence number, bytes already seen (retransmissions,
overlaps) are dropped, a gap is simply closed up, Ethernet padding is cut by the IP length.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tests.conftest import CORPUS


def _corpus() -> Path:
    if not (CORPUS / "traces").is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    return CORPUS


def tcp_streams(name: str) -> dict[tuple, tuple[bytes, list[tuple[int, int]]]]:
    """Per-direction TCP payload of a trace.

    Segments sorted by sequence number; bytes already seen (retransmissions, overlaps) are
    dropped; a gap is simply closed up (the parser resynchronises on the next start line).
    Returns {(src, sport, dst, dport): (bytes, [(offset in bytes, 1-based frame number)])}.
    """
    scapy_all = pytest.importorskip("scapy.all")
    path = _corpus() / "traces" / name
    if not path.exists():
        pytest.skip(f"{path} missing")
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        reader = scapy_all.PcapNgReader if ".pcapng" in name else scapy_all.PcapReader
        packets = list(reader(fh))
    segs: dict[tuple, list[tuple[int, int, bytes]]] = {}
    for frame, p in enumerate(packets, 1):
        if scapy_all.TCP not in p:
            continue
        ip = p[scapy_all.IP] if scapy_all.IP in p else p[scapy_all.IPv6]
        tcp = p[scapy_all.TCP]
        payload = bytes(tcp.payload)
        if scapy_all.IP in p:  # drop Ethernet trailer padding
            payload = payload[: max(0, ip.len - ip.ihl * 4 - tcp.dataofs * 4)]
        segs.setdefault((ip.src, tcp.sport, ip.dst, tcp.dport), []).append(
            (tcp.seq, frame, payload)
        )
    out = {}
    for key, lst in segs.items():
        lst.sort(key=lambda s: (s[0], s[1]))
        data, frames, nxt = bytearray(), [], None
        for seq, frame, payload in lst:
            if not payload or (nxt is not None and seq + len(payload) <= nxt):
                continue
            if nxt is not None and seq < nxt:
                payload, seq = payload[nxt - seq :], nxt
            frames.append((len(data), frame))
            data += payload
            nxt = seq + len(payload)
        out[key] = (bytes(data), frames)
    return out
