#!/usr/bin/env python3
"""Flow records beside the peers, in one run: honeysift (build flows + write CSV), argus + ra,
tshark's conversation tables and the dpkt flow-dict script.

    python benchmarks/bench_flows.py /tmp/edge_100m.pcap --runs 1
    python benchmarks/bench_flows.py /tmp/edge_1g.pcap --runs 1     # peers take minutes

Prints wall/CPU/peak memory per job and the ratios the flows issue asks for (argus+ra >= 2x,
tshark conv and dpkt >= 10x slower than us). ``--skip argus|tshark|dpkt``; ``--profile`` times
the reading and the flow step of honeysift separately in this process.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import capture_facts, have, run_all  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DPKT = REPO.parent / "shared" / "bench" / "bench_dpkt_flows.py"
# the command users run (the CLI: filters, progress, build_flows, the CSV writer)
OURS = f"{sys.executable} -m honeysift flows {{F}} --format csv -o {{OUT}}"


def profile(f: str) -> None:
    import honeysift
    from honeysift.flows import build_flows

    with honeysift.open(f) as c:
        t0 = time.perf_counter()
        tables = list(c.chunks())
        t1 = time.perf_counter()
        res = build_flows(tables, reader=c.frame_bytes)
        t2 = time.perf_counter()
    print(f"read+decode {t1 - t0:.2f} s, flows {t2 - t1:.2f} s, {len(res):,} flows")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("capture")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--skip", action="append", default=[], help="argus, tshark or dpkt")
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    f = a.capture
    if a.profile:
        profile(f)
    packets, size = capture_facts(f)
    tmp = Path(tempfile.mkdtemp(prefix="bench_flows_"))
    jobs = [("honeysift flows -> csv", OURS.replace("{F}", f).replace("{OUT}", str(tmp / "f.csv")))]
    if "argus" not in a.skip and have("argus") and have("ra"):
        jobs.append(
            (
                "argus -w + ra -n",
                f"argus -r {f} -w {tmp}/x.argus && ra -r {tmp}/x.argus -n > /dev/null; rm -f {tmp}/x.argus",
            )
        )
    if "tshark" not in a.skip and have("tshark"):
        jobs.append(
            (
                "tshark -z conv,tcp -z conv,udp",
                f"tshark -r {f} -q -z conv,tcp -z conv,udp > /dev/null",
            )
        )
    if "dpkt" not in a.skip and DPKT.exists():
        jobs.append(("dpkt flow dict", f"{sys.executable} {DPKT} {f} > /dev/null"))
    rows = run_all(jobs, a.runs, f, packets, size)
    ours = rows[0]
    targets = {"argus": 2.0, "tshark": 10.0, "dpkt": 10.0}
    for r in rows[1:]:
        need = next((v for k, v in targets.items() if k in r.label), None)
        if need:
            verdict = "met" if r.wall / ours.wall >= need else "NOT met"
            print(f"target >= {need:.0f}x vs {r.label}: {verdict}")
    print(f"honeysift peak memory: {ours.rss_mb:.0f} MiB")
    for r in rows[1:]:
        print(f"{r.label} peak memory: {r.rss_mb:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
