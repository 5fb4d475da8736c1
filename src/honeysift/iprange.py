"""Membership of many addresses in many address ranges, vectorized.

Addresses are the packet table's two 64-bit halves (IPv4 in IPv4-mapped form); ranges are
inclusive 128-bit integer pairs. A honeypot list or a rule variable can hold hundreds of
ranges: testing them one by one costs a pass over the column each, so ranges are merged and
looked up with one binary search per address instead.
"""

from __future__ import annotations

import ipaddress

import numpy as np

_M64 = (1 << 64) - 1
_V4_MAPPED = 0xFFFF << 32


def network_range(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int]:
    """A network as an inclusive 128-bit key range (IPv4 in IPv4-mapped form, as the table)."""
    lo, hi = int(net.network_address), int(net.broadcast_address)
    if net.version == 4:
        lo, hi = _V4_MAPPED | lo, _V4_MAPPED | hi
    return lo, hi


def merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping, non-adjacent ranges covering the same addresses."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(r for r in ranges if r[0] <= r[1]):
        if out and a <= out[-1][1] + 1:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


class RangeSet:
    """Merged ranges, split into those within one high half (searched) and wider ones."""

    __slots__ = ("by_hi", "wide")

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        groups: dict[int, list[tuple[int, int]]] = {}
        self.wide: list[tuple[int, int]] = []
        for a, b in merge(ranges):
            if a >> 64 == b >> 64:
                groups.setdefault(a >> 64, []).append((a & _M64, b & _M64))
            else:
                self.wide.append((a, b))
        self.by_hi = {
            h: (np.array([a for a, _ in g], np.uint64), np.array([b for _, b in g], np.uint64))
            for h, g in groups.items()
        }

    def mask(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        m = np.zeros(hi.shape[0], dtype=bool)
        for h, (starts, ends) in self.by_hi.items():
            sel = np.flatnonzero(hi == np.uint64(h))
            if not sel.size:
                continue
            v = lo[sel]
            i = np.searchsorted(starts, v, side="right") - 1
            ok = i >= 0
            m[sel[ok]] = v[ok] <= ends[i[ok]]
        for a, b in self.wide:
            ah, al, bh, bl = (np.uint64(x) for x in (a >> 64, a & _M64, b >> 64, b & _M64))
            ge = (hi > ah) | ((hi == ah) & (lo >= al))
            le = (hi < bh) | ((hi == bh) & (lo <= bl))
            m |= ge & le
        return m
