"""Run ``show -T fields`` the way oracle/TOOLS.md ran tshark, and read the oracle dumps."""

from __future__ import annotations

from pathlib import Path

from honeysift.dissect import show_command
from tests.conftest import CORPUS

#: oracle file -> (display filter, fields after frame.number), as in oracle/TOOLS.md
COMMANDS: dict[str, tuple[str, list[str]]] = {
    "irc_fields.tsv": ("irc", ["irc.request", "irc.response"]),
    "smb_fields.tsv": ("smb or smb2", ["smb.cmd", "smb.path", "smb.file", "smb2.filename"]),
    "smb2_fields.tsv": (
        "smb2",
        ["tcp.stream", "smb2.cmd", "smb2.flags.response", "smb2.nt_status", "smb2.tree",
         "smb2.filename"],
    ),
    "nbns_fields.tsv": (
        "nbns",
        ["nbns.id", "nbns.flags", "nbns.flags.opcode", "nbns.flags.response", "nbns.name",
         "nbns.type", "nbns.addr"],
    ),
    "nbss_fields.tsv": ("nbss", ["tcp.stream", "nbss.type", "nbss.length"]),
    "dcerpc_fields.tsv": (
        "dcerpc",
        ["tcp.stream", "dcerpc.pkt_type", "dcerpc.cn_call_id", "dcerpc.cn_ctx_id",
         "dcerpc.opnum", "dcerpc.cn_bind_to_uuid"],
    ),
    "http_fields.tsv": (
        "http.request or http.response",
        ["tcp.stream", "http.request.method", "http.request.uri", "http.request.version",
         "http.host", "http.user_agent", "http.response.code", "http.response.phrase",
         "http.content_length_header", "http.content_type"],
    ),
    "ftp_fields.tsv": (
        "ftp",
        ["tcp.stream", "ftp.request.command", "ftp.request.arg", "ftp.response.code",
         "ftp.response.arg"],
    ),
    "dns_fields.tsv": (
        "dns",
        ["dns.id", "dns.flags.response", "dns.flags.rcode", "dns.qry.name", "dns.qry.type",
         "dns.count.answers", "dns.a", "dns.aaaa", "dns.cname"],
    ),
}  # fmt: skip


def trace_path(name: str) -> Path | None:
    for p in sorted((CORPUS / "traces").glob(name + ".*")):
        if p.name.split(".")[0] == name:
            return p
    return None


def oracle_pairs() -> list[tuple[str, str]]:
    d = CORPUS / "oracle"
    if not d.is_dir():
        return []
    return sorted((p.parent.name, p.name) for p in d.glob("*/*_fields.tsv") if p.name in COMMANDS)


def read_oracle(trace: str, file: str) -> dict[int, tuple[str, ...]]:
    lines = (CORPUS / "oracle" / trace / file).read_bytes().decode("utf-8", "replace")
    rows = [ln.split("\t") for ln in lines.split("\n")[1:] if ln]
    return {int(r[0]): tuple(r[1:]) for r in rows}


def ours(trace: str, file: str) -> dict[int, tuple[str, ...]]:
    flt, names = COMMANDS[file]
    path = trace_path(trace)
    assert path is not None, trace
    lines: list[str] = []
    show_command(str(path), (), flt, mode="fields", fields=["frame.number", *names],
                 out=lambda s: lines.extend(s.split("\n")))  # fmt: skip
    rows = [ln.split("\t") for ln in lines if ln]
    return {int(r[0]): tuple(r[1:]) for r in rows}
