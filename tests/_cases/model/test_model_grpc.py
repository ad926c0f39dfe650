"""The gRPC keys of checks: request.grpc and expect.grpc, in the model and in case files."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from pytest_meshgate._cases.model.case import Check
from pytest_meshgate._cases.model.expect import Expect
from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._grpcwire import ECHO_SERVICE

pytest_plugins = ["pytester"]


def grpc_request(**keys: Any) -> Request:
    return Request.model_validate({"url": "http://grpc.example.com", **keys})


def test_a_call_defaults_to_the_echo_service() -> None:
    request = grpc_request(grpc={"method": "EchoTwo", "metadata": {"Version": "two"}})
    assert request.grpc is not None
    assert request.grpc.path == f"/{ECHO_SERVICE}/EchoTwo"
    assert request.grpc.metadata == {"version": "two"}  # metadata.New lower-cases keys
    other = grpc_request(grpc={"service": "helloworld.Greeter", "method": "SayHello"})
    assert other.grpc is not None and other.grpc.path == "/helloworld.Greeter/SayHello"


@pytest.mark.parametrize(
    ("grpc", "message"),
    [
        ({}, "method"),
        ({"method": "a/b"}, "should match pattern"),
        ({"method": "Echo", "service": "pkg..Svc"}, "should match pattern"),
        ({"method": "Echo", "metadata": {"x y": "1"}}, "digits, letters"),
        ({"method": "Echo", "metadata": {"grpc-timeout": "1S"}}, "reserved for gRPC"),
        ({"method": "Echo", "metadata": {"x-bin": "AA=="}}, "binary (-bin) metadata"),
        ({"method": "Echo", "metadata": {"A": "1", "a": "2"}}, "given twice"),
    ],
)
def test_bad_calls_are_refused(grpc: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        grpc_request(grpc=grpc)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"method": "POST"}, "drop method"),
        ({"body": "x"}, "drop body"),
        ({"headers": {"a": "b"}}, "use grpc.metadata"),
        ({"http2": True}, "always HTTP/2"),
        ({"url": "http://grpc.example.com/pkg.Svc/Echo"}, "the path is /<service>/<method>"),
        ({"url": "http://grpc.example.com/?a=1"}, "scheme, host and port only"),
    ],
)
def test_a_call_leaves_path_method_body_and_protocol_to_grpc(
    keys: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        grpc_request(grpc={"method": "Echo"}, **keys)


def test_expected_statuses_by_name_or_number() -> None:
    assert Expect.model_validate({"grpc": {}}).grpc.statuses == (0,)  # type: ignore[union-attr]
    many = Expect.model_validate({"grpc": {"status": ["UNIMPLEMENTED", 14]}})
    assert many.grpc is not None and many.grpc.statuses == (12, 14)
    for bad, message in (("unimplemented", "upper case"), ("NOPE", "unknown gRPC"), (17, "0-16")):
        with pytest.raises(ValidationError, match=message):
            Expect.model_validate({"grpc": {"status": bad}})
    with pytest.raises(ValidationError, match="not a gRPC status"):
        Expect.model_validate({"grpc": {"status": True}})
    assert Expect.model_validate({"counts": {"grpc/UNAVAILABLE": {"atLeast": 1}}}).counts
    with pytest.raises(ValidationError, match="grpc/<STATUS>"):
        Expect.model_validate({"counts": {"grpc/NOPE": {"atLeast": 1}}})


def test_grpc_expectations_need_a_grpc_call() -> None:
    with pytest.raises(ValidationError, match=re.escape("expect.grpc needs request.grpc")):
        Check.model_validate(
            {"name": "x", "request": {"url": "http://a/"}, "expect": {"grpc": {"status": "OK"}}}
        )
    with pytest.raises(ValidationError, match="follows no redirect"):
        Check.model_validate(
            {
                "name": "x",
                "request": {"url": "http://a", "grpc": {"method": "Echo"}},
                "expect": {"redirect": {"scheme": "https"}},
            }
        )
    with pytest.raises(ValidationError, match="drop grpc or connection"):
        Expect.model_validate({"connection": "refused", "grpc": {}})


BAD_GRPC = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: bad-grpc}
spec:
  checks:
  - name: misspelt
    request: {url: "http://a.example.com", grpc: {methd: Echo}}
  - name: lower-case status
    request: {url: "http://a.example.com", grpc: {method: Echo}}
    expect: {grpc: {status: unimplemented}}
"""


def test_bad_grpc_keys_are_located_in_the_case_file(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", bad=BAD_GRPC)
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only")
    result.stdout.fnmatch_lines(
        [
            "bad.yaml:7:50: spec.checks[0].request.grpc: missing required key 'method'",
            "bad.yaml:7:51: spec.checks[0].request.grpc.methd: unknown key (did you mean "
            "'method'?)",
            "bad.yaml:10:29: spec.checks[1].expect.grpc.status: gRPC status names are upper "
            "case: 'UNIMPLEMENTED'",
        ]
    )
    assert "Traceback" not in result.stdout.str()
