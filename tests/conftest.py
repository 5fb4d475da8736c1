"""Shared test fixtures: where the real-capture corpus lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from honeysift.capture import kernels as capture_kernels
from honeysift.flows import kernels as flow_kernels
from honeysift.streams import kernels as stream_kernels

# The compiled loops normally wait for a big capture (numba's import costs more than it saves on a
# small capture). In-process tests run them on every size, so the corpus comparisons check the
# compiled code; the numpy paths are compared with them where tests switch numba off, and the
# CLI tests (subprocesses) run with the normal thresholds.
capture_kernels.ALWAYS = True
flow_kernels.ALWAYS = True
stream_kernels.ALWAYS = True

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
