"""Headless, ExternalName and selector Services on the local target, with real Envoys and echoes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_meshgate._cases.loader import LoadedCase, load_case_file
from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._targets.local import LocalTarget

CASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: kinds}
spec:
  services:
  - name: db
    headless: true
    replicas: 3
    ports: [{name: http, port: 8080}]
  - name: web
    ports: [{name: http, port: 80, targetPort: 8080}, {name: http-admin, port: 9000}]
  - name: web-admin
    selector: {app: web}
    ports: [{name: http, port: 80, targetPort: 9000}]
  - name: loop-a
    externalName: loop-b.default.svc.cluster.local
  - name: loop-b
    externalName: loop-a.default.svc.cluster.local
  - name: web-alias
    externalName: web.default.svc.cluster.local
  clients: [{name: sleep}]
  checks:
  - name: any
    request: {from: sleep, url: "http://db:8080/"}
"""


@pytest.fixture
def target() -> Iterator[LocalTarget]:
    local = LocalTarget()
    try:
        yield local
    finally:
        local.close()


def load(tmp_path: Path) -> LoadedCase:
    path = tmp_path / "kinds.yaml"
    path.write_text(CASE)
    result = load_case_file(path)
    assert not result.invalid, result.invalid[0].error.render()
    return result.cases[0]


def send(deployment: Any, url: str) -> Any:
    return deployment.send(Request.model_validate({"from": "sleep", "url": url}))


def test_each_headless_pod_has_its_own_ip_and_name(target: LocalTarget, tmp_path: Path) -> None:
    deployment = target.activate(load(tmp_path))
    seen: dict[str, str] = {}
    for pod in ("db-0", "db-1", "db-2"):
        exchange = send(deployment, f"http://{pod}.db.default.svc.cluster.local:8080/")
        echo = exchange.response.echo
        assert (echo["pod"], echo["httpPort"]) == (pod, "8080")
        assert exchange.extra["via"] == "sleep"
        # The client dialed the pod's own IP: the sidecar's original destination.
        seen[pod] = exchange.request.original_destination[0]
    assert len(set(seen.values())) == 3
    assert all(ip.startswith("127.97.") for ip in seen.values())
    # The service's name: one pod per lookup, spread over all of them.
    pods = Counter(send(deployment, "http://db:8080/").response.echo["pod"] for _ in range(30))
    assert set(pods) == {"db-0", "db-1", "db-2"}


def test_a_selector_service_reaches_another_services_pods_on_its_target_port(
    target: LocalTarget, tmp_path: Path
) -> None:
    deployment = target.activate(load(tmp_path))
    echo = send(deployment, "http://web-admin/").response.echo
    assert (echo["service"], echo["httpPort"], echo["host"]) == ("web", "9000", "web-admin")
    assert send(deployment, "http://web/").response.echo["httpPort"] == "8080"


def test_externalname_follows_the_cname_and_a_loop_does_not_resolve(
    target: LocalTarget, tmp_path: Path
) -> None:
    deployment = target.activate(load(tmp_path))
    assert send(deployment, "http://web-alias/").response.echo["service"] == "web"
    looped = send(deployment, "http://loop-a/")
    assert looped.connection == "error" and "no such host" in looped.error
