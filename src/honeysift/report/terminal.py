"""The terminal summary printed by ``honeysift analyze``: the write-up's answers on one screen.

Takes the report dict (report.json), never the capture. Every string goes through
:func:`honeysift.report.present.sanitize` (control bytes shown as ``\\xNN``), so attacker text
cannot move the cursor or clear the analyst's screen.
"""

from __future__ import annotations

from honeysift.report.present import (
    SUCCESS_OUTCOMES,
    attacked_services,
    capped,
    duration,
    group_findings,
    honeypot_ips,
    irc_outcome,
    join,
    kbps,
    num,
    sanitized,
    service_label,
    succeeded_services,
    when,
)

_TOP_FINDINGS = 6


def _cut(value: object, width: int = 110) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def render_summary(report: dict) -> str:
    r = sanitized(report)
    out: list[str] = []
    add = out.append
    cap = r.get("capture") or {}
    add(f"honeysift analyze: {cap.get('file', '?')}")
    add(
        f"  {num(cap.get('packets'))} packets, {num(r.get('flow_count'))} flows, "
        f"{when(cap.get('first_ts'))} .. {when(cap.get('last_ts'))} ({duration(cap.get('duration'))})"
    )
    roles = r.get("roles") or {}
    hps = [str(h) for h in honeypot_ips(r)]
    if hps:
        add(f"Honeypot: {', '.join(hps)} (confidence {roles.get('confidence', '?')})")
        for reason in (roles.get("reasons") or [])[:3]:
            add(f"  - {_cut(reason)}")
    else:
        add("Honeypot: none evident; name it with --honeypot IP")

    a = r.get("answers") or {}
    irc = r.get("irc") or {}
    add("")
    add("IRC servers the honeypot tried:")
    for s in irc.get("servers") or []:
        names = f" ({', '.join(s.get('server_names') or [])})" if s.get("server_names") else ""
        mark = "*" if s.get("best_outcome") in SUCCESS_OUTCOMES else " "
        add(
            f" {mark} {s.get('server')}:{s.get('server_port')}{names}: "
            f"{irc_outcome(s.get('best_outcome'))}, {len(s.get('attempts') or [])} connection(s)"
        )
    if not irc.get("servers"):
        add("  none")
    ok = a.get("irc_servers_successful") or []
    add(f"  succeeded: {', '.join(ok) if ok else 'none'}")

    for b in irc.get("botnets") or []:
        add("")
        add(
            f"Botnet {b.get('channel')} on {b.get('server')} "
            f"({join(b.get('server_names') or [], 3)}), at {num(irc.get('link_kbps'))} kbps a bot:"
        )
        for e in b.get("estimates") or []:
            add(
                f"  {num(e.get('bots')):>8} bots {kbps(e.get('bandwidth_kbps')):>28}  "
                f"{_cut(str(e.get('method', e.get('name'))), 70)}"
            )
        cmds = b.get("commands") or []
        if cmds:
            add(
                f"  C&C commands ({len(cmds)}): "
                + _cut(join((c.get("text") for c in cmds), 4, " | "), 90)
            )

    services = r.get("services") or []
    attacked = attacked_services(services)
    add("")
    add(f"Remote IPs: {num(a.get('remote_ip_count', len(r.get('remote_hosts') or [])))}")
    add(f"Attacked services ({len(attacked)}; probed only: {len(services) - len(attacked)}):")
    for s in attacked:
        add(
            f"  {service_label(s):<28} {str(s.get('verdict', '?')).upper():<10} "
            f"{len(s.get('attackers') or []):>3} attacker(s), {num(s.get('connections'))} connection(s)"
        )
    wins = succeeded_services(services)
    if wins:
        add("Successful attacks, and why:")
        for s in wins:
            reasons, more = capped(s.get("reasons") or [], 2)
            add(f"  {service_label(s)}: {_cut(reasons[0] if reasons else '-', 90)}")
            for reason in reasons[1:]:
                add(f"      {_cut(reason, 100)}")
            add(f"      check: {s.get('command', '-')}")

    files = r.get("files") or []
    add(f"Files carved ({len(files)}):")
    for f in files[:10]:
        add(
            f"  {_cut(str(f.get('name')), 48):<48} {num(f.get('size')):>9} B  md5 {f.get('md5')}  "
            f"{f.get('protocol')} {f.get('src')} -> {f.get('dst')}"
        )
    if len(files) > 10:
        add(f"  ... {len(files) - 10} more in report.json")

    live = [b for b in r.get("backdoors") or [] if b.get("answered_connections")]
    add(f"Backdoors: {'none answered' if not live else ''}".rstrip())
    for b in live:
        add(
            f"  {b.get('proto')}/{b.get('port')} {_cut(str(b.get('service')), 60)}: first answered "
            f"{when(b.get('first_answer'))} (frame {b.get('first_answer_frame')}) to {b.get('client')}"
        )
    outbound = r.get("outbound") or []
    add(f"Outbound from the honeypot: {'none' if not outbound else ''}".rstrip())
    for o in outbound:
        add(
            f"  {o.get('kind')} {o.get('proto')}/{o.get('port')}: {num(o.get('flows'))} flow(s) to "
            f"{join(o.get('destinations') or [], 4)}"
        )

    findings = group_findings(r.get("findings") or [], hps)
    if findings:
        add("")
        add(f"Top findings ({len(r.get('findings') or [])} in all):")
        for g in findings[:_TOP_FINDINGS]:
            f = g["finding"]
            times = f" (x{g['count']})" if g["count"] > 1 else ""
            add(f"  [{str(f.get('severity', '?')).upper()}] {_cut(str(f.get('title')), 90)}{times}")
            add(f"      $ {f.get('command', '-')}")
    errors = r.get("analysis_errors") or []
    if errors:
        add("")
        add(f"Analysis steps that failed ({len(errors)}): " + _cut("; ".join(errors), 90))
    return "\n".join(out)
