"""Malformed messages never crash ``show``: mutated corpus captures through the whole path."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honeysift.dissect import show_command
from honeysift.errors import HoneysiftError
from tests.dissect.oracle import trace_path

SEEDS = ["smb__smb1", "dce-rpc__mapi", "irc-basic", "ftp__ipv4", "http__get", "dns53",
         "smb__smb2", "netbios__netbios-split-session-msg"]  # fmt: skip


def _seed_bytes(name: str) -> bytes:
    p = trace_path(name)
    if p is None or p.suffix != ".pcap":
        pytest.skip(f"{name} not available as plain pcap")
    return p.read_bytes()[: 64 << 10]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.tuples(st.integers(24, 1 << 16), st.integers(0, 255)), max_size=40),
    mode=st.sampled_from(["text-V", "text", "fields", "json"]),
)
def test_mutated_captures_never_crash(tmp_path, seed, edits, mode) -> None:
    data = bytearray(_seed_bytes(seed))
    for pos, val in edits:
        if 24 <= pos < len(data):
            data[pos] = val
    p = tmp_path / "m.pcap"
    p.write_bytes(bytes(data))
    sink: list[str] = []
    kw = {"verbose": mode == "text-V", "hexdump": mode == "text-V"}
    if mode == "fields":
        kw.update(mode="fields", fields=["frame.number", "smb.cmd", "irc.request", "dns.qry.name"])
    elif mode == "json":
        kw.update(mode="json")
    try:
        status = show_command(str(p), (), "smb or irc or dns or ftp or http or dcerpc or tcp",
                              out=sink.append, **kw)  # fmt: skip
    except HoneysiftError:
        return  # a capture damaged beyond reading is reported as one clear error
    assert status in (0, 1)
    for chunk in sink:
        assert "\x1b" not in chunk
