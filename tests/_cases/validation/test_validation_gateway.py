"""Gateway validation: Istio's tables (validation_test.go TestValidateGateway,
TestValidateServer, TestValidateServerPort, TestValidateTlsOptions) and the
measured false passes."""

from __future__ import annotations

from typing import Any

import pytest
from validating import check_row, gateway, gateway_tls, outcome, server

# validation_test.go TestValidateGateway (Gateway-level rows).
GATEWAY_ROWS: list[tuple[str, dict[str, Any], str, str]] = [
    ("empty", gateway(), "gateway must have at least one server", ""),
    ("happy domain", gateway(server(number=7, protocol="http", name="name1")), "", ""),
    (
        "k8s gateway-api ~ namespace without gateway semantics",
        gateway(server(["~/foo.bar.com"], 7, "http", "name1")),
        "invalid namespace value",
        "",
    ),
    (
        "invalid port",
        gateway(server(number=66000, protocol="http")),
        "less than or equal to 65535",
        "",
    ),
    (
        "duplicate port names",
        gateway(server(number=80, name="foo"), server(["scooby.doo.com"], 8080, name="foo")),
        "port names in servers must be unique: duplicate name foo",
        "",
    ),
    ("invalid domain", gateway(server(["foo.*.bar.com"], 7, "http")), "domain name", ""),
    (
        "valid httpsRedirect",
        gateway(server(["bar.com"], 80, "http", tls={"httpsRedirect": True})),
        "",
        "",
    ),
    (
        "invalid https httpsRedirect",
        gateway(server(["bar.com"], 80, "https", "https", tls={"httpsRedirect": True})),
        "",
        "tls.httpsRedirect should only be used with http servers",
    ),
    (
        "invalid partial wildcard",
        gateway(server(["*bar.com"], 443, "tls", "tls", tls={"mode": "ISTIO_MUTUAL"})),
        'partial wildcard "*bar.com" not allowed',
        "",
    ),
]

# validation_test.go TestValidateServer (rows the model can hold: ports 1-65535).
SERVER_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("happy", server(number=7, protocol="http"), ""),
    ("happy ip", server(["1.1.1.1"], 7, "http"), ""),
    ("happy ns/name", server(["ns1/foo.bar.com"], 7, "http"), ""),
    ("happy */name", server(["*/foo.bar.com"], 7, "http"), ""),
    ("happy ./name", server(["./foo.bar.com"], 7, "http"), ""),
    ("invalid ~/name", server(["~/foo.bar.com"], 7, "http"), "namespace"),
    ("invalid domain ns/name format", server(["ns1/foo.*.bar.com"], 7, "http"), "domain"),
    ("invalid domain", server(["foo.*.bar.com"], 7, "http"), "domain"),
    ("invalid short name host", server(["foo"], 7, "http"), "short names"),
    ("invalid port", server(number=66000, protocol="http"), "65535"),
    ("invalid tls options", server(number=1, protocol="http", tls={"mode": "SIMPLE"}), "TLS"),
    ("no tls on HTTPS", server(number=10000, protocol="https", name="https"), "must have TLS"),
    (
        "tls on HTTP",
        server(number=10000, protocol="http", tls={"mode": "SIMPLE"}),
        "cannot have TLS",
    ),
    (
        "tls redirect on HTTP",
        server(number=10000, protocol="http", tls={"httpsRedirect": True}),
        "",
    ),
    ("bind ip", server(number=7, protocol="http", bind="127.0.0.1"), ""),
    (
        "bind unix path with invalid port",
        server(number=7, protocol="http", bind="unix://@foobar"),
        "port number must be 0 for unix domain socket",
    ),
    ("bind bad ip", server(number=7, protocol="http", bind="foo.bar"), "foo.bar is not a valid IP"),
]

# validation_test.go TestValidateServerPort.
PORT_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("no name", server(number=1, protocol="http", name=None), "port name must be set"),
    ("happy", server(number=1, protocol="http", name="Henry"), ""),
    ("invalid protocol", server(number=1, protocol="kafka", name="Henry"), "invalid protocol"),
    ("invalid number", server(number=1 << 30, protocol="http"), "65535"),
]

CERT = {"serverCertificate": "Captain Jean-Luc Picard", "privateKey": "Khan Noonien Singh"}
CA = {"caCertificates": "Commander William T. Riker"}
TWO_CERTS = [CERT, {"serverCertificate": "Lt Cmdr Data", "privateKey": "Lt Cmdr Data"}]
ONE_OF = "one of credential_name, credential_names"

# validation_test.go TestValidateTlsOptions: (name, tls, error, warning).
TLS_ROWS: list[tuple[str, dict[str, Any], str, str]] = [
    ("simple", {"mode": "SIMPLE", **CERT}, "", ""),
    ("simple with client bundle", {"mode": "SIMPLE", **CERT, **CA}, "", ""),
    ("simple sds with client bundle", {"mode": "SIMPLE", "credentialName": "sds-name"}, "", ""),
    (
        "simple sds with client bundle but with server cert",
        {"mode": "SIMPLE", **CERT, "credentialName": "sds-name"},
        ONE_OF,
        "",
    ),
    ("simple no server cert", {"mode": "SIMPLE", "privateKey": "Khan"}, "server certificate", ""),
    ("simple no private key", {"mode": "SIMPLE", "serverCertificate": "Picard"}, "private key", ""),
    # The CRD (maxItems: 2) refuses a third certificate before the webhook could warn.
    (
        "simple more than 2 certs",
        {"mode": "SIMPLE", "tlsCertificates": [*TWO_CERTS, CERT]},
        "at most 2",
        "",
    ),
    (
        "simple with both server cert and tls certs",
        {"mode": "SIMPLE", **CERT, "tlsCertificates": TWO_CERTS},
        ONE_OF,
        "",
    ),
    (
        "simple 2 certs with missing certificate",
        {"mode": "SIMPLE", "tlsCertificates": [{"privateKey": "Riker"}, CERT]},
        "server certificate",
        "",
    ),
    (
        "simple 2 certs with missing private key",
        {"mode": "SIMPLE", "tlsCertificates": [{"serverCertificate": "Picard"}, CERT]},
        "private key",
        "",
    ),
    (
        "simple sds no server cert",
        {"mode": "SIMPLE", "privateKey": "Khan", "credentialName": "sds-name"},
        "",
        "",
    ),
    ("mutual", {"mode": "MUTUAL", **CERT, **CA}, "", ""),
    ("mutual sds", {"mode": "MUTUAL", **CA, "credentialName": "sds-name"}, "", ""),
    (
        "mutual sds with credential name and server cert",
        {"mode": "MUTUAL", **CERT, **CA, "credentialName": "sds-name"},
        ONE_OF,
        "",
    ),
    (
        "mutual sds with credential name and tls certs",
        {"mode": "MUTUAL", **CA, "tlsCertificates": [CERT], "credentialName": "sds-name"},
        ONE_OF,
        "",
    ),
    (
        "mutual no server cert",
        {"mode": "MUTUAL", "privateKey": "Khan", **CA},
        "server certificate",
        "",
    ),
    (
        "credential names and certificates",
        {"mode": "MUTUAL", **CERT, "credentialNames": ["server-certs"]},
        ONE_OF,
        "",
    ),
    (
        "credential names and tls certificates (the CRD's CEL rule first)",
        {"mode": "MUTUAL", "tlsCertificates": [CERT], "credentialNames": ["server-certs"]},
        "only one of credentialNames or tlsCertificates can be set",
        "",
    ),
    ("only tls certificates", {"mode": "MUTUAL", "tlsCertificates": [CERT], **CA}, "", ""),
    ("mutual no client CA bundle", {"mode": "MUTUAL", **CERT}, "client CA bundle", ""),
    ("mutual no certs: server", {"mode": "MUTUAL"}, "server certificate", ""),
    ("mutual no certs: key", {"mode": "MUTUAL"}, "private key", ""),
    ("mutual no certs: CA", {"mode": "MUTUAL"}, "client CA bundle", ""),
    (
        "mutual 2 certs with missing CA certificate",
        {"mode": "MUTUAL", "tlsCertificates": TWO_CERTS},
        "client CA bundle",
        "",
    ),
    ("optional mutual no certs", {"mode": "OPTIONAL_MUTUAL"}, "client CA bundle", ""),
    (
        "pass through sds no certs",
        {"mode": "PASSTHROUGH", "credentialName": "sds-name"},
        "",
        "PASSTHROUGH mode does not use certificates",
    ),
    (
        "pass through sds crl",
        {"mode": "PASSTHROUGH", "caCrl": "scrl"},
        "",
        "PASSTHROUGH mode does not use certificates",
    ),
    ("istio_mutual no certs", {"mode": "ISTIO_MUTUAL"}, "", ""),
    (
        "istio_mutual with server cert",
        {"mode": "ISTIO_MUTUAL", "serverCertificate": "Picard"},
        "cannot have associated server cert",
        "",
    ),
    (
        "istio_mutual with client bundle",
        {"mode": "ISTIO_MUTUAL", **CA},
        "cannot have associated",
        "",
    ),
    (
        "istio_mutual with private key",
        {"mode": "ISTIO_MUTUAL", "privateKey": "Khan"},
        "cannot have associated private key",
        "",
    ),
    (
        "istio_mutual with credential name",
        {"mode": "ISTIO_MUTUAL", "credentialName": "some-cred"},
        "cannot have associated credentialName",
        "",
    ),
    (
        "invalid cipher suites",
        {"mode": "SIMPLE", "credentialName": "sds-name", "cipherSuites": ["not-a-cipher-suite"]},
        "",
        "not-a-cipher-suite",
    ),
    (
        "valid cipher suites",
        {
            "mode": "SIMPLE",
            "credentialName": "sds-name",
            "cipherSuites": ["ECDHE-ECDSA-AES128-SHA"],
        },
        "",
        "",
    ),
    (
        "cipher suites operations",
        {
            "mode": "SIMPLE",
            "credentialName": "sds-name",
            "cipherSuites": ["-ECDHE-ECDSA-AES128-SHA"],
        },
        "",
        "",
    ),
    (
        "duplicate cipher suites",
        {
            "mode": "SIMPLE",
            "credentialName": "sds-name",
            "cipherSuites": ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES128-SHA"],
        },
        "",
        "ignoring duplicate cipher suites: [ECDHE-ECDSA-AES128-SHA]",
    ),
    (
        "invalid cipher suites with invalid config",
        {"mode": "SIMPLE", "cipherSuites": ["not-a-cipher-suite"]},
        "requires a private key",
        "not-a-cipher-suite",
    ),
    (
        "crl specified for SIMPLE TLS",
        {"mode": "SIMPLE", **CERT, "caCrl": "crl"},
        "CRL is not supported with SIMPLE TLS",
        "",
    ),
    (
        "crl specified for CredentialName",
        {"mode": "SIMPLE", "caCrl": "crl", "credentialName": "credential"},
        "",
        "",
    ),
    (
        "mutual no server cert",
        {"mode": "MUTUAL", "privateKey": "Khan", **CA},
        "MUTUAL TLS requires a server certificate",
        "",
    ),
    (
        "mutual no private key",
        {"mode": "MUTUAL", "serverCertificate": "Picard", **CA},
        "MUTUAL TLS requires a private key",
        "",
    ),
    ("with CredentialNames", {"mode": "MUTUAL", "credentialNames": ["c1", "c2"]}, "", ""),
    (
        "TLS below 1.2 without ciphers",
        {"mode": "SIMPLE", "credentialName": "c", "minProtocolVersion": "TLSV1_1"},
        "",
        "TLS version below TLSV1_2 require setting compatible ciphers",
    ),
    (
        "the CRD: credentialName and credentialNames",
        {"mode": "SIMPLE", "credentialName": "a", "credentialNames": ["b"]},
        "only one of credentialName or credentialNames can be set",
        "",
    ),
    (
        "the CRD: an empty credentialNames",
        {"mode": "SIMPLE", "credentialName": "a", "credentialNames": []},
        "credentialNames in body should have at least 1 items",
        "",
    ),
]


@pytest.mark.parametrize(
    ("name", "manifest", "error", "warning"), GATEWAY_ROWS, ids=[r[0] for r in GATEWAY_ROWS]
)
def test_validate_gateway(name: str, manifest: dict[str, Any], error: str, warning: str) -> None:
    check_row(manifest, error, warning)


@pytest.mark.parametrize(("name", "srv", "error"), SERVER_ROWS, ids=[r[0] for r in SERVER_ROWS])
def test_validate_server(name: str, srv: dict[str, Any], error: str) -> None:
    check_row(gateway(srv), error)


@pytest.mark.parametrize(("name", "srv", "error"), PORT_ROWS, ids=[r[0] for r in PORT_ROWS])
def test_validate_server_port(name: str, srv: dict[str, Any], error: str) -> None:
    check_row(gateway(srv), error)


@pytest.mark.parametrize(
    ("name", "tls", "error", "warning"), TLS_ROWS, ids=[r[0] for r in TLS_ROWS]
)
def test_validate_tls_options(name: str, tls: dict[str, Any], error: str, warning: str) -> None:
    check_row(gateway_tls(tls), error, warning)


# ------------------------------------------------------------------ the measured false passes


def test_a_gateway_without_servers_is_rejected() -> None:
    assert outcome(gateway()).errors == ["spec.servers: gateway must have at least one server"]


def test_a_bogus_protocol_is_rejected() -> None:
    result = outcome(gateway(server(protocol="BOGUS")))
    assert result.errors == [
        'spec.servers[0].port.protocol: invalid protocol "BOGUS", supported protocols are HTTP, '
        "HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP"
    ]


def test_duplicate_port_names_are_rejected_at_the_second() -> None:
    result = outcome(gateway(server(), server(["b.example.com"], 81)))
    assert result.errors == [
        "spec.servers[1].port.name: port names in servers must be unique: duplicate name http"
    ]


def test_a_port_without_a_name_is_rejected() -> None:
    result = outcome(gateway(server(name=None)))
    assert result.errors == [
        'spec.servers[0].port.name: port name must be set: number:80 protocol:"HTTP"'
    ]


def test_an_https_server_without_tls_is_rejected() -> None:
    result = outcome(gateway(server(number=443, protocol="HTTPS", name="https")))
    assert result.errors == [
        "spec.servers[0].port.protocol: server must have TLS settings for HTTPS/TLS protocols"
    ]


def test_a_gateway_name_with_a_dot_is_rejected() -> None:
    result = outcome(gateway(server(), name="gw.v1"))
    assert 'metadata.name: invalid gateway name: "gw.v1"' in result.errors


def test_target_port_has_no_impact_on_gateways() -> None:
    srv = server()
    srv["port"]["targetPort"] = 8080
    assert outcome(gateway(srv)).errors == [
        "spec.servers[0].port.targetPort: targetPort has no impact on Gateways"
    ]


def test_tls_settings_on_a_tcp_server_are_rejected() -> None:
    srv = server(
        number=31400, protocol="TCP", name="tcp", tls={"mode": "SIMPLE", "credentialName": "c"}
    )
    assert outcome(gateway(srv)).errors == [
        "spec.servers[0].tls: server cannot have TLS settings for non HTTPS/TLS ports"
    ]


def test_gateway_semantics_relax_the_name_and_the_tilde_namespace() -> None:
    semantics = {"internal.istio.io/gateway-semantics": "gateway"}
    manifest = gateway(server(["~/foo.bar.com"]), name="gw.v1", annotations=semantics)
    assert outcome(manifest).errors == []
