"""Tests of repeated objects: applied in document order, as kubectl would leave them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from pytest_meshgate._cases.apply import Applied, apply_in_order
from pytest_meshgate._cases.loader import load_case_file
from pytest_meshgate._cases.model.istio import VirtualService, parse_resource
from pytest_meshgate._cases.yamlpos import Mark

Write = Callable[[str, str], Path]


def _vs(
    name: str, subset: str, *, api: str = "v1", namespace: str | None = None, ts: str | None = None
) -> VirtualService:
    metadata: dict[str, str] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if ts is not None:
        metadata["creationTimestamp"] = ts
    resource = parse_resource(
        {
            "apiVersion": f"networking.istio.io/{api}",
            "kind": "VirtualService",
            "metadata": metadata,
            "spec": {
                "hosts": ["reviews"],
                "http": [{"route": [{"destination": {"host": "reviews", "subset": subset}}]}],
            },
        }
    )
    assert isinstance(resource, VirtualService)
    return resource


def _subset(resource: object) -> str | None:
    assert isinstance(resource, VirtualService)
    return resource.spec.http[0].route[0].destination.subset


def _apply(*resources: VirtualService) -> Applied:
    paths = [("spec", "resources", i) for i in range(len(resources))]
    return apply_in_order(resources, paths, lambda p: Mark(Path("c.yaml"), 10 + int(p[2]), 5))


def test_a_later_definition_replaces_the_earlier_one_in_place() -> None:
    applied = _apply(_vs("reviews", "v1"), _vs("ratings", "v1"), _vs("reviews", "v2"))
    assert [r.name for r in applied.resources] == ["reviews", "ratings"]
    assert _subset(applied.resources[0]) == "v2"
    # The live definition's key path is the later one's: its fields are located there.
    assert applied.paths == (("spec", "resources", 2), ("spec", "resources", 1))
    (replacement,) = applied.replacements
    assert (replacement.kind, replacement.key) == ("VirtualService", "default/reviews")
    assert (replacement.earlier.line, replacement.later.line) == (10, 12)
    assert "defined again at c.yaml:12 replaces its definition at c.yaml:10" in (
        replacement.message()
    )


def test_same_object_across_api_versions_but_not_across_namespaces() -> None:
    applied = _apply(_vs("reviews", "v1"), _vs("reviews", "v2", api="v1beta1"))
    assert len(applied.resources) == 1 and _subset(applied.resources[0]) == "v2"
    applied = _apply(_vs("reviews", "v1"), _vs("reviews", "v2", namespace="other"))
    assert len(applied.resources) == 2 and not applied.replacements


def test_cluster_scoped_objects_are_identified_by_kind_and_name_alone() -> None:
    from pytest_meshgate._cases.model.resources import parse_resource as parse_any

    def gateway_class(name: str, controller: str) -> object:
        return parse_any(
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "GatewayClass",
                "metadata": {"name": name},
                "spec": {"controllerName": controller},
            }
        )

    namespace = parse_any({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}})
    resources = [
        gateway_class("a", "example.com/one"),
        namespace,
        gateway_class("a", "example.com/two"),
    ]
    paths = [("spec", "resources", i) for i in range(3)]
    applied = apply_in_order(resources, paths, lambda p: Mark(Path("c.yaml"), 10 + int(p[2]), 5))
    # The GatewayClass is defined again (no namespace to tell the two apart); the
    # Namespace of the same name is another kind.
    assert len(applied.resources) == 2
    (replacement,) = applied.replacements
    assert (replacement.kind, replacement.key) == ("GatewayClass", "a")
    assert applied.resources[0].spec.controller_name == "example.com/two"  # type: ignore[attr-defined]


def test_replaced_object_keeps_the_first_creation_timestamp() -> None:
    applied = _apply(
        _vs("reviews", "v1", ts="2024-01-01T00:00:00Z"),
        _vs("reviews", "v2", ts="2024-06-01T00:00:00Z"),
        _vs("reviews", "v3"),
    )
    (live,) = applied.resources
    assert _subset(live) == "v3"
    assert live.metadata.creation_timestamp == datetime(2024, 1, 1, tzinfo=timezone.utc)
    first, second = applied.replacements
    assert first.ignored_timestamp and "creationTimestamp given again is ignored" in (
        first.message()
    )
    # The third definition replaces the second (named as the earlier place) and sets none.
    assert (second.earlier.line, second.later.line) == (11, 12)
    assert not second.ignored_timestamp


def test_an_implicit_creation_time_stays_implicit() -> None:
    applied = _apply(_vs("reviews", "v1"), _vs("reviews", "v2", ts="2024-06-01T00:00:00Z"))
    assert applied.resources[0].metadata.creation_timestamp is None
    assert applied.replacements[0].ignored_timestamp


def test_loader_applies_documents_across_includes(write: Write) -> None:
    write(
        "all-v1.yaml",
        """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: reviews}
        spec:
          hosts: [reviews]
          http:
          - route: [{destination: {host: reviews, subset: v1}}]
        """,
    )
    write(
        "test-v2.yaml",
        """
        # again
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: reviews}
        spec:
          hosts: [reviews]
          http:
          - match: [{headers: {end-user: {exact: jason}}}]
            route: [{destination: {host: reviews, subset: v2}}]
        """,
    )
    path = write(
        "c.yaml",
        """
        apiVersion: meshgate.dev/v1alpha1
        kind: Case
        metadata: {name: c}
        spec:
          services: [{name: reviews, ports: [{name: http, port: 9080}], versions: [v1, v2]}]
          resources:
          - include: all-v1.yaml
          - include: test-v2.yaml
          checks:
          - {name: c, request: {url: "http://a/"}}
        """,
    )
    (loaded,) = load_case_file(path).cases
    (live,) = loaded.resources
    assert isinstance(live, VirtualService)
    assert live.spec.http[0].match[0].headers["end-user"].exact == "jason"
    (replacement,) = loaded.replacements
    assert replacement.earlier.path.name == "all-v1.yaml" and replacement.earlier.line == 1
    assert replacement.later.path.name == "test-v2.yaml" and replacement.later.line == 2
    # Fields of the live object are located in the file that defined it last.
    match = loaded.resource_mark(0, ("spec", "http", 0, "match"))
    assert (match.path.name, match.line) == ("test-v2.yaml", 8)
