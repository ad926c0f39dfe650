"""Durations as Go writes them: one parser for case files, options and the echo's queries."""

from __future__ import annotations

import pytest

from pytest_meshgate._durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("1.5h", 5400.0),
        ("1.5s", 1.5),
        (".5s", 0.5),
        ("0", 0.0),
        ("250us", 0.00025),
        ("250µs", 0.00025),
        ("250μs", 0.00025),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1", "s", "1x", "1s2", "-1s", "2 parsecs"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    assert [format_duration(s) for s in (0.5, 2.0, 0.001)] == ["500ms", "2s", "1ms"]
    assert all(parse_duration(format_duration(s)) == s for s in (0.5, 2.0, 0.001, 90.0))
