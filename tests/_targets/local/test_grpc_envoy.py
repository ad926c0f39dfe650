"""gRPC checks end to end on the local target: through a real Envoy, as pytest runs them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_meshgate._cases.loader import load_case_file
from pytest_meshgate._cases.model.expect import BackendRef
from pytest_meshgate._grpcwire import ECHO_SERVICE
from pytest_meshgate._judge.expectations import exchange_labels, judge
from pytest_meshgate._targets.base import required_capabilities
from pytest_meshgate._targets.local import LocalTarget

pytest_plugins = ["pytester"]

CASE = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: grpc-basics}
spec:
  services:
  - name: grpc-echo
    ports: [{name: grpc, port: 8080}]
    versions: [v1, v2]
  - name: copy
    ports: [{name: grpc, port: 8080}]
  clients:
  - name: sleep
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: gw}
    spec:
      selector: {istio: ingressgateway}
      servers:
      - port: {number: 80, name: grpc, protocol: GRPC}
        hosts: [grpc.example.com]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: vs}
    spec:
      hosts: [grpc.example.com, grpc-echo]
      gateways: [gw, mesh]
      http:
      - match: [{uri: {prefix: /gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/}}]
        route:
        - {destination: {host: grpc-echo, subset: v1}, weight: 50}
        - {destination: {host: grpc-echo, subset: v2}, weight: 50}
        mirror: {host: copy}
  - apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: dr}
    spec:
      host: grpc-echo
      subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
  checks:
  - name: Echo is routed
    request: {url: "http://grpc.example.com", grpc: {method: Echo, metadata: {x-case: one}}}
    expect: {backend: grpc-echo, request: {headers: {x-case: one}}}
  - name: EchoThree is unimplemented by the echo
    request: {url: "http://grpc.example.com", grpc: {method: EchoThree}}
    expect: {grpc: {status: UNIMPLEMENTED, message: method EchoThree not implemented}}
  - name: no route is Envoy's UNIMPLEMENTED
    request: {url: "http://grpc.example.com", grpc: {service: other.Svc, method: Call}}
    expect: {grpc: {status: UNIMPLEMENTED, message: ""}}
  - name: a sidecar client calls by Service name and port
    request: {from: sleep, url: "http://grpc-echo:8080", grpc: {method: Echo}}
    expect: {backend: grpc-echo, via: sleep, request: {host: "grpc-echo:8080"}}
"""


@pytest.fixture
def target() -> Iterator[LocalTarget]:
    local = LocalTarget()
    try:
        yield local
    finally:
        local.close()


def test_calls_cross_envoy_over_http2_both_ways(target: LocalTarget, tmp_path: Path) -> None:
    path = tmp_path / "grpc.yaml"
    path.write_text(CASE)
    result = load_case_file(path)
    assert not result.invalid, result.invalid[0].error.render()
    loaded = result.cases[0]
    deployment = target.activate(loaded)
    echo_check = loaded.case.spec.checks[0]
    assert required_capabilities(echo_check) == {"grpc"}

    exchange = deployment.send(echo_check.request)
    assert judge(echo_check.expect, exchange) == [], exchange.describe_outcome()
    # Envoy spoke HTTP/2 upstream (a grpc port) and passed the trailers back: the
    # echo logged a gRPC call with its status, and the client read grpc-status 0.
    assert exchange.response is not None and exchange.response.grpc is not None
    assert exchange.response.grpc.trailer("grpc-status") == "0"
    (record,) = [
        r
        for r in target.echo.requests()
        if exchange.request.meshgate_id in r.header("x-meshgate-id")
        and r.identity.service == "grpc-echo"
    ]
    assert (record.path, record.grpc_status) == (f"/{ECHO_SERVICE}/Echo", 0)
    assert record.header("x-forwarded-proto") == ["http"]

    # Mirrored calls arrive at the copy as gRPC calls too.
    copies = deployment.received(BackendRef(service="copy"), [exchange.request.meshgate_id], 3.0)
    assert list(copies) == [exchange.request.meshgate_id]

    # A batch: each call is its own connection, split between the subsets by weight.
    batch = deployment.send_many(echo_check.request, count=24, concurrency=6)
    labels = [exchange_labels(e) for e in batch]
    assert all("grpc/OK" in names for names in labels)
    assert {names[0] for names in labels} == {"grpc-echo/v1", "grpc-echo/v2"}

    # From a sidecar client: the call leaves through its listener for port 8080.
    mesh_check = loaded.case.spec.checks[3]
    from_client = deployment.send(mesh_check.request)
    assert judge(mesh_check.expect, from_client) == [], from_client.describe_outcome()
    assert from_client.request.original_destination is not None  # the PROXY header
    assert from_client.extra.get("via") == "sleep"


def test_grpc_checks_run_and_explain_failures(pytester: pytest.Pytester) -> None:
    wrong = CASE.replace("message: method EchoThree not implemented", "message: nope")
    pytester.makefile(".yaml", grpc=wrong)
    result = pytester.runpytest("-p", "no:cacheprovider", "--meshgate-consistency-timeout=300ms")
    result.assert_outcomes(passed=3, failed=1)
    out = result.stdout.str()
    assert "check 'EchoThree is unimplemented by the echo' of case 'grpc-basics' failed" in out
    assert "grpc.message: expected 'nope', got 'method EchoThree not implemented'" in out
    assert f"gRPC /{ECHO_SERVICE}/EchoThree to http://grpc.example.com" in out
    assert "gRPC status 12 UNIMPLEMENTED: 'method EchoThree not implemented'" in out
    assert "access log of istio-ingressgateway:" in out
