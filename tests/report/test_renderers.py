"""The analyze renderers (terminal summary, report.md, report.html) and report.schema.json.

Reports are computed here, from the committed example capture and from the SotM 27 scenario
(tests/scenario/sotm27.py), whose ground truth says what the answers must be. Hostile strings
are injected into a copy of a real report to check that every renderer neutralises them.
"""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import honeysift
from honeysift.analysis.run import analyze
from honeysift.report.html import render_html
from honeysift.report.markdown import code, md, render_markdown
from honeysift.report.terminal import render_summary
from tests.scenario import sotm27

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "sotm27-mini.pcap"
SCHEMA = json.loads(
    (REPO / "src" / "honeysift" / "report" / "report.schema.json").read_text(encoding="utf-8")
)
RENDERERS = (render_summary, render_markdown, render_html)


def _report(path: Path) -> dict:
    with honeysift.open(path) as cap:
        rep = analyze(cap, label=str(path))
    # what report.json holds: the dict after a JSON round trip
    return json.loads(json.dumps(rep.to_dict(), default=str))


@pytest.fixture(scope="module")
def example() -> dict:
    return _report(EXAMPLE)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "sotm27.pcap"
    gt = sotm27.build(path, irc_lines=600)
    return gt, _report(path)


@pytest.fixture(scope="module")
def rendered(scenario):
    _gt, rep = scenario
    return {"term": render_summary(rep), "md": render_markdown(rep), "html": render_html(rep)}


def _unescape_md(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# ------------------------------------------------------------------------------------------------
# Schema


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_reports_validate(example, scenario):
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for rep in (example, scenario[1]):
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(rep)]
        assert errors == []


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r["services"][0].__setitem__("verdict", "pwned"),
        lambda r: r["findings"][0].__setitem__("severity", "urgent"),
        lambda r: r["findings"][0].pop("command"),
        lambda r: r["files"][0].__setitem__("md5", "not-a-hash"),
        lambda r: r["remote_hosts"][0].pop("ip"),
        lambda r: r.pop("timeline"),
        lambda r: r["services"][0].__setitem__("port", 70000),
    ],
)
def test_schema_rejects_broken_reports(example, mutate):
    rep = copy.deepcopy(example)
    mutate(rep)
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(rep))


# ------------------------------------------------------------------------------------------------
# Key answers appear (checked against the scenario's ground truth)


def test_successful_irc_server(scenario, rendered):
    gt, _rep = scenario
    ip = gt.irc.server_ip
    assert f" * {ip}:6667 ({gt.irc.server_name})" in rendered["term"]
    assert f"succeeded: {ip}" in rendered["term"]
    assert f"Succeeded: **{md(ip)}**" in rendered["md"]
    assert f'Succeeded: <strong class="mono">{ip}</strong>' in rendered["html"]
    for failed in (gt.irc.refused_server, gt.irc.silent_server, gt.irc.nick_in_use_server):
        assert (
            failed in rendered["term"] and failed in rendered["md"] and failed in rendered["html"]
        )


def test_union_host_count_and_bandwidth(scenario, rendered):
    gt, _rep = scenario
    union = f"{gt.irc.union_hosts:,}"
    bw = f"{gt.irc.bandwidth_kbps:,} kbps"
    assert re.search(rf"\b{union} bots\s+{bw}", rendered["term"])
    assert f"- **{union}** bots, {bw}" in rendered["md"]
    assert re.search(
        rf'JOIN or QUIT hosts</td><td class="num"><strong>{union}</strong></td><td class="num">{bw}',
        rendered["html"],
    )
    assert f"{gt.irc.names_count} nicks" in rendered["md"]
    assert f"global users {gt.irc.users_reported:,}" in rendered["md"]


def test_uploaded_files_and_md5(scenario, rendered):
    gt, _rep = scenario
    plain_md = _unescape_md(rendered["md"])
    for f in gt.files:
        base = re.split(r"[\\/]", f.name)[-1]
        for text in (rendered["term"], plain_md, rendered["html"]):
            assert f.md5 in text
            assert base in text


def test_445_succeeded_and_slammer_count(scenario, rendered):
    gt, _rep = scenario
    assert re.search(r"tcp/445 \(microsoft-ds\)\s+SUCCEEDED", rendered["term"])
    assert "| tcp/445 (microsoft-ds) | **SUCCEEDED** |" in rendered["md"]
    assert re.search(
        r'id="svc-tcp-445" open>\s*<summary>tcp/445 \(microsoft-ds\) <span class="badge v-succeeded">',
        rendered["html"],
    )
    assert f"Slammer-like: **{gt.slammer_count}**" in rendered["md"]
    assert re.search(
        rf'<h3>Slammer datagrams</h3><div class="big">{gt.slammer_count}</div>', rendered["html"]
    )
    assert "| udp/1434 (ms-sql-m) | FAILED |" in rendered["md"]


def test_remote_ip_count_and_backdoor(scenario, rendered):
    gt, rep = scenario
    n = len(rep["remote_hosts"])
    assert rep["answers"]["remote_ip_count"] == n
    assert f"Remote IPs: {n}" in rendered["term"]
    assert f"**{n}** remote hosts" in rendered["md"]
    assert f'<span class="big">{n}</span><span>remote IP addresses</span>' in rendered["html"]
    for text in rendered.values():
        assert "tcp/4899" in text and gt.radmin_client in text


def test_terminal_summary_length_and_commands(example):
    out = render_summary(example)
    assert 40 <= len(out.splitlines()) <= 90
    assert f"$ honeysift show {EXAMPLE} -V 'host " in out  # a finding's command


def test_markdown_sections_in_order(example):
    text = render_markdown(example)
    heads = [line for line in text.splitlines() if line.startswith("## ")]
    assert heads[0] == "## Answers"
    for wanted in (
        "## Services",
        "## SMB sessions",
        "## HTTP",
        "## UDP probes",
        "## IRC",
        "## Files",
        "## Backdoors",
        "## Outbound traffic",
        "## Timeline",
        "## Remote hosts",
        "## Findings",
    ):
        assert wanted in heads
    assert "Re-check: `honeysift" in text


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)


def test_html_is_self_contained(example):
    page = render_html(example)
    parser = _Tags()
    parser.feed(page)
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert parser.tags.count("svg") >= 3  # timeline, census bars, membership
    for name, value in parser.attrs:
        assert not name.startswith("on")
        if name in ("href", "src", "xlink:href"):
            assert value is not None and value.startswith("#"), (name, value)
    assert "url(" not in page and "@import" not in page


# ------------------------------------------------------------------------------------------------
# Hostile strings

PAYLOAD = (
    "<script>alert(1)</script>](javascript:alert(1)) [x](javascript:alert(2)) \x1b[2J "
    "a|b `tick` ``dbl`` <img src=x onerror=alert(3)> http://evil.example/ www.evil.example "
    "h@evil.example **bold** # hash\u202eevil"
)
SHOWN = PAYLOAD.replace("\x1b", "\\x1b").replace("\u202e", "\\u202e")


def _hostile(rep: dict) -> dict:
    r = copy.deepcopy(rep)
    r["capture"]["file"] = PAYLOAD
    r["files"][0]["name"] = PAYLOAD
    r["files"][1]["magic"] = PAYLOAD
    r["sections"]["http"]["requests"][0]["uri"] = PAYLOAD
    r["sections"]["http"]["clients"][0]["user_agents"] = [PAYLOAD]
    b = r["irc"]["botnets"][0]
    b["channel"] = PAYLOAD
    b["commands"][0]["text"] = PAYLOAD
    b["commands"][0]["sender"] = PAYLOAD
    b["dcc"][0]["file"] = PAYLOAD
    r["irc"]["servers"][0]["server_names"] = [PAYLOAD]
    r["irc"]["sessions"][-1]["nick"] = PAYLOAD
    r["services"][0]["reasons"][0] = PAYLOAD
    r["services"][0]["attackers"].insert(0, PAYLOAD)
    r["findings"][0]["title"] = PAYLOAD
    r["findings"][0]["detail"] = PAYLOAD
    r["timeline"][0]["summary"] = PAYLOAD
    r["remote_hosts"][0]["ports"] = [PAYLOAD]
    for s in r["services"]:
        for sess in (s.get("details") or {}).get("sessions") or []:
            for lg in sess.get("logons") or []:
                lg["user"] = PAYLOAD
                lg["null_session"] = False
            for sh in sess.get("shares") or []:
                sh["path"] = PAYLOAD
    return r


@pytest.fixture(scope="module")
def hostile(example) -> dict:
    return _hostile(example)


def test_hostile_terminal(hostile):
    out = render_summary(hostile)
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\x1b[2J" in out


def test_hostile_html(hostile):
    page = render_html(hostile)
    assert "\x1b" not in page and "\u202e" not in page
    parser = _Tags()
    parser.feed(page)
    assert not {"script", "img", "iframe", "object", "embed"} & set(parser.tags)
    for name, value in parser.attrs:
        assert not name.startswith("on")
        if name in ("href", "src"):
            assert value is not None and value.startswith("#")
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;](javascript:alert(1))"
    assert page.count(escaped) >= 10
    assert "<img src=x" not in page and "<script>" not in page


def test_hostile_markdown_source(hostile):
    text = render_markdown(hostile)
    assert "\x1b" not in text and "\u202e" not in text
    assert "\\<script\\>alert(1)\\</script\\>\\](javascript:alert(1))" in text  # escaped in prose
    # every table row keeps its column count: no '|' in a cell splits it
    for block in re.split(r"\n\n", text):
        lines = [ln for ln in block.splitlines() if ln.startswith("| ")]
        if len(lines) >= 2:
            widths = {len(re.findall(r"(?<!\\)\|", ln)) for ln in lines}
            assert len(widths) == 1, block[:300]


def test_hostile_markdown_rendered(hostile):
    markdown_it = pytest.importorskip("markdown_it")
    html = (
        markdown_it.MarkdownIt("commonmark")
        .enable(["table", "strikethrough"])
        .render(render_markdown(hostile))
    )
    parser = _Tags()
    parser.feed(html)
    assert not {"script", "img", "iframe"} & set(parser.tags)
    hrefs = [v for k, v in parser.attrs if k == "href"]
    assert hrefs and all(h.startswith("#") for h in hrefs), hrefs
    # the text reads as sent (control bytes shown as escapes), not as Markdown
    text = re.sub(r"<[^>]+>", "", html)
    text = (
        text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    )
    assert text.count(SHOWN) >= 8
    # table cells were not split by the payload's pipe
    for table in re.findall(r"<table>.*?</table>", html, flags=re.S):
        head = len(re.findall(r"<th[ >]", table))
        for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]:
            assert len(re.findall(r"<td[ >]", row)) == head


@pytest.mark.parametrize(
    "value",
    ["plain", "a`b", "``x``", "`lead", "trail`", " spaced ", "|", "x\x1by", ""],
)
def test_code_span_holds_any_text(value):
    markdown_it = pytest.importorskip("markdown_it")
    out = markdown_it.MarkdownIt("commonmark").render(code(value)).strip()
    if not value:
        assert out == "<p>&quot;&quot;</p>"  # an empty string is shown as ""
        return
    m = re.fullmatch(r"<p><code>(.*)</code></p>", out, flags=re.S)
    assert m, out
    assert m.group(1).replace("&amp;", "&") == value.replace("\x1b", "\\x1b")


@pytest.mark.parametrize(
    "value",
    [
        "1. list",
        "- item",
        "+ item",
        "# head",
        "> quote",
        "*em*",
        "_em_",
        "[a](b)",
        "<b>x</b>",
        "a\\b",
        "~~s~~",
        "&amp;",
    ],
)
def test_md_text_is_literal(value):
    markdown_it = pytest.importorskip("markdown_it")
    out = markdown_it.MarkdownIt("commonmark").enable("strikethrough").render(md(value)).strip()
    assert out.startswith("<p>") and out.endswith("</p>"), out
    inner = (
        out[3:-4]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&amp;", "&")
    )
    assert inner == value


# ------------------------------------------------------------------------------------------------
# Robustness: partial or odd reports never make a renderer raise


def test_empty_and_no_honeypot_reports():
    minimal = {
        "capture": {"file": "x.pcap"},
        "honeypots": [],
        "remote_hosts": [],
        "services": [],
        "irc": {},
        "files": [],
        "backdoors": [],
        "timeline": [],
        "findings": [],
    }
    jsonschema.validate(minimal, SCHEMA)
    for render in RENDERERS:
        assert "No honeypot" in render(minimal) or "none evident" in render(minimal)
        render({})


def _leaves(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, (*path, i))
    else:
        yield path


@pytest.fixture(scope="module")
def leaf_paths(example):
    return list(_leaves(example))


_scalar = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_renderers_survive_odd_leaf_values(example, leaf_paths, data):
    """Any value of the report replaced by another JSON scalar (None, a number, hostile text)."""
    rep = copy.deepcopy(example)
    for _ in range(data.draw(st.integers(1, 8))):
        path = data.draw(st.sampled_from(leaf_paths))
        node = rep
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = data.draw(_scalar)
    for render in RENDERERS:
        out = render(rep)
        assert "\x1b" not in out


def test_renderers_share_one_sanitised_copy(scenario, monkeypatch):
    """Inside shared_sanitize the report is cleaned once for all three renderers, and each
    renders exactly what it renders on its own."""
    from honeysift.report import present

    _, report = scenario
    alone = (render_markdown(report), render_html(report), render_summary(report))
    calls = []
    real = present.sanitize
    monkeypatch.setattr(present, "sanitize", lambda obj: calls.append(obj is report) or real(obj))
    with present.shared_sanitize():
        shared = (render_markdown(report), render_html(report), render_summary(report))
    assert sum(calls) == 1  # the whole report once (the rest are its recursive calls)
    assert shared == alone


def test_report_json_round_trips(scenario, tmp_path):
    """report.json (written with orjson) holds exactly what json would have written."""
    import json as _json

    from honeysift.report.writer import json_bytes

    _, report = scenario
    assert _json.loads(json_bytes(report)) == _json.loads(_json.dumps(report, default=str))
    assert _json.loads(json_bytes({"n": 1 << 70, 3: "x"})) == {"n": 1 << 70, "3": "x"}
