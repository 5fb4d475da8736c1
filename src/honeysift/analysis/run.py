"""``honeysift analyze``: every analyzer run on one capture, assembled into one report.

Order matters only where a later step uses an earlier one's result: backdoors are linked to
the logons and uploads found before them; the generic step takes whatever no analyzer claimed.
An analyzer that fails on hostile input does not sink the report: the failure is recorded in
``analysis_errors`` (and printed as a warning) and the rest is still reported.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from honeysift.analysis.context import AnalysisContext
from honeysift.analysis.hosts import RemoteHost, remote_hosts
from honeysift.analysis.model import (
    SEVERITIES,
    AnalyzerResult,
    CarvedFile,
    Evidence,
    Finding,
    ServiceVerdict,
    TimelineEvent,
)
from honeysift.analysis.roles import Roles, detect
from honeysift.analysis.surface import inbound_services
from honeysift.capture.reader import Capture
from honeysift.memory import trim
from honeysift.pipeline import Pipeline

SCHEMA_VERSION = 1
ALERTS_AUTO_MAX_PACKETS = 1_000_000
_COVERED = {("tcp", 139), ("tcp", 445), ("tcp", 80), ("udp", 1434), ("udp", 137)}


@dataclass
class Report:
    capture: dict[str, Any]
    roles: Roles
    remote_hosts: list[RemoteHost] = field(default_factory=list)
    services: list[ServiceVerdict] = field(default_factory=list)
    irc: dict[str, Any] = field(default_factory=dict)
    files: list[CarvedFile] = field(default_factory=list)
    backdoors: list[dict] = field(default_factory=list)
    outbound: list[dict] = field(default_factory=list)
    other_traffic: list[dict] = field(default_factory=list)
    timeline: list[TimelineEvent] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    sections: dict[str, Any] = field(
        default_factory=dict
    )  # analyzer-specific (smb, http, transfers)
    answers: dict[str, Any] = field(default_factory=dict)
    analysis_errors: list[str] = field(default_factory=list)
    flow_count: int = 0
    remote_host_count: int = 0  # all of them; remote_hosts lists at most MAX_LISTED_HOSTS

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "capture": self.capture,
            "honeypots": [
                {"ip": h, "method": self.roles.method, "confidence": self.roles.confidence}
                for h in self.roles.honeypots
            ],
            "roles": self.roles.to_dict(),
            "remote_hosts": [h.to_dict() for h in self.remote_hosts],
            "services": [s.to_dict() for s in self.services],
            "irc": self.irc,
            "files": [f.to_dict() for f in self.files],
            "backdoors": self.backdoors,
            "outbound": self.outbound,
            "other_traffic": self.other_traffic,
            "timeline": [e.to_dict() for e in self.timeline],
            "findings": [f.to_dict() for f in self.findings],
            "sections": self.sections,
            "answers": self.answers,
            "analysis_errors": self.analysis_errors,
            "flow_count": self.flow_count,
            "remote_host_count": self.remote_host_count,
        }


def analyze(
    cap: Capture,
    *,
    honeypots: list[str] | None = None,
    label: str | None = None,
    link_kbps: float = 56.0,
    summary=None,
    alerts: str = "auto",
) -> Report:
    """``alerts``: "on", "off", or "auto" (the built-in rules run when the capture has at most
    ALERTS_AUTO_MAX_PACKETS packets: their per-packet matching is the costliest step on big
    captures; `honeysift alerts` runs them alone)."""
    from honeysift.analysis.irc_capture import irc_report
    from honeysift.capture.summary import SummaryBuilder

    builder = None if summary is not None else SummaryBuilder(cap)
    pipe = Pipeline(cap, on_chunk=builder.add if builder is not None else None)
    flows = pipe.flows
    if builder is not None:  # gathered from the pass that built the flows
        summary = builder.finish()
    roles = detect(flows, honeypots)
    ctx = AnalysisContext(cap, pipe, roles.honeypots, capture_label=label or cap.name)
    rep = Report(capture=summary.to_dict(), roles=roles, flow_count=len(flows))

    def run(name: str, fn, *args) -> AnalyzerResult:
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - one analyzer must not sink the report
            where = traceback.extract_tb(exc.__traceback__)[-1]
            rep.analysis_errors.append(
                f"{name}: {type(exc).__name__}: {exc} (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
            )
            return AnalyzerResult()
        finally:
            trim()  # the analyzer's temporaries: back to the OS before the next one peaks

    irc = None
    try:
        irc = irc_report(pipe, link_kbps)
        rep.irc = irc.to_dict()
    except Exception as exc:  # noqa: BLE001
        rep.analysis_errors.append(f"irc: {type(exc).__name__}: {exc}")

    services: dict[tuple[str, int], ServiceVerdict] = {}
    results: list[AnalyzerResult] = []
    if roles.honeypots:
        rep.remote_hosts = remote_hosts(ctx)
        rep.remote_host_count = ctx.__dict__.get("_remote_host_count", len(rep.remote_hosts))
        services = inbound_services(ctx)
        from honeysift.analysis.backdoors import analyze_backdoors
        from honeysift.analysis.generic import analyze_generic
        from honeysift.analysis.http import analyze_http
        from honeysift.analysis.outbound import analyze_outbound
        from honeysift.analysis.smb import analyze_smb
        from honeysift.analysis.transfers import analyze_transfers
        from honeysift.analysis.udp_services import analyze_nbns, analyze_slammer

        for name, fn, args in (
            ("smb", analyze_smb, (ctx,)),
            ("http", analyze_http, (ctx,)),
            ("slammer", analyze_slammer, (ctx, services)),
            ("nbns", analyze_nbns, (ctx, services)),
        ):
            r = run(name, fn, *args)
            _merge_services(services, r.services)
            results.append(r)
        compromise = [e for r in results for e in r.timeline if e.kind in ("logon", "upload")]
        results.append(run("transfers", analyze_transfers, ctx, irc))
        bd = run("backdoors", analyze_backdoors, ctx, services, compromise)
        results.append(bd)
        rep.backdoors = bd.extra.get("backdoors", [])
        covered = _COVERED | {(b["proto"], b["port"]) for b in rep.backdoors}
        ob = run("outbound", analyze_outbound, ctx)
        results.append(ob)
        rep.outbound = ob.extra.get("outbound", [])
        packets = int(rep.capture.get("packets") or 0)
        if alerts == "on" or (alerts == "auto" and packets <= ALERTS_AUTO_MAX_PACKETS):
            al = run("alerts", _alerts, ctx)
            results.append(al)
            rep.sections["alerts"] = al.extra.get("alerts", {})
        else:
            why = (
                "--no-alerts"
                if alerts == "off"
                else f"{packets:,} packets, more than {ALERTS_AUTO_MAX_PACKETS:,}"
            )
            rep.sections["alerts"] = {"skipped": why, "command": ctx.cmd("alerts")}
        gen = run("generic", analyze_generic, ctx, services, covered)
        results.append(gen)
        rep.other_traffic = gen.extra.get("other_traffic", [])
        for r in results:
            for k, v in r.extra.items():
                if k in ("smb", "http", "transfers"):
                    rep.sections[k] = v
            rep.files.extend(r.files)
            rep.findings.extend(r.findings)
            rep.timeline.extend(r.timeline)
    else:
        rep.findings.append(
            Finding(
                "info",
                "No honeypot evident",
                " ".join(roles.reasons),
                Evidence(),
                f"honeysift analyze {label or cap.name} --honeypot IP",
                "roles",
            )
        )
    for s in services.values():
        s.details.pop("flows", None)
    rep.services = sorted(services.values(), key=lambda s: (s.proto, s.port))
    rep.timeline.extend(_first_probes(ctx, rep.services))
    if irc is not None:
        rep.timeline.extend(_irc_events(ctx, rep.irc))
        rep.findings.extend(_irc_findings(ctx, rep.irc))
    rep.timeline.sort(key=lambda e: (e.time, e.kind))
    order = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    rep.findings.sort(key=lambda f: (order.get(f.severity, 9), f.time if f.time is not None else 0))
    rep.files = _dedupe_files(rep.files)
    rep.answers = _answers(rep)
    return rep


def _alerts(ctx: AnalysisContext) -> AnalyzerResult:
    """The built-in signature rules, as findings (one per rule, every frame as evidence)."""
    from honeysift.detect.alerts import alerts_as_findings, run_alerts

    rep = run_alerts(ctx.cap, (), builtin=True, honeypots=ctx.honeypots, pipe=ctx.pipe)
    res = AnalyzerResult(findings=alerts_as_findings(rep.alerts, ctx))
    by_sid: dict[int, int] = {}
    for a in rep.alerts:
        by_sid[a.sid] = by_sid.get(a.sid, 0) + 1
    res.extra["alerts"] = {
        "count": len(rep.alerts),
        "by_sid": {str(k): v for k, v in sorted(by_sid.items())},
        # rules a crafted payload pushed past the pcre match limit (no match there)
        "pcre_limits": [h.to_dict() for h in rep.pcre_limits],
    }
    return res


def _merge_services(services: dict, new: list[ServiceVerdict]) -> None:
    for s in new:
        key = (s.proto, s.port)
        old = services.get(key)
        if old is not None:
            s.details.setdefault("flows", old.details.get("flows", []))
            if not s.probers:
                s.probers = old.probers
        services[key] = s


def _first_probes(ctx: AnalysisContext, services: list[ServiceVerdict]) -> list[TimelineEvent]:
    out = []
    for s in services:
        if not s.evidence.frames:
            continue
        fr = min(s.evidence.frames)
        who = (s.attackers or s.probers or ["?"])[0]
        out.append(
            TimelineEvent(
                ctx.ts_of_frame(fr),
                "probe",
                f"first contact with {s.proto}/{s.port} ({s.name}) from {who}",
                [who],
                Evidence([fr]),
                s.command,
            )
        )
    return out


def _irc_events(ctx: AnalysisContext, irc: dict) -> list[TimelineEvent]:
    out = []
    for sess in irc.get("sessions", []):
        for ch in sess.get("channels", []):
            t = ch.get("joined") if isinstance(ch, dict) else None
            if t:
                name = ch.get("channel", "?")
                frames = [ch["join_frame"]] if ch.get("join_frame") else []
                out.append(
                    TimelineEvent(
                        float(t),
                        "irc-join",
                        f"{sess.get('client')} joins {name} on {sess.get('server')}:{sess.get('server_port')}",
                        [sess.get("server", "")],
                        Evidence(frames),
                        ctx.cmd("irc"),
                    )
                )
    return out


def _irc_findings(ctx: AnalysisContext, irc: dict) -> list[Finding]:
    out = []
    for b in irc.get("botnets", []):
        union = b.get("union_hosts", 0)
        out.append(
            Finding(
                "high",
                f"Botnet channel {b.get('channel')} on {b.get('server')}: {union} distinct hosts seen",
                f"JOIN hosts {b.get('join_hosts')}, QUIT hosts {b.get('quit_hosts')}, union {union}; "
                f"commands seen: {len(b.get('commands', []))}",
                Evidence(),
                ctx.cmd("irc"),
                "botnet",
                [b.get("server", "")],
            )
        )
    return out


def _dedupe_files(files: list[CarvedFile]) -> list[CarvedFile]:
    seen = set()
    out = []
    for f in files:
        key = (f.sha256, f.protocol, f.src, f.dst, f.name)
        if key in seen:
            continue
        seen.add(key)
        out.append(f)
    return out


def _answers(rep: Report) -> dict[str, Any]:
    """The write-up's beginning and intermediate questions, answered from the report."""
    irc = rep.irc or {}
    servers = irc.get("servers", [])
    botnets = irc.get("botnets", [])
    return {
        "irc_servers_contacted": [s.get("server") for s in servers],
        "irc_servers_outcomes": {s.get("server"): s.get("best_outcome") for s in servers},
        "irc_servers_successful": [
            s.get("server") for s in servers if s.get("best_outcome") in ("joined", "registered")
        ],
        "botnet_sizes": [
            {
                "server": b.get("server"),
                "channel": b.get("channel"),
                "union_hosts": b.get("union_hosts"),
                "join_hosts": b.get("join_hosts"),
                "quit_hosts": b.get("quit_hosts"),
                "lusers_global_users": [x.get("global_users") for x in b.get("lusers", [])],
                "names": [x.get("nicks") for x in b.get("names", [])],
                "bandwidth_kbps": b.get("bandwidth_kbps"),
            }
            for b in botnets
        ],
        "remote_ip_count": rep.remote_host_count or len(rep.remote_hosts),
        "attacked_services": [
            f"{s.proto}/{s.port} ({s.name})" for s in rep.services if s.attackers
        ],
        "successful_attacks": [
            f"{s.proto}/{s.port} ({s.name})" for s in rep.services if s.verdict == "succeeded"
        ],
        "files_transferred": [f.name for f in rep.files],
        "backdoors": [
            f"{b['proto']}/{b['port']} ({b['service']})"
            for b in rep.backdoors
            if b.get("answered_connections")
        ],
        "outbound": [
            f"{o['kind']} {o['proto']}/{o['port']} to {o['destination_count']} host(s)"
            for o in rep.outbound
        ],
    }
