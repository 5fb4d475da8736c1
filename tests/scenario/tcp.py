"""Builders for protocol-correct synthetic captures (used by the scenario and by other tests).

Why: tests need captures whose every byte is known. These helpers emit whole conversations
(TCP handshake with real ISNs, data split at the MSS with correct seq/ack, delayed ACKs, FIN or
RST close, refused and unanswered SYNs, retransmissions, flows whose SYN was never captured),
UDP and ICMP exchanges. scapy builds the Ethernet/IPv4/TCP/UDP headers and computes every length
and checksum; we only choose the field values (RFC 9293 for TCP, RFC 768 for UDP).

Model: a :class:`Capture` collects pending packets with timestamps from any number of
interleaved conversations, each with its own time cursor. :meth:`Capture.write` sorts them by
time (stable), numbers the frames from 1 as tshark does, assigns IPv4 identification values per
sending host in time order, and writes a classic little-endian microsecond pcap (Ethernet).
Every emitting call returns a *handle*; :meth:`Capture.frame` turns it into the frame number once
the file is written, so ground truth can name the frames of key events.

Example::

    cap = Capture(random.Random(1))
    cli = Endpoint("198.18.0.10", "00:00:0c:07:ac:01", ttl=113)
    srv = Endpoint("172.16.134.191", "00:08:74:4f:36:23", local=True)
    c = cap.tcp(cli, 1034, srv, 80, t=1046476800.0, rtt=0.1)
    c.handshake()
    req = c.send(CLIENT, b"GET / HTTP/1.0\r\n\r\n", ack=False)[0]
    c.send(SERVER, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    c.close(SERVER)
    written = cap.write(Path("x.pcap"))
    cap.frame(req)  # -> 4; c.stats.data[CLIENT] holds the client's bytes
"""

from __future__ import annotations

import hashlib
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

MOD32 = 1 << 32
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
LINKTYPE_ETHERNET = 1
PCAP_MAGIC_USEC = 0xA1B2C3D4


@dataclass(slots=True, frozen=True)
class Endpoint:
    """A host as seen on the capture link.

    ``mac`` is the Ethernet source address of frames this host sends *on the captured link*: for a
    remote host that is the gateway's MAC. ``local`` marks the monitored host (replies from it
    appear in the capture after a short processing delay, replies to it after a round trip).
    """

    ip: str
    mac: str
    ttl: int = 128
    local: bool = False


@dataclass(slots=True)
class _Pending:
    t: float
    order: int
    pkt: Packet


@dataclass(slots=True, frozen=True)
class WrittenCapture:
    """What :meth:`Capture.write` produced."""

    path: Path
    packets: int
    size: int
    md5: str
    sha256: str
    first_time: float
    last_time: float


class Capture:
    """Collects packets from interleaved conversations and writes them as one pcap."""

    def __init__(self, rng: random.Random, *, snaplen: int = 1514) -> None:
        self.rng = rng
        self.snaplen = snaplen
        self._pending: list[_Pending] = []
        self._frames: list[int] | None = None
        self._times: list[float] | None = None

    def add(self, t: float, pkt: Packet) -> int:
        """Queue one Ethernet frame at time ``t`` (epoch seconds); return its handle."""
        if self._frames is not None:
            raise RuntimeError("capture already written")
        self._pending.append(_Pending(t, len(self._pending), pkt))
        return len(self._pending) - 1

    def frame(self, handle: int) -> int:
        """1-based frame number of a queued packet (valid after :meth:`write`)."""
        if self._frames is None:
            raise RuntimeError("frame numbers are known only after write()")
        return self._frames[handle]

    def time(self, handle: int) -> float:
        """Timestamp (rounded to the microsecond, as written) of a queued packet."""
        if self._times is None:
            raise RuntimeError("timestamps are final only after write()")
        return self._times[handle]

    def __len__(self) -> int:
        return len(self._pending)

    # -- simple datagrams -------------------------------------------------------------------

    def ether_ip(self, src: Endpoint, dst: Endpoint) -> Packet:
        """Ethernet + IPv4 header from ``src`` to ``dst`` (DF set, as Windows and Linux do)."""
        return Ether(src=src.mac, dst=dst.mac) / IP(src=src.ip, dst=dst.ip, ttl=src.ttl, flags="DF")

    def udp(
        self,
        t: float,
        src: Endpoint,
        sport: int,
        dst: Endpoint,
        dport: int,
        payload: bytes | Packet,
    ) -> int:
        """One UDP datagram (RFC 768); scapy fills length and checksum."""
        body = payload if isinstance(payload, Packet) else Raw(load=payload)
        pkt = self.ether_ip(src, dst) / UDP(sport=sport, dport=dport) / body
        pkt[IP].flags = 0
        return self.add(t, pkt)

    def icmp_echo(
        self,
        t: float,
        src: Endpoint,
        dst: Endpoint,
        *,
        ident: int,
        seq: int,
        payload: bytes,
        reply_after: float | None = 0.05,
    ) -> tuple[int, int | None]:
        """ICMP echo request and (unless ``reply_after`` is None) its echo reply (RFC 792)."""
        req = self.ether_ip(src, dst) / ICMP(type=8, id=ident, seq=seq) / Raw(load=payload)
        req[IP].flags = 0
        h1 = self.add(t, req)
        if reply_after is None:
            return h1, None
        rep = self.ether_ip(dst, src) / ICMP(type=0, id=ident, seq=seq) / Raw(load=payload)
        rep[IP].flags = 0
        return h1, self.add(t + reply_after, rep)

    def tcp(
        self,
        client: Endpoint,
        cport: int,
        server: Endpoint,
        sport: int,
        *,
        t: float,
        rtt: float = 0.08,
        mss: int = 1460,
        client_isn: int | None = None,
        server_isn: int | None = None,
        client_window: int = 17520,
        server_window: int = 17520,
    ) -> TcpConversation:
        """Start a TCP conversation at time ``t`` (nothing is emitted until a method is called)."""
        return TcpConversation(
            self,
            client,
            cport,
            server,
            sport,
            t=t,
            rtt=rtt,
            mss=mss,
            client_isn=self.rng.randrange(MOD32) if client_isn is None else client_isn,
            server_isn=self.rng.randrange(MOD32) if server_isn is None else server_isn,
            client_window=client_window,
            server_window=server_window,
        )

    # -- output ---------------------------------------------------------------------------

    def write(self, path: Path) -> WrittenCapture:
        """Sort by time, number frames, set IP ids, write a classic LE usec pcap (Ethernet)."""
        order = sorted(self._pending, key=lambda p: (p.t, p.order))
        frames = [0] * len(order)
        times = [0.0] * len(order)
        ip_ids: dict[str, int] = {}
        last_us = -1
        out = bytearray(struct.pack("<IHHiIII", PCAP_MAGIC_USEC, 2, 4, 0, 0, self.snaplen, 1))
        for number, p in enumerate(order, start=1):
            frames[p.order] = number
            us = max(round(p.t * 1_000_000), last_us + 1)  # strictly increasing timestamps
            last_us = us
            times[p.order] = us / 1_000_000
            ip = p.pkt.getlayer(IP)
            if ip is not None:
                nxt = ip_ids.get(ip.src)
                if nxt is None:
                    nxt = self.rng.randrange(1, 0xFFFF)
                ip.id = nxt
                ip_ids[ip.src] = (nxt + 1) & 0xFFFF
            raw = bytes(p.pkt)
            if len(raw) > self.snaplen:
                raise ValueError(f"frame {number} is {len(raw)} bytes > snaplen {self.snaplen}")
            sec, usec = divmod(us, 1_000_000)
            out += struct.pack("<IIII", sec, usec, len(raw), len(raw))
            out += raw
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(out)
        self._frames = frames
        self._times = times
        return WrittenCapture(
            path=path,
            packets=len(order),
            size=len(out),
            md5=hashlib.md5(out).hexdigest(),
            sha256=hashlib.sha256(out).hexdigest(),
            first_time=times[order[0].order] if order else 0.0,
            last_time=times[order[-1].order] if order else 0.0,
        )


@dataclass(slots=True)
class FlowStats:
    """What one conversation emitted, per direction (application bytes exclude headers)."""

    packets: list[int] = field(default_factory=lambda: [0, 0])  # [client->server, server->client]
    app_bytes: list[int] = field(default_factory=lambda: [0, 0])
    handles: list[int] = field(default_factory=list)
    syn_seen: bool = False
    synack_seen: bool = False
    fin: list[bool] = field(default_factory=lambda: [False, False])
    rst: list[bool] = field(default_factory=lambda: [False, False])
    retransmissions: int = 0
    data: list[bytearray] = field(default_factory=lambda: [bytearray(), bytearray()])
    # (side, handle, start, end): where each first-transmitted data segment sits in its stream
    segments: list[tuple[int, int, int, int]] = field(default_factory=list)


CLIENT, SERVER = 0, 1


class TcpConversation:
    """One TCP connection. Side 0 is the client (initiator), side 1 the server.

    Sequence numbers follow RFC 9293: SYN and FIN each consume one sequence number; every segment
    after the SYN carries ACK with the peer's next expected sequence number. The receiver of data
    sends a pure ACK after every second full-sized segment and at the end of each burst (a delayed
    ACK, RFC 9293 section 3.8.6.3), unless told not to because it answers at once.
    """

    def __init__(
        self,
        cap: Capture,
        client: Endpoint,
        cport: int,
        server: Endpoint,
        sport: int,
        *,
        t: float,
        rtt: float,
        mss: int,
        client_isn: int,
        server_isn: int,
        client_window: int,
        server_window: int,
    ) -> None:
        self.cap = cap
        self.ends = (client, server)
        self.ports = (cport, sport)
        self.t = t
        self.rtt = rtt
        self.mss = mss
        self.isn = [client_isn % MOD32, server_isn % MOD32]
        self.nxt = [self.isn[0], self.isn[1]]  # next sequence number each side will send
        self.windows = [client_window, server_window]
        self.stats = FlowStats()
        self._last_sender: int | None = None
        self._peer_known = [False, False]  # does side i know the peer's sequence numbers?

    # -- low level ------------------------------------------------------------------------

    def _delay(self, side: int) -> float:
        """Gap before ``side`` sends: back-to-back, a local reply, or a remote reply (one RTT)."""
        rng = self.cap.rng
        if self._last_sender is None or self._last_sender == side:
            return 0.00012 + rng.random() * 0.0002
        if self.ends[side].local:
            return 0.0002 + rng.random() * 0.002
        return self.rtt * (0.9 + 0.2 * rng.random())

    def wait(self, seconds: float) -> None:
        """Let time pass (e.g. a server thinking, an idle IRC channel)."""
        self.t += seconds
        self._last_sender = None

    def at(self, t: float) -> None:
        """Move the time cursor forward to ``t`` (never backwards)."""
        if t > self.t:
            self.t = t
            self._last_sender = None

    def segment(
        self,
        side: int,
        flags: int,
        payload: bytes = b"",
        *,
        seq: int | None = None,
        ack: int | None = None,
        options: list | None = None,
        delay: float | None = None,
        retransmission: bool = False,
    ) -> int:
        """Emit one segment from ``side`` and return its handle.

        The side's sequence space advances (by payload, SYN and FIN) unless ``seq`` is given
        explicitly (retransmissions, RST in reply to a SYN). ``retransmission`` only counts it.
        """
        self.t += self._delay(side) if delay is None else delay
        self._last_sender = side
        src, dst = self.ends[side], self.ends[1 - side]
        s = self.nxt[side] if seq is None else seq
        if ack is None and flags & ACK:
            ack = self.nxt[1 - side]
        tcp = TCP(
            sport=self.ports[side],
            dport=self.ports[1 - side],
            seq=s,
            ack=ack or 0,
            flags=flags,
            window=self.windows[side],
            options=options or [],
        )
        pkt = self.cap.ether_ip(src, dst) / tcp
        if payload:
            pkt = pkt / Raw(load=payload)
        h = self.cap.add(self.t, pkt)
        st = self.stats
        st.handles.append(h)
        st.packets[side] += 1
        if retransmission:
            st.retransmissions += 1
        if seq is None:
            if payload:
                start = len(st.data[side])
                st.segments.append((side, h, start, start + len(payload)))
                st.app_bytes[side] += len(payload)
                st.data[side] += payload
            used = len(payload) + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
            self.nxt[side] = (s + used) % MOD32
        if flags & SYN:
            if flags & ACK:
                st.synack_seen = True
            else:
                st.syn_seen = True
        if flags & FIN:
            st.fin[side] = True
        if flags & RST:
            st.rst[side] = True
        return h

    def _syn_options(self) -> list:
        return [("MSS", self.mss), ("NOP", None), ("NOP", None), ("SAckOK", b"")]

    # -- connection set-up ----------------------------------------------------------------

    def handshake(self) -> tuple[int, int, int]:
        """SYN, SYN/ACK, ACK. Returns the three handles."""
        h1 = self.segment(CLIENT, SYN, options=self._syn_options())
        h2 = self.segment(SERVER, SYN | ACK, options=self._syn_options())
        h3 = self.segment(CLIENT, ACK)
        return h1, h2, h3

    def half_open(self) -> tuple[int, int, int]:
        """SYN, SYN/ACK, then RST from the client (a half-open "SYN scan" of an open port)."""
        h1 = self.segment(CLIENT, SYN, options=self._syn_options())
        h2 = self.segment(SERVER, SYN | ACK, options=self._syn_options())
        return h1, h2, self.segment(CLIENT, RST)

    def refused(self, attempts: int = 1, retry_after: float = 0.5) -> list[int]:
        """SYN answered by RST/ACK (closed port), ``attempts`` times with the same ISN."""
        handles = []
        for i in range(attempts):
            if i:
                self.wait(retry_after)
            s = self.isn[CLIENT]
            opts = self._syn_options()
            handles.append(self.segment(CLIENT, SYN, seq=s, options=opts, retransmission=i > 0))
            handles.append(self.segment(SERVER, RST | ACK, seq=0, ack=(s + 1) % MOD32))
        self.nxt[CLIENT] = (self.isn[CLIENT] + 1) % MOD32
        return handles

    def unanswered_syn(self, backoff: tuple[float, ...] = (3.0, 6.0)) -> list[int]:
        """A SYN never answered, retransmitted after each delay in ``backoff`` (Windows 2000:
        3 s then 6 s)."""
        s = self.isn[CLIENT]
        handles = [self.segment(CLIENT, SYN, options=self._syn_options())]
        for gap in backoff:
            opts = self._syn_options()
            handles.append(
                self.segment(CLIENT, SYN, seq=s, options=opts, delay=gap, retransmission=True)
            )
        return handles

    def established(self) -> None:
        """Declare the connection already open (its SYNs were not captured): the next segments
        simply carry ACK, as in a capture started mid-connection."""

    # -- data -----------------------------------------------------------------------------

    def send(
        self,
        side: int,
        data: bytes,
        *,
        cuts: list[int] | None = None,
        ack: bool = True,
        retransmit_first: bool = False,
        rto: float = 1.5,
        gap: float | None = None,
    ) -> list[int]:
        """Send ``data`` from ``side`` as one burst of segments.

        Segments are split at the MSS; ``cuts`` adds extra split offsets (e.g. to split a text
        line across segments). The last segment carries PSH. With ``retransmit_first`` the first
        segment is sent again after ``rto`` seconds (the original was not acknowledged in time).
        With ``ack`` the receiver answers with delayed ACKs. ``gap`` overrides the delay before
        the first segment. Returns the handles of the data segments (not the ACKs).
        """
        if not data:
            return []
        bounds = sorted({0, len(data), *(c for c in (cuts or []) if 0 < c < len(data))})
        pieces: list[bytes] = []
        for a, b in zip(bounds, bounds[1:], strict=False):
            for off in range(a, b, self.mss):
                pieces.append(data[off : min(b, off + self.mss)])
        handles: list[int] = []
        unacked = 0
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            flags = ACK | (PSH if last else 0)
            delay = gap if (i == 0 and gap is not None) else None
            start_seq = self.nxt[side]
            handles.append(self.segment(side, flags, piece, delay=delay))
            if i == 0 and retransmit_first:
                self.segment(side, flags, piece, seq=start_seq, delay=rto, retransmission=True)
            unacked += 1
            if ack and (unacked == 2 or last):
                self.segment(1 - side, ACK, delay=0.0001 if unacked == 2 and not last else None)
                unacked = 0
        return handles

    def ack(self, side: int) -> int:
        """A pure ACK from ``side``."""
        return self.segment(side, ACK)

    # -- teardown -------------------------------------------------------------------------

    def close(
        self, side: int = CLIENT, *, peer_closes: bool = True, last_ack: bool = True
    ) -> list[int]:
        """Orderly release: FIN/ACK from ``side``, the peer's FIN/ACK (if ``peer_closes``;
        otherwise only its ACK), and the final ACK."""
        handles = [self.segment(side, FIN | ACK)]
        if peer_closes:
            handles.append(self.segment(1 - side, FIN | ACK))
            if last_ack:
                handles.append(self.segment(side, ACK))
        else:
            handles.append(self.segment(1 - side, ACK))
        return handles

    def reset(self, side: int, *, with_ack: bool = True) -> int:
        """Abort with RST (RST/ACK when ``with_ack``) from ``side``."""
        return self.segment(side, RST | (ACK if with_ack else 0))

    def fin_unacked(self, side: int, backoff: tuple[float, ...]) -> list[int]:
        """``side`` sends FIN/ACK and the peer never acknowledges it: the FIN is retransmitted
        after each delay in ``backoff`` (the write-up's port 3806 tail)."""
        s = self.nxt[side]
        handles = [self.segment(side, FIN | ACK)]
        for gap in backoff:
            handles.append(self.segment(side, FIN | ACK, seq=s, delay=gap, retransmission=True))
        return handles
