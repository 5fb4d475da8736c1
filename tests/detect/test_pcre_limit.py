"""pcre is bounded by a match limit: a payload built to make a regex backtrack for minutes
(catastrophic backtracking, "ReDoS") costs a bounded number of steps, counts as no match, as
in Snort and Suricata, and is reported once per rule with the frame where it first happened.

Each hostile case here would run for minutes to ages with an unbounded backtracking engine
(Python ``re``: 73 s for 44 bytes of the first one, x1.6 per extra byte), so that the tests
finish at all is the proof of the bound."""

from __future__ import annotations

import json

from click.testing import CliRunner

from honeysift.cli import main
from honeysift.detect.match import match_ops
from honeysift.detect.rules import PCRE_MATCH_LIMIT, translate_pcre
from tests.detect.helpers import HP, Trace, alerts, fired, rule

EVIL = b"a" * 3000 + b"!"  # ^(a|aa)+$ tries every way of splitting the a's before failing


def test_hostile_packet_is_bounded_and_reported_once(tmp_path):
    t = Trace()
    (ok,) = t.tcp([b"aaaa"], sport=40001)
    (bad1,) = t.tcp([EVIL], sport=40002)
    (bad2,) = t.tcp([b"b" + EVIL], sport=40003)
    (mark,) = t.tcp([b"MARK"], sport=40004)
    rep = alerts(
        tmp_path,
        t,
        rule(1, r'pcre:"/^(a|aa)+$/";')
        + rule(2, r'pcre:"/(a|aa)+$/";')
        + rule(3, 'content:"MARK";'),
    )
    # the short benign payload still matches; the hostile ones count as no match
    assert fired(rep) == [(1, ok), (2, ok), (3, mark)]
    hits = {h.sid: (h.frame, h.count) for h in rep.pcre_limits}
    assert hits == {1: (bad1, 1), 2: (bad1, 2)}
    assert [h.source for h in rep.pcre_limits] == ["text:1", "text:2"]
    assert rep.to_dict()["pcre_limits"][0]["frame"] == bad1


def test_limit_in_stream_and_lookahead_rules(tmp_path):
    t = Trace()
    # the hostile run is split over segments: only the reassembled stream holds all of it
    frames = t.tcp([EVIL[:1000], EVIL[1000:2000], EVIL[2000:]], sport=40001)
    (good,) = t.tcp([b"xaab!"], sport=40002)
    rep = alerts(
        tmp_path,
        t,
        rule(1, r'flow:only_stream; pcre:"/(?=(a|aa)+$)a/";')
        + rule(2, r'flow:only_stream; pcre:"/x(?=(a|aa)+b!)/";'),
    )
    assert fired(rep) == [(2, good)]
    assert [(h.sid, h.frame) for h in rep.pcre_limits] == [(1, frames[0])]


def test_match_ops_counts_the_limit_as_no_match():
    p, _ = translate_pcre(r'"/^(a|aa)+$/"')
    hits: list = []
    assert match_ops([p], EVIL, limits=hits) is None
    assert hits == [p]
    assert match_ops([p], b"a" * 10, limits=hits) is not None
    assert hits == [p]  # a match within the limit is not reported
    # a long benign subject with a cheap pattern stays far below the limit
    q, _ = translate_pcre(r'"/[ab]b?c/"')
    got = match_ops([q], b"ab" * 200_000 + b"abc", limits=hits)
    assert got is not None and got.end == 400_003 and hits == [p]
    assert PCRE_MATCH_LIMIT > 0


def test_cli_warns_on_stderr_and_finishes(tmp_path):
    t = Trace()
    (bad,) = t.tcp([EVIL], sport=40001)
    t.tcp([EVIL], sport=40002)
    pcap = t.write(tmp_path / "t.pcap")
    rules = tmp_path / "redos.rules"
    rules.write_text(
        'alert tcp any any -> any any (msg:"redos"; pcre:"/^(a|aa)+$/"; sid:20;)\n'
        'alert tcp any any -> any any (msg:"a run"; content:"aaaa"; sid:21;)\n'
    )
    res = CliRunner().invoke(
        main, ["alerts", str(pcap), "--rules", str(rules), "--no-builtin", "--honeypot", HP]
    )
    assert res.exit_code == 0, res.output
    fast = [ln for ln in res.stdout.splitlines() if "[**]" in ln]
    assert len(fast) == 2 and all("[1:21:1] a run" in ln for ln in fast)
    warn = [ln for ln in res.stderr.splitlines() if "sid 20" in ln]
    assert len(warn) == 1, res.stderr
    assert f"frame {bad}" in warn[0] and "match limit" in warn[0] and "2 buffers" in warn[0]
    assert "Traceback" not in res.stderr


def test_analyze_reports_a_builtin_rule_over_the_limit(tmp_path):
    # the built-in IRC C&C rule's lazy "[^\r\n]*? :" walks a whole line per start position:
    # one overlong server line pushes it past the limit; analyze says so, as `alerts` does
    t = Trace()
    line = b":x!y@z PRIVMSG #c " + b"w :" * 7_000 + b"\r\n"
    cmd = b":x!y@z PRIVMSG #c :.advscan lsass 200\r\n"
    t.tcp(
        [b"NICK b\r\nUSER b b b :b\r\n"],
        [line, cmd],
        sport=1100,
        dport=6667,
        src=HP,
        dst="192.0.2.9",
    )
    pcap = t.write(tmp_path / "irc.pcap")
    res = CliRunner().invoke(main, ["analyze", str(pcap), "--honeypot", HP, "--json"])
    assert res.exit_code == 0, res.output
    warn = [ln for ln in res.stderr.splitlines() if "sid 9000041" in ln]
    assert len(warn) == 1 and "match limit" in warn[0], res.stderr
    alerts_sec = json.loads(res.stdout)["sections"]["alerts"]
    assert [h["sid"] for h in alerts_sec["pcre_limits"]] == [9000041]
    assert alerts_sec["by_sid"].get("9000041", 0) >= 1  # the well-formed command still fires
