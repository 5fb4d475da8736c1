"""Files moved over FTP data connections and IRC DCC SEND, linked to their control traffic.

Why: after a break-in the honeypot fetches tools (``ftp -s:x.txt``, ``tftp``, a bot's DCC), and
the bytes are only in a *second* connection that the control traffic announces. This module
follows the announcement to the connection and carves the file.

* FTP (RFC 959; RFC 2428 for EPRT/EPSV): the control connection is parsed with
  :mod:`honeysift.protocols.ftp`; each expected data channel (PORT/EPRT: the server connects to
  the client's address:port; PASV/EPSV: the client connects to the server's) is matched to the
  first TCP flow to that address and port that starts after the control connection does. The
  file is the data connection's bytes in the transfer's direction: RETR = ``download`` (server
  to client), STOR/STOU/APPE = ``upload`` (client to server), named by the command argument.
  Complete when the server said 226/250, the data connection closed with FIN and no bytes are
  missing (and the size matches a ``(N bytes)`` in the 150 reply, when given).
* IRC DCC SEND (the CTCP DCC protocol, irchelp.org "DCC specification"): ``DCC SEND <file>
  <ip> <port> <size>`` means the sender listens on ip:port; the receiver connects there, the
  sender streams the file and the receiver answers with 4-byte big-endian running totals
  (acks). The file is the responder-to-originator direction of the flow to that port that
  starts after the offer (by port alone when NAT changed the address). Complete when the
  carved size equals the offered size and nothing is missing.

``direction`` in the CarvedFile follows the protocol's client (FTP: RETR = "download"; DCC:
"download" for the receiver), the same way the HTTP analyzer calls the honeypot's own fetches
downloads.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from honeysift.analysis.context import AnalysisContext
from honeysift.analysis.flowsel import flows_by_service
from honeysift.analysis.magic import file_type
from honeysift.analysis.model import (
    AnalyzerResult,
    CarvedFile,
    Evidence,
    Finding,
    TimelineEvent,
    plain,
)
from honeysift.capture.table import addr_to_halves, halves_to_addr
from honeysift.protocols import ftp as F
from honeysift.protocols import irc as I
from honeysift.safe_text import safe_bytes

FTP_PORTS = frozenset({21})
MAX_CHANNELS = 10_000  # data channels followed per control connection
_BYTES_IN_150 = re.compile(rb"\((\d{1,15}) bytes\)")


@dataclass(slots=True)
class DataLink:
    """One announced data channel and the flow that carried it (None when not seen)."""

    control_uid: str
    passive: bool
    address: str | None
    port: int
    command: str | None
    argument: str | None
    direction: str | None
    reply_code: int | None
    data_uid: str | None = None
    data_flow: int | None = None
    size: int | None = None
    announced_size: int | None = None
    complete: bool = False
    md5: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


@dataclass(slots=True)
class FtpSession:
    uid: str
    client: str
    server: str
    server_port: int
    user: str | None = None
    password: str | None = None
    commands: int = 0
    channels: list[DataLink] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = plain(self)
        d["channels"] = [c.to_dict() for c in self.channels]
        return d


@dataclass(slots=True)
class DccTransfer:
    file: str
    sender: str | None  # IRC nick of the sender
    sender_address: str | None  # announced address
    port: int | None
    size: int | None  # announced size
    offer_frame: int | None
    offer_time: float
    irc_uid: str
    data_uid: str | None = None
    carved_size: int | None = None
    acked: int | None = None  # last ack value the receiver sent
    complete: bool = False
    md5: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


def _t(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", "surrogateescape")


class _FlowIndex:
    """TCP flows by responder port (and address), in start order, to find a data connection.

    Built on first use (most captures have no FTP or DCC transfer) from the numeric columns:
    no text column of the flow table is materialised."""

    def __init__(self, ctx: AnalysisContext) -> None:
        self.ctx = ctx
        self._order: np.ndarray | None = None
        self._ports: np.ndarray | None = None

    def _port_flows(self, port: int) -> np.ndarray:
        """TCP flows with this responder port, in flow-table (= start) order."""
        c = self.ctx.flows.numeric
        if self._order is None:
            tcp = np.flatnonzero(c["proto"] == 6)
            self._order = tcp[np.argsort(c["resp_p"][tcp], kind="stable")]
            self._ports = c["resp_p"][self._order]
        assert self._ports is not None
        a, b = np.searchsorted(self._ports, [port, port + 1])
        return self._order[a:b]

    def _resp_in(self, flows: np.ndarray, addrs: set[str]) -> np.ndarray:
        c = self.ctx.flows.numeric
        hi, lo = c["resp_hi"][flows], c["resp_lo"][flows]
        m = np.zeros(flows.shape[0], dtype=bool)
        for a in addrs:
            try:
                h, low = addr_to_halves(a)
            except ValueError:  # an attacker's address text that is no address
                continue
            m |= (hi == np.uint64(h)) & (lo == np.uint64(low))
        return m

    def find(
        self, addr: str | None, port: int, after: float, used: set[int], peers: set[str] | None
    ) -> int | None:
        if not 0 <= port <= 0xFFFF:
            return None
        on_port = self._port_flows(port)
        cands = on_port[self._resp_in(on_port, {addr})] if addr else on_port[:0]
        if not cands.size:  # NAT or EPSV without address: by port, to one of the two peers
            cands = on_port if peers is None else on_port[self._resp_in(on_port, peers)]
        start = self.ctx.flows.numeric["start_ns"]
        for i in cands.tolist():
            if i not in used and float(start[i]) / 1e9 >= after - 1.0:
                return i
        return None

    def orig_h(self, i: int) -> str:
        c = self.ctx.flows.numeric
        return halves_to_addr(c["orig_hi"][i], c["orig_lo"][i])

    def uid(self, i: int) -> str:
        return self.ctx.pipe.uid(i)


def _stream_bytes(ctx: AnalysisContext, flow: int, direction: int) -> tuple[bytes, Any]:
    ds = ctx.stream(flow, direction)
    if ds is None:
        return b"", None
    return ds.stream.read(), ds.stream


# ----------------------------------------------------------------------------------- FTP
def _ftp_flows(ctx: AnalysisContext) -> list[int]:
    """FTP control connections: the FTP ports, or FTP recognised by content on any port (the
    flow table's service guess reads each flow's first payload bytes once, vectorized)."""
    return flows_by_service(ctx.flows, 6, FTP_PORTS, "ftp", exact=True)


def _ftp(ctx: AnalysisContext, index: _FlowIndex, used: set[int], res: AnalyzerResult) -> list:
    sessions: list[FtpSession] = []
    for flow in _ftp_flows(ctx):
        row = ctx.row(flow)
        client, _ = _stream_bytes(ctx, flow, 0)
        server, _ = _stream_bytes(ctx, flow, 1)
        if not client:
            continue
        cmds = F.parse_commands(client)
        exchanges = F.pair(cmds, F.parse_replies(server))
        s = FtpSession(row["uid"], row["orig_h"], row["resp_h"], int(row["resp_p"]))
        s.commands = len(cmds)
        for c in cmds:
            if c.command == b"USER" and s.user is None:
                s.user = _t(c.arg)
            elif c.command == b"PASS" and s.password is None:
                s.password = _t(c.arg)
        transfer_ex = [e for e in exchanges if e.command and e.command.command in F.TRANSFER]
        taken: set[int] = set()
        for ch in F.data_channels(exchanges)[:MAX_CHANNELS]:
            link = DataLink(
                row["uid"], ch.passive, ch.address, ch.port, _t(ch.command), _t(ch.argument),
                ch.direction, ch.reply_code,
            )  # fmt: skip
            s.channels.append(link)
            if ch.command is None:
                continue
            for k, e in enumerate(transfer_ex):
                if k in taken or e.command is None:
                    continue
                if e.command.command == ch.command and e.command.arg == ch.argument:
                    taken.add(k)
                    for p in e.preliminary:
                        m = _BYTES_IN_150.search(p.text)
                        if m:
                            link.announced_size = int(m.group(1))
                    break
            addr = ch.address if ch.address else (row["resp_h"] if ch.passive else row["orig_h"])
            peers = {row["orig_h"], row["resp_h"]}
            i = index.find(addr, ch.port, float(row["start"]), used, peers)
            if i is None:
                continue
            used.add(i)
            link.data_flow, link.data_uid = i, index.uid(i)
            if ch.direction is None:
                continue
            # who sends: RETR and listings -> the FTP server, STOR -> the FTP client
            ftp_server_sends = ch.direction != "upload"
            data_orig_is_ftp_server = index.orig_h(i) == row["resp_h"]
            d = 0 if ftp_server_sends == data_orig_is_ftp_server else 1
            data, stream = _stream_bytes(ctx, i, d)
            if not data:
                data2, stream2 = _stream_bytes(ctx, i, 1 - d)
                if data2:
                    data, stream, d = data2, stream2, 1 - d
            link.size = len(data)
            if not data:
                continue
            ok = (
                ch.reply_code in (226, 250)
                and stream is not None
                and not stream.gaps
                and stream.fin_seen
                and (link.announced_size is None or link.announced_size == len(data))
            )
            link.complete = ok
            link.md5 = hashlib.md5(data).hexdigest()
            if ch.direction == "listing":
                continue  # directory listings are linked and sized, not carved
            drow = ctx.row(i)
            src = drow["orig_h"] if d == 0 else drow["resp_h"]
            dst = drow["resp_h"] if d == 0 else drow["orig_h"]
            name = (link.argument or "ftp-data").replace("\\", "/").rsplit("/", 1)[-1] or "ftp-data"
            cf = _carved(ctx, data, stream, name, "ftp", src, dst, ok, drow["uid"], ch.direction)
            res.files.append(cf)
            _file_events(ctx, res, cf, f"FTP {link.command} {safe_bytes(ch.argument or b'')}",
                         row["orig_h"], row["resp_h"], int(row["resp_p"]))  # fmt: skip
        sessions.append(s)
    return sessions


# ----------------------------------------------------------------------------------- DCC
def _irc_report(ctx: AnalysisContext):
    from honeysift.analysis.irc import IRC_PORTS, analyze_irc, conversation_from_streams

    c = ctx.flows.columns
    proto, rp = c["proto"].tolist(), c["resp_p"].tolist()
    svc = c["service"].tolist()
    convs = []
    for i in range(len(ctx.flows)):
        if proto[i] != 6:
            continue
        if not (rp[i] in IRC_PORTS or "irc" in str(svc[i])):
            ds = ctx.stream(i, 0)
            if ds is None:
                continue
            with ds.stream.open() as fh:
                if not I.looks_like_irc(fh.read(1024)):
                    continue
        c2s, s2c = ctx.stream(i, 0), ctx.stream(i, 1)
        convs.append(
            conversation_from_streams(
                ctx.row(i), c2s and c2s.stream, s2c and s2c.stream, ctx.ts_of_frame
            )
        )
    return analyze_irc(convs)


def _last_ack(acks: bytes) -> int | None:
    n = len(acks) // 4
    if n == 0:
        return None
    return int.from_bytes(acks[(n - 1) * 4 : n * 4], "big")


def _dcc(
    ctx: AnalysisContext, index: _FlowIndex, used: set[int], res: AnalyzerResult, report
) -> list[DccTransfer]:
    out: list[DccTransfer] = []
    for s in report.sessions:
        for d in s.dcc:
            o = d.offer
            if o.kind != b"SEND":
                continue
            t = DccTransfer(
                _t(o.argument) or "", _t(d.sender), o.address, o.port, o.size, d.frame,
                d.time, s.uid,
            )  # fmt: skip
            out.append(t)
            if not o.port:
                continue  # reverse / passive DCC (port 0) announces no listener
            i = index.find(o.address, o.port, d.time, used, None)
            if i is None:
                continue
            used.add(i)
            t.data_uid = index.uid(i)
            data, stream = _stream_bytes(ctx, i, 1)  # the sender is the responder
            acks, _ = _stream_bytes(ctx, i, 0)
            t.acked = _last_ack(acks)
            t.carved_size = len(data)
            if not data:
                continue
            t.complete = (
                o.size is not None
                and len(data) == o.size
                and stream is not None
                and not stream.gaps
            )
            t.md5 = hashlib.md5(data).hexdigest()
            drow = ctx.row(i)
            name = t.file.replace("\\", "/").rsplit("/", 1)[-1] or "dcc-file"
            cf = _carved(ctx, data, stream, name, "irc-dcc", drow["resp_h"], drow["orig_h"],
                         t.complete, drow["uid"], "download")  # fmt: skip
            if d.frame:
                cf.evidence = cf.evidence.merge(Evidence([d.frame], [s.uid]))
            res.files.append(cf)
            _file_events(ctx, res, cf, f"IRC DCC SEND {safe_bytes(o.argument)} (offered by "
                         f"{safe_bytes(d.sender or b'?')})", drow["resp_h"], drow["orig_h"],
                         int(drow["resp_p"]))  # fmt: skip
    return out


# ----------------------------------------------------------------------------------- common
def _carved(
    ctx: AnalysisContext,
    data: bytes,
    stream: Any,
    name: str,
    protocol: str,
    src: str,
    dst: str,
    complete: bool,
    uid: str,
    direction: str,
) -> CarvedFile:
    frames = [f for f in (stream.frame_at(0), stream.frame_at(len(data) - 1)) if f]
    return CarvedFile(
        name=name,
        protocol=protocol,
        src=src,
        dst=dst,
        time=ctx.ts_of_frame(frames[-1]) if frames else None,
        size=len(data),
        md5=hashlib.md5(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        magic=file_type(data),
        complete=complete,
        evidence=Evidence(frames, [uid]),
        direction=direction,
        data=data,
    )


def _file_events(
    ctx: AnalysisContext, res: AnalyzerResult, cf: CarvedFile, what: str, a: str, b: str, port: int
) -> None:
    to_hp = ctx.is_honeypot(cf.dst)
    from_hp = ctx.is_honeypot(cf.src)
    kind = "upload" if to_hp else ("outbound" if from_hp else "transfer")
    cmd = ctx.show_cmd(f"host {cf.src} and host {cf.dst} and tcp")
    t = cf.time if cf.time is not None else 0.0
    summary = f"{what}: {cf.src} -> {cf.dst}, {cf.size} bytes, {cf.magic}" + (
        "" if cf.complete else " (incomplete)"
    )
    res.timeline.append(TimelineEvent(t, kind, summary, [cf.src, cf.dst], cf.evidence, cmd))
    exe = cf.magic.startswith(("PE32", "MS-DOS", "ELF"))
    if to_hp or from_hp or exe:
        res.findings.append(
            Finding(
                severity="high" if (to_hp and exe) else "medium",
                title=("executable" if exe else "file") + f" transferred over {cf.protocol}",
                detail=f"{summary}; md5 {cf.md5}",
                evidence=cf.evidence,
                command=cmd,
                category="compromise" if (to_hp and exe) else "outbound",
                hosts=[cf.src, cf.dst],
                time=cf.time,
            )
        )


def analyze_transfers(ctx: AnalysisContext, irc_report=None) -> AnalyzerResult:
    """FTP sessions with their data connections, IRC DCC SEND offers with theirs; files carved.

    ``irc_report`` (an :class:`honeysift.analysis.irc.IrcReport`) avoids re-parsing IRC when
    the caller already has it; otherwise the IRC conversations of the capture are analysed here.
    """
    res = AnalyzerResult()
    index = _FlowIndex(ctx)
    used: set[int] = set()
    sessions = _ftp(ctx, index, used, res)
    if irc_report is None:
        irc_report = _irc_report(ctx)
    dcc = _dcc(ctx, index, used, res, irc_report)
    res.extra["transfers"] = {
        "ftp": [s.to_dict() for s in sessions],
        "dcc": [d.to_dict() for d in dcc],
    }
    res.extra["transfer_objects"] = {"ftp": sessions, "dcc": dcc}
    return res
