"""Gateway spec.tls.frontend -> listener servers that verify client certificates (conversion.go buildTLS)."""

from __future__ import annotations

from typing import Any

import pytest
import trustme
import yaml

from pytest_meshgate._cases.model.istio import Gateway
from pytest_meshgate._cases.model.resources import parse_resource
from pytest_meshgate._targets.local.gatewayapi import Conversion, ConversionInputs, convert
from pytest_meshgate._targets.local.translate.tls import downstream_tls_context
from pytest_meshgate._targets.local.world import World

CA = trustme.CA()
LEAF = CA.issue_cert("a.example.com")
SECRETS = {
    ("infra", "cert"): {
        "tls.crt": LEAF.cert_chain_pems[0].bytes(),
        "tls.key": LEAF.private_key_pem.bytes(),
    },
    ("infra", "ca-secret"): {"ca.crt": CA.cert_pem.bytes()},
}
CONFIG_MAPS = {
    ("infra", "ca"): {"ca.crt": CA.cert_pem.bytes().decode()},
    ("infra", "not-pem"): {"ca.crt": "not a certificate"},
    ("other", "ca"): {"ca.crt": CA.cert_pem.bytes().decode()},
}


def gateway(frontend: str, options: str = "") -> str:
    return f"""
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: infra}}
spec:
  gatewayClassName: istio
  tls:
    frontend: {frontend}
  listeners:
  - {{name: https, port: 443, protocol: HTTPS, tls: {{certificateRefs: [{{name: cert}}]{options}}}}}
  - {{name: other, port: 8443, protocol: HTTPS, tls: {{certificateRefs: [{{name: cert}}]}}}}
  - {{name: http, port: 80, protocol: HTTP}}
"""


def run(text: str) -> Conversion:
    resources = tuple(parse_resource(d) for d in yaml.safe_load_all(text) if d)
    return convert(ConversionInputs(resources, (), SECRETS, config_maps=CONFIG_MAPS))


def servers(conversion: Conversion) -> dict[int, Any]:
    return {
        r.spec.servers[0].port.number: r.spec.servers[0].tls
        for r in conversion.resources
        if isinstance(r, Gateway)
    }


def listener(conversion: Conversion, name: str) -> dict[str, tuple[str, str, str]]:
    (status,) = [s for s in conversion.status if s.listener == name]
    return {c.type: (c.status, c.reason, c.message) for c in status.conditions}


def validation(ref: str, mode: str = "") -> str:
    return f"{{validation: {{caCertificateRefs: [{ref}]{mode}}}}}"


CONFIG_MAP_CA = '{group: "", kind: ConfigMap, name: ca}'


def test_default_and_per_port_validation_become_mutual_tls() -> None:
    per_port = validation('{group: "", kind: Secret, name: ca-secret}')
    frontend = (
        f"{{default: {validation(CONFIG_MAP_CA)}, perPort: [{{port: 8443, tls: {per_port}}}]}}"
    )
    tls = servers(run(gateway(frontend)))
    assert (tls[443].mode, tls[443].ca_cert_credential_name, tls[443].insecure_skip_verify) == (
        "MUTUAL",
        "configmap://infra/ca-cacert",
        False,
    )
    assert tls[8443].ca_cert_credential_name == "kubernetes-gateway://infra/ca-secret-cacert"
    assert tls[80] is None


def test_insecure_fallback_asks_for_any_certificate_and_says_so() -> None:
    conversion = run(
        gateway(f"{{default: {validation(CONFIG_MAP_CA, ', mode: AllowInsecureFallback')}}}")
    )
    tls = servers(conversion)[443]
    assert (tls.mode, tls.insecure_skip_verify) == ("OPTIONAL_MUTUAL", True)
    (status,) = [
        s for s in conversion.status if s.resource == "Gateway/infra/gw" and not s.listener
    ]
    insecure = {c.type: c for c in status.conditions}["InsecureFrontendValidationMode"]
    assert (insecure.status, insecure.reason) == ("True", "ConfigurationChanged")
    # Envoy asks for a certificate and accepts an untrusted one (ACCEPT_UNTRUSTED).
    world = World(resources=(), services=(), secrets=SECRETS, config_maps=CONFIG_MAPS)
    context = downstream_tls_context(world, "infra", tls)
    assert context["require_client_certificate"] is False
    assert context["common_tls_context"]["validation_context"]["trust_chain_verification"] == (
        "ACCEPT_UNTRUSTED"
    )


def test_the_terminate_mode_option_overrides_the_validation_mode() -> None:
    options = ", options: {gateway.istio.io/tls-terminate-mode: MUTUAL}"
    frontend = f"{{default: {validation(CONFIG_MAP_CA, ', mode: AllowInsecureFallback')}}}"
    tls = servers(run(gateway(frontend, options)))[443]
    assert (tls.mode, tls.insecure_skip_verify) == ("MUTUAL", False)


@pytest.mark.parametrize(
    ("ref", "reason", "message"),
    [
        (
            '{group: "", kind: ConfigMap, name: nope}',
            "InvalidCACertificateRef",
            "invalid CA certificate reference /ConfigMap/nope.infra, configmap infra/nope not found",
        ),
        (
            '{group: "", kind: ConfigMap, name: not-pem}',
            "InvalidCACertificateRef",
            "invalid CA certificate reference /ConfigMap/not-pem.infra, the bundle is malformed",
        ),
        (
            '{group: "", kind: Service, name: svc}',
            "InvalidCACertificateKind",
            "invalid CA certificate reference /Service/svc.infra, only secret and configmap are "
            "allowed",
        ),
        (
            '{group: "", kind: ConfigMap, name: ca, namespace: other}',
            "RefNotPermitted",
            'caCertificateRef other/ca not accessible to a Gateway in namespace "infra" '
            "(missing a ReferenceGrant?)",
        ),
        (
            f"{CONFIG_MAP_CA}, {CONFIG_MAP_CA}",
            "InvalidCACertificateRef",
            "only one caCertificateRef is supported",
        ),
    ],
)
def test_an_unusable_ca_leaves_the_listener_unaccepted(ref: str, reason: str, message: str) -> None:
    conversion = run(gateway(f"{{default: {validation(ref)}}}"))
    got = listener(conversion, "https")
    assert got["ResolvedRefs"] == ("False", reason, message)
    assert got["Accepted"] == ("False", "NoValidCACertificate", message)
    assert got["Programmed"][:2] == ("False", "Invalid")
    assert 443 not in servers(conversion)  # no server: nothing terminates TLS there
    assert listener(conversion, "http")["Accepted"][0] == "True"


def test_a_backend_client_certificate_is_unsupported_not_ignored() -> None:
    text = gateway(f"{{default: {validation(CONFIG_MAP_CA)}}}").replace(
        "  tls:\n    frontend:",
        "  tls:\n    backend: {clientCertificateRef: {name: cert}}\n    frontend:",
    )
    (reason,) = run(text).unsupported
    assert "spec.tls.backend" in reason
