"""Flow renderers: an ``ra -A -n``-like aligned table, CSV, JSON lines, Zeek conn.log TSV and
Parquet. Each writes to a file object (text, or binary for Parquet) and holds no analysis.

All text is built column-wise with pyarrow compute kernels (flows/text.py) in slices of
``SLICE`` rows and written as one buffer per slice: no Python work per flow.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from honeysift.flows import COLUMNS, LABELS, PROTO_LABELS, FlowResult, empty_result, kernels
from honeysift.flows import text as tx
from honeysift.safe_text import safe

#: Rows rendered per slice: bounds the transient text (a slice of CSV is ~60 MB).
SLICE = 1 << 17
#: Threads rendering slices at once (CSV and Zeek TSV).
WORKERS = 2

TABLE_COLUMNS = [
    ("StartTime", "start"),
    ("Proto", "proto"),
    ("SrcAddr", "orig_h"),
    ("Sport", "orig_p"),
    ("Dir", "direction"),
    ("DstAddr", "resp_h"),
    ("Dport", "resp_p"),
    ("SrcPkts", "orig_pkts"),
    ("DstPkts", "resp_pkts"),
    ("SrcBytes", "orig_ip_bytes"),
    ("DstBytes", "resp_ip_bytes"),
    ("State", "status"),
    ("Service", "service"),
    ("Uid", "uid"),
]


def _slices(n: int, size: int = SLICE):
    for lo in range(0, n, size):
        yield slice(lo, min(n, lo + size))


def text_column(flows: FlowResult, k: str, sl: slice) -> pa.Array:
    """Column *k* of rows *sl* as the CSV writes it (seconds with six decimals, names)."""
    c, codes = flows.numeric, flows.codes
    if k in ("start", "end"):
        return tx.seconds(c[k + "_ns"][sl])
    if k == "duration":
        return tx.seconds(c["end_ns"][sl] - c["start_ns"][sl])
    if k == "zeek_duration":
        return tx.seconds(c["zeek_duration_ns"][sl])
    if k == "proto":
        return tx.labels(c["proto"][sl], PROTO_LABELS)
    if k in ("orig_h", "resp_h"):
        return tx.address_strings(c[k[:4] + "_hi"][sl], c[k[:4] + "_lo"][sl])
    if k == "uid":
        return pa.array(codes["uid"][sl]).cast(pa.string())
    if k == "history":
        return codes["history"].slice(sl.start, sl.stop - sl.start)
    if k in LABELS:
        return tx.labels(codes[k][sl], LABELS[k])
    if k == "zeek_swap":
        return tx.labels(c[k][sl].astype(np.uint8), _BOOL_PY)
    return tx.ints(c[k][sl])


_BOOL_PY = np.array(["False", "True"], dtype=object)
_BOOL_JSON = np.array(["false", "true"], dtype=object)


def write_table(flows: FlowResult, out: IO[str]) -> None:
    """Aligned columns with a header line, like ``ra -A -c -n`` (bytes are IP bytes)."""
    safe_services = np.array([safe(s) for s in LABELS["service"]], dtype=object)

    def cols(sl: slice) -> list[pa.Array]:
        got = []
        for _, k in TABLE_COLUMNS:
            if k == "start":
                got.append(tx.iso(flows.numeric["start_ns"][sl]))
            elif k == "service":
                got.append(tx.labels(flows.codes["service"][sl], safe_services))
            else:
                got.append(text_column(flows, k, sl))
        return got

    widths = [len(h) for h, _ in TABLE_COLUMNS]
    for sl in _slices(len(flows)):
        for j, a in enumerate(cols(sl)):
            m = pc.max(pc.utf8_length(a)).as_py()
            widths[j] = max(widths[j], m or 0)
    right = [k.endswith(("_p", "_pkts", "_bytes")) for _, k in TABLE_COLUMNS]

    def pad(a: pa.Array, j: int) -> pa.Array:
        return (pc.utf8_lpad if right[j] else pc.utf8_rpad)(a, width=widths[j], padding=" ")

    header = pa.array([h for h, _ in TABLE_COLUMNS], pa.string())
    hdr = [pad(header.slice(j, 1), j) for j in range(len(TABLE_COLUMNS))]
    lines = pc.utf8_rtrim_whitespace(pc.binary_join_element_wise(*hdr, "  "))
    tx.write_text(out, tx.text_bytes(tx.join_lines([lines], "")))
    for sl in _slices(len(flows)):
        a = [pad(x, j) for j, x in enumerate(cols(sl))]
        lines = pc.utf8_rtrim_whitespace(pc.binary_join_element_wise(*a, "  "))
        tx.write_text(out, tx.text_bytes(tx.join_lines([lines], "")))


def csv_column(flows: FlowResult, k: str, sl: slice) -> pa.Array:
    """Column *k* of rows *sl* in the Arrow type pyarrow's CSV writer prints as we want:
    decimals for seconds, dictionaries for names, numbers as numbers."""
    c, codes = flows.numeric, flows.codes
    if k in ("start", "end"):
        return tx.decimal_seconds(c[k + "_ns"][sl])
    if k == "duration":
        return tx.decimal_seconds(c["end_ns"][sl] - c["start_ns"][sl])
    if k == "zeek_duration":
        return tx.decimal_seconds(c["zeek_duration_ns"][sl])
    if k == "proto":
        return tx.codes_dict(c["proto"][sl], PROTO_LABELS)
    if k in ("orig_h", "resp_h"):
        return tx.address_dict(c[k[:4] + "_hi"][sl], c[k[:4] + "_lo"][sl])
    if k == "uid":
        return tx.fixed_bytes(codes["uid"][sl])
    if k == "history":
        return codes["history"].slice(sl.start, sl.stop - sl.start)
    if k in LABELS:
        return tx.codes_dict(codes[k][sl], LABELS[k])
    if k == "zeek_swap":
        return tx.codes_dict(c[k][sl].astype(np.uint8), _BOOL_PY)
    return pa.array(c[k][sl])


def _delimited(table: pa.Table, sep: str) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    pcsv.write_csv(
        table,
        sink,
        pcsv.WriteOptions(
            include_header=False, delimiter=sep, quoting_style="none", batch_size=1 << 14
        ),
    )
    return sink.getvalue()


def _write_delimited(out: IO[str], table: pa.Table, sep: str) -> None:
    tx.write_text(out, memoryview(_delimited(table, sep)))


def _write_slices(
    out: IO[str], render: Callable[[slice], pa.Buffer | np.ndarray], n: int, size: int = SLICE
) -> None:
    """Render slices in two threads (pyarrow, numpy and the compiled printer release the GIL),
    write them in order; at most WORKERS + 1 rendered slices are held at once."""
    with ThreadPoolExecutor(WORKERS) as pool:
        pending: deque = deque()
        for sl in _slices(n, size):
            pending.append(pool.submit(render, sl))
            if len(pending) > WORKERS:
                tx.write_text(out, memoryview(pending.popleft().result()))
        while pending:
            tx.write_text(out, memoryview(pending.popleft().result()))


def write_csv(flows: FlowResult, out: IO[str]) -> None:
    """All COLUMNS, one header row; timestamps as epoch seconds with microseconds. No value
    needs CSV quoting (names, numbers, addresses, history letters). With numba, rows are
    printed by a compiled loop (kernels.csv_rows, same text); else by pyarrow's CSV writer."""
    out.write(",".join(COLUMNS) + "\n")
    _csv_body(flows, out)


def _csv_body(flows: FlowResult, out: IO[str]) -> None:
    if COMPILED_CSV and kernels.worth(len(flows)):
        _write_slices(out, lambda sl: _csv_compiled(flows, sl), len(flows), CSV_SLICE)
        return

    def render(sl: slice) -> pa.Buffer:
        return _delimited(pa.table({k: csv_column(flows, k, sl) for k in COLUMNS}), ",")

    _write_slices(out, render, len(flows))


#: Use the compiled CSV printer when numba is installed (tests compare both).
COMPILED_CSV = True
#: Rows per slice of the compiled printer (its buffer is sized for the widest values).
CSV_SLICE = 1 << 15
_WIDTH = {kernels.K_INT: 20, kernels.K_DEC6: 28, kernels.K_ADDR: 45, kernels.K_FIXED: 0}


def _csv_compiled(flows: FlowResult, sl: slice) -> np.ndarray:
    """CSV text of rows *sl* (uint8 array) from kernels.csv_rows: the column kinds, one int64
    matrix of the numbers, a table of the names (labels, IPv6 addresses), the history."""
    c, codes = flows.numeric, flows.codes
    n = sl.stop - sl.start
    names: list[bytes] = []
    kinds, slots, nums = [], [], []

    def label_base(table) -> int:
        names.extend(str(x).encode() for x in table)
        return len(names) - len(table)

    def number(kind: int, v: np.ndarray) -> None:
        kinds.append(kind)
        slots.append(len(nums))
        nums.append(v)

    fixed = np.zeros((n, 0), np.uint8)
    hist = None
    for k in COLUMNS:
        if k in ("start", "end", "zeek_duration"):
            number(kernels.K_DEC6, (c[k + "_ns"][sl].astype(np.int64) + 500) // 1000)
        elif k == "duration":
            number(kernels.K_DEC6, (c["end_ns"][sl] - c["start_ns"][sl] + 500) // 1000)
        elif k == "proto":
            number(kernels.K_LABEL, c["proto"][sl].astype(np.int64) + label_base(PROTO_LABELS))
        elif k in ("orig_h", "resp_h"):  # two slots: the address halves' bit patterns
            number(kernels.K_ADDR, c[k[:4] + "_hi"][sl].view(np.int64))
            nums.append(c[k[:4] + "_lo"][sl].view(np.int64))
        elif k == "uid":
            u = np.ascontiguousarray(codes["uid"][sl])
            fixed = u.view(np.uint8).reshape(n, u.dtype.itemsize)
            kinds.append(kernels.K_FIXED)
            slots.append(-1)
        elif k == "history":
            hist = codes["history"].slice(sl.start, n)
            kinds.append(kernels.K_HIST)
            slots.append(-1)
        elif k in LABELS:
            number(kernels.K_LABEL, codes[k][sl].astype(np.int64) + label_base(LABELS[k]))
        elif k == "zeek_swap":
            number(kernels.K_LABEL, c[k][sl].astype(np.int64) + label_base(_BOOL_PY))
        else:
            number(kernels.K_INT, c[k][sl].astype(np.int64))
    num = np.empty((n, len(nums)), np.int64)
    for j, v in enumerate(nums):
        num[:, j] = v
    lab_off = np.zeros(len(names) + 1, np.int64)
    np.cumsum([len(x) for x in names], out=lab_off[1:])
    lab_data = np.frombuffer(b"".join(names) or b"\0", np.uint8)
    h_off, h_data = _string_buffers(hist, n)
    widest = max((len(x) for x in names), default=0)
    per_row = sum(_WIDTH.get(kd, widest) for kd in kinds) + fixed.shape[1] + len(kinds) + 1
    out = np.empty(n * per_row + int(h_off[-1] - h_off[0]) + 1, np.uint8)
    kinds_a, slots_a = np.array(kinds, np.int8), np.array(slots, np.int64)
    end = kernels.csv_rows(
        out, kinds_a, slots_a, num, lab_off, lab_data, h_off, h_data, fixed, ord(",")
    )
    return out[:end]


def _string_buffers(arr, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(int64 offsets, uint8 data) of an Arrow string array of *n* values (zero copy data)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    bufs = arr.buffers()
    offs = np.frombuffer(bufs[1], width, count=n + 1, offset=arr.offset * width().itemsize)
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None and bufs[2].size else None
    return offs.astype(np.int64), (data if data is not None else np.zeros(1, np.uint8))


_JSON_STR = {
    "uid",
    "proto",
    "orig_h",
    "resp_h",
    "direction",
    "conn_state",
    "history",
    "status",
    "service",
    "orig_method",
}


def write_jsonl(flows: FlowResult, out: IO[str]) -> None:
    """One JSON object per flow (epoch seconds as numbers with six decimals, as DESIGN.md asks
    for JSON). Every string value is a name, address or letters: none needs escaping."""
    for sl in _slices(len(flows)):
        parts: list = []
        lead = "{"
        for k in COLUMNS:
            q = '"' if k in _JSON_STR else ""
            parts.append(f'{lead}"{k}":{q}')
            if k == "zeek_swap":
                parts.append(tx.labels(flows.numeric[k][sl].astype(np.uint8), _BOOL_JSON))
            else:
                parts.append(text_column(flows, k, sl))
            lead = q + ","
        parts.append(lead[:-1] + "}\n")
        tx.write_text(out, tx.text_bytes(pc.binary_join_element_wise(*parts, "")))


ZEEK_FIELDS = [
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("proto", "enum"),
    ("service", "string"),
    ("duration", "interval"),
    ("orig_bytes", "count"),
    ("resp_bytes", "count"),
    ("conn_state", "string"),
    ("local_orig", "bool"),
    ("local_resp", "bool"),
    ("missed_bytes", "count"),
    ("history", "string"),
    ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"),
    ("resp_pkts", "count"),
    ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"),
]


def _zeek_escape(s: str) -> str:
    """Zeek ASCII writer escaping: separator and non-printables as \\xNN."""
    return "".join(c if 0x20 < ord(c) < 0x7F and c not in "\\," else f"\\x{ord(c):02x}" for c in s)


_ZEEK_PROTO = np.array(
    [p if p in ("tcp", "udp", "icmp") else "unknown_transport" for p in PROTO_LABELS], dtype=object
)


def write_zeek(flows: FlowResult, out: IO[str], open_time: float | None = None) -> None:
    """Zeek conn.log (ASCII writer format, readable by zeek-cut). Duration, orig_bytes and
    resp_bytes are unset when the duration is 0, as Zeek logs them."""
    stamp = _zeek_header(out, open_time)
    _zeek_body(flows, out)
    out.write(f"#close\t{stamp}\n")


def _zeek_header(out: IO[str], open_time: float | None = None) -> str:
    stamp = time.strftime(
        "%Y-%m-%d-%H-%M-%S", time.gmtime(open_time if open_time is not None else time.time())
    )
    out.write("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n")
    out.write(f"#path\tconn\n#open\t{stamp}\n")
    out.write("#fields\t" + "\t".join(f for f, _ in ZEEK_FIELDS) + "\n")
    out.write("#types\t" + "\t".join(t for _, t in ZEEK_FIELDS) + "\n")
    return stamp


def _zeek_body(flows: FlowResult, out: IO[str]) -> None:
    svc = np.array([_zeek_escape(s) or "-" for s in LABELS["service"]], dtype=object)
    c = flows.numeric
    for sl in _slices(len(flows)):
        has = pa.array(c["zeek_duration_ns"][sl] > 0)

        def unset_unless(a: pa.Array, has: pa.Array = has) -> pa.Array:
            return pc.if_else(has, pc.cast(a, pa.string()), "-")

        hist = csv_column(flows, "history", sl)
        cols = [
            csv_column(flows, "start", sl),
            csv_column(flows, "uid", sl),
            csv_column(flows, "orig_h", sl),
            csv_column(flows, "orig_p", sl),
            csv_column(flows, "resp_h", sl),
            csv_column(flows, "resp_p", sl),
            tx.codes_dict(c["proto"][sl], _ZEEK_PROTO),
            tx.codes_dict(flows.codes["service"][sl], svc),
            unset_unless(csv_column(flows, "zeek_duration", sl)),
            unset_unless(csv_column(flows, "orig_bytes", sl)),
            unset_unless(csv_column(flows, "resp_bytes", sl)),
            csv_column(flows, "conn_state", sl),
            None,
            None,
            csv_column(flows, "missed_bytes", sl),
            pc.if_else(pc.equal(pc.utf8_length(hist), 0), "-", hist),
            csv_column(flows, "orig_pkts", sl),
            csv_column(flows, "orig_ip_bytes", sl),
            csv_column(flows, "resp_pkts", sl),
            csv_column(flows, "resp_ip_bytes", sl),
            None,
        ]
        n = sl.stop - sl.start
        dash = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.uint8)), pa.array(["-"]))
        t = pa.table(
            {f: dash if a is None else a for (f, _), a in zip(ZEEK_FIELDS, cols, strict=True)}
        )
        _write_delimited(out, t, "\t")


def write_parquet(flows: FlowResult, out: IO[bytes]) -> None:
    """Parquet via pyarrow (columns and types of :meth:`FlowResult.to_arrow`)."""
    import pyarrow.parquet as pq

    pq.write_table(flows.to_arrow(), out)


WRITERS = {
    "table": write_table,
    "csv": write_csv,
    "json": write_jsonl,
    "zeek": write_zeek,
    "parquet": write_parquet,
}


def write_stream(batches: Iterable[FlowResult], fmt: str, out: IO) -> int:
    """Write flow batches (flows.iter_flows) as they come, in one file of format *fmt* (csv,
    json, zeek, parquet; the aligned table needs every row for its widths: use :func:`write`).
    Returns the number of flows written."""
    n = 0
    if fmt == "parquet":
        import pyarrow.parquet as pq

        writer = None

        def put(b: FlowResult) -> None:
            nonlocal writer
            t = b.to_arrow()
            writer = writer or pq.ParquetWriter(out, t.schema)
            writer.write_table(t)

        n = _overlapped(batches, put)
        if writer is None:
            pq.write_table(empty_result().to_arrow(), out)
        else:
            writer.close()
        return n
    if fmt not in ("csv", "json", "zeek"):
        raise ValueError(f"format {fmt!r} cannot be streamed; choose csv, json, zeek or parquet")
    stamp = _zeek_header(out) if fmt == "zeek" else None
    if fmt == "csv":
        out.write(",".join(COLUMNS) + "\n")
    body = {"csv": _csv_body, "json": write_jsonl, "zeek": _zeek_body}[fmt]
    n = _overlapped(batches, lambda b: body(b, out))
    if stamp is not None:
        out.write(f"#close\t{stamp}\n")
    return n


def _overlapped(batches: Iterable[FlowResult], put: Callable[[FlowResult], None]) -> int:
    """put(batch) for each batch in a writer thread while the next batch is being built (the
    printers release the GIL); one batch waits at most. Returns the number of flows."""
    n = 0
    with ThreadPoolExecutor(1, thread_name_prefix="honeysift-write") as pool:
        last = None
        for b in batches:
            if last is not None:
                last.result()  # in order, and re-raises a write error here
            last = pool.submit(put, b)
            n += len(b)
        if last is not None:
            last.result()
    return n


def write(flows: FlowResult, fmt: str, out: IO) -> None:
    """Dispatch by format name (table, csv, json, zeek, parquet; parquet needs a binary file)."""
    try:
        WRITERS[fmt](flows, out)
    except KeyError:
        raise ValueError(f"unknown flow format {fmt!r}; choose from {', '.join(WRITERS)}") from None
