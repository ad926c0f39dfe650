"""The ServiceEntry model: hosts, ports and resolution."""

from __future__ import annotations

from pytest_meshgate._cases.model.istio import ServiceEntry, parse_resource


def test_service_entry_fields() -> None:
    se = parse_resource(
        {
            "apiVersion": "networking.istio.io/v1alpha3",
            "kind": "ServiceEntry",
            "metadata": {"name": "s"},
            "spec": {
                "hosts": ["edition.cnn.com"],
                "ports": [{"number": 80, "name": "http", "protocol": "HTTP", "targetPort": 443}],
                "resolution": "DNS",
                "location": "MESH_EXTERNAL",
            },
        }
    )
    assert isinstance(se, ServiceEntry)
    assert se.spec.ports[0].target_port == 443
