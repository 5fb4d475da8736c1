"""Flows stage: bidirectional flow records (argus-like direction/status, Zeek conn.log fields).

    import honeysift
    from honeysift.flows import build_flows
    with honeysift.open("x.pcap") as cap:
        flows = build_flows(cap)            # a Capture: its chunks, and payloads for services
    flows.to_arrow()                        # pyarrow.Table (zero-copy into pandas/polars/duckdb)

``build_flows(chunks, reader=...)`` also takes any iterable of PacketTable chunks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from honeysift.capture.table import PacketTable, halves_to_addr
from honeysift.flows.build import FlowBuilder, FlowOptions, Reader, iter_batches

__all__ = ["FlowOptions", "FlowResult", "build_flows", "COLUMNS"]

#: Columns of the flow table, in order (dtype; meaning in docs/flows.md).
COLUMNS = [
    "uid",
    "start",
    "end",
    "duration",
    "proto",
    "orig_h",
    "orig_p",
    "direction",
    "resp_h",
    "resp_p",
    "orig_pkts",
    "resp_pkts",
    "orig_ip_bytes",
    "resp_ip_bytes",
    "orig_payload_bytes",
    "resp_payload_bytes",
    "orig_bytes",
    "resp_bytes",
    "missed_bytes",
    "conn_state",
    "history",
    "status",
    "service",
    "first_frame",
    "last_frame",
    "orig_method",
    "zeek_swap",
    "zeek_duration",
]

PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _uids(cols: dict[str, np.ndarray]) -> np.ndarray:
    """'C' + base62 of a 64-bit mix of the 5-tuple and start time: stable across runs."""
    from honeysift.flows.build import _hash

    h = _hash(
        {
            "ts_ns": cols["start_ns"],
            "ka_hi": cols["orig_hi"] ^ cols["start_ns"].astype(np.uint64),
            "ka_lo": cols["orig_lo"],
            "kb_hi": cols["resp_hi"],
            "kb_lo": cols["resp_lo"],
            "pa": cols["orig_p"],
            "pb": cols["resp_p"],
            "proto": cols["proto"],
        }
    )
    digits = np.empty((len(h), 12), dtype=np.uint8)
    digits[:, 0] = ord("C")
    v = h.copy()
    lut = np.frombuffer(_B62.encode(), dtype=np.uint8)
    for j in range(1, 12):
        digits[:, j] = lut[(v % np.uint64(62)).astype(np.int64)]
        v //= np.uint64(62)
    return digits.view("S12").ravel().astype("U12").astype(object)


@dataclass(slots=True)
class FlowResult:
    """The flow table: one numpy array per column (see COLUMNS), rows sorted by start time.

    ``packet_flow``/``packet_dir`` (when requested with ``packet_flows=True``) give, for every
    frame (index = frame number - 1), the row of its flow (-1 for frames in no flow) and 0 when
    the originator sent it, 1 for the responder.
    """

    columns: dict[str, np.ndarray]
    packet_flow: np.ndarray | None = None
    packet_dir: np.ndarray | None = None
    _addr_cache: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(len(self.columns["start_ns"]))

    def column(self, name: str) -> np.ndarray | list:
        c = self.columns
        if name in ("orig_h", "resp_h"):
            if name not in self._addr_cache:
                p = name[:4]
                self._addr_cache[name] = _addresses(c[p + "_hi"], c[p + "_lo"])
            return self._addr_cache[name]
        if name == "uid":
            return c["uid"]
        if name == "start":
            return c["start_ns"] / 1e9
        if name == "end":
            return c["end_ns"] / 1e9
        if name == "duration":
            return (c["end_ns"] - c["start_ns"]) / 1e9
        if name == "zeek_duration":
            return c["zeek_duration_ns"] / 1e9
        if name == "proto":
            return np.array([PROTO_NAMES.get(p, str(p)) for p in c["proto"].tolist()], dtype=object)
        return c[name]

    def rows(self) -> Iterator[dict[str, Any]]:
        cols = {
            k: (v.tolist() if isinstance(v, np.ndarray) else v)
            for k in COLUMNS
            for v in [self.column(k)]
        }
        for i in range(len(self)):
            yield {k: cols[k][i] for k in COLUMNS}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.rows()

    def to_arrow(self):
        """A pyarrow.Table with COLUMNS (pyarrow is a dependency of honeysift)."""
        import pyarrow as pa

        arrays = {}
        for k in COLUMNS:
            v = self.column(k)
            if k in ("start", "end"):
                arrays[k] = pa.array(self.columns[k + "_ns"], type=pa.timestamp("ns", tz="UTC"))
            elif isinstance(v, np.ndarray) and v.dtype != object:
                arrays[k] = pa.array(v)
            else:
                arrays[k] = pa.array(list(v), type=pa.string())
        return pa.table(arrays)

    def to_pandas(self):
        """A pandas DataFrame (needs pandas installed; built from the Arrow table)."""
        try:
            import pandas  # noqa: F401
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas() needs pandas; use to_arrow() instead") from e
        return self.to_arrow().to_pandas()


def _addresses(hi: np.ndarray, lo: np.ndarray) -> list[str]:
    cache: dict[tuple[int, int], str] = {}
    out = []
    for h, low in zip(hi.tolist(), lo.tolist(), strict=True):
        s = cache.get((h, low))
        if s is None:
            s = cache[(h, low)] = halves_to_addr(h, low)
        out.append(s)
    return out


def build_flows(chunks: Any, *, reader: Reader | None = None, **options: Any) -> FlowResult:
    """Flow records from a Capture (or an iterable of PacketTable chunks).

    Options (FlowOptions): tcp_timeout, udp_timeout, icmp_timeout, other_timeout (seconds),
    close_delay, partial_close_delay, packet_flows (per-frame flow index), payload_service.
    *reader(offset, length)* returns capture bytes for the payload-based service guess; it
    defaults to the Capture's own when *chunks* is a Capture.
    """
    opts = FlowOptions(**options)
    if hasattr(chunks, "chunks") and hasattr(chunks, "frame_bytes"):
        reader = reader or chunks.frame_bytes
        it: Iterable[PacketTable] = chunks.chunks()
    elif isinstance(chunks, PacketTable):
        it = [chunks]
    else:
        it = chunks
    builder = FlowBuilder(opts, reader, _mapped(chunks))
    batches = list(iter_batches(it, builder))
    return _assemble(batches, builder)


def _mapped(cap: Any) -> np.ndarray | None:
    """The (decompressed) capture file mapped read-only, for the payload pre-test."""
    path = getattr(getattr(cap, "source", None), "path", None)
    try:
        return np.memmap(path, dtype=np.uint8, mode="r") if path else None
    except (OSError, ValueError):
        return None


def _assemble(batches: list[dict[str, np.ndarray]], builder: FlowBuilder) -> FlowResult:
    from honeysift.flows.build import empty_batch

    if not batches:
        batches = [empty_batch()]
    cols = {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
    order = np.lexsort((cols["first_frame"], cols["start_ns"]))
    cols = {k: v[order] for k, v in cols.items()}
    cols["uid"] = _uids(cols)
    res = FlowResult(cols)
    if builder.opt.packet_flows:
        rank = np.empty(len(order), np.int64)
        rank[order] = np.arange(len(order))
        pf = np.full(builder.max_frame, -1, np.int64)
        pd = np.full(builder.max_frame, -1, np.int8)
        if builder.pk_frames:
            fr = np.concatenate(builder.pk_frames) - 1
            pf[fr] = rank[np.concatenate(builder.pk_flow)]
            pd[fr] = np.concatenate(builder.pk_dir)
        res.packet_flow, res.packet_dir = pf, pd
    return res
