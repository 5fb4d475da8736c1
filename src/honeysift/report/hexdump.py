"""Hex and ASCII dumps (``tethereal -x`` / ``snort -d`` style), with masked bytes shown as ``..``."""

from __future__ import annotations


def hexdump(
    data: bytes, masked: set[int] | None = None, width: int = 16, limit: int | None = None
) -> list[str]:
    """Lines of ``offset  hex bytes  ascii``; non-printable bytes print as '.' (safe by design)."""
    masked = masked or set()
    out: list[str] = []
    end = len(data) if limit is None else min(len(data), limit)
    for off in range(0, end, width):
        chunk = data[off : min(off + width, end)]
        hx = []
        asc = []
        for j, b in enumerate(chunk):
            if off + j in masked:
                hx.append("..")
                asc.append(".")
            else:
                hx.append(f"{b:02x}")
                asc.append(chr(b) if 0x20 <= b < 0x7F else ".")
        half = width // 2
        hex_text = " ".join(hx[:half]) + ("  " + " ".join(hx[half:]) if len(hx) > half else "")
        out.append(f"{off:04x}  {hex_text:<{width * 3 + 1}} {''.join(asc)}")
    if limit is not None and len(data) > limit:
        out.append(f"      ... {len(data) - limit} more bytes")
    return out
