"""Flow rows picked by protocol, port and service label, on the numeric columns (a loop over
two million flows in Python, or their labels as text, costs seconds and hundreds of MB)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from honeysift.flows import LABELS


def flows_by_service(
    flows,
    proto: int,
    ports: Iterable[int],
    label: str,
    *,
    either_port: bool = False,
    exact: bool = False,
) -> list[int]:
    """Rows of *proto* flows whose responder port (or either port) is in *ports*, or whose
    service label contains *label* (is *label* with ``exact``); in flow-table order."""
    c, codes = flows.numeric, flows.codes
    ports = np.asarray(sorted(ports), dtype=np.int64)
    on_port = np.isin(c["resp_p"], ports)
    if either_port:
        on_port |= np.isin(c["orig_p"], ports)
    names = LABELS["service"]
    wanted = np.asarray([(label == n) if exact else (label in n) for n in names], dtype=bool)
    by_label = wanted[codes["service"]]
    return np.flatnonzero((c["proto"] == proto) & (on_port | by_label)).tolist()


class RowView:
    """``view[i]`` gives row *i* of a numpy column as a Python number (divided by *div*), or
    what *get(i)* returns: per-row access without turning a two-million-row column into a
    Python list (~70 MB each)."""

    __slots__ = ("col", "div", "get")

    def __init__(self, col, div: float | None = None, get=None) -> None:
        self.col, self.div, self.get = col, div, get

    def __getitem__(self, i):
        if self.get is not None:
            return self.get(i)
        v = self.col[i].item()
        return v / self.div if self.div else v
