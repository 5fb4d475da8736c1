"""Write the small example capture used in the README.

    python tests/scenario/make_example.py examples/sotm27-mini.pcap [--irc-lines N] [--seed S]

Prints what the capture holds (the ground truth a reader can check honeysift against).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # make `scenario` importable

from scenario.sotm27 import build  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("output", type=Path)
    ap.add_argument("--irc-lines", type=int, default=400, help="JOIN/QUIT lines (default 400)")
    ap.add_argument("--seed", type=int, default=27)
    args = ap.parse_args(argv)
    gt = build(args.output, irc_lines=args.irc_lines, seed=args.seed)
    irc = gt.irc
    print(f"{gt.path}: {gt.packets} packets, {gt.size} bytes, md5 {gt.md5}")
    print(
        f"honeypot {gt.honeypot} ({gt.netbios_name}, {gt.workgroup}), {len(gt.remote_hosts)} remote hosts, {len(gt.flows)} TCP connections"
    )
    print(
        f"IRC {irc.server_name} ({irc.server_ip}) {irc.channel}: {irc.join_lines} JOIN, "
        f"{irc.quit_lines} QUIT lines; distinct hosts JOIN {irc.join_hosts}, QUIT {irc.quit_hosts}, "
        f"union {irc.union_hosts} -> {irc.bandwidth_kbps} kbps at 56 kbps; NAMES {irc.names_count}"
    )
    for f in gt.files:
        print(f"file {f.name} from {f.client}: {len(f.content)} bytes, md5 {f.md5}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
