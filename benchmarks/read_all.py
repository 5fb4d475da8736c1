"""Read and decode every packet of a capture into packet-table chunks; print the count.

The unit of work ``bench_read.py`` times (no hashing, no output): ``python benchmarks/read_all.py F``.
"""

import sys

import honeysift

n = 0
with honeysift.open(sys.argv[1]) as cap:
    for table in cap.chunks():
        n += len(table)
print(n)
