#!/usr/bin/env python3
"""Time the IRC census (parse + sessions + botnet census) on a 1 MB botnet channel stream.

    python benchmarks/bench_irc_census.py [--lines 10000] [--runs 5]

Builds, in memory, a server->client stream like the Scan of the Month 27 botnet channel: a
registration burst with LUSERS, a 3,457-nick NAMES reply, then ``--lines`` JOIN/QUIT lines (about
100 bytes each, so 10,000 lines make ~1 MB) cut into 1,400-byte segments, and prints the median
wall time of :func:`honeysift.analysis.irc.analyze_irc` with the census figures it found.
The target is well under a second for 1 MB / 10,000 lines.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np

from honeysift.analysis.irc import IrcConversation, analyze_irc

SV = b":irc5.aol.com"
CHAN = b"#xb0tn3tx"
REASON = b"Read error: 104 (Connection reset by peer)"


def build(lines: int, seed: int = 27) -> IrcConversation:
    rng = random.Random(seed)
    out = [
        b"NOTICE AUTH :*** Looking up your hostname...",
        SV + b" 001 rgdiuggac :Welcome to the Internet Relay Network rgdiuggac",
        SV + b" 251 rgdiuggac :There are 0 users and 4752 invisible on 4 servers",
        SV + b" 266 rgdiuggac :Current global users: 4752  Max: 4765",
        b":rgdiuggac!rgdiuggac@172.16.134.191 JOIN :" + CHAN,
    ]
    nicks = [f"n{i:08d}".encode() for i in range(3457)]
    for i in range(0, len(nicks), 40):
        out.append(SV + b" 353 rgdiuggac @ " + CHAN + b" :" + b" ".join(nicks[i : i + 40]))
    out.append(SV + b" 366 rgdiuggac " + CHAN + b" :End of /NAMES list.")
    for i in range(lines):
        n = f"j{i:08d}".encode()
        host = f"{rng.randrange(1, 255)}-{rng.randrange(256)}-{rng.randrange(256)}-{rng.randrange(256)}"
        host = host.encode() + b".dsl.provider-%d.example.net" % rng.randrange(50)
        if rng.random() < 0.5:
            out.append(b":" + n + b"!" + n + b"@" + host + b" JOIN :" + CHAN)
        else:
            out.append(b":" + n + b"!" + n + b"@" + host + b" QUIT :" + REASON)
    data = b"\r\n".join(out) + b"\r\n"
    offs = np.arange(0, len(data), 1400, dtype=np.int64)
    return IrcConversation(
        uid="CBENCH",
        client="172.16.134.191",
        client_port=1036,
        server="209.196.44.172",
        server_port=6667,
        start_ts=1046822400.0,
        end_ts=1046822400.0 + 86400,
        conn_state="S1",
        to_server=b"NICK rgdiuggac\r\nUSER rgdiuggac 0 0 :rgdiuggac\r\nJOIN #xb0tn3tx k3yz\r\n",
        from_server=data,
        from_server_offsets=offs,
        from_server_frames=np.arange(1, offs.size + 1, dtype=np.uint64),
        from_server_ts=1046822400.0 + np.arange(offs.size, dtype=np.float64),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    conv = build(args.lines)
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        report = analyze_irc([conv])
        times.append(time.perf_counter() - t0)
    b = report.botnets[0]
    print(
        f"stream {len(conv.from_server):,} bytes, {args.lines:,} JOIN/QUIT lines: "
        f"analyze_irc median {statistics.median(times):.3f} s (min {min(times):.3f} s, "
        f"{args.runs} runs)"
    )
    print(
        f"  join_lines {b.join_lines:,}, quit_lines {b.quit_lines:,}, union_hosts "
        f"{b.union_hosts:,}, NAMES {b.names[0].nicks:,}, bandwidth {b.bandwidth_kbps['union_hosts']:,.0f} kbps"
    )


if __name__ == "__main__":
    main()
