"""The Sidecar model: egress hosts and the outbound traffic policy."""

from __future__ import annotations

from pytest_meshgate._cases.model.istio import Sidecar, parse_resource


def test_sidecar_fields() -> None:
    sc = parse_resource(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "Sidecar",
            "metadata": {"name": "default", "namespace": "istio-system"},
            "spec": {
                "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
                "egress": [{"hosts": ["./*"]}],
            },
        }
    )
    assert isinstance(sc, Sidecar)
    assert sc.spec.outbound_traffic_policy is not None
    assert sc.spec.outbound_traffic_policy.mode == "REGISTRY_ONLY"
