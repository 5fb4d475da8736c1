"""Flows stage: bidirectional flow records (argus-like direction/status, Zeek conn.log fields).

    import honeysift
    from honeysift.flows import build_flows
    with honeysift.open("x.pcap") as cap:
        flows = build_flows(cap)            # a Capture: its chunks, and payloads for services
    flows.to_arrow()                        # pyarrow.Table (zero-copy into pandas/polars/duckdb)

``build_flows(chunks, reader=...)`` also takes any iterable of PacketTable chunks.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from honeysift.capture.table import PacketTable
from honeysift.flows import services, state
from honeysift.flows.build import (
    ORIG_METHODS,
    FlowBuilder,
    FlowOptions,
    Reader,
    _hash,
    _trim,
    iter_batches,
    prepare,
)

__all__ = ["FlowOptions", "FlowResult", "build_flows", "COLUMNS", "LABELS"]

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
#: Protocol name by IP protocol number (the ``proto`` column as text).
PROTO_LABELS = np.array(
    [PROTO_NAMES.get(p, str(p)) for p in range(256)],
    dtype=object,
)
_B62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)

#: Coded columns: name -> label array (the stored column holds indexes into it).
LABELS: dict[str, np.ndarray] = {
    "conn_state": state.CONN_STATES,
    "direction": state.DIRECTIONS,
    "status": state.STATUSES,
    "service": services.SERVICES,
    "orig_method": ORIG_METHODS,
}


def uid_bytes(cols: dict[str, np.ndarray]) -> np.ndarray:
    """'C' + base62 of a 64-bit mix of the 5-tuple and start time (stable across runs), as an
    ``S12`` array: 11 vectorized divmods, no per-flow Python (or kernels.uids, compiled)."""
    from honeysift.flows import kernels

    if kernels.worth():
        keys = ("start_ns", "orig_hi", "orig_lo", "resp_hi", "resp_lo", "orig_p", "resp_p")
        u = kernels.uids(*(cols[k] for k in keys), cols["proto"], _B62)
        return u.view("S12").ravel()
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
    for j in range(1, 12):
        v, rem = np.divmod(v, np.uint64(62))
        digits[:, j] = _B62[rem.astype(np.intp)]
    return digits.view("S12").ravel()


class Columns(dict):
    """The flow columns (numpy arrays). Text columns are stored compactly (codes, an Arrow
    string array for history, fixed-width bytes for uid) and decoded into object arrays of
    ``str`` the first time they are looked up, then kept."""

    def __init__(self, data: dict[str, np.ndarray], decoders: dict[str, Callable[[], Any]]):
        super().__init__(data)
        self._decoders = decoders

    def __missing__(self, key: str) -> np.ndarray:
        dec = self._decoders.get(key)
        if dec is None:
            raise KeyError(key)
        v = self[key] = dec()
        return v

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self._decoders

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default  # noqa: SIM401 - dict.get skips __missing__


@dataclass(slots=True)
class FlowResult:
    """The flow table, rows sorted by start time (then first frame).

    ``codes`` holds the compact storage of the text columns (conn_state, direction, status,
    service, orig_method: uint8 codes into :data:`LABELS`; ``history``: a pyarrow string array;
    ``uid``: an ``S12`` array); ``columns[name]`` gives every column as numpy, text columns as
    object arrays of ``str`` (decoded once, on first use). Renderers read ``codes`` directly.

    ``packet_flow``/``packet_dir`` (when requested with ``packet_flows=True``) give, for every
    frame (index = frame number - 1), the row of its flow (-1 for frames in no flow) and 0 when
    the originator sent it, 1 for the responder.
    """

    codes: dict[str, Any]
    numeric: dict[str, np.ndarray]
    packet_flow: np.ndarray | None = None
    packet_dir: np.ndarray | None = None
    columns: Columns = field(init=False)
    _cache: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # the decoders close over the codes, not self: a reference cycle would keep every
        # batch of iter_flows alive until the cyclic collector happened to run
        codes = self.codes
        dec: dict[str, Callable[[], Any]] = {k: (lambda k=k: LABELS[k][codes[k]]) for k in LABELS}
        dec["history"] = lambda: _shared_strings(codes["history"])
        dec["uid"] = lambda: codes["uid"].astype("U12").astype(object)
        self.columns = Columns(self.numeric, dec)

    def __len__(self) -> int:
        return int(len(self.numeric["start_ns"]))

    def column(self, name: str) -> np.ndarray | list:
        c = self.columns
        if name in ("orig_h", "resp_h"):
            if name not in self._cache:
                p = name[:4]
                self._cache[name] = _addresses(c[p + "_hi"], c[p + "_lo"])
            return self._cache[name]
        if name == "start":
            return c["start_ns"] / 1e9
        if name == "end":
            return c["end_ns"] / 1e9
        if name == "duration":
            return (c["end_ns"] - c["start_ns"]) / 1e9
        if name == "zeek_duration":
            return c["zeek_duration_ns"] / 1e9
        if name == "proto":
            if "proto" not in self._cache:
                self._cache["proto"] = PROTO_LABELS[c["proto"]]
            return self._cache["proto"]
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

        from honeysift.flows.text import address_strings

        c, arrays = self.numeric, {}
        for k in COLUMNS:
            if k in ("start", "end"):
                arrays[k] = pa.array(c[k + "_ns"], type=pa.timestamp("ns", tz="UTC"))
            elif k in LABELS:
                arrays[k] = pa.array(LABELS[k], pa.string()).take(pa.array(self.codes[k]))
            elif k == "history":
                arrays[k] = self.codes["history"]
            elif k == "uid":
                arrays[k] = pa.array(self.codes["uid"]).cast(pa.string())
            elif k in ("orig_h", "resp_h"):
                arrays[k] = address_strings(c[k[:4] + "_hi"], c[k[:4] + "_lo"])
            elif k == "proto":
                arrays[k] = pa.array(PROTO_LABELS, pa.string()).take(pa.array(c["proto"]))
            else:
                arrays[k] = pa.array(self.column(k))
        return pa.table(arrays)

    def to_pandas(self):
        """A pandas DataFrame (needs pandas installed; built from the Arrow table)."""
        try:
            import pandas  # noqa: F401
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas() needs pandas; use to_arrow() instead") from e
        return self.to_arrow().to_pandas()


def _shared_strings(arr) -> np.ndarray:
    """An Arrow string array as an object array whose equal values share one str."""
    import pyarrow.compute as pc

    enc = pc.dictionary_encode(arr)
    if hasattr(enc, "combine_chunks"):
        enc = enc.combine_chunks()
    words = np.asarray(enc.dictionary.to_pylist(), dtype=object)
    return words[enc.indices.to_numpy(zero_copy_only=False)] if len(words) else words[:0]


def _addresses(hi: np.ndarray, lo: np.ndarray) -> list[str]:
    """Address text per row; rows with the same address share one str object (two million
    flows have far fewer distinct addresses, and a str per row costs ~60 bytes each)."""
    from honeysift.capture.table import address_ids
    from honeysift.flows.text import address_strings

    if not hi.shape[0]:
        return []
    ids, uh, ul = address_ids(hi, lo)
    text = np.asarray(address_strings(uh, ul).to_pylist(), dtype=object)
    return text[ids].tolist()


def build_flows(chunks: Any, *, reader: Reader | None = None, **options: Any) -> FlowResult:
    """Flow records from a Capture (or an iterable of PacketTable chunks).

    Options (FlowOptions): tcp_timeout, udp_timeout, icmp_timeout, other_timeout (seconds),
    close_delay, partial_close_delay, packet_flows (per-frame flow index), payload_service.
    *reader(offset, length)* returns capture bytes for the payload-based service guess; it
    defaults to the Capture's own when *chunks* is a Capture. Chunks are read one ahead in a
    background thread, so decoding overlaps flow building (numpy releases the GIL).
    """
    builder, it = _builder(chunks, reader, FlowOptions(**options))
    batches = list(iter_batches(_prefetch(it, prepare), builder))
    return _assemble(batches, builder)


def iter_flows(
    chunks: Any, *, reader: Reader | None = None, **options: Any
) -> Iterator[FlowResult]:
    """The flow records of :func:`build_flows` in batches, each yielded as soon as its flows
    have ended (timed out, closed, or the capture ended): memory holds the live flows and one
    batch, not the whole table. Batches come in the order their flows ended (as Zeek writes
    conn.log and argus its records), each sorted by start time. ``packet_flows`` needs the
    whole table: use :func:`build_flows` for it."""
    opts = FlowOptions(**options)
    if opts.packet_flows:
        raise ValueError("packet_flows needs build_flows (the whole table)")
    builder, it = _builder(chunks, reader, opts)
    for batch in iter_batches(_prefetch(it, prepare), builder):
        if len(batch["start_ns"]):
            yield _assemble([batch], builder)


def _builder(chunks: Any, reader: Reader | None, opts: FlowOptions):
    """(FlowBuilder, chunk iterable) for what build_flows accepts."""
    source = chunks
    if hasattr(chunks, "chunks") and hasattr(chunks, "frame_bytes"):
        reader = reader or chunks.frame_bytes
        it: Iterable[PacketTable] = chunks.chunks()
    elif isinstance(chunks, PacketTable):
        it = [chunks]
    else:
        it = chunks
        # a Capture's bound frame_bytes tells which file the chunks come from
        source = getattr(reader, "__self__", None)
    return FlowBuilder(opts, reader, _mapped(source)), it


def _prefetch(
    it: Iterable[PacketTable], work_on: Callable[[PacketTable], Any], depth: int = 2
) -> Iterator[Any]:
    """work_on(chunk) for each chunk of *it*, in a background thread, *depth* chunks ahead
    (exceptions re-raised here): decoding and the compiled row extraction release the GIL."""
    if isinstance(it, (list, tuple)):  # already in memory: no thread
        yield from map(work_on, it)
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for chunk in it:
                t = work_on(chunk)
                while not stop.is_set():
                    try:
                        q.put((t, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((done, None))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            q.put((done, e))

    th = threading.Thread(target=work, name="honeysift-read", daemon=True)
    th.start()
    try:
        while True:
            t, err = q.get()
            if t is done:
                if err is not None:
                    raise err
                return
            yield t
    finally:
        stop.set()
        th.join()


def _mapped(cap: Any) -> str | None:
    """Path of the (decompressed) capture file, mapped per round for the payload pre-test."""
    path = getattr(getattr(cap, "source", None), "path", None)
    try:
        return str(path) if path and os.path.getsize(path) > 0 else None
    except (OSError, TypeError):
        return None


def empty_result() -> FlowResult:
    """A flow table with no rows (the columns and types of any other)."""
    return _assemble([], None)


def _assemble(batches: list[dict[str, np.ndarray]], builder: FlowBuilder | None) -> FlowResult:
    import pyarrow as pa

    from honeysift.flows.build import empty_batch

    if not batches:
        batches = [empty_batch()]
    multi = len(batches) > 1
    keys = [k for k in batches[0] if not k.startswith("_")]
    cols = {}
    if not multi:  # one batch (iter_flows) is sorted already: take it as it is
        order = np.arange(len(batches[0]["start_ns"]))
        cols = {k: batches[0].pop(k) for k in keys}
    else:
        # batches are each sorted by start time, then first frame: the stable sorts below
        # merge their runs, and the gathers read each batch front to back
        ff = np.concatenate([b["first_frame"] for b in batches])
        order = np.argsort(ff, kind="stable")
        st = np.concatenate([b["start_ns"] for b in batches])[order]
        order = order[np.argsort(st, kind="stable")]
        del ff, st
        for k in keys:
            cols[k] = np.concatenate([b.pop(k) for b in batches])[order]
            _trim()  # hand the batches' freed columns back as they go
    # history letters are in flow order within each batch; _hist_idx maps sorted rows to them
    base = np.cumsum([0] + [len(b["_hist_len"]) for b in batches[:-1]])
    hidx = np.concatenate([b.pop("_hist_idx") + o for b, o in zip(batches, base, strict=True)])
    hlen = np.concatenate([b.pop("_hist_len") for b in batches])
    data = np.concatenate([b.pop("_hist_data") for b in batches])
    batches.clear()
    big = len(data) >= 2**31 - 1  # Arrow's 32-bit offsets would overflow
    offs = np.zeros(len(hlen) + 1, np.int64 if big else np.int32)
    np.cumsum(hlen, out=offs[1:])
    kind = pa.LargeStringArray if big else pa.StringArray
    hist = kind.from_buffers(len(hlen), pa.py_buffer(offs), pa.py_buffer(data))
    hidx = hidx[order]
    codes: dict[str, Any] = {k: cols.pop(k) for k in LABELS}
    in_order = len(hidx) == 0 or bool((hidx == np.arange(len(hidx))).all())
    codes["history"] = hist if in_order else hist.take(pa.array(hidx))
    codes["uid"] = uid_bytes(cols)
    res = FlowResult(codes, cols)
    if builder is not None and builder.opt.packet_flows:
        # pk_flow holds flow numbers in batch order = the order of the history letters
        rank = np.empty(len(order), np.int64)
        rank[hidx] = np.arange(len(order))
        pf = np.full(builder.max_frame, -1, np.int64)
        pd = np.full(builder.max_frame, -1, np.int8)
        if builder.pk_frames:
            fr = np.concatenate(builder.pk_frames) - 1
            pf[fr] = rank[np.concatenate(builder.pk_flow)]
            pd[fr] = np.concatenate(builder.pk_dir)
        res.packet_flow, res.packet_dir = pf, pd
    if multi:
        _trim()
    return res
