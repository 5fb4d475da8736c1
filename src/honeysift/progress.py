"""Progress on stderr for long work, when stderr is a terminal (never in output or JSON)."""

from __future__ import annotations

import sys


class Progress:
    """Progress on stderr when it is a terminal and the file is big enough to be worth it."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.label = label
        self._last = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < (64 << 20):
            return
        pct = int(100 * done / max(total, 1))
        if pct != self._last:
            self._last = pct
            sys.stderr.write(f"\r{self.label}: {pct:3d}% of {total / 1e6:,.0f} MB")
            sys.stderr.flush()

    def phase(self, label: str) -> None:
        """Start the next step of the same job under a new label."""
        self.done()
        self.label = label

    def done(self) -> None:
        if self.enabled and self._last >= 0:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()
        self._last = -1
