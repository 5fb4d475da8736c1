#!/usr/bin/env python3
"""A tcpdump filter over the packet table beside tcpdump's own pass, in one run.

    python benchmarks/bench_filter.py /tmp/edge_100m.pcap --runs 3

Times honeysift's column-wise mask over the packet table (read once, repeated to about five
million rows: the figure a unit test once asserted), and in the same run a child process that
reads the capture and masks it once against `tcpdump -r F FILTER -w /dev/null` (tcpdump's
compiled BPF needs no decoded table: this is the price of filtering in columns).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import have, machine, run  # noqa: E402

FILTER = "tcp and dst port 445 and not host 10.1.2.3 or udp port 1434 or icmp"


def mask_rate(f: str, expr: str, runs: int) -> str:
    import numpy as np

    import honeysift
    from honeysift.capture.table import PacketTable
    from honeysift.filters.bpf import compile_filter

    with honeysift.open(f) as cap:
        table = cap.packets()
    reps = max(1, 5_000_000 // max(len(table), 1))
    big = PacketTable.concat([table] * reps)
    flt = compile_filter(expr)
    flt.mask(table)  # warm up
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        m = flt.mask(big)
        walls.append(time.perf_counter() - t0)
    w = statistics.median(walls)
    return (
        f"mask over {len(big):,} rows: {w:.3f} s ({len(big) / w / 1e6:.1f} M rows/s), "
        f"{int(np.count_nonzero(m)):,} selected"
    )


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("capture")
    ap.add_argument("--filter", default=FILTER)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    print(machine())
    print(mask_rate(a.capture, a.filter, a.runs))
    job = (
        "import honeysift; from honeysift.filters.bpf import compile_filter; "
        f"c = honeysift.open({a.capture!r}); compile_filter({a.filter!r}).mask(c.packets())"
    )
    ours = run("honeysift read + mask", f'{sys.executable} -c "{job}"', a.runs)
    print(f"{ours.label:40s} wall {ours.wall:6.2f} s  rss {ours.rss_mb:6.0f} MiB")
    if have("tcpdump"):
        peer = run(
            "tcpdump -r F FILTER -w /dev/null",
            f"tcpdump -r {a.capture} '{a.filter}' -w /dev/null 2>/dev/null",
            a.runs,
        )
        print(f"{peer.label:40s} wall {peer.wall:6.2f} s  rss {peer.rss_mb:6.0f} MiB")
        print(f"ratio tcpdump / honeysift: {peer.wall / ours.wall:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
