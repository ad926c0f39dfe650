"""The Istio resource registry: kinds and apiVersions, error locations, strictness."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from pytest_meshgate._cases.model.base import validation_problems
from pytest_meshgate._cases.model.istio import UnsupportedResource, VirtualService, parse_resource


def vs(spec: dict[str, Any], api: str = "networking.istio.io/v1") -> dict[str, Any]:
    return {"apiVersion": api, "kind": "VirtualService", "metadata": {"name": "v"}, "spec": spec}


@pytest.mark.parametrize(
    "api",
    ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"],
)
def test_all_api_versions_parse(api: str) -> None:
    res = parse_resource(
        vs({"hosts": ["a"], "http": [{"route": [{"destination": {"host": "b"}}]}]}, api)
    )
    assert isinstance(res, VirtualService)
    assert res.api_version == api
    assert res.metadata.namespace == "default"
    assert res.key == "default/v"


def _problems(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str, bool]]:
    with pytest.raises(pydantic.ValidationError) as info:
        parse_resource(data)
    return validation_problems(info.value, data)


def test_unknown_key_located_from_root() -> None:
    data = vs(
        {"hosts": ["a"], "http": [{"route": [{"destination": {"host": "b", "subst": "v1"}}]}]}
    )
    problems = _problems(data)
    assert problems == [
        (("spec", "http", 0, "route", 0, "destination", "subst"), "unknown key", True)
    ]


def test_bad_duration_and_missing_name() -> None:
    data = vs(
        {"hosts": ["a"], "http": [{"timeout": "2", "route": [{"destination": {"host": "b"}}]}]}
    )
    data["metadata"] = {"namespace": "x"}
    problems = {p[0]: p[1] for p in _problems(data)}
    assert problems[("metadata",)] == "missing required key 'name'"
    assert "duration" in problems[("spec", "http", 0, "timeout")]


def test_unsupported_resource() -> None:
    with pytest.raises(UnsupportedResource, match="Gateway") as info:
        parse_resource(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "EnvoyFilter",
                "metadata": {"name": "x"},
            }
        )
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnsupportedResource, match="VirtualService"):
        parse_resource({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway"})


def test_models_are_frozen() -> None:
    res = parse_resource(
        vs({"hosts": ["a"], "http": [{"route": [{"destination": {"host": "b"}}]}]})
    )
    with pytest.raises(pydantic.ValidationError):
        res.metadata.name = "other"  # type: ignore[misc]
