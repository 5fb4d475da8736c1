"""File type by content, for carved files (no libmagic: a few signatures cover what attackers move).

Why our own: the report must say the same thing on every machine, and a honeypot mostly sees
Windows executables, archives, scripts and web pages. Signatures come from the format specs:

* MZ / PE: MS-DOS header ``e_lfanew`` at 0x3C points at ``PE\\0\\0`` + COFF header (machine,
  characteristics; 0x2000 = IMAGE_FILE_DLL) + optional header magic 0x10B (PE32) / 0x20B (PE32+)
  (Microsoft PE/COFF specification, sections 2-3). "PE32 executable" only when the PE signature
  is really there; a bare MZ header is an "MS-DOS executable".
* ELF: ``\\x7fELF`` (System V ABI, e_ident); ZIP: ``PK\\x03\\x04`` (APPNOTE 4.3.7);
  gzip: 1F 8B (RFC 1952 2.3.1); bzip2: ``BZh``; RAR: ``Rar!\\x1a\\x07``; 7z: ``7z\\xbc\\xaf\\x27\\x1c``;
  PDF: ``%PDF-``; PNG: 89 ``PNG`` 0D 0A 1A 0A; GIF: ``GIF87a``/``GIF89a``; JPEG: FF D8 FF;
  pcap: A1B2C3D4 / D4C3B2A1 (and the ns variants); pcapng: 0A0D0D0A.
* text: HTML by its first tags, scripts by ``#!``, otherwise mostly printable bytes.
"""

from __future__ import annotations

import struct

_MACHINES = {0x14C: "Intel 80386", 0x8664: "x86-64", 0x1C0: "ARM", 0xAA64: "ARM64"}

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "ELF"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"PK\x05\x06", "ZIP archive (empty)"),
    (b"\x1f\x8b", "gzip compressed data"),
    (b"BZh", "bzip2 compressed data"),
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-zip archive"),
    (b"%PDF-", "PDF document"),
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"\xd4\xc3\xb2\xa1", "pcap capture file"),
    (b"\xa1\xb2\xc3\xd4", "pcap capture file"),
    (b"\x4d\x3c\xb2\xa1", "pcap capture file"),
    (b"\xa1\xb2\x3c\x4d", "pcap capture file"),
    (b"\x0a\x0d\x0d\x0a", "pcapng capture file"),
    (b"MSCF", "Microsoft Cabinet archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "Microsoft OLE2 compound document"),
)
_HTML_MARKS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<title", b"<script", b"<h1")
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D, 0x0C}


def _pe(data: bytes) -> str:
    """'PE32 executable ...' when e_lfanew points at a PE signature, else 'MS-DOS executable'."""
    if len(data) < 0x40:
        return "MS-DOS executable"
    (lfanew,) = struct.unpack_from("<I", data, 0x3C)
    if lfanew + 24 > len(data) or data[lfanew : lfanew + 4] != b"PE\x00\x00":
        return "MS-DOS executable"
    machine, _nsec, _ts, _sym, _nsym, opt_size, chars = struct.unpack_from(
        "<HHIIIHH", data, lfanew + 4
    )
    kind = "PE32 executable"
    if opt_size >= 2 and lfanew + 26 <= len(data):
        (magic,) = struct.unpack_from("<H", data, lfanew + 24)
        if magic == 0x20B:
            kind = "PE32+ executable"
    if chars & 0x2000:
        kind += " (DLL)"
    arch = _MACHINES.get(machine)
    return f"{kind}, {arch}" if arch else kind


def _texty(head: bytes) -> bool:
    if not head:
        return False
    printable = sum(1 for b in head if b in _TEXT_BYTES or b >= 0x80)
    return b"\x00" not in head and printable >= 0.95 * len(head)


def file_type(data: bytes) -> str:
    """A short human description of ``data`` by its content (never raises)."""
    if not data:
        return "empty"
    if data[:2] == b"MZ":
        return _pe(data)
    for sig, name in _SIGNATURES:
        if data.startswith(sig):
            return name
    head = data[:1024]
    low = head.lstrip().lower()
    if any(low.startswith(m) for m in _HTML_MARKS) or (
        low.startswith(b"<") and any(m in low for m in _HTML_MARKS)
    ):
        return "HTML document"
    if low.startswith(b"<?xml"):
        return "XML document"
    if head.startswith(b"#!"):
        interp = head[2:].split(b"\n", 1)[0].strip().split(b"/")[-1].split(b" ")[0]
        name = interp.decode("ascii", "replace") or "shell"
        return f"{name} script, text"
    if _texty(head):
        if low.startswith((b"@echo", b"echo ", b"rem ")) or b"\r\n@echo" in low:
            return "DOS batch file, text"
        return "text"
    return "data"
