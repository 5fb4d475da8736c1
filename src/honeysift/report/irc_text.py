"""Renders an :class:`IrcReport` for the terminal (``honeysift irc``). Renderers only: no analysis.

Every attacker-controlled string (nicks, channels, hosts, message text) goes through
:func:`honeysift.safe_text.safe` so control bytes never reach the terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from honeysift.analysis.irc import (
    METHODS,
    BotnetCensus,
    Dcc,
    IrcReport,
    IrcSession,
    LusersSnapshot,
    text,
)
from honeysift.protocols.irc import DccOffer
from honeysift.report.present import IRC_OUTCOMES
from honeysift.report.timefmt import iso
from honeysift.safe_text import safe

# The report's outcome labels; the terminal also says which reply registration ended before.
_OUTCOME = {
    **IRC_OUTCOMES,
    "closed_during_registration": "closed during registration (before 001)",
}
_MAX_ITEMS = 20  # list entries shown per section before "... N more"
_T = TypeVar("_T")


def _s(b: bytes | None) -> str:
    return "-" if b is None else safe(text(b) or "")


def _more(n: int) -> list[str]:
    return [f"      ... {n - _MAX_ITEMS} more (see --json)"] if n > _MAX_ITEMS else []


def _capped_lines(items: Sequence[_T], line: Callable[[_T], str]) -> list[str]:
    """One line per item for the first _MAX_ITEMS, then how many more there are: a session or
    botnet can carry thousands of NAMES replies, topics, commands or DCC offers."""
    return [line(x) for x in items[:_MAX_ITEMS]] + _more(len(items))


def _n(x: int | None) -> str:
    return "-" if x is None else f"{x:,}"


def _num(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def _dcc_offer(o: DccOffer) -> str:
    """An offer as the message spelled it (the raw host where it is not an address), the same in
    the session list and the botnet census, so the two can be matched by eye."""
    return f"{_s(o.kind)} {_s(o.argument)} {o.address or _s(o.host_raw)}:{o.port}"


def _session_lines(s: IrcSession) -> list[str]:
    out = [
        f"  {iso(s.start)}  {safe(s.client)}:{s.client_port} -> {safe(s.server)}:{s.server_port}"
        f"  [{safe(s.conn_state) or '?'}]  {_OUTCOME.get(s.outcome, safe(s.outcome))}"
    ]
    if s.server_names:
        out.append(f"      server names: {', '.join(_s(n) for n in s.server_names)}")
    reg = []
    if s.password is not None:
        reg.append(f"PASS {_s(s.password)}")
    if s.nicks:
        reg.append(f"NICK {', '.join(_s(n) for n in s.nicks)}")
    if s.user is not None:
        u = s.user
        reg.append(
            f"USER {_s(u.username)} {_s(u.host_or_mode)} {_s(u.server_or_unused)} :{_s(u.realname)}"
        )
    if reg:
        out.append(f"      registration: {'; '.join(reg)}")
    if s.nick_in_use:
        out.append(f"      nickname in use: {', '.join(_s(n) for n in s.nick_in_use)}")
    if s.error is not None:
        out.append(f"      ERROR {iso(s.error_time)}: {_s(s.error)}")
    for nc in s.nick_changes[:_MAX_ITEMS]:
        out.append(f"      nick {_s(nc.old)} -> {_s(nc.new)} at {iso(nc.time)}")
    for c in s.channels:
        key = f" key {_s(c.key)}" if c.key is not None else ""
        when = f"joined {iso(c.joined)}" if c.joined is not None else "join not confirmed"
        out.append(f"      channel {_s(c.channel)}{key}: {when}")
    if s.lusers:
        x = s.lusers[0]
        out.append(
            f"      LUSERS at {iso(x.time)}: global users {_n(x.global_users)}, local users"
            f" {_n(x.local_users)}" + (f" ({len(s.lusers)} replies)" if len(s.lusers) > 1 else "")
        )
    out += _capped_lines(
        s.names, lambda n: f"      NAMES {_s(n.channel)} at {iso(n.time)}: {n.nicks:,} nicks"
    )
    if s.commands:
        out.append(f"      {len(s.commands)} bot command(s) received (see the botnet below)")
    out += _capped_lines(s.dcc, _session_dcc_line)
    out.append(
        f"      bytes to server {s.bytes_to_server:,}, from server {s.bytes_from_server:,};"
        f" lines {s.lines_to_server:,} / {s.lines_from_server:,}"
        + (f"; {s.malformed_lines} malformed" if s.malformed_lines else "")
    )
    return out


def _session_dcc_line(d: Dcc) -> str:
    size = f" size {d.offer.size}" if d.offer.size is not None else ""
    return (
        f"      DCC {_dcc_offer(d.offer)}{size} ({d.direction}, from"
        f" {_s(d.sender)} to {_s(d.target)}, frame {d.frame})"
    )


def _botnet_lines(b: BotnetCensus, kbps: float) -> list[str]:
    names = ", ".join(_s(n) for n in b.server_names)
    out = [
        f"Botnet {_s(b.channel)} on {safe(b.server)}" + (f" ({names})" if names else ""),
        f"  seen {iso(b.first_seen)} .. {iso(b.last_seen)} in {len(b.sessions)} session(s)",
        "  census (figure: how it was counted)",
    ]
    for key in (
        "join_hosts",
        "quit_hosts",
        "union_hosts",
        "distinct_nicks",
        "join_lines",
        "quit_lines",
        "part_lines",
        "nick_lines",
        "kick_lines",
    ):
        out.append(f"    {getattr(b, key):>8,}  {key}: {METHODS[key]}")
    if b.lusers:
        out.append(f"  LUSERS ({METHODS['lusers']})")
        out += _capped_lines(b.lusers, _lusers_line)
    if b.names:
        out.append(f"  NAMES ({METHODS['names']})")
        out += _capped_lines(
            b.names,
            lambda n: (
                f"    {iso(n.time)}: {n.nicks:,} nicks in {n.lines} line(s),"
                f" {n.operators} ops, {n.voiced} voiced"
                + ("" if n.complete else " (no 366: stream ended)")
            ),
        )
    if b.membership:
        peak = max(m for _, m in b.membership)
        out.append(
            f"  membership: last {b.membership[-1][1]:,}, peak {peak:,} ({METHODS['membership']})"
        )
    if b.estimates:
        out.append(f"  bandwidth at {_num(kbps)} kbps per bot")
        for e in b.estimates:
            out.append(f"    {_num(e.bandwidth_kbps):>14} kbps  ({e.bots:,} bots: {e.method})")
    if b.keys or b.passwords:
        keys = ", ".join(f"{_s(k.key)} ({k.source})" for k in b.keys[:_MAX_ITEMS])
        out.append(
            f"  channel keys: {keys or '-'}; server passwords: "
            f"{', '.join(_s(p) for p in b.passwords) or '-'}"
        )
    out += _capped_lines(
        b.topics, lambda t: f"  topic {iso(t.time)} ({t.source}, by {_s(t.setter)}): {_s(t.text)}"
    )
    if b.commands:
        out.append(f"  commands ({len(b.commands)})")
        out += _capped_lines(
            b.commands,
            lambda c: (
                f"    {iso(c.time)} frame {c.frame} {c.kind} {_s(c.sender)} -> {_s(c.target)}:"
                f" {_s(c.text)}"
            ),
        )
    out += _capped_lines(
        b.dcc,
        lambda d: (
            f"  DCC {_dcc_offer(d.offer)} from {_s(d.sender)} at {iso(d.time)} (frame {d.frame})"
        ),
    )
    return out


def _lusers_line(x: LusersSnapshot) -> str:
    f = x.figures
    parts = [f"global users {_n(x.global_users)}", f"local users {_n(x.local_users)}"]
    parts += [
        f"{k.replace('_', ' ')} {f[k]}"
        for k in ("servers", "operators", "channels", "max_global_users")
        if k in f
    ]
    return f"    {iso(x.time)} {_s(x.server_name)}: {', '.join(parts)}"


def render_irc(report: IrcReport) -> str:
    """A terminal summary: servers tried and outcomes, sessions, then each botnet's census."""
    out: list[str] = []
    if not report.sessions:
        out.append("No IRC connections found.")
    else:
        out.append(f"IRC servers tried ({len(report.servers)})")
        for sv in report.servers:
            names = ", ".join(_s(n) for n in sv.server_names)
            out.append(
                f"  {safe(sv.server)}:{sv.server_port}"
                + (f" ({names})" if names else "")
                + f": best outcome {_OUTCOME.get(sv.best, safe(sv.best))}"
            )
            for a in sv.attempts:
                err = f": {_s(a.error)}" if a.error is not None else ""
                out.append(
                    f"    {iso(a.start)} from port {a.client_port}:"
                    f" {_OUTCOME.get(a.outcome, safe(a.outcome))}{err}"
                )
        out.append("")
        out.append(f"Sessions ({len(report.sessions)})")
        for s in report.sessions:
            out += _session_lines(s)
    for b in report.botnets:
        out.append("")
        out += _botnet_lines(b, report.link_kbps)
    if report.skipped:
        out.append("")
        out.append(
            f"Skipped {len(report.skipped)} connection(s) whose payload is not IRC: "
            + ", ".join(safe(u) for u, _ in report.skipped[:_MAX_ITEMS])
        )
    return "\n".join(out) + "\n"
