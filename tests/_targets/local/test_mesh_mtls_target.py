"""Mesh mutual TLS on the local target with real Envoys: inbound sidecars, auto mTLS, STRICT.

The peer the echo reports, the X-Forwarded-Client-Cert it saw and the
certificate the inbound listener presents are checked on the wire.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from pytest_meshgate._cases.loader import LoadedCase, load_case_file
from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._targets.local import LocalTarget

CASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: mtls-target}
spec:
  services:
  - {name: httpbin, serviceAccount: httpbin-sa, ports: [{name: http, port: 8000, targetPort: 80}]}
  - {name: legacy, sidecar: false, ports: [{name: http, port: 8000}]}
  clients:
  - {name: sleep}
  - {name: outsider, sidecar: false}
  resources:
  - apiVersion: security.istio.io/v1
    kind: PeerAuthentication
    metadata: {name: default}
    spec: {mtls: {mode: STRICT}}
  checks:
  - {name: a, request: {from: sleep, url: "http://httpbin:8000/"}}
  - {name: b, request: {from: outsider, url: "http://httpbin:8000/"}}
"""


@pytest.fixture
def target() -> Iterator[LocalTarget]:
    local = LocalTarget()
    try:
        yield local
    finally:
        local.close()


def _case(tmp_path: Path) -> LoadedCase:
    path = tmp_path / "case.yaml"
    path.write_text(CASE)
    result = load_case_file(path)
    assert not result.invalid, result.invalid[0].error.render()
    return result.cases[0]


def _send(deployment: object, client: str, url: str) -> object:
    request = Request.model_validate({"from": client, "url": url})
    return deployment.send(request)  # type: ignore[attr-defined]


def test_inbound_sidecar_terminates_mtls_and_forwards_the_peer(
    target: LocalTarget, tmp_path: Path
) -> None:
    deployment = target.activate(_case(tmp_path))
    exchange = _send(deployment, "sleep", "http://httpbin:8000/headers")
    response = exchange.response  # type: ignore[attr-defined]
    assert response is not None and response.status == 200
    xfcc = response.echo["headers"]["X-Forwarded-Client-Cert"][0]
    assert xfcc.startswith("By=spiffe://cluster.local/ns/default/sa/httpbin-sa;Hash=")
    assert xfcc.endswith(';Subject="";URI=spiffe://cluster.local/ns/default/sa/sleep')
    # The echo's peer is the client's sidecar, not the inbound Envoy.
    assert exchange.extra["via"] == "sleep"  # type: ignore[attr-defined]
    # To the pod without a sidecar, auto mTLS is plaintext.
    plain = _send(deployment, "sleep", "http://legacy:8000/headers")
    headers = plain.response.echo["headers"]  # type: ignore[attr-defined]
    assert "X-Forwarded-Client-Cert" not in headers
    # STRICT: the plaintext client's connection is closed.
    refused = _send(deployment, "outsider", "http://httpbin:8000/headers")
    assert refused.connection == "reset"  # type: ignore[attr-defined]


def test_inbound_listener_presents_the_workload_certificate_and_wants_one(
    target: LocalTarget, tmp_path: Path
) -> None:
    deployment = target.activate(_case(tmp_path))
    (workload,) = [w for w in deployment.backends.inbound if w.pod.startswith("httpbin")]  # type: ignore[attr-defined]
    address = workload.ports[0].listen
    context = ssl.create_default_context(cafile=target.mesh_ca.root_ca_file)
    context.check_hostname = False
    context.set_alpn_protocols(["istio"])
    with socket.create_connection(address, timeout=5) as raw, context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        cert = x509.load_der_x509_certificate(der)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        assert names.value.get_values_for_type(x509.UniformResourceIdentifier) == [
            "spiffe://cluster.local/ns/default/sa/httpbin-sa"
        ]
        # Without a client certificate the handshake is refused; with TLS 1.3 the
        # client learns it after its own handshake, at its first write or read.
        with pytest.raises((ssl.SSLError, ConnectionError)):
            tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            if not tls.recv(1):
                raise ConnectionError("closed")


@pytest.mark.parametrize(
    "service",
    [
        "{name: db, headless: true, ports: [{name: http, port: 8080}]}",
        "{name: db-alt, selector: {app: httpbin}, ports: [{name: http, port: 9000, targetPort: 80}]}",
    ],
    ids=["headless", "selector"],
)
def test_inbound_sidecars_before_a_headless_or_selector_service_skip_with_the_reason(
    target: LocalTarget, tmp_path: Path, service: str
) -> None:
    path = tmp_path / "case.yaml"
    path.write_text(CASE.replace("  clients:\n", f"  - {service}\n  clients:\n", 1))
    result = load_case_file(path)
    assert not result.invalid, result.invalid[0].error.render()
    with pytest.raises(pytest.skip.Exception, match=r"inbound sidecars .* Service \(db"):
        target.activate(result.cases[0])
