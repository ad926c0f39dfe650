"""BackendTLSPolicy and ConfigMap manifests: the CRD's bounds and CEL rules, as located errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_meshgate._cases.loader import load_case_file
from pytest_meshgate._cases.model.gatewayapi import KubernetesBackendTLSPolicy
from pytest_meshgate._cases.model.kubernetes import KubernetesConfigMap

Write = Callable[[str, str], Path]

CASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: btls}
spec:
  secrets:
  - SECRET
  resources:
  - apiVersion: gateway.networking.k8s.io/VERSION
    kind: BackendTLSPolicy
    metadata: {name: p, namespace: infra}
    spec:
      targetRefs: TARGETS
      validation: VALIDATION
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: cm, namespace: infra}
    data: DATA
  checks:
  - name: status only
    expect:
      conditions: [{resource: BackendTLSPolicy/infra/p, parent: Service/svc, type: Accepted}]
"""

DEFAULTS = {
    "SECRET": "{name: ca, namespace: infra, type: ca, kind: ConfigMap}",
    "VERSION": "v1",
    "TARGETS": '[{group: "", kind: Service, name: svc}]',
    "VALIDATION": '{caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}], hostname: a.example.com}',
    "DATA": "{ca.crt: x}",
}


def case(**changes: str) -> str:
    text = CASE
    for key, value in {**DEFAULTS, **changes}.items():
        text = text.replace(key, value)
    return text


def headlines(path: Path) -> list[str]:
    return [p.headline() for d in load_case_file(path).invalid for p in d.error.problems]


@pytest.mark.parametrize("version", ["v1", "v1alpha3"])
def test_a_valid_policy_and_configmap_load(write: Write, version: str) -> None:
    (loaded,) = load_case_file(write("c.yaml", case(VERSION=version))).cases
    policy, config_map = loaded.resources
    assert isinstance(policy, KubernetesBackendTLSPolicy)
    assert policy.spec.validation.hostname == "a.example.com"
    assert isinstance(config_map, KubernetesConfigMap)
    assert config_map.data == {"ca.crt": "x"}


@pytest.mark.parametrize(
    ("changes", "line", "message"),
    [
        (
            {"VALIDATION": "{hostname: a.example.com}"},
            13,
            "must specify either CACertificateRefs or WellKnownCACertificates",
        ),
        (
            {
                "VALIDATION": '{caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}], '
                "wellKnownCACertificates: System, hostname: a.example.com}"
            },
            13,
            "must not contain both CACertificateRefs and WellKnownCACertificates",
        ),
        (
            {"VALIDATION": "{wellKnownCACertificates: System, hostname: '*.example.com'}"},
            13,
            "no wildcard allowed here",
        ),
        (
            {
                "VALIDATION": "{wellKnownCACertificates: System, hostname: a.example.com, "
                "subjectAltNames: [{type: URI}]}"
            },
            13,
            "SubjectAltName element must contain URI, if Type is set to URI",
        ),
        (
            {
                "TARGETS": '[{group: "", kind: Service, name: svc}, '
                '{group: "", kind: Service, name: svc, sectionName: http}]'
            },
            12,
            "sectionName must be specified when targetRefs includes 2 or more references",
        ),
        (
            {
                "TARGETS": '[{group: "", kind: Service, name: svc, sectionName: http}, '
                '{group: "", kind: Service, name: svc, sectionName: http}]'
            },
            12,
            "sectionName must be unique when targetRefs includes 2 or more references",
        ),
        ({"TARGETS": "[]"}, 12, "at least 1 item"),
        ({"DATA": "{'a/b': x}"}, 17, "invalid ConfigMap key 'a/b'"),
        (
            {
                "SECRET": "{name: ca, namespace: infra, type: server, hosts: [a.example.com], kind: ConfigMap}"
            },
            6,
            "kind: ConfigMap publishes a CA certificate",
        ),
        ({"SECRET": "{name: ca, type: ca, kind: ConfigMap}"}, 6, "needs the namespace"),
    ],
)
def test_what_the_api_server_would_refuse_is_located(
    write: Write, changes: dict[str, str], line: int, message: str
) -> None:
    path = write("c.yaml", case(**changes))
    problems = headlines(path)
    assert any(p.startswith(f"{path}:{line}:") and message in p for p in problems), problems


def test_a_uri_subject_alt_name_must_have_a_scheme_and_authority(write: Write) -> None:
    path = write(
        "c.yaml",
        case(
            VALIDATION="{wellKnownCACertificates: System, hostname: a.example.com, "
            "subjectAltNames: [{type: URI, uri: not-a-uri}]}"
        ),
    )
    (problem,) = headlines(path)
    assert "invalid uri 'not-a-uri'" in problem
