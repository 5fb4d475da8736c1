"""Which hosts are the honeypots: given by the analyst, or inferred from who gets attacked.

Inference: a honeypot is a host that many distinct remote hosts start connections to (it
offers services nobody should use). The host with the most distinct initiators wins when the
count is clear; hosts close to it (same /16, at least half as many initiators) join it, as
a honeynet often has several. With too few initiators, or no clear winner, the report says
plainly that no honeypot is evident instead of inventing one.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import numpy as np

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
    from honeysift.analysis.addrs import AddressIds

    ids = AddressIds.of(flows)
    n_addr = ids.count
    method = flows.column("orig_method")
    sure = (
        np.isin(np.asarray(method, dtype=object), list(_SURE)) if len(flows) else np.zeros(0, bool)
    )
    # distinct initiators per responder: distinct (responder, originator) pairs of sure flows
    pairs = np.unique(ids.resp[sure] * max(n_addr, 1) + ids.orig[sure])
    initiators = (
        np.bincount(pairs // max(n_addr, 1), minlength=n_addr)
        if pairs.size
        else np.zeros(n_addr, np.int64)
    )
    talks = np.bincount(ids.orig, minlength=n_addr) + np.bincount(ids.resp, minlength=n_addr)
    ranked = np.argsort(-initiators, kind="stable")
    ranked = ranked[initiators[ranked] > 0]
    cands = [
        {
            "ip": ids.text(h),
            "distinct_initiators": int(initiators[h]),
            "flows": int(talks[h]),
            "private": _private(ids.text(h)),
        }
        for h in ranked[:10].tolist()
    ]
    if not ranked.size or initiators[ranked[0]] < min_initiators:
        best = (
            f"{ids.text(int(ranked[0]))} ({int(initiators[ranked[0]])} distinct initiators)"
            if ranked.size
            else "none"
        )
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
    top = int(ranked[0])
    n_top = int(initiators[top])
    second = int(initiators[ranked[1]]) if ranked.size > 1 else 0
    # a honeynet: every host that many remote hosts start connections to and that sits next to
    # another such host (same /16, or /48 for IPv6), or on a private address like the top one
    floor = max(min_initiators, n_top // 20)
    busy = ranked[initiators[ranked] >= floor]
    keys = ids.net_key()[busy]
    uk, kc = np.unique(keys, return_counts=True)
    crowded = set(uk[kc >= 2].tolist())
    top_private = _private(ids.text(top))
    chosen_ids = [top] + [
        int(h)
        for h, k in zip(busy[1:].tolist(), keys[1:].tolist(), strict=True)
        if k in crowded or (top_private and _private(ids.text(int(h))))
    ]
    chosen = ids.texts(chosen_ids)
    mark = np.zeros(n_addr, bool)
    mark[chosen_ids] = True
    share = float((mark[ids.orig] | mark[ids.resp]).mean()) if len(flows) else 0.0
    if n_top >= 10 and n_top >= 2 * max(second, 1) or len(chosen) > 1 and n_top >= 10:
        confidence = "high"
    elif n_top >= min_initiators:
        confidence = "medium"
    else:
        confidence = "low"
    reasons = [
        f"{chosen[0]} is the host the most distinct remote hosts started connections to ({n_top}; next best {second})",
        f"the chosen host(s) take part in {share:.0%} of all flows",
    ]
    if len(chosen) > 1:
        reasons.append(
            f"{len(chosen) - 1} more host(s) next to it (same /16 or /48, or private like it) are each "
            f"contacted by at least {floor} distinct initiators: a honeynet"
        )
    if top_private:
        reasons.append(f"{chosen[0]} is a private address: the capture's local side")
    return Roles(
        chosen,
        "inferred from the distinct hosts that initiate connections to each host",
        confidence,
        reasons,
        cands,
    )
