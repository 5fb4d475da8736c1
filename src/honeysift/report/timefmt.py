"""Timestamps for people: UTC ISO 8601 (DESIGN.md convention)."""

from __future__ import annotations

import datetime as _dt


def iso_ns(ns: int | None, digits: int = 6) -> str:
    """Epoch nanoseconds -> ``2003-03-01T00:00:00.123456Z``."""
    if ns is None:
        return "-"
    sec, frac = divmod(int(ns), 1_000_000_000)
    base = _dt.datetime.fromtimestamp(sec, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if digits <= 0:
        return base + "Z"
    return f"{base}.{frac:09d}"[: len(base) + 1 + digits] + "Z"


def iso(ts: float | None, digits: int = 6) -> str:
    """Epoch seconds (float) -> ISO 8601 UTC."""
    if ts is None:
        return "-"
    return iso_ns(round(ts * 1e9), digits)


def human_duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.6f} s"
    m, s = divmod(seconds, 60)
    h, m = divmod(int(m), 60)
    d, h = divmod(h, 24)
    parts = [f"{d}d"] if d else []
    parts += [f"{h}h"] if h or d else []
    parts += [f"{m}m", f"{s:.0f}s"]
    return " ".join(parts) + f" ({seconds:.3f} s)"
