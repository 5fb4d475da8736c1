"""``honeysift alerts``: run a ruleset over a capture and return the alerts with evidence.

Passes over the capture: (1) the flow table (which flow and direction each frame belongs to);
(2) one pass over packet-table chunks, where each chunk's payloads are concatenated and scanned
once by the prefilter, and header-only rules are evaluated on whole columns; (3) only when
rules need them, the reassembled TCP streams of the flows those rules can match (HTTP requests,
``flow:only_stream`` rules). Matches are then ordered by frame and pass through flowbits and
thresholds, so rules that set a flowbit are applied before the rules testing it.
"""

from __future__ import annotations

import mmap
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from honeysift.capture.reader import Capture, drop_pages
from honeysift.capture.table import ST_OK, halves_to_addr
from honeysift.detect.match import BufferMatch, header_mask, rule_buffers_match
from honeysift.detect.prefilter import Prefilter
from honeysift.detect.rules import (
    PCRE_MATCH_LIMIT,
    Content,
    LoadIssue,
    Pcre,
    Rule,
    RuleSet,
    parse_rules,
)
from honeysift.pipeline import Pipeline

BUILTIN_RULES = Path(__file__).with_name("builtin.rules")
PROTO_NAMES = {6: "TCP", 17: "UDP", 1: "ICMP", 58: "IPV6-ICMP"}
MAX_MATCHES = 2_000_000  # bound on raw matches kept (hostile captures x broad rules)
#: Alerts kept per rule; the rest are counted in AlertReport.suppressed (like an event filter),
#: so a scan rule firing on millions of SYNs does not fill memory.
MAX_ALERTS_PER_RULE = 10_000
#: Raw matches kept per rule (thresholds count only these): bounds memory on scans.
MAX_RAW_PER_RULE = 100_000


@dataclass(slots=True)
class Alert:
    time: float
    gid: int
    sid: int
    rev: int
    msg: str
    classification: str
    priority: int
    proto: str
    src: str
    sport: int | None
    dst: str
    dport: int | None
    frame: int  # the frame that triggered it (1-based)
    frames: list[int] = field(default_factory=list)  # every frame of the evidence
    flow_uid: str | None = None
    buffer: str = "pkt"  # where it matched: pkt, stream, http, dns
    rule_source: str = ""

    @property
    def key(self) -> str:
        return f"{self.gid}:{self.sid}:{self.rev}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "rule": {"gid": self.gid, "sid": self.sid, "rev": self.rev, "msg": self.msg,
                     "classification": self.classification, "priority": self.priority,
                     "source": self.rule_source},
            "proto": self.proto,
            "src": self.src,
            "sport": self.sport,
            "dst": self.dst,
            "dport": self.dport,
            "frame": self.frame,
            "frames": self.frames,
            "flow_uid": self.flow_uid,
            "buffer": self.buffer,
        }  # fmt: skip


@dataclass(slots=True)
class PcreLimitHit:
    """A rule whose pcre exceeded its match limit (counted as no match there, as in Snort):
    reported once per rule, with the first frame, so a crafted payload is visible, not silent."""

    source: str  # file:line
    sid: int
    frame: int  # first frame (of the packet, stream or request) where the limit was hit
    count: int = 1  # buffers (packets, streams, requests) where it was hit

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "sid": self.sid, "frame": self.frame, "count": self.count}

    def __str__(self) -> str:
        n = f"{self.count} buffer{'s' if self.count != 1 else ''}"
        return (
            f"{self.source}: sid {self.sid}: pcre match limit ({PCRE_MATCH_LIMIT:,} steps) "
            f"exceeded at frame {self.frame} ({n}; counted as no match)"
        )


@dataclass(slots=True)
class AlertReport:
    alerts: list[Alert]
    rules_loaded: int
    issues: list[LoadIssue]
    rule_files: list[str]
    variables: dict[str, str]
    disabled: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)  # "gid:sid" -> alerts not kept
    pcre_limits: list[PcreLimitHit] = field(default_factory=list)  # by rule order

    @property
    def skipped(self) -> int:
        return len({(i.source, i.sid) for i in self.issues if i.decision == "skipped"})

    def to_dict(self) -> dict[str, Any]:
        return {
            "alerts": [a.to_dict() for a in self.alerts],
            "rules_loaded": self.rules_loaded,
            "rules_skipped": self.skipped,
            "rule_files": self.rule_files,
            "issues": [
                {"source": i.source, "sid": i.sid, "option": i.option, "message": i.message,
                 "decision": i.decision} for i in self.issues
            ],
            "variables": {k: self.variables[k] for k in ("HOME_NET", "EXTERNAL_NET")},
            "suppressed": self.suppressed,
            "pcre_limits": [h.to_dict() for h in self.pcre_limits],
        }  # fmt: skip


@dataclass(slots=True)
class _Match:
    rule: int
    frame: int
    ts_ns: int
    flow: int  # flow row, -1 when none
    src: tuple[int, int]
    dst: tuple[int, int]
    sport: int
    dport: int
    proto: int
    frames: list[int]
    buffer: str


# -- loading ---------------------------------------------------------------------------------


def rule_paths(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        out.extend(sorted(p.glob("*.rules")) if p.is_dir() else [p])
    return out


def load_rules(
    rule_files: Iterable[str | Path] = (), builtin: bool = True, variables: dict | None = None
) -> tuple[RuleSet, list[str]]:
    files = ([BUILTIN_RULES] if builtin else []) + rule_paths(rule_files)
    rs = RuleSet(variables=dict(variables or {}))
    for f in files:
        try:
            text = Path(f).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            rs.issues.append(LoadIssue(str(f), None, "file", str(exc), "skipped"))
            continue
        part = parse_rules(text, variables, source=Path(f).name)
        rs.variables = part.variables
        rs.extend(part)
    return rs, [str(f) for f in files]


def _home_net(pipe: Pipeline, variables: dict[str, str], honeypots: list[str] | None) -> None:
    """HOME_NET from --honeypot or from honeypot inference; EXTERNAL_NET = everything else."""
    if "HOME_NET" not in variables:
        hp = list(honeypots or [])
        if not hp:
            from honeysift.analysis.roles import detect  # lazy: analysis sits above detect

            hp = list(detect(pipe.flows).honeypots)
        if hp:
            variables["HOME_NET"] = "[" + ",".join(hp) + "]"
    if "EXTERNAL_NET" not in variables and variables.get("HOME_NET", "any") != "any":
        variables["EXTERNAL_NET"] = "!$HOME_NET"


# -- the engine ------------------------------------------------------------------------------


class Engine:
    """Rules grouped by where they run, with one prefilter per buffer kind."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.packet = [i for i, r in enumerate(rules) if r.kind == "packet"]
        self.http = [i for i, r in enumerate(rules) if r.kind == "http"]
        self.dns = [i for i, r in enumerate(rules) if r.kind == "dns"]
        self.stream = [i for i, r in enumerate(rules) if r.kind == "stream"]
        self.pkt_fp, self.pkt_always = self._split(self.packet, ("pkt",))
        self.stream_fp, self.stream_always = self._split(self.stream, ("pkt",))
        self.http_fp, self.http_always = self._split(
            self.http, ("http_uri", "http_header", "http_method", "http_client_body", "pkt")
        )
        self.dns_fp, self.dns_always = self._split(self.dns, ("dns_query", "pkt"))
        # setters of flowbits run before testers in the same frame (Suricata's ordering)
        self.order = {
            i: (0 if any(c in ("set", "unset", "toggle") for c, _ in r.flowbits) else 1, i)
            for i, r in enumerate(rules)
        }
        self.limit_hits: dict[int, PcreLimitHit] = {}

    def match(self, rid: int, buffers: dict[str, list[bytes]], frame: int) -> BufferMatch | None:
        """rule_buffers_match for rule *rid*, noting a pcre match-limit hit at *frame*."""
        hit: list[Pcre] = []
        got = rule_buffers_match(self.rules[rid], buffers, hit)
        if hit:
            h = self.limit_hits.get(rid)
            if h is None:
                r = self.rules[rid]
                self.limit_hits[rid] = PcreLimitHit(r.source, r.sid, frame)
            else:
                h.frame = min(h.frame, frame)
                h.count += 1
        return got

    def _split(self, ids: list[int], buffers: tuple[str, ...]):
        """(buffer -> Prefilter, rule ids without a fast pattern)."""
        entries: dict[str, list[tuple[int, bytes, bool]]] = defaultdict(list)
        always: list[int] = []
        for i in ids:
            best: tuple[str, Content] | None = None
            for b in buffers:
                c = self.rules[i].fast_pattern(b)
                if c is None:
                    continue
                if (
                    best is None
                    or c.fast_pattern
                    or (not best[1].fast_pattern and len(c.pattern) > len(best[1].pattern))
                ):
                    best = (b, c)
            if best is None:
                always.append(i)
                continue
            b, c = best
            pat = c.pattern
            if c.fp_slice is not None:
                a, n = c.fp_slice
                pat = pat[a : a + n] or pat
            entries[b].append((i, pat, c.nocase))
        return {b: Prefilter(e) for b, e in entries.items()}, always


def _flow_state(flows) -> tuple[np.ndarray, np.ndarray]:
    """Per flow: frame after which it counts as established (-1 never), and the uid array."""
    c = flows.columns
    n = len(flows)
    est_after = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    first = c["first_frame"].astype(np.int64)
    from honeysift.flows import ORIG_METHODS

    method = ORIG_METHODS[flows.codes["orig_method"]] if n else np.zeros(0, object)
    # Flows picked up mid-stream (no SYN seen) count as established from their first packet.
    mid = (c["proto"] == 6) & ~np.isin(method, ("syn", "synack"))
    est_after[mid] = first[mid] - 1
    return est_after, c["uid"] if n else np.zeros(0, object)


def run_alerts(
    cap: Capture,
    rule_files: Iterable[str | Path] = (),
    builtin: bool = True,
    flt=None,
    variables: dict[str, str] | None = None,
    *,
    honeypots: list[str] | None = None,
    pipe: Pipeline | None = None,
    rules_text: str | None = None,
) -> AlertReport:
    """Alerts of the built-in ruleset (unless ``builtin=False``) and of *rule_files* (files or
    directories of ``*.rules``) on *cap*, restricted to packets the BPF filter *flt* selects.

    ``variables`` sets rule variables (``HOME_NET`` ...); without ``HOME_NET`` the honeypots
    given, or else inferred from the flows, become ``HOME_NET`` and ``EXTERNAL_NET`` is
    ``!$HOME_NET``. ``rules_text`` adds rules given as text (tests, the API)."""
    pipe = pipe or Pipeline(cap)
    vars_ = dict(variables or {})
    _home_net(pipe, vars_, honeypots)
    rs, files = load_rules(rule_files, builtin, vars_)
    if rules_text is not None:
        extra = parse_rules(rules_text, vars_, source="text")
        rs.extend(extra)
        rs.variables = extra.variables
    engine = Engine(rs.rules)
    matches = _collect(cap, pipe, engine, flt)
    suppressed: dict[str, int] = {}
    alerts = _post(matches, engine, pipe, suppressed)
    del matches
    limits = [engine.limit_hits[rid] for rid in sorted(engine.limit_hits)]
    return AlertReport(
        alerts, len(rs.rules), rs.issues, files, rs.variables or vars_, rs.disabled, suppressed,
        limits,
    )  # fmt: skip


def _collect(cap: Capture, pipe: Pipeline, engine: Engine, flt) -> list[_Match]:
    flows = pipe.flows
    out: list[_Match] = _Matches()
    if not engine.rules:
        return out
    pf = flows.packet_flow
    pdir = flows.packet_dir
    est_after, _ = _flow_state(flows)
    # established: responder's SYN/ACK (TCP) or any responder packet (UDP) seen earlier
    mm = cap.open_map()
    try:
        if engine.packet or engine.dns:
            for table in cap.chunks():
                t = cap.select(table, flt)
                if len(t):
                    _packet_chunk(t, mm, pf, pdir, est_after, engine, out)
                drop_pages(mm)
        if engine.http or engine.stream:
            _streams(pipe, engine, est_after, out, flt)
    finally:
        if isinstance(mm, mmap.mmap):
            mm.close()
    return out


def _columns(t, pf, pdir, est_after) -> dict[str, np.ndarray]:
    frames = t.frame.astype(np.int64)
    idx = frames - 1
    inside = idx < pf.shape[0]
    flow = (
        np.where(inside, pf[np.minimum(idx, pf.shape[0] - 1)], -1)
        if pf.shape[0]
        else np.full(len(t), -1)
    )
    d = np.where(flow >= 0, pdir[np.minimum(idx, pdir.shape[0] - 1)], -1) if pf.shape[0] else flow
    # established: update per-flow state with this chunk's handshake completions, then compare
    tcp = t.proto == 6
    synack = tcp & ((t.tcp_flags & 0x12) == 0x12) & (d == 1)
    resp_udp = (t.proto == 17) & (d == 1)
    done = (synack | resp_udp) & (flow >= 0)
    if done.any():
        np.minimum.at(est_after, flow[done], frames[done])
    est = (flow >= 0) & (frames > est_after[np.maximum(flow, 0)])
    return {
        "proto": t.proto,
        "src_hi": t.src_hi,
        "src_lo": t.src_lo,
        "dst_hi": t.dst_hi,
        "dst_lo": t.dst_lo,
        "sport": t.sport,
        "dport": t.dport,
        "flags": t.tcp_flags,
        "dsize": t.payload_len,
        "itype": t.icmp_type,
        "icode": t.icmp_code,
        "dir": d,
        "est": est,
        "flow": flow,
        "frame": frames,
    }


def _payloads(t, rows: np.ndarray, mm) -> list[bytes]:
    off = (t.offset[rows] + t.payload_off[rows].astype(np.int64)).tolist()
    n = np.minimum(
        t.payload_len[rows].astype(np.int64),
        np.clip(t.caplen[rows].astype(np.int64) - t.payload_off[rows].astype(np.int64), 0, None),
    ).tolist()
    reas = t.reassembled[rows].tolist()
    fr = t.frame[rows].tolist()
    return [
        t.extra_payload.get(f, b"") if r else mm[o : o + k]
        for o, k, r, f in zip(off, n, reas, fr, strict=True)
    ]


def _packet_chunk(t, mm, pf, pdir, est_after, engine: Engine, out: list[_Match]) -> None:
    c = _columns(t, pf, pdir, est_after)
    ok = (t.status == ST_OK) & (t.ip_version > 0)
    rules = engine.rules
    # payload-carrying rows, scanned once by the prefilter
    prow = np.flatnonzero(ok & (t.payload_len > 0))
    pays: list[bytes] = _payloads(t, prow, mm) if prow.size else []
    cand: dict[int, list[int]] = defaultdict(list)  # rule -> rows
    pf_pkt = engine.pkt_fp.get("pkt")
    if pf_pkt and pays:
        starts = np.cumsum([0] + [len(p) for p in pays[:-1]], dtype=np.int64)
        for k, rid in pf_pkt.scan_segments(b"".join(pays), starts):
            cand[rid].append(k)
    pay_at = {int(r): i for i, r in enumerate(prow.tolist())} if engine.pkt_always else None
    for rid, ks in cand.items():
        rows = prow[np.asarray(ks, dtype=np.int64)]
        sub = {k: v[rows] for k, v in c.items()}
        for j in np.flatnonzero(header_mask(rules[rid], sub)).tolist():
            got = engine.match(rid, {"pkt": [pays[ks[j]]]}, int(t.frame[rows[j]]))
            if got is not None:
                _add(out, rid, int(rows[j]), t, c, [int(t.frame[rows[j]])], "pkt")
    okrows = np.flatnonzero(ok)
    if engine.pkt_always and okrows.size:
        sub = {k: v[okrows] for k, v in c.items()}
        for rid in engine.pkt_always:
            r = rules[rid]
            sel = okrows[header_mask(r, sub)]
            for row in sel.tolist():
                if r.buffers:
                    i = pay_at.get(row) if pay_at is not None else None
                    data = pays[i] if i is not None else b""
                    if engine.match(rid, {"pkt": [data]}, int(t.frame[row])) is None:
                        continue
                _add(out, rid, row, t, c, [int(t.frame[row])], "pkt")
    if engine.dns:
        _dns_chunk(t, c, ok, prow, pays, engine, out)


def _dns_chunk(t, c, ok, prow, pays, engine: Engine, out: list[_Match]) -> None:
    from honeysift.protocols import dns

    udp53 = (t.proto == 17) & ((t.sport == 53) | (t.dport == 53)) & ok & (t.payload_len >= 12)
    rows = np.flatnonzero(udp53)
    if not rows.size:
        return
    at = {int(r): i for i, r in enumerate(prow.tolist())}
    sub_all = {k: v[rows] for k, v in c.items()}
    hmask = {rid: header_mask(engine.rules[rid], sub_all) for rid in engine.dns}
    for j, row in enumerate(rows.tolist()):
        data = pays[at[row]] if row in at else b""
        msg = dns.parse(data)
        names = [q.name.encode("utf-8", "replace") for q in msg.questions]
        bufs = {"pkt": [data], "dns_query": names}
        cands = set(engine.dns_always)
        for b, p in engine.dns_fp.items():
            for inst in bufs.get(b, ()):
                cands |= p.scan(inst)
        for rid in sorted(cands):
            if hmask[rid][j] and engine.match(rid, bufs, int(t.frame[row])) is not None:
                _add(out, rid, row, t, c, [int(t.frame[row])], "dns")


class _Matches(list):
    """Raw matches, with a count per rule: one broad rule cannot use up the whole budget."""

    def __init__(self) -> None:
        super().__init__()
        self.per_rule: dict[int, int] = {}

    def room(self, rid: int) -> bool:
        n = self.per_rule.get(rid, 0)
        if len(self) >= MAX_MATCHES or n >= MAX_RAW_PER_RULE:
            self.per_rule[rid] = n + 1  # still counted, for the report
            return False
        self.per_rule[rid] = n + 1
        return True


def _add(out, rid, row, t, c, frames, buffer) -> None:
    if isinstance(out, _Matches) and not out.room(rid):
        return
    if len(out) >= MAX_MATCHES:
        return
    out.append(
        _Match(
            rid,
            int(t.frame[row]),
            int(t.ts_ns[row]),
            int(c["flow"][row]),
            (int(t.src_hi[row]), int(t.src_lo[row])),
            (int(t.dst_hi[row]), int(t.dst_lo[row])),
            int(t.sport[row]),
            int(t.dport[row]),
            int(t.proto[row]),
            frames,
            buffer,
        )
    )


# -- streams and HTTP ------------------------------------------------------------------------


def _flow_cols(flows, rows: np.ndarray, direction: int, est: np.ndarray) -> dict[str, np.ndarray]:
    """Header columns for whole flows seen in one direction (0: originator -> responder)."""
    c = flows.columns
    a, b = ("orig", "resp") if direction == 0 else ("resp", "orig")
    n = rows.shape[0]
    return {
        "proto": c["proto"][rows],
        "src_hi": c[a + "_hi"][rows],
        "src_lo": c[a + "_lo"][rows],
        "dst_hi": c[b + "_hi"][rows],
        "dst_lo": c[b + "_lo"][rows],
        "sport": c[a + "_p"][rows],
        "dport": c[b + "_p"][rows],
        "flags": np.zeros(n, np.uint8),
        "dsize": np.zeros(n, np.uint32),
        "itype": np.zeros(n, np.uint8),
        "icode": np.zeros(n, np.uint8),
        "dir": np.full(n, direction),
        "est": est,
        "flow": rows,
        "frame": c["first_frame"][rows].astype(np.int64),
    }


def _header_key(r: Rule) -> tuple:
    """What header_mask reads of a stream/HTTP rule's header view (rules equal in it accept
    the same flows)."""
    return (
        r.ip_proto,
        repr(r.ipproto_test),
        repr(r.itype),
        repr(r.icode),
        r.app,
        r.stateless,
        r.flow_dir,
        r.established,
        r.bidirectional,
        r.src.text,
        r.sport.text,
        r.dst.text,
        r.dport.text,
    )


def _stream_rule(r: Rule) -> Rule:
    """The header view of a stream/HTTP rule: packet-only options (dsize, flags) do not apply
    to a whole stream and are left out of the flow-level check."""
    from copy import copy

    v = copy(r)
    v.dsize = None
    v.flags = None
    return v


def _streams(pipe: Pipeline, engine: Engine, est_after, out: list[_Match], flt) -> None:
    from honeysift.protocols.http import parse_requests

    flows = pipe.flows
    n = len(flows)
    if not n:
        return
    tcp_rows = np.flatnonzero(flows.columns["proto"] == 6)
    if not tcp_rows.size:
        return
    hist = flows.columns["history"][tcp_rows]
    mid = est_after[tcp_rows] < np.iinfo(np.int64).max
    est = mid | np.array(["h" in h for h in hist.tolist()], dtype=bool)
    # Rules with the same header view share one mask (thousands of rules have a few dozen
    # headers): a (flow, direction) keeps the header groups that accept it, not rule lists.
    kinds = {rid: engine.rules[rid].kind for rid in engine.http + engine.stream}
    group_of: dict[tuple, int] = {}
    rule_group: dict[int, int] = {}
    first_rule: list[int] = []
    for rid in engine.http + engine.stream:
        key = (kinds[rid], _header_key(engine.rules[rid]))
        gi = group_of.setdefault(key, len(group_of))
        if gi == len(first_rule):
            first_rule.append(rid)
        rule_group[rid] = gi
    want: dict[tuple[int, int], set[int]] = defaultdict(set)  # (flow, dir) -> header groups
    for direction in (0, 1):
        cols = _flow_cols(flows, tcp_rows, direction, est)
        for (kind, _), gi in group_of.items():
            if kind == "http" and direction == 1:
                continue  # request buffers only: client -> server
            m = header_mask(_stream_rule(engine.rules[first_rule[gi]]), cols)
            for f in tcp_rows[m].tolist():
                want[(f, direction)].add(gi)
    if not want:
        return
    stream_always = {r for r in engine.stream_always if kinds.get(r) == "stream"}
    http_always = {r for r in engine.http_always if kinds.get(r) == "http"}
    has_kind = {k: {gi for (kk, _), gi in group_of.items() if kk == k} for k in ("stream", "http")}
    seg_pipe = pipe if flt is None else Pipeline(pipe.cap, flt)
    if flt is not None:
        seg_pipe._flows = pipe.flows
        seg_pipe._frame_ts = pipe._frame_ts
    streams = seg_pipe.tcp_streams(sorted({f for f, _ in want}))

    def allowed(rids, gis: set[int], kind: str) -> set[int]:
        return {r for r in rids if kinds.get(r) == kind and rule_group[r] in gis}

    for (f, direction), gis in want.items():
        ds = streams.get((f, direction))
        if ds is None:
            continue
        st = ds.stream
        data = st.read()
        if not data:
            continue
        hdr = _flow_hdr(flows, f, direction)
        if gis & has_kind["stream"]:
            cands = allowed(stream_always, gis, "stream")
            p = engine.stream_fp.get("pkt")
            if p:
                cands |= allowed(p.scan(data), gis, "stream")
            for rid in sorted(cands):
                got = engine.match(rid, {"pkt": [data]}, st.frame_at(0) or st.first_frame)
                if got is not None:
                    _add_stream(out, rid, st, got, hdr, "stream")
        if not gis & has_kind["http"]:
            continue
        for msg in parse_requests(data):
            if msg.method is None:
                continue
            bufs = _http_buffers(msg, data)
            cands = allowed(http_always, gis, "http")
            for b, p in engine.http_fp.items():
                for inst in bufs.get(b, ()):
                    cands |= allowed(p.scan(inst), gis, "http")
            for rid in sorted(cands):
                got = engine.match(rid, bufs, st.frame_at(msg.offset) or st.first_frame)
                if got is not None:
                    start = msg.offset
                    _add_stream(out, rid, st, BufferMatch(start, start), hdr, "http",
                                end=max(start, min(msg.end, len(data)) - 1))  # fmt: skip


def _http_buffers(msg, data: bytes) -> dict[str, list[bytes]]:
    head = data[msg.offset : msg.body_offset] if msg.body_offset > msg.offset else b""
    nl = head.find(b"\n")
    header = head[nl + 1 :] if nl >= 0 else b""
    raw = data[msg.offset : msg.end] if msg.end > msg.offset else head
    return {
        "http_uri": [msg.uri or b""],
        "http_header": [header.rstrip(b"\r\n") + b"\r\n" if header.strip() else b""],
        "http_method": [msg.method or b""],
        "http_client_body": [msg.body or b""],
        "pkt": [raw],
    }


def _flow_hdr(flows, f: int, direction: int) -> tuple:
    c = flows.columns
    a, b = ("orig", "resp") if direction == 0 else ("resp", "orig")
    return (
        f,
        (int(c[a + "_hi"][f]), int(c[a + "_lo"][f])),
        (int(c[b + "_hi"][f]), int(c[b + "_lo"][f])),
        int(c[a + "_p"][f]),
        int(c[b + "_p"][f]),
        int(c["proto"][f]),
    )


def _add_stream(out, rid, st, got: BufferMatch, hdr, buffer: str, end: int | None = None) -> None:
    first = st.frame_at(got.start) or st.first_frame or 0
    last = st.frame_at(end if end is not None else max(got.start, got.end - 1)) or first
    frames = sorted({first, last})
    if st.offsets.size:
        i0 = int(np.searchsorted(st.offsets, got.start, side="right")) - 1
        i1 = int(np.searchsorted(st.offsets, end if end is not None else got.end - 1, "right"))
        frames = sorted({int(x) for x in st.frames[max(i0, 0) : max(i1, i0 + 1)].tolist()})[:50]
    f, src, dst, sp, dp, proto = hdr
    if len(out) < MAX_MATCHES and (not isinstance(out, _Matches) or out.room(rid)):
        out.append(
            _Match(rid, int(first), 0, f, src, dst, sp, dp, proto, frames or [first], buffer)
        )


# -- flowbits, thresholds, alerts ------------------------------------------------------------


def _post(
    matches: list[_Match], engine: Engine, pipe: Pipeline, suppressed: dict[str, int] | None = None
) -> list[Alert]:
    rules = engine.rules
    per_rule: dict[int, int] = defaultdict(int)
    suppressed = {} if suppressed is None else suppressed
    matches.sort(key=lambda m: (m.frame, engine.order[m.rule]))
    bits: dict[int, set[str]] = defaultdict(set)
    counters: dict[tuple, list] = {}
    flows = pipe.flows
    n_flows = len(flows)
    alerts: list[Alert] = []
    seen: set[tuple[int, int, str]] = set()
    for m in matches:
        if (m.rule, m.frame, m.buffer) in seen:
            continue
        seen.add((m.rule, m.frame, m.buffer))
        r = rules[m.rule]
        fb = bits[m.flow]
        if not _flowbits_ok(r, fb):
            continue
        for cmd, names in r.flowbits:
            if cmd == "set":
                fb.update(names)
            elif cmd == "unset":
                fb.difference_update(names)
            elif cmd == "toggle":
                fb.symmetric_difference_update(names)
        ts = m.ts_ns / 1e9 if m.ts_ns else pipe.ts_of_frame(m.frame)
        frames = m.frames
        if r.threshold is not None:
            fired = _threshold(r, m, ts, counters)
            if fired is None:
                continue
            frames = fired
        if r.noalert or r.action == "pass":
            continue
        per_rule[m.rule] += 1
        if per_rule[m.rule] > MAX_ALERTS_PER_RULE:
            key = f"{r.gid}:{r.sid}"
            suppressed[key] = suppressed.get(key, 0) + 1
            continue
        alerts.append(
            Alert(
                time=ts,
                gid=r.gid,
                sid=r.sid,
                rev=r.rev,
                msg=r.msg,
                classification=r.classification,
                priority=r.effective_priority,
                proto=PROTO_NAMES.get(m.proto, str(m.proto)),
                src=halves_to_addr(*m.src),
                sport=m.sport if m.proto in (6, 17) else None,
                dst=halves_to_addr(*m.dst),
                dport=m.dport if m.proto in (6, 17) else None,
                frame=m.frame,
                frames=frames,
                flow_uid=pipe.uid(m.flow) if 0 <= m.flow < n_flows else None,
                buffer=m.buffer,
                rule_source=r.source,
            )
        )
    alerts.sort(key=lambda a: (a.frame, a.sid))
    return alerts


def _flowbits_ok(r: Rule, fb: set[str]) -> bool:
    for cmd, names in r.flowbits:
        if cmd == "isset" and not all(n in fb for n in names):
            return False
        if cmd == "isset_any" and not any(n in fb for n in names):
            return False
        if cmd == "isnotset" and any(n in fb for n in names):
            return False
    return True


def _threshold(r: Rule, m: _Match, ts: float, counters: dict) -> list[int] | None:
    """Snort 2 event filters: the window starts at the first event of a track key and resets
    once ``seconds`` have passed. Returns the evidence frames when the event alerts."""
    th = r.threshold
    assert th is not None
    key = (m.rule, m.src if th.track == "by_src" else m.dst)
    st = counters.get(key)
    if st is None or ts - st[0] > th.seconds:
        st = counters[key] = [ts, 0, [], 0]  # window start, count, frames, alerts in window
    st[1] += 1
    if len(st[2]) < 200:
        st[2].append(m.frame)
    count = st[1]
    if th.kind == "limit":
        ok = count <= th.count
    elif th.kind == "threshold":
        ok = count % th.count == 0
    elif th.kind == "both":
        ok = count == th.count
    else:  # detection_filter: every event past the count
        ok = count > th.count
    if not ok:
        return None
    frames = list(st[2]) if th.kind in ("threshold", "both") else [m.frame]
    if th.kind == "threshold":
        st[2] = []
    return frames


# -- analyze integration ---------------------------------------------------------------------

_SEVERITY_BY_PRIORITY = {1: "high", 2: "medium", 3: "low"}


def alerts_as_findings(alerts: list[Alert], ctx_or_label: Any = "CAP") -> list:
    """One Finding per rule (gid:sid) with every alert's frames and flows as evidence, and the
    command that shows them. *ctx_or_label* is an AnalysisContext or the capture's name."""
    import shlex

    from honeysift.analysis.model import Evidence, Finding

    label = getattr(ctx_or_label, "capture_label", ctx_or_label)
    groups: dict[tuple[int, int], list[Alert]] = defaultdict(list)
    for a in alerts:
        groups[(a.gid, a.sid)].append(a)
    out = []
    for (_gid, sid), items in sorted(groups.items(), key=lambda kv: kv[1][0].frame):
        first = items[0]
        frames = sorted({f for a in items for f in a.frames})[:200]
        flows = list(dict.fromkeys(a.flow_uid for a in items if a.flow_uid))[:200]
        hosts = list(dict.fromkeys(h for a in items for h in (a.src, a.dst)))[:50]
        srcs = sorted({a.src for a in items})
        detail = (
            f"{len(items)} alert(s) of rule {first.key} ({first.classification or 'unclassified'}) "
            f"from {', '.join(srcs[:5])}{' ...' if len(srcs) > 5 else ''}; first at frame "
            f"{first.frame} ({first.proto} {first.src}:{first.sport} -> {first.dst}:{first.dport})"
        )
        out.append(
            Finding(
                severity=_SEVERITY_BY_PRIORITY.get(first.priority, "info"),
                title=f"Alert: {first.msg}",
                detail=detail,
                evidence=Evidence(frames, flows, f"sid {sid}"),
                command=f"honeysift show {shlex.quote(str(label))} -V -Y "
                f"'frame.number == {first.frame}'",
                category="alert",
                hosts=hosts,
                time=first.time,
            )
        )
    return out
