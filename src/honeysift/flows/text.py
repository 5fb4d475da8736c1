"""Flow columns as text, vectorized: whole columns become Arrow string arrays through pyarrow
compute kernels (C++), so rendering 2 M flows costs no Python call per flow.

Why here and not in render.py: the table, CSV, Zeek and JSON writers all need the same
conversions (addresses, fixed-point seconds, labels), and FlowResult.to_arrow() needs addresses.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from honeysift.capture.table import ipv4_rows

_OCTETS = pa.array([str(i) for i in range(256)], pa.string())
#: "000".."255": tcpflow's zero-padded octets
OCTETS_PADDED = pa.array([f"{i:03d}" for i in range(256)], pa.string())


def address_strings(hi: np.ndarray, lo: np.ndarray) -> pa.Array:
    """Addresses stored as (hi, lo) halves (capture.table) as text: IPv4-mapped values as
    dotted quads (built from four octet lookups), others through ``ipaddress`` once per
    distinct address."""
    n = len(hi)
    v4 = ipv4_rows(hi, lo)
    if v4.all():
        return dotted(lo)
    i4, i6 = np.flatnonzero(v4), np.flatnonzero(~v4)
    s4 = dotted(lo[i4])
    pairs = np.stack([hi[i6], lo[i6]], axis=1)
    uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
    names = [str(ipaddress.IPv6Address((int(h) << 64) | int(lw))) for h, lw in uniq.tolist()]
    s6 = pa.array(names, pa.string()).take(pa.array(inv.reshape(-1)))
    pos = np.empty(n, np.int64)
    pos[i4] = np.arange(len(i4))
    pos[i6] = len(i4) + np.arange(len(i6))
    return pa.concat_arrays([s4, s6]).take(pa.array(pos))


def dotted(lo: np.ndarray, octets: pa.Array = _OCTETS) -> pa.Array:
    """IPv4 addresses (the low 32 bits of *lo*) as dotted quads of *octets* texts."""
    v = lo.astype(np.uint32)  # the low 32 bits hold the IPv4 address
    parts = [octets.take(pa.array((v >> np.uint32(s)) & np.uint32(255))) for s in (24, 16, 8, 0)]
    return pc.binary_join_element_wise(*parts, ".")


def address_dict(hi: np.ndarray, lo: np.ndarray) -> pa.Array:
    """As :func:`address_strings`, dictionary-encoded (each distinct address formatted once)."""
    if len(hi) and not hi.any():
        uniq, inv = np.unique(lo, return_inverse=True)
        names = address_strings(np.zeros(len(uniq), np.uint64), uniq)
        return pa.DictionaryArray.from_arrays(pa.array(inv.reshape(-1).astype(np.int32)), names)
    return address_strings(hi, lo)


def decimal_seconds(ns: np.ndarray) -> pa.Array:
    """Nanoseconds as an Arrow decimal with six places (microseconds, rounded): the CSV writer
    prints it like ``%.6f`` without a string per value (non-negative values)."""
    us = (ns.astype(np.int64) + 500) // 1000
    words = np.zeros((len(us), 2), np.int64)
    words[:, 0] = us  # little-endian 128-bit integer, high word 0 for non-negative values
    return pa.Array.from_buffers(pa.decimal128(18, 6), len(us), [None, pa.py_buffer(words)])


def codes_dict(codes: np.ndarray, names: np.ndarray) -> pa.Array:
    """Codes into *names* as an Arrow dictionary array (no per-value string)."""
    return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(list(names), pa.string()))


def fixed_bytes(v: np.ndarray) -> pa.Array:
    """A numpy ``S<n>`` array as Arrow fixed-size binary (zero copy)."""
    v = np.ascontiguousarray(v)
    return pa.Array.from_buffers(pa.binary(v.dtype.itemsize), len(v), [None, pa.py_buffer(v)])


def ints(v: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(v), pa.string())


def seconds(ns: np.ndarray) -> pa.Array:
    """Nanoseconds as seconds with six decimals (rounded to the microsecond), like ``%.6f``
    (values are non-negative: timestamps and durations)."""
    us = (ns.astype(np.int64) + 500) // 1000
    whole = ints(us // 1_000_000)
    frac = pc.utf8_lpad(ints(us % 1_000_000), width=6, padding="0")
    return pc.binary_join_element_wise(whole, frac, ".")


def iso(ns: np.ndarray) -> pa.Array:
    """ISO 8601 UTC with microseconds and a Z (rounded to the microsecond)."""
    us = ((ns.astype(np.int64) + 500) // 1000).astype("datetime64[us]")
    return pc.binary_join_element_wise(
        pc.strftime(pa.array(us), format="%Y-%m-%dT%H:%M:%S"), "Z", ""
    )


def labels(codes: np.ndarray, names: np.ndarray) -> pa.Array:
    return pa.array(list(names), pa.string()).take(pa.array(codes))


def join_lines(cols: list[pa.Array], sep: str) -> pa.Array:
    """Element-wise join of the columns with *sep*, each line ending in a newline."""
    return (
        pc.binary_join_element_wise(*cols, "\n", "")
        if len(cols) == 1
        else (pc.binary_join_element_wise(pc.binary_join_element_wise(*cols, sep), "\n", ""))
    )


def text_bytes(arr: pa.Array) -> memoryview:
    """The concatenated characters of a string array (its data buffer), without a copy."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if len(arr) == 0:
        return memoryview(b"")
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offs = np.frombuffer(
        arr.buffers()[1], width, count=len(arr) + 1, offset=arr.offset * width().itemsize
    )
    return memoryview(arr.buffers()[2])[int(offs[0]) : int(offs[-1])]


def write_text(out, data: memoryview) -> None:
    """Write UTF-8 bytes to a text stream (straight to its binary buffer when it has one)."""
    buf = getattr(out, "buffer", None)
    if buf is not None:
        out.flush()
        buf.write(data)
    else:
        out.write(bytes(data).decode("utf-8"))
