"""The messages Istio resources share: StringMatch's oneOf."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from pytest_meshgate._cases.model.base import validation_problems
from pytest_meshgate._cases.model.istio import parse_resource


def vs(spec: dict[str, Any], api: str = "networking.istio.io/v1") -> dict[str, Any]:
    return {"apiVersion": api, "kind": "VirtualService", "metadata": {"name": "v"}, "spec": spec}


def _problems(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str, bool]]:
    with pytest.raises(pydantic.ValidationError) as info:
        parse_resource(data)
    return validation_problems(info.value, data)


def test_string_match_one_of() -> None:
    data = vs(
        {
            "hosts": ["a"],
            "http": [
                {
                    "match": [{"uri": {"prefix": "/", "exact": "/"}}],
                    "route": [{"destination": {"host": "b"}}],
                }
            ],
        }
    )
    problems = _problems(data)
    assert problems == [
        (("spec", "http", 0, "match", 0, "uri"), "set only one of exact, prefix or regex", False)
    ]
    # An empty match is valid (for headers it means "present"); empty prefixes and
    # regexes are for Istio's webhook rules (_cases/validation) to judge.
    empty = vs(
        {
            "hosts": ["a"],
            "http": [
                {
                    "match": [{"uri": {}, "headers": {"x-debug": {}, "x-e": {"prefix": ""}}}],
                    "route": [{"destination": {"host": "b"}}],
                }
            ],
        }
    )
    parse_resource(empty)  # valid
