"""Loading cases with Gateway API resources: located errors, did-you-mean, gateway references."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytest_meshgate._cases.loader import load_case_file
from pytest_meshgate._cases.model.gatewayapi import KubernetesGateway, KubernetesHTTPRoute
from pytest_meshgate._cases.model.istio import Gateway

Write = Callable[[str, str], Path]

CASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: gwapi}
spec:
  resources:
  - apiVersion: gateway.networking.k8s.io/v1
    kind: Gateway
    metadata: {name: gw, namespace: infra}
    spec:
      gatewayClassName: istio
      listeners:
      - {name: http, port: 80, protocol: HTTP}
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: istio-gw}
    spec:
      servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
  - apiVersion: gateway.networking.k8s.io/v1
    kind: HTTPRoute
    metadata: {name: route, namespace: infra}
    spec:
      parentRefs: [{name: gw}]
      hostnames: [HOSTNAME]
  checks:
  - name: through the gateway
    request: {gateway: GATEWAY, url: "http://a.example.com/"}
"""


def headlines(path: Path) -> list[str]:
    return [p.headline() for d in load_case_file(path).invalid for p in d.error.problems]


def test_both_gateway_kinds_load_side_by_side(write: Write) -> None:
    path = write("c.yaml", CASE.replace("HOSTNAME", "a.example.com").replace("GATEWAY", "infra/gw"))
    (loaded,) = load_case_file(path).cases
    kinds = [type(r) for r in loaded.resources]
    assert kinds == [KubernetesGateway, Gateway, KubernetesHTTPRoute]


def test_a_hostname_with_a_port_is_reported_at_its_line(write: Write) -> None:
    path = write(
        "c.yaml", CASE.replace("HOSTNAME", "a.example.com:80").replace("GATEWAY", "infra/gw")
    )
    (line,) = headlines(path)
    assert line.startswith(f"{path}:23:19: spec.resources[2].spec.hostnames[0]: invalid hostname")
    assert line.endswith("(a hostname has no port)")


def test_misspelt_gateway_api_keys_get_a_suggestion(write: Write) -> None:
    text = CASE.replace("HOSTNAME", "a.example.com").replace("GATEWAY", "infra/gw")
    path = write("c.yaml", text.replace("parentRefs:", "parentRef:"))
    (line,) = headlines(path)
    assert "spec.resources[2].spec.parentRef: unknown key (did you mean 'parentRefs'?)" in line


def test_request_gateway_names_a_gateway_api_gateway(write: Write) -> None:
    path = write(
        "c.yaml", CASE.replace("HOSTNAME", "a.example.com").replace("GATEWAY", "infra/nope")
    )
    (line,) = headlines(path)
    assert line == (
        f"{path}:26:24: spec.checks[0].request.gateway: unknown Gateway 'infra/nope' "
        "(Gateway API Gateways: infra/gw)"
    )
    path = write("d.yaml", CASE.replace("HOSTNAME", "a.example.com").replace("GATEWAY", "nope"))
    assert "unknown gateway 'nope'" in headlines(path)[0]


def test_an_unserved_version_is_reported_at_the_kind(write: Write) -> None:
    text = CASE.replace("HOSTNAME", "a.example.com").replace("GATEWAY", "infra/gw")
    path = write(
        "c.yaml",
        text.replace(
            "gateway.networking.k8s.io/v1\n    kind: HTTPRoute",
            "gateway.networking.k8s.io/v1alpha2\n    kind: HTTPRoute",
        ),
    )
    (line,) = headlines(path)
    assert ":19:11: spec.resources[2].kind: HTTPRoute is not served as apiVersion" in line


CLUSTER_SCOPED = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: cluster-scoped}
spec:
  resources:
  - apiVersion: v1
    kind: Namespace
    metadata: {name: infra, labels: {team: LABEL}}
  - apiVersion: gateway.networking.k8s.io/v1
    kind: GatewayClass
    metadata: {name: mine}
    spec: {controllerName: istio.io/gateway-controller}
  - apiVersion: gateway.networking.k8s.io/v1
    kind: Gateway
    metadata: {name: gw, namespace: infra}
    spec:
      gatewayClassName: mine
      listeners:
      - {name: http, port: 80, protocol: HTTP}
  checks:
  - name: through the gateway
    request: {gateway: infra/gw, url: "http://a.example.com/"}
"""


def test_cluster_scoped_objects_load_validate_and_analyze_without_a_namespace(
    write: Write,
) -> None:
    from pytest_meshgate._cases.analysis import analyze

    (loaded,) = load_case_file(write("c.yaml", CLUSTER_SCOPED.replace("LABEL", "a"))).cases
    namespace, gateway_class, _ = loaded.resources
    assert (namespace.namespace, gateway_class.namespace) == ("", "")
    # istioctl's analyzers read Istio config only: the Gateway API Gateway is not
    # taken for an Istio Gateway with no workload.
    assert analyze(loaded) == []
    # The API server's metadata rules still apply to a cluster-scoped object.
    (line,) = headlines(write("d.yaml", CLUSTER_SCOPED.replace("LABEL", "not ok!")))
    assert "spec.resources[0].metadata.labels" in line and "not ok!" in line


def test_expected_conditions_name_resources_of_the_case(write: Write) -> None:
    text = CASE.replace("HOSTNAME", "a.example.com").replace("GATEWAY", "infra/gw")
    status_check = """  - name: status
    expect:
      conditions:
      - {resource: HTTPRoute/infra/route, parent: infra/gw, type: Accepted, status: "True"}
      - {resource: GatewayClass/istio, type: Accepted}
      - {resource: HTTPRoute/default/route, type: Accepted}
"""
    path = write("c.yaml", text + status_check)
    (line,) = headlines(path)
    assert line.startswith(
        f"{path}:32:20: spec.checks[1].expect.conditions[2].resource: unknown resource "
        "'HTTPRoute/default/route' (Gateway API resources of the case: Gateway/infra/gw, "
        "GatewayClass/istio, HTTPRoute/infra/route)"
    )
    fixed = write(
        "d.yaml", text + status_check.replace("HTTPRoute/default/route", "Gateway/infra/gw")
    )
    (loaded,) = load_case_file(fixed).cases
    assert loaded.case.spec.checks[1].request is None
