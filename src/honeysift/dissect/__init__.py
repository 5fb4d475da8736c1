"""``honeysift show``: per-frame protocol views, the ``tethereal -V`` / ``-x`` / ``-T fields`` of
the 2003 write-up, over the packet table and the protocol decoders.

    from honeysift.dissect import dissect
    with honeysift.open("x.pcap") as cap:
        d = dissect(cap)                 # header layers are formatted later, in bulk
        d.records[42]                    # application records placed on frame 42

:func:`show_command` is what the CLI calls; it yields output lines and returns the exit status.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from honeysift.capture.reader import drop_pages
from honeysift.capture.table import ST_OK, PacketTable
from honeysift.dissect import app
from honeysift.dissect.frames import Conversations, conversations
from honeysift.dissect.tcp import decode_tcp
from honeysift.progress import Progress
from honeysift.safe_text import safe

__all__ = ["Dissection", "dissect", "show_command"]


@dataclass(slots=True)
class Dissection:
    """A capture's packet table, the rows selected for display, and the application records."""

    cap: object
    table: PacketTable
    rows: np.ndarray  # table rows selected by the capture filter, in frame order
    convs: Conversations
    records: app.Records
    mm: np.ndarray
    kinds: dict[int, str] = field(default_factory=dict)  # conversation id -> decoder used
    udp_cache: app.UdpCache = field(default_factory=app.UdpCache)
    #: conversations with capture gaps or out-of-order segments (placement may differ there)
    irregular: set[int] = field(default_factory=set)
    #: rows whose datagram (UDP, ICMP) records are not decoded yet (``dissect(lazy=True)``)
    pending: np.ndarray | None = None
    _payload: Callable[[int], bytes] | None = None
    fmap: object = None  # the mmap behind ``mm`` (None without one)

    @property
    def first_ts_ns(self) -> int:
        return int(self.table.ts_ns[0]) if len(self.table) else 0

    def payload(self, i: int) -> bytes:
        """The transport payload of table row ``i`` (captured bytes only)."""
        if self._payload is None:
            self._payload = _payload_fn(self.table, self.mm)
        return self._payload(i)

    def decode_rows(self, rows: np.ndarray) -> None:
        """Decode the datagram records of ``rows`` still pending (a no-op once decoded)."""
        if self.pending is None:
            return
        rows = np.asarray(rows, np.int64)
        rows = rows[self.pending[rows]]
        if rows.size:
            self.pending[rows] = False
            _decode_datagrams(self, rows)

    def release_rows(self, rows: np.ndarray) -> None:
        """Forget the records of ``rows``' frames and give back the capture pages read so
        far (``show`` after writing a batch: memory stays flat through a big capture)."""
        pop = self.records.pop
        for fr in self.table.frame[rows].tolist():
            pop(fr, None)
        drop_pages(self.fmap)


def _file_map(cap) -> tuple[np.ndarray, object]:
    """The capture's bytes as an array over a read-only map, and the map (None if none)."""
    try:
        if getattr(cap, "size", 0) and hasattr(cap, "open_map"):
            m = cap.open_map()
            return np.frombuffer(m, np.uint8), m
    except (OSError, ValueError):
        pass
    return np.zeros(0, np.uint8), None


def _payload_fn(t: PacketTable, mm: np.ndarray) -> Callable[[int], bytes]:
    off = t.offset + t.payload_off.astype(np.int64)
    n = np.clip(
        np.minimum(t.payload_len.astype(np.int64), t.caplen.astype(np.int64) - t.payload_off),
        0,
        None,
    )
    reas = t.reassembled
    frames = t.frame
    extra = t.extra_payload
    buf = memoryview(mm) if mm.size else memoryview(b"")

    def payload(i: int) -> bytes:
        if reas[i]:
            return extra.get(int(frames[i]), b"")
        o = int(off[i])
        return bytes(buf[o : o + int(n[i])])

    return payload


SERVER_PORTS = frozenset(app.TCP_PORTS) | frozenset(app.UDP_PORTS)


def dissect(
    cap, flt=None, *, decode: bool = True, lazy: bool = False, progress: Progress | None = None,
    share: frozenset[str] | None = None,
) -> Dissection:  # fmt: skip
    """Read the capture, select rows with the capture filter, decode application records.

    ``lazy``: decode TCP records now (they need whole conversations) but datagram records
    (UDP, ICMP) only when :meth:`Dissection.decode_rows` asks for them, so ``show`` decodes
    each batch of frames where it renders it (in several processes). ``share``: decode the TCP
    conversations in several processes, keeping of the records made elsewhere only what the
    output needs ("text": the -V text, "fields": fields and summary line; see dissect/tcp.py)."""
    t = cap.packets()
    mm, fmap = _file_map(cap)
    if flt is not None and len(t):
        mask = np.asarray(flt.mask(t, cap.frame_bytes_at), bool)
    else:
        mask = np.ones(len(t), bool)
    rows = np.flatnonzero(mask)
    convs = conversations(t, SERVER_PORTS)
    d = Dissection(cap, t, rows, convs, {}, mm, fmap=fmap)
    if decode and rows.size:
        if lazy:
            d.pending = mask
        else:
            _decode_datagrams(d, rows)
        if progress is not None:
            progress.phase("decoding TCP")
        decode_tcp(d, mask, progress, share)
        drop_pages(fmap)  # the pages the reassembly read: in the page cache, not our memory
    return d


#: UDP decoders by name and a code per name (0: none)
_UDP_KINDS = sorted(set(app.UDP_PORTS.values()))


def _decode_datagrams(d: Dissection, rows: np.ndarray) -> None:
    """UDP records (by port) and ICMP records of table ``rows``."""
    t, out = d.table, d.records
    ok = ((t.status[rows] == ST_OK) | t.reassembled[rows]) & (t.ip_version[rows] > 0)
    proto = t.proto[rows]
    # -- UDP by port
    udp = rows[ok & (proto == 17) & (t.payload_len[rows] > 0)]
    sp, dp = t.sport[udp], t.dport[udp]
    kind_d = np.zeros(udp.size, np.int8)
    for ports in (dp, sp):  # destination port first, as tshark's lookup
        for port, k in app.UDP_PORTS.items():
            code = _UDP_KINDS.index(k) + 1
            kind_d = np.where((kind_d == 0) & (ports == port), code, kind_d)
    keep = kind_d > 0
    udp, kind_d = udp[keep], kind_d[keep]
    udp_cache = d.udp_cache
    frames = t.frame[udp].tolist()
    for i, fr, kc in zip(udp.tolist(), frames, kind_d.tolist(), strict=True):
        out.setdefault(fr, []).append(udp_cache.record(_UDP_KINDS[kc - 1], d.payload(i)))
    # -- ICMP
    icm = rows[ok & ((proto == 1) | (proto == 58))]
    for i, v in zip(icm.tolist(), t.ip_version[icm].tolist(), strict=True):
        out.setdefault(int(t.frame[i]), []).append(udp_cache.icmp_record(d.payload(i), v == 6))


def show_command(
    capture: str,
    filter_words: Iterable[str] = (),
    display_filter: str | None = None,
    verbose: bool = False,
    hexdump: bool = False,
    mode: str = "text",
    fields: Iterable[str] = (),
    limit: int | None = None,
    out: Callable[[str], object] | None = None,
    progress: Progress | None = None,
) -> int:
    """Run ``honeysift show``: write the lines with ``out`` (default stdout); return the status.

    Raises :class:`honeysift.errors.HoneysiftError` (bad filter, unreadable capture) for the CLI
    to report. Status 1 when the capture is damaged (everything readable is still shown).
    """
    from honeysift.capture.reader import Capture
    from honeysift.filters.display import compile_display
    from honeysift.report import show_text

    words = " ".join(filter_words).strip()
    flt = None
    if words:
        from honeysift.filters.bpf import compile_filter

        flt = compile_filter(words)
    known = show_text.known_field
    dflt = compile_display(display_filter, known) if display_filter else None
    fields = list(fields)
    if mode == "fields":
        from honeysift.errors import HoneysiftError

        if not fields:
            raise HoneysiftError("-T fields needs at least one -e FIELD")
        unknown = [f for f in fields if not known(f)]
        if unknown:  # as tshark: a typo is an error, not a column that is always empty
            raise HoneysiftError(f"unknown field(s) for -e: {', '.join(map(repr, unknown))}")
    raw = out is None and hasattr(sys.stdout, "buffer")  # bytes straight to the byte stream
    write = out or _stdout_writer(raw)
    with Capture(capture, progress=progress) as cap:
        # datagram records are decoded batch by batch where the output is made (in parallel)
        needs = {"text"} if mode == "text" and verbose else set()
        if dflt is not None or mode in ("fields", "json"):
            needs.add("fields")
        d = dissect(cap, flt, lazy=True, progress=progress, share=frozenset(needs))
        for chunk in show_text.render(
            d, mode=mode, verbose=verbose, hexdump=hexdump, fields=fields, display=dflt,
            limit=limit, release=True, progress=progress, raw=raw, procs=None,
        ):  # fmt: skip
            write(chunk)
        damaged = cap.damaged
        warnings = list(cap.warnings)
    if progress is not None:
        progress.done()  # its line cleared before the warnings
    for w in warnings:  # the file name and the warning are escaped as every command's are
        sys.stderr.write(f"honeysift: {safe(f'warning: {capture}: {w}', keep_newlines=True)}\n")
    return 1 if damaged else 0


def _stdout_writer(raw: bool) -> Callable[[Any], object]:
    """Chunks to stdout, each followed by a newline: bytes to the byte stream (what is
    buffered in the text layer goes first), else text."""
    if raw:
        sys.stdout.flush()
    w = sys.stdout.buffer.write if raw else sys.stdout.write
    nl = b"\n" if raw else "\n"

    def write(chunk) -> None:
        w(chunk)
        w(nl)

    return write
