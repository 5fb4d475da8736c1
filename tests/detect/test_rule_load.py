"""Rule files load with the documented report and never crash (including a fuzz over text)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from honeysift.detect.alerts import BUILTIN_RULES, Engine
from honeysift.detect.match import match_ops
from honeysift.detect.rules import parse_rules

EVERY_OPTION = r"""
var MY_NET [10.0.0.0/8,!10.9.0.0/16]
portvar WEB [80,8000:8080]
alert tcp $MY_NET any -> $HOME_NET $WEB (msg:"all; the options"; flow:to_server,established; content:"GET"; http_method; content:"/x"; http_uri; nocase; content:"Host|3a|"; http_header; content:"a=1"; http_client_body; pcre:"/x\d+/Ui"; classtype:web-application-attack; priority:1; reference:cve,2001-0500; metadata:policy balanced; gid:1; rev:3; sid:100;)
alert tcp any any <> any ![80,443] (msg:"p"; content:"|de ad|"; offset:1; depth:8; content:"be"; distance:0; within:4; fast_pattern; content:!"zz"; byte_test:2,>,1,0,relative,little; byte_jump:1,0,relative,multiplier 2,align,post_offset 1; isdataat:2,relative; pcre:"/e/R"; dsize:<1400; flags:PA,CE; flowbits:set,a; flowbits:isnotset,b; flow:only_stream; sid:101;)
alert udp any any -> any 53 (msg:"dns"; dns.query; content:"evil"; nocase; threshold:type limit, track by_src, count 1, seconds 60; sid:102;)
alert icmp any any -> any any (msg:"i"; itype:8; icode:0; ip_proto:1; detection_filter:track by_dst, count 5, seconds 10; flowbits:noalert; sid:103;)
alert http any any -> any any (msg:"h"; http.uri; content:"a"; http.header; content:"b"; http.method; content:"G"; http.request_body; content:"c"; flow:no_stream; flowbits:unset,a; flowbits:isset,a; sid:104;)
alert tcp any any -> any any (msg:"t"; content:"x"; tag:session,10,packets; sid:105;)
"""

UNSUPPORTED = r"""
alert tcp any any -> any any (msg:"a"; content:"x"; file_data; content:"y"; sid:1;)
alert tcp any any -> any any (msg:"b"; ssl_state:client_hello; sid:2;)
alert tcp any any -> any any (msg:"c"; pcre:"/a(?<=b)\K/"; sid:3;)
alert tcp any any -> any any (msg:"d"; content:"x"; base64_decode; base64_data; content:"y"; sid:4;)
alert tcp any any -> any any (msg:"e"; sid:5; content:"unterminated)
alert ftp any any -> any any (msg:"f"; content:"x"; sid:6;)
alert tcp $NOPE any -> any any (msg:"g"; sid:7;)
alert tcp any any -> any any (msg:"h"; content:"x"; nocase; sameip; sid:8;)
alert tcp any any -> any any (msg:"i"; byte_extract:2,0,len; sid:9;)
alert tcp any any -> any any (msg:"no sid"; content:"x";)
garbage line
include other.rules
alert tcp any any -> any any (msg:"j"; content:"ok"; target:dest_ip; sid:10;)
# alert tcp any any -> any any (msg:"disabled"; sid:11;)
"""


def test_every_option_loads():
    rs = parse_rules(EVERY_OPTION, {"HOME_NET": "10.0.0.2"})
    assert [r.sid for r in rs.rules] == [100, 101, 102, 103, 104, 105]
    assert [(i.sid, i.option, i.decision) for i in rs.issues] == [(105, "tag", "ignored")]
    r100, r101, r102 = rs.rules[:3]
    assert r100.kind == "http" and set(r100.buffers) == {
        "http_method", "http_uri", "http_header", "http_client_body"
    }  # fmt: skip
    assert r100.classification == "Web Application Attack" and r100.effective_priority == 1
    assert (
        r101.kind == "stream" and r101.bidirectional and r101.fast_pattern("pkt").pattern == b"be"
    )
    assert r102.kind == "dns" and r102.threshold.kind == "limit"
    Engine(rs.rules)  # prefilters build


def test_unsupported_report():
    rs = parse_rules(UNSUPPORTED)
    assert [r.sid for r in rs.rules] == [10]
    got = {(i.sid, i.option, i.decision) for i in rs.issues}
    assert {
        (1, "file_data", "skipped"), (2, "ssl_state", "skipped"), (3, "pcre", "skipped"),
        (4, "base64_decode", "skipped"), (4, "base64_data", "skipped"), (5, "header", "skipped"),
        (6, "header", "skipped"), (7, "header", "skipped"), (8, "sameip", "skipped"),
        (9, "byte_extract", "skipped"), (None, "sid", "skipped"), (None, "header", "skipped"),
        (None, "include", "skipped"), (10, "target", "ignored"),
    } <= got  # fmt: skip
    assert rs.disabled == 1
    assert all(str(i) for i in rs.issues)


def test_builtin_documented_sids():
    rs = parse_rules(BUILTIN_RULES.read_text())
    assert rs.issues == []
    sids = [r.sid for r in rs.rules]
    assert len(sids) == len(set(sids)) and all(9000001 <= s <= 9000099 for s in sids)
    doc = (BUILTIN_RULES.parents[3] / "docs" / "alerts.md").read_text()
    assert all(str(s) in doc for s in sids)


_PIECES = st.sampled_from([
    "alert", "tcp", "udp", "any", "$HOME_NET", "[1.2.3.4,!5.6.7.0/24]", "->", "<>", "80",
    "!80", "1:", "(", ")", ";", ":", '"', "|", "content", "pcre", "/a/", "nocase", "depth",
    "distance", "within", "sid", "1", "-5", "flow", "to_server", "flowbits", "set", "byte_test",
    ",", "http_uri", "http.uri", "threshold", "type both", "\\", "[", "]", " ", "isdataat",
])  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES, max_size=40), st.text(max_size=40))
def test_fuzz_rule_text_never_raises(pieces, noise):
    text = "alert tcp any any -> any any (" + " ".join(pieces) + noise + ")\n" + " ".join(pieces)
    rs = parse_rules(text)
    Engine(rs.rules)
    for r in rs.rules:
        for ops in r.buffers.values():
            match_ops(ops, b"abc|de ad|" * 3)
