"""analyze_http on the SotM 27 scenario (exact ground truth), on small built captures (success
signs), on real HTTP traces against Zeek's http.log / files baselines, and on hostile bytes."""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import honeysift
import honeysift.pipeline
from honeysift.analysis import http as A
from honeysift.analysis.context import AnalysisContext
from honeysift.analysis.http import analyze_http, classify_request
from tests.scenario import sotm27
from tests.scenario.tcp import CLIENT, SERVER, Capture, Endpoint

HP = sotm27.HONEYPOT_IP


def _ctx(path: Path, honeypots: list[str]) -> AnalysisContext:
    cap = honeysift.open(str(path))
    pipe = honeysift.pipeline.Pipeline(cap)
    return AnalysisContext(cap, pipe, honeypots=honeypots, capture_label=str(path))


@pytest.fixture(scope="module")
def scen(tmp_path_factory):
    path = tmp_path_factory.mktemp("sotm27") / "sotm27.pcap"
    gt = sotm27.build(path, irc_lines=300)
    ctx = _ctx(path, [HP])
    res = analyze_http(ctx)
    return gt, res, res.extra["http_objects"]


# ------------------------------------------------------------------ scenario: requests
def test_every_request_with_its_answer(scen):
    gt, _res, o = scen
    mine = {(r.client, r.first_frame): r for r in o["requests"]}
    assert len(o["requests"]) == len(gt.http_requests)
    for t in gt.http_requests:
        r = mine[(t.client, t.frame)]
        assert (r.method, r.uri, r.size, r.status) == (t.method, t.uri, t.size, t.status)
        assert r.server == HP and r.server_port == 80
        assert r.frame is not None and r.frame >= r.first_frame
        if t.status is None:
            assert r.outcome != "response" and r.response_size is None
        else:
            assert r.outcome == "response" and r.response_size > 0


def test_exploit_classes_per_client(scen):
    _gt, _res, o = scen
    act = sotm27.ACTORS
    classes = {c.address: set(c.classes) for c in o["clients"].values()}
    # Nimda's scan list: root.exe, the /c/ /d/ roots, unicode and double-decode traversals
    # to cmd.exe, plus RDS/.htw/.htr/.printer/FrontPage component probes.
    assert classes[act["http_scanner"]] == {"nimda", "iis-traversal", "cmd-exec", "iis-probe"}
    assert classes[act["http_cmd_overflow"]] == {"cmd-exec", "buffer-overflow"}
    assert classes[act["http_codered"]] == {"code-red-ii"}
    assert classes[act["http_webdav"]] == {"webdav-overflow"}
    browser = o["clients"][act["http_browser"]]
    assert browser.role == "benign" and browser.classes == []
    assert browser.user_agents and browser.user_agents[0].startswith("Mozilla/5.0")
    for a in ("http_scanner", "http_cmd_overflow", "http_codered", "http_webdav"):
        assert o["clients"][act[a]].role == "attacker"


def test_traversal_flavours(scen):
    gt, _res, o = scen
    by_uri = {r.uri: r for r in o["requests"]}
    for t in gt.http_requests:
        if t.client != sotm27.ACTORS["http_scanner"]:
            continue
        r = by_uri[t.uri]
        low = t.uri.lower()
        # encoded separators that IIS decodes to / or \ (once, twice, or overlong UTF-8)
        encoded_sep = re.search(r"\.\.(%c0%af|%c0%2f|%c1%1c|%c1%9c|%255c|%252f|%25%35%63)", low)
        assert ("iis-traversal" in r.classes) == bool(encoded_sep), t.uri
        assert ("cmd-exec" in r.classes) == ("cmd.exe" in low or "root.exe" in low), t.uri


def test_cmd_exe_overflow_counted(scen):
    gt, _res, o = scen
    ip = sotm27.ACTORS["http_cmd_overflow"]
    mine = [
        r
        for r in o["requests"]
        if r.client == ip and {"cmd-exec", "buffer-overflow"} <= set(r.classes)
    ]
    truth = [t for t in gt.http_requests if t.client == ip and "cmd.exe" in t.uri]
    assert len(mine) == len(truth) == gt.cmd_overflow_count
    assert {r.status for r in mine} == {t.status for t in truth}
    assert min(r.first_frame for r in mine) == gt.events["cmd_overflow_first"]
    # the harmless GET / of the same host is not an attack
    plain = [r for r in o["requests"] if r.client == ip and r.uri == "/"]
    assert len(plain) == 1 and plain[0].classes == []


def test_code_red_ii_request(scen):
    gt, _res, o = scen
    (r,) = [r for r in o["requests"] if r.first_frame == gt.events["codered"]]
    (t,) = [t for t in gt.http_requests if t.frame == gt.events["codered"]]
    assert r.classes == ["code-red-ii"] and r.client == sotm27.ACTORS["http_codered"]
    assert r.size == t.size and r.body_len == 3569 and r.status is None
    assert r.frame > r.first_frame  # the 4 KB request spans several segments
    v = {c.cls: c for c in o["classes"]}["code-red-ii"]
    assert v.verdict == "failed" and v.attempts == 1


def test_webdav_and_verdicts(scen):
    gt, res, o = scen
    (r,) = [r for r in o["requests"] if r.first_frame == gt.events["webdav_search"]]
    assert r.method == "SEARCH" and r.classes == ["webdav-overflow"]
    assert r.outcome == "reset by server"
    # nothing in the scenario answers an exploit with output, nor follows it up
    assert {c.cls: c.verdict for c in o["classes"]} == {c.cls: "failed" for c in o["classes"]}
    (svc,) = res.services
    assert (svc.proto, svc.port, svc.verdict) == ("tcp", 80, "failed")
    attackers = {
        sotm27.ACTORS[a]
        for a in ("http_scanner", "http_cmd_overflow", "http_codered", "http_webdav")
    }
    assert set(svc.attackers) == attackers
    assert sotm27.ACTORS["http_browser"] not in svc.attackers + svc.probers


def test_findings_and_timeline(scen):
    gt, res, o = scen
    attacks = [e for e in res.timeline if e.kind == "attack"]
    assert len(attacks) == sum(1 for r in o["requests"] if r.classes)
    benign = {sotm27.ACTORS["http_browser"]}
    assert not any(set(e.hosts) & benign for e in attacks)
    for f in res.findings:
        if f.category == "attack":
            client = f.hosts[0]
            assert f.command.endswith(f"'host {client} and tcp port 80'")
            frames = {t.frame for t in gt.http_requests if t.client == client}
            assert set(f.evidence.frames) <= frames and f.evidence.frames


def test_request_size_triage(scen):
    gt, _res, o = scen
    tri = o["triage"]
    assert tri.per_connection == sorted(gt.http_hosts_ge_100, key=A._ipkey)
    per_req = {t.client for t in gt.http_requests if t.size >= 100}
    assert set(tri.per_request) == per_req


def test_outbound_download_carved_exactly(scen):
    gt, res, o = scen
    (truth,) = [f for f in gt.files if f.name.startswith("/tools/")]
    (d,) = o["downloads"]
    assert (d.client, d.uri, d.host, d.status) == (HP, truth.name, gt.dns_query, 200)
    assert d.request_frame == gt.events["download_request"]
    (cf,) = [f for f in res.files if f.protocol == "http"]
    assert cf.name == truth.name.rsplit("/", 1)[-1] and cf.direction == "download"
    assert (cf.md5, cf.sha256, cf.size) == (truth.md5, truth.sha256, len(truth.content))
    assert cf.data == truth.content and cf.complete
    assert cf.magic.startswith("PE32 executable")
    assert truth.last_frame in cf.evidence.frames
    assert any(f.title == "honeypot downloaded an executable" for f in res.findings)
    assert any(e.kind == "outbound" and e.time == d.time for e in res.timeline)


# ------------------------------------------------------------------ built captures: success
ATT = Endpoint("198.51.100.7", "00:00:0c:07:ac:01", ttl=113)
HONEY = Endpoint(HP, "00:08:74:4f:36:23", local=True)
T0 = 1046476800.0


def _write(tmp: Path, build) -> AnalysisContext:
    cap = Capture(random.Random(5))
    build(cap)
    path = tmp / "x.pcap"
    cap.write(path)
    return _ctx(path, [HP])


def test_cmd_exe_with_directory_listing_succeeds(tmp_path):
    def build(cap):
        c = cap.tcp(ATT, 1100, HONEY, 80, t=T0, rtt=0.1)
        c.handshake()
        c.send(CLIENT, b"GET /scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n\r\n")
        body = b" Volume in drive C has no label.\r\n Directory of c:\\inetpub\\scripts\r\n"
        c.send(SERVER, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        c.close(SERVER)

    o = analyze_http(_write(tmp_path, build)).extra["http_objects"]
    v = {c.cls: c for c in o["classes"]}
    assert v["iis-traversal"].verdict == "succeeded"
    assert "command output" in v["cmd-exec"].reasons[0]


def test_code_red_propagation_succeeds(tmp_path):
    def build(cap):
        c = cap.tcp(ATT, 1101, HONEY, 80, t=T0, rtt=0.1)
        c.handshake()
        c.send(
            CLIENT,
            b"GET /default.ida?" + b"X" * 224 + b"%u9090%u6858%ucbd3%u7801=a HTTP/1.0\r\n\r\n",
        )
        c.reset(CLIENT)
        for k in range(12):
            dst = Endpoint(f"203.0.113.{k + 1}", "00:00:0c:07:ac:01")
            cap.tcp(HONEY, 2000 + k, dst, 80, t=T0 + 60 + k, rtt=0.1).unanswered_syn((3.0,))

    ctx = _write(tmp_path, build)
    o = analyze_http(ctx).extra["http_objects"]
    (v,) = o["classes"]
    assert v.cls == "code-red-ii" and v.verdict == "succeeded"
    assert "12 hosts" in " ".join(v.reasons)


# ------------------------------------------------------------------ real traces vs Zeek
def _zeek_log(path: Path) -> list[dict[str, str]]:
    lines = path.read_text().splitlines()
    if lines and lines[0].startswith("#separator"):
        fields = next(ln for ln in lines if ln.startswith("#fields")).split("\t")[1:]
    else:
        fields, lines = lines[0].split("\t"), lines[1:]
    return [dict(zip(fields, ln.split("\t"), strict=True)) for ln in lines if ln and ln[0] != "#"]


def _zeek_files_out(path: Path) -> list[dict[str, str]]:
    """file-analysis-test.zeek output: per file, its total/seen bytes and hashes."""
    out: list[dict[str, str]] = []
    for ln in path.read_text().splitlines():
        if ln == "FILE_NEW":
            out.append({})
        elif m := re.match(r"file #\d+, (\d+), (\d+)", ln):
            out[-1]["seen"], out[-1]["missing"] = m.groups()
        elif ln.startswith(("MD5: ", "SHA1: ", "SHA256: ")):
            k, v = ln.split(": ")
            out[-1][k] = v
    return out


def _trace(corpus: Path, name: str) -> Path:
    hits = sorted((corpus / "traces").glob(name + ".*"))
    if not hits:
        pytest.skip(f"{name} not in the corpus")
    return hits[0]


HTTP_LOGS = {
    "http__get": "http.log",
    "http__pipelined-requests": "http.log",
    "http__m57-long-49583-80": "http.log.cut",
    "http__ctu-62604-80": "http.log.cut",
}


@pytest.mark.parametrize("name", sorted(HTTP_LOGS))
def test_requests_match_zeek_http_log(corpus, name):
    log = _zeek_log(corpus / "expected" / name / HTTP_LOGS[name])
    servers = sorted({r["id.resp_h"] for r in log})
    o = analyze_http(_ctx(_trace(corpus, name), servers)).extra["http_objects"]
    reqs = o["requests"]
    assert len(reqs) == len(log)
    for r, z in zip(reqs, log, strict=True):
        assert (r.client, r.client_port) == (z["id.orig_h"], int(z["id.orig_p"]))
        assert (r.method, r.uri, r.version) == (z["method"], z["uri"], "HTTP/" + z["version"])
        assert r.host == (None if z["host"] == "-" else z["host"])
        assert (r.user_agent or "-") == z["user_agent"]
        assert r.body_len == int(z["request_body_len"])
        assert r.status == int(z["status_code"]) and r.reason == z["status_msg"]
        assert r.response_body_len == int(z["response_body_len"])
        assert r.classes == []
    assert all(c.role == "benign" for c in o["clients"].values())


def test_served_bodies_match_zeek_files(corpus):
    """Pipelined responses, de-gzipped where needed, byte-exact against Zeek's extracted files."""
    name = "http__pipelined-requests"
    base = (
        corpus / "expected" / name / "more" / "scripts.base.frameworks.file-analysis.http.pipeline"
    )
    if not base.is_dir():
        pytest.skip("Zeek file baseline absent")
    zf = _zeek_files_out(base / "out")
    res = analyze_http(_ctx(_trace(corpus, name), ["63.245.209.11"]), carve_served=True)
    files = [f for f in res.files if f.protocol == "http"]
    assert [f.md5 for f in files] == [z["MD5"] for z in zf]
    for i, f in enumerate(files, 1):
        assert f.data == (base / f"{i}-file").read_bytes() and f.complete


def test_post_bodies_match_zeek_files(corpus):
    base = corpus / "expected" / "http__post"
    zf = _zeek_files_out(base / "out")
    res = analyze_http(_ctx(_trace(corpus, "http__post"), ["54.243.55.129"]), carve_served=True)
    got = [(f.direction, f.md5, f.size) for f in res.files]
    assert got == [("upload", zf[0]["MD5"], 11), ("", zf[1]["MD5"], 366)]
    assert [f.data for f in res.files] == [
        (base / "1-file").read_bytes(),
        (base / "2-file").read_bytes(),
    ]


def test_outbound_download_from_ranges_matches_zeek(corpus):
    """206 pieces over two connections rebuilt into the file Zeek reports (file #0)."""
    zf = _zeek_files_out(corpus / "expected" / "http__206_example_b" / "b.out")
    size = int((corpus / "expected" / "http__206_example_b" / "b.size").read_text().split()[0])
    res = analyze_http(_ctx(_trace(corpus, "http__206_example_b"), ["192.168.72.14"]))
    whole = [f for f in res.files if f.complete]
    assert len(whole) == 1 and whole[0].size == size == int(zf[0]["seen"])
    assert whole[0].md5 == zf[0]["MD5"]
    assert hashlib.sha256(whole[0].data).hexdigest() == zf[0]["SHA256"]
    assert whole[0].magic.startswith("PE32 executable")
    assert any(f.title == "honeypot downloaded an executable" for f in res.findings)


def test_outbound_simple_get(corpus):
    log = _zeek_log(corpus / "expected" / "http__get" / "http.log")
    o = analyze_http(_ctx(_trace(corpus, "http__get"), [log[0]["id.orig_h"]])).extra["http_objects"]
    (d,) = o["downloads"]
    assert (d.uri, d.host, d.status) == (log[0]["uri"], log[0]["host"], int(log[0]["status_code"]))
    assert d.size == int(log[0]["response_body_len"]) and d.complete
    assert o["requests"] == []  # the honeypot was the client: nothing inbound


def test_thousand_requests_one_dropped_response(corpus):
    p = _trace(corpus, "http__1000-requests-one-dropped-response")
    out = (corpus / "expected" / "http__1000-requests-one-dropped-response" / "out").read_text()
    total = int(out.split("total http.log lines")[1].split()[0])
    o = analyze_http(_ctx(p, ["::1"])).extra["http_objects"]  # client and server are both ::1
    assert len(o["downloads"]) == total
    assert sum(1 for d in o["downloads"] if d.status is None) >= 1


# ------------------------------------------------------------------ unit + hostile input
@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir", {"iis-traversal", "cmd-exec"}),
        ("/scripts/..%255c../winnt/system32/cmd.exe?/c+dir", {"iis-traversal", "cmd-exec"}),
        ("/default.ida?" + "N" * 224 + "%u9090%u6858%ucbd3=a", {"code-red"}),
        ("/scripts/root.exe?/c+dir", {"nimda", "cmd-exec"}),
        ("/index.html", set()),
        ("/images/logo%20big.png", set()),
    ],
)
def test_classify(uri, expected):
    assert {m.cls for m in classify_request(b"GET", uri.encode(), [])} == expected


def test_translate_f():
    got = classify_request(b"GET", b"/default.asp\\", [(b"Translate", b"f")])
    assert {m.cls for m in got} == {"translate-f"}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=400),
    st.sampled_from([b"GET", b"SEARCH", b"POST", b"\x00"]),
    st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=2000)), max_size=4),
)
def test_hostile_requests_never_raise(uri, method, headers):
    classify_request(method, uri, headers, uri)
    A.iis_decode(uri)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.binary(max_size=600), st.binary(max_size=600))
def test_hostile_streams_never_raise(tmp_path, client, server):
    def build(cap):
        c = cap.tcp(ATT, 1102, HONEY, 80, t=T0, rtt=0.1)
        c.handshake()
        if client:
            c.send(CLIENT, client)
        if server:
            c.send(SERVER, server)
        c.close(CLIENT)
        o = cap.tcp(HONEY, 1103, ATT, 8080, t=T0 + 5, rtt=0.1)
        o.handshake()
        o.send(CLIENT, b"GET /a.exe HTTP/1.0\r\n\r\n" + client)
        if server:
            o.send(SERVER, server)
        o.close(SERVER)

    res = analyze_http(_write(tmp_path, build), carve_served=True)
    assert res.services and res.services[0].port == 80
