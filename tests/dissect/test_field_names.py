"""`show -Y` and `-T fields -e` refuse field names honeysift can never fill (tshark refuses
unknown names too): a typo must be an error, not an always-empty column. The other side: no
name a decoder really puts on a tree may be refused."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from honeysift.capture.reader import Capture
from honeysift.dissect import dissect
from honeysift.errors import FilterError
from honeysift.filters.display import compile_display
from honeysift.report.show_text import FrameFields, known_field
from tests.conftest import corpus_traces

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "sotm27-mini.pcap"


def test_header_names_are_what_frame_fields_serves() -> None:
    from honeysift.report.show_text import ETH_FIELDS, HEADER_FIELDS

    with Capture(str(EXAMPLE)) as cap:
        served = set(FrameFields(dissect(cap, decode=False)).header)
    assert served | ETH_FIELDS == HEADER_FIELDS


def test_every_field_a_decoder_emits_is_known(corpus: Path) -> None:
    # every record of the example and of every corpus trace: names and record kinds
    seen: set[str] = set()
    for path in [EXAMPLE, *corpus_traces()]:
        with Capture(str(path)) as cap:
            for recs in dissect(cap).records.values():
                for rec in recs:
                    seen.add(rec.proto)
                    seen.update(rec.fields())
    assert len(seen) > 250  # SMB1/2, DCE/RPC, HTTP, IRC, DNS, NBNS, FTP, ICMP all decoded
    assert sorted(n for n in seen if not known_field(n)) == []


def test_every_field_name_written_in_a_decoder_is_known() -> None:
    # names no trace happens to exercise: every "proto.field" literal in the decoders' source
    src = REPO / "src" / "honeysift"
    names: set[str] = set()
    for path in [*(src / "protocols").glob("*.py"), src / "dissect" / "app.py"]:
        names.update(re.findall(r'"([a-z_][a-z0-9_]*\.[a-z0-9_.]+)"', path.read_text()))
    names = {n for n in names if not n.endswith((".py", ".exe", ".dll", ".txt"))}
    assert len(names) > 250
    assert sorted(n for n in names if not known_field(n)) == []


@pytest.mark.parametrize(
    "name", ["bogus", "bogus.field", "ip.scr", "tcp.prot", "udp.checksum", "\x1b[2J", "ntlmssp"]
)
def test_unknown_names_are_refused(name: str) -> None:
    assert not known_field(name)


def test_display_filter_points_at_the_unknown_field() -> None:
    expr = "smb or (tcp.port == 139 and ip.scr == 10.0.0.1)"
    with pytest.raises(FilterError) as exc:
        compile_display(expr, known_field)
    assert "unknown field 'ip.scr'" in str(exc.value)
    assert exc.value.position == expr.index("ip.scr")
    # known names (header, record kinds, decoder fields) compile
    compile_display('ip.src == 10.0.0.1 and smb and smb.path contains "IPC"', known_field)
    compile_display("dns.qry.name == x or nbns.name or irc.request.command", known_field)


def _show(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "honeysift", "show", str(EXAMPLE), *args], capture_output=True
    )


def test_show_refuses_unknown_names_before_reading() -> None:
    res = _show("-Y", "bogus.field == 1")
    assert res.returncode == 2 and res.stdout == b""
    assert b"unknown field 'bogus.field'" in res.stderr
    res = _show("-T", "fields", "-e", "frame.number", "-e", "ip.scr", "-e", "\x1b[2J")
    assert res.returncode == 2 and res.stdout == b""
    assert b"'ip.scr', '\\x1b[2J'" in res.stderr and b"\x1b" not in res.stderr
    ok = _show("-T", "fields", "-e", "frame.number", "-e", "smb.path", "-Y", "smb.path")
    assert ok.returncode == 0 and b"\\\\PC0191\\IPC$" in ok.stdout
