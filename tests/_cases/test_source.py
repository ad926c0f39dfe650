"""Reading a file's text: only regular files, within a size bound, any BOM'd Unicode encoding."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_meshgate._cases.limits import MAX_FILE_BYTES
from pytest_meshgate._cases.source import read_head, read_source
from pytest_meshgate._errors import CaseError

TEXT = "apiVersion: meshgate.dev/v1alpha1\nkind: Case\nname: é\n"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-be", "utf-32", "utf-32-le"])
def test_a_byte_order_mark_selects_the_encoding_and_is_dropped(
    tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "c.yaml"
    data = TEXT.encode(encoding)
    if encoding in ("utf-16-be", "utf-32-le"):  # the explicit-endian codecs write no BOM
        data = "\ufeff".encode(encoding) + data
    path.write_bytes(data)
    source = read_source(path)
    assert source.text == TEXT
    assert source.line(3) == "name: é"
    assert read_head(path, 1024) == TEXT


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_without_a_mark_are_told_by_their_zero_bytes(
    tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(TEXT.encode(encoding))
    assert read_source(path).text == TEXT
    assert read_head(path, 1024) == TEXT


def test_invalid_utf8_is_located_at_the_first_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"a: 1\nname: caf\xe9 au lait\n")
    with pytest.raises(CaseError) as info:
        read_source(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.column) == (2, 10)
    assert "not valid UTF-8: byte 0xe9 at offset 14" in problem.message
    assert problem.source is None  # not YAML we accepted: no excerpt


def test_a_file_larger_than_the_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(CaseError, match="file larger than 512 KiB"):
        read_source(path)
    path.write_bytes(b"#" * MAX_FILE_BYTES)
    assert len(read_source(path).text) == MAX_FILE_BYTES


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    # Opening a FIFO for reading blocks until a writer comes: if this test returns
    # at all, the open did not block.
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(CaseError, match="not a regular file"):
        read_source(fifo)
    assert read_head(fifo, 100) is None


def test_a_directory_and_a_missing_file_are_located_errors(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="not a regular file"):
        read_source(tmp_path)
    with pytest.raises(CaseError, match="cannot read file: No such file"):
        read_source(tmp_path / "missing.yaml")


def test_proc_files_are_read_by_reading_not_by_their_size() -> None:
    # /proc files have st_size 0; a size taken from stat would read nothing (or
    # trust a lie); the bound holds by counting what was read.
    head = read_head(Path("/proc/self/status"), 5)
    assert head == "Name:"
