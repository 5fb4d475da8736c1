"""Capture-level facts for ``honeysift info``: what file, capinfos and md5sum told the 2003 analyst."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import asdict, dataclass, field

import numpy as np

from honeysift.capture import linktypes
from honeysift.capture.reader import Capture
from honeysift.capture.table import STATUS_NAMES, UNDECODABLE


@dataclass(slots=True)
class CaptureSummary:
    file: str
    file_size: int
    format: str
    format_version: str
    compression: str | None
    byte_order: str
    ts_resolution: str
    linktypes: list[str]
    linktype_numbers: list[int]
    snaplen: int
    interfaces: list[dict]
    packets: int
    bytes: int  # sum of original (wire) lengths: capinfos' "Data size"
    captured_bytes: int
    first_ts: float | None
    last_ts: float | None
    first_ns: int | None
    last_ns: int | None
    duration: float
    time_ordered: bool
    data_byte_rate: float
    data_bit_rate: float
    avg_packet_size: float
    avg_packet_rate: float
    md5: str
    sha256: str
    decompressed_size: int | None
    decompressed_md5: str | None
    decompressed_sha256: str | None
    truncated_frames: int
    undecodable_frames: int
    status_counts: dict[str, int]
    ip_protocols: dict[str, int]
    ip_fragments_reassembled: int
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _file_hashes(path: str) -> tuple[str, str]:
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            md5.update(block)
            sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


_PROTO_NAMES = {
    1: "icmp",
    2: "igmp",
    6: "tcp",
    17: "udp",
    41: "ipv6",
    47: "gre",
    50: "esp",
    51: "ah",
    58: "icmpv6",
    132: "sctp",
}


def summarize(cap: Capture) -> CaptureSummary:
    """Read the whole capture once (chunk by chunk) and aggregate its facts."""
    builder = SummaryBuilder(cap)
    for t in cap.chunks():
        builder.add(t)
    return builder.finish()


class SummaryBuilder:
    """The facts of :func:`summarize` gathered from the chunks of a pass that reads the capture
    anyway (``analyze`` builds flows from the same chunks); the file hashes are computed in a
    background thread meanwhile (hashlib releases the GIL, so they take the other core)."""

    def __init__(self, cap: Capture) -> None:
        self.cap = cap
        self.packets = self.data = self.wire = self.trunc = self.reassembled = 0
        self.first: int | None = None
        self.last: int | None = None
        self.ordered = True
        self.prev_last: int | None = None
        self.status = np.zeros(256, dtype=np.int64)
        self.protos = np.zeros(256, dtype=np.int64)
        self._hashes: tuple[str, str] | None = None
        self._hasher: threading.Thread | None = None
        if cap.source.stored_md5 is None:
            self._hasher = threading.Thread(target=self._hash, name="honeysift-hash", daemon=True)
            self._hasher.start()

    def _hash(self) -> None:
        self._hashes = _file_hashes(self.cap.source.path)

    def add(self, t) -> None:
        n = len(t)
        if not n:
            return
        self.packets += n
        self.data += int(t.caplen.sum(dtype=np.uint64))
        self.wire += int(t.origlen.sum(dtype=np.uint64))
        self.trunc += int((t.caplen < t.origlen).sum())
        lo, hi = int(t.ts_ns.min()), int(t.ts_ns.max())
        self.first = lo if self.first is None else min(self.first, lo)
        self.last = hi if self.last is None else max(self.last, hi)
        backwards = self.prev_last is not None and int(t.ts_ns[0]) < self.prev_last
        if self.ordered and (backwards or (n > 1 and bool((np.diff(t.ts_ns) < 0).any()))):
            self.ordered = False
        self.prev_last = int(t.ts_ns[-1])
        self.status += np.bincount(t.status, minlength=256)
        ip = t.ip_version > 0
        self.protos += np.bincount(t.proto[ip], minlength=256)
        self.reassembled += int(t.reassembled.sum())

    def finish(self) -> CaptureSummary:
        """The summary (waits for the hashes)."""
        cap, src = self.cap, self.cap.source
        if self._hasher is not None:
            self._hasher.join()
            assert self._hashes is not None
            md5, sha = self._hashes
        else:
            md5, sha = src.stored_md5, src.stored_sha256
        packets, data, wire, trunc = self.packets, self.data, self.wire, self.trunc
        first, last, ordered = self.first, self.last, self.ordered
        status, protos, reassembled = self.status, self.protos, self.reassembled
        fmt = cap.format
        duration = (last - first) / 1e9 if packets else 0.0
        resolutions = list(dict.fromkeys(fmt.ts_resolution))
        links = list(dict.fromkeys(fmt.linktypes))
        return CaptureSummary(
            file=cap.name,
            file_size=src.stored_size,
            format=fmt.container,
            format_version=fmt.version,
            compression=src.compression,
            byte_order=fmt.byte_order,
            ts_resolution=",".join(resolutions),
            linktypes=[linktypes.name(x) for x in links],
            linktype_numbers=links,
            snaplen=max(fmt.snaplen) if fmt.snaplen else 0,
            interfaces=[
                {
                    "linktype": linktypes.name(lt),
                    "linktype_number": lt,
                    "snaplen": snap,
                    "ts_resolution": res,
                    "name": name,
                }
                for lt, snap, res, name in zip(
                    fmt.linktypes,
                    fmt.snaplen,
                    fmt.ts_resolution,
                    fmt.interface_names or [None] * len(fmt.linktypes),
                    strict=False,
                )
            ],
            packets=packets,
            bytes=wire,
            captured_bytes=data,
            first_ts=first / 1e9 if first is not None else None,
            last_ts=last / 1e9 if last is not None else None,
            first_ns=first,
            last_ns=last,
            duration=duration,
            time_ordered=ordered,
            data_byte_rate=wire / duration if duration > 0 else 0.0,
            data_bit_rate=8 * wire / duration if duration > 0 else 0.0,
            avg_packet_size=wire / packets if packets else 0.0,
            avg_packet_rate=packets / duration if duration > 0 else 0.0,
            md5=md5,
            sha256=sha,
            decompressed_size=src.size if src.compression else None,
            decompressed_md5=src.md5 if src.compression else None,
            decompressed_sha256=src.sha256 if src.compression else None,
            truncated_frames=trunc,
            undecodable_frames=int(sum(status[s] for s in UNDECODABLE)),
            status_counts={
                STATUS_NAMES[i]: int(c)
                for i, c in enumerate(status.tolist())
                if c and i in STATUS_NAMES
            },
            ip_protocols={
                _PROTO_NAMES.get(i, str(i)): int(c) for i, c in enumerate(protos.tolist()) if c
            },
            ip_fragments_reassembled=reassembled,
            warnings=[str(w) for w in cap.warnings],
            notes=list(cap.notes),
        )
