"""Tests of YAML loading with positions."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_meshgate._cases.yamlpos import format_key_path, load_documents, looks_like_case_file
from pytest_meshgate._errors import CaseError


def test_positions_point_at_keys_and_values(write: Callable[[str, str], Path]) -> None:
    path = write(
        "a.yaml",
        """
        spec:
          checks:
          - name: one
            request: {url: "http://x/"}
        """,
    )
    (doc,) = load_documents(path)
    key = doc.positions.locate(("spec", "checks", 0, "request", "url"), prefer_key=True)
    value = doc.positions.locate(("spec", "checks", 0, "request", "url"))
    assert key is not None and (key.line, key.column) == (4, 15)
    assert value is not None and (value.line, value.column) == (4, 20)


def test_missing_key_falls_back_to_deepest_ancestor(write: Callable[[str, str], Path]) -> None:
    path = write("a.yaml", "spec:\n  checks: []\n")
    (doc,) = load_documents(path)
    mark = doc.positions.locate(("spec", "checks", 3, "name"))
    assert mark is not None and (mark.line, mark.column) == (2, 11)


def test_several_documents_keep_their_own_lines(write: Callable[[str, str], Path]) -> None:
    path = write("a.yaml", "a: 1\n---\nb: 2\n---\n# only a comment\n---\nc: 3\n")
    docs = load_documents(path)
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert [d.positions.locate(()).line for d in docs] == [1, 3, 7]  # type: ignore[union-attr]


def test_syntax_error_is_located(write: Callable[[str, str], Path]) -> None:
    path = write("a.yaml", "a: [1, 2\nb: 3\n")
    with pytest.raises(CaseError) as info:
        load_documents(path)
    (problem,) = info.value.problems
    assert problem.path == path and problem.line == 2
    assert "invalid YAML" in problem.message


def test_duplicate_keys_are_errors(write: Callable[[str, str], Path]) -> None:
    path = write("a.yaml", "spec:\n  name: a\n  name: b\n")
    with pytest.raises(CaseError) as info:
        load_documents(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.key_path) == (3, "spec.name")
    assert "first set on line 2" in problem.message


def test_format_key_path() -> None:
    assert format_key_path(("spec", "checks", 0, "request")) == "spec.checks[0].request"
    assert format_key_path(()) == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("apiVersion: meshgate.dev/v1alpha1\nkind: Case\n", True),
        ("# comment\n---\napiVersion: 'meshgate.dev/v1alpha1'\n", True),
        ("apiVersion: networking.istio.io/v1\n---\napiVersion: meshgate.dev/v1alpha1\n", False),
        ("name: ci\non: push\n", False),
    ],
)
def test_case_files_recognised_by_first_document(
    write: Callable[[str, str], Path], text: str, expected: bool
) -> None:
    assert looks_like_case_file(write("f.yaml", text)) is expected


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_a_case_file_with_a_byte_order_mark_is_a_case_file(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("apiVersion: meshgate.dev/v1alpha1\nkind: Case\n".encode(encoding))
    assert looks_like_case_file(path)
    (document,) = load_documents(path)
    assert document.data == {"apiVersion": "meshgate.dev/v1alpha1", "kind": "Case"}
    assert (document.start.line, document.start.column) == (1, 1)


def test_a_directive_before_the_first_document_is_read_through(
    write: Callable[[str, str], Path],
) -> None:
    assert looks_like_case_file(write("d.yaml", "%YAML 1.1\n---\napiVersion: meshgate.dev/v1\n"))


def test_a_fifo_named_like_a_case_file_is_not_one_and_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert looks_like_case_file(fifo) is False


def test_errors_quote_the_file_only_when_it_is_accepted(
    write: Callable[[str, str], Path],
) -> None:
    path = write("a.yaml", "a: [1, 2\nb: 3\n")
    with pytest.raises(CaseError) as quoted:
        load_documents(path)
    assert quoted.value.problems[0].source == "b: 3"
    with pytest.raises(CaseError) as unquoted:
        load_documents(path, quote_errors=False)
    assert unquoted.value.problems[0].source is None
    assert "b: 3" not in unquoted.value.render()


def test_odd_keys_are_quoted_in_key_paths() -> None:
    # Found by tests/_cases/test_hostile.py: a key " " made a headline read "...:1:  : ...".
    assert format_key_path(("spec", " ", 0)) == 'spec." "[0]'
    assert (
        format_key_path(("", "a[0]", 'x"y', "tab\there")) == '"".' + '"a[0]"."x\\"y"."tab\\there"'
    )
    assert format_key_path(("metadata", "labels", "app.kubernetes.io/name")) == (
        "metadata.labels.app.kubernetes.io/name"
    )
