"""Shared rules: Istio's tables (validation_test.go Test_validateExportTo, TestValidatePortName;
agent/validation_test.go TestValidatePort, TestValidateDuration) and the rest of common.py."""

from __future__ import annotations

import pytest

from pytest_meshgate._cases.model.istio import LoadBalancerSettings
from pytest_meshgate._cases.validation.common import (
    go_float,
    is_dns1123_label,
    is_wildcard_dns1123_label,
    one_of_problem,
    parse_protocol,
    validate_duration,
    validate_export_to,
    validate_labels,
    validate_percent,
    validate_percentage,
    validate_port,
    validate_port_name,
    validate_protocol,
    validate_workload_selector,
)


@pytest.mark.parametrize(
    ("namespace", "export_to", "service_entry", "with_selector", "valid"),
    [
        ("ns5", [], False, False, True),  # empty exportTo is okay
        ("ns5", ["*"], False, False, True),
        ("ns5", [".", "ns1"], False, False, True),
        ("ns5", ["ns1", "ns2", "ns5"], False, False, True),
        ("ns5", ["~"], True, False, True),  # ~ is allowed for service entry configs
        ("ns5", ["~", "ns1"], False, False, False),
        ("ns5", [".", "*"], False, False, False),
        ("ns5", ["*", "ns1"], False, False, False),
        ("ns5", [".", "ns5"], False, False, False),
        ("ns5", ["ns1", "ns2", "ns1"], False, False, False),
        ("ns5", ["~", "~", "ns1"], True, False, False),
        ("ns5", ["ns1_"], False, False, False),
        ("ns5", ["~", "ns1"], True, False, False),
        ("ns5", ["*"], False, True, False),
        ("ns5", ["."], False, True, True),
        ("ns5", ["somens"], False, True, False),
        ("ns5", [".", "somens"], False, True, False),
    ],
)
def test_validate_export_to(
    namespace: str, export_to: list[str], service_entry: bool, with_selector: bool, valid: bool
) -> None:
    errors = validate_export_to(
        namespace,
        export_to,
        service_entry=service_entry,
        destination_rule_with_selector=with_selector,
    )
    assert (errors == []) == valid, errors


def test_export_to_messages() -> None:
    assert validate_export_to("ns5", ["ns5", "."]) == [
        "duplicate entries in exportTo: . and current namespace ns5"
    ]
    assert validate_export_to("ns5", [".", "ns5"]) == [
        "duplicate entries in exportTo for entry ns5"
    ]
    assert validate_export_to("ns5", ["ns1_"]) == [
        "only .,*, or a valid DNS 1123 label is allowed as exportTo entry"
    ]


@pytest.mark.parametrize(
    ("port", "valid"),
    [(0, False), (65536, False), (-1, False), (100, True), (1000, True), (65535, True)],
)
def test_validate_port(port: int, valid: bool) -> None:
    assert (validate_port(port) is None) == valid


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("", False),
        ("simple", True),
        ("full", True),
        ("toolong" * 15, False),
        ("Upper", True),
        ("a_b", False),
    ],
)
def test_validate_port_name(name: str, valid: bool) -> None:
    assert (validate_port_name(name) is None) == valid


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("http", "HTTP"),
        ("HTTP2", "HTTP2"),
        ("grpc-web", "GRPC-Web"),
        ("Mongo", "Mongo"),
        ("kafka", "UnsupportedProtocol"),
        ("", "UnsupportedProtocol"),
    ],
)
def test_parse_protocol(name: str, canonical: str) -> None:
    assert parse_protocol(name) == canonical


def test_validate_protocol_allows_sniffing() -> None:
    assert validate_protocol("") is None
    assert validate_protocol(None) is None
    assert validate_protocol("kafka") == "unsupported protocol: kafka"


@pytest.mark.parametrize(
    ("seconds", "problem"),
    [
        (1.0, None),
        (1.0 - 1e-9, "only durations to ms precision are supported"),  # 1s - 1ns
        (1e-9, "duration must be greater than 1ms"),
        (1.000000001, "only durations to ms precision are supported"),
        (0.001, None),
        (0.0, "duration must be greater than 1ms"),
    ],
)
def test_validate_duration(seconds: float, problem: str | None) -> None:
    assert validate_duration(seconds) == problem


@pytest.mark.parametrize(("value", "valid"), [(0, True), (100, True), (101, False), (-1, False)])
def test_validate_percent(value: int, valid: bool) -> None:
    assert (validate_percent(value) is None) == valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [(0.0, True), (0.0001, True), (0.00009, False), (100.0, True), (100.5, False)],
)
def test_validate_percentage(value: float, valid: bool) -> None:
    assert (validate_percentage(value) is None) == valid


def test_go_float_prints_as_go_does() -> None:
    assert [go_float(v) for v in (150.0, 0.5, 1e-05)] == ["150", "0.5", "1e-05"]


@pytest.mark.parametrize(
    ("labels", "problems"),
    [
        ({"app": "reviews", "example.com/tier": "a_b.c-d"}, []),
        ({"a b": "x"}, ['invalid tag key: "a b"']),
        ({"app": "has space"}, ['invalid tag value: "has space"']),
        ({"k" * 64: "v"}, [f'invalid tag key: "{"k" * 64}" (name is too long)']),
        ({"app": ""}, []),
    ],
)
def test_validate_labels(labels: dict[str, str], problems: list[str]) -> None:
    assert validate_labels(labels) == problems


def test_istio_dns_labels_admit_upper_case() -> None:
    # pkg/config/labels: unlike Kubernetes, Istio's label check takes upper case.
    assert is_dns1123_label("Henry")
    assert not is_dns1123_label("a.b")
    assert is_wildcard_dns1123_label("*-foo")
    assert not is_wildcard_dns1123_label("f*o")


def test_validate_workload_selector() -> None:
    assert validate_workload_selector({"app": "a"}) == ([], None)
    assert validate_workload_selector({}) == ([], "workload selector specified without labels")
    assert validate_workload_selector({"": "x", "a*": "b"})[0] == [
        'empty key is not supported in selector: "=x"',
        'wildcard is not supported in selector: "a*=b"',
    ]


def test_one_of_names_the_yaml_keys() -> None:
    both = LoadBalancerSettings.model_validate(
        {"simple": "RANDOM", "consistentHash": {"useSourceIp": True}}
    )
    assert one_of_problem(both, ("simple", "consistent_hash")) == (
        "only one of simple, consistentHash may be set (got simple and consistentHash)"
    )
    assert one_of_problem(LoadBalancerSettings(), ("simple", "consistent_hash")) is None
