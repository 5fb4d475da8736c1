"""Shared pieces of the decoders: a bounds-checked byte reader and the display tree node."""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from typing import Any


class Truncated(Exception):
    """Raised inside a decoder when a read runs past the end; decoders catch it and flag."""

    def __init__(self, offset: int, need: int, have: int) -> None:
        self.offset = offset
        super().__init__(f"truncated at byte {offset}: need {need} bytes, {have} left")


class Reader:
    """A cursor over ``bytes`` whose every read is bounds-checked (raises :class:`Truncated`)."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else min(end, len(data))

    @property
    def remaining(self) -> int:
        return max(0, self.end - self.pos)

    def need(self, n: int) -> None:
        if n < 0 or self.pos + n > self.end:
            raise Truncated(self.pos, n, self.remaining)

    def bytes(self, n: int) -> bytes:
        self.need(n)
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return bytes(out)

    def rest(self) -> bytes:
        out = self.data[self.pos : self.end]
        self.pos = self.end
        return bytes(out)

    def skip(self, n: int) -> None:
        self.need(n)
        self.pos += n

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        self.need(size)
        out = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return out

    def u8(self) -> int:
        self.need(1)
        v = self.data[self.pos]
        self.pos += 1
        return v

    def u16be(self) -> int:
        return self.unpack(">H")[0]

    def u16le(self) -> int:
        return self.unpack("<H")[0]

    def u32be(self) -> int:
        return self.unpack(">I")[0]

    def u32le(self) -> int:
        return self.unpack("<I")[0]

    def u64le(self) -> int:
        return self.unpack("<Q")[0]

    def cstring(self, limit: int = 65536) -> bytes:
        """Bytes up to (not including) a NUL; the NUL is consumed. Unterminated -> Truncated."""
        stop = min(self.end, self.pos + limit)
        idx = self.data.find(b"\x00", self.pos, stop)
        if idx < 0:
            raise Truncated(self.pos, stop - self.pos + 1, self.remaining)
        out = bytes(self.data[self.pos : idx])
        self.pos = idx + 1
        return out

    def utf16z(self, limit: int = 65536) -> str:
        """A NUL-terminated UTF-16LE string (2-byte aligned terminator)."""
        p = self.pos
        stop = min(self.end, self.pos + limit)
        while p + 1 < stop:
            if self.data[p] == 0 and self.data[p + 1] == 0:
                out = bytes(self.data[self.pos : p]).decode("utf-16-le", "replace")
                self.pos = p + 2
                return out
            p += 2
        raise Truncated(self.pos, stop - self.pos + 2, self.remaining)


@dataclass(slots=True)
class Node:
    """One line of a ``show -V`` protocol tree.

    ``field`` is the tshark field name when one exists (so ``-T fields -e`` and ``-Y`` agree
    with the tree); ``value`` is the raw value for filters, ``text`` what is printed.
    """

    text: str
    field: str | None = None
    value: Any = None
    children: list[Node] = dataclasses.field(default_factory=list)

    def add(self, text: str, field: str | None = None, value: Any = None) -> Node:
        child = Node(text, field, value)
        self.children.append(child)
        return child

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()

    def fields(self) -> dict[str, list[Any]]:
        """Collect ``field -> [values]`` from this subtree, in tree order."""
        out: dict[str, list[Any]] = {}
        for n in self.walk():
            if n.field is not None:
                out.setdefault(n.field, []).append(n.value)
        return out

    def render(self, indent: int = 0) -> list[str]:
        lines = ["    " * indent + self.text]
        for c in self.children:
            lines.extend(c.render(indent + 1))
        return lines
