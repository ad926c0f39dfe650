"""Unit tests of the case model: durations, defaults and field validators."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pytest_meshgate._cases.model.case import Expect, Request, Secret, ServicePort


@pytest.mark.parametrize("bad", [2, "2", "s", "2 parsecs", True, "0", ".5s"])
def test_case_durations_need_units(bad: object) -> None:
    with pytest.raises(ValidationError, match="duration"):
        Request.model_validate({"url": "http://a.example.com/", "timeout": bad})


def test_case_durations_are_seconds() -> None:
    request = Request.model_validate({"url": "http://a.example.com/", "timeout": "1m30s"})
    assert request.timeout == 90.0


def test_expected_status_defaults() -> None:
    assert Expect().statuses == (200,)
    assert Expect.model_validate({"redirect": {"scheme": "https"}}).statuses == (
        301,
        302,
        303,
        307,
        308,
    )
    assert Expect.model_validate({"status": [404, 503]}).statuses == (404, 503)
    assert Expect.model_validate({"connection": "refused"}).connections == ("refused",)


def test_request_validation() -> None:
    request = Request.model_validate({"url": "http://a.example.com/", "method": "post"})
    assert (request.method, request.workload) == ("POST", "ingress")
    assert Request.model_validate({"url": "http://a/", "from": "sleep"}).workload == "sleep"
    for bad in ({"url": "ftp://a/"}, {"url": "http://a:99999/"}, {"url": "/relative"}):
        with pytest.raises(ValidationError):
            Request.model_validate(bad)
    with pytest.raises(ValidationError, match="either gateway or from"):
        Request.model_validate({"url": "http://a/", "gateway": "ingress", "from": "sleep"})


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


def test_secrets_need_hosts_except_cas() -> None:
    with pytest.raises(ValidationError, match="a server secret needs hosts"):
        Secret(name="s", type="server")
    with pytest.raises(ValidationError, match="a ca secret has no hosts"):
        Secret(name="c", type="ca", hosts=["a"])
    assert Secret(name="c", type="ca").issuer == "default"


def test_mesh_keys_are_validated() -> None:
    from pytest_meshgate._cases.model.case import CaseSpec, Service

    check = {"name": "c", "request": {"from": "slep", "url": "http://a/"}}
    with pytest.raises(ValidationError, match=r"from 'slep' is not in spec\.clients"):
        CaseSpec.model_validate({"clients": [{"name": "sleep"}], "checks": [check]})
    spec = CaseSpec.model_validate(
        {"clients": [{"name": "sleep", "labels": {"tier": "a"}}], "checks": [check | {
            "request": {"from": "sleep", "url": "https://a.example.com/"}}]}
    )  # fmt: skip
    assert spec.clients[0].pod_labels == {"app": "sleep", "tier": "a"}
    assert spec.checks[0].request.port == 443
    external = {"name": "db.internal", "external": True, "ports": [{"name": "http", "port": 80}]}
    assert Service.model_validate(external | {"addresses": ["203.0.113.10"]}).addresses
    with pytest.raises(ValidationError, match="not an IP address"):
        Service.model_validate(external | {"addresses": ["db.example.com"]})
    with pytest.raises(ValidationError, match="addresses are for external services"):
        Service.model_validate(external | {"external": False, "addresses": ["203.0.113.10"]})
