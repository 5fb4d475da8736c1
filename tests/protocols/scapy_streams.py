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


def seq_chunks(path: Path) -> dict[tuple, list[tuple[bytes, int]]]:
    """Per-direction TCP payload of an IPv4 trace as (new bytes, frame) per segment: segments
    ordered by sequence number from the SYN (or the lowest), retransmitted bytes dropped,
    stopping at the first gap. Frames are 1-based, so a message can be attributed to the frame
    that completed it, as tshark does."""
    from scapy.all import IP, TCP, rdpcap

    conns: dict[tuple, list] = {}
    for i, p in enumerate(rdpcap(str(path)), 1):
        if IP not in p or TCP not in p:
            continue
        t = p[TCP]
        n = p[IP].len - p[IP].ihl * 4 - t.dataofs * 4
        conns.setdefault((p[IP].src, t.sport, p[IP].dst, t.dport), []).append(
            (t.seq, bytes(t.payload)[: max(n, 0)], i, int(t.flags))
        )
    out = {}
    for key, segs in conns.items():
        syn = [s for s in segs if s[3] & 0x02]
        data = [s for s in segs if s[1]]
        if not data:
            continue
        base = syn[0][0] + 1 if syn else min(s[0] for s in data)
        have, chunks = 0, []
        for seq, pl, fr, _f in sorted(data, key=lambda s: ((s[0] - base) & 0xFFFFFFFF, s[2])):
            off = (seq - base) & 0xFFFFFFFF
            if off + len(pl) <= have:
                continue
            if off > have:
                break
            chunks.append((pl[have - off :], fr))
            have = off + len(pl)
        out[key] = chunks
    return out


def seq_streams(path: Path) -> dict[tuple, tuple[bytes, list[int]]]:
    """:func:`seq_chunks` joined: each direction's bytes, and the frame of every byte."""
    return {
        key: (b"".join(c for c, _ in chunks), [fr for c, fr in chunks for _ in c])
        for key, chunks in seq_chunks(path).items()
    }
