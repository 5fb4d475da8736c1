"""``honeysift analyze`` answers the write-up's questions on the scenario capture, exactly.

The scenario (tests/scenario/sotm27.py) is built from protocol-correct packets and knows its
own ground truth; every figure below comes from that ground truth, not from our output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import honeysift
from honeysift.analysis.run import analyze
from honeysift.cli import main
from tests.scenario.sotm27 import build


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    path = tmp_path_factory.mktemp("sotm") / "sotm27.pcap"
    gt = build(path)
    with honeysift.open(str(path)) as cap:
        rep = analyze(cap, label=str(path))
    return gt, rep.to_dict(), rep


def _svc(d, proto, port):
    return next(s for s in d["services"] if s["proto"] == proto and s["port"] == port)


def test_no_analysis_step_failed(scenario):
    _, d, _ = scenario
    assert d["analysis_errors"] == []


def test_honeypot_inferred(scenario):
    gt, d, _ = scenario
    assert [h["ip"] for h in d["honeypots"]] == [gt.honeypot]
    assert d["roles"]["confidence"] == "high"


def test_every_remote_host(scenario):
    gt, d, _ = scenario
    assert {h["ip"] for h in d["remote_hosts"]} == set(gt.remote_hosts)
    by_ip = {h["ip"]: h for h in d["remote_hosts"]}
    for ip in gt.probe_only_hosts:
        assert not by_ip[ip]["sent_payload"], ip


def test_irc_servers_and_census(scenario):
    gt, d, _ = scenario
    irc = gt.irc
    a = d["answers"]
    assert set(a["irc_servers_contacted"]) == set(gt.hosts_by_role["irc_server"])
    assert a["irc_servers_successful"] == [irc.server_ip]
    outcomes = a["irc_servers_outcomes"]
    assert outcomes[irc.refused_server] == "refused"
    assert outcomes[irc.silent_server] == "no_answer"
    assert outcomes[irc.nick_in_use_server] in ("closed_by_server", "nickname_in_use")
    b = next(x for x in d["irc"]["botnets"] if x["channel"] == irc.channel)
    assert (b["join_hosts"], b["quit_hosts"], b["union_hosts"]) == (
        irc.join_hosts,
        irc.quit_hosts,
        irc.union_hosts,
    )
    assert b["lusers"][0]["global_users"] == irc.users_reported
    assert b["names"][0]["nicks"] == irc.names_count
    assert b["bandwidth_kbps"]["union_hosts"] == irc.bandwidth_kbps


def test_slammer_failed(scenario):
    gt, d, _ = scenario
    s = _svc(d, "udp", 1434)
    assert s["verdict"] == "failed"
    assert s["details"]["slammer_like"] == gt.slammer_count
    assert set(s["details"]["sources"]) == set(gt.slammer_sources)
    assert s["details"]["payload_md5"] == gt.slammer_md5


def test_nbns_disclosure(scenario):
    gt, d, _ = scenario
    s = _svc(d, "udp", 137)
    assert s["verdict"] == "succeeded"
    det = s["details"]
    assert det["queries"] == gt.nbns.queries
    assert det["responses_with_names"] == gt.nbns.responses
    assert det["distinct_queries_ignoring_txid"] == 1
    assert {n["name"]: n["times"] for n in det["names"]} == dict(gt.nbns.name_counts)
    assert gt.nbns.mac in det["mac_addresses"]
    assert any(n.startswith(gt.netbios_name) for n in det["disclosed"]["machine"])


def test_smb_verdicts(scenario):
    gt, d, _ = scenario
    assert _svc(d, "tcp", 139)["verdict"] == "failed"
    s445 = _svc(d, "tcp", 445)
    assert s445["verdict"] == "succeeded"
    assert set(s445["attackers"]) == {a.client for a in gt.smb445}


def test_http_failed_and_triage(scenario):
    gt, d, _ = scenario
    s = _svc(d, "tcp", 80)
    assert s["verdict"] == "failed"


def test_files_carved_exactly(scenario):
    gt, d, _ = scenario
    ours = {(f["md5"], f["sha256"], f["size"]) for f in d["files"]}
    for f in gt.files:
        assert (f.md5, f.sha256, len(f.content)) in ours, f.name


def test_radmin_backdoor_linked_to_upload(scenario):
    gt, d, _ = scenario
    b = next(x for x in d["backdoors"] if x["port"] == 4899)
    assert b["client"] == gt.radmin_client
    assert b["first_answer_frame"] == gt.events["radmin_success_syn"]
    assert b["failed_before"] >= 1
    assert b["linked_to"] is not None and b["linked_to"]["kind"] in ("upload", "logon")
    assert _svc(d, "tcp", 4899)["verdict"] == "succeeded"
    hk = _svc(d, "udp", 28431)
    assert hk["verdict"] == "failed"


def test_outbound(scenario):
    gt, d, _ = scenario
    kinds = {o["kind"] for o in d["outbound"]}
    assert {"irc", "http", "dns"} <= kinds
    irc = next(o for o in d["outbound"] if o["kind"] == "irc")
    assert set(irc["destinations"]) == set(gt.hosts_by_role["irc_server"])


def test_timeline_is_the_compromise_chain(scenario):
    gt, d, _ = scenario
    first = {}
    for e in d["timeline"]:
        first.setdefault(e["kind"], e["time"])
    assert first["logon"] < first["upload"] < first["new-service"] < first["irc-join"]


def test_findings_have_evidence_and_commands(scenario):
    _, d, _ = scenario
    crit = [f for f in d["findings"] if f["severity"] == "critical"]
    assert any("logon" in f["title"].lower() for f in crit)
    assert any("4899" in f["title"] for f in crit)
    for f in d["findings"]:
        assert f["command"].startswith("honeysift ")
        if f["category"] != "roles":
            assert f["evidence"]["frames"] or f["evidence"]["flows"] or f["category"] == "botnet", f


def test_cli_writes_report_and_files(scenario, tmp_path):
    gt, _, _ = scenario
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["analyze", str(gt.path), "-o", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "report.json").read_text())
    written = {p.name for p in (out / "files").iterdir()}
    for f in data["files"]:
        assert f["path"] and Path(f["path"]).name in written
        assert (out / f["path"]).read_bytes()  # content is there
        assert ".." not in f["path"] and not Path(f["path"]).is_absolute()
