"""The workload models: port protocols, secrets, external services."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pytest_meshgate._cases.model.workloads import Secret, Service, ServicePort


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
    assert ServicePort(name=name, port=port, app_protocol=app_protocol).protocol == protocol


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
