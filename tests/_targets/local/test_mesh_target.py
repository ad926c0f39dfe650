"""Mesh clients on the local target with real Envoys: sidecars, the egress gateway, via."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_meshgate._cases.loader import LoadedCase, load_case_file
from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._judge.expectations import judge
from pytest_meshgate._targets.local import LocalTarget

CASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: NAME}
spec:
  services:
  - name: edition.cnn.com
    external: true
    ports: [{name: http, port: 80}, {name: https, port: 443}]
  - name: a.example.com
    external: true
    ports: [{name: http, port: 80}, {name: https, port: 443}]
  - name: b.example.com
    external: true
    ports: [{name: http, port: 80}]
  clients: [{name: sleep}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Sidecar
    metadata: {name: default, namespace: istio-system}
    spec:
      outboundTrafficPolicy: {mode: POLICY}
  - apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata: {name: cnn}
    spec:
      hosts: [edition.cnn.com]
      ports: [{number: 80, name: http, protocol: HTTP}]
      resolution: DNS
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: egress}
    spec:
      selector: {istio: egressgateway}
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: [edition.cnn.com]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: cnn}
    spec:
      hosts: [edition.cnn.com]
      gateways: [egress, mesh]
      http:
      - match: [{gateways: [mesh]}]
        route: [{destination: {host: istio-egressgateway.istio-system.svc.cluster.local}}]
      - match: [{gateways: [egress]}]
        route: [{destination: {host: edition.cnn.com}}]
  checks:
  - name: through the egress gateway
    request: {from: sleep, url: "http://edition.cnn.com/"}
    expect: {backend: edition.cnn.com, via: egress}
"""


@pytest.fixture
def target() -> Iterator[LocalTarget]:
    local = LocalTarget()
    try:
        yield local
    finally:
        local.close()


def make_case(tmp_path: Path, name: str, policy: str = "ALLOW_ANY") -> LoadedCase:
    path = tmp_path / f"{name}.yaml"
    path.write_text(CASE.replace("NAME", name).replace("POLICY", policy))
    result = load_case_file(path)
    assert not result.invalid, result.invalid[0].error.render()
    return result.cases[0]


def send(deployment: object, url: str, **headers: str) -> object:
    request = Request.model_validate({"from": "sleep", "url": url, "headers": headers})
    return deployment.send(request)  # type: ignore[attr-defined]


def test_egress_path_and_via(target: LocalTarget, tmp_path: Path) -> None:
    loaded = make_case(tmp_path, "egress-path")
    deployment = target.activate(loaded)
    check = loaded.case.spec.checks[0]
    exchange = deployment.send(check.request)
    assert judge(check.expect, exchange) == [], exchange.describe_outcome()
    sidecar = target._proxies["sidecar:default/sleep"]
    egress = target._proxies["istio-system/istio-egressgateway"]
    # Each proxy has its own source address; the backend's peer names the last hop.
    assert sidecar.source_address != egress.source_address
    assert exchange.extra["peer"].startswith(egress.source_address + ":")
    assert target.workload_at(sidecar.source_address) == "sleep"
    explained = deployment.explain(exchange)
    assert "then istio-egressgateway:" in explained
    assert "the backend's connection came from egress (peer 127.0.0." in explained


def test_passthrough_goes_to_the_original_destination(target: LocalTarget, tmp_path: Path) -> None:
    deployment = target.activate(make_case(tmp_path, "passthrough"))
    # The Host header names b, but the client resolved and connected to a: a
    # passthrough (ORIGINAL_DST, restored from the PROXY header) reaches a.
    exchange = send(deployment, "http://a.example.com/", host="b.example.com")
    echo = exchange.response.echo  # type: ignore[attr-defined]
    assert echo["service"] == "a.example.com" and echo["host"] == "b.example.com"
    assert exchange.extra["via"] == "sleep"  # type: ignore[attr-defined]
    tls = send(deployment, "https://a.example.com/")
    assert tls.response.echo["tls"]["serverName"] == "a.example.com"  # type: ignore[attr-defined]
    # A name nothing resolves never leaves the client.
    unknown = send(deployment, "http://nowhere.invalid/")
    assert unknown.connection == "error" and "no such host" in unknown.error  # type: ignore[attr-defined]


def test_registry_only_blocks_and_keeps_registered_hosts(
    target: LocalTarget, tmp_path: Path
) -> None:
    deployment = target.activate(make_case(tmp_path, "blocked", policy="REGISTRY_ONLY"))
    assert send(deployment, "http://a.example.com/").response.status == 502  # type: ignore[attr-defined]
    assert send(deployment, "https://a.example.com/").connection == "reset"  # type: ignore[attr-defined]
    registered = send(deployment, "http://edition.cnn.com/")
    assert registered.extra["via"] == "egress"  # type: ignore[attr-defined]


INGRESS_ONLY = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: ingress-only}
spec:
  checks:
  - name: nothing
    request: {url: "http://x.example.com/"}
    expect: {connection: refused}
"""


def test_a_later_case_without_clients_leaves_the_sidecar_idle_and_empty(
    target: LocalTarget, tmp_path: Path
) -> None:
    target.activate(make_case(tmp_path, "with-client"))
    sidecar = target._proxies["sidecar:default/sleep"]
    assert sidecar.config is not None and sidecar.config.listeners
    pid = sidecar.envoy.pid
    other = tmp_path / "ingress-only.yaml"
    other.write_text(INGRESS_ONLY)
    target.activate(load_case_file(other).cases[0])
    # Still running, but serving nothing of the last case: its configuration is empty.
    assert target._proxies["sidecar:default/sleep"] is sidecar and sidecar.config is None
    assert sidecar.envoy._admin.listener_ports() == {}
    os.kill(pid, 0)
    # A later case that needs it again gets it back: no new Envoy, the same source address.
    target.activate(make_case(tmp_path, "with-client-again"))
    again = target._proxies["sidecar:default/sleep"]
    assert again is sidecar and again.envoy.pid == pid and again.config is not None
    assert again.envoy._admin.listener_ports()


def test_beyond_the_idle_limit_the_longest_idle_sidecar_stops(
    target: LocalTarget, tmp_path: Path
) -> None:
    from pytest_meshgate._targets.local.target import IDLE_PROXIES

    names = [f"client{i}" for i in range(IDLE_PROXIES + 1)]
    pids = {}
    for name in names:
        path = tmp_path / f"{name}.yaml"
        path.write_text(make_case(tmp_path, name).path.read_text().replace("sleep", name))
        target.activate(load_case_file(path).cases[0])
        pids[name] = target._proxies[f"sidecar:default/{name}"].envoy.pid
    other = tmp_path / "ingress-only.yaml"
    other.write_text(INGRESS_ONLY)
    target.activate(load_case_file(other).cases[0])
    idle = [k for k in target._proxies if k.startswith("sidecar:")]
    assert idle == [f"sidecar:default/{name}" for name in names[1:]]
    with pytest.raises(ProcessLookupError):
        os.kill(pids[names[0]], 0)


def test_a_declared_pod_ip_is_the_clients_source_for_its_case_only(
    target: LocalTarget, tmp_path: Path
) -> None:
    path = tmp_path / "pinned.yaml"
    path.write_text(
        CASE.replace("NAME", "pinned")
        .replace("POLICY", "ALLOW_ANY")
        .replace("clients: [{name: sleep}]", "clients: [{name: sleep, podIP: 127.30.0.9}]")
    )
    deployment = target.activate(load_case_file(path).cases[0])
    sidecar = target._proxies["sidecar:default/sleep"]
    assert sidecar.source_address == "127.30.0.9"
    # A passthrough reaches the echo straight from the sidecar: its peer is the pod IP.
    exchange = send(deployment, "http://a.example.com/")
    assert exchange.extra["peer"].startswith("127.30.0.9:")  # type: ignore[attr-defined]
    assert exchange.extra["via"] == "sleep"  # type: ignore[attr-defined]
    other = tmp_path / "ingress-only.yaml"
    other.write_text(INGRESS_ONLY)
    target.activate(load_case_file(other).cases[0])
    # Idle, it keeps no case's address; a later case without podIP gets the harness's.
    assert sidecar.source_address.startswith("127.0.0.")
    assert target.workload_at("127.30.0.9") is None
    target.activate(make_case(tmp_path, "unpinned"))
    assert target._proxies["sidecar:default/sleep"].source_address.startswith("127.0.0.")
