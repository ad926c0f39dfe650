"""An application's Services and Deployments become the case's echo services, or named errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_meshgate._cases.loader import load_case_file

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "cases" / "manifests" / "istio-samples"

CASE = """apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {{name: app}}
spec:
  resources:
  - include: {include}
  checks:
  - name: root
    request: {{url: "http://a.example.com/"}}
"""


def load(write: Callable[[str, str], Path], manifests: str, include: str = "app.yaml") -> object:
    write("app.yaml", manifests)
    return load_case_file(write("case.yaml", CASE.format(include=include)))


def test_istios_samples_become_echo_services_unchanged() -> None:
    loaded = load_case_file(ROOT / "cases" / "istio-samples.yaml", root=ROOT)
    assert loaded.invalid == []
    services = {c.name: {s.name: s for s in c.case.spec.services} for c in loaded.cases}
    hello = services["helloworld-versions"]["helloworld"]
    assert (hello.versions, hello.replicas, hello.account) == (["v1", "v2"], 1, "default")
    assert [(p.name, p.port, p.target_port, p.protocol) for p in hello.ports] == [
        ("http", 5000, 5000, "HTTP")
    ]
    httpbin = services["httpbin-status"]["httpbin"]
    assert [(p.port, p.target_port) for p in httpbin.ports] == [(8000, 80)]
    assert httpbin.account == "httpbin"
    bookinfo = services["bookinfo-ingress"]
    assert sorted(bookinfo) == ["details", "productpage", "ratings", "reviews"]
    assert bookinfo["reviews"].versions == ["v1", "v2", "v3"]
    assert bookinfo["reviews"].account == "bookinfo-reviews"


SERVICE = """apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  ports: [{ports}]
  selector: {{app: web}}
"""

DEPLOYMENT = """---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web-{version}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web, version: {version}}}}}
  template:
    metadata: {{labels: {{app: web, version: {version}, tier: front}}}}
    spec:
      {pod}
      containers:
      - name: web
        image: example/web:1
        livenessProbe: {{httpGet: {{path: /, port: 8080}}}}
        ports: [{{name: web-port, containerPort: 8080}}]
"""


def deployment(version: str = "v1", replicas: int = 1, pod: str = "serviceAccountName: web") -> str:
    return DEPLOYMENT.format(version=version, replicas=replicas, pod=pod)


def test_a_named_target_port_resolves_and_app_protocol_wins(
    write: Callable[[str, str], Path],
) -> None:
    ports = "{name: web, port: 80, targetPort: web-port, appProtocol: kubernetes.io/h2c}"
    loaded = load(write, SERVICE.format(ports=ports) + deployment("v1", 2) + deployment("v2", 2))
    (case,) = loaded.cases  # type: ignore[attr-defined]
    (service,) = case.case.spec.services
    (port,) = service.ports
    assert (port.port, port.target_port, port.protocol) == (80, 8080, "HTTP2")
    assert (service.versions, service.replicas, service.labels) == (
        ["v1", "v2"],
        2,
        {"tier": "front"},
    )
    assert service.account == "web"


@pytest.mark.parametrize(
    ("manifests", "key_path", "message"),
    [
        (
            SERVICE.format(ports="{name: http, port: 80, targetPort: nope}") + deployment(),
            "spec.ports[0].targetPort",
            "Service default/web: targetPort 'nope': Deployment default/web-v1 has no container port of that name",
        ),
        (
            SERVICE.format(ports="{port: 80}") + deployment(),
            "spec.ports[0]",
            "Service default/web: port 80 has no name or appProtocol",
        ),
        (
            SERVICE.format(ports="{name: http, port: 80}")
            + deployment("v1", 1)
            + deployment("v2", 3),
            "spec.selector",
            "Service default/web: its Deployments differ in replica counts",
        ),
        (
            SERVICE.format(ports="{name: http, port: 80}") + deployment(pod="hostNetwork: true"),
            "spec.template.spec",
            "hostNetwork cannot be honoured",
        ),
        (
            SERVICE.format(ports="{name: http, port: 80}")
            + deployment(pod="initContainers: [{name: i, image: busybox}]"),
            "spec.template.spec",
            "initContainers cannot be honoured",
        ),
        (
            SERVICE.format(ports="{name: http, port: 80}").replace("app: web}", "app: other}")
            + deployment(),
            "spec.template.metadata.labels",
            "Deployment default/web-v1: no Service of the case selects its pods",
        ),
        (
            SERVICE.format(ports="{name: http, port: 80}")
            + deployment().replace("image:", "imagex:"),
            "spec.template.spec.containers[0].imagex",
            "unknown key (did you mean 'image'?)",
        ),
        (
            SERVICE.format(ports="{name: http, port: 80}")
            + "---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: s}\n",
            "kind",
            "DaemonSet cannot be honoured",
        ),
    ],
)
def test_what_the_echo_cannot_stand_in_for_is_an_error_naming_it(
    write: Callable[[str, str], Path], manifests: str, key_path: str, message: str
) -> None:
    loaded = load(write, manifests)
    assert loaded.cases == []  # type: ignore[attr-defined]
    (invalid,) = loaded.invalid  # type: ignore[attr-defined]
    found = [
        (
            p.key_path.split("].", 1)[-1]
            if p.key_path.startswith("spec.resources[")
            else p.key_path,
            p.message,
        )
        for p in invalid.error.problems
    ]
    assert any(k == key_path and message in m for k, m in found), found
    assert all(p.path.name == "app.yaml" for p in invalid.error.problems)


def test_a_service_both_declared_and_a_manifest_is_an_error(
    write: Callable[[str, str], Path],
) -> None:
    write("app.yaml", SERVICE.format(ports="{name: http, port: 80}") + deployment())
    text = CASE.format(include="app.yaml").replace(
        "spec:\n", "spec:\n  services: [{name: web, ports: [{name: http, port: 80}]}]\n", 1
    )
    (invalid,) = load_case_file(write("case.yaml", text)).invalid
    (problem,) = invalid.error.problems
    assert problem.key_path == "spec.services[0].name"
    assert "also a Service manifest" in problem.message


HEADLESS = """apiVersion: v1
kind: Service
metadata: {{name: db}}
spec:
  clusterIP: None
  ports: [{{name: tcp, port: 5432}}]
  selector: {{app: db}}
---
apiVersion: apps/v1
kind: {kind}
metadata: {{name: {name}}}
spec:
  {extra}
  replicas: 3
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      containers: [{{name: db, image: postgres:16, ports: [{{containerPort: 5432}}]}}]
  volumeClaimTemplates: [{{metadata: {{name: data}}, spec: {{accessModes: [ReadWriteOnce]}}}}]
"""


def test_a_headless_service_over_a_statefulset_is_a_headless_echo_service(
    write: Callable[[str, str], Path],
) -> None:
    manifests = HEADLESS.format(kind="StatefulSet", name="db", extra="serviceName: db")
    loaded = load(write, manifests)
    assert loaded.invalid == []  # type: ignore[attr-defined]
    (case,) = loaded.cases  # type: ignore[attr-defined]
    (service,) = case.case.spec.services
    assert (service.name, service.headless, service.replicas) == ("db", True, 3)


def test_an_externalname_service_is_an_alias_echo_service(
    write: Callable[[str, str], Path],
) -> None:
    manifests = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\n"
        "spec: {type: ExternalName, externalName: httpbin.org.}\n"
    )
    loaded = load(write, manifests)
    assert loaded.invalid == []  # type: ignore[attr-defined]
    (service,) = loaded.cases[0].case.spec.services  # type: ignore[attr-defined]
    assert (service.external_name, service.ports, service.runs_pods) == ("httpbin.org", [], False)


@pytest.mark.parametrize(
    ("manifests", "key_path", "message"),
    [
        (
            HEADLESS.format(kind="Deployment", name="db", extra="")
            .replace("  volumeClaimTemplates:", "  paused:")
            .replace(
                "paused: [{metadata: {name: data}, spec: {accessModes: [ReadWriteOnce]}}]",
                "paused: false",
            ),
            "kind",
            "have no DNS names of their own unless a StatefulSet runs them",
        ),
        (
            HEADLESS.format(kind="StatefulSet", name="db", extra="serviceName: other"),
            "spec.serviceName",
            "serviceName must be the headless Service 'db'",
        ),
        (
            HEADLESS.format(kind="StatefulSet", name="postgres", extra="serviceName: db"),
            "metadata.name",
            "name it 'db'",
        ),
        (
            HEADLESS.format(kind="StatefulSet", name="db", extra="ordinals: {start: 5}"),
            "spec",
            "ordinals cannot be honoured",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\nspec: {type: ExternalName}\n",
            "spec",
            "externalName: Required value",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\n"
            "spec: {type: ExternalName, externalName: a.example.com, clusterIP: 10.0.0.1}\n",
            "spec",
            "may not be set for ExternalName",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\n"
            "spec: {type: ExternalName, externalName: Not_A_Host}\n",
            "spec",
            "DNS-1123 subdomain",
        ),
        (
            HEADLESS.format(kind="StatefulSet", name="db", extra="serviceName: db").replace(
                "clusterIP: None", "clusterIP: None\n  type: NodePort"
            ),
            "spec",
            "may not be 'None' for NodePort",
        ),
    ],
)
def test_what_kubernetes_refuses_or_the_echo_cannot_name_is_located(
    write: Callable[[str, str], Path], manifests: str, key_path: str, message: str
) -> None:
    loaded = load(write, manifests)
    assert loaded.cases == []  # type: ignore[attr-defined]
    (invalid,) = loaded.invalid  # type: ignore[attr-defined]
    found = [
        (p.key_path.split("].", 1)[-1] if p.key_path.startswith("spec.resources[") else p.key_path,
         p.message)
        for p in invalid.error.problems
    ]  # fmt: skip
    assert any(k == key_path and message in m for k, m in found), found
