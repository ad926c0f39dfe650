"""Prometheus expositions of Istio's standard metrics read into samples."""

from __future__ import annotations

from pytest_meshgate._targets.metrics import (
    DEFAULT_BUCKETS,
    format_bound,
    parse_exposition,
    series_key,
)

EXPOSITION = """\
# TYPE envoy_server_live gauge
envoy_server_live{} 1
# TYPE istio_requests_total counter
istio_requests_total{reporter="source",response_code="200"} 12
# TYPE istio_request_bytes histogram
istio_request_bytes_bucket{reporter="source",le="100.0"} 3
istio_request_bytes_bucket{reporter="source",le="+Inf"} 4
istio_request_bytes_sum{reporter="source"} 250.5
istio_request_bytes_count{reporter="source"} 4
"""


def test_only_istio_families_are_kept_and_bucket_bounds_are_normalised() -> None:
    samples = parse_exposition(EXPOSITION)
    assert (
        samples[series_key("istio_requests_total", {"reporter": "source", "response_code": "200"})]
        == 12
    )
    assert (
        samples[series_key("istio_request_bytes_bucket", {"reporter": "source", "le": "100"})] == 3
    )
    assert samples[series_key("istio_request_bytes_sum", {"reporter": "source"})] == 250.5
    assert not any(name.startswith("envoy_") for name, _ in samples)


def test_bounds_are_written_as_envoy_writes_them() -> None:
    assert [format_bound(b) for b in DEFAULT_BUCKETS[:3]] == ["0.5", "1", "5"]
    assert format_bound(DEFAULT_BUCKETS[-1]) == "3600000"
    assert format_bound(float("inf")) == "+Inf"
    assert series_key("x", {"le": "5.0", "a": "b"}) == ("x", (("a", "b"), ("le", "5")))
