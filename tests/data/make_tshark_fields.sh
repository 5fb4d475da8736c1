#!/usr/bin/env bash
# Regenerates tests/data/tshark_fields/<trace>.tsv: tshark's per-packet decode of corpus traces,
# the reference our packet table is compared with (tests/capture/test_decode_vs_tshark.py).
# Run from the repo root with the corpus beside it: bash tests/data/make_tshark_fields.sh
# Recorded with: TShark (Wireshark) 4.0.17 (Debian 12 package 4.0.17-0+deb12u3).
set -euo pipefail
CORPUS=${HONEYSIFT_CORPUS:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/corpus/zeek}
OUT=$(dirname "$0")/tshark_fields
FIELDS=(frame.number frame.len frame.cap_len frame.time_epoch ip.src ip.dst ipv6.src ipv6.dst
        ip.proto ipv6.nxt ip.len ipv6.plen ip.ttl ip.id tcp.srcport tcp.dstport tcp.flags
        tcp.seq_raw tcp.ack_raw tcp.len udp.srcport udp.dstport udp.length icmp.type icmp.code
        icmpv6.type icmpv6.code vlan.id)
args=(); for f in "${FIELDS[@]}"; do args+=(-e "$f"); done
# Tunnel traces (GRE, ERSPAN, Teredo, VXLAN): the packet table's main columns describe the
# innermost packet, so for them every occurrence of each field is recorded (comma-joined), with
# frame.protocols to tell which occurrence belongs to the innermost packet.
for trace in "$CORPUS"/traces/*; do
    name=$(basename "$trace"); name=${name%%.*}
    occ=f; extra=()
    case $name in tunnels__*|erspan) occ=a; extra=(-e frame.protocols);; esac
    {
        echo "# tshark -n -r traces/$(basename "$trace") -T fields -E header=y -E separator=/t -E occurrence=$occ ${args[*]} ${extra[*]}"
        tshark -n -r "$trace" -T fields -E header=y -E separator=/t -E occurrence=$occ "${args[@]}" "${extra[@]}"
    } 2>/dev/null | gzip -9n > "$OUT/$name.tsv.gz"
done
