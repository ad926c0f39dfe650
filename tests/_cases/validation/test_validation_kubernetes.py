"""Object metadata as the Kubernetes API server checks it (apimachinery's validation tables,
pkg/util/validation/validation_test.go), and the annotations Istio's webhook refuses."""

from __future__ import annotations

import pytest
from validating import http_vs, outcome, virtual_service

from pytest_meshgate._cases.validation.kubernetes import (
    label_key_problems,
    label_value_problems,
    subdomain_problems,
)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("a", True),
        ("ab", True),
        ("a.b", True),
        ("a-b.c-d", True),
        ("1.2.3", True),
        ("a" * 253, True),
        ("a" * 254, False),
        ("A", False),
        ("MyVS", False),
        ("a_b", False),
        ("-a", False),
        ("a.", False),
        ("a..b", False),
    ],
)
def test_names_are_dns_subdomains(name: str, valid: bool) -> None:
    assert (subdomain_problems(name) == []) == valid


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("app", True),
        ("app.kubernetes.io/name", True),
        ("MyName", True),
        ("my.name", True),
        ("123-abc", True),
        ("a/b/c", False),
        ("/name", False),
        ("example.com/", False),
        ("Example.com/name", False),  # the prefix is a lowercase subdomain
        ("a b", False),
        ("-a", False),
        ("a" * 64, False),
    ],
)
def test_label_keys_are_qualified_names(key: str, valid: bool) -> None:
    assert (label_key_problems(key) == []) == valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [("", True), ("v1", True), ("a_b.c-d", True), ("a b", False), ("-a", False), ("a" * 64, False)],
)
def test_label_values(value: str, valid: bool) -> None:
    assert (label_value_problems(value) == []) == valid


def test_an_upper_case_resource_name_is_rejected_with_kubernetes_words() -> None:
    (message,) = outcome(
        http_vs({"route": [{"destination": {"host": "b"}}]}) | {"metadata": {"name": "MyVS"}}
    ).errors
    assert message.startswith(
        'metadata.name: Invalid value: "MyVS": a lowercase RFC 1123 subdomain must consist of lower '
        "case alphanumeric characters"
    )


def test_an_invalid_label_key_is_rejected_at_the_key() -> None:
    manifest = virtual_service(
        {"hosts": ["a.b"], "http": [{"route": [{"destination": {"host": "b"}}]}]},
        labels={"bad key": "x"},
    )
    (message,) = outcome(manifest).errors
    assert message.startswith(
        'metadata.labels."bad key": Invalid value: "bad key": name part must consist of'
    )


def test_a_namespace_is_a_dns_label() -> None:
    manifest = virtual_service(
        {"hosts": ["a.b"], "http": [{"route": [{"destination": {"host": "b"}}]}]}, namespace="a.b"
    )
    assert outcome(manifest).errors == [
        'metadata.namespace: Invalid value: "a.b": must not contain dots'
    ]


def test_annotation_keys_ignore_case_but_not_form() -> None:
    spec = {"hosts": ["a.b"], "http": [{"route": [{"destination": {"host": "b"}}]}]}
    assert outcome(virtual_service(spec, annotations={"Example.com/Name": "x"})).errors == []
    (message,) = outcome(virtual_service(spec, annotations={"a/b/c": "x"})).errors
    assert message.startswith(
        'metadata.annotations.a/b/c: Invalid value: "a/b/c": a valid label key'
    )


def test_annotations_are_limited_to_256_kib() -> None:
    spec = {"hosts": ["a.b"], "http": [{"route": [{"destination": {"host": "b"}}]}]}
    big = virtual_service(spec, annotations={"note": "x" * (256 * 1024)})
    assert outcome(big).errors == ["metadata.annotations: Too long: must have at most 262144 bytes"]


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (
            "istio.io/dry-run",
            "default/vs has unsupported annotation istio.io/dry-run, please remove the annotation",
        ),
        (
            "internal.istio.io/webhook-always-reject",
            '"internal.istio.io/webhook-always-reject" annotation found, rejecting',
        ),
        (
            "internal.istio.io/parents",
            '"internal.istio.io/parents" annotation found, this may not be set by users',
        ),
    ],
)
def test_istio_refuses_its_own_annotations_and_stops_there(annotation: str, message: str) -> None:
    # The spec below is invalid too, but Istio's webhook returns before it looks.
    manifest = virtual_service({"hosts": ["a.b"]}, annotations={annotation: "true"})
    assert outcome(manifest).errors == [f"metadata.annotations.{annotation}: {message}"]
