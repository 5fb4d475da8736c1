"""The UDP attacks of the write-up: Slammer on udp/1434 and NetBIOS node-status probes on udp/137.

Slammer (MS02-039 / CVE-2002-0649): one 376-byte SQL Server Resolution Protocol datagram of type
0x04 (CLNT_UCAST_INST, [MC-SQLR] 2.2.4) whose "instance name" is the worm. A host it infects
starts sending the same datagram to random addresses at once, so the verdict is "failed" when
the honeypot never sends to udp/1434 afterwards. NetBIOS name service node-status queries
(RFC 1002 4.2.17-18) ask a host for its whole name table: when the honeypot answers, the attack
"succeeded" in disclosing the machine, domain, user and service names.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict

from honeysift.analysis.context import AnalysisContext
from honeysift.analysis.model import (
    AnalyzerResult,
    Evidence,
    Finding,
    ServiceVerdict,
    TimelineEvent,
)
from honeysift.protocols import mssql, nbns
from honeysift.streams.payloads import iter_payloads


def _flt(expr: str):
    from honeysift.filters.bpf import compile_filter

    return compile_filter(expr)


#: Datagrams whose payload is examined per question (all are counted from the flow table).
MAX_PAYLOADS = 20000


class _ToHoneypot:
    """A tcpdump filter plus "the source/destination is a honeypot", evaluated with numpy (a
    honeynet of hundreds of hosts would make a long, slow tcpdump expression)."""

    def __init__(self, ctx: AnalysisContext, expr: str, side: str) -> None:
        self.ctx, self.flt, self.side = ctx, _flt(expr), side

    def mask(self, table, frame_bytes=None):
        m = self.flt.mask(table, frame_bytes)
        dst = self.ctx.honeypot_mask(table.dst_hi, table.dst_lo)
        src = self.ctx.honeypot_mask(table.src_hi, table.src_lo)
        return m & {"dst": dst, "src": src}.get(self.side, dst | src)


def _payloads(ctx: AnalysisContext, expr: str, side: str):
    return list(iter_payloads(ctx.cap, _ToHoneypot(ctx, expr, side), limit=MAX_PAYLOADS))


def analyze_slammer(ctx: AnalysisContext, services: dict) -> AnalyzerResult:
    res = AnalyzerResult()
    svc: ServiceVerdict | None = services.get(("udp", 1434))
    if svc is None or not ctx.honeypots:
        return res
    probes = _payloads(ctx, "udp and dst port 1434", "dst")
    if not probes:
        return res
    groups = Counter(hashlib.md5(p.data).hexdigest() for p in probes)
    worm = [p for p in probes if len(p.data) == 376 and p.data[:1] == b"\x04"]
    sources = list(dict.fromkeys(p.src for p in worm))
    first = min(p.ts for p in probes)
    out_flows = [
        i
        for i in ctx.flows_where(proto=17, resp_port=1434, inbound=False)
        if float(ctx.flows.columns["start_ns"][i]) / 1e9 >= first
    ]
    parsed = mssql.parse(worm[0].data) if worm else None
    details = {
        "datagrams": len(probes),
        "distinct_payloads": len(groups),
        "slammer_like": len(worm),
        "sources": sources,
        "payload_md5": hashlib.md5(worm[0].data).hexdigest() if worm else None,
        "overflow_suspect": bool(parsed and getattr(parsed, "overflow_suspect", False)),
        "honeypot_sent_to_1434_after": len(out_flows),
    }
    frames = [p.frame for p in worm] or [p.frame for p in probes]
    if out_flows:
        verdict, reasons = (
            "succeeded",
            [
                f"after the first probe the honeypot itself sent {len(out_flows)} flow(s) to udp/1434: "
                "that is Slammer spreading from it"
            ],
        )
    else:
        verdict, reasons = (
            "failed",
            [
                f"{len(worm)} identical 376-byte datagrams starting with 0x04 (the Slammer worm) from "
                f"{len(sources)} host(s)",
                "the honeypot never sent anything to udp/1434 afterwards, as an infected host would at once",
            ],
        )
    svc.verdict, svc.reasons = verdict, reasons
    svc.details.update(details)
    svc.evidence = Evidence(frames[:100], svc.evidence.flows)
    svc.command = ctx.cmd("payloads", "udp and port 1434 --group")
    sev = "critical" if verdict == "succeeded" else "medium"
    res.findings.append(
        Finding(
            sev,
            f"Slammer worm probes on udp/1434 ({len(worm)} from {len(sources)} hosts): {verdict}",
            "; ".join(reasons),
            Evidence(frames[:50], svc.evidence.flows[:20]),
            svc.command,
            "attack",
            sources,
            first,
        )
    )
    res.timeline.append(
        TimelineEvent(
            first,
            "probe",
            f"first Slammer probe on udp/1434 from {probes[0].src}",
            [probes[0].src],
            Evidence([probes[0].frame]),
            svc.command,
        )
    )
    return res


_ROLE_BY_SUFFIX = {
    0x00: "workstation",
    0x03: "messenger (user or machine)",
    0x20: "server",
    0x1B: "domain master browser",
    0x1C: "domain controllers",
    0x1D: "master browser",
    0x1E: "browser election",
}


def analyze_nbns(ctx: AnalysisContext, services: dict) -> AnalyzerResult:
    res = AnalyzerResult()
    svc: ServiceVerdict | None = services.get(("udp", 137))
    if svc is None or not ctx.honeypots:
        return res
    queries = _payloads(ctx, "udp and dst port 137", "dst")
    answers = _payloads(ctx, "udp and src port 137", "src")
    qkinds: Counter[str] = Counter()
    distinct = set()
    for q in queries:
        m = nbns.parse(q.data)
        qkinds[m.kind] += 1
        distinct.add(q.data[2:])
    names: dict[str, dict] = {}
    macs: set[str] = set()
    answered_frames = []
    for a in answers:
        m = nbns.parse(a.data)
        got = False
        for rr in m.answers:
            for nn in rr.node_names:
                key = str(nn.name)
                e = names.setdefault(
                    key,
                    {
                        "name": key,
                        "suffix": nn.name.suffix,
                        "meaning": nn.name.suffix_text,
                        "group": nn.group,
                        "times": 0,
                    },
                )
                e["times"] += 1
                got = True
            if rr.unit_id:
                macs.add(rr.unit_id)
        if got:
            answered_frames.append(a.frame)
    disclosed = _classify_names(list(names.values()))
    sources = list(dict.fromkeys(q.src for q in queries))
    svc.details.update(
        {
            "queries": len(queries),
            "query_kinds": dict(qkinds),
            "distinct_queries_ignoring_txid": len(distinct),
            "responses": len(answers),
            "responses_with_names": len(answered_frames),
            "names": list(names.values()),
            "disclosed": disclosed,
            "mac_addresses": sorted(macs),
            "sources": sources,
        }
    )
    svc.command = ctx.cmd("show", "-V -Y 'udp.port == 137'")
    if answered_frames:
        svc.verdict = "succeeded"
        svc.reasons = [
            f"{len(queries)} queries ({len(distinct)} distinct once the transaction id is ignored) from {len(sources)} host(s)",
            f"the honeypot answered {len(answered_frames)} with its name table: "
            + ", ".join(f"{k}: {', '.join(v)}" for k, v in disclosed.items() if v),
            "information leak only: node-status answers change nothing on the honeypot",
        ]
        res.findings.append(
            Finding(
                "medium",
                f"NetBIOS node-status probes disclosed {len(names)} names",
                "; ".join(svc.reasons),
                Evidence(answered_frames[:50], svc.evidence.flows[:20]),
                svc.command,
                "recon",
                sources,
                min(q.ts for q in queries) if queries else None,
            )
        )
    else:
        svc.verdict = "failed"
        svc.reasons = [f"{len(queries)} queries, no answer carried a name table"]
    svc.evidence = Evidence(
        ([q.frame for q in queries][:50] + answered_frames[:50]), svc.evidence.flows
    )
    if queries:
        res.timeline.append(
            TimelineEvent(
                queries[0].ts,
                "probe",
                f"NetBIOS node-status query from {queries[0].src}",
                [queries[0].src],
                Evidence([queries[0].frame]),
                svc.command,
            )
        )
    return res


def _classify_names(names: list[dict]) -> dict[str, list[str]]:
    """Sort disclosed names into machine, domain, users and services (KB 163409 suffixes)."""
    out: dict[str, list[str]] = defaultdict(list)
    machine = {n["name"].split("<")[0] for n in names if n["suffix"] == 0x20 and not n["group"]}
    for n in names:
        base = n["name"].split("<")[0]
        s = n["suffix"]
        if base.startswith(("IS~", "IUSR_", "IWAM_")) or base.startswith("INet~"):
            out["services"].append(n["name"])
        elif n["group"] and s in (0x00, 0x1C, 0x1E):
            out["domain"].append(n["name"])
        elif s in (0x1B, 0x1D) or "__MSBROWSE__" in base:
            out["browser"].append(n["name"])
        elif base in machine:
            out["machine"].append(n["name"])
        elif s == 0x03:
            out["users"].append(n["name"])
        else:
            out["other"].append(n["name"])
    return {k: sorted(set(v)) for k, v in out.items()}
