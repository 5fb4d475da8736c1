"""Where capture bytes come from: a plain file, a gzip/bzip2/xz file, or standard input.

Compression is detected by magic bytes, never by file name. Compressed input and stdin are
spooled once to a temporary file (in ``$TMPDIR``) so every later stage can seek to a frame's
bytes; memory use grows neither with the capture nor with its compression ratio. Hashes of
the bytes as stored and of the decompressed capture are computed during that single pass.
"""

from __future__ import annotations

import bz2
import contextlib
import hashlib
import lzma
import os
import sys
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from honeysift.errors import CaptureError

GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"

_COPY_BLOCK = 1 << 20
_SLICE = 16 << 10  # compressed bytes per decompressor step (how precisely damage is placed)
_OUT_LIMIT = 64 << 10  # most decompressed bytes one step may return (bounds memory and loss)
_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError)


@dataclass(slots=True)
class Source:
    """A seekable, uncompressed capture file plus what we learnt while opening it."""

    name: str  # what the user gave (path or "-")
    path: str  # the uncompressed bytes on disk (the file itself, or a spool)
    compression: str | None  # "gzip", "bzip2", "xz" or None
    stored_size: int
    size: int  # uncompressed size
    stored_md5: str | None = None
    stored_sha256: str | None = None
    md5: str | None = None  # of the decompressed capture (same as stored for plain files)
    sha256: str | None = None
    warnings: list[str] = field(default_factory=list)
    _spool: bool = False

    def close(self) -> None:
        if self._spool:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            self._spool = False


class _HashingReader:  # used for stdin spooling
    """File-like wrapper that hashes every byte read through it and counts them."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.md5 = hashlib.md5()
        self.sha256 = hashlib.sha256()
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        if data:
            self.md5.update(data)
            self.sha256.update(data)
            self.count += len(data)
        return data

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        while self.read(_COPY_BLOCK):
            pass


def sniff_compression(head: bytes) -> str | None:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(BZIP2_MAGIC) and len(head) >= 4 and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(XZ_MAGIC):
        return "xz"
    return None


def open_source(name: str) -> Source:
    """Resolve *name* (a path, or ``-`` for stdin) to a seekable uncompressed capture."""
    if name == "-":
        return _from_stream(name, sys.stdin.buffer)
    try:
        f = open(name, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise CaptureError(name, None, "no such file") from None
    except IsADirectoryError:
        raise CaptureError(name, None, "is a directory, not a capture file") from None
    except PermissionError:
        raise CaptureError(name, None, "permission denied") from None
    except OSError as exc:
        raise CaptureError(name, None, f"cannot open: {exc.strerror}") from None
    with f:
        if not f.seekable():  # a pipe or FIFO given by name
            return _from_stream(name, f)
        head = f.read(8)
        size = os.fstat(f.fileno()).st_size
        kind = sniff_compression(head)
        if kind is None:
            return Source(name, name, None, size, size)
        f.seek(0)
        return _decompress_to_spool(name, f, kind, size)


def _from_stream(name: str, stream) -> Source:
    """Spool a non-seekable stream (stdin, FIFO) to a temp file, then treat it as a file."""
    fd, spool = tempfile.mkstemp(prefix="honeysift-stdin-", suffix=".cap")
    hasher = _HashingReader(stream)
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                try:
                    block = hasher.read(_COPY_BLOCK)
                except OSError as exc:
                    out.flush()
                    raise CaptureError(name, hasher.count, f"read error: {exc}") from None
                if not block:
                    break
                out.write(block)
    except BaseException:
        os.unlink(spool)
        raise
    with open(spool, "rb") as f:
        head = f.read(8)
        kind = sniff_compression(head)
        if kind is None:
            src = Source(name, spool, None, hasher.count, hasher.count, _spool=True)
            src.stored_md5 = src.md5 = hasher.md5.hexdigest()
            src.stored_sha256 = src.sha256 = hasher.sha256.hexdigest()
            return src
        f.seek(0)
        try:
            src = _decompress_to_spool(name, f, kind, hasher.count)
        finally:
            os.unlink(spool)
    return src


def _decompressor(kind: str):
    if kind == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor()


def _pieces(dec, kind: str, data) -> Iterator[bytes]:
    """The output of feeding *data*, at most ``_OUT_LIMIT`` bytes at a time.

    One unbounded call would return a whole expansion at once (1 MiB of a bomb is gigabytes).
    zlib keeps what it could not yet use in ``unconsumed_tail`` (and may still hold output when
    a call fills ``max_length`` exactly); bz2 and lzma keep it inside until ``needs_input``.
    """
    while True:
        out = dec.decompress(data, _OUT_LIMIT)
        if out:
            yield out
        if dec.eof:
            return
        if kind == "gzip":
            data = dec.unconsumed_tail
            if not data and len(out) < _OUT_LIMIT:
                return
        else:
            data = b""
            if dec.needs_input:
                return


class _Spooler:
    """Decompresses member after member into the spool, hashing what it writes."""

    def __init__(self, kind: str, out, stored_size: int) -> None:
        self.kind, self.out, self.stored_size = kind, out, stored_size
        self.md5, self.sha256 = hashlib.md5(), hashlib.sha256()
        self.size = 0
        self.dec = _decompressor(kind)
        self.mid = False  # the current member has started and not ended
        self.failed = False
        self.carry = b""  # bytes after a member's end, too few yet to tell what follows
        self.warnings: list[str] = []

    def _emit(self, plain: bytes) -> None:
        self.md5.update(plain)
        self.sha256.update(plain)
        self.out.write(plain)
        self.size += len(plain)

    def feed(self, data, at: int, last: bool = False) -> None:
        """Decompress *data*, which starts at compressed byte *at*; *last*: no more follows."""
        if self.carry:
            data, at = self.carry + bytes(data), at - len(self.carry)
            self.carry = b""
        while data and not self.failed:
            if not self.mid:  # a member must start here, or this is trailing data
                if len(data) < 8 and not last:
                    self.carry = bytes(data)
                    return
                if sniff_compression(bytes(data[:8])) != self.kind:
                    self.warnings.append(
                        f"{self.stored_size - at} bytes of trailing data after the {self.kind} "
                        f"stream at compressed byte {at} (ignored)"
                    )
                    self.failed = True
                    return
            self.mid = True
            saved = self.dec.copy() if self.kind == "gzip" else None
            done = 0  # output of *data* already written
            try:
                for plain in _pieces(self.dec, self.kind, data):
                    self._emit(plain)
                    done += len(plain)
            except _ERRORS as exc:
                self._damaged(exc, saved, data, at, done)
                return
            if not self.dec.eof:
                return
            rest = self.dec.unused_data
            at += len(data) - len(rest)
            data = rest
            self.dec = _decompressor(self.kind)
            self.mid = False

    def _damaged(self, exc: Exception, saved, data, at: int, done: int) -> None:
        """Warn where *data* (at compressed byte *at*) broke the stream, keeping what it gave.

        gzip: the step is replayed byte by byte from a copy of the decompressor, so all output
        before the failing byte is kept and the offset is exact. bzip2/xz decompressors cannot be
        copied: the failing step's output is lost (at most ``_OUT_LIMIT`` bytes) and the offset
        is that of the ``_SLICE``-byte step. Either way the error shows where it was found: a
        checksum error is found after the damaged bytes, at the checksum.
        """
        where = f"in compressed bytes {at}-{at + len(data) - 1}"
        if saved is not None:
            skip = done
            for i in range(len(data)):
                try:
                    for plain in _pieces(saved, self.kind, data[i : i + 1]):
                        if skip < len(plain):
                            self._emit(plain[skip:])
                        skip = max(0, skip - len(plain))
                except _ERRORS as again:
                    exc, where = again, f"at compressed byte {at + i}"
                    break
        self.warnings.append(
            f"{self.kind} stream damaged, error found {where} ({exc}); "
            f"analysing the {self.size} bytes decompressed before it"
        )
        self.failed = True

    def finish(self, consumed: int) -> None:
        if self.carry and not self.failed:
            self.feed(b"", consumed, last=True)
        if self.mid and not self.failed:
            self.warnings.append(
                f"{self.kind} stream ends early (file cut short at compressed byte {consumed}); "
                f"analysing the {self.size} bytes decompressed before it"
            )


def _decompress_to_spool(name: str, f, kind: str, stored_size: int) -> Source:
    """Incremental decompression, so a damaged or cut tail still yields everything before it.

    Input goes in ``_SLICE``-byte steps and output comes out at most ``_OUT_LIMIT`` bytes at a
    time, so memory stays bounded whatever the expansion ratio (a decompression bomb only fills
    the spool) and damage loses little. Concatenated members (``cat a.gz b.gz``) are followed,
    as gzip/bzip2/xz tools do.
    """
    fd, spool = tempfile.mkstemp(prefix="honeysift-", suffix=".cap")
    md5_in, sha_in = hashlib.md5(), hashlib.sha256()
    consumed = 0
    try:
        with os.fdopen(fd, "wb") as out:
            sp = _Spooler(kind, out, stored_size)
            while block := f.read(_COPY_BLOCK):
                md5_in.update(block)
                sha_in.update(block)
                view = memoryview(block)
                for i in range(0, len(block), _SLICE):
                    if sp.failed:
                        break
                    sp.feed(view[i : i + _SLICE], consumed + i)
                consumed += len(block)
            sp.finish(consumed)
    except BaseException:
        os.unlink(spool)
        raise
    if sp.size == 0 and sp.warnings:
        os.unlink(spool)
        raise CaptureError(name, 0, sp.warnings[0])
    src = Source(name, spool, kind, stored_size, sp.size, _spool=True, warnings=sp.warnings)
    src.stored_md5 = md5_in.hexdigest()
    src.stored_sha256 = sha_in.hexdigest()
    src.md5 = sp.md5.hexdigest()
    src.sha256 = sp.sha256.hexdigest()
    return src
