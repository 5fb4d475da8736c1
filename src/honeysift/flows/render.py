"""Flow renderers: an ``ra -A -n``-like aligned table, CSV, JSON lines, Zeek conn.log TSV and
Parquet. Each writes to a file object (text, or binary for Parquet) and holds no analysis.
"""

from __future__ import annotations

import csv
import json
import math
import time
from typing import IO

from honeysift.flows import COLUMNS, FlowResult
from honeysift.safe_text import safe

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


def _iso(ts: float) -> str:
    whole = math.floor(ts)
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        + f".{int(round((ts - whole) * 1e6)):06d}Z"
    )


def write_table(flows: FlowResult, out: IO[str]) -> None:
    """Aligned columns with a header line, like ``ra -A -c -n`` (bytes are IP bytes)."""
    rows = [[h for h, _ in TABLE_COLUMNS]]
    cols = {k: flows.column(k) for _, k in TABLE_COLUMNS}
    for i in range(len(flows)):
        row = []
        for _, k in TABLE_COLUMNS:
            v = cols[k][i]
            row.append(
                _iso(float(v)) if k == "start" else safe(str(v)) if k == "service" else str(v)
            )
        rows.append(row)
    widths = [max(len(r[j]) for r in rows) for j in range(len(TABLE_COLUMNS))]
    right = {j for j, (_, k) in enumerate(TABLE_COLUMNS) if k.endswith(("_p", "_pkts", "_bytes"))}
    for r in rows:
        out.write(
            "  ".join(
                v.rjust(w) if j in right else v.ljust(w)
                for j, (v, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
            + "\n"
        )


def write_csv(flows: FlowResult, out: IO[str]) -> None:
    """All COLUMNS, one header row; timestamps as epoch seconds with microseconds."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    if len(flows):
        w.writerows(zip(*(_fmt_col(flows, k) for k in COLUMNS), strict=True))


def _fmt_col(flows: FlowResult, k: str) -> list:
    v = flows.column(k)
    if k in ("start", "end"):
        return [f"{x:.6f}" for x in v.tolist()]
    if k in ("duration", "zeek_duration"):
        return [f"{x:.6f}" for x in v.tolist()]
    return v.tolist() if hasattr(v, "tolist") else list(v)


def write_jsonl(flows: FlowResult, out: IO[str]) -> None:
    """One JSON object per flow (epoch seconds as floats, as DESIGN.md asks for JSON)."""
    for row in flows:
        out.write(json.dumps(row, separators=(",", ":")) + "\n")


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


def write_zeek(flows: FlowResult, out: IO[str], open_time: float | None = None) -> None:
    """Zeek conn.log (ASCII writer format, readable by zeek-cut). Duration, orig_bytes and
    resp_bytes are unset when the duration is 0, as Zeek logs them."""
    stamp = time.strftime(
        "%Y-%m-%d-%H-%M-%S", time.gmtime(open_time if open_time is not None else time.time())
    )
    out.write("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n")
    out.write(f"#path\tconn\n#open\t{stamp}\n")
    out.write("#fields\t" + "\t".join(f for f, _ in ZEEK_FIELDS) + "\n")
    out.write("#types\t" + "\t".join(t for _, t in ZEEK_FIELDS) + "\n")
    c = {k: flows.column(k) for k in COLUMNS}
    for i in range(len(flows)):
        dur = float(c["zeek_duration"][i])
        has = dur > 0
        vals = [
            f"{float(c['start'][i]):.6f}",
            c["uid"][i],
            c["orig_h"][i],
            str(c["orig_p"][i]),
            c["resp_h"][i],
            str(c["resp_p"][i]),
            c["proto"][i] if c["proto"][i] in ("tcp", "udp", "icmp") else "unknown_transport",
            _zeek_escape(c["service"][i]) or "-",
            f"{dur:.6f}" if has else "-",
            str(c["orig_bytes"][i]) if has else "-",
            str(c["resp_bytes"][i]) if has else "-",
            c["conn_state"][i],
            "-",
            "-",
            str(c["missed_bytes"][i]),
            c["history"][i] or "-",
            str(c["orig_pkts"][i]),
            str(c["orig_ip_bytes"][i]),
            str(c["resp_pkts"][i]),
            str(c["resp_ip_bytes"][i]),
            "-",
        ]
        out.write("\t".join(vals) + "\n")
    out.write(f"#close\t{stamp}\n")


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


def write(flows: FlowResult, fmt: str, out: IO) -> None:
    """Dispatch by format name (table, csv, json, zeek, parquet; parquet needs a binary file)."""
    try:
        WRITERS[fmt](flows, out)
    except KeyError:
        raise ValueError(f"unknown flow format {fmt!r}; choose from {', '.join(WRITERS)}") from None
