#!/usr/bin/env bash
# Regenerates tests/data/capinfos.tsv: capinfos' view of every corpus trace, the reference for
# `honeysift info` (tests/capture/test_info_vs_capinfos.py). Run from the repo root.
# Recorded with capinfos from Wireshark 4.0.17 (Debian 12 package 4.0.17-0+deb12u3).
set -euo pipefail
CORPUS=${HONEYSIFT_CORPUS:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/corpus/zeek}
{
    echo "# capinfos -T -M -S -r -t -E -c -d -a -e traces/<file>   (one row per file)"
    printf 'file\tfile_type\tencapsulation\tpackets\tdata_size\tfirst\tlast\n'
    for f in "$CORPUS"/traces/*; do
        (cd "$CORPUS/traces" && capinfos -T -M -S -r -t -E -c -d -a -e "$(basename "$f")" 2>/dev/null)
    done
} > "$(dirname "$0")/capinfos.tsv"
