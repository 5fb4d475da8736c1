"""Handing freed heap memory back to the operating system.

glibc keeps freed blocks for reuse, so after a step that built and dropped big arrays or many
Python objects, the process's resident size stays at the step's peak; the next step's peak then
adds to it. ``malloc_trim`` returns the free pages (a no-op where glibc is absent).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def _load_libc():
    """glibc through ctypes, with the argument and result types of the functions honeysift
    calls: malloc_trim (trim, below) and open/write/close (the streams export's compiled file
    writer, streams.kernels.native_io, passes pointers as integers). None where it cannot
    be loaded."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        size_t, c_int = ctypes.c_size_t, ctypes.c_int
        libc.malloc_trim.argtypes = [size_t]
        libc.open.argtypes, libc.open.restype = [size_t, c_int, c_int], c_int
        libc.write.argtypes, libc.write.restype = [c_int, size_t, size_t], ctypes.c_ssize_t
        libc.close.argtypes, libc.close.restype = [c_int], c_int
        return libc
    except (OSError, AttributeError):
        return None


#: The C library (see _load_libc), or None.
LIBC = _load_libc()


def trim() -> None:
    """Give freed heap memory back to the OS (cheap: a few ms)."""
    if LIBC is not None:
        LIBC.malloc_trim(0)


def freeze() -> None:
    """Exclude the objects alive now (modules, numba's compiler state: a few hundred
    thousand) from Python's cyclic garbage collector, whose full passes would otherwise walk
    them again and again during a long run (~0.2 s on a 1 GB `flows`). Called after big
    imports; objects made later are collected as usual."""
    import gc

    gc.freeze()


def space_collections() -> None:
    """Space the cyclic collector's passes out (GC_THRESHOLDS). For the command line only: a
    library should not change its host program's collector settings."""
    import gc

    gc.set_threshold(*GC_THRESHOLDS)


#: gc.set_threshold for the commands: a young-generation pass every 50,000 container
#: allocations instead of 700, and older passes 20 times rarer than that. The analysis makes
#: millions of records that live to the end; with the default thresholds the collector walked
#: them so often that it took a fifth of `analyze` (100 MB capture: 14.0 s -> 11.7 s, same
#: peak memory). Cycles are still collected, only later.
GC_THRESHOLDS = (50_000, 20, 20)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a step makes hundreds of thousands of small
    objects that hold no reference cycles (the streams index entries): each of its full passes
    walks every entry made so far, which made the export grow faster than the capture
    (a 3 GB capture took 4.4x the 1 GB one's time). Reference counting still frees memory."""
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
