"""RangeSet answers exactly what testing each range in turn answers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from honeysift.iprange import RangeSet, merge

V4 = 0xFFFF << 32
_addr = st.one_of(
    st.integers(0, 0xFFFFFFFF).map(lambda v: V4 | v),  # IPv4-mapped
    st.integers(0, (1 << 128) - 1),  # IPv6
    st.integers(0, 300).map(lambda v: (0x20010DB8 << 96) | v),  # close together
)
_range = st.tuples(_addr, st.integers(0, 1 << 70)).map(
    lambda t: (t[0], min(t[0] + t[1], (1 << 128) - 1))
)


@settings(max_examples=300, deadline=None)
@given(ranges=st.lists(_range, max_size=12), addrs=st.lists(_addr, min_size=1, max_size=40))
def test_rangeset_matches_naive(ranges, addrs) -> None:
    near = [a for r in ranges for a in (r[0] - 1, r[0], r[1], r[1] + 1) if 0 <= a < 1 << 128]
    keys = addrs + near
    hi = np.array([k >> 64 for k in keys], np.uint64)
    lo = np.array([k & ((1 << 64) - 1) for k in keys], np.uint64)
    want = [any(a <= k <= b for a, b in ranges) for k in keys]
    assert RangeSet(ranges).mask(hi, lo).tolist() == want


def test_merge_joins_overlapping_and_adjacent() -> None:
    assert merge([(5, 9), (1, 3), (4, 4), (20, 30), (25, 26)]) == [(1, 9), (20, 30)]
