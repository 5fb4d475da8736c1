"""``analyze`` on the real corpus captures (none of them a honeypot): a report for each, no
step failing, no honeypot invented; with --honeypot given, the analyzers run on real traffic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import honeysift
from honeysift.analysis.run import analyze
from honeysift.capture.summary import summarize
from honeysift.report.html import render_html
from honeysift.report.markdown import render_markdown
from honeysift.report.terminal import render_summary
from tests.conftest import corpus_traces, trace_name

SCHEMA = Path(honeysift.__file__).parent / "report" / "report.schema.json"


@pytest.mark.parametrize("path", corpus_traces(), ids=trace_name)
def test_no_honeypot_invented(path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    with honeysift.open(str(path)) as cap:
        d = analyze(cap, label=path.name).to_dict()
    assert d["analysis_errors"] == []
    # the capture facts gathered during the flow pass are those of a pass of their own
    with honeysift.open(str(path)) as cap:
        assert d["capture"] == summarize(cap).to_dict()
    assert d["honeypots"] == [] and d["roles"]["confidence"] == "none"
    assert any(f["title"] == "No honeypot evident" for f in d["findings"])
    jsonschema.validate(d, json.loads(SCHEMA.read_text()))
    for render in (render_summary, render_markdown, render_html):
        assert "No honeypot" in render(d) or "no honeypot" in render(d).lower()


@pytest.mark.parametrize(
    ("trace", "server", "service"),
    [
        ("smb__smb2.pcap", "10.0.0.12", ("tcp", 445)),
        ("http__get.pcap", "192.150.187.43", ("tcp", 80)),
        ("ftp__ipv4.pcap", None, None),
    ],
)
def test_given_honeypot_on_real_traffic(corpus, trace: str, server: str | None, service) -> None:
    path = corpus / "traces" / trace
    with honeysift.open(str(path)) as cap:
        if server is None:  # the FTP server: whoever answered on port 21
            t = cap.packets()
            from honeysift.capture.table import halves_to_addr

            i = int((t.sport == 21).argmax())
            server = halves_to_addr(t.src_hi[i], t.src_lo[i])
        d = analyze(cap, honeypots=[server], label=trace).to_dict()
    assert d["analysis_errors"] == []
    assert [h["ip"] for h in d["honeypots"]] == [server]
    assert d["remote_hosts"]
    if service:
        assert any((s["proto"], s["port"]) == service for s in d["services"])
    if trace == "smb__smb2.pcap":
        assert any(
            f["name"].endswith("WP_SMBPlugin.pdf") and f["size"] == 1508939 for f in d["files"]
        )
