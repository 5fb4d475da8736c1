"""report.html in a real browser: headless Chromium loads it offline without console errors or
network requests, builds the DOM we expect, and takes a screenshot. Skipped without chromium
(Debian package ``chromium``; .ci/run installs it)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import honeysift
from honeysift.analysis.run import analyze
from honeysift.report.html import render_html
from tests.report.test_renderers import PAYLOAD, _hostile

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "sotm27-mini.pcap"
CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]
BAD_LOG = ("Uncaught", ":CONSOLE", "net::ERR_", "Refused to")  # this page runs no script at all

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _log_problems(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if any(b in line for b in BAD_LOG)]


@pytest.fixture(scope="module")
def report() -> dict:
    with honeysift.open(EXAMPLE) as cap:
        rep = analyze(cap, label="examples/sotm27-mini.pcap")
    return json.loads(json.dumps(rep.to_dict(), default=str))


def test_page_loads_cleanly_and_has_its_sections(report, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    res = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    assert _log_problems(res.stderr) == []
    dom = res.stdout
    for anchor in (
        'id="answers"',
        'id="timeline"',
        'id="services"',
        'id="smb"',
        'id="irc"',
        'id="files"',
        'id="hosts"',
        'id="findings"',
    ):
        assert anchor in dom
    assert dom.count("<svg") >= 3
    assert "<script" not in dom


def test_screenshot(report, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    png = tmp_path / "shot.png"
    res = _chromium(
        tmp_path,
        f"--screenshot={png}",
        "--window-size=1280,2000",
        "--hide-scrollbars",
        page.as_uri(),
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert _log_problems(res.stderr) == []
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 2000)
    assert len(data) > 50_000  # a rendered page, not a blank one


def test_hostile_strings_stay_text_in_the_browser(report, tmp_path):
    page = tmp_path / "hostile.html"
    page.write_text(render_html(_hostile(report)), encoding="utf-8")
    res = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    assert _log_problems(res.stderr) == []
    dom = res.stdout
    assert (
        "<script" not in dom
        and "<img" not in dom
        and "onerror" not in dom.replace("onerror=alert(3)&gt;", "")
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert PAYLOAD.split("\x1b")[0].startswith("<script>")
