"""ListenerSet manifests and Gateway allowedListeners: the CRD's rules, as located errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from pytest_meshgate._cases.loader import load_case_file
from pytest_meshgate._cases.model.gatewayapi import KubernetesListenerSet
from pytest_meshgate._cases.model.resources import parse_resource

Write = Callable[[str, str], Path]

CASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: ls}
spec:
  resources:
  - apiVersion: gateway.networking.k8s.io/v1
    kind: ListenerSet
    metadata: {name: team, namespace: apps}
    spec:
      parentRef: {name: edge, namespace: infra}
      listeners: LISTENERS
  checks:
  - name: status only
    expect:
      conditions: [{resource: ListenerSet/apps/team, type: Accepted}]
"""


def headlines(path: Path) -> list[str]:
    return [p.headline() for d in load_case_file(path).invalid for p in d.error.problems]


def test_listener_entries_keep_their_ports() -> None:
    text = CASE.replace(
        "LISTENERS",
        "[{name: a, port: 80, protocol: HTTP}, {name: b, port: 8443, protocol: HTTPS, tls: "
        "{certificateRefs: [{name: c}]}}, {name: c, protocol: TCP, port: 9000}]",
    )
    (resource,) = [parse_resource(d) for d in yaml.safe_load(text)["spec"]["resources"]]
    assert isinstance(resource, KubernetesListenerSet)
    assert resource.parent_key() == "infra/edge"
    assert [e.as_listener().port for e in resource.spec.listeners] == [80, 8443, 9000]


@pytest.mark.parametrize(
    ("listeners", "message"),
    [
        ("[]", "at least 1 item"),
        ("[{name: a, protocol: HTTP}]", "missing required key 'port'"),
        (
            "[{name: a, port: 80, protocol: HTTP}, {name: a, port: 81, protocol: HTTP}]",
            "Listener name must be unique within the Gateway",
        ),
        (
            "[{name: a, port: 80, protocol: HTTP}, {name: b, port: 80, protocol: HTTP}]",
            "Combination of port, protocol and hostname must be unique",
        ),
        (
            "[{name: a, port: 80, protocol: TLS}]",
            "tls mode must be set for protocol TLS",
        ),
        (
            "[{name: a, port: 80, protocol: TCP, hostname: a.example.com}]",
            "hostname must not be specified for protocols ['TCP', 'UDP']",
        ),
    ],
)
def test_what_the_api_server_would_refuse_is_located(
    write: Write, listeners: str, message: str
) -> None:
    path = write("c.yaml", CASE.replace("LISTENERS", listeners))
    problems = headlines(path)
    assert any(p.startswith(f"{path}:11:") and message in p for p in problems), problems
