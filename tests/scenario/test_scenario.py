"""Checks of the synthetic SotM 27 scenario itself.

Always on: the file read back with scapy, checksums recomputed here, every TCP flow reassembled
from the wire and compared with the ground truth, and the write-up's own shell pipelines
(grep/sed/sort -fu, uniq -c) re-enacted on the reassembled bytes. With tshark installed: no
malformed packets, no unexpected expert errors, and the fields tshark decodes (IRC lines, SMB
paths and files, NBNS names, HTTP URIs, SAMR calls, DNS) agree with the ground truth.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.utils import PcapReader

from . import sotm27
from .sotm27 import HONEYPOT_IP, START, GroundTruth

TSHARK = shutil.which("tshark")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> GroundTruth:
    return sotm27.build(tmp_path_factory.mktemp("sotm27") / "sotm27.pcap")


@pytest.fixture(scope="module")
def frames(scenario: GroundTruth) -> list[tuple[float, bytes]]:
    """(timestamp, raw frame) read back with scapy."""
    out = []
    with PcapReader(str(scenario.path)) as reader:
        assert reader.linktype == 1
        for pkt in reader:
            out.append((float(pkt.time), bytes(pkt)))
    return out


# ------------------------------------------------------------------------------------------------
# File format, determinism


def test_pcap_header_and_size(scenario: GroundTruth) -> None:
    raw = scenario.path.read_bytes()
    magic, major, minor, _zone, _sig, snaplen, linktype = struct.unpack("<IHHiIII", raw[:24])
    assert (magic, major, minor, snaplen, linktype) == (0xA1B2C3D4, 2, 4, 1514, 1)
    assert raw[:4] == b"\xd4\xc3\xb2\xa1"  # little-endian, microsecond resolution
    assert len(raw) == scenario.size and hashlib.sha256(raw).hexdigest() == scenario.sha256
    assert 300_000 < scenario.size < 2_500_000
    assert 2_000 < scenario.packets < 10_000


def test_deterministic(tmp_path: Path) -> None:
    a = sotm27.build(tmp_path / "a.pcap", irc_lines=150, seed=5)
    b = sotm27.build(tmp_path / "b.pcap", irc_lines=150, seed=5)
    c = sotm27.build(tmp_path / "c.pcap", irc_lines=150, seed=6)
    assert a.sha256 == b.sha256 and a.irc == b.irc
    assert a.sha256 != c.sha256
    assert a.irc.join_lines + a.irc.quit_lines == 150 + 2  # plus the bot's own two JOINs


def test_read_back_with_scapy(scenario: GroundTruth, frames: list[tuple[float, bytes]]) -> None:
    assert len(frames) == scenario.packets
    times = [t for t, _ in frames]
    assert all(a < b for a, b in zip(times, times[1:], strict=False)), "timestamps must increase"
    assert START <= times[0] < START + 60 and times[-1] < START + 5 * 86400
    assert times[0] == pytest.approx(scenario.first_time) and times[-1] == pytest.approx(
        scenario.last_time
    )
    assert all(len(f) <= 1514 for _, f in frames)


def test_every_remote_host_is_on_the_wire(scenario: GroundTruth, frames) -> None:
    """The ground truth's remote hosts are exactly the addresses that talk to the honeypot."""
    import ipaddress

    seen = set()
    for _, f in frames:
        if f[12:14] == b"\x08\x00":
            src, dst = f[26:30], f[30:34]
            seen.add(str(ipaddress.IPv4Address(src)))
            seen.add(str(ipaddress.IPv4Address(dst)))
    seen.discard(scenario.honeypot)
    assert set(scenario.remote_hosts) == seen


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def test_lengths_and_checksums(frames: list[tuple[float, bytes]]) -> None:
    """IPv4 total length, header checksum and TCP/UDP/ICMP checksums, recomputed here."""
    for number, (_t, f) in enumerate(frames, start=1):
        assert f[12:14] == b"\x08\x00", number
        ip = f[14:]
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        assert total == len(ip), number
        assert _csum(ip[:ihl]) == 0xFFFF, f"IP checksum, frame {number}"
        proto, body = ip[9], ip[ihl:total]
        pseudo = ip[12:20] + struct.pack("!BBH", 0, proto, len(body))
        if proto in (6, 17):
            assert _csum(pseudo + body) == 0xFFFF, f"L4 checksum, frame {number}"
        if proto == 17:
            assert struct.unpack("!H", body[4:6])[0] == len(body)
        if proto == 1:
            assert _csum(body) == 0xFFFF


# ------------------------------------------------------------------------------------------------
# TCP: every flow rebuilt from the wire


def _tcp_index(frames: list[tuple[float, bytes]]) -> dict[tuple, list[tuple[int, object]]]:
    idx: dict[tuple, list] = defaultdict(list)
    for number, (_t, f) in enumerate(frames, start=1):
        pkt = IP(f[14:])
        if pkt.haslayer(TCP):
            t = pkt[TCP]
            key = frozenset({(pkt.src, t.sport), (pkt.dst, t.dport)})
            idx[key].append((number, pkt))
    return idx


@pytest.fixture(scope="module")
def tcp_index(frames: list[tuple[float, bytes]]) -> dict[frozenset, list[tuple[int, IP]]]:
    return _tcp_index(frames)


def test_tcp_flows_rebuilt_from_wire(scenario: GroundTruth, tcp_index) -> None:  # type: ignore[no-untyped-def]
    idx = tcp_index
    assert len(idx) == len(scenario.flows), "one 4-tuple per generated connection"
    for flow in scenario.flows:
        pkts = idx[frozenset({(flow.client, flow.cport), (flow.server, flow.sport)})]
        assert tuple(n for n, _ in pkts) == flow.frames, flow
        streams = {flow.client: bytearray(), flow.server: bytearray()}
        base: dict[str, int] = {}
        sent_end: dict[str, int] = {}  # highest sequence number each side has used
        retrans = 0
        seen: dict[tuple, bytes] = {}
        for _n, pkt in pkts:
            t = pkt[TCP]
            src, dst = pkt.src, pkt.dst
            payload = bytes(t.payload)
            end = (t.seq + len(payload) + (1 if t.flags.S or t.flags.F else 0)) % 2**32
            if t.flags.A and dst in sent_end:  # never acknowledge what was not sent
                assert (sent_end[dst] - t.ack) % 2**32 < 2**31, f"ack beyond data in {flow}"
            if t.flags.R:
                continue
            sent_end[src] = end
            if not (payload or t.flags.S or t.flags.F):
                continue  # pure ACK
            key = (src, t.seq, len(payload), bool(t.flags.S), bool(t.flags.F))
            if key in seen:  # a retransmission repeats the same bytes
                assert seen[key] == payload
                retrans += 1
                continue
            seen[key] = payload
            if t.flags.S:
                base[src] = (t.seq + 1) % 2**32
                continue
            base.setdefault(src, t.seq)
            buf = streams[src]
            assert (t.seq - base[src]) % 2**32 == len(buf), f"gap or overlap in {flow}"
            buf += payload
        assert retrans == flow.retransmissions, flow
        md5 = (
            hashlib.md5(streams[flow.client]).hexdigest(),
            hashlib.md5(streams[flow.server]).hexdigest(),
        )
        assert md5 == flow.md5, flow
        assert (len(streams[flow.client]), len(streams[flow.server])) == flow.app_bytes
        first = pkts[0][1][TCP]
        assert bool(first.flags.S and not first.flags.A) == flow.syn_seen
        if flow.state == "refused":
            assert all(p[TCP].flags.R for _n, p in pkts if p.src == flow.server)
        if flow.state == "unanswered":
            assert {p.src for _n, p in pkts} == {flow.client} and len(pkts) >= 2
        if flow.state == "fin_unacked":
            assert {p.src for _n, p in pkts} == {HONEYPOT_IP}
            assert all(p[TCP].flags.F for _n, p in pkts)
            assert retrans == len(pkts) - 1 >= 3


def _stream(scenario: GroundTruth, idx: dict, purpose: str, port: int, side: int) -> list[bytes]:
    """Reassembled payload of each flow of a purpose (side 0 client, 1 server), from the wire."""
    out = []
    for flow in scenario.flows_for(purpose):
        if flow.sport != port:
            continue
        who = (flow.client, flow.server)[side]
        buf = bytearray()
        seen = set()
        for _n, pkt in idx[frozenset({(flow.client, flow.cport), (flow.server, flow.sport)})]:
            if pkt.src == who and bytes(pkt[TCP].payload) and pkt[TCP].seq not in seen:
                seen.add(pkt[TCP].seq)
                buf += bytes(pkt[TCP].payload)
        out.append(bytes(buf))
    return out


# ------------------------------------------------------------------------------------------------
# The write-up's pipelines, re-enacted on bytes from the wire


def _sort_fu(values: list[bytes]) -> set[bytes]:
    return {v.upper() for v in values}


def test_irc_census_as_the_writeup(scenario: GroundTruth, tcp_index) -> None:  # type: ignore[no-untyped-def]
    irc = scenario.irc
    main = [f for f in scenario.flows_for("irc") if f.server == irc.server_ip and f.state == "open"]
    assert len(main) == 1
    server = _stream(scenario, tcp_index, "irc", 6667, 1)
    stream = next(s for s in server if s.startswith(b"NOTICE AUTH") and b"irc5" in s)
    assert stream == irc.server_stream
    lines = stream.split(b"\n")

    def hosts(word: bytes) -> list[bytes]:  # grep WORD | sed 's/^[^@]*@//' | sed 's/ .*//'
        return [re.sub(rb" .*", b"", re.sub(rb"^[^@]*@", b"", ln)) for ln in lines if word in ln]

    assert len([ln for ln in lines if b"JOIN" in ln]) == irc.join_lines
    assert len([ln for ln in lines if b"QUIT" in ln]) == irc.quit_lines
    assert len(_sort_fu(hosts(b"JOIN"))) == irc.join_hosts
    assert len(_sort_fu(hosts(b"QUIT"))) == irc.quit_hosts
    union = _sort_fu(hosts(b"JOIN") + hosts(b"QUIT"))
    assert len(union) == irc.union_hosts
    assert len(set(hosts(b"JOIN") + hosts(b"QUIT"))) == irc.union_hosts_case_sensitive
    assert irc.union_hosts_case_sensitive > irc.union_hosts  # mixed-case duplicates exist
    assert irc.bandwidth_kbps == irc.union_hosts * 56
    # LUSERS, exactly in the write-up's format: grep "^[^ ]* 2[0-9][0-9]"
    lusers = [ln.rstrip(b"\r") for ln in lines if re.match(rb"^[^ ]* 2[0-9][0-9]", ln)]
    assert (
        lusers[0]
        == b":irc5.aol.com 251 rgdiuggac :There are 0 users and 4752 invisible on 4 servers"
    )
    assert lusers[-1].startswith(b":irc5.aol.com 250 rgdiuggac :Highest connection count: 349")
    assert len(lusers) == 7 and irc.users_reported == 4752
    # NAMES for the botnet channel (the odd-named channel's reply is not the botnet's)
    names = set()
    for ln in lines:
        if ln.startswith(b":irc5.aol.com 353 rgdiuggac @ #x"):
            rest = re.sub(rb"^:irc5.aol.com 353 rgdiuggac @ #x[^x]*x :", b"", ln)
            names.update(t for t in rest.replace(b"\r", b"").split(b" ") if t)
    assert len(names) == irc.names_count == len(irc.names)
    assert any(n.startswith(b"@") for n in names) and any(n.startswith(b"+") for n in names)
    # things a census tool must cope with
    assert irc.odd_channel in stream and not _is_utf8(irc.odd_channel)
    assert any(re.search(rb"@\d+\.\d+\.\d+\.\d+ (JOIN|QUIT)", ln) for ln in lines)
    assert irc.split_lines and irc.kicks == 1 and irc.parts == 1 and irc.nick_changes > 0
    assert irc.pings == irc.client_stream.count(b"PONG :irc5.aol.com\r\n") > 0
    assert b"JOIN #xb0tn3tx k3yz\r\n" in irc.client_stream
    assert irc.client_stream.startswith(b"PASS ")
    assert b"\x01DCC SEND " in stream
    assert any(c.startswith(".advscan") for c in irc.bot_commands)
    assert any(c.startswith("!download http://") for c in irc.bot_commands)


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_irc_attempts(scenario: GroundTruth) -> None:
    irc = scenario.flows_for("irc")
    states = {f.server: f.state for f in irc}
    assert states == {
        scenario.irc.refused_server: "refused",
        scenario.irc.silent_server: "unanswered",
        scenario.irc.nick_in_use_server: "closed",
        scenario.irc.server_ip: "open",
    }
    assert all(f.client == HONEYPOT_IP and f.sport == 6667 for f in irc)


def test_udp_attacks(scenario: GroundTruth, frames: list[tuple[float, bytes]]) -> None:
    slammer, queries, responses, hat = [], [], [], []
    for number, (_t, f) in enumerate(frames, start=1):
        pkt = IP(f[14:])
        if not pkt.haslayer(UDP):
            continue
        u = pkt[UDP]
        data = bytes(u.payload)
        if u.dport == 1434:
            assert pkt.src != HONEYPOT_IP
            slammer.append((pkt.src, data))
        if u.sport == 1434:
            assert pkt.src != HONEYPOT_IP
        if u.dport == 137 and pkt.dst == HONEYPOT_IP:
            queries.append(data)
        if u.sport == 137 and pkt.src == HONEYPOT_IP:
            responses.append(data)
        if u.dport == 28431:
            hat.append((number, u.sport, data))
    # Slammer: identical 376-byte payloads starting 0x04 (snort -devp | uniq -c)
    assert len(slammer) == scenario.slammer_count == 55
    assert {len(d) for _s, d in slammer} == {376} and {d[0] for _s, d in slammer} == {4}
    assert {hashlib.md5(d).hexdigest() for _s, d in slammer} == {scenario.slammer_md5}
    assert {s for s, _d in slammer} == set(scenario.slammer_sources)
    # NBNS: 65 queries, 5 distinct (differing only in the transaction id), 64 answers
    assert len(queries) == scenario.nbns.queries == 65
    assert len(responses) == scenario.nbns.responses == 64
    assert len(set(queries)) == scenario.nbns.distinct_queries == 5
    assert len({q[2:] for q in queries}) == 1
    mac = bytes.fromhex(scenario.honeypot_mac.replace(":", ""))
    assert all(r.endswith(mac + bytes(40)) for r in responses)  # unit id, then the counters
    # Hack-a-Tack
    assert hat == [(scenario.hackatack_frame, 28432, hat[0][2])] and len(hat[0][2]) == 1


def test_smb_uploads_in_the_stream(scenario: GroundTruth, tcp_index) -> None:  # type: ignore[no-untyped-def]
    streams = _stream(scenario, tcp_index, "smb445", 445, 0)
    assert len(scenario.files) == 4
    for ft in scenario.files:
        assert ft.content[:2] == b"MZ"
        assert hashlib.md5(ft.content).hexdigest() == ft.md5
        assert hashlib.sha256(ft.content).hexdigest() == ft.sha256
        if not ft.share:  # the HTTP download: body at the end of the server's reply
            (reply,) = _stream(scenario, tcp_index, "download", 80, 1)
            assert reply.endswith(ft.content) and b"200 OK" in reply
            continue
        wire = [s for s in streams if ft.name.encode("utf-16-le") in s]
        assert len(wire) == 1
        pos = 0
        for off in range(0, len(ft.content), 4096):  # WriteAndX chunks, in order
            pos = wire[0].find(ft.content[off : off + 4096], pos)
            assert pos > 0
    raddrv = next(f for f in scenario.files if f.name.endswith("raddrv.dll"))
    assert b"Unloading Raddrv" in raddrv.content and b"SYSTEM\\RAdmin\\" in raddrv.content
    assert raddrv.name == "\\WINNT\\System32\\raddrv.dll"


def test_compromise_chain_order(scenario: GroundTruth) -> None:
    e = scenario.events
    chain = [
        "slammer_first",
        "cmd_overflow_first",
        "smb445_admin_logon",
        "raddrv_open",
        "radmin_success_syn",
        "download_request",
        "irc_nick_in_use",
        "irc_joined",
    ]
    assert [e[k] for k in chain] == sorted(e[k] for k in chain)
    radmin = scenario.flows_for("radmin")
    ok = [f for f in radmin if f.state == "closed"]
    assert len(ok) == 1 and ok[0].client == scenario.radmin_client
    assert ok[0].first_frame == e["radmin_success_syn"]
    assert ok[0].app_bytes[0] > 0 and ok[0].app_bytes[1] > 0
    failed = [f for f in radmin if f.state == "refused"]
    assert len(failed) == scenario.radmin_failed and all(
        f.last_frame < e["raddrv_open"] for f in failed
    )


def test_http_triage(scenario: GroundTruth) -> None:
    reqs = scenario.http_requests
    by_host = Counter(r.client for r in reqs)
    assert by_host[sotm27.ACTORS["http_scanner"]] == len(sotm27.SCANNER_URIS)
    big = {r.client for r in reqs if r.size >= 100}
    assert set(scenario.http_hosts_ge_100) == big
    cmd = [r for r in reqs if r.uri.endswith("&cmd.exe$")]
    assert len(cmd) == scenario.cmd_overflow_count == 11
    (cr,) = [r for r in reqs if r.uri.startswith("/default.ida?")]
    assert "%u9090%u6858%ucbd3%u7801" in cr.uri and cr.status is None
    assert {r.status for r in reqs if r.client == sotm27.ACTORS["http_browser"]} == {200, 304}


# ------------------------------------------------------------------------------------------------
# tshark cross-checks


needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark not installed")

FIELDS = (
    "frame.number",
    "ip.src",
    "ip.dst",
    "tcp.stream",
    "_ws.expert.severity",
    "_ws.expert.group",
    "_ws.expert.message",
    "irc.request",
    "irc.response",
    "smb.path",
    "smb.file",
    "smb.nt_status",
    "smb.cmd",
    "smb.flags.response",
    "samr.opnum",
    "http.request.method",
    "http.request.uri",
    "http.response.code",
    "dns.qry.name",
    "dns.a",
)


@pytest.fixture(scope="module")
def tshark_rows(scenario: GroundTruth) -> list[dict[str, list[str]]]:
    args = [TSHARK, "-n", "-r", str(scenario.path), "-T", "json"]
    for f in FIELDS:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, check=True, timeout=300).stdout
    return [p["_source"]["layers"] for p in json.loads(out)]


def _tshark_text(scenario: GroundTruth, display_filter: str) -> str:
    args = [TSHARK, "-n", "-r", str(scenario.path), "-V", "-Y", display_filter]
    return subprocess.run(args, capture_output=True, check=True, timeout=300, text=True).stdout


ERROR, WARN = 0x00800000, 0x00600000
GROUP_MALFORMED = 0x07000000


@needs_tshark
def test_tshark_expert(scenario: GroundTruth, tshark_rows) -> None:  # type: ignore[no-untyped-def]
    """No errors or malformed packets at all; warnings only for RSTs and for the Code Red body
    (random bytes declared as text/xml)."""
    assert len(tshark_rows) == scenario.packets
    (codered,) = scenario.flows_for("http_codered")
    for row in tshark_rows:
        n = int(row["frame.number"][0])
        sev = [int(s) for s in row.get("_ws.expert.severity", [])]
        groups = [int(g) for g in row.get("_ws.expert.group", [])]
        msgs = row.get("_ws.expert.message", [])
        for s, g, msg in zip(sev, groups, msgs, strict=False):
            assert s < ERROR and g != GROUP_MALFORMED, (n, msg)
            if s >= WARN:
                assert msg == "Connection reset (RST)" or n in codered.frames, (n, msg)
    assert len({r["tcp.stream"][0] for r in tshark_rows if "tcp.stream" in r}) == len(
        scenario.flows
    )


def _norm(line: bytes) -> str:
    """How tshark shows a line: bytes >= 0x80 become U+FFFD."""
    return "".join(chr(c) if c < 0x80 else "\ufffd" for c in line)


@needs_tshark
def test_tshark_irc_lines(scenario: GroundTruth, tshark_rows) -> None:  # type: ignore[no-untyped-def]
    irc = scenario.irc
    seen_server: Counter[str] = Counter()
    seen_client: Counter[str] = Counter()
    for row in tshark_rows:
        if row.get("ip.src") == [irc.server_ip]:
            seen_server.update(row.get("irc.response", []))
        elif row.get("ip.dst") == [irc.server_ip]:
            seen_client.update(row.get("irc.request", []))
    split = set(irc.split_lines)
    whole = Counter(_norm(ln) for ln in irc.server_lines if ln not in split)
    fragments = seen_server - whole
    assert whole - seen_server == Counter(), "every uncut line is decoded by tshark"
    pieces = [_norm(ln) for ln in split]
    assert all(any(f in p for p in pieces) for f in fragments), "extras are pieces of cut lines"
    assert seen_client == Counter(_norm(ln) for ln in irc.client_lines)
    joins = sum(v for k, v in seen_server.items() if k.split(" ")[1:2] == ["JOIN"])
    assert joins <= irc.join_lines and joins >= irc.join_lines - len(split)


@needs_tshark
def test_tshark_smb(scenario: GroundTruth, tshark_rows) -> None:  # type: ignore[no-untyped-def]
    # The write-up: grep Path: sotm27-tcp139-details.txt | sort | uniq -ci
    text = _tshark_text(scenario, "tcp.port==139")
    paths = Counter(m.group(1) for m in re.finditer(r"^\s+Path: (\S+)$", text, re.M))
    assert paths == Counter(dict(scenario.smb139_paths))
    assert paths == Counter({"\\\\PC0191\\C": 51, "\\\\PC0191\\IPC$": 2})
    assert "Called name: PC0191<20>" in text
    # tcp/445: files written, per attacker, and the SAMR calls
    files = {
        (r["ip.src"][0], r["smb.file"][0])
        for r in tshark_rows
        if "smb.file" in r
        and r.get("smb.cmd", [""])[0] == "0xa2"
        and r.get("smb.flags.response") == ["0"]
    }
    expected = {(f.client, f.name) for f in scenario.files if f.share}
    expected |= {(a.client, "\\samr") for a in scenario.smb445 if a.samr_calls}
    assert files == expected
    samr = Counter()
    for r in tshark_rows:
        if "samr.opnum" in r and r["ip.dst"] == [HONEYPOT_IP]:
            samr[r["ip.src"][0]] += 1
    assert samr == Counter({a.client: len(a.samr_calls) for a in scenario.smb445 if a.samr_calls})
    fails = Counter(
        (r["ip.dst"][0], r["smb.nt_status"][0])
        for r in tshark_rows
        if r.get("smb.nt_status", ["0x00000000"])[0] != "0x00000000"
    )
    logon_fail = sotm27.ACTORS["smb445_logon_failure"]
    assert fails[(logon_fail, "0xc000006d")] == 3
    assert sum(v for (ip, st), v in fails.items() if st == "0xc0000022") == 2


@needs_tshark
def test_tshark_nbns_names(scenario: GroundTruth) -> None:
    # The write-up: grep Name: sotm27-udp137.txt | sort | uniq -ci
    text = _tshark_text(scenario, "udp.port==137")
    names = Counter(m.group(1) for m in re.finditer(r"^\s+Name: (\S+) \(", text, re.M))
    wild = "*" + "<00>" * 15
    assert names.pop(wild) == scenario.nbns.queries  # the queries' wildcard name
    assert names == Counter(dict(scenario.nbns.name_counts))
    assert names["ADMINISTRATOR<03>"] == 28 and names["IWAM_PC0191<03>"] == 24
    assert text.count("Flags: 0x8400") == scenario.nbns.responses
    assert text.count("Flags: 0x0010") == scenario.nbns.queries


@needs_tshark
def test_tshark_http_and_dns(scenario: GroundTruth, tshark_rows) -> None:  # type: ignore[no-untyped-def]
    reqs = Counter()
    codes = Counter()
    for r in tshark_rows:
        for meth, uri in zip(
            r.get("http.request.method", []), r.get("http.request.uri", []), strict=True
        ):
            reqs[(r["ip.src"][0], meth, uri)] += 1
        codes.update(int(c) for c in r.get("http.response.code", []))
    inbound = Counter((h.client, h.method, h.uri) for h in scenario.http_requests)
    inbound[(HONEYPOT_IP, "GET", "/tools/winupd.exe")] += 1
    assert reqs == inbound
    expected_codes = Counter(h.status for h in scenario.http_requests if h.status is not None)
    expected_codes[200] += 1  # the download
    assert codes == expected_codes
    dns = [(r["dns.qry.name"], r.get("dns.a")) for r in tshark_rows if "dns.qry.name" in r]
    assert dns == [([scenario.dns_query], None), ([scenario.dns_query], [scenario.dns_answer])]


# ------------------------------------------------------------------------------------------------
# The builder helpers on their own


def test_tcp_helper_segmentation(tmp_path: Path) -> None:
    import random

    from .tcp import ACK, CLIENT, PSH, SERVER, Capture, Endpoint

    cap = Capture(random.Random(3))
    cli = Endpoint("198.18.0.10", "00:00:0c:07:ac:01", ttl=113)
    srv = Endpoint("172.16.134.191", "00:08:74:4f:36:23", local=True)
    c = cap.tcp(cli, 1034, srv, 445, t=START, rtt=0.1, mss=1000)
    c.handshake()
    data = bytes(range(256)) * 10  # 2560 bytes
    hs = c.send(CLIENT, data, cuts=[100], retransmit_first=True)
    c.reset(SERVER)
    w = cap.write(tmp_path / "t.pcap")
    assert w.packets == 3 + 4 + 1 + 2 + 1  # handshake, 4 segments, 1 retransmission, 2 ACKs, RST
    with PcapReader(str(w.path)) as reader:
        pkts = [IP(bytes(p)[14:]) for p in reader]
    segs = [p for p in pkts if p.src == cli.ip and len(p[TCP].payload)]
    assert [len(p[TCP].payload) for p in segs] == [100, 100, 1000, 1000, 460]
    assert segs[0][TCP].seq == segs[1][TCP].seq  # the retransmission
    assert int(segs[-1][TCP].flags) == ACK | PSH
    acks = [p[TCP].ack for p in pkts if p.src == srv.ip and int(p[TCP].flags) == ACK]
    base = pkts[0][TCP].seq + 1
    assert acks == [base + 1100, base + 2560]
    assert [cap.frame(h) for h in hs] == [4, 6, 8, 9]  # 5: retransmission, 7: ACK
    assert c.stats.retransmissions == 1 and bytes(c.stats.data[CLIENT]) == data
