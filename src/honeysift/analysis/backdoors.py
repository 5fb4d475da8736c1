"""Services that appear after a compromise: the honeypot answering on a port it did not answer
before (the write-up's radmin on tcp/4899), and probes of known trojan ports."""

from __future__ import annotations

from bisect import bisect_right

import numpy as np
import pyarrow.compute as pc

from honeysift.analysis.context import AnalysisContext
from honeysift.analysis.flowsel import RowView
from honeysift.analysis.model import (
    AnalyzerResult,
    Evidence,
    Finding,
    ServiceVerdict,
    TimelineEvent,
)
from honeysift.analysis.surface import BACKDOOR_PORTS
from honeysift.flows import LABELS

_FAILED = {"S0", "REJ", "RSTOS0", "SH"}
#: Ports a default Windows 2000 server answers on (not new when they answer).
WINDOWS_DEFAULT_TCP = {
    21,
    25,
    42,
    53,
    80,
    88,
    119,
    135,
    139,
    389,
    443,
    445,
    464,
    563,
    593,
    636,
    1025,
    1026,
    1027,
    1433,
    3268,
    3269,
    3372,
    3389,
}


def analyze_backdoors(
    ctx: AnalysisContext, services: dict, compromise: list[TimelineEvent]
) -> AnalyzerResult:
    res = AnalyzerResult()
    f = ctx.flows
    c = f.columns
    # numpy over the services' flows, not whole columns as Python lists (two million flows)
    start_ns = c["start_ns"]
    start = RowView(start_ns, 1e9)
    ff = RowView(c["first_frame"])
    uid = RowView(None, get=ctx.pipe.uid)
    oh = f.column("orig_h")
    rpay, opay = c["resp_payload_bytes"], c["orig_payload_bytes"]
    failed = np.flatnonzero(np.isin(LABELS["conn_state"], list(_FAILED)))
    live = ~np.isin(f.codes["conn_state"], failed)
    has_h = np.asarray(pc.match_substring(f.codes["history"], "h"), dtype=bool)
    tcp_answered = live & (has_h | (rpay > 0))
    udp_answered = c["resp_pkts"] > 0
    comp = sorted(compromise, key=lambda e: e.time)
    comp_times = [e.time for e in comp]
    entries = []
    for (proto, port), svc in services.items():
        idx = np.asarray(svc.details.get("flows", []), dtype=np.int64)
        if not idx.size:
            continue
        idx = idx[np.argsort(start_ns[idx], kind="stable")]
        ok = (tcp_answered if proto == "tcp" else udp_answered)[idx]
        answered = idx[ok]
        known = BACKDOOR_PORTS.get((proto, port))
        if not answered.size:
            if known:
                entries.append(
                    _unanswered(ctx, svc, proto, port, known, idx.tolist(), ff, uid, oh, res)
                )
            continue
        first = int(answered[0])
        t_first = start_ns[first]
        before = idx[(start_ns[idx] < t_first) & ~ok].tolist()
        after = start_ns[idx] >= t_first
        refused_after = int((after & ~ok).sum())
        talked = bool(((rpay[answered] > 0) & (opay[answered] > 0)).any())
        # a service that appeared: refused before, then (nearly) always answered, with a real
        # exchange; a port a scanner sees answered and refused at random is not one
        clean = refused_after <= 0.2 * int(after.sum()) and talked
        prior = comp[: bisect_right(comp_times, start[first])]
        answered = answered.tolist()
        # refused before and answered since (on a port a default Windows 2000 does not open),
        # or a known backdoor port answering: either way with a clean switch, not scan noise
        is_new = clean and (
            (bool(before) and proto == "tcp" and port not in WINDOWS_DEFAULT_TCP) or bool(known)
        )
        if not is_new:
            continue
        link = None
        if prior:
            same = [e for e in prior if oh[first] in e.hosts]
            link = (same or prior)[-1]
        why = []
        if before:
            why.append(f"{len(before)} earlier connection attempt(s) were refused or unanswered")
        why.append(
            f"the honeypot first answered on {proto}/{port} at frame {ff[first]} (client {oh[first]})"
        )
        if known:
            why.append(f"{proto}/{port} is the usual port of {known}")
        if link:
            why.append(f"it follows '{link.summary}'")
        entry = {
            "proto": proto,
            "port": port,
            "service": known or svc.name,
            "first_answer": start[first],
            "first_answer_frame": ff[first],
            "client": oh[first],
            "failed_before": len(before),
            "answered_connections": len(answered),
            "linked_to": link.to_dict() if link else None,
            "reasons": why,
            "evidence": Evidence(
                [ff[i] for i in (before[:10] + answered[:10])],
                [str(uid[i]) for i in (before + answered)[:30]],
            ).to_dict(),
            "command": ctx.cmd("flows", f"{proto} and port {port}"),
        }
        entries.append(entry)
        svc.verdict = "succeeded"
        svc.reasons = [f"a backdoor answered here: {'; '.join(why)}"]
        svc.details["backdoor"] = True
        ev = Evidence([ff[first]] + [ff[i] for i in before[:10]], [str(uid[first])])
        res.findings.append(
            Finding(
                "critical",
                f"New service on the honeypot: {proto}/{port} ({known or svc.name}) answered after the compromise",
                "; ".join(why),
                ev,
                entry["command"],
                "backdoor",
                [oh[first]],
                start[first],
            )
        )
        res.timeline.append(
            TimelineEvent(
                start[first],
                "new-service",
                f"honeypot answers on {proto}/{port} ({known or svc.name}) to {oh[first]}",
                [oh[first]],
                ev,
                entry["command"],
            )
        )
    res.extra["backdoors"] = entries
    return res


def _unanswered(ctx, svc: ServiceVerdict, proto, port, known, idx, ff, uid, oh, res) -> dict:
    hosts = list(dict.fromkeys(oh[i] for i in idx))
    svc.verdict = "failed"
    svc.reasons = [
        f"{len(idx)} probe(s) of {proto}/{port} ({known}); the honeypot never answered on it, so no such backdoor was listening"
    ]
    ev = Evidence([ff[i] for i in idx[:20]], [str(uid[i]) for i in idx[:20]])
    res.findings.append(
        Finding(
            "low",
            f"Probe of {known} on {proto}/{port}, unanswered",
            svc.reasons[0],
            ev,
            ctx.cmd("payloads", f"{proto} and port {port}"),
            "attack",
            hosts,
        )
    )
    return {
        "proto": proto,
        "port": port,
        "service": known,
        "first_answer": None,
        "first_answer_frame": None,
        "client": hosts[0] if hosts else None,
        "failed_before": len(idx),
        "answered_connections": 0,
        "linked_to": None,
        "reasons": svc.reasons,
        "evidence": ev.to_dict(),
        "command": ctx.cmd("payloads", f"{proto} and port {port}"),
    }
