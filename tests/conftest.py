"""Shared test fixtures: where the real-capture corpus lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("HONEYSIFT_CORPUS", REPO.parent / "shared" / "corpus" / "zeek"))


def corpus_traces() -> list[Path]:
    d = CORPUS / "traces"
    return sorted(d.iterdir()) if d.is_dir() else []


def trace_name(path: Path) -> str:
    return path.name.split(".")[0]


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "traces").is_dir():
        pytest.skip(f"corpus not found at {CORPUS} (set HONEYSIFT_CORPUS)")
    return CORPUS
