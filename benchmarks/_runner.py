"""Shared timing helpers for the benchmark scripts: wall time and peak RSS of one child process.

Each command runs as its own child and is reaped with ``os.wait4`` so its own rusage (peak
resident memory, CPU) is known exactly; medians over several runs are reported.
"""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass


@dataclass
class Timing:
    label: str
    command: str
    wall: float  # median seconds
    cpu: float  # median user+sys seconds
    rss_mb: float  # max peak RSS over runs (MiB)
    runs: list[float]
    ok: bool = True


#: GNU time measures the command's own peak RSS: a child forked from this (big) Python process
#: reports at least our size in ru_maxrss, which hid the peers' real peaks below ours.
GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


def run(label: str, command: str, runs: int = 3, stdout=subprocess.DEVNULL) -> Timing:
    walls, cpus, rss = [], [], 0.0
    ok = True
    for _ in range(runs):
        with tempfile.NamedTemporaryFile("r", suffix=".rss") as peak:
            argv = ["bash", "-c", command]
            if GNU_TIME:
                argv = [GNU_TIME, "-f", "%M", "-o", peak.name, *argv]
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            walls.append(time.perf_counter() - t0)
            cpus.append(usage.ru_utime + usage.ru_stime)
            measured = usage.ru_maxrss / 1024
            if GNU_TIME:
                lines = [x for x in peak.read().split() if x.isdigit()]
                measured = int(lines[-1]) / 1024 if lines else measured
            rss = max(rss, measured)
        ok = ok and proc.returncode in (0, 1)
    return Timing(label, command, statistics.median(walls), statistics.median(cpus), rss, walls, ok)


def have(tool: str) -> bool:
    from shutil import which

    return which(shlex.split(tool)[0]) is not None


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {cpu}, {mem:.0f} GiB RAM"


def table(rows: list[Timing], packets: int, size: int) -> str:
    out = [
        "| job | wall s | cpu s | peak RSS MiB | k pkt/s | MB/s | command |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rate = packets / r.wall / 1e3 if r.wall else 0
        mbs = size / r.wall / 1e6 if r.wall else 0
        flag = "" if r.ok else " (failed)"
        out.append(
            f"| {r.label}{flag} | {r.wall:.2f} | {r.cpu:.2f} | {r.rss_mb:.0f} | {rate:,.0f} | {mbs:,.1f} | `{r.command}` |"
        )
    return "\n".join(out)


def capture_facts(path: str) -> tuple[int, int]:
    """(packets, bytes) of a capture, for the rates in the table."""
    from pathlib import Path

    import honeysift

    with honeysift.open(path) as c:
        packets = sum(len(t) for t in c.chunks())
    return packets, Path(path).stat().st_size


def run_all(
    jobs: list[tuple[str, str]], runs: int, capture: str, packets: int, size: int
) -> list[Timing]:
    """Time every (label, command), print the machine, the table and ours (the first job)
    against each peer as a ratio; return the timings."""
    import sys

    rows: list[Timing] = []
    for label, cmd in jobs:
        print(f"running {label} ({runs}x) ...", file=sys.stderr, flush=True)
        rows.append(run(label, cmd, runs))
    print(f"machine: {machine()}")
    print(f"capture: {capture}: {packets:,} packets, {size:,} bytes\n")
    print(table(rows, packets, size))
    ours = rows[0]
    print()
    for r in rows[1:]:
        if r.wall >= ours.wall:
            print(f"honeysift vs {r.label}: {r.wall / ours.wall:.1f}x faster")
        else:
            print(f"honeysift vs {r.label}: {ours.wall / r.wall:.1f}x slower")
    return rows
