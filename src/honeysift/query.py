"""``honeysift query``: SQL (DuckDB) over the derived tables of a capture.

Tables: ``packets`` (one row per frame: the packet-table columns, addresses as text, ``ts`` as
a timestamp) and ``flows`` (the flow table, as ``honeysift flows --format json`` describes it).
Both are handed to DuckDB as Arrow tables, without copying. The packets table is built in
memory: meant for captures that fit (use FILTER words to narrow it).
"""

from __future__ import annotations

import numpy as np

from honeysift.capture.table import COLUMN_DTYPES, PacketTable, halves_to_addr


def addresses(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Text form of (hi, lo) address columns, converting each distinct address once."""
    if not hi.shape[0]:
        return np.zeros(0, dtype=object)
    pairs = np.stack([hi, lo], axis=1)
    uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
    text = np.array(
        [halves_to_addr(h, lo_) if (h or lo_) else None for h, lo_ in uniq.tolist()], dtype=object
    )
    return text[inverse.reshape(-1)]


def packets_arrow(table: PacketTable):
    import pyarrow as pa

    cols = {name: pa.array(getattr(table, name)) for name in COLUMN_DTYPES}
    cols["ts"] = pa.array(table.ts_ns, type=pa.timestamp("ns", tz="UTC"))
    cols["src"] = pa.array(addresses(table.src_hi, table.src_lo), type=pa.string())
    cols["dst"] = pa.array(addresses(table.dst_hi, table.dst_lo), type=pa.string())
    return pa.table(cols)


def run_query(cap, sql: str, flt=None, flows=None):
    """Execute *sql* with ``packets`` and ``flows`` registered; returns a pyarrow.Table."""
    import duckdb

    table = PacketTable.concat([cap.select(t, flt) for t in cap.chunks()])
    con = duckdb.connect()
    con.register("packets", packets_arrow(table))
    if flows is None:
        from honeysift.flows import build_flows

        flows = build_flows((cap.select(t, flt) for t in cap.chunks()), reader=cap.frame_bytes)
    con.register("flows", flows.to_arrow())
    res = con.sql(sql) if hasattr(con, "sql") else con.execute(sql)
    if res is None:  # a statement without a result (CREATE, SET...)
        import pyarrow as pa

        return pa.table({})
    for name in (
        "to_arrow_table",
        "fetch_arrow_table",
        "arrow",
    ):  # the name changed across DuckDB releases
        fn = getattr(res, name, None)
        if fn is not None:
            out = fn()
            return out.read_all() if hasattr(out, "read_all") else out
    raise RuntimeError("this DuckDB cannot return Arrow tables")
