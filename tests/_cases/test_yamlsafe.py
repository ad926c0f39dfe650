"""Bounded YAML: alias bombs, recursion, depth, counts and constructor errors are located errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from pytest_meshgate._cases import limits
from pytest_meshgate._cases.yamlpos import load_documents
from pytest_meshgate._cases.yamlsafe import GraphLimitExceeded, Loader, Tally, measure
from pytest_meshgate._errors import CaseError, Problem

Write = Callable[[str, str], Path]

# 600 bytes, 9 levels of 9 aliases: 9^9 (387 million) strings once expanded.
BILLION_LAUGHS = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
    f"{new}: &{new} [{', '.join(['*' + old] * 9)}]\n"
    for old, new in zip("abcdefgh", "bcdefghi", strict=True)
)


def only_problem(path: Path) -> Problem:
    with pytest.raises(CaseError) as info:
        load_documents(path)
    (problem,) = info.value.problems
    return problem


def compose(text: str) -> yaml.Node:
    loader = Loader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def test_the_billion_laughs_are_refused_at_the_alias_that_breaks_the_budget(write: Write) -> None:
    path = write("bomb.yaml", BILLION_LAUGHS)
    assert len(BILLION_LAUGHS) < 700
    problem = only_problem(path)
    assert "more than 100000 YAML nodes with aliases expanded" in problem.message
    # e = 66,430 nodes expanded: the second *e of line 6 breaks the 100,000 budget.
    assert (problem.line, problem.column) == (6, 12)
    assert problem.source == BILLION_LAUGHS.splitlines()[5]


def test_measure_counts_each_distinct_node_once() -> None:
    # The exact expanded size of the bomb (435 million nodes below `i`): walking them
    # would never end, so returning at all shows each distinct node is visited once.
    sizes = [10]
    for _ in range(8):
        sizes.append(1 + 9 * sizes[-1])
    tally = Tally()
    assert measure(compose(BILLION_LAUGHS), tally, remaining=10**12) == 1 + 9 + sum(sizes)
    assert tally.aliases == 8 * 9
    with pytest.raises(GraphLimitExceeded):
        measure(compose(BILLION_LAUGHS), Tally(), remaining=sizes[-1])


def test_a_recursive_alias_is_refused_where_it_is_written(write: Write) -> None:
    problem = only_problem(write("rec.yaml", "spec:\n  a: &x\n  - *x\n"))
    assert (problem.line, problem.column) == (3, 5)
    assert problem.message == "recursive alias: the anchor contains its own alias"


def test_too_many_aliases(write: Write) -> None:
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * (limits.MAX_ALIASES + 1)) + "]\n"
    problem = only_problem(write("many.yaml", text))
    assert problem.message == f"more than {limits.MAX_ALIASES} YAML aliases in one file"
    assert problem.line == 2
    assert problem.column == 5 + 4 * limits.MAX_ALIASES  # the first alias over the limit


def test_nesting_deeper_than_the_limit(write: Write) -> None:
    depth = limits.MAX_DEPTH
    fine = "[" * depth + "]" * depth + "\n"
    assert load_documents(write("fine.yaml", fine))
    problem = only_problem(write("deep.yaml", "[" * depth + "1" + "]" * depth + "\n"))
    assert problem.message == f"nested deeper than {depth} levels"
    assert (problem.line, problem.column) == (1, depth + 1)


def test_nesting_through_aliases_counts_expanded(write: Write) -> None:
    half = limits.MAX_DEPTH // 2 + 1
    text = "a: &a " + "[" * half + "]" * half + "\nb: " + "[" * half + "*a" + "]" * half + "\n"
    problem = only_problem(write("deep.yaml", text))
    assert problem.message == f"nested deeper than {limits.MAX_DEPTH} levels with aliases expanded"
    assert (problem.line, problem.column) == (2, 4 + half)


def test_too_many_documents(write: Write) -> None:
    text = "a: 1\n---\n" * limits.MAX_DOCUMENTS + "a: 2\n"
    problem = only_problem(write("docs.yaml", text))
    assert problem.message == f"more than {limits.MAX_DOCUMENTS} YAML documents in one file"
    assert problem.line == 2 * limits.MAX_DOCUMENTS + 1


def test_a_budget_is_shared_with_what_came_before(write: Write) -> None:
    path = write("list.yaml", "[1, 2, 3]\n")
    (document,) = load_documents(path)
    assert document.nodes == 4
    with pytest.raises(CaseError, match="more than 100000 YAML nodes"):
        load_documents(path, budget=3)


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("2001-13-45", "timestamp"),
        ("2001-02-30 10:00:00", "timestamp"),
        ("!!int x", "int"),
        ("!!float x", "float"),
        ("!!timestamp x", "timestamp"),
        ("!!bool maybe", "bool"),
        ("1" * 5000, "int"),
    ],
)
def test_values_pyyaml_cannot_construct_are_located(write: Write, value: str, what: str) -> None:
    problem = only_problem(write("v.yaml", f"spec:\n  when: {value}\n"))
    assert (problem.line, problem.column) == (2, 9)
    assert problem.message.startswith(f"invalid YAML: cannot read this value as {what} (")


def test_a_control_character_is_located(write: Write) -> None:
    problem = only_problem(write("c.yaml", "name: é\nb: x\x01y\n"))
    assert (problem.line, problem.column) == (2, 5)
    assert problem.message == "invalid YAML: character #x0001: control characters are not allowed"


def test_limits_leave_room_for_every_shipped_case_file() -> None:
    root = Path(__file__).resolve().parents[2]
    for path in sorted((root / "cases").glob("*.yaml")):
        assert path.stat().st_size * 4 < limits.MAX_FILE_BYTES, path
        documents = load_documents(path)
        # The Gateway API files are the largest (about 7,800 nodes): still a tenth.
        assert sum(d.nodes for d in documents) * 10 < limits.MAX_NODES, path
