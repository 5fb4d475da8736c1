"""Signature alerts benchmark: 5,000 generated content rules over a capture, timed beside a
plain ``honeysift flows`` run on the same capture (the issue asks for at most 3x).

    python benchmarks/bench_alerts.py /tmp/edge_1g.pcap [--rules 5000] [--runs 1]

Rules: seeded random 5-12 byte patterns (a tenth nocase, a tenth with depth, a twentieth
HTTP-URI rules, headers spread over tcp/udp and common ports) plus 50 patterns that do occur
in HTTP/IRC/SMB traffic, so the matcher does real work after the prefilter.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import machine, run  # noqa: E402

COMMON = [b"GET ", b"HTTP/1.1", b"Host: ", b"PRIVMSG ", b"JOIN ", b"\xffSMB", b"\xfeSMB",
          b"User-Agent", b"Content-Length", b"PING :"]  # fmt: skip


def make_rules(n: int, seed: int = 5000) -> str:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        proto = rng.choice(["tcp", "tcp", "tcp", "udp"])
        port = rng.choice(["any", "80", "445", "139", "6667", "$HTTP_PORTS", "[1024:]", "53"])
        if i < 50:
            pat = COMMON[i % len(COMMON)] + bytes([65 + i % 26])
        else:
            pat = bytes(rng.randrange(256) for _ in range(rng.randrange(5, 13)))
        hexpat = "|" + pat.hex(" ") + "|"
        opts = f'content:"{hexpat}";'
        if i % 10 == 1:
            opts += " nocase;"
        if i % 10 == 2:
            opts += " depth:64;"
        if i % 20 == 3 and proto == "tcp":
            opts = f'content:"{hexpat}"; http_uri;'
            port = "$HTTP_PORTS"
        out.append(
            f'alert {proto} any any -> any {port} (msg:"bench {i}"; {opts} sid:{1000000 + i};)'
        )
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("--rules", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        rules = Path(d) / "bench.rules"
        rules.write_text(make_rules(a.rules))
        code = (
            "import sys, honeysift; from honeysift.detect.alerts import run_alerts; "
            f"cap = honeysift.open({a.capture!r}); "
            f"rep = run_alerts(cap, [{str(rules)!r}], builtin=False, variables={{'HOME_NET': 'any'}}); "
            "print(len(rep.alerts), rep.rules_loaded, file=sys.stderr)"
        )
        flows = run("honeysift flows", f"honeysift flows {a.capture} > /dev/null", a.runs)
        # the streamed CSV writer is faster than the default aligned table: show both ratios
        csv = run(
            "honeysift flows --format csv",
            f"honeysift flows {a.capture} --format csv -o /dev/null",
            a.runs,
        )
        alerts = run(f"alerts, {a.rules} rules", f'{sys.executable} -c "{code}"', a.runs)
        builtin = run(
            "alerts, built-in rules",
            f'{sys.executable} -c "import honeysift; from honeysift.detect.alerts import run_alerts; '
            f"run_alerts(honeysift.open({a.capture!r}), variables={{'HOME_NET': 'any'}})\"",
            a.runs,
        )
    print(f"# {machine()}; capture {a.capture}")
    for t in (flows, csv, alerts, builtin):
        print(f"{t.label:28s} {t.wall:8.2f} s wall {t.cpu:8.2f} s cpu {t.rss_mb:8.0f} MiB"
              f"  {t.wall / flows.wall:5.2f}x flows  {t.wall / csv.wall:5.2f}x flows csv"
              f"{'' if t.ok else '  (FAILED)'}")  # fmt: skip


if __name__ == "__main__":
    main()
