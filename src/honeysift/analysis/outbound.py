"""What the honeypot itself started: C&C, downloads, lookups, and scanning that means it is
spreading. Replies to inbound connections are not outbound (the flow table's originator)."""

from __future__ import annotations

from collections import defaultdict

from honeysift.analysis.context import AnalysisContext
from honeysift.analysis.flowsel import RowView
from honeysift.analysis.model import AnalyzerResult, Evidence, Finding, TimelineEvent
from honeysift.analysis.surface import service_name
from honeysift.protocols import dns

SCAN_MIN_DESTINATIONS = 20


def analyze_outbound(ctx: AnalysisContext) -> AnalyzerResult:
    res = AnalyzerResult()
    f = ctx.flows
    c = f.columns
    idx = ctx.flows_where(inbound=False)
    if not idx:
        res.extra["outbound"] = []
        return res
    proto = f.column("proto")
    rh = f.column("resp_h")
    rp = RowView(c["resp_p"])
    svc = f.column("service")
    state = f.column("conn_state")
    start = RowView(c["start_ns"], 1e9)
    ob = RowView(c["orig_payload_bytes"])
    rb = RowView(c["resp_payload_bytes"])
    ff = RowView(c["first_frame"])
    uid = RowView(None, get=ctx.pipe.uid)
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i in idx:
        groups[(proto[i], rp[i])].append(i)
    out = []
    for (p, port), rows in sorted(groups.items(), key=lambda kv: start[kv[1][0]]):
        dests = list(dict.fromkeys(rh[i] for i in rows))
        services = {str(svc[i]) for i in rows if svc[i]}
        established = [i for i in rows if state[i] not in ("S0", "REJ", "RSTOS0", "OTH")]
        kind = _kind(p, port, services, len(dests))
        entry = {
            "proto": p,
            "port": port,
            "service": ", ".join(sorted(services)) or service_name(p, port),
            "kind": kind,
            "flows": len(rows),
            "established": len(established),
            "destinations": dests[:200],
            "destination_count": len(dests),
            "bytes_sent": sum(ob[i] for i in rows),
            "bytes_received": sum(rb[i] for i in rows),
            "first": start[rows[0]],
            "last": max(start[i] for i in rows),
            "evidence": Evidence(
                [ff[i] for i in rows[:20]], [str(uid[i]) for i in rows[:20]]
            ).to_dict(),
            "command": ctx.cmd(
                "flows",
                f"{p} and dst port {port} and ({' or '.join('src host ' + h for h in ctx.honeypots)})",
            ),
        }
        if kind == "dns":
            entry["queries"] = _dns_queries(ctx, rows)
        out.append(entry)
        ev = Evidence([ff[i] for i in rows[:20]], [str(uid[i]) for i in rows[:20]])
        if kind == "scan":
            res.findings.append(
                Finding(
                    "critical",
                    f"The honeypot scans {p}/{port}: {len(dests)} destinations (propagation)",
                    f"{len(rows)} connections from the honeypot to {len(dests)} hosts on {p}/{port}",
                    ev,
                    entry["command"],
                    "outbound",
                    ctx.honeypots,
                    start[rows[0]],
                )
            )
        elif kind == "irc":
            res.findings.append(
                Finding(
                    "high",
                    f"The honeypot connects to IRC servers on {p}/{port}",
                    f"{len(rows)} connection(s) to {', '.join(dests[:5])}; see the IRC section",
                    ev,
                    ctx.cmd("irc"),
                    "botnet",
                    dests,
                    start[rows[0]],
                )
            )
        res.timeline.append(
            TimelineEvent(
                start[rows[0]],
                "outbound",
                f"honeypot starts {kind} traffic to {p}/{port} ({dests[0]}{' and more' if len(dests) > 1 else ''})",
                dests[:5],
                ev,
                entry["command"],
            )
        )
    res.extra["outbound"] = out
    return res


def _kind(proto: str, port: int, services: set[str], ndest: int) -> str:
    if "irc" in services or (proto == "tcp" and (6660 <= port <= 6670 or port == 7000)):
        return "irc"
    if proto == "udp" and port == 53 or "dns" in services:
        return "dns"
    if ndest >= SCAN_MIN_DESTINATIONS:
        return "scan"
    if "http" in services or port in (80, 8080):
        return "http"
    if port in (139, 445, 135, 1434):
        return "propagation"
    if "ftp" in services or port == 21:
        return "ftp"
    if proto == "udp" and port == 69:
        return "tftp"
    return "other"


def _dns_queries(ctx: AnalysisContext, rows: list[int]) -> list[dict]:
    from honeysift.analysis.udp_services import _ToHoneypot
    from honeysift.streams.payloads import iter_payloads

    seen: dict[str, dict] = {}
    for p in iter_payloads(ctx.cap, _ToHoneypot(ctx, "udp and port 53", "any"), limit=5000):
        m = dns.parse(p.data)
        for q in m.questions:
            name = q.name if isinstance(q.name, str) else str(q.name)
            e = seen.setdefault(name, {"name": name, "queries": 0, "answers": [], "frames": []})
            if m.response:
                for a in m.answers:
                    v = getattr(a, "data", None)
                    if v is not None and str(v) not in e["answers"]:
                        e["answers"].append(str(v))
            else:
                e["queries"] += 1
            e["frames"].append(p.frame)
    return list(seen.values())[:200]
