"""Ordered work spread over forked processes: ``show``'s text batches on every core.

Why processes and not threads: a batch's text is made by Python code (application trees) and
pyarrow kernels that take the GIL back every few microseconds; a thread beside the main one
saved 0.09 s of 1.3 s in a test, two processes halve the work. Why fork: the children inherit
the decoded capture (tables, records, the file map) with no copying or pickling, and each
sends back only its text.

Item ``i`` of ``n`` is computed by process ``i % k`` (0 is the caller), so the caller writes
item ``i`` while the children are already computing the next ones; a child writes each
result to its own pipe and waits there until the caller has taken the one before. A child that
fails or dies costs nothing but time: the caller computes that child's remaining items itself
(the same code, so a real error is raised there, as it would be without children).
"""

from __future__ import annotations

import contextlib
import gc
import os
import struct
import sys
from collections.abc import Callable, Iterator

#: ``HONEYSIFT_WORKERS=1`` turns the children off (the default is one process per usable core,
#: at most :data:`MAX_WORKERS`).
ENV = "HONEYSIFT_WORKERS"
MAX_WORKERS = 4
_HEAD = struct.Struct("<qB")  # result length in bytes, and its kind:
_STR, _BYTES, _NONE, _FAILED = 0, 1, 2, 3  # text, bytes, None; the child failed on this item

Result = str | bytes | None


def workers() -> int:
    """How many processes to use (1 where fork is unavailable or unsafe: not Linux)."""
    env = os.environ.get(ENV, "").strip()
    if env:
        try:
            return max(1, min(int(env), 64))
        except ValueError:
            return 1
    if not sys.platform.startswith("linux"):
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


def ordered_map(fn: Callable[[int], Result], n: int, procs: int | None = None) -> Iterator[Result]:
    """``fn(0)``, ..., ``fn(n - 1)`` (text, bytes or None) in order, computed by up to ``procs``
    processes.

    ``fn`` must depend only on state made before the call (the children see a snapshot).
    Closing the iterator early stops and reaps the children."""
    k = min(workers() if procs is None else procs, n)
    if k <= 1:
        for i in range(n):
            yield fn(i)
        return
    children: dict[int, tuple[int, object]] = {}  # slot -> (pid, read end as a file)
    frozen = gc.get_freeze_count() > 0
    try:
        gc.freeze()  # the children's collector then leaves the inherited objects' pages alone
        for slot in range(1, k):
            child = _spawn(fn, n, k, slot, [f for _, f in children.values()])
            if child is not None:
                children[slot] = child
        for i in range(n):
            slot = i % k
            ch = children.get(slot)
            if ch is not None:
                got = _receive(ch[1])
                if got is not _LOST:
                    yield got
                    continue
                _reap(children.pop(slot))  # failed or died: its items are done here
            yield fn(i)
    finally:
        for ch in children.values():
            _reap(ch, kill=True)
        if not frozen:  # the caller's own frozen objects (the CLI freezes its imports) stay
            gc.unfreeze()


def _spawn(
    fn: Callable[[int], Result], n: int, k: int, slot: int, siblings: list
) -> tuple[int, object] | None:
    """Fork the child for ``slot``; ``siblings``: the read ends of the children made before,
    closed in this one (a sibling's pipe must break when the caller goes away)."""
    try:
        r, w = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return None
    if pid == 0:  # child: compute this slot's items, send them, leave without any cleanup
        code = 0
        try:
            os.close(r)
            for f in siblings:
                f.close()
            with os.fdopen(w, "wb") as out:  # buffered: it writes all of a big result
                for i in range(slot, n, k):
                    try:
                        res = fn(i)
                        kind = _NONE if res is None else _BYTES if isinstance(res, bytes) else _STR
                        data = res.encode("utf-8", "surrogatepass") if kind == _STR else res or b""
                    except BaseException:  # noqa: BLE001 - the caller redoes it and reports
                        out.write(_HEAD.pack(0, _FAILED))
                        code = 1
                        break
                    out.write(_HEAD.pack(len(data), kind))
                    out.write(data)
                    out.flush()
        except BaseException:  # noqa: BLE001 - caller gone (broken pipe) or interrupted
            code = 1
        os._exit(code)
    os.close(w)
    return pid, os.fdopen(r, "rb")


_LOST = object()  # what _receive returns when the child failed or died


def _receive(f) -> Result | object:
    """The next result from a child (``None`` is a result), or ``_LOST``."""
    try:
        head = f.read(_HEAD.size)
        if len(head) < _HEAD.size:
            return _LOST
        size, kind = _HEAD.unpack(head)
        if kind == _NONE:
            return None
        if kind not in (_STR, _BYTES) or size < 0:
            return _LOST
        data = f.read(size)
        if len(data) < size:
            return _LOST
        return data if kind == _BYTES else data.decode("utf-8", "surrogatepass")
    except (OSError, ValueError):
        return _LOST


def _reap(child: tuple[int, object], kill: bool = False) -> None:
    pid, f = child
    with contextlib.suppress(OSError):
        f.close()  # a child still writing gets EPIPE and leaves
    if kill:
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
