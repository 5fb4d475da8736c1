"""The write-up's tethereal greps, reproduced with ``honeysift show`` on the scenario capture.

tethereal -Vx -r sotm27 udp and udp.port == 137 | grep Name: | sort | uniq -c
tethereal -Vx -r sotm27 tcp and tcp.port == 139 | grep Path: | sort | uniq -c
tethereal -Vx -r sotm27 tcp and tcp.port==445 ... | grep 'File Name:'
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from honeysift.dissect import show_command
from tests.scenario import sotm27


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    return sotm27.build(tmp_path_factory.mktemp("show") / "sotm27.pcap", irc_lines=150)


def _show(path, *words, **kw) -> list[str]:
    lines: list[str] = []
    status = show_command(str(path), words, out=lambda s: lines.extend(s.split("\n")), **kw)
    assert status == 0
    return lines


def _grep(lines: list[str], label: str) -> Counter:
    return Counter(ln.strip() for ln in lines if ln.lstrip().startswith(label))


def test_nbns_names_with_suffix_meanings(truth) -> None:
    lines = _show(truth.path, display_filter="udp.port == 137", verbose=True)
    names = _grep(lines, "Name: ")
    got: Counter = Counter()
    for text, n in names.items():
        m = re.match(r"Name: (\S+?)(?: \((.+)\))?$", text)
        assert m, text
        got[m.group(1)] += n
    # every name of the ground truth's node-status responses, as many times as it was sent
    for name, count in truth.nbns.name_counts:
        assert got[name] >= count, name
    # suffix meanings as tethereal printed them
    assert names["Name: PC0191<20> (Server service)"] == truth.nbns.responses
    assert names["Name: SBM<1e> (Browser Election Service)"] == truth.nbns.responses
    assert names["Name: <01><02>__MSBROWSE__<02><01> (Browser)"] == truth.nbns.responses
    flags = _grep(lines, "Flags: 0x")
    assert flags["Flags: 0x0010 (Name query)"] == truth.nbns.queries
    assert flags["Flags: 0x8400 (Name query response, No error)"] == truth.nbns.responses


def test_smb139_paths(truth) -> None:
    lines = _show(truth.path, "tcp", "port", "139", verbose=True)
    paths = _grep(lines, "Path: ")
    assert {k.split(": ", 1)[1]: v for k, v in paths.items()} == dict(truth.smb139_paths)


def test_smb445_created_files(truth) -> None:
    lines = _show(truth.path, "tcp", "port", "445", verbose=True)
    names = {k.split(": ", 1)[1] for k in _grep(lines, "File Name: ")}
    expected = {f for a in truth.smb445 for f in a.files}
    assert expected and expected <= names
    status = _grep(lines, "[Path: ") | _grep(lines, "Path: ")
    assert {p for a in truth.smb445 for p, _s in a.shares} <= {
        k.split(": ", 1)[1].rstrip("]") for k in status
    }


def test_fields_and_summary_modes(truth) -> None:
    rows = _show(truth.path, "udp", "port", "137", mode="fields",
                 fields=["frame.number", "nbns.flags", "udp.srcport"])  # fmt: skip
    rows = [r.split("\t") for r in rows if r]
    assert len(rows) == truth.nbns.queries + truth.nbns.responses
    assert {r[1] for r in rows} == {"0x0010", "0x8400"}
    summary = _show(truth.path, "udp", "port", "1434", limit=3)
    assert len([s for s in summary if s]) == 3
    assert all("SSRP" in s for s in summary if s)
