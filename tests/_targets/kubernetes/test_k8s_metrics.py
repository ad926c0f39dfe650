"""A proxy's istio_* samples on a cluster, read from its pods' :15090 through a fake API server.

The exposition sample (data/istio-ingressgateway.prom.tmpl) is hand-written
in the text format Envoy's ``/stats/prometheus`` serves (TYPE lines, label
order, histogram buckets with Envoy's ``le`` bounds, non-Istio families
beside them), with the label set of istio/proxy's
``testdata/metric/client_request_total.yaml.tmpl`` and the Bookinfo values of
istio.io's metrics pages; it was not taken from a running cluster, and no
cluster ran here. What this proves: the harness asks the API server's pod
proxy for ``<pod>:15090/stats/prometheus`` of each running pod of the proxy,
parses the answer with Prometheus' own parser, keeps the istio_* families,
sums replicas, and the judge reads the growth between two readings exactly
as it reads the local target's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from k8s_fakeapi import FakeAPI, kubeconfig_for
from k8s_fakecluster import FakeProvider, rich_case
from k8s_standins import StandIns

from pytest_meshgate._cases.model.expect import Expect
from pytest_meshgate._exchange.records import Exchange, SentRequest
from pytest_meshgate._judge.metrics import METRICS_KEY, judge_metrics
from pytest_meshgate._targets.kubernetes.kube import Kube
from pytest_meshgate._targets.kubernetes.scrape import proxy_metrics
from pytest_meshgate._targets.kubernetes.target import KubernetesTarget

pytest.importorskip("kubernetes")

SAMPLE = (Path(__file__).parent / "data" / "istio-ingressgateway.prom.tmpl").read_text()
GATEWAY_LABELS = {"app": "istio-ingressgateway", "istio": "ingressgateway"}


def _exposition(requests: int) -> str:
    return SAMPLE.replace("{REQUESTS}", str(requests)).replace("{SUM}", str(3 * requests))


def _pod(api: FakeAPI, name: str, phase: str = "Running") -> None:
    api.objects[f"/api/v1/namespaces/istio-system/pods/{name}"] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "istio-system", "labels": GATEWAY_LABELS},
        "status": {"phase": phase},
    }


@pytest.fixture
def kube(api: FakeAPI, tmp_path: Path) -> Kube:
    from kubernetes import config

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig_for(api.url))
    return Kube(config.new_client_from_config(config_file=str(kubeconfig)))


def _expect(**metric: object) -> Expect:
    return Expect.model_validate({"metrics": [{"proxy": "ingress", **metric}]})


def test_the_samples_of_every_running_replica_are_read_and_summed(api: FakeAPI, kube: Kube) -> None:
    _pod(api, "istio-ingressgateway-a")
    _pod(api, "istio-ingressgateway-b")
    _pod(api, "istio-ingressgateway-old", phase="Succeeded")
    api.pod_proxy[("istio-system", "istio-ingressgateway-a", 15090, "stats/prometheus")] = (
        _exposition(5)
    )
    api.pod_proxy[("istio-system", "istio-ingressgateway-b", 15090, "stats/prometheus")] = (
        _exposition(2)
    )
    snapshot = proxy_metrics(kube, "ingress", "istio-system", labels=GATEWAY_LABELS)
    assert snapshot.available
    names = {name for name, _ in snapshot.samples}
    assert "envoy_cluster_upstream_rq_total" not in names  # only istio_* families
    assert "istio_build" in names
    ok = [
        v
        for (name, labels), v in snapshot.samples.items()
        if name == "istio_requests_total" and ("response_code", "200") in labels
    ]
    assert ok == [7.0]
    asked = [path for method, path in api.requests if "/proxy/" in path]
    assert asked == [
        "/api/v1/namespaces/istio-system/pods/istio-ingressgateway-a:15090/proxy/stats/prometheus",
        "/api/v1/namespaces/istio-system/pods/istio-ingressgateway-b:15090/proxy/stats/prometheus",
    ]


def test_the_growth_between_two_readings_is_judged_as_on_the_local_target(
    api: FakeAPI, kube: Kube
) -> None:
    _pod(api, "istio-ingressgateway-a")
    readings = iter([_exposition(5), _exposition(6)])
    api.pod_proxy[("istio-system", "istio-ingressgateway-a", 15090, "stats/prometheus")] = lambda: (
        next(readings)
    )
    before = proxy_metrics(kube, "ingress", "istio-system", labels=GATEWAY_LABELS)
    after = proxy_metrics(kube, "ingress", "istio-system", labels=GATEWAY_LABELS)
    sent = SentRequest("GET", "http://x/", (), None, ("127.0.0.1", 80), "gateway", "id")
    exchange = Exchange(sent, None)
    exchange.extra[METRICS_KEY] = {"ingress": (before, after)}
    counted = {
        "name": "istio_requests_total",
        "labels": {"destination_workload": "reviews-v1", "response_code": "200"},
        "delta": 1,
    }
    assert judge_metrics(_expect(**counted), exchange) == []
    bucket = {
        "name": "istio_request_duration_milliseconds_bucket",
        "labels": {"le": "5.0"},
        "delta": 1,
    }
    assert judge_metrics(_expect(**bucket), exchange) == []
    not_found = {"name": "istio_requests_total", "labels": {"response_flags": "NR"}, "delta": 1}
    failures = judge_metrics(_expect(**not_found), exchange)
    assert len(failures) == 1
    assert "expected growth exactly 1, grew 0" in failures[0]
    assert 'destination_workload="reviews-v1"' in failures[0]  # what did grow


def test_a_proxy_without_running_pods_or_an_unanswering_port_says_why(
    api: FakeAPI, kube: Kube
) -> None:
    none = proxy_metrics(kube, "ingress", "istio-system", labels=GATEWAY_LABELS)
    assert not none.available and "no running pod" in none.note
    _pod(api, "istio-ingressgateway-a")
    silent = proxy_metrics(kube, "ingress", "istio-system", labels=GATEWAY_LABELS)
    assert not silent.available
    assert "istio-ingressgateway-a:15090/stats/prometheus" in silent.note


def test_a_deployment_reads_its_gateways_and_clients_pods(
    target: tuple[KubernetesTarget, FakeProvider, StandIns], api: FakeAPI
) -> None:
    kubernetes_target, _, _ = target
    deployment = kubernetes_target.activate(rich_case())
    try:
        plan = deployment.plan  # type: ignore[attr-defined]
        gateway = "/api/v1/namespaces/istio-system/pods/istio-ingressgateway-6b7c8d9f-fghij"
        api.objects[gateway]["status"] = {"phase": "Running"}
        key = ("istio-system", "istio-ingressgateway-6b7c8d9f-fghij", 15090, "stats/prometheus")
        api.pod_proxy[key] = _exposition(4)
        client_ns = plan.map("default")
        api.pod_proxy[(client_ns, "sleep", 15090, "stats/prometheus")] = _exposition(1)
        ingress = deployment.metrics("ingress")
        sleep = deployment.metrics("sleep")
        # A Gateway API Gateway's pods carry its name (Istio's deployment controller).
        api.objects[f"/api/v1/namespaces/{client_ns}/pods/web-istio-abc"] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web-istio-abc",
                "namespace": client_ns,
                "labels": {"gateway.networking.k8s.io/gateway-name": "web"},
            },
            "status": {"phase": "Running"},
        }
        api.pod_proxy[(client_ns, "web-istio-abc", 15090, "stats/prometheus")] = _exposition(2)
        gateway_api = deployment.metrics("default/web")
        # A service names its pods' sidecars (the destination reporter), by its app label.
        ratings_ns = plan.map("backend")
        for pod in ("ratings-v1-abc", "ratings-v1-def"):
            api.objects[f"/api/v1/namespaces/{ratings_ns}/pods/{pod}"] = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod,
                    "namespace": ratings_ns,
                    "labels": {"app": "ratings", "version": "v1"},
                },
                "status": {"phase": "Running"},
            }
            api.pod_proxy[(ratings_ns, pod, 15090, "stats/prometheus")] = _exposition(1)
        ratings = deployment.metrics("ratings")
        by_namespace = deployment.metrics("ratings.backend")
    finally:
        kubernetes_target.deactivate()
    assert ingress.available and sleep.available, (ingress.note, sleep.note)
    assert gateway_api.available, gateway_api.note
    assert ratings.available, ratings.note
    assert ratings.samples == by_namespace.samples
    ratings_count = [v for (n, _), v in ratings.samples.items() if n == "istio_requests_total"]
    assert sorted(ratings_count) == [2.0, 6.0]  # both replicas' sidecars, summed
    assert f"/api/v1/namespaces/{ratings_ns}/pods/ratings-v1-def:15090/proxy/stats/prometheus" in {
        path for method, path in api.requests if "/proxy/" in path
    }
    count = [v for (n, _), v in sleep.samples.items() if n == "istio_requests_total"]
    assert sorted(count) == [1.0, 3.0]
    asked = {path for method, path in api.requests if "/proxy/" in path}
    assert f"/api/v1/namespaces/{client_ns}/pods/sleep:15090/proxy/stats/prometheus" in asked
