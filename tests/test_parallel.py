"""honeysift.parallel: ordered results from forked children, and what happens when a child
fails, dies or is abandoned."""

from __future__ import annotations

import contextlib
import os
import stat

import pytest

from honeysift import parallel

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def _text(i: int) -> str | bytes | None:
    # non-ASCII text and a lone surrogate must cross the pipe unchanged; None and bytes too
    if i % 4 == 3:
        return None
    if i % 5 == 4:
        return bytes(range(256)) * (i * 100)
    return "" if i % 4 == 2 else f"item {i} \u2192 caf\u00e9 \udcff " + "x" * (i * 10_000)


@pytest.mark.parametrize("procs", [1, 2, 3])
def test_results_in_order(procs: int) -> None:
    assert list(parallel.ordered_map(_text, 10, procs)) == [_text(i) for i in range(10)]


def test_work_is_shared_out() -> None:
    parent = os.getpid()
    pids = list(parallel.ordered_map(lambda i: str(os.getpid()), 6, 2))
    assert pids[0::2] == [str(parent)] * 3
    assert len(set(pids[1::2])) == 1 and pids[1] != str(parent)


def test_a_failing_child_item_is_redone_by_the_caller() -> None:
    parent = os.getpid()

    def fn(i: int) -> str:
        if os.getpid() != parent and i == 3:
            raise ValueError("only in the child")
        return _text(i)

    assert list(parallel.ordered_map(fn, 8, 2)) == [_text(i) for i in range(8)]
    _no_children_left()


def test_a_dead_child_costs_only_time() -> None:
    parent = os.getpid()

    def fn(i: int) -> str:
        if os.getpid() != parent and i == 5:
            os._exit(3)
        return _text(i)

    assert list(parallel.ordered_map(fn, 9, 2)) == [_text(i) for i in range(9)]
    _no_children_left()


def test_an_error_in_the_caller_is_raised_and_children_reaped() -> None:
    def fn(i: int) -> str:
        if i == 2:
            raise KeyError(i)
        return _text(i)

    with pytest.raises(KeyError):
        list(parallel.ordered_map(fn, 20, 2))
    _no_children_left()


def test_stopping_early_reaps_the_children() -> None:
    it = parallel.ordered_map(_text, 50, 3)
    assert next(it) == _text(0)
    assert next(it) == _text(1)
    it.close()
    _no_children_left()


def test_workers_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(parallel.ENV, "1")
    assert parallel.workers() == 1
    monkeypatch.setenv(parallel.ENV, "3")
    assert parallel.workers() == 3
    monkeypatch.setenv(parallel.ENV, "many")
    assert parallel.workers() == 1
    monkeypatch.delenv(parallel.ENV)
    assert 1 <= parallel.workers() <= parallel.MAX_WORKERS


def _no_children_left() -> None:
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def _pipes() -> str:
    """The pipes this process has open (by inode: both ends of a pipe share it)."""
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            st = os.fstat(int(fd))
            if stat.S_ISFIFO(st.st_mode):
                out.add(str(st.st_ino))
    return " ".join(sorted(out))


def test_each_child_holds_only_its_own_pipe() -> None:
    # a child keeping a sibling's read end open would never see that pipe break if the
    # caller died; item 0 runs in the caller once every child exists
    before = set(_pipes().split())
    got = list(parallel.ordered_map(lambda i: _pipes(), 3, 3))
    ours = set(got[0].split()) - before  # one pipe per child
    assert len(ours) == 2
    for child in got[1:]:
        assert len(ours & set(child.split())) == 1
