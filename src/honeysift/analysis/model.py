"""The records every analyzer produces: findings with evidence, verdicts, files, timeline steps.

Every claim carries its evidence (frame numbers, flow uids) and the honeysift command that shows
it, so a reader can re-check it in one step. ``to_dict()`` gives the report.json form
(docs/report.md, src/honeysift/report/report.schema.json).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

SEVERITIES = ("info", "low", "medium", "high", "critical")
VERDICTS = ("succeeded", "failed", "unknown", "not-attacked")


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def plain(obj: Any, skip: tuple[str, ...] = ()) -> Any:
    """:func:`dataclasses.asdict` without its deep copies (it copies every leaf, carved file
    contents included): dataclasses become dicts, lists, tuples and dicts are rebuilt, other
    values are shared. *skip* leaves out top-level fields."""
    t = type(obj)
    if t in (str, int, float, bool, bytes) or obj is None:
        return obj
    if is_dataclass(obj) and not isinstance(obj, type):
        names = _FIELD_NAMES.get(t)
        if names is None:
            names = _FIELD_NAMES[t] = tuple(f.name for f in fields(obj))
        return {n: plain(getattr(obj, n)) for n in names if n not in skip}
    if t is list:
        return [plain(v) for v in obj]
    if t is tuple:
        return tuple(plain(v) for v in obj)
    if t is dict:
        return {plain(k): plain(v) for k, v in obj.items()}
    return obj


@dataclass(slots=True)
class Evidence:
    """Where to look: frames (1-based, as tshark numbers them) and flow uids."""

    frames: list[int] = field(default_factory=list)
    flows: list[str] = field(default_factory=list)
    note: str = ""

    def merge(self, other: Evidence, limit: int = 200) -> Evidence:
        frames = sorted(set(self.frames) | set(other.frames))[:limit]
        flows = list(dict.fromkeys(self.flows + other.flows))[:limit]
        return Evidence(frames, flows, self.note or other.note)

    def to_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "flows": self.flows, "note": self.note}


@dataclass(slots=True)
class Finding:
    severity: str  # one of SEVERITIES
    title: str
    detail: str
    evidence: Evidence
    command: str  # e.g. "honeysift show CAP -V 'host 1.2.3.4 and tcp port 445'"
    category: str = ""  # "attack", "compromise", "backdoor", "outbound", "recon", "botnet", "alert"
    hosts: list[str] = field(default_factory=list)
    time: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "title": self.title,
            "detail": self.detail,
            "category": self.category,
            "hosts": self.hosts,
            "time": self.time,
            "evidence": self.evidence.to_dict(),
            "command": self.command,
        }


@dataclass(slots=True)
class ServiceVerdict:
    """One targeted service and what became of the attacks on it."""

    proto: str  # "tcp" / "udp"
    port: int
    name: str
    attackers: list[str]  # hosts that sent payload to it
    probers: list[str]  # hosts that only probed (no payload)
    connections: int
    packets: int
    verdict: str  # one of VERDICTS
    reasons: list[str]
    evidence: Evidence
    command: str
    details: dict[str, Any] = field(default_factory=dict)  # analyzer-specific facts

    def to_dict(self) -> dict[str, Any]:
        d = {
            "proto": self.proto,
            "port": self.port,
            "name": self.name,
            "attackers": self.attackers,
            "probers": self.probers,
            "connections": self.connections,
            "packets": self.packets,
            "verdict": self.verdict,
            "reasons": self.reasons,
            "evidence": self.evidence.to_dict(),
            "command": self.command,
            "details": self.details,
        }
        return d


@dataclass(slots=True)
class CarvedFile:
    """A file transferred over SMB, HTTP, FTP or IRC DCC, written under OUT/files/."""

    name: str  # as the attacker named it (display through safe_text)
    protocol: str  # "smb", "http", "ftp", "irc-dcc"
    src: str
    dst: str
    time: float | None
    size: int
    md5: str
    sha256: str
    magic: (
        str  # type by content (analysis.magic: "PE32 executable", "ELF", "ZIP archive", "data"...)
    )
    complete: bool  # every byte seen (no gaps, length matches the announced size)
    path: str | None = None  # where it was written, relative to OUT (None when not written)
    evidence: Evidence = field(default_factory=Evidence)
    direction: str = ""  # "upload" (to the honeypot) / "download" (from it) / ""
    data: bytes | None = field(default=None, repr=False)  # the content, until written

    def to_dict(self) -> dict[str, Any]:
        d = plain(self, skip=("data",))
        d["evidence"] = self.evidence.to_dict()
        return d


@dataclass(slots=True)
class TimelineEvent:
    time: float
    kind: str  # "probe", "attack", "logon", "upload", "new-service", "irc-join", "outbound", ...
    summary: str
    hosts: list[str]
    evidence: Evidence
    command: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "kind": self.kind,
            "summary": self.summary,
            "hosts": self.hosts,
            "evidence": self.evidence.to_dict(),
            "command": self.command,
        }


@dataclass(slots=True)
class AnalyzerResult:
    """What one per-service analyzer contributes to the report."""

    services: list[ServiceVerdict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    files: list[CarvedFile] = field(default_factory=list)
    timeline: list[TimelineEvent] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # analyzer-specific report section
