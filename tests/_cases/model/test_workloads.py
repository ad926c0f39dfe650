"""The workload models: port protocols, secrets, external services."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pytest_meshgate._cases.model.workloads import Secret, Service, ServicePort, port_protocol


def test_port_protocol_follows_istio_naming() -> None:
    def protocol(name: str) -> str:
        return ServicePort(name=name, port=80).protocol

    assert [
        protocol(n) for n in ("http", "http-web", "http2", "grpc", "https-x", "tcp", "foo")
    ] == [
        "HTTP",
        "HTTP",
        "HTTP2",
        "GRPC",
        "HTTPS",
        "TCP",
        "UNSUPPORTED",
    ]
    assert ServicePort(name="web", port=80, app_protocol="http2").protocol == "HTTP2"


@pytest.mark.parametrize(
    ("name", "app_protocol", "port", "protocol"),
    [
        # pkg/config/kube/conversion.go ConvertProtocol: appProtocol wins over the name ...
        ("http", "grpc", 80, "GRPC"),
        ("tcp", "kubernetes.io/h2c", 80, "HTTP2"),  # the Gateway API's gRPC backends
        ("tcp", "kubernetes.io/ws", 80, "HTTP"),
        ("tcp", "kubernetes.io/wss", 80, "HTTPS"),
        ("http", "grpc-web-x", 80, "GRPC-WEB"),
        ("http", "HTTP2", 80, "HTTP2"),
        ("http", "", 80, "UNSUPPORTED"),  # set, if empty
        # ... then the name: grpc-web before the prefix rule, case-insensitive.
        ("grpc-web", None, 80, "GRPC-WEB"),
        ("GRPC-Web-api", None, 80, "GRPC-WEB"),
        ("grpc-api", None, 80, "GRPC"),
        ("HTTP2", None, 80, "HTTP2"),
        ("udp-dns", None, 53, "UDP"),
        # Well-known ports are TCP when nothing names a protocol.
        ("db", None, 3306, "TCP"),
        ("db", None, 3307, "UNSUPPORTED"),
    ],
)
def test_port_protocol_is_istios_convert_protocol(
    name: str, app_protocol: str | None, port: int, protocol: str
) -> None:
    # Istio's function takes any name (a ServiceEntry port's may be upper case).
    assert port_protocol(name, app_protocol, port) == protocol
    # A case's Service port is a Kubernetes Service port: its name a DNS-1123
    # label (lower case) and its appProtocol a non-empty qualified name
    # (pkg/apis/core/validation/validation.go validateServicePort). Where
    # Kubernetes takes the row, the port's protocol is Istio's.
    kubernetes_accepts = name == name.lower() and app_protocol != ""
    given = {"app_protocol": app_protocol} if app_protocol is not None else {}
    if kubernetes_accepts:
        assert ServicePort(name=name, port=port, **given).protocol == protocol
    else:
        with pytest.raises(ValidationError, match=r"not a DNS label|name part must be|label key"):
            ServicePort(name=name, port=port, **given)


def test_secrets_need_hosts_except_cas() -> None:
    with pytest.raises(ValidationError, match="a server secret needs hosts"):
        Secret(name="s", type="server")
    with pytest.raises(ValidationError, match="a ca secret has no hosts"):
        Secret(name="c", type="ca", hosts=["a"])
    assert Secret(name="c", type="ca").issuer == "default"


def test_external_services_name_ip_addresses() -> None:
    external = {"name": "db.internal", "external": True, "ports": [{"name": "http", "port": 80}]}
    assert Service.model_validate(external | {"addresses": ["203.0.113.10"]}).addresses
    with pytest.raises(ValidationError, match="not an IP address"):
        Service.model_validate(external | {"addresses": ["db.example.com"]})
    with pytest.raises(ValidationError, match="addresses are for external services"):
        Service.model_validate(external | {"external": False, "addresses": ["203.0.113.10"]})


def test_in_mesh_service_names_are_kubernetes_service_names() -> None:
    ports = [{"name": "http", "port": 80}]
    assert Service.model_validate({"name": "reviews", "ports": ports}).name == "reviews"
    for name in ("db.internal", "9lives"):
        with pytest.raises(ValidationError, match="DNS-1035 label"):
            Service.model_validate({"name": name, "ports": ports})
    assert Service.model_validate({"name": "9lives.example", "external": True, "ports": ports})


def test_misbehaving_replicas_are_named_once() -> None:
    service = {"name": "a", "ports": [{"name": "http", "port": 80}], "replicas": 2}
    twice = [{"replica": 1, "status": 503}, {"version": "v1", "replica": 1, "reset": True}]
    with pytest.raises(ValidationError, match=r"misbehaving\[1\]: replica 1 of v1 is given twice"):
        Service.model_validate(service | {"misbehaving": twice})
    with pytest.raises(ValidationError, match="must be above 0s"):
        Service.model_validate(service | {"misbehaving": [{"delay": "0s"}]})


def test_refuse_and_blackhole_take_no_connection_so_nothing_else_goes_with_them() -> None:
    service = {"name": "a", "ports": [{"name": "http", "port": 80}], "replicas": 2}
    ok = Service.model_validate(
        service | {"misbehaving": [{"refuse": True}, {"replica": 1, "blackhole": True}]}
    )
    first, second = ok.misbehaviour("v1", 0), ok.misbehaviour("v1", 1)
    assert first is not None and first.refuse and not first.blackhole
    assert second is not None and second.blackhole and not second.refuse
    for bad, message in (
        ({"refuse": True, "blackhole": True}, "give refuse or blackhole, not both"),
        ({"refuse": True, "status": 503}, "refuse accepts no connection"),
        ({"blackhole": True, "delay": "1s"}, "blackhole accepts no connection"),
        ({"blackhole": True, "reset": True}, "blackhole accepts no connection"),
        ({"refuse": False}, "give status, delay, reset, refuse or blackhole"),
    ):
        with pytest.raises(ValidationError, match=message):
            Service.model_validate(service | {"misbehaving": [bad]})


def test_a_certificate_common_name_fits_64_characters() -> None:
    long_name = "a" * 50 + ".example.com"  # 62 characters
    assert Secret(name="s", type="server", hosts=[long_name]).hosts == [long_name]
    with pytest.raises(ValidationError, match="at most 64 characters, not 66"):
        Secret(name="s", type="server", hosts=["x" * 54 + ".example.com"])
    # A long name anywhere but first is only a SAN, which has no such limit.
    assert Secret(name="s", type="server", hosts=["a.example.com", "x" * 60 + ".example.com"])


def test_workload_labels_are_kubernetes_labels() -> None:
    ports = [{"name": "http", "port": 80}]
    with pytest.raises(ValidationError, match="label value"):
        Service.model_validate({"name": "a", "ports": ports, "labels": {"tier": "front end"}})
    with pytest.raises(ValidationError, match="label key"):
        Service.model_validate({"name": "a", "ports": ports, "labels": {"-tier": "a"}})


def test_an_echo_tls_port_takes_a_version_range_in_order() -> None:
    port = ServicePort.model_validate(
        {"name": "https", "port": 8443, "tls": {"minVersion": "TLSv1.1", "maxVersion": "TLSv1.1"}}
    )
    assert port.tls is not None and (port.tls.min_version, port.tls.max_version) == (
        "TLSv1.1",
        "TLSv1.1",
    )
    with pytest.raises(ValidationError, match=r"minVersion TLSv1\.3 is above maxVersion TLSv1\.2"):
        ServicePort.model_validate(
            {"name": "https", "port": 1, "tls": {"minVersion": "TLSv1.3", "maxVersion": "TLSv1.2"}}
        )


def _service(**fields: object) -> Service:
    return Service.model_validate({"name": "db", **fields})


HTTP = [{"name": "http", "port": 8080}]


def test_a_headless_services_pods_are_named_as_a_statefulsets() -> None:
    from pytest_meshgate._cases.model.workloads import headless_pod_name

    one = _service(headless=True, replicas=2, ports=HTTP)
    assert [headless_pod_name(one, "v1", i) for i in range(2)] == ["db-0", "db-1"]
    two = _service(headless=True, versions=["v1", "v2"], ports=HTTP)
    assert headless_pod_name(two, "v2", 0) == "db-v2-0"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"externalName": "b.example.com", "replicas": 2}, "an ExternalName Service is a DNS alias"),
        ({"selector": {"app": "web"}, "versions": ["v1"], "ports": HTTP}, "drop versions"),
        ({"externalName": "b.example.com", "headless": True}, "give only one of headless"),
        ({"external": True, "selector": {"app": "x"}, "ports": HTTP}, "give only one of"),
        ({"externalName": "Not_A_Host"}, "DNS-1123 subdomain"),
        ({}, "only an ExternalName Service may have none"),
        ({"headless": True, "ports": HTTP, "misbehaving": [{"status": 500}]}, "cannot misbehave"),
        ({"headless": True, "ports": HTTP, "versions": ["v1", "v" * 60]}, "at most 63"),
        (
            {"externalName": "b.example.com", "ports": [{"name": "https", "port": 443,
                                                        "tls": {}}]},
            "no pods to terminate TLS",
        ),
    ],
)  # fmt: skip
def test_service_kinds_refuse_what_kubernetes_or_the_echo_cannot_have(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _service(**fields)


def test_an_externalname_needs_no_ports_and_a_headless_selector_service_is_allowed() -> None:
    alias = _service(externalName="b.default.svc.cluster.local.")
    assert (alias.external_name, alias.ports, alias.runs_pods) == (
        "b.default.svc.cluster.local",
        [],
        False,
    )
    peers = _service(headless=True, selector={"app": "web"}, ports=HTTP)
    assert peers.headless and not peers.runs_pods
