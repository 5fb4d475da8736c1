#!/usr/bin/env python3
"""Full ``honeysift analyze F -o DIR`` beside the write-up's chain on the same file, same run:
``tcpflow -r F`` + ``argus -r F -w x.argus`` + ``ra -r x.argus -n`` + ``tshark -r F -V``,
summed (each step timed on its own).

    python benchmarks/bench_analyze.py /tmp/edge_1g.pcap --runs 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import capture_facts, have, machine, run, table  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("capture")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--dir", default="/dev/shm/honeysift-bench-analyze")
    ap.add_argument("--skip-chain", action="store_true", help="only time honeysift")
    a = ap.parse_args()
    f, d = a.capture, Path(a.dir)
    packets, size = capture_facts(f)
    ours = run(
        "honeysift analyze -o",
        f"rm -rf {d}/ours; {sys.executable} -m honeysift analyze {f} -o {d}/ours > /dev/null",
        a.runs,
    )
    rows = [ours]
    chain = []
    if not a.skip_chain:
        steps = [
            (
                "tcpflow -r",
                f"rm -rf {d}/tf; mkdir -p {d}/tf; tcpflow -r {f} -o {d}/tf 2>/dev/null",
                "tcpflow",
            ),
            (
                "argus -r -w",
                f"rm -f {d}/x.argus; mkdir -p {d}; argus -r {f} -w {d}/x.argus",
                "argus",
            ),
            ("ra -r -n", f"ra -r {d}/x.argus -n > /dev/null", "ra"),
            ("tshark -V", f"tshark -r {f} -V > /dev/null", "tshark"),
        ]
        for label, cmd, tool in steps:
            if have(tool):
                print(f"running {label} ...", file=sys.stderr, flush=True)
                chain.append(run(label, cmd, a.runs))
        rows += chain
    print(f"machine: {machine()}")
    print(f"capture: {f}: {packets:,} packets, {size:,} bytes\n")
    print(table(rows, packets, size))
    if chain:
        total = sum(r.wall for r in chain)
        print(
            f"\nwrite-up chain total: {total:.1f} s; honeysift analyze: {ours.wall:.1f} s -> {total / ours.wall:.1f}x faster; honeysift peak memory {ours.rss_mb:.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
