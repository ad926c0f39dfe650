"""Header rules: Istio's tables (validation_test.go TestValidateHTTPHeaderName,
TestValidateHTTPHeaderValue) and the operation-name rules."""

from __future__ import annotations

import pytest

from pytest_meshgate._cases.validation.headers import (
    validate_cors_header_name,
    validate_header_name,
    validate_header_operation_name,
    validate_header_value,
    validate_request_header_operation_name,
)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("header1", True),
        ("X-Requested-With", True),
        (":authority", True),
        ("funky!$#_", True),
        ("", False),
        ("::", False),
        ('illegal"char', False),
        ("with space", False),
        ("@request.auth.claims.group", True),
        ("@request.auth.claims[a][b]", True),
        ("@request.auth.claims", False),
    ],
)
def test_validate_http_header_name(name: str, valid: bool) -> None:
    assert (validate_header_name(name) is None) == valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("foo", True),
        ("%HOSTNAME%", True),
        ("100%%", True),
        ("prefix %HOSTNAME% suffix", True),
        ("%DOWNSTREAM_PEER_CERT_V_END(%b %d %H:%M:%S %Y %Z)%", True),
        ("%DYNAMIC_METADATA(com.test.my_filter)%", True),
        ('%DYNAMIC_METADATA(["a", "b"])%', True),
        ("%START_TIME%%", False),
        ("abc%123", False),
        ("tab\tok", True),
        ("new\nline", False),
        ('%DYNAMIC_METADATA(["a" x])%', False),
    ],
)
def test_validate_http_header_value(value: str, valid: bool) -> None:
    assert (validate_header_value(value) is None) == valid


def test_header_value_messages_are_istios() -> None:
    assert validate_header_value("abc%") == (
        "header value configuration: invalid header configuration. Un-escaped %"
    )
    assert validate_header_value("a\x01b") == "header value configuration a\x01b is invalid"


@pytest.mark.parametrize(
    ("name", "request_set", "other"),
    [
        ("x-a", None, None),
        ("Host", None, 'invalid header "Host": cannot set Host header'),
        (":authority", None, 'invalid header ":authority": header cannot have ":" prefix'),
        (
            ":path",
            'invalid header ":path": header cannot have ":" prefix',
            'invalid header ":path": header cannot have ":" prefix',
        ),
        ("", "header name cannot be empty", "header name cannot be empty"),
    ],
)
def test_header_operation_names(name: str, request_set: str | None, other: str | None) -> None:
    # Requests may set their authority (Host); responses and removals may not touch it.
    assert validate_request_header_operation_name(name) == request_set
    assert validate_header_operation_name(name) == other


@pytest.mark.parametrize(
    ("name", "valid"), [("*", True), ("x-custom", True), ("", False), ("a b", False)]
)
def test_cors_header_names(name: str, valid: bool) -> None:
    assert (validate_cors_header_name(name) is None) == valid
