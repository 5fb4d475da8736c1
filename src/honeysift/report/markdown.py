"""report.md: the analysis as readable Markdown, answers first. Renderer only: no analysis.

Every string from the report may come from an attacker (file names, URIs, nicks, channels,
IRC text). :func:`md` makes such a string inert in Markdown: control bytes become ``\\xNN``
(via safe_text), Markdown punctuation is backslash-escaped (no raw HTML, no emphasis, no
``[text](url)`` links, no table-cell breaks), and the autolink triggers of GitHub-flavoured
Markdown (``://``, ``www.``, ``@``) are broken, so a hostile string renders as the text it is.
:func:`code` puts a string in a code span whose fence is longer than any backtick run inside;
it is used outside tables only (inside a table cell :func:`md` is used, because a backslash
before a pipe inside a code span can still split the cell in GFM).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from honeysift.report.present import (
    COMPROMISE_KINDS,
    SEVERITY_ORDER,
    SUCCESS_OUTCOMES,
    attacked_services,
    by_verdict,
    capped,
    compromise_steps,
    duration,
    frames_text,
    http_requests,
    irc_outcome,
    kbps,
    key_findings,
    num,
    probed_services,
    rpc_summary,
    sanitized,
    service_label,
    service_with_detail,
    smb_sessions,
    succeeded_services,
    uncarved_dcc,
    when,
)
from honeysift.safe_text import safe

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#])")
_LEADING = re.compile(r"^(\s*)(?:([-+])|(\d{1,9})([.)]))(?=\s|$)")
_WWW = re.compile(r"(?i)\b(www)\.")
_ROWS = 300  # table rows before "... N more (see report.json)"


def _lead(m: re.Match[str]) -> str:
    """Neutralise a list marker at the start: ``\\-``, ``\\+``, ``1\\.``."""
    if m.group(2):
        return f"{m.group(1)}\\{m.group(2)}"
    return f"{m.group(1)}{m.group(3)}\\{m.group(4)}"


def md(value: Any, limit: int | None = None) -> str:
    """Escape *value* as inline Markdown text (safe in paragraphs, list items and table cells);
    with *limit*, longer text is cut and says how long it was."""
    if value is None or value == "":
        return "-"
    if type(value) in (str, int, float):  # addresses, ports, names repeat: escape each once
        return _md_cached(value, limit)
    return _md(value, limit)


@lru_cache(maxsize=1 << 16, typed=True)
def _md_cached(value: str | int | float, limit: int | None) -> str:
    return _md(value, limit)


def _md(value: Any, limit: int | None) -> str:
    s = safe(str(value))
    if limit is not None and len(s) > limit:
        s = f"{s[:limit]}... ({len(s):,} chars)"
    s = _SPECIAL.sub(r"\\\1", s)
    s = s.replace("://", r":\/\/").replace("@", r"\@")
    s = _WWW.sub(r"\1\\.", s)
    s = _LEADING.sub(_lead, s, count=1)
    return s


def code(value: Any) -> str:
    """A code span holding *value* verbatim (never inside a table cell)."""
    s = safe(str(value if value is not None else ""))
    if not s:
        return '""'
    runs = [len(r) for r in re.findall(r"`+", s)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if s[0] in "` " or s[-1] in "` " else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _table(headers: list[str], rows: list[list[str]], limit: int = _ROWS) -> list[str]:
    """A GFM table; cells must already be escaped with md()."""
    if not rows:
        return ["_none_", ""]
    shown, more = capped(rows, limit)
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(c if c else "-" for c in row) + " |" for row in shown]
    if more:
        out.append(f"\n_... {more} more rows in report.json_")
    out.append("")
    return out


def _list(items: list[Any], limit: int = 20) -> str:
    shown, more = capped(items, limit)
    text = ", ".join(md(i) for i in shown) or "-"
    return text + (f", ... ({more} more)" if more else "")


def _counted(label: str, items: list[Any] | None) -> str:
    """A list item giving the number of hosts before the first 30 of them, so a list that is cut
    still says its size (a service's attackers and probers, a UDP probe's sources)."""
    items = items or []
    return f"- {label} ({len(items)}): {_list(items, 30)}"


def _bullets(items: list[Any] | None, indent: str = "") -> list[str]:
    """One escaped list item per entry (reasons, errors), nested under the line before when
    *indent* is given."""
    return [f"{indent}- {md(x)}" for x in items or []]


def _endpoint(x: dict, role: str) -> str:
    """The cell for ``x[role]:x[role_port]`` (client or server of a session, request or download)."""
    return md(f"{x.get(role)}:{x.get(role + '_port')}")


def _joined(values: list[Any]) -> str:
    """Several escaped values in one table cell; "; " because the values may contain commas."""
    return "; ".join(md(v) for v in values) or "-"


def _tally(counts: dict | None) -> str:
    """``key xN, ...`` for a count per kind, unescaped: callers differ in what an empty one shows."""
    return ", ".join(f"{k} x{v}" for k, v in (counts or {}).items())


def _evidence(ev: dict | None, command: str | None) -> list[str]:
    ev = ev or {}
    out = []
    parts = []
    if ev.get("frames"):
        parts.append(f"frames {md(frames_text(ev.get('frames')))}")
    if ev.get("flows"):
        parts.append(f"flows {_list(ev.get('flows') or [], 8)}")
    if parts:
        note = f" ({md(ev['note'])})" if ev.get("note") else ""
        out.append(f"- Evidence: {'; '.join(parts)}{note}")
    if command:
        out.append(f"- Re-check: {code(command)}")
    return out


class _Doc:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def h(self, level: int, text: str) -> None:
        self.end()
        self.lines += ["#" * level + " " + text, ""]

    def para(self, text: str) -> None:
        self.lines += [text, ""]

    def end(self) -> None:
        """Close the block before with one blank line (never two)."""
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def table(self, headers: list[str], rows: list[list[str]], limit: int = _ROWS) -> None:
        """Add a table the way a section adds a heading or a paragraph (see :func:`_table`)."""
        self.add(*_table(headers, rows, limit))


def render_markdown(report: dict) -> str:
    r = sanitized(report)
    d = _Doc()
    _header(d, r)
    _answers(d, r)
    _key_findings(d, r)
    _services(d, r)
    _smb(d, r)
    _http(d, r)
    _udp(d, r)
    _irc(d, r)
    _files(d, r)
    _backdoors(d, r)
    _outbound(d, r)
    _other(d, r)
    _timeline(d, r)
    _hosts(d, r)
    _findings(d, r)
    errors = r.get("analysis_errors") or []
    if errors:
        d.h(2, "Analysis steps that failed")
        d.add(*_bullets(errors))
        d.end()
    return "\n".join(d.lines).rstrip() + "\n"


# ------------------------------------------------------------------------------------------------


def _header(d: _Doc, r: dict) -> None:
    cap = r.get("capture") or {}
    d.h(1, f"honeysift report: {md(cap.get('file', '?'))}")
    d.para(
        "Times are UTC. Every claim names its frames (numbered as tshark numbers them) and flows, "
        "and the honeysift command that shows them."
    )
    d.add(
        f"- Capture: {num(cap.get('packets'))} packets, {num(r.get('flow_count'))} flows, "
        f"{when(cap.get('first_ts'))} to {when(cap.get('last_ts'))} ({duration(cap.get('duration'))})",
        f"- File: {md(cap.get('format'))} {md(cap.get('format_version'))}, "
        f"{num(cap.get('file_size'))} bytes, md5 {md(cap.get('md5'))}, sha256 {md(cap.get('sha256'))}",
    )
    roles = r.get("roles") or {}
    hps = [h.get("ip") for h in r.get("honeypots") or []]
    if hps:
        d.add(
            f"- **Honeypot: {_list(hps)}** ({md(roles.get('method', '-'))}; "
            f"confidence {md(roles.get('confidence', '-'))})"
        )
    else:
        d.add("- **No honeypot evident**: name it with `--honeypot IP`")
    d.add(*_bullets(roles.get("reasons"), "  "))
    d.end()


def _answers(d: _Doc, r: dict) -> None:
    a = r.get("answers") or {}
    irc = r.get("irc") or {}
    d.h(2, "Answers")
    d.h(3, "1. Which IRC servers did the honeypot try, and which worked?")
    rows = [
        [
            md(s.get("server")),
            md(s.get("server_port")),
            _list(s.get("server_names") or []),
            ("**" + md(irc_outcome(s.get("best_outcome"))) + "**")
            if s.get("best_outcome") in SUCCESS_OUTCOMES
            else md(irc_outcome(s.get("best_outcome"))),
            num(len(s.get("attempts") or [])),
        ]
        for s in irc.get("servers") or []
    ]
    d.table(["Server", "Port", "Server names", "Best outcome", "Connections"], rows)
    ok = a.get("irc_servers_successful") or []
    d.para(f"Succeeded: **{_list(ok)}**" if ok else "Succeeded: none")

    d.h(3, "2. How big is the botnet, and what bandwidth does it command?")
    botnets = irc.get("botnets") or []
    if not botnets:
        d.para("No botnet channel was seen.")
    for b in botnets:
        d.para(
            f"Channel **{md(b.get('channel'))}** on {md(b.get('server'))} "
            f"({_list(b.get('server_names') or [])}), at {num(irc.get('link_kbps'))} kbps a bot:"
        )
        d.add(*_census_table(b))
    d.h(3, "3. How many remote IP addresses took part?")
    d.para(
        f"**{num(a.get('remote_ip_count', len(r.get('remote_hosts') or [])))}** remote hosts "
        "exchanged traffic with the honeypot (see [Remote hosts](#remote-hosts))."
    )
    d.h(3, "4. Which services were attacked, and did the attacks succeed?")
    services = r.get("services") or []
    attacked = attacked_services(services)
    rows = [
        [
            md(service_label(s)),
            _verdict(s.get("verdict")),
            num(len(s.get("attackers") or [])),
            num(len(s.get("probers") or [])),
            num(s.get("connections")),
        ]
        for s in attacked
    ]
    d.table(["Service", "Verdict", "Attackers", "Probers", "Connections"], rows)
    probed = probed_services(services)
    if probed:
        d.para("Probed only (no payload): " + _list([service_label(s) for s in probed], 40) + ".")
    d.h(3, "5. Which attacks succeeded, and why?")
    wins = succeeded_services(services)
    if not wins:
        d.para("None.")
    for s in wins:
        d.add(f"- **{md(service_label(s))}**")
        d.add(*_bullets(s.get("reasons"), "  "))
        d.add(f"  - Re-check: {code(s.get('command'))}")
    d.end()
    d.h(3, "6. Which files were transferred?")
    files = r.get("files") or []
    if not files:
        d.para("None carved.")
    for f in files:
        d.add(
            f"- {code(f.get('name'))}: {num(f.get('size'))} bytes, {md(f.get('magic'))}, "
            f"md5 {md(f.get('md5'))}, {md(f.get('protocol'))} {md(f.get('src'))} → {md(f.get('dst'))}"
        )
    d.end()
    d.h(3, "7. Did a backdoor open?")
    live = [b for b in r.get("backdoors") or [] if b.get("answered_connections")]
    if not live:
        d.para("No backdoor port answered.")
    for b in live:
        d.add(
            f"- **{md(b.get('proto'))}/{md(b.get('port'))}** {md(b.get('service'))}: first answered "
            f"{when(b.get('first_answer'))} (frame {md(b.get('first_answer_frame'))}) to {md(b.get('client'))}"
        )
    d.end()
    d.h(3, "8. What did the honeypot send out?")
    outbound = r.get("outbound") or []
    if not outbound:
        d.para("Nothing.")
    for o in outbound:
        d.add(
            f"- {md(o.get('kind'))} {md(o.get('proto'))}/{md(o.get('port'))}: {num(o.get('flows'))} "
            f"flow(s) to {_list(o.get('destinations') or [], 8)}"
        )
    d.end()


def _verdict(v: Any) -> str:
    text = md(str(v).upper() if v else "-")
    return f"**{text}**" if v == "succeeded" else text


def _service_verdict(s: dict) -> str:
    """``service: VERDICT``, how every heading of a service (generic, Slammer, NBNS) ends."""
    return f"{md(service_label(s))}: {_verdict(s.get('verdict'))}"


def _census_table(b: dict) -> list[str]:
    rows = [
        [num(e.get("bots")), md(kbps(e.get("bandwidth_kbps"))), md(e.get("method", e.get("name")))]
        for e in b.get("estimates") or []
    ]
    return _table(["Bots", "Bandwidth", "Method"], rows)


def _key_findings(d: _Doc, r: dict) -> None:
    groups = key_findings(r)
    if not groups:
        return
    d.h(2, "Key findings")
    for g in groups:
        f = g["finding"]
        times = f" (x{g['count']}: {_list(g['hosts'], 8)})" if g["count"] > 1 else ""
        d.add(f"- **{md(str(f.get('severity')).upper())}** {md(f.get('title'))}{times}")
        d.add(f"  - Re-check: {code(f.get('command'))}")
    d.end()


def _services(d: _Doc, r: dict) -> None:
    services = by_verdict(r.get("services") or [])
    if not services:
        return
    d.h(2, "Services")
    for s in services:
        d.h(3, _service_verdict(s))
        d.add(
            _counted("Attackers", s.get("attackers")),
            _counted("Probers", s.get("probers")),
            f"- Connections {num(s.get('connections'))}, packets {num(s.get('packets'))}",
            "- Why:",
        )
        d.add(*_bullets(s.get("reasons"), "  "))
        d.add(*_evidence(s.get("evidence"), s.get("command")))
        d.end()


def _smb(d: _Doc, r: dict) -> None:
    sessions = smb_sessions(r)
    if not sessions:
        return
    d.h(2, "SMB sessions")
    for s in r.get("services") or []:
        det = s.get("details") or {}
        if "sessions" not in det:
            continue
        tc = det.get("tree_connects") or {}
        if tc:
            d.para(
                f"{md(service_label(s))} tree connects: "
                + ", ".join(f"{md(k)} x{num(v)}" for k, v in tc.items())
            )
        if det.get("session_request_only"):
            d.para(
                "NetBIOS session request only, no SMB command: "
                + _list(det.get("session_request_only"), 20)
            )
    for s in by_verdict(r.get("services") or []):
        det = s.get("details") or {}
        if det.get("sessions"):
            d.h(3, f"{md(service_label(s))}: {len(det['sessions'])} session(s)")
            d.add(*_smb_table(det["sessions"]))
    smb = (r.get("sections") or {}).get("smb") or {}
    d.para(f"{num(len(sessions))} sessions; {num(smb.get('files_carved'))} file(s) carved.")


def _smb_table(sessions: list[dict]) -> list[str]:
    rows = []
    for x in sessions:
        logons = []
        for lg in x.get("logons") or []:
            who = "null session" if lg.get("null_session") else (lg.get("user") or "''")
            if lg.get("domain"):
                who = f"{lg.get('domain')}\\{who}"
            pw = (
                ", empty password"
                if lg.get("empty_password") and not lg.get("null_session")
                else ""
            )
            logons.append(f"{who}{pw}: {lg.get('status')}")
        shares = [f"{sh.get('path')}: {sh.get('status')}" for sh in x.get("shares") or []]
        call_text, disclosed = rpc_summary(x)
        if disclosed:
            call_text.append("names: " + ", ".join(disclosed))
        files = [
            f"{f.get('name')} ({f.get('create_action') or f.get('status')}, {num(f.get('bytes_written'))} B written)"
            for f in x.get("files") or []
        ]
        rows.append(
            [
                when(x.get("start")),
                _endpoint(x, "client"),
                md(x.get("port")),
                _joined(logons),
                _joined(shares),
                _joined(call_text),
                _joined(files),
                md(x.get("outcome")),
                md(x.get("flow")),
            ]
        )
    return _table(
        ["Start", "Client", "Port", "Logons", "Shares", "RPC calls", "Files", "Outcome", "Flow"],
        rows,
    )


def _http(d: _Doc, r: dict) -> None:
    http = (r.get("sections") or {}).get("http") or {}
    if not http:
        return
    d.h(2, "HTTP")
    d.h(3, "Clients")
    rows = [
        [
            md(c.get("address")),
            md(c.get("role")),
            num(c.get("connections")),
            num(c.get("requests")),
            num(c.get("bytes_sent")),
            _list(c.get("classes") or []),
            md(_tally(c.get("statuses")) or "-"),
            _list(c.get("user_agents") or [], 2),
        ]
        for c in http.get("clients") or []
    ]
    d.table(
        [
            "Client",
            "Role",
            "Conns",
            "Requests",
            "Bytes sent",
            "Exploit classes",
            "Answers",
            "User-Agent",
        ],
        rows,
    )
    d.h(3, "Exploit classes")
    rows = [
        [
            md(c.get("cls")),
            md(c.get("description")),
            _list(c.get("clients") or [], 8),
            num(c.get("attempts")),
            _verdict(c.get("verdict")),
            _joined(c.get("reasons") or []),
            md(frames_text(c.get("frames"), 6)),
        ]
        for c in http.get("classes") or []
    ]
    d.table(["Class", "What", "Clients", "Attempts", "Verdict", "Why", "Frames"], rows)
    d.h(3, "Requests by client")
    reqs = http_requests(http)
    rows = [
        [
            when(q.get("time")),
            md(q.get("client")),
            md(f"{q.get('method')} {q.get('uri')}", 160),
            num(q.get("size")),
            md(
                f"{q.get('status')} {q.get('reason') or ''}".strip()
                if q.get("status") is not None
                else q.get("outcome")
            ),
            _list(q.get("classes") or []),
            md(q.get("frame")),
        ]
        for q in reqs
    ]
    d.table(["Time", "Client", "Request", "Bytes", "Answer", "Classes", "Frame"], rows)
    tri = http.get("triage") or {}
    if tri:
        d.para(
            f"Clients that sent {num(tri.get('threshold'))} bytes or more in one connection: "
            f"{_list(tri.get('per_connection') or [])} ({md(tri.get('basis'))})."
        )
    dls = http.get("downloads") or []
    if dls:
        d.h(3, "Downloads by the honeypot")
        rows = [
            [
                when(x.get("time")),
                _endpoint(x, "server"),
                md(x.get("host")),
                md(f"{x.get('method')} {x.get('uri')}"),
                md(x.get("status")),
                num(x.get("size")),
                md(x.get("md5")),
                md(x.get("magic")),
            ]
            for x in dls
        ]
        d.table(["Time", "Server", "Host", "Request", "Status", "Bytes", "MD5", "Type"], rows)


def _udp(d: _Doc, r: dict) -> None:
    slam = service_with_detail(r.get("services") or [], "slammer_like")
    nbns = service_with_detail(r.get("services") or [], "names")
    if not slam and not nbns:
        return
    d.h(2, "UDP probes")
    if slam:
        x = slam["details"]
        d.h(3, f"Slammer on {_service_verdict(slam)}")
        d.add(
            f"- Datagrams: {num(x.get('datagrams'))}, Slammer-like: **{num(x.get('slammer_like'))}**, "
            f"distinct payloads: {num(x.get('distinct_payloads'))}, payload md5 {md(x.get('payload_md5'))}",
            _counted("Sources", x.get("sources")),
            f"- Datagrams the honeypot sent to udp/1434 afterwards: {num(x.get('honeypot_sent_to_1434_after'))}",
        )
        d.add(*_bullets(slam.get("reasons")))
        d.add(*_evidence(slam.get("evidence"), slam.get("command")))
        d.end()
    if nbns:
        x = nbns["details"]
        d.h(3, f"NetBIOS name service on {_service_verdict(nbns)}")
        d.add(
            f"- Queries: {num(x.get('queries'))} ("
            + md(_tally(x.get("query_kinds")))
            + f"), distinct ignoring the transaction id: {num(x.get('distinct_queries_ignoring_txid'))}",
            f"- Responses: {num(x.get('responses'))}, with names: {num(x.get('responses_with_names'))}",
            _counted("Sources", x.get("sources")),
            f"- MAC addresses disclosed: {_list(x.get('mac_addresses') or [])}",
        )
        for kind, names in (x.get("disclosed") or {}).items():
            d.add(f"- Disclosed {md(kind)}: {_list(names)}")
        d.end()
        rows = [
            [
                md(n.get("name")),
                md(n.get("meaning")),
                "group" if n.get("group") else "unique",
                num(n.get("times")),
            ]
            for n in x.get("names") or []
        ]
        d.table(["Name", "Meaning", "Type", "Responses"], rows)
        d.add(*_evidence(nbns.get("evidence"), nbns.get("command")))
        d.end()


def _irc(d: _Doc, r: dict) -> None:
    irc = r.get("irc") or {}
    if not irc.get("servers") and not irc.get("sessions"):
        return
    d.h(2, "IRC")
    d.h(3, "Connections")
    rows = []
    for s in irc.get("sessions") or []:
        chans = [c.get("channel") for c in s.get("channels") or []]
        rows.append(
            [
                when(s.get("start")),
                _endpoint(s, "client"),
                _endpoint(s, "server"),
                md(s.get("conn_state")),
                md(irc_outcome(s.get("outcome"))),
                md(s.get("nick") or "-"),
                _list(chans),
                md(s.get("error") or "-"),
                f"{num(s.get('bytes_to_server'))} / {num(s.get('bytes_from_server'))}",
                md(s.get("uid")),
            ]
        )
    d.table(
        [
            "Start",
            "Client",
            "Server",
            "State",
            "Outcome",
            "Nick",
            "Channels",
            "ERROR",
            "Bytes out / in",
            "Flow",
        ],
        rows,
    )
    for b in irc.get("botnets") or []:
        d.h(3, f"Botnet {md(b.get('channel'))} on {md(b.get('server'))}")
        d.add(
            f"- Server names: {_list(b.get('server_names') or [])}; ports {_list(b.get('ports') or [])}",
            f"- Seen {when(b.get('first_seen'))} to {when(b.get('last_seen'))}",
            f"- Lines: JOIN {num(b.get('join_lines'))}, QUIT {num(b.get('quit_lines'))}, "
            f"PART {num(b.get('part_lines'))}, NICK {num(b.get('nick_lines'))}, KICK {num(b.get('kick_lines'))}; "
            f"distinct nicks {num(b.get('distinct_nicks'))}",
            f"- Membership estimate: peak {num(b.get('membership_peak'))}, at the end "
            f"{num(b.get('membership_last'))} ({len(b.get('membership') or [])} changes)",
        )
        d.end()
        d.para("**Census** (one line per method):")
        for e in b.get("estimates") or []:
            d.add(
                f"- **{num(e.get('bots'))}** bots, {md(kbps(e.get('bandwidth_kbps')))}: "
                f"{md(e.get('method', e.get('name')))}"
            )
        d.end()
        for x in b.get("lusers") or []:
            d.add(
                f"- LUSERS from {md(x.get('server_name'))} at {when(x.get('time'))} (frame {md(x.get('frame'))}): "
                f"global users {num(x.get('global_users'))} (max {num(x.get('max_global_users'))}), "
                f"local users {num(x.get('local_users'))} (max {num(x.get('max_local_users'))}), "
                f"invisible {num(x.get('invisible'))}, servers {num(x.get('servers'))}, "
                f"operators {num(x.get('operators'))}, channels {num(x.get('channels'))}"
            )
        for x in b.get("names") or []:
            d.add(
                f"- NAMES {md(x.get('channel'))} at {when(x.get('time'))} (frame {md(x.get('frame'))}): "
                f"{num(x.get('nicks'))} nicks ({num(x.get('operators'))} operators, "
                f"{num(x.get('voiced'))} voiced) in {num(x.get('lines'))} line(s)"
                + ("" if x.get("complete", True) else ", incomplete")
            )
        for x in b.get("keys") or []:
            d.add(
                f"- Channel key {code(x.get('key'))} ({md(x.get('source'))}, frame {md(x.get('frame'))})"
            )
        if b.get("passwords"):
            d.add(f"- Server passwords: {', '.join(code(p) for p in b.get('passwords'))}")
        for x in b.get("topics") or []:
            d.add(f"- Topic by {md(x.get('setter'))}: {code(x.get('text'))}")
        d.end()
        cmds = b.get("commands") or []
        d.para(f"**Commands to the bots** ({len(cmds)}):")
        rows = [
            [
                when(c.get("time")),
                md(c.get("frame")),
                md(c.get("sender")),
                md(c.get("target")),
                md(c.get("kind")),
                md(c.get("text"), 200),
            ]
            for c in cmds
        ]
        d.table(["Time", "Frame", "Sender", "Target", "Via", "Command"], rows)
        dcc = b.get("dcc") or []
        if dcc:
            d.para("**DCC offers**:")
            rows = [
                [
                    when(x.get("time")),
                    md(x.get("frame")),
                    md(x.get("sender")),
                    md(x.get("kind")),
                    md(x.get("file")),
                    md(f"{x.get('address')}:{x.get('port')}"),
                    num(x.get("size")),
                ]
                for x in dcc
            ]
            d.table(["Time", "Frame", "Sender", "Kind", "File", "Address", "Size"], rows)
    d.para(
        f"Re-check: {code('honeysift irc ' + str((r.get('capture') or {}).get('file', 'CAPTURE')))}"
    )


def _files(d: _Doc, r: dict) -> None:
    files = r.get("files") or []
    d.h(2, "Files")
    rows = [
        [
            md(f.get("name")),
            md(f.get("protocol")),
            md(f.get("direction")),
            md(f"{f.get('src')} → {f.get('dst')}"),
            when(f.get("time")),
            num(f.get("size")),
            md(f.get("md5")),
            md(f.get("sha256")),
            md(f.get("magic")),
            "yes" if f.get("complete") else "**no**",
            md(f.get("path") or "-"),
            md(frames_text((f.get("evidence") or {}).get("frames"), 6)),
        ]
        for f in files
    ]
    d.table(
        [
            "Name",
            "Protocol",
            "Direction",
            "From → to",
            "Time",
            "Bytes",
            "MD5",
            "SHA-256",
            "Type",
            "Complete",
            "Saved as",
            "Frames",
        ],
        rows,
    )
    missing = uncarved_dcc(r)
    if missing:
        d.para("Offered over IRC DCC but not carved (no data connection in the capture):")
        d.add(
            *[
                f"- {code(x.get('file'))} ({num(x.get('size'))} bytes) from {md(x.get('sender'))} "
                f"at {md(x.get('sender_address'))}:{md(x.get('port'))}, frame {md(x.get('offer_frame'))}"
                for x in missing
            ]
        )
        d.end()


def _backdoors(d: _Doc, r: dict) -> None:
    bds = r.get("backdoors") or []
    if not bds:
        return
    d.h(2, "Backdoors")
    for b in bds:
        state = "**answered**" if b.get("answered_connections") else "never answered"
        d.h(3, f"{md(b.get('proto'))}/{md(b.get('port'))} {md(b.get('service'))}: {state}")
        d.add(*_bullets(b.get("reasons")))
        link = b.get("linked_to")
        if isinstance(link, dict):
            d.add(
                f"- Follows: {md(link.get('summary'))} ({when(link.get('time'))}); {code(link.get('command'))}"
            )
        d.add(*_evidence(b.get("evidence"), b.get("command")))
        d.end()


def _outbound(d: _Doc, r: dict) -> None:
    ob = r.get("outbound") or []
    if not ob:
        return
    d.h(2, "Outbound traffic")
    rows = [
        [
            md(o.get("kind")),
            md(f"{o.get('proto')}/{o.get('port')}"),
            num(o.get("flows")),
            num(o.get("established")),
            _list(o.get("destinations") or [], 8),
            num(o.get("bytes_sent")),
            num(o.get("bytes_received")),
            when(o.get("first")),
            md(o.get("command")),
        ]
        for o in ob
    ]
    d.table(
        [
            "Kind",
            "Service",
            "Flows",
            "Established",
            "To",
            "Sent",
            "Received",
            "First",
            "Command",
        ],
        rows,
    )
    for o in ob:
        for q in o.get("queries") or []:
            d.add(
                f"- DNS query {code(q.get('name'))} x{num(q.get('queries'))}, answers {_list(q.get('answers') or [])}, "
                f"frames {md(frames_text(q.get('frames')))}"
            )
    d.end()


def _other(d: _Doc, r: dict) -> None:
    other = r.get("other_traffic") or []
    if not other:
        return
    d.h(2, "Other traffic")
    for o in other:
        d.h(3, md(service_label(o)))
        rows = [
            [
                num(c.get("count")),
                _list(c.get("hosts") or [], 6),
                f"{num(c.get('size_min'))}-{num(c.get('size_max'))}",
                num(c.get("answered")),
                md(c.get("preview"), 120),
                md(frames_text(c.get("frames"), 5)),
            ]
            for c in o.get("clusters") or []
        ]
        d.table(["Connections", "Hosts", "Bytes", "Answered", "First bytes", "Frames"], rows)
        d.para(f"Re-check: {code(o.get('command'))}")


def _timeline(d: _Doc, r: dict) -> None:
    events = r.get("timeline") or []
    if not events:
        return
    d.h(2, "Timeline")
    steps = compromise_steps(events)
    if steps:
        d.para("**Compromise chain** (the first event of each step, in order):")
        d.add(
            *[
                f"{i}. {when(e.get('time'))} **{md(e.get('kind'))}**: {md(e.get('summary'), 200)}"
                for i, e in enumerate(steps, 1)
            ]
        )
        d.end()
    d.para(
        "Steps of the compromise chain (logon, upload, new service, outbound, IRC join) are in bold."
    )
    rows = []
    for e in events:
        kind = md(e.get("kind"))
        if e.get("kind") in COMPROMISE_KINDS:
            kind = f"**{kind}**"
        rows.append(
            [
                when(e.get("time")),
                kind,
                md(e.get("summary"), 200),
                md(frames_text((e.get("evidence") or {}).get("frames"), 4)),
            ]
        )
    d.table(["Time", "Kind", "What", "Frames"], rows, limit=1000)


def _hosts(d: _Doc, r: dict) -> None:
    hosts = r.get("remote_hosts") or []
    d.h(2, "Remote hosts")
    rows = [
        [
            md(h.get("ip")),
            when(h.get("first_seen")),
            when(h.get("last_seen")),
            num(h.get("flows")),
            num(h.get("initiated")),
            num(h.get("contacted")),
            _list(h.get("ports") or [], 6),
            _list(h.get("contacted_ports") or [], 6),
            num(h.get("bytes_to_honeypot")),
            num(h.get("bytes_from_honeypot")),
            num(h.get("payload_to_honeypot")),
        ]
        for h in hosts
    ]
    d.table(
        [
            "IP",
            "First seen",
            "Last seen",
            "Flows",
            "Initiated",
            "Contacted",
            "Ports it hit",
            "Ports the honeypot hit",
            "Bytes in",
            "Bytes out",
            "Payload in",
        ],
        rows,
        limit=2000,
    )


def _findings(d: _Doc, r: dict) -> None:
    findings = r.get("findings") or []
    if not findings:
        return
    d.h(2, "Findings")
    for sev in SEVERITY_ORDER:
        chunk = [f for f in findings if f.get("severity") == sev]
        if not chunk:
            continue
        d.h(3, f"{sev.capitalize()} ({len(chunk)})")
        for f in chunk:
            cat = f"{md(f.get('category'))}, " if f.get("category") else ""
            d.add(f"- **{md(f.get('title'))}** ({cat}{when(f.get('time'))})")
            if f.get("detail"):
                d.add(f"  - {md(f.get('detail'))}")
            d.add(*["  " + x for x in _evidence(f.get("evidence"), f.get("command"))])
        d.end()
    unknown = [f for f in findings if f.get("severity") not in SEVERITY_ORDER]
    if unknown:
        d.h(3, "Other")
        d.add(*[f"- {md(f.get('title'))}" for f in unknown])
        d.end()
