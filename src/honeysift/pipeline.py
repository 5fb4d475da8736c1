"""The stages wired together once per capture, for commands that need several of them.

``Pipeline(cap)`` builds the flow table (with the per-frame flow index) on first use and keeps
each frame's timestamp, so that `irc`, `show` and `analyze` read the capture a bounded number
of times and agree on what a connection is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from honeysift.capture.reader import Capture
from honeysift.capture.table import PacketTable
from honeysift.streams.extract import DirectionStream, SegmentIndex

#: TCP idle time (s) after which analysis starts a new connection. Zeek's 5 minutes suits
#: conn.log comparisons (`honeysift flows`), but a bot idling on IRC between two lines is still
#: one connection: analysis and streams split TCP only on close, reuse (new SYN) or 6 hours idle.
ANALYSIS_TCP_TIMEOUT = 6 * 3600.0


class Pipeline:
    def __init__(
        self,
        cap: Capture,
        flt=None,
        *,
        tcp_timeout: float = ANALYSIS_TCP_TIMEOUT,
        on_chunk: Callable[[PacketTable], None] | None = None,
    ) -> None:
        """*on_chunk* sees every chunk of the pass that builds the flows (to gather other
        facts without another read of the capture)."""
        self.cap = cap
        self.on_chunk = on_chunk
        self.flt = flt
        self.tcp_timeout = tcp_timeout
        self._flows = None
        self._frame_ts: np.ndarray | None = None
        self._segments = None
        self._row_plan: list | None = None

    @property
    def flows(self):
        if self._flows is None:
            from honeysift.flows import build_flows

            ts_parts: list[np.ndarray] = []

            def chunks():
                for t in self.cap.chunks():
                    ts_parts.append(t.ts_ns)
                    if self.on_chunk is not None:
                        self.on_chunk(t)
                    yield t

            self._flows = build_flows(
                chunks(),
                reader=self.cap.frame_bytes,
                packet_flows=True,
                tcp_timeout=self.tcp_timeout,
            )
            self._frame_ts = np.concatenate(ts_parts) if ts_parts else np.zeros(0, np.int64)
        return self._flows

    @property
    def frame_ts_ns(self) -> np.ndarray:
        """Timestamp (ns) of every frame, index = frame number - 1."""
        _ = self.flows
        assert self._frame_ts is not None
        return self._frame_ts

    def ts_of_frame(self, frame: int) -> float:
        ts = self._frame_ts if self._frame_ts is not None else self.frame_ts_ns
        i = int(frame) - 1
        return float(ts[i]) / 1e9 if 0 <= i < ts.shape[0] else 0.0

    def flow_row(self, i: int) -> dict:
        """One flow as a dict with the flow table's column names, decoded for this row only
        (materialising whole text columns would cost ~1 GB on a 2-million-flow capture)."""
        if self._row_plan is None:
            self._row_plan = self._make_row_plan()
        i = int(i)
        return {k: get(i) for k, get in self._row_plan}

    def _make_row_plan(self) -> list[tuple[str, Callable[[int], object]]]:
        """(column, getter of row i) in COLUMNS order: the per-column decisions made once."""
        from honeysift.capture.table import halves_to_addr
        from honeysift.flows import COLUMNS, LABELS, PROTO_LABELS

        f = self.flows
        num, codes = f.numeric, f.codes
        hist = f.columns["history"]  # one str per distinct history, decoded once

        def addr(p: str):
            hi, lo = num[p + "_hi"], num[p + "_lo"]
            return lambda i: halves_to_addr(hi[i], lo[i])

        def seconds(a: np.ndarray):
            return lambda i: a[i].item() / 1e9

        def label(names, codes_):
            return lambda i: str(names[codes_[i]])

        def value(a: np.ndarray):
            return lambda i: a[i].item()

        plan = []
        for k in COLUMNS:
            if k in ("orig_h", "resp_h"):
                get = addr(k[:4])
            elif k in ("start", "end", "zeek_duration"):
                get = seconds(num[k + "_ns"])
            elif k == "duration":
                s, e = num["start_ns"], num["end_ns"]
                get = lambda i, s=s, e=e: (e[i].item() - s[i].item()) / 1e9  # noqa: E731
            elif k == "proto":
                get = label(PROTO_LABELS, num["proto"])
            elif k in LABELS:
                get = label(LABELS[k], codes[k])
            elif k == "history":
                get = lambda i, h=hist: str(h[i])  # noqa: E731
            elif k == "uid":
                get = self.uid
            else:
                get = value(num[k])
            plan.append((k, get))
        return plan

    def uid(self, i: int) -> str:
        """The uid of flow row *i* (without decoding the whole uid column)."""
        v = self.flows.codes["uid"][int(i)]
        return v.decode() if isinstance(v, bytes) else str(v)

    def tcp_streams(
        self, flows: Iterable[int] | None = None, *, include_empty: bool = False
    ) -> dict[tuple[int, int], DirectionStream]:
        """Reassembled directions keyed by (flow row, direction)."""
        out: dict[tuple[int, int], DirectionStream] = {}
        for ds in self.segments.streams(flows, include_empty=include_empty):
            out[(ds.flow, ds.direction)] = ds
        return out

    @property
    def segments(self) -> SegmentIndex:
        """Reassembly columns of every TCP segment (one extra pass over the capture, once)."""
        if self._segments is None:
            f = self.flows
            c = f.columns
            with_data = (c["orig_payload_bytes"] + c["resp_payload_bytes"]) > 0
            self._segments = SegmentIndex(
                self.cap, f.packet_flow, f.packet_dir, self.flt, with_data
            )
        return self._segments
