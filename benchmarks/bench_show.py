#!/usr/bin/env python3
"""``honeysift show -V`` beside ``tshark -r F -V`` in one run (both to /dev/null).

    editcap -r /tmp/edge_100m.pcap /tmp/slice100k.pcap 1-100000
    python benchmarks/bench_show.py /tmp/slice100k.pcap --runs 3

Prints both times and the ratio (the show issue asks for tshark >= 10x slower; on the 100k
slice we reach about 2x, see benchmarks/results/show_100k.md). Also times the summary-line
mode (``show`` without ``-V``) and ``-T fields``.
The CLI is not required: the command calls :func:`honeysift.dissect.show_command` directly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import have, machine, run  # noqa: E402

SHOW = (
    f"{sys.executable} -c 'import sys; from honeysift.dissect import show_command; "
    'sys.exit(show_command(sys.argv[1], (), None, {V}, mode="{M}", fields={E}))\' {F}'
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    f = a.capture
    print(f"machine: {machine()}")
    jobs = [
        ("honeysift show -V", SHOW.format(V=True, M="text", E=[], F=f)),
        ("honeysift show", SHOW.format(V=False, M="text", E=[], F=f)),
        ("honeysift show -T fields -e frame.number -e ip.src",
         SHOW.format(V=False, M="fields", E='["frame.number","ip.src"]', F=f)),
    ]  # fmt: skip
    if have("tshark"):
        jobs.append(("tshark -V", f"tshark -r {f} -V"))
    res = {}
    for label, cmd in jobs:
        t = run(label, cmd, runs=a.runs)
        res[label] = t
        print(f"{label:55s} wall {t.wall:7.2f} s  cpu {t.cpu:7.2f} s  rss {t.rss_mb:7.0f} MiB"
              f"{'' if t.ok else '  FAILED'}")  # fmt: skip
    if "tshark -V" in res:
        r = res["tshark -V"].wall / res["honeysift show -V"].wall
        print(f"ratio tshark -V / honeysift show -V: {r:.2f}x (target >= 10x)")


if __name__ == "__main__":
    main()
