"""The DestinationRule model: traffic policy fields."""

from __future__ import annotations

from pytest_meshgate._cases.model.istio import DestinationRule, parse_resource


def test_destination_rule_fields() -> None:
    dr = parse_resource(
        {
            "apiVersion": "networking.istio.io/v1beta1",
            "kind": "DestinationRule",
            "metadata": {"name": "d"},
            "spec": {
                "host": "reviews",
                "trafficPolicy": {
                    "connectionPool": {
                        "tcp": {"maxConnections": 1},
                        "http": {"http1MaxPendingRequests": 1},
                    },
                    "outlierDetection": {
                        "consecutive5xxErrors": 1,
                        "interval": "1s",
                        "baseEjectionTime": "3m",
                    },
                    "loadBalancer": {"simple": "ROUND_ROBIN"},
                    "portLevelSettings": [{"port": {"number": 80}, "tls": {"mode": "SIMPLE"}}],
                },
                "subsets": [{"name": "v1", "labels": {"version": "v1"}}],
            },
        }
    )
    assert isinstance(dr, DestinationRule)
    tp = dr.spec.traffic_policy
    assert tp is not None and tp.outlier_detection is not None
    assert tp.outlier_detection.consecutive5xx_errors == 1
    assert tp.outlier_detection.base_ejection_time == 180.0
