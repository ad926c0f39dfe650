"""expect.metrics judged on two snapshots: growth of the matching series, by the bound."""

from __future__ import annotations

from pytest_meshgate._cases.model.expect import Expect
from pytest_meshgate._exchange.records import Exchange, MetricSnapshot, SentRequest
from pytest_meshgate._judge.metrics import METRICS_KEY, growth, judge_metrics


def _key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


OK = _key("istio_requests_total", response_code="200", destination_workload="reviews-v1")
NR = _key("istio_requests_total", response_code="404", response_flags="NR")
BUCKET = _key("istio_request_duration_milliseconds_bucket", le="100", response_code="200")


def _exchange(before: dict, after: dict, proxy: str = "ingress") -> Exchange:
    sent = SentRequest("GET", "http://x/", (), None, ("127.0.0.1", 80), "gateway", "id")
    exchange = Exchange(sent, None)
    exchange.extra[METRICS_KEY] = {
        proxy: (MetricSnapshot(proxy, before), MetricSnapshot(proxy, after))
    }
    return exchange


def _expect(*entries: dict) -> Expect:
    return Expect.model_validate({"metrics": [{"proxy": "ingress", **e} for e in entries]})


def test_growth_counts_new_series_from_zero_and_leaves_unchanged_ones_out() -> None:
    assert growth({OK: 3, NR: 1}, {OK: 4, NR: 1, BUCKET: 1}) == {OK: 1, BUCKET: 1}


def test_matching_series_are_summed_and_judged_by_delta_or_at_least() -> None:
    exchange = _exchange({OK: 3}, {OK: 4, NR: 2})
    assert judge_metrics(_expect({"name": "istio_requests_total", "delta": 3}), exchange) == []
    assert (
        judge_metrics(
            _expect({"name": "istio_requests_total", "labels": {"response_code": "200"}}), exchange
        )
        == []
    )
    prefix = {"response_code": {"prefix": "4"}, "response_flags": {"regex": "N[RC]"}}
    assert (
        judge_metrics(
            _expect({"name": "istio_requests_total", "labels": prefix, "atLeast": 2}), exchange
        )
        == []
    )
    [failure] = judge_metrics(
        _expect({"name": "istio_requests_total", "labels": {"response_code": 200}, "delta": 0}),
        exchange,
    )
    assert "metrics[0] ingress istio_requests_total{response_code=200}" in failure
    assert "expected growth exactly 0, grew 1" in failure
    assert 'response_code="404"' in failure  # the series that did grow are named


def test_absent_labels_and_bucket_bounds() -> None:
    exchange = _exchange({}, {BUCKET: 1, OK: 1})
    absent = {"name": "istio_requests_total", "absentLabels": ["response_flags"], "delta": 1}
    assert judge_metrics(_expect(absent), exchange) == []
    bucket = {"name": "istio_request_duration_milliseconds_bucket", "labels": {"le": "100.0"}}
    assert judge_metrics(_expect({**bucket, "delta": 1}), exchange) == []


def test_a_proxy_without_metrics_fails_with_the_reason() -> None:
    sent = SentRequest("GET", "http://x/", (), None, ("127.0.0.1", 80), "gateway", "id")
    exchange = Exchange(sent, None)
    exchange.extra[METRICS_KEY] = {
        "ingress": (
            MetricSnapshot.unavailable("ingress", "no running pod"),
            MetricSnapshot("ingress"),
        )
    }
    [failure] = judge_metrics(_expect({"name": "istio_requests_total", "delta": 0}), exchange)
    assert failure.endswith("no metrics (no running pod)")
    [missing] = judge_metrics(_expect({"name": "istio_requests_total"}), Exchange(sent, None))
    assert "the target read no metrics of that proxy" in missing
