"""Where capture bytes come from: a plain file, a gzip/bzip2/xz file, or standard input.

Compression is detected by magic bytes, never by file name. Compressed input and stdin are
spooled once to a temporary file (in ``$TMPDIR``) so every later stage can seek to a frame's
bytes; memory use does not grow with the capture. Hashes of the bytes as stored and of the
decompressed capture are computed during that single pass.
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
from dataclasses import dataclass, field

from honeysift.errors import CaptureError

GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"

_COPY_BLOCK = 1 << 20


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


def _decompress_to_spool(name: str, f, kind: str, stored_size: int) -> Source:
    """Incremental decompression, so a damaged or cut tail still yields everything before it.

    Concatenated members (``cat a.gz b.gz``) are followed, as gzip/bzip2/xz tools do.
    """
    fd, spool = tempfile.mkstemp(prefix="honeysift-", suffix=".cap")
    md5_in, sha_in = hashlib.md5(), hashlib.sha256()
    md5, sha = hashlib.md5(), hashlib.sha256()
    size = consumed = 0
    warnings: list[str] = []
    dec = _decompressor(kind)
    mid = False  # the current member has started and not ended
    failed = False
    try:
        with os.fdopen(fd, "wb") as out:
            while block := f.read(_COPY_BLOCK):
                md5_in.update(block)
                sha_in.update(block)
                data = block
                while data and not failed:
                    try:
                        plain = dec.decompress(data)
                    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
                        warnings.append(
                            f"{name}: {kind} stream damaged near compressed byte {consumed} "
                            f"({exc}); analysing the {size} bytes decompressed before it"
                        )
                        failed = True
                        break
                    mid = True
                    if plain:
                        md5.update(plain)
                        sha.update(plain)
                        out.write(plain)
                        size += len(plain)
                    data = b""
                    if dec.eof:
                        mid = False
                        data = dec.unused_data
                        dec = _decompressor(kind)
                        if data and sniff_compression(data[:8]) != kind:
                            warnings.append(
                                f"{name}: {len(data)} bytes of trailing data after the {kind} stream (ignored)"
                            )
                            failed = True
                consumed += len(block)
        if mid and not failed:
            warnings.append(
                f"{name}: {kind} stream ends early (file cut short at compressed byte {consumed}); "
                f"analysing the {size} bytes decompressed before it"
            )
    except BaseException:
        os.unlink(spool)
        raise
    if size == 0 and warnings:
        os.unlink(spool)
        raise CaptureError(name, 0, warnings[0].split(": ", 1)[1])
    src = Source(name, spool, kind, stored_size, size, _spool=True, warnings=warnings)
    src.stored_md5 = md5_in.hexdigest()
    src.stored_sha256 = sha_in.hexdigest()
    src.md5 = md5.hexdigest()
    src.sha256 = sha.hexdigest()
    return src
