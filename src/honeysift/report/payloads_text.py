"""Renders payload records and clusters (``honeysift payloads``); no analysis here."""

from __future__ import annotations

from honeysift.report.hexdump import hexdump
from honeysift.report.timefmt import iso
from honeysift.safe_text import safe
from honeysift.streams.payloads import PayloadGroup, PayloadRecord, proto_name


def _masked_offsets(rec: PayloadRecord, region: str) -> set[int]:
    out: set[int] = set()
    for r, off, length in rec.masked:
        if r == region:
            out.update(range(off, off + length))
    return out


def render_record(rec: PayloadRecord, max_bytes: int | None = None) -> str:
    head = (
        f"frame {rec.frame}  {iso(rec.ts)}  {proto_name(rec.proto)} "
        f"{rec.src}:{rec.sport} -> {rec.dst}:{rec.dport}  len {len(rec.data)}  ip.id {rec.ip_id}"
        + (f"  seq {rec.seq}" if rec.proto == 6 else "")
    )
    lines = [head]
    if rec.headers:
        lines.append("  headers:")
        lines += ["  " + ln for ln in hexdump(rec.headers, _masked_offsets(rec, "hdr"))]
    lines += hexdump(rec.data, _masked_offsets(rec, "payload"), limit=max_bytes)
    return "\n".join(lines)


def render_groups(groups: list[PayloadGroup], total: int, max_bytes: int | None = 256) -> str:
    out = [f"{total} payloads in {len(groups)} distinct groups (masked fields shown as ..)", ""]
    for g in groups:
        srcs = ", ".join(safe(s) for s in g.sources[:5]) + (
            f" (+{len(g.sources) - 5} more)" if len(g.sources) > 5 else ""
        )
        out.append(
            f"{g.count:6d} x {g.size} bytes  md5 {g.md5}  {proto_name(g.example.proto)} to port {g.example.dport}  "
            f"from {srcs}  first frame {g.frames[0]}  {iso(g.first_ts)} .. {iso(g.last_ts)}"
        )
        out += ["        " + ln for ln in render_record(g.example, max_bytes).splitlines()[1:]]
        out.append("")
    return "\n".join(out)


def record_json(rec: PayloadRecord) -> dict:
    return {
        "frame": rec.frame,
        "ts": rec.ts,
        "proto": proto_name(rec.proto).lower(),
        "src": rec.src,
        "sport": rec.sport,
        "dst": rec.dst,
        "dport": rec.dport,
        "ip_id": rec.ip_id,
        "seq": rec.seq if rec.proto == 6 else None,
        "length": len(rec.data),
        "payload_hex": rec.data.hex(),
        "masked": [{"region": r, "offset": o, "length": n} for r, o, n in rec.masked],
    }


def group_json(g: PayloadGroup) -> dict:
    return {
        "count": g.count,
        "size": g.size,
        "md5": g.md5,
        "frames": g.frames,
        "sources": g.sources,
        "destinations": g.destinations,
        "first_ts": g.first_ts,
        "last_ts": g.last_ts,
        "example": record_json(g.example),
    }
