"""The prefilter finds the same (buffer, rule) pairs with every engine: ahocorasick-rs,
pyahocorasick (when installed) and the plain bytes.find fallback."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honeysift.detect import prefilter

ENGINES = (
    ["find"]
    + (["rs"] if prefilter.ahocorasick_rs else [])
    + (["py"] if prefilter.ahocorasick else [])
)

_pattern = st.binary(min_size=1, max_size=4).filter(bool)
_entries = st.lists(st.tuples(st.integers(0, 30), _pattern, st.booleans()), min_size=1, max_size=12)
_buffers = st.lists(st.binary(max_size=60), min_size=1, max_size=6)


def _run(engine: str, entries, buffers, monkeypatch):
    monkeypatch.setattr(prefilter, "ENGINE", engine)
    pf = prefilter.Prefilter(entries)
    data = b"".join(buffers)
    starts = np.cumsum([0] + [len(b) for b in buffers[:-1]]).astype(np.int64)
    return [sorted(pf.scan(b)) for b in buffers], pf.scan_segments(data, starts)


@pytest.mark.skipif(len(ENGINES) < 2, reason="only one engine installed")
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(entries=_entries, buffers=_buffers, seed=st.integers(0, 3))
def test_engines_agree(entries, buffers, seed, monkeypatch) -> None:
    # make patterns occur: copy some of them into the buffers, overlapping and across joins
    pats = [p for _, p, _ in entries]
    buffers = [b + pats[(i + seed) % len(pats)] * (i % 3) for i, b in enumerate(buffers)]
    want = _run("find", entries, buffers, monkeypatch)
    for engine in ENGINES[1:]:
        assert _run(engine, entries, buffers, monkeypatch) == want, engine


def test_nocase_and_overlaps(monkeypatch) -> None:
    for engine in ENGINES:
        monkeypatch.setattr(prefilter, "ENGINE", engine)
        pf = prefilter.Prefilter([(1, b"aba", False), (2, b"bab", False), (3, b"GET ", True)])
        assert pf.scan(b"ababab get /") == {1, 2, 3}, engine
        data = b"xxab" + b"abyy"  # "abab" straddles the join: in neither buffer alone
        assert pf.scan_segments(data, np.array([0, 4], np.int64)) == [], engine
