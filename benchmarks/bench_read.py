#!/usr/bin/env python3
"""Reading + decoding every packet into the packet table, beside the peers, in one run.

    python benchmarks/bench_read.py /tmp/edge_1g.pcap            # make it with
    python ../shared/bench/make_capture.py --out /tmp/edge_1g.pcap  # (5 M packets, 1 GB)

Prints wall/CPU/peak memory for honeysift, ``tcpdump -nn -r F``, ``tshark -r F -T fields -e
frame.number`` and the pure-Python record-walk floor (../shared/bench/bench_floor.py walk), and
the ratios the foundation issue asks for. ``--runs N`` (default 3, medians), ``--skip tshark``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import capture_facts, have, run_all  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FLOOR = REPO.parent / "shared" / "bench" / "bench_floor.py"

OURS = f"{sys.executable} {Path(__file__).resolve().parent / 'read_all.py'} {{F}}"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("capture")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip", action="append", default=[], help="tcpdump, tshark or floor")
    a = ap.parse_args()
    f = a.capture
    packets, size = capture_facts(f)
    jobs = [("honeysift read+decode", OURS.replace("{F}", f))]
    if "floor" not in a.skip and FLOOR.exists():
        jobs.append(("floor: python record walk", f"{sys.executable} {FLOOR} walk {f}"))
    if "tcpdump" not in a.skip and have("tcpdump"):
        jobs.append(("tcpdump -nn -r", f"tcpdump -nn -r {f} > /dev/null"))
    if "tshark" not in a.skip and have("tshark"):
        jobs.append(("tshark -T fields", f"tshark -r {f} -T fields -e frame.number > /dev/null"))
    rows = run_all(jobs, a.runs, f, packets, size)
    ours = rows[0]
    print(f"honeysift peak memory: {ours.rss_mb:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
