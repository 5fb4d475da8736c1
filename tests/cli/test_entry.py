"""The program's entry point (cli.run): it leaves with os._exit, so nothing may be lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "honeysift", *args], capture_output=True)


def test_output_is_whole_and_status_kept(corpus: Path, tmp_path: Path) -> None:
    traces = corpus / "traces"
    # a long output through a pipe: one summary line per frame, every one of them
    big = str(traces / "http__1000-requests-one-dropped-response.pcap.gz")
    packets = json.loads(_run("info", "--json", big).stdout)["packets"]
    shown = _run("show", big)
    assert shown.returncode == 0 and shown.stdout.count(b"\n") == packets > 4000
    # the same bytes to a pipe and to -o
    teredo, out = str(traces / "tunnels__Teredo.pcap"), tmp_path / "f.json"
    piped = _run("flows", teredo, "--format", "json")
    to_file = _run("flows", teredo, "--format", "json", "-o", str(out))
    assert piped.returncode == to_file.returncode == 0
    assert piped.stdout == out.read_bytes() and piped.stdout.count(b"\n") > 20
    # a usage error keeps its status and message
    bad = _run("flows", teredo, "tcp", "port", "nonsense")
    assert bad.returncode == 2 and b"error" in bad.stderr and bad.stdout == b""


def test_show_writes_the_same_text_as_the_library() -> None:
    # the command writes the batches' bytes as they are (never decoded and encoded again);
    # the library hands out the same chunks as text
    from honeysift.dissect import show_command

    example = str(Path(__file__).resolve().parents[2] / "examples" / "sotm27-mini.pcap")
    for args in (["-V"], ["-T", "fields", "-e", "frame.number", "-e", "irc.request"]):
        chunks: list[str] = []
        verbose = args == ["-V"]
        kw = {} if verbose else {"mode": "fields", "fields": ["frame.number", "irc.request"]}
        assert show_command(example, (), None, verbose, out=chunks.append, **kw) == 0
        cli = _run("show", example, *args)
        assert cli.returncode == 0
        assert cli.stdout == "".join(c + "\n" for c in chunks).encode()
        assert cli.stdout.count(b"\n") >= 2553


def test_capture_names_in_warnings_are_escaped(tmp_path: Path) -> None:
    # a damaged capture whose file name carries terminal escapes (an attacker may name the
    # files a honeypot collects): every command's warning shows the name escaped
    example = Path(__file__).resolve().parents[2] / "examples" / "sotm27-mini.pcap"
    evil = tmp_path / "cap\x1b]0;x\x07\x1b[2J.pcap"
    evil.write_bytes(example.read_bytes()[:30_000])  # cut inside a record
    for args in (["show", "-c", "1"], ["show", "-T", "json", "-c", "1"], ["info"], ["flows"]):
        res = _run(*args, str(evil))
        assert res.returncode == 1, args  # damaged: everything readable shown, status 1
        assert b"warning" in res.stderr and b"\\x1b]0;x\\x07\\x1b[2J.pcap" in res.stderr, args
        assert b"\x1b" not in res.stderr and b"\x07" not in res.stderr, args
