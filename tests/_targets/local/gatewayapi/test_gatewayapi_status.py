"""The status Istio's controller would write: listener conflicts, Gateway and route conditions."""

from __future__ import annotations

import yaml

from pytest_meshgate._cases.model.resources import parse_resource
from pytest_meshgate._exchange.status import ObjectStatus
from pytest_meshgate._targets.local.gatewayapi import ConversionInputs, convert
from pytest_meshgate._targets.local.gatewayapi.listeners import human_join

LISTENERS = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: istio
  listeners:
  - {name: a, port: 80, protocol: HTTP, hostname: a.example.com}
  - {name: b, port: 80, protocol: HTTP, hostname: b.example.com}
  - {name: same-host, port: 80, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: c}]}}
  - {name: tcp-on-80, port: 80, protocol: TCP}
  - {name: tcp, port: 9000, protocol: TCP}
"""


def statuses(text: str) -> list[ObjectStatus]:
    resources = tuple(parse_resource(d) for d in yaml.safe_load_all(text) if d)
    return convert(ConversionInputs(resources, (), {})).status


def conditions(status: ObjectStatus) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in status.conditions}


def test_conflicting_listeners_are_neither_accepted_nor_programmed() -> None:
    found = statuses(LISTENERS)
    listener = {s.listener: conditions(s) for s in found if s.listener is not None}
    assert listener["a"]["Conflicted"][:2] == ("False", "NoConflicts")
    assert listener["b"]["Accepted"][:2] == ("True", "Accepted")
    assert listener["same-host"]["Conflicted"][:2] == ("True", "ProtocolConflict")
    assert listener["same-host"]["Accepted"][0] == "False"
    assert listener["same-host"]["Programmed"][0] == "False"
    assert listener["tcp-on-80"]["Conflicted"][:2] == ("True", "ProtocolConflict")
    assert listener["tcp"]["Programmed"][:2] == ("True", "Programmed")
    (gateway,) = [s for s in found if s.resource == "Gateway/infra/gw" and s.listener is None]
    gateway_conditions = conditions(gateway)
    # Some listeners invalid: still accepted, with the reason saying so.
    assert gateway_conditions["Accepted"] == (
        "True",
        "ListenersNotValid",
        "One or more of the Gateway's listeners are invalid",
    )
    # Conflicting listeners get no server, so their port is not assigned twice.
    assert gateway_conditions["Programmed"][2] == (
        "Resource programmed, assigned to service(s) gw-istio.infra.svc.cluster.local:80 and "
        "gw-istio.infra.svc.cluster.local:9000"
    )


def test_human_join_as_istio_writes_lists() -> None:
    assert [human_join(x) for x in ([], ["a"], ["a", "b"], ["a", "b", "c"])] == [
        "",
        "a",
        "a and b",
        "a, b, and c",
    ]


TWO_GATEWAYS = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: istio
  listeners:
  - {name: a, port: 80, protocol: HTTP, hostname: a.example.com}
  - {name: b, port: 81, protocol: HTTP, hostname: b.example.com}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: own, namespace: other}
spec:
  gatewayClassName: istio
  listeners:
  - {name: mine, port: 82, protocol: HTTP, allowedRoutes: {namespaces: {from: Same}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: third, namespace: infra}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 83, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw, namespace: infra}, {name: own, namespace: other}, {name: absent, namespace: infra}, {name: third, sectionName: nope}]
  hostnames: [a.example.com, b.example.com]
  rules: [{backendRefs: [{name: svc, port: 8080}]}]
"""


def test_each_parent_ref_reports_its_best_listener() -> None:
    found = {
        s.parent: conditions(s) for s in statuses(TWO_GATEWAYS) if s.resource == "HTTPRoute/infra/r"
    }
    # Two listeners accept the route through the bare parentRef.
    assert found["infra/gw"]["Accepted"] == (
        "True",
        "Accepted",
        "Route was valid, bound to 2 parents",
    )
    # The backend Service does not exist: the route is accepted, its refs are not resolved.
    assert found["infra/gw"]["ResolvedRefs"][:2] == ("False", "BackendNotFound")
    assert found["other/own"]["Accepted"][:2] == ("False", "NotAllowedByListeners")
    assert found["infra/third/nope"]["Accepted"][:2] == ("False", "NoMatchingParent")
    # A Gateway that does not exist (or is not Istio's) gets no status from Istio.
    assert "infra/absent" not in found
