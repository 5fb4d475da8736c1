"""The built-in ruleset on the scenario capture (expected alerts from its ground truth) and on
the corpus's HTTP, SMB and IRC traces (the alerts a person would agree with, listed per trace)."""

from __future__ import annotations

import pytest

import honeysift
from honeysift.detect.alerts import alerts_as_findings, run_alerts
from tests.conftest import CORPUS
from tests.scenario.sotm27 import build


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    path = tmp_path_factory.mktemp("alerts") / "s27.pcap"
    gt = build(path)
    with honeysift.open(str(path)) as cap:
        rep = run_alerts(cap)
    by: dict[int, list[int]] = {}
    for a in rep.alerts:
        by.setdefault(a.sid, []).append(a.frame)
    return gt, rep, by


def test_loads_cleanly(scenario):
    gt, rep, _ = scenario
    assert rep.issues == [] and rep.rules_loaded >= 25
    assert rep.variables["HOME_NET"] == f"[{gt.honeypot}]"


def test_key_events_alert(scenario):
    gt, _, by = scenario
    ev = gt.events
    assert by[9000001][0] == ev["slammer_first"] and len(by[9000001]) == gt.slammer_count
    assert by[9000002] == [ev["codered"]]
    assert ev["cmd_overflow_first"] in by[9000005]
    assert by[9000008] == [ev["webdav_search"]]
    assert by[9000027] == [ev["raddrv_open"]]
    assert by[9000040] == [ev["irc_join_command"]]
    assert by[9000050] == [ev["hackatack"]]
    assert by[9000031] == [ev["radmin_success_syn"] + 1]  # the honeypot's SYN/ACK
    assert ev["radmin_success_syn"] in by[9000030]
    assert ev["smb445_admin_logon"] in by[9000028]
    assert ev["nbns_unanswered"] in by[9000010]
    assert len(by[9000010]) == gt.nbns.queries


def test_counts_from_ground_truth(scenario):
    gt, rep, by = scenario
    http = gt.http_requests
    uris = [r.uri.lower() for r in http]
    assert len(by[9000004]) == sum("/root.exe" in u for u in uris)
    assert len(by[9000005]) == sum("cmd.exe" in u for u in uris)
    # every tcp/445 attacker with a successful Administrator logon, and no failed one
    assert len(by[9000028]) == sum(a.admin_logon == "success" for a in gt.smb445)
    assert len(by[9000026]) == sum(bool(a.samr_calls) for a in gt.smb445)
    admin = sum(p.upper().endswith("\\ADMIN$") for a in gt.smb445 for p, _ in a.shares)
    assert len(by.get(9000022, [])) + len(by.get(9000023, [])) == admin
    cshare = sum(p.upper().endswith("\\C$") for a in gt.smb445 for p, _ in a.shares)
    assert len(by.get(9000020, [])) + len(by.get(9000021, [])) == cshare
    # scans: only probe-only and pinging hosts
    scan_hosts = {a.dst for a in rep.alerts if a.sid == 9000061}
    assert scan_hosts and scan_hosts <= set(gt.probe_only_hosts)
    assert {a.src for a in rep.alerts if a.sid == 9000062} == set(gt.hosts_by_role["icmp"])


def test_findings(scenario):
    gt, rep, _ = scenario
    fs = alerts_as_findings(rep.alerts, "s27.pcap")
    assert {f.category for f in fs} == {"alert"}
    assert len(fs) == len({a.sid for a in rep.alerts})
    slam = next(f for f in fs if "Slammer" in f.title)
    assert slam.severity == "high" and gt.events["slammer_first"] in slam.evidence.frames


# Alerts expected on the corpus traces (sid -> count); every other trace raises none.
EXPECTED = {
    # 172.31.112.16 asks 172.31.112.17 for its NetBIOS names twice: a real NBSTAT query for *
    "smb__smb_v2_only_non_zero_reserved1.pcap": {9000010: 2},
}
TRACES = [
    "http-vlan-0.pcap", "http__1000-requests-one-dropped-response.pcap.gz",
    "http__206_example_b.pcap", "http__ctu-62604-80.pcap", "http__get-to-ssh-server.pcap",
    "http__get.pcap", "http__get_nosyn.pcap", "http__m57-long-49583-80.pcap",
    "http__pipelined-requests.pcap", "http__post.pcap", "irc-353.pcap", "irc-basic.pcap",
    "irc-dcc-send-malformed-host.pcap", "irc-dcc-send.pcapng", "irc-dcc-state-growth.pcapng",
    "contentline__contentline-irc-5k-line.pcap", "tcp__http-on-irc-port-missing-syn.pcapng",
    "smb__cifs_negotiate_lanman.pcap", "smb__smb1.pcap", "smb__smb2.pcap",
    "smb__smb2readwrite.pcap", "smb__smb_v2_only_non_zero_reserved1.pcap",
    "netbios__netbios-split-session-msg.pcap", "dce-rpc__dce_rpc_ntlm.pcapng",
]  # fmt: skip


@pytest.mark.parametrize("name", TRACES)
def test_corpus_no_false_alerts(corpus, name):
    path = CORPUS / "traces" / name
    if not path.exists():
        pytest.skip(f"{name} not in the corpus")
    with honeysift.open(str(path)) as cap:
        rep = run_alerts(cap)
    got: dict[int, int] = {}
    for a in rep.alerts:
        got[a.sid] = got.get(a.sid, 0) + 1
    assert got == EXPECTED.get(name, {})
