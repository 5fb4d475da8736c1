"""Presentation helpers shared by the terminal, Markdown and HTML renderers of ``analyze``.

Renderers take the report dict (report.json) and only format it: labels for codes, number and
time formatting, capping long lists. No analysis here. :func:`sanitize` makes every string in
a report printable (control bytes and bidi overrides shown as ``\\xNN``) before a renderer adds
its own escaping (Markdown, HTML).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from honeysift.report.timefmt import iso
from honeysift.safe_text import safe

IRC_OUTCOMES = {
    "refused": "refused (RST to SYN)",
    "no_answer": "no answer (SYN unanswered)",
    "connected": "connected, no registration reply",
    "closed_during_registration": "closed during registration",
    "nickname_in_use": "nickname in use (433)",
    "closed_by_server": "closed by the server (ERROR)",
    "registered": "registered (001)",
    "joined": "joined a channel",
}
SUCCESS_OUTCOMES = ("joined", "registered")

# Timeline kinds in the order the chart stacks them; the compromise chain is highlighted.
KIND_ORDER = (
    "probe",
    "attack",
    "enumeration",
    "logon",
    "upload",
    "new-service",
    "outbound",
    "irc-join",
)
COMPROMISE_KINDS = frozenset({"logon", "upload", "new-service", "outbound", "irc-join"})
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
VERDICT_ORDER = ("succeeded", "unknown", "failed", "not-attacked")


def sanitize(obj: Any) -> Any:
    """A copy of *obj* (JSON-like) with every string, key included, passed through safe()."""
    t = type(obj)  # exact type checks first: a report has millions of nodes
    if t is str:
        return safe(obj)
    if t is int or t is float or t is bool or obj is None:
        return obj
    if t is list or t is tuple:
        if all(type(v) is int for v in obj):  # frame lists
            return list(obj)
        return [sanitize(v) for v in obj]
    if t is dict or isinstance(obj, dict):
        return {(safe(k) if isinstance(k, str) else k): sanitize(v) for k, v in obj.items()}
    if isinstance(obj, str):
        return safe(obj)
    if isinstance(obj, list | tuple):
        return [sanitize(v) for v in obj]
    return obj


_SHARED: ContextVar[dict | None] = ContextVar("honeysift_sanitized", default=None)


@contextmanager
def shared_sanitize() -> Iterator[None]:
    """Within this block, :func:`sanitized` cleans each report once for all renderers (the
    report must not change inside it). ``analyze`` renders markdown, HTML and the terminal
    summary of a report with millions of values: three full passes otherwise."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def sanitized(report: dict) -> Any:
    """:func:`sanitize` of *report*, shared inside :func:`shared_sanitize`."""
    cache = _SHARED.get()
    if cache is None:
        return sanitize(report)
    hit = cache.get(id(report))
    if hit is None or hit[0] is not report:
        hit = cache[id(report)] = (report, sanitize(report))
    return hit[1]


def when(ts: float | int | None, digits: int = 0) -> str:
    """Epoch seconds -> ISO 8601 UTC (``-`` when unknown or not a number)."""
    if not is_num(ts):
        return "-"
    try:
        return iso(float(ts), digits)
    except (ValueError, OverflowError, OSError):  # out of datetime's range
        return str(ts)


def num(x: Any) -> str:
    """Thousands separators; ``-`` for None; floats without a needless ``.0``."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:,.0f}" if x.is_integer() else f"{x:,.1f}"
    return str(x)


def kbps(x: Any) -> str:
    """``10,640 kbps (10.6 Mbit/s)``."""
    if not is_num(x):
        return "-"
    text = f"{num(float(x))} kbps"
    if x >= 1000:
        text += f" ({x / 1000:,.1f} Mbit/s)"
    return text


def duration(seconds: Any) -> str:
    if not is_num(seconds):
        return "-"
    s = int(seconds)
    d, rest = divmod(s, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        return f"{d}d {h}h {m}m"
    if h:
        return f"{h}h {m}m {s}s"
    return f"{m}m {s}s" if m else f"{float(seconds):.3f} s"


def service_label(s: dict) -> str:
    name = s.get("name") or s.get("service")
    base = f"{s.get('proto', '?')}/{s.get('port', '?')}"
    return f"{base} ({name})" if name else base


def irc_outcome(code: Any) -> str:
    return IRC_OUTCOMES.get(str(code), str(code) if code is not None else "-")


def capped(items: Iterable[Any], limit: int) -> tuple[list[Any], int]:
    """The first *limit* items and how many were left out."""
    items = list(items)
    return items[:limit], max(0, len(items) - limit)


def frames_text(frames: list[Any] | None, limit: int = 12) -> str:
    frames = list(dict.fromkeys(frames or []))
    shown, more = capped(frames, limit)
    text = ", ".join(str(f) for f in shown) or "-"
    return text + (f", ... ({len(frames)} in all)" if more else "")


def join(items: Iterable[Any], limit: int = 10, sep: str = ", ") -> str:
    shown, more = capped([str(i) for i in items if i is not None and i != ""], limit)
    return sep.join(shown) + (f"{sep}... ({more} more)" if more else "") if shown else "-"


def group_findings(findings: list[dict], skip_hosts: Iterable[str] = ()) -> list[dict]:
    """Findings with the same severity and title folded into one entry (first one's evidence);
    ``hosts`` collects the hosts they name, less *skip_hosts* (the honeypots)."""
    skip = set(skip_hosts)
    groups: dict[tuple[str, str], dict] = {}
    seen: dict[tuple[str, str], set] = {}
    for f in findings:
        key = (str(f.get("severity")), str(f.get("title")))
        g = groups.get(key)
        if g is None:
            groups[key] = g = {"finding": f, "count": 0, "hosts": []}
            seen[key] = set()
        g["count"] += 1
        have = seen[key]
        for h in f.get("hosts") or []:
            if h not in have and h not in skip:
                have.add(h)
                g["hosts"].append(h)
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    return sorted(groups.values(), key=lambda g: rank.get(g["finding"].get("severity"), 9))


def by_verdict(services: list[dict]) -> list[dict]:
    rank = {v: i for i, v in enumerate(VERDICT_ORDER)}
    return sorted(
        services,
        key=lambda s: (
            rank.get(s.get("verdict"), 9),
            not s.get("attackers"),
            str(s.get("proto")),
            s.get("port") if isinstance(s.get("port"), int) else 0,
        ),
    )


def attacked_services(services: list[dict]) -> list[dict]:
    """Services someone sent a payload to (``attackers``), by verdict: every renderer's table of
    attacked services lists these, and the rest are "probed only"."""
    return [s for s in by_verdict(services) if s.get("attackers")]


def probed_services(services: list[dict]) -> list[dict]:
    """Services that were only probed (no attacker), in report order."""
    return [s for s in services if not s.get("attackers")]


def succeeded_services(services: list[dict]) -> list[dict]:
    """Services whose attacks succeeded, in report order: the "which attacks worked" answer."""
    return [s for s in services if s.get("verdict") == "succeeded"]


def service_with_detail(services: list[dict], key: str) -> dict | None:
    """The first service whose details hold *key*: how the Markdown and HTML reports find the
    Slammer (``slammer_like``) and NetBIOS name service (``names``) sections."""
    return next((s for s in services if key in (s.get("details") or {})), None)


def key_findings(report: dict) -> list[dict]:
    """The critical and high findings, grouped (:func:`group_findings`), that the Markdown and
    HTML reports put first."""
    return [
        g
        for g in group_findings(report.get("findings") or [], honeypot_ips(report))
        if g["finding"].get("severity") in ("critical", "high")
    ]


def uncarved_dcc(report: dict) -> list[dict]:
    """DCC offers with no file carved (no md5: the data connection is not in the capture)."""
    dcc = ((report.get("sections") or {}).get("transfers") or {}).get("dcc") or []
    return [x for x in dcc if not x.get("md5")]


def is_num(x: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _num_or(x: Any, default: float = 0.0) -> float:
    return float(x) if is_num(x) else default


def http_requests(http: dict) -> list[dict]:
    """HTTP requests grouped by client, in time order within each."""
    reqs = [q for q in http.get("requests") or [] if isinstance(q, dict)]
    return sorted(reqs, key=lambda q: (str(q.get("client")), _num_or(q.get("time"))))


def honeypot_ips(report: dict) -> list[str]:
    return [h.get("ip") for h in report.get("honeypots") or [] if isinstance(h, dict)]


def service(report: dict, proto: str, port: int) -> dict | None:
    for s in report.get("services") or []:
        if s.get("proto") == proto and s.get("port") == port:
            return s
    return None


def smb_sessions(report: dict) -> list[dict]:
    """SMB sessions of tcp/139 and tcp/445 (as the SMB analyzer recorded them), by start time."""
    out = []
    for s in report.get("services") or []:
        out.extend((s.get("details") or {}).get("sessions") or [])
    return sorted((x for x in out if isinstance(x, dict)), key=lambda x: _num_or(x.get("start")))


def rpc_summary(session: dict) -> tuple[list[str], list[str]]:
    """A session's RPC calls folded as ``SAMR SamrConnect x2`` and the names they disclosed."""
    counts: dict[str, int] = {}
    names: dict[str, None] = {}
    for c in session.get("rpc_calls") or []:
        key = f"{c.get('interface', '')} {c.get('operation', '')}".strip()
        counts[key] = counts.get(key, 0) + 1
        for n in list(c.get("users") or []) + list(c.get("domains") or []):
            names[str(n)] = None
    return [f"{k} x{v}" if v > 1 else k for k, v in counts.items()], list(names)


def compromise_steps(timeline: list[dict]) -> list[dict]:
    """The first event of each compromise kind, each later than the step before, in the order
    logon, upload, new-service, outbound, irc-join: how far the compromise got, and when."""
    steps: list[dict] = []
    last = float("-inf")
    for kind in KIND_ORDER:
        if kind not in COMPROMISE_KINDS:
            continue
        for e in timeline:
            t = e.get("time")
            if e.get("kind") == kind and is_num(t) and t >= last:
                steps.append(e)
                last = t
                break
    return steps
