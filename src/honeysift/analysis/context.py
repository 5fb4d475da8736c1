"""What every analyzer can ask about the capture, computed once (flows, streams, roles)."""

from __future__ import annotations

import ipaddress
import shlex
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from honeysift.capture.reader import Capture
from honeysift.iprange import RangeSet, network_range
from honeysift.pipeline import Pipeline
from honeysift.streams.extract import DirectionStream

#: Reassembled streams kept in memory at once by the analysis (bytes, content and bookkeeping).
STREAM_CACHE_BYTES = 128 << 20
#: Bytes a cached stream costs besides its content and arrays (objects, array headers).
STREAM_OVERHEAD = 1024


def _cost(ds: DirectionStream) -> int:
    """What a cached stream holds in memory: content (unless spilled), segment maps, objects."""
    s = ds.stream
    size = STREAM_OVERHEAD + (s.length if s.data is not None else 0)
    for arr in (s.offsets, s.frames):
        size += getattr(arr, "nbytes", 0)
    return size


@dataclass
class AnalysisContext:
    """The capture, its flow table, the honeypot set, and lazily reassembled TCP streams."""

    cap: Capture
    pipe: Pipeline
    honeypots: list[str] = field(default_factory=list)
    capture_label: str = "CAP"  # how the capture is named in suggested commands
    _nets: list = field(default_factory=list)
    _streams: dict[tuple[int, int], DirectionStream] | None = None
    _loaded: set[int] = field(default_factory=set)
    _hp_cache: dict[str, bool] = field(default_factory=dict)
    _cached_bytes: int = 0
    _hp_set: RangeSet | None = None

    def __post_init__(self) -> None:
        self._nets = [ipaddress.ip_network(h, strict=False) for h in self.honeypots]

    @property
    def flows(self):
        return self.pipe.flows

    def is_honeypot(self, addr: str) -> bool:
        hit = self._hp_cache.get(addr)
        if hit is None:
            try:
                ip = ipaddress.ip_address(addr)
                hit = any(ip in n for n in self._nets)
            except ValueError:
                hit = False
            self._hp_cache[addr] = hit
        return hit

    def honeypot_mask(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """Vectorized :meth:`is_honeypot` over address halves (the table's representation)."""
        if self._hp_set is None:
            self._hp_set = RangeSet([network_range(n) for n in self._nets])
        return self._hp_set.mask(hi, lo)

    # -- flows ---------------------------------------------------------------------------------
    def flows_where(
        self, proto: int | None = None, resp_port: int | None = None, inbound: bool | None = None
    ) -> list[int]:
        """Flow row indices by protocol number, responder port and direction relative to the
        honeypots (inbound: a remote host originated it to a honeypot)."""
        f = self.flows
        c = f.columns
        sel = np.ones(len(f), dtype=bool)
        if proto is not None:
            sel &= c["proto"] == proto
        if resp_port is not None:
            sel &= c["resp_p"] == resp_port
        if inbound is None:
            return np.flatnonzero(sel).tolist()
        o_hp = self.honeypot_mask(c["orig_hi"], c["orig_lo"])
        r_hp = self.honeypot_mask(c["resp_hi"], c["resp_lo"])
        sel &= (r_hp & ~o_hp) if inbound else o_hp
        return np.flatnonzero(sel).tolist()

    def row(self, i: int) -> dict:
        return self.pipe.flow_row(i)

    # -- streams -------------------------------------------------------------------------------
    def load_streams(self, flows) -> None:
        """Reassemble these flows' directions now (both directions, those with data), so that
        :meth:`stream` finds them; analyzers call it once with the flows they care about.

        The cache holds at most STREAM_CACHE_BYTES of content: the oldest flows are dropped
        first (and reassembled again if asked for), so memory does not grow with the capture.
        """
        if self._streams is None:
            self._streams = OrderedDict()
        todo = [f for f in dict.fromkeys(flows) if f not in self._loaded]
        for k in range(0, len(todo), 512):
            part = todo[k : k + 512]
            self._loaded.update(part)
            got = self.pipe.tcp_streams(part)
            for key, ds in got.items():
                self._streams[key] = ds
                self._cached_bytes += _cost(ds)
            self._evict(keep=set(part))

    def each_loaded(self, flows, batch: int = 512) -> Iterator[int]:
        """*flows* one by one, their streams loaded *batch* flows at a time just before they
        are handed out (loading all first would evict the early ones from the bounded cache
        before the caller reaches them, and asking one flow at a time costs a pass each)."""
        flows = list(flows)
        for k in range(0, len(flows), batch):
            part = flows[k : k + batch]
            self.load_streams(part)
            yield from part

    def _evict(self, keep: set[int]) -> None:
        assert self._streams is not None
        while self._cached_bytes > STREAM_CACHE_BYTES and self._streams:
            key = next(iter(self._streams))
            if key[0] in keep:
                break
            ds = self._streams.pop(key)
            self._cached_bytes -= _cost(ds)
            ds.stream.discard()
            self._loaded.discard(key[0])

    def streams(self) -> dict[tuple[int, int], DirectionStream]:
        """Every TCP direction with data, reassembled (heavy on big captures: prefer
        :meth:`load_streams` with the flows an analyzer needs)."""
        self.load_streams(range(len(self.flows)))
        assert self._streams is not None
        return self._streams

    def stream(self, flow: int, direction: int) -> DirectionStream | None:
        if self._streams is None or flow not in self._loaded:
            self.load_streams([flow])
        assert self._streams is not None
        ds = self._streams.get((flow, direction))
        if ds is not None:
            self._streams.move_to_end((flow, direction))
        return ds

    def data(self, flow: int, direction: int) -> bytes:
        ds = self.stream(flow, direction)
        return ds.stream.read() if ds is not None else b""

    def ts_of_frame(self, frame: int) -> float:
        return self.pipe.ts_of_frame(frame)

    # -- evidence commands ---------------------------------------------------------------------
    def show_cmd(self, bpf: str, *, verbose: bool = True) -> str:
        v = " -V" if verbose else ""
        return f"honeysift show {shlex.quote(self.capture_label)}{v} {shlex.quote(bpf)}"

    def cmd(self, sub: str, rest: str = "") -> str:
        return f"honeysift {sub} {shlex.quote(self.capture_label)}" + (f" {rest}" if rest else "")
