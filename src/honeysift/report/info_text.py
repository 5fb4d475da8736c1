"""Renders a :class:`CaptureSummary` for the terminal (``honeysift info``)."""

from __future__ import annotations

from honeysift.capture.summary import CaptureSummary
from honeysift.report.timefmt import human_duration, iso_ns
from honeysift.safe_text import safe


def render_info(s: CaptureSummary) -> str:
    digits = 9 if "ns" in s.ts_resolution else 6
    rows: list[tuple[str, str]] = [
        ("File", safe(s.file)),
        (
            "Format",
            f"{s.format} {s.format_version}"
            + (f", {s.compression}-compressed" if s.compression else ""),
        ),
        ("Byte order", s.byte_order),
        ("Timestamp resolution", s.ts_resolution),
        (
            "Link type",
            ", ".join(f"{n} ({v})" for n, v in zip(s.linktypes, s.linktype_numbers, strict=False)),
        ),
        ("Snap length", str(s.snaplen) if s.snaplen else "(not set)"),
        ("Packets", f"{s.packets:,}"),
        ("Data bytes", f"{s.bytes:,} (original lengths; {s.captured_bytes:,} captured)"),
        ("First packet", iso_ns(s.first_ns, digits)),
        ("Last packet", iso_ns(s.last_ns, digits)),
        ("Duration", human_duration(s.duration)),
        (
            "Time ordered",
            "yes" if s.time_ordered else "no (some packets earlier than their predecessor)",
        ),
        (
            "Average rates",
            f"{s.data_byte_rate:,.2f} bytes/s, {s.data_bit_rate:,.2f} bits/s, {s.avg_packet_rate:,.2f} packets/s",
        ),
        ("Average packet size", f"{s.avg_packet_size:,.2f} bytes"),
        ("File size", f"{s.file_size:,} bytes"),
        ("MD5", s.md5),
        ("SHA-256", s.sha256),
    ]
    if s.compression:
        rows += [
            ("Decompressed size", f"{s.decompressed_size:,} bytes"),
            ("Decompressed MD5", s.decompressed_md5 or "-"),
            ("Decompressed SHA-256", s.decompressed_sha256 or "-"),
        ]
    rows += [
        ("Truncated frames", f"{s.truncated_frames:,} (captured length < original length)"),
        ("Undecodable frames", f"{s.undecodable_frames:,}"),
    ]
    if s.ip_protocols:
        rows.append(
            (
                "IP protocols",
                ", ".join(
                    f"{k} {v:,}" for k, v in sorted(s.ip_protocols.items(), key=lambda kv: -kv[1])
                ),
            )
        )
    if s.ip_fragments_reassembled:
        rows.append(("Reassembled datagrams", f"{s.ip_fragments_reassembled:,}"))
    if len(s.interfaces) > 1:
        for i, itf in enumerate(s.interfaces):
            rows.append(
                (
                    f"Interface {i}",
                    f"{itf['linktype']}, snaplen {itf['snaplen']}, {itf['ts_resolution']}"
                    + (f", {safe(itf['name'])}" if itf.get("name") else ""),
                )
            )
    for note in s.notes:
        rows.append(("Note", safe(note)))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k + ':':<{width + 2}}{v}" for k, v in rows)
