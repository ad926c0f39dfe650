"""ServiceEntry validation: Istio's table (validation_test.go TestValidateServiceEntries)
and the CRD's CEL rules."""

from __future__ import annotations

from typing import Any

import pytest
from validating import check_row, outcome, service_entry


def port(number: int, name: str, protocol: str | None = "http", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"number": number, "name": name, **extra}
    if protocol is not None:
        out["protocol"] = protocol
    return out


HTTP2 = [port(80, "http-valid1"), port(8080, "http-valid2")]
GOOGLE_ENDPOINTS = [
    {"address": "lon.google.com", "ports": {"http-valid1": 8080}},
    {"address": "in.google.com", "ports": {"http-valid2": 9080}},
]
SELECTOR = {"labels": {"foo": "bar"}}

# TestValidateServiceEntries: (name, spec, error, warning).
SE_ROWS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "discovery type DNS",
        {
            "hosts": ["*.google.com"],
            "ports": HTTP2,
            "endpoints": GOOGLE_ENDPOINTS,
            "resolution": "DNS",
        },
        "",
        "",
    ),
    (
        "discovery type DNS Round Robin",
        {
            "hosts": ["*.istio.io"],
            "ports": HTTP2,
            "endpoints": [{"address": "api-v1.istio.io", "ports": {"http-valid1": 8080}}],
            "resolution": "DNS_ROUND_ROBIN",
        },
        "",
        "",
    ),
    (
        "discovery type DNS, one host set with IP address and https port",
        {
            "hosts": ["httpbin.org"],
            "addresses": ["10.10.10.10"],
            "ports": [*HTTP2, port(443, "https", "https")],
            "resolution": "DNS",
        },
        "",
        "",
    ),
    (
        "discovery type DNS, multi hosts set with IP address and https port",
        {
            "hosts": ["httpbin.org", "wikipedia.org"],
            "addresses": ["10.10.10.10"],
            "ports": [*HTTP2, port(443, "https", "https")],
            "resolution": "DNS",
        },
        "",
        "service entry can not have more than one host specified simultaneously with address and tcp port",
    ),
    (
        "discovery type DNS, IP address set",
        {
            "hosts": ["*.google.com"],
            "addresses": ["10.10.10.10"],
            "ports": HTTP2,
            "endpoints": GOOGLE_ENDPOINTS,
            "resolution": "DNS",
        },
        "",
        "",
    ),
    (
        "discovery type DNS, IP in endpoints",
        {
            "hosts": ["*.google.com"],
            "ports": HTTP2,
            "endpoints": [
                {"address": "1.1.1.1", "ports": {"http-valid1": 8080}},
                GOOGLE_ENDPOINTS[1],
            ],
            "resolution": "DNS",
        },
        "",
        "",
    ),
    (
        "discovery type DYNAMIC_DNS",
        {"hosts": ["*.google.com"], "ports": HTTP2, "resolution": "DYNAMIC_DNS"},
        "",
        "",
    ),
    ("empty hosts", {"hosts": [], "ports": HTTP2, "resolution": "DNS"}, "at least 1 item", ""),
    (
        "bad hosts",
        {"hosts": ["-"], "ports": HTTP2, "endpoints": GOOGLE_ENDPOINTS, "resolution": "DNS"},
        'domain name "-" invalid',
        "",
    ),
    (
        "full wildcard host",
        {
            "hosts": ["foo.com", "*"],
            "ports": HTTP2[:1],
            "endpoints": GOOGLE_ENDPOINTS[1:],
            "resolution": "DNS",
        },
        "invalid host *",
        "",
    ),
    (
        "short name host",
        {
            "hosts": ["foo", "bar.com"],
            "ports": HTTP2[:1],
            "endpoints": [{"address": "in.google.com", "ports": {"http-valid1": 9080}}],
            "resolution": "DNS",
        },
        "",
        "",
    ),
    (
        "undefined endpoint port",
        {
            "hosts": ["google.com"],
            "ports": [port(80, "http-valid1"), port(81, "http-valid2")],
            "endpoints": [
                GOOGLE_ENDPOINTS[0],
                {"address": "in.google.com", "ports": {"http-dne": 9080}},
            ],
            "resolution": "DNS",
        },
        "endpoint port 9080 is not defined by the service entry",
        "",
    ),
    (
        "discovery type DNS, non-FQDN endpoint",
        {
            "hosts": ["*.google.com"],
            "ports": HTTP2,
            "endpoints": [{"address": "*.lon.google.com", "ports": {"http-valid1": 8080}}],
            "resolution": "DNS",
        },
        'endpoint address "*.lon.google.com" is not a valid FQDN or an IP address',
        "",
    ),
    (
        "discovery type DNS, non-FQDN host",
        {"hosts": ["*.google.com"], "ports": HTTP2, "resolution": "DNS"},
        "hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode DNS",
        "",
    ),
    (
        "discovery type DNS, no endpoints",
        {"hosts": ["google.com"], "ports": HTTP2, "resolution": "DNS"},
        "",
        "",
    ),
    (
        "discovery type DNS, unix endpoint",
        {
            "hosts": ["*.google.com"],
            "ports": HTTP2[:1],
            "endpoints": [{"address": "unix:///lon/google/com"}],
            "resolution": "DNS",
        },
        "is not a valid FQDN or an IP address",
        "",
    ),
    (
        "discovery type none",
        {"hosts": ["google.com"], "ports": HTTP2, "resolution": "NONE"},
        "",
        "",
    ),
    (
        "discovery type none, endpoints provided",
        {
            "hosts": ["google.com"],
            "ports": HTTP2,
            "endpoints": GOOGLE_ENDPOINTS[:1],
            "resolution": "NONE",
        },
        "no endpoints should be provided for resolution type none",
        "",
    ),
    (
        "discovery type none, cidr addresses",
        {
            "hosts": ["google.com"],
            "addresses": ["172.1.2.16/16"],
            "ports": HTTP2,
            "resolution": "NONE",
        },
        "",
        "",
    ),
    (
        "discovery type static, cidr addresses with endpoints",
        {
            "hosts": ["google.com"],
            "addresses": ["172.1.2.16/16"],
            "ports": HTTP2,
            "endpoints": [
                {"address": "1.1.1.1", "ports": {"http-valid1": 8080}},
                {"address": "2.2.2.2", "ports": {"http-valid2": 9080}},
            ],
            "resolution": "STATIC",
        },
        "",
        "",
    ),
    (
        "discovery type static, FQDN in endpoints",
        {
            "hosts": ["google.com"],
            "addresses": ["172.1.2.16"],
            "ports": HTTP2,
            "endpoints": [{"address": "google.com", "ports": {"http-valid1": 8080}}],
            "resolution": "STATIC",
        },
        'endpoint address "google.com" is not a valid IP address',
        "",
    ),
    (
        "discovery type static, missing endpoints",
        {
            "hosts": ["google.com"],
            "addresses": ["172.1.2.16"],
            "ports": HTTP2,
            "resolution": "STATIC",
        },
        "",
        "",
    ),
    (
        "discovery type static, bad endpoint port name",
        {
            "hosts": ["google.com"],
            "addresses": ["172.1.2.16"],
            "ports": HTTP2,
            "endpoints": [{"address": "2.2.2.2", "ports": {"http-dne": 9080}}],
            "resolution": "STATIC",
        },
        "endpoint port 9080 is not defined by the service entry",
        "",
    ),
    (
        "discovery type none, conflicting port names",
        {
            "hosts": ["google.com"],
            "ports": [port(80, "http-conflict"), port(8080, "http-conflict")],
            "resolution": "NONE",
        },
        'service entry port name "http-conflict" already defined',
        "",
    ),
    (
        "discovery type none, conflicting port numbers",
        {
            "hosts": ["google.com"],
            "ports": [port(80, "http-conflict1"), port(80, "http-conflict2")],
            "resolution": "NONE",
        },
        "service entry port 80 already defined",
        "",
    ),
    (
        "unix socket",
        {
            "hosts": ["uds.cluster.local"],
            "ports": [port(6553, "grpc-service1", "grpc")],
            "resolution": "STATIC",
            "endpoints": [{"address": "unix:///path/to/socket"}],
        },
        "",
        "",
    ),
    (
        "unix socket, relative path",
        {
            "hosts": ["uds.cluster.local"],
            "ports": [port(6553, "grpc-service1", "grpc")],
            "resolution": "STATIC",
            "endpoints": [{"address": "unix://./relative/path.sock"}],
        },
        "./relative/path.sock is not an absolute path to a file",
        "",
    ),
    (
        "unix socket, endpoint ports",
        {
            "hosts": ["uds.cluster.local"],
            "ports": [port(6553, "grpc-service1", "grpc")],
            "resolution": "STATIC",
            "endpoints": [{"address": "unix:///path/to/socket", "ports": {"grpc-service1": 6553}}],
        },
        "unix endpoint unix:///path/to/socket must not include ports",
        "",
    ),
    (
        "unix socket, multiple service ports",
        {
            "hosts": ["uds.cluster.local"],
            "ports": [port(6553, "grpc-service1", "grpc"), port(80, "http-service2")],
            "resolution": "STATIC",
            "endpoints": [{"address": "unix:///path/to/socket"}],
        },
        "exactly 1 service port required for unix endpoints",
        "",
    ),
    (
        "empty protocol",
        {
            "hosts": ["google.com"],
            "addresses": ["172.1.2.16/16"],
            "ports": [port(80, "http-valid1"), port(8080, "http-valid2", None)],
            "resolution": "NONE",
        },
        "",
        "",
    ),
    (
        "selector",
        {"hosts": ["google.com"], "workloadSelector": SELECTOR, "ports": HTTP2[:1]},
        "",
        "workloadSelector should not be set when resolution mode is NONE",
    ),
    (
        "workload selector without labels",
        {"hosts": ["google.com"], "ports": HTTP2, "workloadSelector": {}},
        "",
        "service entry: workload selector specified without labels, will be applied to all services in namespace",
    ),
    (
        "selector and endpoints",
        {
            "hosts": ["google.com"],
            "workloadSelector": SELECTOR,
            "ports": HTTP2[:1],
            "endpoints": [{"address": "1.1.1.1"}],
        },
        "only one of WorkloadSelector or Endpoints is allowed in Service Entry",
        "workloadSelector should not be set",
    ),
    (
        "selector and resolution DNS",
        {
            "hosts": ["google.com"],
            "workloadSelector": SELECTOR,
            "ports": HTTP2[:1],
            "resolution": "DNS",
        },
        "",
        "",
    ),
    (
        "bad selector key",
        {"hosts": ["google.com"], "workloadSelector": {"labels": {"": "bar"}}, "ports": HTTP2[:1]},
        'empty key is not supported in selector: "=bar"',
        "",
    ),
    (
        "repeat target port",
        {
            "hosts": ["google.com"],
            "resolution": "DNS",
            "ports": [
                port(80, "http-valid1", targetPort=80),
                port(81, "http-valid2", targetPort=80),
            ],
        },
        "",
        "",
    ),
    (
        "invalid target port",
        {
            "hosts": ["google.com"],
            "resolution": "DNS",
            "ports": [port(80, "http-valid1", targetPort=65536)],
        },
        "less than or equal to 65535",
        "",
    ),
    (
        "valid endpoint port",
        {
            "hosts": ["google.com"],
            "ports": [port(80, "http-valid1", targetPort=81)],
            "resolution": "STATIC",
            "endpoints": [{"address": "1.1.1.1", "ports": {"http-valid1": 8080}}],
        },
        "",
        "",
    ),
    (
        "invalid endpoint port",
        {
            "hosts": ["google.com"],
            "ports": [port(80, "http-valid1", targetPort=81)],
            "resolution": "STATIC",
            "endpoints": [{"address": "1.1.1.1", "ports": {"http-valid1": 65536}}],
        },
        "port number 65536 must be in the range 1..65535",
        "",
    ),
    (
        "protocol unset for addresses empty",
        {
            "hosts": ["google.com"],
            "addresses": [],
            "ports": [port(80, "http-valid1"), port(8080, "http-valid2", None)],
            "resolution": "NONE",
        },
        "",
        "addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled",
    ),
    (
        "protocol is TCP for addresses empty",
        {
            "hosts": ["google.com"],
            "ports": [port(80, "http-valid1"), port(81, "tcp-valid1", "TCP")],
            "resolution": "NONE",
        },
        "",
        "addresses are required for ports serving TCP",
    ),
    (
        "dns round robin with more than one endpoint",
        {
            "hosts": ["google.com"],
            "ports": [port(8081, "http-valid1")],
            "endpoints": [
                {"address": "api-v1.istio.io", "ports": {"http-valid1": 8081}},
                {"address": "1.1.1.2", "ports": {"http-valid1": 8081}},
            ],
            "resolution": "DNS_ROUND_ROBIN",
        },
        "there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN",
        "",
    ),
    (
        "dns round robin with 0 endpoints",
        {
            "hosts": ["google.com"],
            "ports": [port(8081, "http-valid1")],
            "endpoints": [],
            "resolution": "DNS_ROUND_ROBIN",
        },
        "",
        "",
    ),
    (
        "partial wildcard hosts",
        {
            "hosts": ["*.nytimes.com", "*washingtonpost.com"],
            "ports": [port(443, "https-nytimes", "HTTPS")],
            "resolution": "NONE",
        },
        "",
        'partial wildcard "*washingtonpost.com" not allowed',
    ),
    (
        "network set with no address on endpoint",
        {
            "hosts": ["www.example.com"],
            "ports": [port(443, "https-example", "HTTPS")],
            "endpoints": [{"network": "cluster-1"}],
            "resolution": "STATIC",
        },
        "",
        'address is unset with network "cluster-1"',
    ),
    (
        "discovery type DYNAMIC_DNS, unsupported TCP protocol",
        {
            "hosts": ["*.google.com"],
            "ports": [port(80, "http-valid1"), port(81, "tcp-valid1", "TCP")],
            "resolution": "DYNAMIC_DNS",
        },
        "only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type DYNAMIC_DNS",
        "",
    ),
    (
        "discovery type DYNAMIC_DNS, GRPC protocol",
        {
            "hosts": ["*.svc.cluster.local"],
            "ports": [port(9090, "grpc", "GRPC")],
            "resolution": "DYNAMIC_DNS",
        },
        "",
        "",
    ),
    (
        "discovery type DYNAMIC_DNS, FQDN host",
        {"hosts": ["google.com"], "ports": [port(80, "http-valid")], "resolution": "DYNAMIC_DNS"},
        "host must be wildcarded for resolution mode DYNAMIC_DNS",
        "",
    ),
    (
        "discovery type DYNAMIC_DNS, endpoints set",
        {
            "hosts": ["*.google.com"],
            "ports": HTTP2[:1],
            "endpoints": [{"address": "in.google.com", "ports": {"http-valid1": 9080}}],
            "resolution": "DYNAMIC_DNS",
        },
        "endpoints cannot be set for resolution type DYNAMIC_DNS",
        "",
    ),
    (
        "discovery type DYNAMIC_DNS, IP address set",
        {
            "hosts": ["*.google.com"],
            "addresses": ["10.10.10.10"],
            "ports": HTTP2,
            "resolution": "DYNAMIC_DNS",
        },
        "addresses cannot be set for resolution type DYNAMIC_DNS",
        "",
    ),
    (
        "discovery type DYNAMIC_DNS, multiple wildcarded hosts",
        {
            "hosts": ["*.google.com", "*.amazon.com"],
            "ports": HTTP2[:1],
            "resolution": "DYNAMIC_DNS",
        },
        "",
        "",
    ),
    (
        "discovery type DYNAMIC_DNS, internal mesh location",
        {
            "hosts": ["*.google.com"],
            "ports": HTTP2[:1],
            "resolution": "DYNAMIC_DNS",
            "location": "MESH_INTERNAL",
        },
        "",
        "",
    ),
    (
        "multiple hosts with a TCP port",
        {
            "hosts": ["a.example.com", "b.example.com"],
            "addresses": ["10.0.0.1"],
            "ports": [port(3306, "tcp", "TCP")],
            "resolution": "DNS",
        },
        "multiple hosts provided with non-HTTP, non-TLS ports",
        "",
    ),
    (
        "an unknown protocol",
        {"hosts": ["a.example.com"], "ports": [port(80, "x", "kafka")], "resolution": "DNS"},
        "unsupported protocol: kafka",
        "",
    ),
    (
        "a port name that is not a DNS label",
        {"hosts": ["a.example.com"], "ports": [port(80, "http_1")], "resolution": "DNS"},
        "invalid port name: http_1",
        "",
    ),
    (
        "CIDR addresses with DNS resolution",
        {
            "hosts": ["a.example.com"],
            "addresses": ["10.0.0.0/8"],
            "ports": HTTP2[:1],
            "resolution": "DNS",
        },
        "CIDR addresses are allowed only for NONE/STATIC resolution types",
        "",
    ),
    (
        "exportTo ~ alone",
        {"hosts": ["a.example.com"], "ports": HTTP2[:1], "exportTo": ["~"]},
        "",
        "",
    ),
    (
        "exportTo ~ and someone",
        {"hosts": ["a.example.com"], "ports": HTTP2[:1], "exportTo": ["~", "ns1"]},
        "cannot export service entry to no one (~) and someone",
        "",
    ),
]


@pytest.mark.parametrize(("name", "spec", "error", "warning"), SE_ROWS, ids=[r[0] for r in SE_ROWS])
def test_validate_service_entries(
    name: str, spec: dict[str, Any], error: str, warning: str
) -> None:
    check_row(service_entry(spec), error, warning)


def test_dynamic_dns_mesh_internal_with_a_waypoint_is_rejected() -> None:
    spec = {
        "hosts": ["*.google.com"],
        "ports": HTTP2[:1],
        "resolution": "DYNAMIC_DNS",
        "location": "MESH_INTERNAL",
    }
    result = outcome(service_entry(spec, labels={"istio.io/use-waypoint": "waypoint"}))
    assert result.errors == [
        "spec.location: location MESH_INTERNAL with resolution type DYNAMIC_DNS is not supported when using waypoints"
    ]


def test_opting_out_of_ip_autoallocation_warns_about_tcp_ports() -> None:
    spec = {"hosts": ["db.example.com"], "ports": [port(5432, "tcp", "TCP")], "resolution": "DNS"}
    assert outcome(service_entry(spec)).warnings == []
    opted_out = service_entry(spec, labels={"networking.istio.io/enable-autoallocate-ip": "false"})
    assert outcome(opted_out).warnings == [
        "spec.ports[0]: addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled"
    ]


# The CRD's CEL rules on endpoints (ServiceEntry.spec.endpoints[]), applied whatever the resolution.
CEL_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("no address nor network", {}, "Address is required"),
    (
        "a UDS with ports",
        {"address": "unix:///a", "ports": {"http": 80}},
        "UDS may not include ports",
    ),
    (
        "a UDS neither absolute nor abstract",
        {"address": "unix://a"},
        "UDS must be an absolute path or abstract socket",
    ),
    ("a UDS that is a directory", {"address": "unix:///a/"}, "UDS may not be a dir"),
    (
        "an endpoint port name the CRD refuses",
        {"address": "1.1.1.1", "ports": {"-x": 80}},
        "port name must be valid",
    ),
    (
        "an endpoint port of 0",
        {"address": "1.1.1.1", "ports": {"http": 0}},
        "port must be between 1-65535",
    ),
]


@pytest.mark.parametrize(("name", "endpoint", "error"), CEL_ROWS, ids=[r[0] for r in CEL_ROWS])
def test_the_crd_endpoint_rules(name: str, endpoint: dict[str, Any], error: str) -> None:
    spec = {
        "hosts": ["a.example.com"],
        "ports": [port(80, "http")],
        "resolution": "STATIC",
        "endpoints": [endpoint],
    }
    check_row(service_entry(spec), error)


def test_the_crd_size_limits() -> None:
    spec = {
        "hosts": [f"h{i}.example.com" for i in range(257)],
        "addresses": ["1" * 65],
        "ports": [port(80, "http")],
    }
    errors = outcome(service_entry(spec)).errors
    assert "spec.hosts: Too many: 257: must have at most 256 items" in errors
    assert "spec.addresses[0]: Too long: may not be more than 64 bytes" in errors


def test_the_crd_refuses_even_an_empty_endpoint_list_with_resolution_none() -> None:
    spec = {"hosts": ["a.example.com"], "ports": [port(80, "http")], "endpoints": []}
    assert outcome(service_entry(spec)).errors == ["spec.endpoints: NONE mode cannot set endpoints"]
