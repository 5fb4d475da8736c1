"""Compiling a module's loops with numba on first use (capture/kernels.py, flows/kernels.py).

Why on first use: importing numba and loading the cached machine code costs ~0.5 s and
~120 MB, so a command on a small capture should not pay it. The module keeps its loops as plain
Python functions; :meth:`LazyJit.ensure` replaces them in the module's namespace by their numba
versions (helpers in place, entry points as ``name + "_c"``), once, under a lock (the reader
thread and the main thread may both ask first). ``cache=True`` keeps the machine code in
``__pycache__`` between runs; ``nogil=True`` lets the reader thread decode while the main
thread works.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any


class LazyJit:
    def __init__(
        self,
        namespace: dict[str, Any],
        entries: Iterable[str],
        helpers: Iterable[str] = (),
        inline: Iterable[str] = (),
    ) -> None:
        self.ns = namespace
        self.entries, self.helpers, self.inline = tuple(entries), tuple(helpers), tuple(inline)
        self.done = False
        self._lock = threading.Lock()

    def ensure(self) -> None:
        if self.done:
            return
        with self._lock:
            if self.done:
                return
            from numba import njit

            ns = self.ns
            for name in self.inline:
                ns[name] = njit(cache=True, nogil=True, inline="always")(ns[name])
            for name in self.helpers:
                ns[name] = njit(cache=True, nogil=True)(ns[name])
            for name in self.entries:
                ns[name + "_c"] = njit(cache=True, nogil=True)(ns[name])
            self.done = True

    def entry(self, name: str, public: str) -> Callable[..., Any]:
        """A function that compiles on first call, then calls the machine code of *name*."""

        def call(*args):
            self.ensure()
            return self.ns[name + "_c"](*args)

        call.__name__ = call.__qualname__ = public
        call.__doc__ = self.ns[name].__doc__
        return call


def _first(a):
    return a[0]


def warm_up() -> None:
    """Initialise numba (~0.3 s once per process: its compiler and LLVM set-up, paid by
    whichever compiled function runs first) by running a trivial cached function. Called in a
    background thread when a big capture is opened, so the set-up overlaps the first blocks,
    which the reader decodes with numpy meanwhile."""
    import numpy as np
    from numba import njit

    njit(cache=True, nogil=True)(_first)(np.zeros(1, np.int64))
