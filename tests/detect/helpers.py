"""Build small captures with scapy and run rules on them."""

from __future__ import annotations

from pathlib import Path

from scapy.all import ICMP, IP, TCP, UDP, Ether, Raw, wrpcap

import honeysift
from honeysift.detect.alerts import AlertReport, run_alerts

HP = "10.0.0.2"  # the honeypot ($HOME_NET)
ATT = "192.0.2.7"  # an outside host


class Trace:
    """Packets in time order; TCP conversations with correct sequence numbers."""

    def __init__(self) -> None:
        self.pkts = []
        self.t = 1_000_000.0

    def _add(self, p) -> int:
        p.time = self.t
        self.t += 0.01
        self.pkts.append(Ether() / p)
        return len(self.pkts)  # frame number

    def udp(self, payload: bytes, sport=1025, dport=53, src=ATT, dst=HP) -> int:
        return self._add(IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(payload))

    def icmp(self, itype=8, code=0, src=ATT, dst=HP, payload=b"x") -> int:
        return self._add(IP(src=src, dst=dst) / ICMP(type=itype, code=code) / Raw(payload))

    def syn(self, sport, dport, src=ATT, dst=HP, flags="S") -> int:
        return self._add(IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags, seq=1))

    def tcp(
        self,
        client: list[bytes],
        server: list[bytes] = (),
        sport=40000,
        dport=80,
        src=ATT,
        dst=HP,
        handshake=True,
    ) -> list[int]:
        """A connection: handshake, then the client's segments, then the server's; returns the
        frame numbers of the client's data segments."""
        cs, ss = 1000, 5000
        if handshake:
            self._add(IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="S", seq=cs - 1))
            self._add(
                IP(src=dst, dst=src) / TCP(sport=dport, dport=sport, flags="SA", seq=ss - 1, ack=cs)
            )
            self._add(
                IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="A", seq=cs, ack=ss)
            )
        frames = []
        for seg in client:
            frames.append(
                self._add(
                    IP(src=src, dst=dst)
                    / TCP(sport=sport, dport=dport, flags="PA", seq=cs, ack=ss)
                    / Raw(seg)
                )
            )
            cs += len(seg)
        for seg in server:
            self._add(
                IP(src=dst, dst=src)
                / TCP(sport=dport, dport=sport, flags="PA", seq=ss, ack=cs)
                / Raw(seg)
            )
            ss += len(seg)
        return frames

    def write(self, path: Path) -> Path:
        wrpcap(str(path), self.pkts)
        return path


def alerts(tmp_path: Path, trace: Trace, rules: str, **kw) -> AlertReport:
    path = trace.write(tmp_path / "t.pcap")
    with honeysift.open(str(path)) as cap:
        return run_alerts(
            cap,
            builtin=False,
            rules_text=rules,
            variables={"HOME_NET": HP, "EXTERNAL_NET": "!$HOME_NET"},
            **kw,
        )


def fired(rep: AlertReport) -> list[tuple[int, int]]:
    """(sid, frame) of every alert, sorted."""
    return sorted((a.sid, a.frame) for a in rep.alerts)


def rule(sid: int, body: str, header: str = "tcp any any -> any any") -> str:
    return f'alert {header} (msg:"r{sid}"; {body} sid:{sid};)\n'
