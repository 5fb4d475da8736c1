"""Make docs/report-screenshot.png: analyze examples/sotm27-mini.pcap, render report.html and
photograph its top with headless Chromium (Debian package ``chromium``).

    python scripts/screenshot_report.py [--capture PCAP] [--out PNG] [--height PX] [--keep-html FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import honeysift  # noqa: E402
from honeysift.analysis.run import analyze  # noqa: E402
from honeysift.report.html import render_html  # noqa: E402

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--capture", type=Path, default=REPO / "examples" / "sotm27-mini.pcap")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "report-screenshot.png")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=1900)
    ap.add_argument("--keep-html", type=Path, help="also write the rendered report.html here")
    args = ap.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium not found (apt-get install -y chromium)", file=sys.stderr)
        return 2
    capture = args.capture.resolve()
    if capture.is_relative_to(REPO):  # name it as a reader of the README would type it
        os.chdir(REPO)
        capture = capture.relative_to(REPO)
    label = str(capture)
    with honeysift.open(capture) as cap:
        report = json.loads(json.dumps(analyze(cap, label=label).to_dict(), default=str))
    page = render_html(report)
    if args.keep_html:
        args.keep_html.write_text(page, encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "report.html"
        html.write_text(page, encoding="utf-8")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(
            [
                chromium,
                *FLAGS,
                f"--user-data-dir={Path(tmp) / 'profile'}",
                f"--screenshot={args.out.resolve()}",
                f"--window-size={args.width},{args.height}",
                html.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if res.returncode != 0 or not args.out.exists():
        print(res.stderr[-2000:], file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
