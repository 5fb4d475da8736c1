"""Rendering of ``honeysift show``: summary lines, ``-V`` trees, ``-x`` dumps, ``-T fields|json``.

No decoding here: the header layers come formatted in bulk from
:mod:`honeysift.dissect.frames`, the application records from :mod:`honeysift.dissect.app`.
Every string taken from packet contents passes through :func:`honeysift.safe_text.safe`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from honeysift.capture.table import halves_to_addr
from honeysift.dissect import Dissection, app
from honeysift.dissect.frames import FLAG_TEXT, _cat, _scatter, _str, header_text
from honeysift.parallel import ordered_map
from honeysift.progress import Progress
from honeysift.protocols import dns, icmp, mssql, nbns, nbss
from honeysift.report.hexdump import hexdump as _hexdump
from honeysift.safe_text import safe

#: Fields tshark prints in hex with ``-T fields`` (width in digits).
TSHARK_HEX: dict[str, int] = {
    **nbns.TSHARK_HEX,
    **dns.TSHARK_HEX,
    **icmp.TSHARK_HEX,
    **mssql.TSHARK_HEX,
    **nbss.TSHARK_HEX,
    "smb.cmd": 2,
    "smb.nt_status": 8,
    "smb2.nt_status": 8,
    "eth.type": 4,
    "ip.id": 4,
    "ip.flags": 2,
    "tcp.flags": 3,
}

SUMMARY_HEAD = "    No.         Time Source           Destination      Protocol Length Info"
BATCH = 8192  # frames formatted per bulk step (one output chunk)
HEX_BATCH = 512  # with -x (a dump is ~4.5 bytes per frame byte)


def field_text(name: str, v: Any) -> str:
    """One field value as ``tshark -T fields`` prints it (made safe for a terminal)."""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        w = TSHARK_HEX.get(name)
        return f"0x{v:0{w}x}" if w else str(v)
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, str):
        raw = v.encode("utf-8", "surrogateescape")
        if name.startswith("irc."):
            # tshark's IRC strings are ASCII: every byte >= 0x80 shows as U+FFFD
            return safe("".join(chr(b) if b < 0x80 else "\ufffd" for b in raw))
        return safe(raw.decode("utf-8", "replace"))
    return safe(str(v))


def _json_value(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, str):
        return safe(v.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    if isinstance(v, (bool, int, float)) or v is None:
        return v
    return safe(str(v))


#: The Ethernet fields :class:`FrameFields` reads from the frame bytes.
ETH_FIELDS = frozenset({"eth", "eth.src", "eth.dst", "eth.addr", "eth.type"})
#: The header fields :class:`FrameFields` serves: the packet table's and the Ethernet ones
#: (tests/dissect/test_field_names.py keeps this equal to what it serves).
HEADER_FIELDS = ETH_FIELDS | frozenset({
    "frame", "frame.number", "frame.len", "frame.cap_len", "frame.time_epoch",
    "frame.time_relative", "frame.protocols", "vlan", "vlan.id",
    "ip", "ip.src", "ip.dst", "ip.addr", "ip.proto", "ip.ttl", "ip.id", "ip.len",
    "ipv6", "ipv6.src", "ipv6.dst", "ipv6.addr", "ipv6.nxt", "ipv6.hlim",
    "tcp", "tcp.srcport", "tcp.dstport", "tcp.port", "tcp.stream", "tcp.seq", "tcp.seq_raw",
    "tcp.ack", "tcp.ack_raw", "tcp.flags", "tcp.flags.str", "tcp.flags.fin", "tcp.flags.syn",
    "tcp.flags.reset", "tcp.flags.push", "tcp.flags.ack", "tcp.flags.urg", "tcp.len",
    "tcp.window_size_value",
    "udp", "udp.srcport", "udp.dstport", "udp.port", "udp.stream", "udp.length",
})  # fmt: skip


def known_field(name: str) -> bool:
    """Whether ``show -Y``/``-T fields -e`` can ever give ``name`` a value: a header field, a
    record kind, or a name under a decoder's protocol. Unknown names are refused (tshark
    refuses them too) instead of printing empty columns for a typo such as ``ip.scr``; a
    misspelt name under a decoder's protocol (``dns.qry.nmae``) still passes."""
    if name in HEADER_FIELDS or name in app.LABEL:
        return True
    head, dot, _ = name.partition(".")
    return bool(dot) and head in app.FIELD_PROTOCOLS


class FrameFields:
    """Field lookup for one table row: header fields from the columns, the rest from records."""

    def __init__(self, d: Dissection) -> None:
        self.d = d
        t = d.table
        self.t = t
        self._app: dict[str, list[Any]] | None = None
        self.r = 0
        self.recs: list[app.AppRecord] = []
        self._stacks: list[str] | None = None
        c = d.convs
        ip4 = lambda r: t.ip_version[r] == 4  # noqa: E731
        ip6 = lambda r: t.ip_version[r] == 6  # noqa: E731
        tcp = lambda r: self._l4(r) and t.proto[r] == 6  # noqa: E731
        udp = lambda r: self._l4(r) and t.proto[r] == 17  # noqa: E731
        src = lambda r: halves_to_addr(t.src_hi[r], t.src_lo[r])  # noqa: E731
        dst = lambda r: halves_to_addr(t.dst_hi[r], t.dst_lo[r])  # noqa: E731
        i = int
        self.header: dict[str, Any] = {
            "frame": lambda r: [True],
            "frame.number": lambda r: [i(t.frame[r])],
            "frame.len": lambda r: [i(t.origlen[r])],
            "frame.cap_len": lambda r: [i(t.caplen[r])],
            "frame.time_epoch": lambda r: [f"{i(t.ts_ns[r]) / 1e9:.9f}"],
            "frame.time_relative": lambda r: [(i(t.ts_ns[r]) - d.first_ts_ns) / 1e9],
            "frame.protocols": lambda r: [self.protocols(r)],
            "ip": lambda r: [True] if ip4(r) else [],
            "ip.src": lambda r: [src(r)] if ip4(r) else [],
            "ip.dst": lambda r: [dst(r)] if ip4(r) else [],
            "ip.addr": lambda r: [src(r), dst(r)] if ip4(r) else [],
            "ip.proto": lambda r: [i(t.proto[r])] if ip4(r) else [],
            "ip.ttl": lambda r: [i(t.ttl[r])] if ip4(r) else [],
            "ip.id": lambda r: [i(t.ip_id[r])] if ip4(r) else [],
            "ip.len": lambda r: [i(t.ip_len[r])] if ip4(r) else [],
            "ipv6": lambda r: [True] if ip6(r) else [],
            "ipv6.src": lambda r: [src(r)] if ip6(r) else [],
            "ipv6.dst": lambda r: [dst(r)] if ip6(r) else [],
            "ipv6.addr": lambda r: [src(r), dst(r)] if ip6(r) else [],
            "ipv6.nxt": lambda r: [i(t.proto[r])] if ip6(r) else [],
            "ipv6.hlim": lambda r: [i(t.ttl[r])] if ip6(r) else [],
            "tcp": lambda r: [True] if tcp(r) else [],
            "tcp.srcport": lambda r: [i(t.sport[r])] if tcp(r) else [],
            "tcp.dstport": lambda r: [i(t.dport[r])] if tcp(r) else [],
            "tcp.port": lambda r: [i(t.sport[r]), i(t.dport[r])] if tcp(r) else [],
            "tcp.stream": lambda r: [i(c.index[r])] if tcp(r) else [],
            "tcp.seq": lambda r: [i(t.seq[r])] if tcp(r) else [],
            "tcp.seq_raw": lambda r: [i(t.seq[r])] if tcp(r) else [],
            "tcp.ack": lambda r: [i(t.ack[r])] if tcp(r) else [],
            "tcp.ack_raw": lambda r: [i(t.ack[r])] if tcp(r) else [],
            "tcp.flags": lambda r: [i(t.tcp_flags[r])] if tcp(r) else [],
            "tcp.flags.str": lambda r: [FLAG_TEXT[i(t.tcp_flags[r])]] if tcp(r) else [],
            "tcp.len": lambda r: [i(t.payload_len[r])] if tcp(r) else [],
            "tcp.window_size_value": lambda r: [i(t.win[r])] if tcp(r) else [],
            "udp": lambda r: [True] if udp(r) else [],
            "udp.srcport": lambda r: [i(t.sport[r])] if udp(r) else [],
            "udp.dstport": lambda r: [i(t.dport[r])] if udp(r) else [],
            "udp.port": lambda r: [i(t.sport[r]), i(t.dport[r])] if udp(r) else [],
            "udp.stream": lambda r: [i(c.index[r])] if udp(r) else [],
            "udp.length": lambda r: [i(t.payload_len[r]) + 8] if udp(r) else [],
            "vlan.id": lambda r: [v for v in (i(t.vlan[r]), i(t.vlan_inner[r])) if v >= 0],
            "vlan": lambda r: [True] if t.vlan[r] >= 0 else [],
        }
        for b, name in enumerate(("fin", "syn", "reset", "push", "ack", "urg")):
            self.header[f"tcp.flags.{name}"] = lambda r, b=b: (
                [bool(t.tcp_flags[r] >> b & 1)] if tcp(r) else []
            )

    def _l4(self, r: int) -> bool:
        t = self.t
        return t.ip_version[r] > 0 and (t.status[r] == 0 or bool(t.reassembled[r]))

    def at(self, r: int) -> FrameFields:
        self.r = r
        self.recs = self.d.records.get(int(self.t.frame[r]), [])
        self._app = None
        return self

    def app_fields(self) -> dict[str, list[Any]]:
        if self._app is None:
            out: dict[str, list[Any]] = {}
            for rec in self.recs:
                out.setdefault(rec.proto, []).append(True)
                for k, v in rec.fields().items():
                    out.setdefault(k, []).extend(v)
            self._app = out
        return self._app

    def get(self, name: str) -> list[Any]:
        h = self.header.get(name)
        if h is not None:
            return h(self.r)
        if name in ETH_FIELDS:
            return self._eth(name)
        return self.app_fields().get(name, [])

    __call__ = get

    def _eth(self, name: str) -> list[Any]:
        t, r = self.t, self.r
        if t.linktype[r] != 1:
            return []
        if name == "eth":
            return [True]
        b = self.d.cap.frame_bytes(int(t.offset[r]), min(14, int(t.caplen[r])))
        macs = [":".join(f"{x:02x}" for x in b[6:12]), ":".join(f"{x:02x}" for x in b[0:6])]
        if name == "eth.type":
            return [int.from_bytes(b[12:14], "big")] if len(b) >= 14 else []
        return {"eth.src": macs[:1], "eth.dst": macs[1:], "eth.addr": [macs[1], macs[0]]}[name]

    def protocols(self, r: int) -> str:
        if self._stacks is None:  # the header part of every row, in one bulk step
            t, d = self.t, self.d
            rows = np.arange(len(t))
            self._stacks = header_text(t, rows, d.mm, d.first_ts_ns, d.convs, False).stack
            self._stacks = self._stacks.to_pylist()
        return _stack(self._stacks[r], self.d.records.get(int(self.t.frame[r]), []))


def _stack(base: str, recs: list[app.AppRecord]) -> str:
    names: list[str] = []
    for rec in recs:
        p = rec.proto
        if p not in names:
            names.append(p)
    return ":".join([base, *names]) if names else base


def _matching(ff: FrameFields, part: np.ndarray, display, limit: int | None) -> np.ndarray:
    """The rows of ``part`` the display filter keeps (the first ``limit`` of them)."""
    keep: list[int] = []
    for r in part.tolist():
        if limit is not None and len(keep) >= limit:
            break
        if display(ff.at(r)):
            keep.append(r)
    return np.asarray(keep, np.int64)


def render(
    d: Dissection,
    *,
    mode: str = "text",
    verbose: bool = False,
    hexdump: bool = False,
    fields: list[str] | None = None,
    display=None,
    limit: int | None = None,
    release: bool = False,
    progress: Progress | None = None,
    raw: bool = False,
    procs: int | None = 1,
) -> Iterator[str | bytes]:
    """Output chunks (each many frames, without the final newline).

    Work goes batch by batch over the rows: the batch's datagram records are decoded
    (:meth:`Dissection.decode_rows`), the display filter picks rows, and their text is made
    column-wise (pyarrow string arrays: header columns from :func:`header_text`, the
    application text of the frames that have records) and joined once; only frames with
    records, ``-x`` dumps, ``-Y`` and ``-T fields|json`` go through Python per frame. Without
    a frame limit the batches are shared out to one process per core
    (:func:`honeysift.parallel.ordered_map`); with one (``-c N``) they run in order until N
    frames are out. ``release``: forget each batch's records once its text is made, so memory
    does not grow with the output (the command's single pass; ``d`` is spent after it).
    ``progress`` hears of each batch written (as a share of the capture's size). ``raw``: the
    chunks as UTF-8 bytes (for a byte stream: the text is never decoded and encoded again).
    ``procs``: processes for the batches (None: one per core, as the command does; the
    library's default is this process only, since forking is the host program's choice)."""
    batch = HEX_BATCH if hexdump and mode == "text" else BATCH
    rows = d.rows
    ff = FrameFields(d) if display is not None or mode in ("fields", "json") else None

    def chunk(part: np.ndarray, left: int | None = None) -> tuple[str | bytes | None, int]:
        """The text of the frames of ``part`` shown (None when none is: a chunk of one
        frame can be the empty string, -T fields of absent fields)."""
        d.decode_rows(part)
        try:
            return shown(part, left)
        finally:
            if release:
                d.release_rows(part)

    def shown(part: np.ndarray, left: int | None) -> tuple[str | bytes | None, int]:
        if display is not None:
            part = _matching(ff, part, display, left)
        elif left is not None:
            part = part[:left]
        if part.size == 0:
            return None, 0
        if mode == "fields":
            text: str | bytes = _fields(ff, part, fields or [])
        elif mode == "json":
            text = _json(d, ff, part)
        else:
            return _batch_text(d, part, verbose, hexdump, raw), part.size
        return (text.encode("utf-8", "replace") if raw else text), part.size

    starts = range(0, rows.size, batch)
    size = int(getattr(d.cap, "size", 0) or 0)
    if progress is not None:
        progress.phase("writing")
    if limit is None:
        texts = ordered_map(
            lambda k: chunk(rows[starts[k] : starts[k] + batch])[0], len(starts), procs
        )
        for k, text in enumerate(texts):
            if progress is not None:
                progress(size * (k + 1) // len(starts), size)
            if text is not None:
                yield text
        return
    left = max(limit, 0)
    for s in starts:
        if left <= 0:
            break
        text, n = chunk(rows[s : s + batch], left)
        left -= n
        if text is not None:
            yield text


def _batch_text(
    d: Dissection, part: np.ndarray, verbose: bool, hexdump: bool, raw: bool = False
) -> str | bytes:
    """The text of one batch of frames (without the final newline)."""
    t = d.table
    n = part.size
    hd = header_text(t, part, d.mm, d.first_ts_ns, d.convs, verbose)
    frames = t.frame[part]
    recs_of = d.records
    hits = [(j, recs) for j, fr in enumerate(frames.tolist()) if (recs := recs_of.get(fr))]
    idx = np.fromiter((j for j, _ in hits), np.int64, len(hits))
    if hexdump:
        off, cl = t.offset[part].tolist(), t.caplen[part].tolist()
        dumps = pa.array(
            ["\n".join(_hexdump(d.cap.frame_bytes(o, c))) for o, c in zip(off, cl, strict=True)],
            pa.string(),
        )
        tail = _cat("\n", dumps, "\n\n")
    else:
        tail = "\n\n" if verbose else "\n"
    if verbose:
        sfx = [":" + ":".join(dict.fromkeys(r.proto for r in recs)) for _, recs in hits]
        txt = ["\n" + "\n".join([r.text() for r in recs]) for _, recs in hits]
        col = _cat(
            hd.frame_block, "\n    [Protocols in frame: ", hd.stack,
            _scatter(n, [(idx, pa.array(sfx, pa.string()))]), "]\n", hd.layers,
            _scatter(n, [(idx, pa.array(txt, pa.string()))]), tail,
        )  # fmt: skip
    else:
        col = _cat(_summary_col(d, hd, part, frames, hits, idx), tail)
    return _joined(col, raw)[:-1]


def _joined(col: pa.Array, raw: bool = False) -> str | bytes:
    """The concatenation of a string array's values (its data buffer; decoded unless raw)."""
    if len(col) == 0:
        return b"" if raw else ""
    offs = np.frombuffer(col.buffers()[1], np.int32)[col.offset : col.offset + len(col) + 1]
    data = bytes(memoryview(col.buffers()[2])[int(offs[0]) : int(offs[-1])])
    return data if raw else data.decode("utf-8")


def _summary_col(d: Dissection, hd, part, frames, hits, idx) -> pa.Array:
    """One summary line per frame (tshark's columns), the Protocol and Info of frames with
    records from their last record and their records' summaries."""
    n = part.size
    proto, info = hd.proto, hd.info
    if hits:
        mask = np.zeros(n, bool)
        mask[idx] = True
        m = pa.array(mask)
        labels = []
        infos = []
        for _, recs in hits:
            last = recs[-1]
            labels.append(app.LABEL.get(last.proto, last.proto.upper()))
            infos.append("; ".join(dict.fromkeys(safe(r.info) for r in recs if r.info)) or None)
        proto = pc.replace_with_mask(proto, m, pa.array(labels, pa.string()))
        new_info = pc.if_else(pa.array([x is not None for x in infos]),
                              pa.array(infos, pa.string()), info.take(pa.array(idx)))  # fmt: skip
        info = pc.replace_with_mask(info, m, new_info)
    t = d.table
    r = frames.astype(np.int64) - 1  # the Length column reads row frame - 1
    ok = (r >= 0) & (r < len(t))
    length = np.where(ok, t.origlen[np.where(ok, r, 0)].astype(np.int64), 0)
    return _cat(
        pc.utf8_lpad(_str(frames), 7), " ", pc.utf8_lpad(hd.rel, 12), " ",
        pc.utf8_rpad(hd.src, 16), " ", pc.utf8_rpad(hd.dst, 16), " ", pc.utf8_rpad(proto, 8),
        " ", pc.utf8_lpad(_str(length), 6), " ", info,
    )  # fmt: skip


def _fields(ff: FrameFields, rows: np.ndarray, names: list[str]) -> str:
    out: list[str] = []
    for r in rows.tolist():
        ff.at(r)
        out.append(
            "\t".join(",".join(field_text(n, v) for v in ff.get(n) if v is not None) for n in names)
        )
    return "\n".join(out)


def _json(d: Dissection, ff: FrameFields, rows: np.ndarray) -> str:
    out: list[str] = []
    t = d.table
    for r in rows.tolist():
        ff.at(r)
        obj = {
            "frame": int(t.frame[r]),
            "ts": int(t.ts_ns[r]) / 1e9,
            "len": int(t.origlen[r]),
            "protocols": ff.protocols(r),
            "src": (ff.get("ip.src") or ff.get("ipv6.src") or [None])[0],
            "dst": (ff.get("ip.dst") or ff.get("ipv6.dst") or [None])[0],
            "records": [
                {
                    "proto": rec.proto,
                    "summary": safe(rec.node.text),
                    "fields": {k: [_json_value(v) for v in vs] for k, vs in rec.fields().items()},
                }
                for rec in ff.recs
            ],
        }
        for name in ("tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "tcp.stream"):
            v = ff.get(name)
            if v:
                obj[name] = v[0]
        out.append(json.dumps(obj, default=str))
    return "\n".join(out)
