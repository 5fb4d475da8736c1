"""honeysift: turn a packet capture from a honeypot (or any incident) into answers."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "open"]


def open(path: str, **kwargs):  # noqa: A001 - deliberate, like gzip.open
    """Open a capture for analysis: ``honeysift.open("x.pcap").packets()``."""
    from honeysift.capture.reader import Capture

    return Capture(path, **kwargs)
