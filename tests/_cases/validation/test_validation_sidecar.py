"""Sidecar validation: Istio's table (validation_test.go TestValidateSidecar)."""

from __future__ import annotations

from typing import Any

import pytest
from validating import check_row, outcome, sidecar

ALL = [{"hosts": ["*/*"]}]


def sport(number: int, protocol: str = "http", name: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"number": number, "protocol": protocol}
    if name is not None:
        out["name"] = name
    return out


def ingress(default_endpoint: str | None = "127.0.0.1:110", **listener: Any) -> dict[str, Any]:
    out = {"port": sport(90, "http", "foo"), **listener}
    if default_endpoint is not None:
        out["defaultEndpoint"] = default_endpoint
    return out


def tls_ingress(tls: dict[str, Any], protocol: str = "HTTPS") -> dict[str, Any]:
    return {
        "ingress": [
            {"port": sport(443, protocol, "https"), "defaultEndpoint": "127.0.0.1:8443", "tls": tls}
        ]
    }


PROXY = {"host": "foo.bar", "subset": "shiny", "port": {"number": 5000}}
SIMPLE = {"mode": "SIMPLE", "serverCertificate": "cert", "privateKey": "key"}

# TestValidateSidecar: (name, spec, error, warning).
SIDECAR_ROWS: list[tuple[str, dict[str, Any], str, str]] = [
    ("empty ingress and egress", {}, "sidecar: empty configuration provided", ""),
    ("default", {"egress": ALL}, "", ""),
    (
        "workload selector without labels",
        {"egress": ALL, "workloadSelector": {}},
        "",
        "sidecar: workload selector specified without labels, will be applied to all services in namespace",
    ),
    ("import local namespace with wildcard", {"egress": [{"hosts": ["./*"]}]}, "", ""),
    ("import local namespace with fqdn", {"egress": [{"hosts": ["./foo.com"]}]}, "", ""),
    ("import nothing", {"egress": [{"hosts": ["~/*"]}]}, "", ""),
    ("import all except a namespace", {"egress": [{"hosts": ["*/*", "~ns1/*"]}]}, "", ""),
    ("import all except an exact host", {"egress": [{"hosts": ["*/*", "~/foo.com"]}]}, "", ""),
    (
        "exclude with invalid namespace",
        {"egress": [{"hosts": ["*/*", "~Invalid_NS/*"]}]},
        'invalid namespace value "~Invalid_NS" in sidecar',
        "",
    ),
    (
        "bad egress host 1",
        {"egress": [{"hosts": ["*"]}]},
        "host must be of form namespace/dnsName",
        "",
    ),
    (
        "bad egress host 2",
        {"egress": [{"hosts": ["/"]}]},
        "config namespace and dnsName in host entry cannot be empty",
        "",
    ),
    ("empty egress host", {"egress": [{"hosts": []}]}, "at least 1 item", ""),
    (
        "multiple wildcard egress",
        {"egress": [{"hosts": ["*/foo.com"]}, {"hosts": ["ns1/bar.com"]}]},
        "sidecar: the egress listener with empty port should be the last listener",
        "",
    ),
    (
        "wildcard egress not in end",
        {
            "egress": [
                {"hosts": ["*/foo.com"]},
                {"port": sport(8080, "http", "h8080"), "hosts": ["ns1/bar.com"]},
            ]
        },
        "sidecar: the egress listener with empty port should be the last listener in the list",
        "",
    ),
    (
        "invalid Port",
        {"egress": [{"port": sport(65000, "http1", ""), "hosts": ["ns1/bar.com"]}]},
        "unsupported protocol: http1",
        "",
    ),
    ("Port without name", {"egress": [{"port": sport(8080), "hosts": ["ns1/bar.com"]}]}, "", ""),
    (
        "UDS bind in outbound",
        {
            "egress": [
                {
                    "port": sport(0, "http", "uds"),
                    "hosts": ["ns1/bar.com"],
                    "bind": "unix:///@foo/bar/com",
                }
            ]
        },
        "",
        "",
    ),
    (
        "UDS bind in inbound",
        {
            "ingress": [
                {
                    "port": sport(0, "http", "uds"),
                    "bind": "unix:///@foo/bar/com",
                    "defaultEndpoint": "127.0.0.1:9999",
                }
            ]
        },
        "port number 0 must be in the range 1..65535",
        "",
    ),
    (
        "UDS bind in outbound 2",
        {
            "egress": [
                {
                    "port": sport(0, "http", "uds"),
                    "hosts": ["ns1/bar.com"],
                    "bind": "unix:///foo/bar/com",
                }
            ]
        },
        "",
        "",
    ),
    (
        "invalid bind",
        {
            "egress": [
                {
                    "port": sport(0, "http", "uds"),
                    "hosts": ["ns1/bar.com"],
                    "bind": "foobar:///@foo/bar/com",
                }
            ]
        },
        "sidecar: ports with 0 value must have a unix domain socket bind address",
        "",
    ),
    (
        "invalid capture mode with uds bind",
        {
            "egress": [
                {
                    "port": sport(0, "http", "uds"),
                    "hosts": ["ns1/bar.com"],
                    "bind": "unix:///@foo/bar/com",
                    "captureMode": "IPTABLES",
                }
            ]
        },
        "sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners",
        "",
    ),
    (
        "duplicate UDS bind",
        {
            "egress": [
                {
                    "port": sport(0, "http", "uds"),
                    "hosts": ["ns1/bar.com"],
                    "bind": "unix:///@foo/bar/com",
                },
                {
                    "port": sport(0, "http", "uds"),
                    "hosts": ["ns1/bar.com"],
                    "bind": "unix:///@foo/bar/com",
                },
            ]
        },
        "sidecar: unix domain socket values for listeners must be unique",
        "",
    ),
    (
        "duplicate ports",
        {
            "egress": [
                {"port": sport(90, "http", "foo"), "hosts": ["ns1/bar.com"]},
                {"port": sport(90, "tcp", "tcp"), "hosts": ["ns2/bar.com"]},
            ]
        },
        "sidecar: ports on IP bound listeners must be unique",
        "",
    ),
    (
        "ingress without port",
        {"ingress": [{"defaultEndpoint": "127.0.0.1:110"}], "egress": ALL},
        "missing required key 'port'",
        "",
    ),
    (
        "ingress with duplicate ports",
        {
            "ingress": [
                ingress(),
                {"port": sport(90, "tcp", "bar"), "defaultEndpoint": "127.0.0.1:110"},
            ],
            "egress": ALL,
        },
        "sidecar: ports on IP bound listeners must be unique",
        "",
    ),
    (
        "ingress with duplicate ports and IPv6 endpoint",
        {
            "ingress": [
                ingress("[::1]:110"),
                {"port": sport(90, "tcp", "bar"), "defaultEndpoint": "[::1]:110"},
            ],
            "egress": ALL,
        },
        "must be unique",
        "",
    ),
    ("ingress without default endpoint", {"ingress": [ingress(None)], "egress": ALL}, "", ""),
    (
        "ingress with invalid default endpoint in IPv4",
        {"ingress": [ingress("1.1.1.1:90")]},
        "sidecar: defaultEndpoint must be of form 127.0.0.1:<port>",
        "",
    ),
    (
        "ingress with invalid default endpoint in IPv6",
        {"ingress": [ingress("[1:1:1:1:1:1:1:1]:90")]},
        "defaultEndpoint must be of form",
        "",
    ),
    (
        "ingress with invalid default endpoint uds",
        {"ingress": [ingress("unix:///")], "egress": ALL},
        "/ is not an absolute path to a file",
        "",
    ),
    (
        "ingress with invalid default endpoint port in IPv4",
        {"ingress": [ingress("127.0.0.1:hi")], "egress": ALL},
        "sidecar: defaultEndpoint port (hi) is not a number",
        "",
    ),
    (
        "ingress with invalid default endpoint port in IPv6",
        {"ingress": [ingress("[::1]:hi")], "egress": ALL},
        "is not a number",
        "",
    ),
    (
        "ingress with a default endpoint without port",
        {"ingress": [ingress("127.0.0.1")]},
        "address 127.0.0.1: missing port in address",
        "",
    ),
    (
        "valid ingress and egress in IPv4",
        {"ingress": [ingress("127.0.0.1:9999")], "egress": ALL},
        "",
        "",
    ),
    (
        "valid ingress and egress in IPv6",
        {"ingress": [ingress("[::1]:9999")], "egress": ALL},
        "",
        "",
    ),
    ("valid ingress and empty egress in IPv4", {"ingress": [ingress("0.0.0.0:9999")]}, "", ""),
    ("valid ingress and empty egress in IPv6", {"ingress": [ingress("[::]:9999")]}, "", ""),
    ("just outbound traffic policy", {"outboundTrafficPolicy": {"mode": "ALLOW_ANY"}}, "", ""),
    (
        "empty protocol in IPv4",
        {
            "ingress": [
                {"port": {"number": 90, "name": "foo"}, "defaultEndpoint": "127.0.0.1:9999"}
            ],
            "egress": ALL,
        },
        "",
        "",
    ),
    (
        "ALLOW_ANY sidecar egress policy with no egress proxy",
        {"outboundTrafficPolicy": {"mode": "ALLOW_ANY"}, "egress": ALL},
        "",
        "",
    ),
    (
        "sidecar egress proxy with REGISTRY_ONLY(default)",
        {"outboundTrafficPolicy": {"egressProxy": PROXY}, "egress": ALL},
        "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode",
        "",
    ),
    (
        "sidecar egress proxy with ALLOW_ANY",
        {"outboundTrafficPolicy": {"mode": "ALLOW_ANY", "egressProxy": PROXY}, "egress": ALL},
        "",
        "",
    ),
    (
        "sidecar egress proxy with ALLOW_ANY, service hostname invalid fqdn",
        {
            "outboundTrafficPolicy": {
                "mode": "ALLOW_ANY",
                "egressProxy": {**PROXY, "host": "foobar*123"},
            },
            "egress": ALL,
        },
        'domain name "foobar*123" invalid',
        "",
    ),
    (
        "sidecar egress proxy(without Port) with ALLOW_ANY",
        {
            "outboundTrafficPolicy": {
                "mode": "ALLOW_ANY",
                "egressProxy": {"host": "foo.bar", "subset": "shiny"},
            },
            "egress": ALL,
        },
        "sidecar: egress_proxy port must be non-nil",
        "",
    ),
    (
        "sidecar egress only one wildcarded",
        {"egress": [{"hosts": ["*/*", "test/a.com"]}]},
        "",
        "`*/*` host select all resources, no other hosts can be added",
    ),
    ("sidecar egress wildcarded ns", {"egress": [{"hosts": ["*/b.com", "test/a.com"]}]}, "", ""),
    (
        "sidecar egress duplicated with wildcarded same namespace",
        {"egress": [{"hosts": ["test/*", "test/a.com"]}]},
        "",
        "duplicated egress host: test/a.com",
    ),
    (
        "invalid partial wildcard",
        {"egress": [{"hosts": ["test/*a.com"]}]},
        'partial wildcard "*a.com" not allowed',
        "",
    ),
    (
        "sidecar egress duplicated with wildcarded same namespace .",
        {"egress": [{"hosts": ["./*", "bar/a.com"]}]},
        "",
        "",
    ),
    (
        "ingress tls mode set to ISTIO_MUTUAL",
        tls_ingress({"mode": "ISTIO_MUTUAL"}),
        "configuration is invalid: cannot set mode to ISTIO_MUTUAL in sidecar ingress tls",
        "",
    ),
    (
        "ingress tls mode set to AUTO_PASSTHROUGH",
        tls_ingress({"mode": "AUTO_PASSTHROUGH"}),
        "cannot set mode to AUTO_PASSTHROUGH",
        "",
    ),
    (
        "ingress tls invalid protocol",
        tls_ingress(SIMPLE, "HTTP"),
        "server cannot have TLS settings for non HTTPS/TLS ports",
        "",
    ),
    (
        "ingress tls httpRedirect is not supported",
        tls_ingress({**SIMPLE, "httpsRedirect": True}),
        "sidecar: httpsRedirect is not supported",
        "",
    ),
    (
        "ingress tls SAN entries are not supported",
        tls_ingress({**SIMPLE, "subjectAltNames": ["httpbin.com"]}),
        "sidecar: subjectAltNames is not supported in ingress tls",
        "",
    ),
    (
        "ingress tls credentialName is not supported",
        tls_ingress({"mode": "SIMPLE", "credentialName": "secret-name"}),
        "sidecar: credentialName is not currently supported",
        "",
    ),
    (
        "ingress tls credentialNames is not supported",
        tls_ingress({"mode": "SIMPLE", "credentialNames": ["secret-name"]}),
        "sidecar: credentialNames is not currently supported",
        "",
    ),
    (
        "ingress tls tlsCertificates is not supported",
        tls_ingress(
            {"mode": "SIMPLE", "tlsCertificates": [{"serverCertificate": "c", "privateKey": "k"}]}
        ),
        "sidecar: tls_certificates is not currently supported",
        "",
    ),
    ("ingress tls simple", tls_ingress(SIMPLE), "", ""),
    (
        "valid inbound connection pool",
        {"inboundConnectionPool": {"http": {"http1MaxPendingRequests": 1024}}},
        "",
        "",
    ),
    (
        "valid port-level connection pool with top level default",
        {
            "inboundConnectionPool": {"http": {"http1MaxPendingRequests": 1024}},
            "ingress": [
                ingress("127.0.0.1:9999", connectionPool={"http": {"http1MaxPendingRequests": 2}})
            ],
        },
        "",
        "",
    ),
    (
        "warn http connection settings on tcp port",
        {
            "ingress": [
                {
                    "port": sport(90, "tcp", "tcp"),
                    "defaultEndpoint": "127.0.0.1:9999",
                    "connectionPool": {"http": {"http1MaxPendingRequests": 2}},
                }
            ]
        },
        "",
        'sidecar: HTTP connection pool settings are configured for port 90 ("tcp") but its protocol is not HTTP (tcp); only TCP settings will apply',
    ),
    (
        "invalid top level connection pool",
        {"inboundConnectionPool": {}},
        "connection pool must have at least one field",
        "",
    ),
    (
        "invalid port-level connection pool",
        {"ingress": [ingress("127.0.0.1:9999", connectionPool={})]},
        "connection pool must have at least one field",
        "",
    ),
    (
        "targetPort has no impact on Sidecars",
        {
            "egress": [
                {"port": {**sport(80, "http", "http"), "targetPort": 8080}, "hosts": ["ns1/a.com"]}
            ]
        },
        "targetPort has no impact on Sidecars",
        "",
    ),
    (
        "a bind that is not an IP",
        {
            "egress": [
                {"port": sport(80, "http", "http"), "bind": "localhost", "hosts": ["ns1/a.com"]}
            ]
        },
        "localhost is not a valid IP",
        "",
    ),
]


@pytest.mark.parametrize(
    ("name", "spec", "error", "warning"), SIDECAR_ROWS, ids=[r[0] for r in SIDECAR_ROWS]
)
def test_validate_sidecar(name: str, spec: dict[str, Any], error: str, warning: str) -> None:
    check_row(sidecar(spec), error, warning)


def test_selector_errors_are_reported_alone_as_istio_does() -> None:
    spec = {"workloadSelector": {"labels": {"app": "*"}}, "egress": [{"hosts": ["bad"]}]}
    assert outcome(sidecar(spec)).errors == [
        'spec.workloadSelector.labels: wildcard is not supported in selector: "app=*"'
    ]


def test_an_outbound_policy_without_mode_is_registry_only() -> None:
    from pytest_meshgate._cases.model.istio import Sidecar, parse_resource

    resource = parse_resource(sidecar({"outboundTrafficPolicy": {}}))
    assert isinstance(resource, Sidecar)
    assert resource.spec.outbound_traffic_policy is not None
    assert resource.spec.outbound_traffic_policy.mode == "REGISTRY_ONLY"


def test_the_crd_limits_selector_values() -> None:
    spec = {"workloadSelector": {"labels": {"app": "a" * 64}}, "egress": ALL}
    assert outcome(sidecar(spec)).errors == [
        "spec.workloadSelector.labels.app: Too long: may not be more than 63 bytes"
    ]
