"""Each supported option: traffic that matches and a near miss, built with scapy; the exact
(sid, frame) list of alerts is asserted."""

from __future__ import annotations

import struct

from tests.detect.helpers import ATT, HP, Trace, alerts, fired, rule


def run(tmp_path, trace, rules, **kw):
    return fired(alerts(tmp_path, trace, rules, **kw))


def test_content_hex_nocase_offset_depth(tmp_path):
    t = Trace()
    (a,) = t.tcp([b"\x01\x02abcXYZ"], sport=40001)
    (b,) = t.tcp([b"zz\x01\x02abcxyz"], sport=40002)
    rules = (
        rule(1, 'content:"|01 02|abc"; depth:5;')
        + rule(2, 'content:"xyz"; nocase;')
        + rule(3, 'content:"xyz";')
        + rule(4, 'content:"abc"; offset:4;')
        + rule(5, 'content:"|01|"; offset:2; depth:1;')
    )
    assert run(tmp_path, t, rules) == [(1, a), (2, a), (2, b), (3, b), (4, b), (5, b)]


def test_distance_within_and_backtracking(tmp_path):
    t = Trace()
    (a,) = t.tcp([b"AB..CD"], sport=40001)
    (b,) = t.tcp([b"AB......CD"], sport=40002)
    (c,) = t.tcp([b"AB......AB..CD"], sport=40003)  # second AB makes within:4 succeed
    rules = rule(1, 'content:"AB"; content:"CD"; distance:2; within:2;') + rule(
        2, 'content:"AB"; content:"CD"; distance:0; within:5;'
    )
    assert run(tmp_path, t, rules) == [(1, a), (1, c), (2, a), (2, c)]
    assert b not in (a, c)


def test_negated_content_and_fast_pattern(tmp_path):
    t = Trace()
    (a,) = t.tcp([b"USER root\r\n"], sport=40001)
    (b,) = t.tcp([b"USER anonymous\r\n"], sport=40002)
    rules = rule(1, 'content:"USER "; fast_pattern; content:!"anonymous";') + rule(
        2, 'content:"USER"; content:"root"; fast_pattern:only;'
    )
    assert run(tmp_path, t, rules) == [(1, a), (2, a)]
    assert b


def test_http_modifiers_and_sticky_buffers(tmp_path):
    t = Trace()
    req = b"POST /cgi/run.pl?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: evil\r\nContent-Length: 8\r\n\r\ncmd=id;x"
    (a,) = t.tcp([req], [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"], sport=40001)
    (b,) = t.tcp([b"GET /index.html HTTP/1.1\r\nHost: run.pl\r\n\r\n"], sport=40002)
    rules = (
        rule(1, 'content:"run.pl"; http_uri;')
        + rule(2, 'content:"evil"; http_header;')
        + rule(3, 'content:"POST"; http_method;')
        + rule(4, 'content:"cmd=id"; http_client_body;')
        + rule(5, 'http.uri; content:"run.pl";')
        + rule(6, 'http.header; content:"User-Agent|3a| evil";')
        + rule(7, 'http.method; content:"GET";')
        + rule(8, 'http.request_body; content:"cmd=";')
        + rule(9, 'content:"run.pl"; http_header;')  # in b's Host header only
    )
    assert run(tmp_path, t, rules) == [
        (1, a), (2, a), (3, a), (4, a), (5, a), (6, a), (7, b), (8, a), (9, b)
    ]  # fmt: skip


def test_http_request_split_over_segments(tmp_path):
    t = Trace()
    (a, _b) = t.tcp([b"GET /scr", b"ipts/root.exe?/c+dir HTTP/1.0\r\n\r\n"], sport=40001)
    rules = rule(1, 'content:"/scripts/root.exe"; http_uri;') + rule(
        2, 'content:"/scripts/root.exe";'
    )
    assert run(tmp_path, t, rules) == [(1, a)]  # the raw packet rule does not see the split


def test_only_stream_and_no_stream(tmp_path):
    t = Trace()
    (a, b) = t.tcp([b"hello wor", b"ld"], dport=9999, sport=40001)
    rules = (
        rule(1, 'flow:only_stream; content:"hello world";')
        + rule(2, 'flow:no_stream; content:"hello world";')
        + rule(3, 'flow:no_stream; content:"ld"; depth:2;')
    )
    assert run(tmp_path, t, rules) == [(1, a), (3, b)]


def test_pcre_flags(tmp_path):
    t = Trace()
    (a,) = t.tcp([b"GET /Admin.PHP HTTP/1.0\r\n\r\n"], sport=40001)
    (b,) = t.tcp([b"xx\nline2 END"], dport=9999, sport=40002)
    rules = (
        rule(1, r'pcre:"/admin\.php/Ui";')
        + rule(2, r'pcre:"/admin\.php/U";')
        + rule(3, r'pcre:"/^line2/m";')
        + rule(4, r'pcre:"/^line2/";')
        + rule(5, r'content:"xx"; pcre:"/^\nline/R";')
        + rule(6, r'content:"line2"; pcre:"/^\nline/R";')
        + rule(7, r'pcre:"/x.line/s";')
        + rule(8, r'pcre:!"/nothere/";  content:"END";')
    )
    assert run(tmp_path, t, rules) == [(1, a), (3, b), (5, b), (7, b), (8, b)]


def test_pcre_untranslatable_is_reported(tmp_path):
    t = Trace()
    t.tcp([b"abc"], sport=40001)
    rep = alerts(tmp_path, t, rule(1, r'pcre:"/a\Rb/";') + rule(2, 'pcre:"/ab/G";'))
    assert rep.alerts == []
    assert {(i.sid, i.option, i.decision) for i in rep.issues} == {
        (1, "pcre", "skipped"), (2, "pcre", "skipped")
    }  # fmt: skip


def test_flow_direction_and_state(tmp_path):
    t = Trace()
    t.tcp([b"ping"], [b"pong"], sport=40001, dport=7777)
    t.syn(40002, 7777)
    pkts = t.pkts
    rules = (
        rule(1, 'flow:to_server,established; content:"ping";')
        + rule(2, 'flow:to_client; content:"pong";')
        + rule(3, 'flow:to_client; content:"ping";')
        + rule(4, "flow:stateless; flags:S;")
        + rule(5, "flow:not_established; flags:S;")
        + rule(6, "flow:established; flags:S;")
    )
    assert len(pkts) == 6
    assert run(tmp_path, t, rules) == [(1, 4), (2, 5), (4, 1), (4, 6), (5, 1), (5, 6)]


def test_flowbits(tmp_path):
    t = Trace()
    t.tcp([b"LOGIN ok", b"STEAL data", b"LOGOUT", b"STEAL again"], sport=40001, dport=9000)
    t.tcp([b"STEAL data"], sport=40002, dport=9000)  # frame 11: no login in this flow
    rules = (
        rule(1, 'content:"LOGIN"; flowbits:set,logged; flowbits:noalert;')
        + rule(2, 'content:"STEAL"; flowbits:isset,logged;')
        + rule(3, 'content:"STEAL"; flowbits:isnotset,logged;')
        + rule(4, 'content:"LOGOUT"; flowbits:unset,logged; flowbits:noalert;')
    )
    assert run(tmp_path, t, rules) == [(2, 5), (3, 7), (3, 11)]


def test_dsize_flags_itype_icode_ip_proto(tmp_path):
    t = Trace()
    u1 = t.udp(b"x" * 10, dport=1434)
    u2 = t.udp(b"x" * 400, dport=1434)
    s1 = t.syn(1, 80)
    s2 = t.syn(2, 80, flags="SA")
    s3 = t.syn(3, 80, flags="SEC")
    i1 = t.icmp(8, 0)
    i2 = t.icmp(3, 3)
    rules = (
        rule(1, "dsize:>300;", "udp any any -> any any")
        + rule(2, "dsize:5<>20;", "udp any any -> any any")
        + rule(3, "flags:S;")
        + rule(4, "flags:S+;")
        + rule(5, "flags:S,CE;")
        + rule(6, "itype:8; icode:0;", "icmp any any -> any any")
        + rule(7, "itype:>2; icode:3;", "icmp any any -> any any")
        + rule(8, "ip_proto:17;", "ip any any -> any any")
        + rule(9, "ip_proto:!udp;", "ip any any -> any any")
    )
    assert run(tmp_path, t, rules) == sorted(
        [(1, u2), (2, u1), (3, s1), (4, s1), (4, s2), (4, s3), (5, s1), (5, s3), (6, i1), (7, i2),
         (8, u1), (8, u2)] + [(9, f) for f in (s1, s2, s3, i1, i2)]
    )  # fmt: skip


def test_byte_test_byte_jump_isdataat(tmp_path):
    t = Trace()
    good = b"HDR" + struct.pack(">H", 4) + b"abcd" + b"TAIL"
    bad = b"HDR" + struct.pack(">H", 5) + b"abcde" + b"XAIL"
    a = t.udp(good, dport=5000)
    b = t.udp(bad, dport=5000)
    c = t.udp(b"len=0042;", dport=5000)
    rules = (
        rule(
            1,
            'content:"HDR"; byte_jump:2,0,relative; content:"TAIL"; within:4;',
            "udp any any -> any any",
        )
        + rule(2, 'content:"HDR"; byte_test:2,<,5,0,relative;', "udp any any -> any any")
        + rule(3, "byte_test:2,=,5,3;", "udp any any -> any any")
        + rule(
            4, 'content:"len="; byte_test:4,>,40,0,relative,string,dec;', "udp any any -> any any"
        )
        + rule(5, 'content:"HDR"; isdataat:10,relative;', "udp any any -> any any")
        + rule(6, "isdataat:!12;", "udp any any -> any any")
        + rule(7, "byte_test:1,&,0x01,4;", "udp any any -> any any")
    )
    assert run(tmp_path, t, rules) == [(1, a), (2, a), (3, b), (4, c), (5, b), (6, c), (7, b)]


def test_threshold_and_detection_filter(tmp_path):
    t = Trace()
    frames = [t.syn(1000 + i, 80) for i in range(7)]
    rules = (
        rule(1, "flags:S; threshold:type limit, track by_src, count 2, seconds 60;")
        + rule(2, "flags:S; threshold:type threshold, track by_src, count 3, seconds 60;")
        + rule(3, "flags:S; threshold:type both, track by_dst, count 5, seconds 60;")
        + rule(4, "flags:S; detection_filter:track by_src, count 5, seconds 60;")
        + rule(5, "flags:S; threshold:type both, track by_src, count 8, seconds 60;")
    )
    f = frames
    assert run(tmp_path, t, rules) == sorted(
        [(1, f[0]), (1, f[1]), (2, f[2]), (2, f[5]), (3, f[4]), (4, f[5]), (4, f[6])]
    )


def test_addresses_ports_variables_direction(tmp_path):
    t = Trace()
    a = t.udp(b"q", sport=5353, dport=53)  # ATT -> HP
    b = t.udp(b"q", sport=53, dport=5353, src=HP, dst=ATT)  # HP -> ATT
    c = t.udp(b"q", sport=2000, dport=60000, src="192.0.2.99", dst=HP)
    rules = (
        rule(1, "", "udp $EXTERNAL_NET any -> $HOME_NET 53")
        + rule(2, "", "udp $HOME_NET 53 <> $EXTERNAL_NET any")
        + rule(3, "", f"udp [{ATT},192.0.2.99] any -> any [!53,1:100]")
        + rule(4, "", "udp !192.0.2.0/28 any -> any 50000:")
        + rule(5, "", "udp any $MYPORTS -> any any")
        + rule(6, "", "udp 192.0.2.0/24 any -> any !$MYPORTS")
    )
    rep = alerts(tmp_path, t, "portvar MYPORTS [5353,2000]\n" + rules)
    # 3: a's port 53 is negated, c's 60000 is outside 1:100
    assert fired(rep) == [(1, a), (2, a), (2, b), (4, c), (5, a), (5, c), (6, a), (6, c)]
