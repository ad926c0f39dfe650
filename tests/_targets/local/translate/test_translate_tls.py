"""Unit tests of the TLS side of the translation: chains, contexts, credentials, L4 routes, DR TLS."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from test_translate_golden import _envoy, _static_bootstrap

from pytest_meshgate._cases.model.istio import parse_resource
from pytest_meshgate._targets.local.translate import (
    EnvoyConfig,
    UnsupportedFeature,
    translate_gateway,
)
from pytest_meshgate._targets.local.translate.tls import (
    CredentialError,
    filter_cipher_suites,
    resolve_ca,
    resolve_key_pair,
)
from pytest_meshgate._targets.local.world import (
    Endpoint,
    GatewayProxy,
    MeshService,
    ServicePortInfo,
    World,
)

INGRESS = GatewayProxy(
    name="istio-ingressgateway",
    namespace="istio-system",
    labels={"istio": "ingressgateway"},
    service_ports=(ServicePortInfo("https", 443, 8443, "HTTPS"),),
    bind=lambda p: ("127.0.0.1", 20000 + p),
)
CA = trustme.CA()
OTHER_CA = trustme.CA()


def key_pair(host: str, ca: trustme.CA = CA, generic: bool = False) -> dict[str, bytes]:
    leaf = ca.issue_cert(host)
    cert, key = leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes()
    return {"cert": cert, "key": key} if generic else {"tls.crt": cert, "tls.key": key}


def svc(name: str, ports: tuple[tuple[int, str], ...] = ((80, "HTTP"),)) -> MeshService:
    return MeshService(
        hostname=f"{name}.default.svc.cluster.local",
        namespace="default",
        ports=tuple(ServicePortInfo(f"p{p}", p, p, proto) for p, proto in ports),
        endpoints=(
            Endpoint(
                {"app": name, "version": "v1"},
                {p: ("127.0.0.1", 31000 + p) for p, _ in ports},
                f"{name}-v1",
            ),
        ),
    )


SERVICES = (svc("web"), svc("db", ((9000, "TCP"),)), svc("pass", ((443, "TLS"),)))


def translate(
    text: str,
    secrets: dict[tuple[str, str], dict[str, bytes]] | None = None,
    services: tuple[MeshService, ...] = SERVICES,
    proxy: GatewayProxy = INGRESS,
) -> EnvoyConfig:
    resources = tuple(parse_resource(d) for d in yaml.safe_load_all(text) if d)
    world = World(
        resources=resources,
        services=services,
        secrets=secrets or {},
        system_ca_file="/etc/ssl/certs/ca-certificates.crt",
    )
    return translate_gateway(world, proxy)


def gateway(servers: str, ns: str = "istio-system") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: {ns}}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
{servers}
"""


def https(name: str, hosts: str, tls: str, port: int = 443, protocol: str = "HTTPS") -> str:
    return f"""  - port: {{number: {port}, name: {name}, protocol: {protocol}}}
    hosts: {hosts}
    tls: {tls}
"""


WEB_VS = """
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: ["*"]
  gateways: [istio-system/gw]
  http:
  - route: [{destination: {host: web}}]
"""


def listener(cfg: EnvoyConfig, port: int = 8443) -> dict[str, Any]:
    (found,) = [x for x in cfg.listeners if x["name"] == f"0.0.0.0_{port}"]
    return dict(found)


def chains(cfg: EnvoyConfig, port: int = 8443) -> list[dict[str, Any]]:
    return list(listener(cfg, port)["filter_chains"])


def server_names(cfg: EnvoyConfig, port: int = 8443) -> list[list[str] | None]:
    return [c.get("filter_chain_match", {}).get("server_names") for c in chains(cfg, port)]


def tls_context(chain: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = chain["transport_socket"]["typed_config"]
    return context


SECRETS = {
    ("istio-system", "a"): key_pair("a.example.com"),
    ("istio-system", "b"): key_pair("b.example.com"),
}


# --------------------------------------------------------------------- filter chain matches


def test_one_chain_per_server_with_sni_from_its_hosts() -> None:
    cfg = translate(
        gateway(
            https(
                "https-a",
                '["./a.example.com", "*.a.example.com"]',
                "{mode: SIMPLE, credentialName: a}",
            )
            + https("https-b", "[b.example.com]", "{mode: SIMPLE, credentialName: b}")
        )
        + WEB_VS,
        SECRETS,
    )
    # ns/ prefixes dropped, names sorted; wildcard hosts are Envoy wildcard server names.
    assert server_names(cfg) == [["*.a.example.com", "a.example.com"], ["b.example.com"]]
    assert listener(cfg)["listener_filters"][0]["name"] == "envoy.filters.listener.tls_inspector"
    rds = [c["filters"][0]["typed_config"]["rds"]["route_config_name"] for c in chains(cfg)]
    assert rds == ["https.443.https-a.gw.istio-system", "https.443.https-b.gw.istio-system"]
    assert sorted(r["name"] for r in cfg.routes) == sorted(rds)
    (b_routes,) = [r for r in cfg.routes if r["name"] == rds[1]]
    assert b_routes["ignore_port_in_host_matching"] is True
    assert [v["domains"] for v in b_routes["virtual_hosts"]] == [["b.example.com"]]
    hcm = chains(cfg)[0]["filters"][0]["typed_config"]
    assert hcm["forward_client_cert_details"] == "SANITIZE_SET"


def test_star_host_gets_no_server_names_and_two_such_chains_are_kept() -> None:
    """Istio emits both chains unmatched; Envoy then refuses the listener (documented).

    Hosts ``*`` and ``*/*`` are the same host, so the later server is skipped;
    ``a/*`` and ``b/*`` are not, yet both reduce to SNI ``*``.
    """
    same = translate(
        gateway(
            https("https-a", '["*"]', "{mode: SIMPLE, credentialName: a}")
            + https("https-b", '["*/*"]', "{mode: SIMPLE, credentialName: b}")
        )
        + WEB_VS,
        SECRETS,
    )
    assert server_names(same) == [None]
    cfg = translate(
        gateway(
            https("https-a", '["a/*"]', "{mode: SIMPLE, credentialName: a}")
            + https("https-b", '["b/*"]', "{mode: SIMPLE, credentialName: b}")
        )
        + WEB_VS,
        SECRETS,
    )
    assert server_names(cfg) == [None, None]


def test_duplicate_host_on_the_port_skips_the_later_server() -> None:
    cfg = translate(
        gateway(
            https("https-a", "[a.example.com]", "{mode: SIMPLE, credentialName: a}")
            + https("https-b", "[a.example.com]", "{mode: SIMPLE, credentialName: b}")
        )
        + WEB_VS,
        SECRETS,
    )
    assert len(chains(cfg)) == 1


# --------------------------------------------------------------------- downstream contexts


def test_simple_context() -> None:
    cfg = translate(
        gateway(https("h", "[a.example.com]", "{mode: SIMPLE, credentialName: a}")) + WEB_VS,
        SECRETS,
    )
    ctx = tls_context(chains(cfg)[0])
    common = ctx["common_tls_context"]
    assert ctx["require_client_certificate"] is False
    assert common["alpn_protocols"] == ["h2", "http/1.1"]
    assert "validation_context" not in common
    assert "tls_params" not in common  # TLS_AUTO: Envoy's floor (TLS 1.2) applies
    cert = common["tls_certificates"][0]
    assert (
        cert["certificate_chain"]["inline_string"]
        == SECRETS[("istio-system", "a")]["tls.crt"].decode()
    )
    assert cert["private_key"]["inline_string"].startswith("-----BEGIN")


def test_mutual_and_optional_mutual_contexts() -> None:
    secrets = {
        ("istio-system", "m"): {**key_pair("m.example.com"), "ca.crt": CA.cert_pem.bytes()},
        ("istio-system", "o"): key_pair("o.example.com", generic=True),
        ("istio-system", "o-cacert"): {"cacert": OTHER_CA.cert_pem.bytes()},
    }
    cfg = translate(
        gateway(
            https(
                "m",
                "[m.example.com]",
                "{mode: MUTUAL, credentialName: m, subjectAltNames: [client.example.com, 10.0.0.1]}",
            )
            + https("o", "[o.example.com]", "{mode: OPTIONAL_MUTUAL, credentialName: o}")
        )
        + WEB_VS,
        secrets,
    )
    mutual, optional = (tls_context(c) for c in chains(cfg))
    assert mutual["require_client_certificate"] is True
    validation = mutual["common_tls_context"]["validation_context"]
    assert validation["trusted_ca"]["inline_string"] == CA.cert_pem.bytes().decode()
    sans = validation["match_typed_subject_alt_names"]
    assert {"san_type": "DNS", "matcher": {"exact": "client.example.com"}} in sans
    assert {"san_type": "IP_ADDRESS", "matcher": {"exact": "10.0.0.1"}} in sans
    assert {"san_type": "IP_ADDRESS", "matcher": {"exact": "client.example.com"}} not in sans
    assert optional["require_client_certificate"] is False
    # A separate "<name>-cacert" secret is the CA.
    trusted = optional["common_tls_context"]["validation_context"]["trusted_ca"]
    assert trusted["inline_string"] == OTHER_CA.cert_pem.bytes().decode()


def test_protocol_versions_and_cipher_filtering() -> None:
    cfg = translate(
        gateway(
            https(
                "h",
                "[a.example.com]",
                "{mode: SIMPLE, credentialName: a, minProtocolVersion: TLSV1_3, "
                "maxProtocolVersion: TLSV1_3, cipherSuites: [fake, AES128-SHA, AES128-SHA]}",
            )
        )
        + WEB_VS,
        SECRETS,
    )
    params = tls_context(chains(cfg)[0])["common_tls_context"]["tls_params"]
    assert params == {
        "tls_minimum_protocol_version": "TLSv1_3",
        "cipher_suites": ["AES128-SHA"],
        "tls_maximum_protocol_version": "TLSv1_3",
    }


def test_filter_cipher_suites() -> None:
    assert filter_cipher_suites(["fake", "", "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES128-SHA"]) == [
        "ECDHE-RSA-AES128-SHA"
    ]
    assert filter_cipher_suites(["only-fake"]) == []


# --------------------------------------------------------------------- credentials


def test_credentials_resolve_in_the_proxy_namespace() -> None:
    """A Gateway in `apps` still reads istio-system secrets; its own namespace's are ignored."""
    text = gateway(https("h", "[a.example.com]", "{mode: SIMPLE, credentialName: a}"), ns="apps")
    vs = WEB_VS.replace("istio-system/gw", "apps/gw")
    assert len(chains(translate(text + vs, SECRETS))) == 1
    in_gateway_ns = {("apps", "a"): SECRETS[("istio-system", "a")]}
    assert translate(text + vs, in_gateway_ns).listeners == []


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "not found"),
        ({"tls.crt": key_pair("x")["tls.crt"]}, "no certificate and key"),
        ({"tls.crt": b"not pem", "tls.key": key_pair("x")["tls.key"]}, "not a PEM certificate"),
        ({"tls.crt": key_pair("x")["tls.crt"], "tls.key": b"junk"}, "not a PEM private key"),
        (
            {"tls.crt": key_pair("x")["tls.crt"], "tls.key": key_pair("y")["tls.key"]},
            "does not match",
        ),
        ({"cert": b"", "key": b"", **key_pair("x")}, None),  # empty generic keys: tls.* used
    ],
)
def test_key_pair_resolution(secret: dict[str, bytes] | None, message: str | None) -> None:
    world = World(resources=(), services=(), secrets={("ns", "s"): secret} if secret else {})
    if message is None:
        assert resolve_key_pair(world, "ns", "s").cert_chain.startswith("-----BEGIN")
    else:
        with pytest.raises(CredentialError, match=message) as info:
            resolve_key_pair(world, "ns", "s")
        assert "BEGIN" not in str(info.value)  # never echoes key material


def test_ca_resolution_prefers_the_cacert_secret() -> None:
    secrets = {
        ("ns", "s"): {"ca.crt": CA.cert_pem.bytes()},
        ("ns", "t"): {"ca.crt": CA.cert_pem.bytes()},
        ("ns", "t-cacert"): {"cacert": OTHER_CA.cert_pem.bytes()},
        ("ns", "u"): {"tls.crt": b"x"},
    }
    world = World(resources=(), services=(), secrets=secrets)
    assert resolve_ca(world, "ns", "s-cacert").certificates == CA.cert_pem.bytes().decode()
    assert resolve_ca(world, "ns", "t-cacert").certificates == OTHER_CA.cert_pem.bytes().decode()
    with pytest.raises(CredentialError, match="no CA certificate"):
        resolve_ca(world, "ns", "u-cacert")


def test_a_bad_secret_drops_only_its_server() -> None:
    secrets = {**SECRETS, ("istio-system", "bad"): {"tls.crt": b"-----BEGIN nonsense"}}
    cfg = translate(
        gateway(
            https("a", "[a.example.com]", "{mode: SIMPLE, credentialName: a}")
            + https("bad", "[bad.example.com]", "{mode: SIMPLE, credentialName: bad}")
            + https("m", "[m.example.com]", "{mode: MUTUAL, credentialName: b}")  # no CA
        )
        + WEB_VS,
        secrets,
    )
    assert server_names(cfg) == [["a.example.com"]]
    assert [r["name"] for r in cfg.routes] == ["https.443.a.gw.istio-system"]


@pytest.mark.parametrize(
    ("tls", "field"),
    [
        ("{mode: ISTIO_MUTUAL}", r"tls\.mode"),
        (
            "{mode: SIMPLE, serverCertificate: /etc/c.pem, privateKey: /etc/k.pem}",
            r"tls\.serverCertificate",
        ),
        ("{mode: AUTO_PASSTHROUGH}", r"tls\.mode"),
    ],
)
def test_unsupported_server_tls(tls: str, field: str) -> None:
    with pytest.raises(UnsupportedFeature, match=rf"spec\.servers\[0\]\.{field}"):
        translate(gateway(https("h", "[a.example.com]", tls)) + WEB_VS, SECRETS)


def test_unset_mode_is_passthrough() -> None:
    """The API's zero value: a credential without a mode does not terminate."""
    cfg = translate(gateway(https("h", "[a.example.com]", "{credentialName: a}")) + WEB_VS, SECRETS)
    assert cfg.listeners == []  # passthrough without tls routes: no chain


# --------------------------------------------------------------------- passthrough and TCP


TLS_VS = """
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: NAME, namespace: default}
spec:
  hosts: HOSTS
  gateways: [istio-system/gw]
  tls:
TLS
"""


def tls_vs(tls: str, name: str = "tls", hosts: str = '["*.example.com"]') -> str:
    return TLS_VS.replace("NAME", name).replace("HOSTS", hosts).replace("TLS", tls)


def tcp_proxy(chain: dict[str, Any]) -> dict[str, Any]:
    (f,) = chain["filters"]
    assert f["name"] == "envoy.filters.network.tcp_proxy"
    config: dict[str, Any] = f["typed_config"]
    return config


def test_passthrough_chains_per_tls_match() -> None:
    server = https("tls", '["*.example.com"]', "{mode: PASSTHROUGH}", protocol="TLS")
    routes = """  - match: [{sniHosts: [a.example.com], port: 443}, {sniHosts: [b.example.com], port: 8443}]
    route: [{destination: {host: pass}}]
  - match: [{sniHosts: [c.example.com, d.example.com], gateways: [istio-system/gw]}]
    route:
    - {destination: {host: pass}, weight: 3}
    - {destination: {host: web, port: {number: 80}}, weight: 1}
    - {destination: {host: db}, weight: 0}
  - match: [{sniHosts: [e.example.com], gateways: [other]}]
    route: [{destination: {host: pass}}]
"""
    dup = "  - match: [{sniHosts: [a.example.com]}]\n    route: [{destination: {host: web}}]\n"
    unmatched = "  - match: [{sniHosts: [x.other.org]}]\n    route: [{destination: {host: web}}]\n"
    cfg = translate(
        gateway(server)
        + tls_vs(routes)
        + tls_vs(dup, name="z-later")
        + tls_vs(unmatched, name="elsewhere", hosts="[x.other.org]")
    )
    assert server_names(cfg) == [["a.example.com"], ["c.example.com", "d.example.com"]]
    first, second = (tcp_proxy(c) for c in chains(cfg))
    assert first["cluster"] == "outbound|443||pass.default.svc.cluster.local"
    assert "transport_socket" not in chains(cfg)[0]
    assert second["weighted_clusters"]["clusters"] == [
        {"name": "outbound|443||pass.default.svc.cluster.local", "weight": 3},
        {"name": "outbound|80||web.default.svc.cluster.local", "weight": 1},
    ]
    assert second["stat_prefix"] == "tls.default"


def test_tcp_server_uses_the_first_matching_vs() -> None:
    server = "  - port: {number: 31400, name: tcp, protocol: TCP}\n    hosts: ['*']\n"

    def vs(name: str, port: int, host: str) -> str:
        return f"""
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: default}}
spec:
  hosts: ["*"]
  gateways: [istio-system/gw]
  tcp:
  - match: [{{port: {port}}}]
    route: [{{destination: {{host: {host}}}}}]
"""

    cfg = translate(
        gateway(server)
        + vs("a-wrong-port", 1, "web")
        + vs("b", 31400, "db")
        + vs("c", 31400, "web")
    )
    (chain,) = chains(cfg, 31400)
    assert tcp_proxy(chain)["cluster"] == "outbound|9000||db.default.svc.cluster.local"
    assert "listener_filters" not in listener(cfg, 31400)
    assert translate(gateway(server) + vs("a", 1, "web")).listeners == []


def test_tls_server_terminates_then_uses_tcp_routes() -> None:
    server = https(
        "tls", "[db.example.com]", "{mode: SIMPLE, credentialName: a}", port=9443, protocol="TLS"
    )
    vs = """
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: default}
spec:
  hosts: [db.example.com]
  gateways: [istio-system/gw]
  tcp:
  - route: [{destination: {host: db}}]
"""
    cfg = translate(gateway(server) + vs, SECRETS)
    (chain,) = chains(cfg, 9443)
    assert chain["filter_chain_match"] == {"server_names": ["db.example.com"]}
    assert tcp_proxy(chain)["cluster"] == "outbound|9000||db.default.svc.cluster.local"
    assert tls_context(chain)["require_client_certificate"] is False


# --------------------------------------------------------------------- DestinationRule TLS


def dr(policy: str, host: str = "web") -> str:
    return f"""
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {host}, namespace: default}}
spec:
  host: {host}
  trafficPolicy: {policy}
"""


def cluster(cfg: EnvoyConfig, name: str) -> dict[str, Any] | None:
    found = [c for c in cfg.clusters if c["name"] == name]
    return dict(found[0]) if found else None


WEB80 = "outbound|80||web.default.svc.cluster.local"
HTTP_GW = gateway("  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ['*']\n")


def upstream(c: dict[str, Any] | None) -> dict[str, Any]:
    assert c is not None
    context: dict[str, Any] = c["transport_socket"]["typed_config"]
    return context


def http_options(c: dict[str, Any] | None) -> dict[str, Any]:
    assert c is not None
    options: dict[str, Any] = c["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    return options


def test_dr_simple_with_credential_ca_and_sni() -> None:
    secrets = {("istio-system", "ca"): {"ca.crt": CA.cert_pem.bytes()}}
    cfg = translate(
        HTTP_GW + WEB_VS + dr("{tls: {mode: SIMPLE, credentialName: ca, sni: backend.internal}}"),
        secrets,
    )
    ctx = upstream(cluster(cfg, WEB80))
    assert ctx["sni"] == "backend.internal"
    common = ctx["common_tls_context"]
    assert (
        common["validation_context"]["trusted_ca"]["inline_string"] == CA.cert_pem.bytes().decode()
    )
    assert "tls_certificates" not in common and "alpn_protocols" not in common
    assert "typed_extension_protocol_options" not in (cluster(cfg, WEB80) or {})  # no auto_sni


def test_dr_simple_without_ca_uses_the_system_store_with_auto_sni() -> None:
    cfg = translate(HTTP_GW + WEB_VS + dr("{tls: {mode: SIMPLE}}"))
    c = cluster(cfg, WEB80)
    validation = upstream(c)["common_tls_context"]["validation_context"]
    assert validation == {"trusted_ca": {"filename": "/etc/ssl/certs/ca-certificates.crt"}}
    assert http_options(c)["upstream_http_protocol_options"] == {
        "auto_sni": True,
        "auto_san_validation": True,
    }
    assert http_options(c)["explicit_http_config"] == {"http_protocol_options": {}}
    insecure = cluster(
        translate(HTTP_GW + WEB_VS + dr("{tls: {mode: SIMPLE, insecureSkipVerify: true}}")), WEB80
    )
    assert upstream(insecure)["common_tls_context"]["validation_context"] == {}
    assert http_options(insecure)["upstream_http_protocol_options"] == {"auto_sni": True}


def test_dr_mutual_with_credential_h2_alpn_and_subset_precedence() -> None:
    grpc = svc("grpc", ((7070, "GRPC"),))
    secrets = {
        ("istio-system", "client"): {**key_pair("client"), "ca.crt": CA.cert_pem.bytes()},
    }
    policy = """{tls: {mode: MUTUAL, credentialName: client, subjectAltNames: [grpc.internal]}}
  subsets:
  - name: plain
    labels: {version: v1}
    trafficPolicy: {tls: {mode: DISABLE}}"""
    cfg = translate(HTTP_GW + WEB_VS + dr(policy, host="grpc"), secrets, services=(*SERVICES, grpc))
    ctx = upstream(cluster(cfg, "outbound|7070||grpc.default.svc.cluster.local"))
    common = ctx["common_tls_context"]
    assert common["alpn_protocols"] == ["h2"]
    assert common["tls_certificates"][0]["certificate_chain"]["inline_string"].startswith("-----")
    assert {"san_type": "DNS", "matcher": {"exact": "grpc.internal"}} in common[
        "validation_context"
    ]["match_typed_subject_alt_names"]
    plain = cluster(cfg, "outbound|7070|plain|grpc.default.svc.cluster.local")
    assert plain is not None and "transport_socket" not in plain


def test_dr_missing_credential_leaves_the_cluster_out() -> None:
    cfg = translate(HTTP_GW + WEB_VS + dr("{tls: {mode: MUTUAL, credentialName: nope}}"))
    assert cluster(cfg, WEB80) is None
    assert cluster(cfg, "outbound|9000||db.default.svc.cluster.local") is not None


@pytest.mark.parametrize(
    ("tls", "field"),
    [
        ("{mode: ISTIO_MUTUAL}", r"tls\.mode"),
        (
            "{mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem}",
            r"tls\.clientCertificate",
        ),
        ("{mode: SIMPLE, caCertificates: /ca.pem}", r"tls\.caCertificates"),
    ],
)
def test_dr_unsupported_tls(tls: str, field: str) -> None:
    with pytest.raises(UnsupportedFeature, match=field):
        translate(HTTP_GW + WEB_VS + dr(f"{{tls: {tls}}}"))


def test_use_client_protocol() -> None:
    grpc = svc("grpc", ((7070, "GRPC"),))
    cfg = translate(
        HTTP_GW + WEB_VS + dr("{connectionPool: {http: {useClientProtocol: true}}}", host="grpc"),
        services=(*SERVICES, grpc),
    )
    options = http_options(cluster(cfg, "outbound|7070||grpc.default.svc.cluster.local"))
    assert "explicit_http_config" not in options
    assert options["use_downstream_protocol_config"] == {
        "http_protocol_options": {},
        "http2_protocol_options": {},
    }


# --------------------------------------------------------------------- Envoy accepts the contexts


def test_envoy_validates_tls_contexts_with_real_certificates(tmp_path: Path) -> None:
    secrets = {
        ("istio-system", "a"): {**key_pair("a.example.com"), "ca.crt": CA.cert_pem.bytes()},
        ("istio-system", "o"): key_pair("o.example.com", generic=True),
        ("istio-system", "o-cacert"): {"cacert": OTHER_CA.cert_pem.bytes()},
        ("istio-system", "client"): {**key_pair("client"), "ca.crt": CA.cert_pem.bytes()},
    }
    text = (
        gateway(
            https("a", "[a.example.com]", "{mode: MUTUAL, credentialName: a, subjectAltNames: [c]}")
            + https(
                "o",
                "['*.o.example.com']",
                "{mode: OPTIONAL_MUTUAL, credentialName: o, cipherSuites: [AES128-SHA, x]}",
            )
            + https("p", "[p.example.com]", "{mode: PASSTHROUGH}", protocol="TLS")
        )
        + WEB_VS
        + tls_vs(
            "  - match: [{sniHosts: [p.example.com]}]\n    route: [{destination: {host: pass}}]\n"
        )
        + dr("{tls: {mode: MUTUAL, credentialName: client, sni: web.internal}}")
    )
    cfg = translate(text, secrets)
    assert len(chains(cfg)) == 3
    bootstrap = tmp_path / "bootstrap.json"
    bootstrap.write_text(json.dumps(_static_bootstrap(cfg, tmp_path)), encoding="utf-8")
    proc = subprocess.run(
        [_envoy(), "--mode", "validate", "-c", str(bootstrap), "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
