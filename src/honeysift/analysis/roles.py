"""Which hosts are the honeypots: given by the analyst, or inferred from who gets attacked.

Inference: a honeypot is a host that many distinct remote hosts start connections to (it
offers services nobody should use). The host with the most distinct initiators wins when the
count is clear; hosts close to it (same /16, at least half as many initiators) join it, as
a honeynet often has several. With too few initiators, or no clear winner, the report says
plainly that no honeypot is evident instead of inventing one.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field

#: Initiator methods that say who started a connection (not a guess from the first packet).
_SURE = {"syn", "synack", "icmp-request", "port"}


@dataclass(slots=True)
class Roles:
    honeypots: list[str]
    method: str  # how they were decided, in words
    confidence: str  # "given", "high", "medium", "low", "none"
    reasons: list[str] = field(default_factory=list)
    candidates: list[dict] = field(default_factory=list)  # top hosts by distinct initiators

    def to_dict(self) -> dict:
        return {
            "honeypots": self.honeypots,
            "method": self.method,
            "confidence": self.confidence,
            "reasons": self.reasons,
            "candidates": self.candidates,
        }


def _private(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr).is_private
    except ValueError:
        return False


def _same16(a: str, b: str) -> bool:
    try:
        na = ipaddress.ip_network(f"{a}/{16 if ':' not in a else 48}", strict=False)
        return ipaddress.ip_address(b) in na
    except ValueError:
        return False


def detect(flows, given: list[str] | None = None, min_initiators: int = 5) -> Roles:
    if given:
        nets = []
        for g in given:
            try:
                nets.append(
                    str(ipaddress.ip_network(g, strict=False))
                    .removesuffix("/32")
                    .removesuffix("/128")
                )
            except ValueError:
                continue
        return Roles(
            nets, "given with --honeypot", "given", [f"the analyst named {', '.join(nets)}"]
        )
    oh, rh = flows.column("orig_h"), flows.column("resp_h")
    method = (
        flows.columns["orig_method"].tolist()
        if "orig_method" in flows.columns
        else ["syn"] * len(flows)
    )
    initiators: dict[str, set[str]] = defaultdict(set)
    talks: dict[str, int] = defaultdict(int)
    for o, r, m in zip(oh, rh, method, strict=True):
        talks[o] += 1
        talks[r] += 1
        if m in _SURE:
            initiators[r].add(o)
    ranked = sorted(initiators.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    cands = [
        {"ip": h, "distinct_initiators": len(s), "flows": talks[h], "private": _private(h)}
        for h, s in ranked[:10]
    ]
    if not ranked or len(ranked[0][1]) < min_initiators:
        best = f"{ranked[0][0]} ({len(ranked[0][1])} distinct initiators)" if ranked else "none"
        return Roles(
            [],
            "inferred: no host is contacted by enough distinct remote hosts",
            "none",
            [
                f"a honeypot is a host that many remote hosts start connections to; the best candidate "
                f"is {best}, fewer than {min_initiators}: no honeypot is evident. Name one with --honeypot."
            ],
            cands,
        )
    top, top_set = ranked[0]
    n_top = len(top_set)
    second = len(ranked[1][1]) if len(ranked) > 1 else 0
    # a honeynet: every host that many remote hosts start connections to and that sits next to
    # another such host (same /16, or /48 for IPv6), or on a private address like the top one
    floor = max(min_initiators, n_top // 20)
    busy = [h for h, s in ranked if len(s) >= floor]
    chosen = [top]
    for h in busy[1:]:
        if any(_same16(h, o) for o in busy if o != h) or (_private(h) and _private(top)):
            chosen.append(h)
    chosen_set = set(chosen)
    share = sum(1 for o, r in zip(oh, rh, strict=True) if o in chosen_set or r in chosen_set) / max(
        1, len(flows)
    )
    if n_top >= 10 and n_top >= 2 * max(second, 1) or len(chosen) > 1 and n_top >= 10:
        confidence = "high"
    elif n_top >= min_initiators:
        confidence = "medium"
    else:
        confidence = "low"
    reasons = [
        f"{top} is the host the most distinct remote hosts started connections to ({n_top}; next best {second})",
        f"the chosen host(s) take part in {share:.0%} of all flows",
    ]
    if len(chosen) > 1:
        reasons.append(
            f"{len(chosen) - 1} more host(s) next to it (same /16 or /48, or private like it) are each "
            f"contacted by at least {floor} distinct initiators: a honeynet"
        )
    if _private(top):
        reasons.append(f"{top} is a private address: the capture's local side")
    return Roles(
        chosen,
        "inferred from the distinct hosts that initiate connections to each host",
        confidence,
        reasons,
        cands,
    )
