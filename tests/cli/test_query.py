"""``honeysift query``: SQL over packets and flows agrees with the other commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from honeysift.cli import main

pytest.importorskip("duckdb")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sotm27-mini.pcap"


def _q(*args: str) -> tuple[int, list[dict]]:
    res = CliRunner().invoke(main, ["query", str(EXAMPLE), *args, "--json"])
    rows = [json.loads(x) for x in res.stdout.splitlines()] if res.exit_code == 0 else []
    return res.exit_code, rows


def test_packet_count_and_slammer_sources() -> None:
    code, rows = _q("select count(*) n from packets")
    assert code == 0 and rows == [{"n": 2553}]
    code, rows = _q(
        "select count(*) n, count(distinct src) s from packets where dport = 1434 and payload_len = 376",
        "udp",
    )
    assert rows == [{"n": 55, "s": 9}]


def test_flows_table_matches_flows_command() -> None:
    res = CliRunner().invoke(main, ["flows", str(EXAMPLE), "--json"])
    flows = [json.loads(x) for x in res.stdout.splitlines()]
    code, rows = _q("select count(*) n, sum(orig_pkts + resp_pkts)::BIGINT p from flows")
    assert rows == [{"n": len(flows), "p": sum(f["orig_pkts"] + f["resp_pkts"] for f in flows)}]


def test_sql_error_is_a_usage_error() -> None:
    res = CliRunner().invoke(main, ["query", str(EXAMPLE), "select nope from flows"])
    assert res.exit_code == 2 and "SQL:" in res.output and "Traceback" not in res.output
