"""Unit tests of mesh TLS in the translation: ISTIO_MUTUAL servers and clusters, DR selectors."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from test_translate_golden import _envoy, _static_bootstrap
from test_translate_tls import (
    CA,
    HTTP_GW,
    INGRESS,
    SERVICES,
    WEB80,
    WEB_VS,
    chains,
    cluster,
    dr,
    gateway,
    http_options,
    https,
    key_pair,
    svc,
    tls_context,
    translate,
    upstream,
)

from pytest_meshgate._targets.local.mesh_identity import MeshCA
from pytest_meshgate._targets.local.translate import UnsupportedFeature
from pytest_meshgate._targets.local.world import (
    Endpoint,
    GatewayProxy,
    MeshIdentity,
    MeshService,
    ServicePortInfo,
)

IDENTITY = MeshIdentity(
    spiffe_id="spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account",
    cert_chain_file="/mesh/cert-chain.pem",
    private_key_file="/mesh/key.pem",
    root_ca_file="/mesh/root-cert.pem",
)
EGRESS = GatewayProxy(
    name="istio-egressgateway",
    namespace="istio-system",
    labels={"istio": "egressgateway"},
    service_ports=(ServicePortInfo("https", 443, 8443, "HTTPS"),),
    bind=lambda p: ("127.0.0.1", 20000 + p),
    mesh_identity=IDENTITY,
)
EGRESS_SA = IDENTITY.spiffe_id
EGRESS_SVC = MeshService(
    hostname="istio-egressgateway.istio-system.svc.cluster.local",
    namespace="istio-system",
    ports=(
        ServicePortInfo("http2", 80, 8080, "HTTP2"),
        ServicePortInfo("https", 443, 8443, "HTTPS"),
    ),
    endpoints=(
        Endpoint({"istio": "egressgateway"}, {80: ("127.0.0.1", 1), 443: ("127.0.0.1", 2)}, "eg"),
    ),
    service_accounts=(EGRESS_SA,),
)
MESH_SERVICES = (*SERVICES, EGRESS_SVC)


def mesh_gateway(servers: str) -> str:
    return gateway(servers).replace("istio: ingressgateway", "istio: egressgateway")


# --------------------------------------------------------------------- ISTIO_MUTUAL servers


def test_istio_mutual_server_serves_the_workload_certificate_and_requires_a_mesh_peer() -> None:
    cfg = translate(
        mesh_gateway(https("https", "[my-nginx.example.com]", "{mode: ISTIO_MUTUAL}")) + WEB_VS,
        proxy=EGRESS,
    )
    (chain,) = chains(cfg)
    assert chain["filter_chain_match"] == {"server_names": ["my-nginx.example.com"]}
    context = tls_context(chain)
    assert context["require_client_certificate"] is True
    common = context["common_tls_context"]
    assert common["tls_certificates"] == [
        {
            "certificate_chain": {"filename": "/mesh/cert-chain.pem"},
            "private_key": {"filename": "/mesh/key.pem"},
        }
    ]
    # Any mesh identity: the root only, no SAN matcher.
    assert common["validation_context"] == {"trusted_ca": {"filename": "/mesh/root-cert.pem"}}
    assert common["alpn_protocols"] == ["h2", "http/1.1"]
    assert "tls_params" not in common
    assert "inline_string" not in json.dumps(context)  # no key material in the JSON


def test_istio_mutual_server_subject_alt_names_and_ignored_settings() -> None:
    tls = (
        "{mode: ISTIO_MUTUAL, subjectAltNames: [spiffe://cluster.local/ns/default/sa/sleep],"
        " minProtocolVersion: TLSV1_3, cipherSuites: [AES128-SHA]}"
    )
    cfg = translate(mesh_gateway(https("https", "['*']", tls)) + WEB_VS, proxy=EGRESS)
    common = tls_context(chains(cfg)[0])["common_tls_context"]
    assert {
        "san_type": "URI",
        "matcher": {"exact": "spiffe://cluster.local/ns/default/sa/sleep"},
    } in common["validation_context"]["match_typed_subject_alt_names"]
    assert "tls_params" not in common  # applyServerTLSSettings is for SIMPLE/MUTUAL only


def test_istio_mutual_tls_server_into_tcp_routes_advertises_mesh_alpn() -> None:
    vs = """
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: default}
spec:
  hosts: ["*"]
  gateways: [istio-system/gw]
  tcp:
  - route: [{destination: {host: db, port: {number: 9000}}}]
"""
    cfg = translate(
        mesh_gateway(https("tls", "['*']", "{mode: ISTIO_MUTUAL}", protocol="TLS")) + vs,
        proxy=EGRESS,
    )
    common = tls_context(chains(cfg)[0])["common_tls_context"]
    assert common["alpn_protocols"] == ["istio-peer-exchange", "h2", "http/1.1"]


def test_istio_mutual_server_without_mesh_identity_is_unsupported() -> None:
    text = mesh_gateway(https("https", "['*']", "{mode: ISTIO_MUTUAL}")) + WEB_VS
    with pytest.raises(UnsupportedFeature, match=r"spec\.servers\[0\]\.tls\.mode"):
        translate(text, proxy=replace(EGRESS, mesh_identity=None))


# --------------------------------------------------------------------- ISTIO_MUTUAL clusters


EGRESS_DR = """
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: egressgateway-for-nginx, namespace: istio-system}
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: nginx
    trafficPolicy:
      portLevelSettings:
      - port: {number: 443}
        tls: TLS
"""
NGINX_443 = "outbound|443|nginx|istio-egressgateway.istio-system.svc.cluster.local"


def test_dr_istio_mutual_defaults_sni_sans_and_alpn() -> None:
    cfg = translate(
        HTTP_GW + WEB_VS + EGRESS_DR.replace("TLS", "{mode: ISTIO_MUTUAL}"),
        services=MESH_SERVICES,
        proxy=replace(INGRESS, mesh_identity=IDENTITY),
    )
    c = cluster(cfg, NGINX_443)
    context = upstream(c)
    assert context["sni"] == (
        "outbound_.443_.nginx_.istio-egressgateway.istio-system.svc.cluster.local"
    )
    common = context["common_tls_context"]
    assert common["alpn_protocols"] == ["istio-peer-exchange", "istio"]
    assert common["tls_certificates"][0]["certificate_chain"] == {
        "filename": "/mesh/cert-chain.pem"
    }
    validation = common["validation_context"]
    assert validation["trusted_ca"] == {"filename": "/mesh/root-cert.pem"}
    # The destination's service account, as any SAN type (Istio's untyped exact match).
    assert {"san_type": "URI", "matcher": {"exact": EGRESS_SA}} in validation[
        "match_typed_subject_alt_names"
    ]
    assert common["tls_params"]["tls_minimum_protocol_version"] == "TLSv1_2"
    # No auto SNI/SAN for ISTIO_MUTUAL; the cluster stays explicit HTTP/1.1 ...
    assert "upstream_http_protocol_options" not in json.dumps(c)
    # ... and the subset-less cluster on 443 and the other port get no TLS.
    plain = cluster(cfg, "outbound|443||istio-egressgateway.istio-system.svc.cluster.local")
    assert plain is not None and "transport_socket" not in plain


def test_dr_istio_mutual_explicit_sni_and_sans_and_h2_alpn() -> None:
    tls = "{mode: ISTIO_MUTUAL, sni: my-nginx.example.com, subjectAltNames: [spiffe://x/y]}"
    text = HTTP_GW + WEB_VS + EGRESS_DR.replace("TLS", tls).replace("443", "80")
    cfg = translate(text, services=MESH_SERVICES, proxy=replace(INGRESS, mesh_identity=IDENTITY))
    context = upstream(
        cluster(cfg, "outbound|80|nginx|istio-egressgateway.istio-system.svc.cluster.local")
    )
    assert context["sni"] == "my-nginx.example.com"
    common = context["common_tls_context"]
    assert common["alpn_protocols"] == ["istio-peer-exchange", "istio", "h2"]  # http2 port
    exact = {
        m["matcher"]["exact"] for m in common["validation_context"]["match_typed_subject_alt_names"]
    }
    assert exact == {"spiffe://x/y"}


def test_dr_istio_mutual_without_service_accounts_checks_no_san() -> None:
    cfg = translate(
        HTTP_GW + WEB_VS + dr("{tls: {mode: ISTIO_MUTUAL}}"),
        proxy=replace(INGRESS, mesh_identity=IDENTITY),
    )
    validation = upstream(cluster(cfg, WEB80))["common_tls_context"]["validation_context"]
    assert validation == {"trusted_ca": {"filename": "/mesh/root-cert.pem"}}


# --------------------------------------------------------------------- SIMPLE/MUTUAL extras


def test_external_service_accounts_are_verified_without_dr_sans() -> None:
    external = replace(
        svc("api"),
        hostname="api.example.com",
        external=True,
        service_accounts=("api.example.com",),
    )
    secrets = {("istio-system", "ca"): {"ca.crt": CA.cert_pem.bytes()}}
    text = (
        HTTP_GW + WEB_VS + dr("{tls: {mode: SIMPLE, credentialName: ca}}", host="api.example.com")
    )
    c = cluster(
        translate(text, secrets, services=(*SERVICES, external)), "outbound|80||api.example.com"
    )
    validation = upstream(c)["common_tls_context"]["validation_context"]
    assert {"san_type": "DNS", "matcher": {"exact": "api.example.com"}} in validation[
        "match_typed_subject_alt_names"
    ]
    # auto_san_validation still follows the DestinationRule's own (empty) SANs.
    assert http_options(c)["upstream_http_protocol_options"] == {
        "auto_sni": True,
        "auto_san_validation": True,
    }


# --------------------------------------------------------------------- workloadSelector


def selector_dr(
    name: str, ns: str, selector: str | None, tls: str, host: str = "web", private: bool = False
) -> str:
    selector_line = f"  workloadSelector: {{matchLabels: {selector}}}\n" if selector else ""
    if private:
        selector_line += '  exportTo: ["."]\n'

    return f"""
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: {ns}}}
spec:
  host: {host}.default.svc.cluster.local
{selector_line}  trafficPolicy: {{tls: {tls}}}
"""


CLIENT_SECRETS = {
    ("istio-system", "client"): {**key_pair("client"), "ca.crt": CA.cert_pem.bytes()},
    ("default", "client"): {**key_pair("sleep"), "ca.crt": CA.cert_pem.bytes()},
}
MUTUAL = "{mode: MUTUAL, credentialName: client, sni: web.internal}"
SIMPLE_SNI = "{mode: SIMPLE, sni: catch-all.internal}"


def test_matching_selector_rule_wins_over_the_catch_all() -> None:
    text = (
        HTTP_GW
        + WEB_VS
        + selector_dr("catch-all", "istio-system", None, SIMPLE_SNI)
        + selector_dr("selected", "istio-system", "{istio: ingressgateway}", MUTUAL)
    )
    context = upstream(cluster(translate(text, CLIENT_SECRETS), WEB80))
    assert context["sni"] == "web.internal"
    assert "tls_certificates" in context["common_tls_context"]


def test_non_matching_or_foreign_selector_falls_back_to_the_catch_all() -> None:
    # A root-namespace proxy looks at that namespace's private rules first.
    for selector_ns, labels in (
        ("istio-system", "{app: other}"),
        ("default", "{istio: ingressgateway}"),
    ):
        text = (
            HTTP_GW
            + WEB_VS
            + selector_dr("catch-all", "istio-system", None, SIMPLE_SNI, private=True)
            + selector_dr("selected", selector_ns, labels, MUTUAL)
        )
        context = upstream(cluster(translate(text, CLIENT_SECRETS), WEB80))
        assert context["sni"] == "catch-all.internal", (selector_ns, labels)


def test_a_non_matching_selector_rule_in_the_proxy_namespace_shadows_other_namespaces() -> None:
    """The namespace-local lookup finds the host first; then no group fits the proxy (Istio)."""
    text = (
        HTTP_GW
        + WEB_VS
        + selector_dr("in-service-ns", "default", None, SIMPLE_SNI)
        + selector_dr("selected", "istio-system", "{app: other}", MUTUAL)
    )
    c = cluster(translate(text, CLIENT_SECRETS), WEB80)
    assert c is not None and "transport_socket" not in c


SLEEP = GatewayProxy(
    name="sleep",
    namespace="default",
    labels={"app": "sleep"},
    service_ports=(),
    bind=lambda p: ("127.0.0.1", 20000 + p),
    sidecar=True,
)


def test_sidecar_credential_needs_a_workload_selector() -> None:
    plain_rule = selector_dr("web", "default", None, MUTUAL)
    c = cluster(translate(HTTP_GW + WEB_VS + plain_rule, CLIENT_SECRETS, proxy=SLEEP), WEB80)
    assert c is not None and "transport_socket" not in c  # plaintext, as Istio does
    selected = selector_dr("web", "default", "{app: sleep}", MUTUAL)
    context = upstream(
        cluster(translate(HTTP_GW + WEB_VS + selected, CLIENT_SECRETS, proxy=SLEEP), WEB80)
    )
    # The secret is read in the client's namespace.
    chain = context["common_tls_context"]["tls_certificates"][0]["certificate_chain"]
    assert chain["inline_string"] == CLIENT_SECRETS[("default", "client")]["tls.crt"].decode()
    # Without credentialName a sidecar originates TLS whatever the selector.
    system = selector_dr("web", "default", None, "{mode: SIMPLE}")
    assert "transport_socket" in (
        cluster(translate(HTTP_GW + WEB_VS + system, proxy=SLEEP), WEB80) or {}
    )


# --------------------------------------------------------------------- Envoy accepts them


def test_envoy_validates_mesh_tls_contexts(tmp_path: Path) -> None:
    mesh = MeshCA(directory=tmp_path)
    try:
        identity = mesh.identity("istio-system", "istio-egressgateway-service-account")
        proxy = replace(EGRESS, mesh_identity=identity)
        text = (
            mesh_gateway(
                https("https", "[my-nginx.example.com]", "{mode: ISTIO_MUTUAL}")
                + https(
                    "https-sans",
                    "[other.example.com]",
                    "{mode: ISTIO_MUTUAL, subjectAltNames: [spiffe://cluster.local/ns/a/sa/b]}",
                )
            )
            + WEB_VS
            + EGRESS_DR.replace("TLS", "{mode: ISTIO_MUTUAL}")
        )
        cfg = translate(text, services=MESH_SERVICES, proxy=proxy)
        assert len(chains(cfg)) == 2 and cluster(cfg, NGINX_443) is not None
        bootstrap = tmp_path / "bootstrap.json"
        bootstrap.write_text(json.dumps(_static_bootstrap(cfg, tmp_path)), encoding="utf-8")
        proc = subprocess.run(
            [_envoy(), "--mode", "validate", "-c", str(bootstrap), "--log-level", "error"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    finally:
        mesh.close()


def test_subset_tls_overrides_the_destination_port_level_tls() -> None:
    """MergeSubsetTrafficPolicy: port level first per level, then subset blocks win."""
    policy = """
    portLevelSettings:
    - port: {number: 80}
      tls: {mode: SIMPLE, sni: port-level.internal}
  subsets:
  - name: own
    trafficPolicy: {tls: {mode: SIMPLE, sni: subset.internal}}
  - name: inherits
    trafficPolicy: {loadBalancer: {simple: RANDOM}}
  - name: port-entry
    trafficPolicy:
      portLevelSettings:
      - port: {number: 80}
        loadBalancer: {simple: RANDOM}"""
    cfg = translate(HTTP_GW + WEB_VS + dr(policy))

    def sni(subset: str) -> str | None:
        c = cluster(cfg, f"outbound|80|{subset}|web.default.svc.cluster.local")
        assert c is not None
        return c.get("transport_socket", {}).get("typed_config", {}).get("sni")

    assert sni("") == "port-level.internal"
    assert sni("own") == "subset.internal"
    assert sni("inherits") == "port-level.internal"
    assert sni("port-entry") is None  # a subset port-level entry replaces every block


def test_service_entry_subject_alt_names_are_verified_by_origination() -> None:
    """constructUpstreamTLS: a MESH_EXTERNAL host's SE subjectAltNames when the DR has none."""
    se = """
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: default}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
  subjectAltNames: [api.internal.example.com]
"""
    secrets = {("istio-system", "ca"): {"ca.crt": CA.cert_pem.bytes()}}
    text = (
        HTTP_GW + WEB_VS + se + dr("{tls: {mode: SIMPLE, credentialName: ca}}", "api.example.com")
    )
    c = cluster(translate(text, secrets), "outbound|443||api.example.com")
    validation = upstream(c)["common_tls_context"]["validation_context"]
    exact = {m["matcher"]["exact"] for m in validation["match_typed_subject_alt_names"]}
    assert exact == {"api.internal.example.com"}
