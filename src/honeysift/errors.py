"""The tool's own error and warning types.

Every failure the user can cause (a bad file, a bad filter, a hostile payload) is raised as a
:class:`HoneysiftError` subclass so the CLI can print one clear line instead of a traceback.
"""

from __future__ import annotations


class HoneysiftError(Exception):
    """Base of every error the CLI reports as one line and a non-zero exit."""


class CaptureError(HoneysiftError):
    """The capture cannot be read (further): names the file and the byte offset."""

    def __init__(self, path: str, offset: int | None, message: str) -> None:
        self.path = path
        self.offset = offset
        self.message = message
        where = f"{path}: byte {offset}: " if offset is not None else f"{path}: "
        super().__init__(where + message)


class FilterError(HoneysiftError):
    """A capture or display filter could not be parsed; points at the offending token."""

    def __init__(self, expression: str, position: int, message: str) -> None:
        self.expression = expression
        self.position = position
        self.message = message
        caret = " " * position + "^"
        super().__init__(f"{message}\n  {expression}\n  {caret}")
