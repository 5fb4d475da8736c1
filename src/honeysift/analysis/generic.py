"""Everything no specific analyzer covers: payload-bearing inbound flows grouped by destination
port and payload cluster, so nothing is silently skipped."""

from __future__ import annotations

import hashlib

from honeysift.analysis.context import AnalysisContext
from honeysift.analysis.flowsel import RowView
from honeysift.analysis.model import AnalyzerResult, Evidence, Finding
from honeysift.safe_text import safe_bytes

PREFIX = 64  # bytes of the first payload that define a cluster
MAX_FLOWS_PER_SERVICE = 500


def analyze_generic(
    ctx: AnalysisContext, services: dict, covered: set[tuple[str, int]]
) -> AnalyzerResult:
    res = AnalyzerResult()
    f = ctx.flows
    c = f.columns
    oh = f.column("orig_h")
    ff = RowView(c["first_frame"])
    uid = RowView(None, get=ctx.pipe.uid)
    opay = RowView(c["orig_payload_bytes"])
    rpay = RowView(c["resp_payload_bytes"])
    other = []
    todo = {k: v for k, v in services.items() if k not in covered and v.attackers}
    tcp_flows = [
        i
        for (p, _), v in todo.items()
        if p == "tcp"
        for i in v.details.get("flows", [])[:MAX_FLOWS_PER_SERVICE]
        if opay[i] > 0
    ]
    ctx.load_streams(tcp_flows)
    udp_flows = [
        i
        for (p, _), v in todo.items()
        if p == "udp"
        for i in v.details.get("flows", [])[:MAX_FLOWS_PER_SERVICE]
        if opay[i] > 0
    ]
    udp = _first_datagrams(ctx, udp_flows)
    for (proto, port), svc in sorted(todo.items()):
        clusters: dict[str, dict] = {}
        for i in svc.details.get("flows", [])[:MAX_FLOWS_PER_SERVICE]:
            if opay[i] <= 0:
                continue
            first = _first_payload(ctx, proto, i, udp)
            key = hashlib.md5(first[:PREFIX]).hexdigest()
            cl = clusters.setdefault(
                key,
                {
                    "count": 0,
                    "hosts": [],
                    "size_min": None,
                    "size_max": 0,
                    "answered": 0,
                    "preview": safe_bytes(first[:PREFIX]),
                    "frames": [],
                    "flows": [],
                },
            )
            cl["count"] += 1
            if oh[i] not in cl["hosts"]:
                cl["hosts"].append(oh[i])
            cl["size_min"] = opay[i] if cl["size_min"] is None else min(cl["size_min"], opay[i])
            cl["size_max"] = max(cl["size_max"], opay[i])
            cl["answered"] += int(rpay[i] > 0)
            if len(cl["frames"]) < 10:
                cl["frames"].append(ff[i])
                cl["flows"].append(str(uid[i]))
        groups = sorted(clusters.values(), key=lambda g: -g["count"])
        answered = sum(g["answered"] for g in groups)
        svc.details["clusters"] = groups
        svc.reasons = [
            f"{len(svc.attackers)} host(s) sent payload in {sum(g['count'] for g in groups)} connection(s), "
            f"{len(groups)} distinct first-{PREFIX}-byte pattern(s); the honeypot answered {answered}",
            "no analyzer knows this service: look at the payloads to decide",
        ]
        svc.verdict = "unknown"
        svc.command = ctx.cmd("payloads", f"{proto} and dst port {port} --group")
        other.append(
            {
                "proto": proto,
                "port": port,
                "name": svc.name,
                "clusters": groups,
                "command": svc.command,
            }
        )
        if groups:
            res.findings.append(
                Finding(
                    "low" if not answered else "medium",
                    f"Unclassified payload to {proto}/{port} ({svc.name}) from {len(svc.attackers)} host(s)",
                    svc.reasons[0],
                    Evidence(
                        [fr for g in groups for fr in g["frames"]][:30],
                        [u for g in groups for u in g["flows"]][:30],
                    ),
                    svc.command,
                    "attack",
                    list(svc.attackers)[:20],
                )
            )
    res.extra["other_traffic"] = other
    return res


def _first_payload(ctx: AnalysisContext, proto: str, i: int, udp: dict[int, bytes]) -> bytes:
    if proto == "tcp":
        ds = ctx.stream(i, 0)
        if ds is None:
            return b""
        with ds.stream.open() as fh:
            return fh.read(PREFIX)
    return udp.get(i, b"")


def _first_datagrams(ctx: AnalysisContext, flows: list[int]) -> dict[int, bytes]:
    """The first datagram payload the originator sent in each of these UDP flows (one pass)."""
    import numpy as np

    f = ctx.flows
    if f.packet_flow is None or not flows:
        return {}
    pf, pd = f.packet_flow, f.packet_dir
    want = np.fromiter(flows, dtype=np.int64)
    idx = np.flatnonzero(np.isin(pf, want) & (pd == 0))
    uniq, first = np.unique(pf[idx], return_index=True)
    frames = {int(idx[k]) + 1: int(fl) for fl, k in zip(uniq.tolist(), first.tolist(), strict=True)}
    out: dict[int, bytes] = {}
    if not frames:
        return out
    target = np.fromiter(frames, dtype=np.uint64)
    for t in ctx.cap.chunks():
        for r in np.flatnonzero(np.isin(t.frame, target)).tolist():
            out[frames[int(t.frame[r])]] = ctx.cap.payload(t, r)
    return out
