"""Writes an analysis to OUT: carved files, report.json, report.md and report.html.

File names come from attackers. A carved file is stored as ``files/<sha256 prefix>_<name>``
where <name> keeps only the last path element with letters, digits and ``._-`` (everything
else becomes ``_``), so nothing can climb out of OUT, hide as a dot file, or overwrite
another: files are created with O_EXCL and O_NOFOLLOW, and a clash gets a numbered suffix.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from honeysift.memory import trim

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str, sha256: str, limit: int = 80) -> str:
    base = re.split(r"[\\/]", name or "")[-1]
    base = _SAFE.sub("_", base).strip("._") or "file"
    return f"{sha256[:12]}_{base[:limit]}"


def _create(path: Path, data: bytes) -> Path:
    """Create *path* exclusively (never overwrite, never follow a symlink); number on clashes."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    stem, suffix = path.stem, path.suffix
    for n in range(1000):
        cand = path if n == 0 else path.with_name(f"{stem}-{n}{suffix}")
        try:
            fd = os.open(cand, flags, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return cand
    raise FileExistsError(f"too many files named like {path.name}")


def write_files(report: dict, carved: list, out: Path) -> None:
    """Write the content of every carved file and record its path in the report's manifest."""
    files_dir = out / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    root = files_dir.resolve()
    by_key = {(f.sha256, f.name, f.src, f.dst): f for f in carved}
    for entry in report.get("files", []):
        f = by_key.get((entry["sha256"], entry["name"], entry["src"], entry["dst"]))
        if f is None or f.data is None:
            continue
        target = files_dir / safe_filename(f.name, f.sha256)
        if target.resolve().parent != root:  # defence in depth; safe_filename already ensures it
            continue
        written = _create(target, f.data)
        entry["path"] = str(written.relative_to(out))
        f.path = entry["path"]


def json_bytes(report: dict) -> bytes:
    """report.json's bytes. orjson writes a big report ~20x faster than json with indent
    (which falls back to the pure-Python encoder); json is kept for what orjson refuses."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency
        orjson = None
    if orjson is not None:
        opts = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
        try:
            return orjson.dumps(report, default=str, option=opts) + b"\n"
        except (TypeError, orjson.JSONEncodeError):  # e.g. an integer wider than 64 bits
            pass
    return json.dumps(report, indent=1, default=str).encode()


def write_report(report: dict, carved: list, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_files(report, carved, out)
    paths = {"json": out / "report.json"}
    paths["json"].write_bytes(json_bytes(report))
    try:
        from honeysift.report.markdown import render_markdown

        paths["md"] = out / "report.md"
        paths["md"].write_text(render_markdown(report))
        trim()
    except ImportError:
        pass
    try:
        from honeysift.report.html import render_html

        paths["html"] = out / "report.html"
        paths["html"].write_text(render_html(report))
    except ImportError:
        pass
    return paths
