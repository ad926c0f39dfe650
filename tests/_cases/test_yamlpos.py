"""Tests of YAML loading with positions."""

from __future__ import annotations

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
