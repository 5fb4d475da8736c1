"""report.html: one self-contained offline page (inline CSS, inline SVG charts, no JavaScript).

Renderer only: the report dict in, HTML out. Jinja2 renders the page and the charts with
``autoescape=True``; attacker strings are never marked safe. Python computes only chart
geometry (coordinates, tick positions) from the report; every label reaches the page through
the autoescaping template. Strings first go through :func:`present.sanitize`, so control bytes
and bidi overrides show as ``\\xNN`` instead of being hidden or reordering the text.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from honeysift.report import present as p

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_MAX_POINTS = 2000  # membership points drawn per botnet (evenly thinned beyond)
_MAX_EVENTS = 5000  # timeline events drawn

ESTIMATE_LABELS = {
    "union_hosts": "JOIN or QUIT hosts",
    "join_hosts": "JOIN hosts",
    "quit_hosts": "QUIT hosts",
    "names_first": "first NAMES",
    "names_max": "largest NAMES",
    "membership_peak": "membership peak",
    "lusers_global_users": "LUSERS global users",
    "lusers_local_users": "LUSERS local users",
}


def _cut(value: Any, limit: int) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} chars)"


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.ChainableUndefined,
    )
    env.filters.update(
        when=p.when,
        num=p.num,
        kbps=p.kbps,
        duration=p.duration,
        frames=p.frames_text,
        svc=p.service_label,
        outcome=p.irc_outcome,
        joinl=p.join,
        cut=_cut,
        estimate_label=lambda name: ESTIMATE_LABELS.get(str(name), str(name)),
    )
    return env


def render_html(report: dict) -> str:
    r = p.sanitized(report)
    services = r.get("services") or []
    ctx = {
        "r": r,
        "cap": r.get("capture") or {},
        "answers": r.get("answers") or {},
        "irc": r.get("irc") or {},
        "honeypots": p.honeypot_ips(r),
        "services": p.by_verdict(services),
        "attacked": p.attacked_services(services),
        "probed": p.probed_services(services),
        "rpc": p.rpc_summary,
        "http_requests": p.http_requests((r.get("sections") or {}).get("http") or {}),
        "wins": p.succeeded_services(services),
        "smb_services": [
            s for s in p.by_verdict(services) if (s.get("details") or {}).get("sessions")
        ],
        "slammer": p.service_with_detail(services, "slammer_like"),
        "nbns": p.service_with_detail(services, "names"),
        "http": (r.get("sections") or {}).get("http") or {},
        "dcc_missing": p.uncarved_dcc(r),
        "key_findings": p.key_findings(r),
        "severities": p.SEVERITY_ORDER,
        "compromise_kinds": p.COMPROMISE_KINDS,
        "timeline_chart": timeline_chart(r),
        "botnet_charts": [botnet_chart(b) for b in (r.get("irc") or {}).get("botnets") or []],
        "success_outcomes": p.SUCCESS_OUTCOMES,
    }
    return _env().get_template("report.html.j2").render(**ctx)


# ------------------------------------------------------------------------------------------------
# Chart geometry (numbers only; the template draws and labels)


_is_num = p.is_num


def _ticks(t0: float, t1: float, max_ticks: int = 9) -> list[tuple[float, str]]:
    """Tick times on round UTC boundaries and their labels."""
    span = max(t1 - t0, 1e-9)
    steps = (
        1,
        5,
        15,
        60,
        300,
        900,
        3600,
        3 * 3600,
        6 * 3600,
        12 * 3600,
        86400,
        2 * 86400,
        7 * 86400,
        30 * 86400,
    )
    step = next(
        (s for s in steps if span / s <= max_ticks),
        steps[-1] * (int(span / steps[-1] / max_ticks) + 1),
    )
    fmt = "%Y-%m-%d" if step >= 86400 else ("%m-%d %H:%M" if step >= 60 else "%H:%M:%S")
    first = (int(t0 // step) + 1) * step if t0 % step else t0
    out = []
    t = first
    while t <= t1 and len(out) < 60:
        try:
            label = _dt.datetime.fromtimestamp(t, _dt.UTC).strftime(fmt)
        except (ValueError, OverflowError, OSError):  # out of datetime's range
            label = f"{t:g}"
        out.append((t, label))
        t += step
    return out


def _time_x(t0: float, t1: float, left: float, plot_w: float) -> Callable[[float], float]:
    """The x of a time on a time axis from *t0* to *t1* drawn *plot_w* wide from *left*: the
    timeline and the membership charts place dots, steps and ticks alike."""
    return lambda t: round(left + (t - t0) / (t1 - t0) * plot_w, 1)


def _plot_area(width: int, height: int, left: int, right: int, top: int, bottom: float) -> dict:
    """A chart's size and its plot area's edges, which the template draws the grid and labels
    along; *right* is the right margin."""
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "bottom": bottom,
    }


def timeline_chart(r: dict) -> dict | None:
    events = [e for e in r.get("timeline") or [] if _is_num(e.get("time"))][:_MAX_EVENTS]
    if not events:
        return None
    cap = r.get("capture") or {}
    times = [float(e["time"]) for e in events]
    t0 = cap.get("first_ts") if _is_num(cap.get("first_ts")) else min(times)
    t1 = cap.get("last_ts") if _is_num(cap.get("last_ts")) else max(times)
    t0, t1 = min(t0, min(times)), max(t1, max(times))
    if t1 <= t0:
        t1 = t0 + 1.0
    present_kinds = {str(e.get("kind")) for e in events}
    kinds = [k for k in p.KIND_ORDER if k in present_kinds]
    kinds += sorted(present_kinds - set(kinds))
    width, left, right, top, row_h = 1100, 120, 24, 28, 30
    plot_w = width - left - right
    height = top + row_h * len(kinds) + 34
    x = _time_x(t0, t1, left, plot_w)

    def y(kind: str) -> float:
        return top + row_h * kinds.index(kind) + row_h / 2

    dots = [
        {
            "x": x(float(e["time"])),
            "y": y(str(e.get("kind"))),
            "kind": str(e.get("kind")),
            "chain": e.get("kind") in p.COMPROMISE_KINDS,
            "time": e["time"],
            "summary": e.get("summary", ""),
        }
        for e in events
    ]
    steps = [
        {"x": x(float(e["time"])), "y": y(str(e.get("kind"))), **e}
        for e in p.compromise_steps(events)
    ]
    band = None
    if steps:
        band = {"x": steps[0]["x"] - 6, "w": max(steps[-1]["x"] - steps[0]["x"] + 12, 12)}
    return {
        **_plot_area(width, height, left, right, top, top + row_h * len(kinds)),
        "rows": [{"kind": k, "y": y(k), "chain": k in p.COMPROMISE_KINDS} for k in kinds],
        "dots": dots,
        "steps": steps,
        "chain_path": " ".join(f"{d['x']},{d['y']}" for d in steps),
        "band": band,
        "ticks": [{"x": x(t), "label": label} for t, label in _ticks(t0, t1)],
    }


def botnet_chart(b: dict) -> dict:
    """Membership over time (step line) and the census figures as bars."""
    pts = [
        (float(t), float(n))
        for t, n in (
            m for m in b.get("membership") or [] if isinstance(m, list | tuple) and len(m) == 2
        )
        if _is_num(t) and _is_num(n)
    ]
    width, left, right, top, height = 1000, 56, 20, 16, 220
    line = None
    if pts:
        if len(pts) > _MAX_POINTS:
            stride = len(pts) / _MAX_POINTS
            pts = [pts[int(i * stride)] for i in range(_MAX_POINTS)] + [pts[-1]]
        t0, t1 = pts[0][0], pts[-1][0]
        if _is_num(b.get("first_seen")):
            t0 = min(t0, float(b["first_seen"]))
        if _is_num(b.get("last_seen")):
            t1 = max(t1, float(b["last_seen"]))
        if t1 <= t0:
            t1 = t0 + 1.0
        peak = max(max(n for _, n in pts), 1.0)
        names = [
            (float(x["time"]), float(x["nicks"]))
            for x in b.get("names") or []
            if _is_num(x.get("time")) and _is_num(x.get("nicks"))
        ]
        peak = max([peak] + [n for _, n in names])
        plot_w, plot_h = width - left - right, height - top - 30
        x = _time_x(t0, t1, left, plot_w)

        def yv(n: float) -> float:
            return round(top + plot_h - n / peak * plot_h, 1)

        path = []
        prev_y = None
        for t, n in pts:
            if prev_y is not None:
                path.append(f"{x(t)},{prev_y}")
            prev_y = yv(n)
            path.append(f"{x(t)},{prev_y}")
        path.append(f"{x(t1)},{prev_y}")
        yticks = sorted({0, round(peak / 2), round(peak)})
        line = {
            **_plot_area(width, height, left, right, top, top + plot_h),
            "path": " ".join(path),
            "area": f"{x(pts[0][0])},{top + plot_h} " + " ".join(path) + f" {x(t1)},{top + plot_h}",
            "yticks": [{"y": yv(v), "label": v} for v in yticks],
            "ticks": [{"x": x(t), "label": label} for t, label in _ticks(t0, t1, 8)],
            "names": [{"x": x(t), "y": yv(n), "n": n, "time": t} for t, n in names],
        }
    ests = [e for e in b.get("estimates") or [] if _is_num(e.get("bots"))]
    bars = None
    if ests:
        top_bots = max(max(float(e["bots"]) for e in ests), 1.0)
        bw, label_w, bar_h = 1000, 170, 24
        max_len = bw - label_w - 250
        bars = {
            "width": bw,
            "height": bar_h * len(ests) + 8,
            "label_w": label_w,
            "rows": [
                {
                    "y": 4 + i * bar_h,
                    "h": bar_h - 6,
                    "len": max(round(float(e["bots"]) / top_bots * max_len, 1), 1.0),
                    "name": e.get("name"),
                    "bots": e.get("bots"),
                    "bandwidth": e.get("bandwidth_kbps"),
                    "method": e.get("method", ""),
                    "server": str(e.get("name", "")).startswith("lusers"),
                }
                for i, e in enumerate(ests)
            ],
        }
    return {"line": line, "bars": bars}
