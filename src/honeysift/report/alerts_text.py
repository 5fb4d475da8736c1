"""Snort fast-alert style text for ``honeysift alerts`` (rendering only, no matching here).

One line per alert, as ``snort -A fast`` prints them, with the frame number appended so the
packet can be shown with ``honeysift show CAP 'frame N'`` or tshark ``-Y frame.number==N``::

    03/01-00:00:07.300000  [**] [1:9000001:1] msg [**] [Classification: ...] [Priority: 1] {UDP} 1.2.3.4:1234 -> 5.6.7.8:1434 [frame 1]
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from honeysift.detect.alerts import Alert, AlertReport
from honeysift.safe_text import safe


def _ep(addr: str, port: int | None) -> str:
    if port is None:
        return addr
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def fast_line(a: Alert) -> str:
    t = datetime.fromtimestamp(a.time, UTC).strftime("%m/%d-%H:%M:%S.%f")
    cls = f" [Classification: {safe(a.classification)}]" if a.classification else ""
    return (
        f"{t}  [**] [{a.key}] {safe(a.msg)} [**]{cls} [Priority: {a.priority}] "
        f"{{{a.proto}}} {_ep(a.src, a.sport)} -> {_ep(a.dst, a.dport)} [frame {a.frame}]"
    )


from honeysift.detect.alerts import MAX_ALERTS_PER_RULE  # noqa: E402


def render_text(rep: AlertReport, *, issues: bool = True) -> str:
    lines = [fast_line(a) for a in rep.alerts]
    if issues:
        lines.append(load_summary(rep))
        for key, n in sorted(rep.suppressed.items()):
            lines.append(
                f"# [{key}] {n} more alerts not listed (at most {MAX_ALERTS_PER_RULE:,} per rule)"
            )
        lines.extend(f"  {safe(str(i))}" for i in rep.issues)
    return "\n".join(lines) + "\n"


def load_summary(rep: AlertReport) -> str:
    return (
        f"# {len(rep.alerts)} alerts; {rep.rules_loaded} rules loaded, {rep.skipped} skipped, "
        f"{sum(1 for i in rep.issues if i.decision == 'ignored')} options ignored "
        f"(HOME_NET {rep.variables.get('HOME_NET', 'any')})"
    )


def render_json(rep: AlertReport) -> str:
    """One JSON object per alert per line; the load report as a last line with ``"load"``."""
    out = [json.dumps(a.to_dict(), sort_keys=True) for a in rep.alerts]
    d = rep.to_dict()
    d.pop("alerts")
    out.append(json.dumps({"load": d}, sort_keys=True))
    return "\n".join(out) + "\n"
