"""Comparison helpers: our flows against Zeek conn.log baselines, tshark and argus oracles."""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from pathlib import Path

import honeysift
from honeysift.flows import FlowResult, build_flows


def norm_addr(a: str) -> str:
    return str(ipaddress.ip_address(a))


def flows_of(trace: Path, **opt) -> FlowResult:
    with honeysift.open(str(trace)) as cap:
        return build_flows(cap, **opt)


def read_zeek_log(path: Path, manifest_fields: list[str] | None = None) -> list[dict[str, str]]:
    """Rows of a Zeek ASCII log, a zeek-cut file (header line of names) or a headerless cut."""
    return read_zeek_log_text(path.read_text(), manifest_fields)


def read_zeek_log_text(text: str, manifest_fields: list[str] | None = None) -> list[dict[str, str]]:
    lines = text.splitlines()
    fields: list[str] | None = manifest_fields
    rows = []
    for i, line in enumerate(lines):
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
            continue
        if line.startswith("#"):
            continue
        if fields is None and i == 0:
            fields = line.split("\t")
            continue
        rows.append(dict(zip(fields or [], line.split("\t"), strict=False)))
    return rows


def conn_baselines(corpus: Path) -> dict[str, list[dict[str, str]]]:
    m = json.loads((corpus / "manifest.json").read_text())
    out = {}
    for e in m["entries"]:
        bl = e["expected"].get("best_log", {}).get("conn")
        if not bl:
            continue
        mf = None
        if bl["kind"] == "zeek-cut-noheader":
            for t in e["expected"]["tests"]:
                for f in t.get("files", t.get("outputs", [])) if isinstance(t, dict) else []:
                    if isinstance(f, dict) and f.get("path") == bl["path"]:
                        mf = f.get("zeek_cut_fields")
        out[e["name"]] = read_zeek_log(corpus / bl["path"], mf)
    return out


ZKEY = ("id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto")


def our_zeek_rows(res: FlowResult, zeek_rule: bool = False) -> list[dict[str, str]]:
    out = []
    for r in res:
        swap = zeek_rule and r["zeek_swap"]
        o, p = ("resp", "orig") if swap else ("orig", "resp")
        out.append(
            {
                "id.orig_h": norm_addr(r[o + "_h"]),
                "id.orig_p": str(r[o + "_p"]),
                "id.resp_h": norm_addr(r[p + "_h"]),
                "id.resp_p": str(r[p + "_p"]),
                "proto": r["proto"],
                "orig_pkts": str(r[o + "_pkts"]),
                "resp_pkts": str(r[p + "_pkts"]),
                "orig_ip_bytes": str(r[o + "_ip_bytes"]),
                "resp_ip_bytes": str(r[p + "_ip_bytes"]),
                "conn_state": r["conn_state"],
                "history": r["history"] or "-",  # Zeek writes an empty history as unset
            }
        )
    return out


def match_zeek(ours: list[dict[str, str]], zeek: list[dict[str, str]]) -> tuple[list, list]:
    """Pair rows on the key fields the baseline has (multiset match, in order)."""
    keys = [k for k in ZKEY if zeek and k in zeek[0]]
    pool: dict[tuple, list] = {}
    for r in ours:
        pool.setdefault(
            tuple(norm_addr(r[k]) if k.endswith("_h") else r[k] for k in keys), []
        ).append(r)
    pairs, missing = [], []
    for z in zeek:
        k = tuple(norm_addr(z[k]) if k.endswith("_h") else z[k] for k in keys)
        cand = pool.get(k)
        if cand:
            # prefer the candidate agreeing on packet counts (reused 4-tuples)
            best = next((c for c in cand if c["orig_pkts"] == z.get("orig_pkts")), cand[0])
            cand.remove(best)
            pairs.append((best, z))
        else:
            missing.append(z)
    return pairs, missing


def zeek_figures(corpus: Path, zeek_rule: bool = False, skip: set[str] = frozenset()) -> dict:
    base = conn_baselines(corpus)
    tot = Counter()
    per = {}
    for name, zrows in sorted(base.items()):
        if name in skip:
            continue
        trace = next((corpus / "traces").glob(name + ".*"))
        ours = our_zeek_rows(flows_of(trace), zeek_rule)
        pairs, missing = match_zeek(ours, zrows)
        c = Counter(zeek=len(zrows), matched=len(pairs))
        for o, z in pairs:
            for f in ("orig_pkts", "resp_pkts", "orig_ip_bytes", "resp_ip_bytes"):
                if f in z:
                    c["cnt_n"] += 1
                    c["cnt_ok"] += o[f] == z[f]
            if "conn_state" in z:
                c["st_n"] += 1
                c["st_ok"] += o["conn_state"] == z["conn_state"]
            if "history" in z:
                c["h_n"] += 1
                c["h_ok"] += o["history"] == z["history"]
        per[name] = (c, missing)
        tot.update(c)
    return {"total": tot, "per_trace": per}


def read_conv(path: Path) -> list[dict[str, str]]:
    lines = path.read_text().splitlines()
    if not lines:
        return []
    hdr = lines[0].split("\t")
    return [dict(zip(hdr, ln.split("\t"), strict=False)) for ln in lines[1:] if ln]


def conv_rows(corpus: Path) -> list[tuple[str, dict[str, str]]]:
    out = []
    for trace in sorted((corpus / "traces").iterdir()):
        name = trace.name.split(".")[0]
        out += [(name, c) for c in read_conv(corpus / "oracle" / name / "conv_exact.tsv")]
    return out


def conv_figures(corpus: Path, **opt) -> tuple[int, int, list]:
    """Conversations of conv_exact.tsv whose per-direction frames/ip/payload bytes we match."""
    n = ok = 0
    bad = []
    for trace in sorted((corpus / "traces").iterdir()):
        name = trace.name.split(".")[0]
        conv = read_conv(corpus / "oracle" / name / "conv_exact.tsv")
        if not conv:
            continue
        res = flows_of(trace, **opt)
        pool: dict[tuple, list] = {}
        for r in res:
            k = frozenset(
                [(norm_addr(r["orig_h"]), r["orig_p"]), (norm_addr(r["resp_h"]), r["resp_p"])]
            )
            pool.setdefault((r["proto"], k), []).append(r)
        for c in conv:
            n += 1
            a = (norm_addr(c["addr_a"]), int(c["port_a"]))
            b = (norm_addr(c["addr_b"]), int(c["port_b"]))
            want = {
                a: (int(c["frames_a2b"]), int(c["ip_bytes_a2b"]), int(c["payload_bytes_a2b"])),
                b: (int(c["frames_b2a"]), int(c["ip_bytes_b2a"]), int(c["payload_bytes_b2a"])),
            }
            found = False
            for r in pool.get((c["proto"], frozenset([a, b])), []):
                got = {
                    (norm_addr(r["orig_h"]), r["orig_p"]): (
                        r["orig_pkts"],
                        r["orig_ip_bytes"],
                        r["orig_payload_bytes"],
                    ),
                    (norm_addr(r["resp_h"]), r["resp_p"]): (
                        r["resp_pkts"],
                        r["resp_ip_bytes"],
                        r["resp_payload_bytes"],
                    ),
                }
                if got == want:
                    found = True
                    break
            ok += found
            if not found:
                bad.append((name, c["proto"], c["stream"], a, b))
    return n, ok, bad


def read_argus(path: Path) -> list[dict[str, str]]:
    lines = path.read_text().splitlines() if path.exists() else []
    if not lines:
        return []
    hdr = lines[0].split(",")
    return [dict(zip(hdr, (x.strip() for x in ln.split(",")), strict=False)) for ln in lines[1:]]


MIRROR = {"->": "<-", "<-": "->", "?>": "<?", "<?": "?>", "<->": "<->", "<?>": "<?>"}


def argus_figures(corpus: Path) -> tuple[int, int, int, list]:
    """Flows both tools report (same protocol and endpoints; ICMP by addresses): how many,
    how many agree on direction, on status. racluster merges reused tuples: we merge ours too."""
    n = d_ok = s_ok = 0
    bad = []
    for trace in sorted((corpus / "traces").iterdir()):
        name = trace.name.split(".")[0]
        arg = read_argus(corpus / "oracle" / name / "flows_merged.txt")
        arg = [a for a in arg if a.get("Proto") in ("tcp", "udp", "icmp", "ipv6-icmp")]
        if not arg:
            continue
        res = list(flows_of(trace))
        for a in arg:
            icmp = a["Proto"].endswith("icmp")
            sa, da = norm_addr(a["SrcAddr"]), norm_addr(a["DstAddr"])
            cands = []
            for r in res:
                if r["proto"] != ("icmp" if icmp else a["Proto"]):
                    continue
                oh, rh = norm_addr(r["orig_h"]), norm_addr(r["resp_h"])
                if icmp:
                    fwd = (oh, rh) == (sa, da)
                    rev = (oh, rh) == (da, sa)
                else:
                    fwd = (oh, str(r["orig_p"]), rh, str(r["resp_p"])) == (
                        sa,
                        a["Sport"],
                        da,
                        a["Dport"],
                    )
                    rev = (rh, str(r["resp_p"]), oh, str(r["orig_p"])) == (
                        sa,
                        a["Sport"],
                        da,
                        a["Dport"],
                    )
                if fwd or rev:
                    cands.append((r, rev))
            if not cands:
                continue
            n += 1
            # racluster merged record: the earliest of ours gives the direction of record
            r, rev = cands[0]
            d = MIRROR[r["direction"]] if rev else r["direction"]
            if len(cands) > 1:
                sent_o = sum((c["resp_pkts"] if rv else c["orig_pkts"]) for c, rv in cands)
                sent_r = sum((c["orig_pkts"] if rv else c["resp_pkts"]) for c, rv in cands)
                q = "?" in d
                d = ("<?>" if q else "<->") if sent_o and sent_r else d
            st = cands[-1][0]["status"] if len(cands) > 1 else r["status"]
            if any(c["status"] == "RST" for c, _ in cands):
                st = "RST"
            d_ok += d == a["Dir"]
            s_ok += st == a["State"]
            if d != a["Dir"] or st != a["State"]:
                bad.append(
                    (
                        name,
                        a["Proto"],
                        a["SrcAddr"],
                        a["Sport"],
                        a["Dir"],
                        a["DstAddr"],
                        a["Dport"],
                        a["State"],
                        "ours:",
                        d,
                        st,
                    )
                )
    return n, d_ok, s_ok, bad
