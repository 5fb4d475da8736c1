"""Test-only models of tcpflow 1.6.1, used to explain every difference from its output.

``tcpflow_writes`` replays what tcpflow does per direction (checked against its recorded md5s):
the first SYN or data packet sets the ISN (seq - 1 without SYN), every payload is written at its
sequence position (later writes overwrite earlier ones, holes read back as NULs), the payload is
everything after the TCP header that was captured (so Ethernet padding of short frames becomes
data), and the flow ends at an RST or once a FIN's bytes are all seen.

``tcpflow_view`` renders *our* record the same way (gaps as NULs, conflicting later copies and
keep-alive bytes written over ours) so a test can show that a difference is only that.
"""

from __future__ import annotations

from honeysift.streams.tcp import KEEPALIVE, ReassembledStream

from .pcap_helper import Direction


def _put(buf: bytearray, off: int, data: bytes) -> None:
    end = off + len(data)
    if end > len(buf):
        buf.extend(bytes(end - len(buf)))
    buf[off:end] = data


def tcpflow_writes(d: Direction, padding: bool = True) -> bytes:
    buf = bytearray()
    isn = None
    seen: set[int] = set()
    fin_size = None
    for i, seq in enumerate(d.seq):
        fl = d.flags[i]
        data = d.padded[i] if padding else d.payloads[i]
        syn, fin, rst = fl & 0x02, fl & 0x01, fl & 0x04
        if isn is None:
            if not syn and not data:
                continue
            isn = seq if syn else (seq - 1) & 0xFFFFFFFF
        if data:
            off = (seq - isn - 1) & 0xFFFFFFFF
            if off >= 1 << 31:
                continue  # before the start: tcpflow drops it
            _put(buf, off, data)
            seen.update(range(off, off + len(data)))
        if rst:
            break
        if fin and fin_size is None:
            fin_size = ((seq + len(data) - isn) & 0xFFFFFFFF) - 1
        if fin_size is not None and len(seen) == fin_size:
            break
    return bytes(buf)


def tcpflow_view(ours: ReassembledStream, d: Direction) -> bytes:
    data = ours.read()
    buf = bytearray()
    prev = 0
    for at, n in ours.gaps:
        buf += data[prev:at]
        buf += bytes(n)
        prev = at
    buf += data[prev:]
    redo = {o.conflicting_frame for o in ours.conflicts}
    redo |= {f for f, why in ours.ignored if why == KEEPALIVE}
    assert ours.base_seq is not None
    for i, f in enumerate(d.frame):
        if f in redo and d.payloads[i]:
            off = (d.seq[i] - ours.base_seq) & 0xFFFFFFFF
            _put(buf, off, d.payloads[i])
    return bytes(buf)
