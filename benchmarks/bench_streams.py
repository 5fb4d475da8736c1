#!/usr/bin/env python3
"""``honeysift streams F -o DIR`` beside ``tcpflow -r F -o DIR2``, same run, same filesystem.

    python benchmarks/bench_streams.py /tmp/edge_1g.pcap --runs 3 --dir /dev/shm/bench

Each output directory is emptied (untimed) before every run; the table shows medians.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import capture_facts, have, machine, run, table  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("capture")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--dir",
        default="/dev/shm/honeysift-bench",
        help="where both tools write (tmpfs by default)",
    )
    a = ap.parse_args()
    base = Path(a.dir)
    ours_dir, tf_dir = base / "ours", base / "tcpflow"
    packets, size = capture_facts(a.capture)
    jobs = [
        (
            "honeysift streams",
            f"rm -rf {ours_dir}; {sys.executable} -m honeysift streams {a.capture} -o {ours_dir} > /dev/null",
        )
    ]
    if have("tcpflow"):
        jobs.append(
            (
                "tcpflow -r",
                f"rm -rf {tf_dir}; mkdir -p {tf_dir}; tcpflow -r {a.capture} -o {tf_dir} 2>/dev/null",
            )
        )
    rows = []
    for label, cmd in jobs:
        print(f"running {label} ({a.runs}x) ...", file=sys.stderr, flush=True)
        rows.append(run(label, cmd, a.runs))
    print(f"machine: {machine()}")
    print(f"capture: {a.capture}: {packets:,} packets, {size:,} bytes; output on {base}\n")
    print(table(rows, packets, size))
    print("\n(the wall time includes `rm -rf` of the previous run's files; both tools pay it)")
    if len(rows) > 1:
        print(
            f"honeysift streams is {rows[1].wall / rows[0].wall:.2f}x tcpflow's speed (median of {a.runs}); peak memory {rows[0].rss_mb:.0f} MiB vs {rows[1].rss_mb:.0f} MiB"
        )
    nours = (
        sum(1 for p in ours_dir.iterdir() if not p.name.startswith("index."))
        if ours_dir.exists()
        else 0
    )
    ntf = sum(1 for p in tf_dir.iterdir() if p.name != "report.xml") if tf_dir.exists() else 0
    print(f"files written: honeysift {nours:,}, tcpflow {ntf:,}")
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
