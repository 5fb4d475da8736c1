"""Renders the stream index and content groups (``honeysift streams``)."""

from __future__ import annotations

from honeysift.safe_text import safe
from honeysift.streams.export import ContentGroup, StreamIndexEntry


def render_groups(groups: list[ContentGroup]) -> str:
    total = sum(g.count for g in groups)
    lines = [f"{total} stream directions with data, {len(groups)} distinct contents", ""]
    lines.append(f"{'count':>6}  {'md5':32}  {'bytes':>9}  example")
    for g in groups:
        lines.append(f"{g.count:6d}  {g.md5}  {g.size:9d}  {safe(g.example or '-')}")
    return "\n".join(lines)


def render_index(index: list[StreamIndexEntry], outdir: str | None) -> str:
    written = [e for e in index if e.file]
    lines = [
        f"{len(written)} stream files written to {safe(outdir or '-')} (index.csv, index.json)"
    ]
    gaps = [e for e in index if e.gaps]
    conflicts = [e for e in index if e.conflicting_overlaps]
    if gaps:
        lines.append(
            f"{len(gaps)} directions have gaps (bytes never captured), {sum(e.missing_bytes for e in gaps)} bytes in all"
        )
    if conflicts:
        lines.append(
            f"{len(conflicts)} directions have overlapping segments with different bytes (an evasion sign):"
        )
        for e in conflicts[:20]:
            lines.append(
                f"  {safe(e.file or '-')}: {e.conflicting_overlaps} conflicting overlaps, frames {e.first_frame}-{e.last_frame}"
            )
    return "\n".join(lines)
