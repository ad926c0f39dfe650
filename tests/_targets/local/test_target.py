"""Tests of the local target's lifecycle on a real Envoy: ports, swaps, crashes, cleanup."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_meshgate._cases.loader import LoadedCase, load_case_file
from pytest_meshgate._cases.model.expect import BackendRef
from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._errors import ProxyCrashed
from pytest_meshgate._judge.expectations import judge
from pytest_meshgate._targets.local import LocalTarget

CASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: NAME}
spec:
  services:
  - name: web
    ports: [{name: http, port: 8000}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: gw}
    spec:
      selector: SELECTOR
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["*"]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: vs}
    spec:
      hosts: ["*"]
      gateways: [gw]
      http:
      - route: [{destination: {host: web}}]
  checks:
  - name: reaches web
    request: {url: "http://web.example.com/"}
    expect: {backend: web}
"""


@pytest.fixture
def target() -> Iterator[LocalTarget]:
    local = LocalTarget()
    try:
        yield local
    finally:
        local.close()


@pytest.fixture
def make_case(tmp_path: Path) -> Callable[..., LoadedCase]:
    def make(name: str, selector: str = "{istio: ingressgateway}") -> LoadedCase:
        path = tmp_path / f"{name}.yaml"
        path.write_text(CASE.replace("NAME", name).replace("SELECTOR", selector))
        result = load_case_file(path)
        assert not result.invalid, result.invalid[0].error.render()
        return result.cases[0]

    return make


def request(url: str) -> Request:
    return Request(url=url)


def test_routes_through_envoy_and_refuses_ports_without_servers(
    target: LocalTarget, make_case: Callable[..., LoadedCase]
) -> None:
    loaded = make_case("basic")
    deployment = target.activate(loaded)
    check = loaded.case.spec.checks[0]
    assert judge(check.expect, deployment.send(check.request)) == []
    # Service port 443 maps to 8443, where no Gateway server listens.
    exchange = deployment.send(request("http://web.example.com:443/"))
    assert exchange.connection == "refused", exchange.describe_outcome()


def test_selector_matching_no_gateway_refuses(
    target: LocalTarget, make_case: Callable[..., LoadedCase]
) -> None:
    deployment = target.activate(make_case("nomatch", selector="{istio: nosuchgateway}"))
    assert deployment.send(request("http://web.example.com/")).connection == "refused"


def test_switching_cases_replaces_backends_and_routes(
    target: LocalTarget, make_case: Callable[..., LoadedCase]
) -> None:
    first = target.activate(make_case("first"))
    response = first.send(request("http://web.example.com/")).response
    assert response is not None and response.status == 200
    echo_ports = {h.address for h in first.backends.listeners}  # type: ignore[attr-defined]
    second = target.activate(make_case("second", selector="{istio: other}"))
    # The first case's echo listeners are gone and the gateway no longer routes.
    for host, port in echo_ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, port), timeout=1).close()
    assert second.send(request("http://web.example.com/")).connection == "refused"


def test_crashed_envoy_is_reported_then_replaced(
    target: LocalTarget, make_case: Callable[..., LoadedCase]
) -> None:
    loaded = make_case("crash")
    deployment = target.activate(loaded)
    (proxy,) = target._proxies.values()
    pid = proxy.envoy.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60  # a hang guard: the assertion is the crash report
    while proxy.envoy.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(ProxyCrashed, match="killed by signal 9; last log lines"):
        deployment.send(loaded.case.spec.checks[0].request)
    # The next case starts a fresh Envoy rather than repeating the error.
    again = target.activate(make_case("after-crash"))
    response = again.send(request("http://web.example.com/")).response
    assert response is not None and response.status == 200
    assert target._proxies and next(iter(target._proxies.values())).envoy.pid != pid


def test_close_leaves_no_process_or_file(
    target: LocalTarget, make_case: Callable[..., LoadedCase]
) -> None:
    target.activate(make_case("closing"))
    pids = [p.envoy.pid for p in target._proxies.values()]
    workdir = target.workdir
    assert workdir.is_dir() and oct(workdir.stat().st_mode & 0o777) == "0o700"
    target.close()
    assert not workdir.exists()
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_replicas_misbehaving_send_many_and_received(
    target: LocalTarget, make_case: Callable[..., LoadedCase], tmp_path: Path
) -> None:
    text = (
        CASE.replace("NAME", "replicas")
        .replace("SELECTOR", "{istio: ingressgateway}")
        .replace(
            "ports: [{name: http, port: 8000}]",
            "ports: [{name: http, port: 8000}]\n    replicas: 3\n"
            "    misbehaving: [{replica: 2, status: 503}]\n"
            "  - name: copy\n    ports: [{name: http, port: 8000}]",
        )
        .replace(
            "      - route: [{destination: {host: web}}]",
            "      - route: [{destination: {host: web}}]\n        mirror: {host: copy}",
        )
    )
    path = tmp_path / "replicas.yaml"
    path.write_text(text)
    result = load_case_file(path)
    assert not result.invalid, result.invalid[0].error.render()
    deployment = target.activate(result.cases[0])
    batch = deployment.send_many(request("http://web.example.com/"), count=30, concurrency=5)
    assert len(batch) == 30 and len({e.request.meshgate_id for e in batch}) == 30
    pods = {
        e.response.echo["pod"]: e.response.status
        for e in batch
        if e.response is not None and e.response.echo is not None
    }
    # Three pods with distinct names; the misbehaving one answers 503 whatever is asked.
    assert len(pods) == 3 and sorted(pods.values()) == [200, 200, 503]
    assert all(pod.startswith("web-v1-") and pod[-2:] in ("-0", "-1", "-2") for pod in pods)
    ids = [e.request.meshgate_id for e in batch]
    copies = deployment.received(BackendRef(service="copy"), ids, wait=3.0)
    assert set(copies) == set(ids) and set(copies.values()) == {"web.example.com"}
    assert deployment.received(BackendRef(service="web", version="v2"), ids, wait=0.2) == {}


def test_public_roots_are_the_host_bundle_plus_the_default_ca(target: LocalTarget) -> None:
    from pytest_meshgate._targets.local.world import default_system_ca_file

    roots = Path(target.public_roots_file).read_bytes()
    assert target.secrets.default_ca.cert_pem.bytes() in roots
    system = default_system_ca_file()
    if system is not None:
        assert roots.startswith(Path(system).read_bytes())
    assert target.public_roots_file.startswith(str(target.workdir))


def test_a_listener_port_another_process_took_is_refused_and_replaced(
    target: LocalTarget, make_case: Callable[..., LoadedCase]
) -> None:
    # Envoy's default SO_REUSEPORT would let it share a port another Envoy (another
    # lane's, another run's) holds, and split that port's connections between the two
    # without a word. The local target turns it off, so the collision is refused, and
    # the case deploys again on new ports.
    deployment = target.activate(make_case("first"))
    ingress = deployment.router.gateways["ingress"]  # type: ignore[attr-defined]
    taken = ingress.ports[8080]
    target.activate(make_case("away", selector="{istio: other}"))  # ingress lets go of it
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as an Envoy binds
    try:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        again = target.activate(make_case("again"))
        assert ingress.ports[8080] != taken
        response = again.send(request("http://web.example.com/")).response
        assert response is not None and response.status == 200
    finally:
        squatter.close()
