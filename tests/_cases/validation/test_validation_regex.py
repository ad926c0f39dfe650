"""Regexes are RE2, as Envoy's safe_regex compiles them, and at most 1024 characters."""

from __future__ import annotations

import pytest

from pytest_meshgate._cases.validation.regex import validate_regex


@pytest.mark.parametrize(
    "pattern",
    ["^/api/v[0-9]+/.*$", "(?i)^/ADMIN", "[[:alpha:]]+", "\\d{3}", "(?P<name>x)", "a|b|c", "\\\\C"],
)
def test_re2_accepts(pattern: str) -> None:
    assert validate_regex(pattern, "uri") is None


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("^/(?!admin).*", "invalid perl operator: (?!"),  # look-ahead
        ("(?<=a)b", "invalid perl operator"),  # look-behind
        ("(a)\\1", "invalid escape sequence: \\1"),  # back-reference
        ("a{1001}", "invalid repetition size"),
        ("(unclosed", "missing )"),
        ("[z-a]", "invalid character class range"),
        ("\\C", "invalid escape sequence: \\C"),  # RE2 takes it, Go's regexp (Istio) does not
    ],
)
def test_re2_refuses(pattern: str, reason: str) -> None:
    problem = validate_regex(pattern, "uri")
    assert problem is not None
    assert problem.startswith('"uri": error parsing regexp ')
    assert reason in problem
    assert problem.endswith(
        "Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)"
    )


def test_a_regex_over_1024_characters_is_too_large() -> None:
    assert validate_regex("a" * 1024, "headers") is None
    assert validate_regex("a" * 1025, "headers") == (
        '"headers": regex is too large, max length allowed is 1024'
    )


def test_re2_reports_nothing_on_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    assert validate_regex("(?!x)", "uri") is not None
    assert capfd.readouterr().err == ""
