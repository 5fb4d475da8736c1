"""Which flows are IRC, and their census: the glue between the flow table and analysis.irc."""

from __future__ import annotations

from honeysift.analysis.flowsel import flows_by_service
from honeysift.analysis.irc import IRC_PORTS, IrcReport, analyze_irc, conversation_from_streams
from honeysift.pipeline import Pipeline


def irc_flows(pipe: Pipeline) -> list[int]:
    """TCP flows on IRC ports, or whose payload the flow table recognised as IRC."""
    return flows_by_service(pipe.flows, 6, IRC_PORTS, "irc", either_port=True)


def irc_report(pipe: Pipeline, link_kbps: float = 56.0) -> IrcReport:
    cand = irc_flows(pipe)
    streams = pipe.tcp_streams(cand)
    convs = []
    for i in cand:
        c2s = streams.get((i, 0))
        s2c = streams.get((i, 1))
        convs.append(
            conversation_from_streams(
                pipe.flow_row(i), c2s and c2s.stream, s2c and s2c.stream, pipe.ts_of_frame
            )
        )
    return analyze_irc(convs, link_kbps=link_kbps)
