"""A YAML file's text: read within a size bound, decoded as YAML allows, split into lines.

Only regular files are read (a FIFO or a device named by a case file would
block or never end), through one ``open`` that cannot block, and never more
than ``MAX_FILE_BYTES``. UTF-8 is the default; a byte-order mark selects
UTF-8, UTF-16 or UTF-32 (YAML 1.1 section 5.2 takes the first two, YAML 1.2
all three), and the mark itself is dropped; without a mark, the zero bytes
around a first ASCII character tell UTF-16 and UTF-32 apart (YAML 1.2
section 5.2's table). Bytes that do not decode are a located error, never a
traceback. A ``Source`` keeps the lines for error
excerpts, so that nothing is read again to show a problem.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from .._errors import CaseError, Problem
from .limits import MAX_FILE_BYTES

__all__ = [
    "Source",
    "decode",
    "detect_encoding",
    "read_bytes",
    "read_head",
    "read_source",
    "split_lines",
]

# UTF-32 first: its little-endian mark starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
# No BOM: an ASCII first character and the zero bytes around it (YAML 1.2 section 5.2).
_NULL_PATTERNS = (
    (re.compile(rb"\x00\x00\x00[^\x00]"), "utf-32-be"),
    (re.compile(rb"[^\x00]\x00\x00\x00"), "utf-32-le"),
    (re.compile(rb"\x00[^\x00]"), "utf-16-be"),
    (re.compile(rb"[^\x00]\x00"), "utf-16-le"),
)
# YAML's line breaks (YAML 1.1 section 5.4, as PyYAML and libyaml count lines).
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


@dataclass(frozen=True)
class Source:
    """The decoded text of one file; ``quotable`` says whether its lines may be shown.

    A case file is quotable; an included file only once it parsed as YAML.
    A file that is not YAML we accepted is never quoted (see ``Problem.source``).
    """

    path: Path
    text: str
    quotable: bool = True

    @cached_property
    def lines(self) -> list[str]:
        return split_lines(self.text)

    def line(self, number: int) -> str | None:
        """Line ``number`` (1-based) when it may be shown, else ``None``."""
        if self.quotable and 1 <= number <= len(self.lines):
            return self.lines[number - 1]
        return None

    def problem(self, line: int, column: int, key_path: str, message: str) -> Problem:
        return Problem(self.path, line, column, key_path, message, self.line(line))


def split_lines(text: str) -> list[str]:
    return _LINE_BREAK.split(text)


def _fail(path: Path, message: str, line: int = 1, column: int = 1) -> CaseError:
    return CaseError([Problem(path, line, column, "", message)])


def read_bytes(path: Path, limit: int = MAX_FILE_BYTES, *, head: bool = False) -> bytes:
    """The regular file ``path``, at most ``limit`` bytes (``head``: its first ``limit``).

    Raises:
        CaseError: it cannot be opened, is not a regular file, or (unless
            ``head``) is larger than ``limit``.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below).
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise _fail(path, f"cannot read file: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _fail(path, "not a regular file")
        chunks: list[bytes] = []
        size = 0
        # /proc files say they are empty: only reading tells their size.
        wanted = limit if head else limit + 1
        while size < wanted:
            chunk = os.read(fd, wanted - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise _fail(path, f"cannot read file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise _fail(path, f"file larger than {limit // 1024} KiB (the limit of a case file)")
    return b"".join(chunks)


def detect_encoding(data: bytes) -> tuple[str, int]:
    """The encoding of ``data`` and the length of its byte-order mark (see the module docstring)."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name, len(bom)
    for pattern, name in _NULL_PATTERNS:
        if pattern.match(data):
            return name, 0
    return "utf-8", 0


def decode(data: bytes, path: Path) -> str:
    """The text of ``data``: UTF-8 unless a byte-order mark says otherwise, mark dropped.

    Raises:
        CaseError: at the line and column of the first byte that does not decode.
    """
    encoding, skip = detect_encoding(data)
    body = data[skip:]
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        before = split_lines(body[: exc.start].decode(encoding, errors="replace"))
        line, column = len(before), len(before[-1]) + 1
        message = f"not valid {encoding.upper()}: byte 0x{body[exc.start]:02x} at offset "
        raise _fail(path, message + f"{exc.start + skip}", line, column) from None


def read_source(path: Path, *, quotable: bool = True) -> Source:
    """The decoded text of ``path`` (see the module docstring).

    Raises:
        CaseError: unreadable, not a regular file, too large, or not decodable.
    """
    return Source(path, decode(read_bytes(path), path), quotable)


def read_head(path: Path, size: int) -> str | None:
    """The first ``size`` bytes of a regular file, decoded leniently; ``None`` if unreadable."""
    try:
        data = read_bytes(path, size, head=True)
    except CaseError:
        return None
    encoding, skip = detect_encoding(data)
    # A UTF-16/32 head cut mid-character decodes with one replacement at its end.
    return data[skip:].decode(encoding, errors="replace")
