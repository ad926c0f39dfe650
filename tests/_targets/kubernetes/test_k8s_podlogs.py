"""A proxy's access log on a cluster, read from its pods' istio-proxy container log.

The log (data/istio-ingressgateway.log) holds two lines a real Envoy 1.40 wrote
in Istio's TEXT format, at the local target's ingress gateway with
``accessLogFile: /dev/stdout`` (so in the very bytes Istio's proxies write to
their container log), after a line of pilot-agent's own; it was not taken
from a cluster, and no cluster ran here. What this proves: the harness reads
the ``istio-proxy`` container's log of each running pod of the proxy through
the API server, finds the request's line by the x-request-id its backend saw,
parses it as the installed mesh writes it, and skips what it cannot judge
honestly (no backend saw the request; the case means another mesh config).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from k8s_fakeapi import FakeAPI, kubeconfig_for
from k8s_fakecluster import FakeProvider
from k8s_standins import StandIns

from pytest_meshgate._cases.loader import load_case_file
from pytest_meshgate._cases.model.meshconfig import MeshConfig
from pytest_meshgate._exchange.records import Exchange, ResponseRecord, SentRequest
from pytest_meshgate._targets.accesslog import LogFormat
from pytest_meshgate._targets.kubernetes import podlogs
from pytest_meshgate._targets.kubernetes.adapters.base import AdapterOptions
from pytest_meshgate._targets.kubernetes.adapters.istio import IstioAdapter
from pytest_meshgate._targets.kubernetes.kube import Kube
from pytest_meshgate._targets.kubernetes.target import KubernetesTarget

pytest.importorskip("kubernetes")

HERE = Path(__file__).parent
LOG = (HERE / "data" / "istio-ingressgateway.log").read_text()
FIRST_ID = LOG.splitlines()[1].split('"')[9]  # the x-request-id of the /reviews/1 line
GATEWAY_LABELS = {"app": "istio-ingressgateway", "istio": "ingressgateway"}
TEXT = LogFormat()


def exchange(request_id: str | None) -> Exchange:
    sent = SentRequest("GET", "http://x/", (), None, ("127.0.0.1", 80), "gateway", "mg-1")
    if request_id is None:
        return Exchange(sent, ResponseRecord(404, "Not Found", "HTTP/1.1", (), b""))
    echo = {"service": "reviews", "path": "/", "headers": {"X-Request-Id": [request_id]}}
    headers = (("content-type", "application/json"),)
    body = json.dumps(echo).encode()
    return Exchange(sent, ResponseRecord(200, "OK", "HTTP/1.1", headers, body))


def pod(api: FakeAPI, name: str, namespace: str = "istio-system", **extra: Any) -> None:
    api.objects[f"/api/v1/namespaces/{namespace}/pods/{name}"] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": GATEWAY_LABELS},
        "status": {"phase": "Running"},
        **extra,
    }


@pytest.fixture
def kube(api: FakeAPI, tmp_path: Path) -> Kube:
    from kubernetes import config

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig_for(api.url))
    return Kube(config.new_client_from_config(config_file=str(kubeconfig)))


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(podlogs, "ABSENT_WAIT_S", 0.0)
    monkeypatch.setattr(podlogs, "LINE_WAIT_S", 0.5)
    monkeypatch.setattr(podlogs, "POLL_S", 0.05)


def test_the_line_of_the_request_is_found_in_the_istio_proxy_container_log(
    api: FakeAPI, kube: Kube
) -> None:
    pod(api, "istio-ingressgateway-a")
    pod(api, "istio-ingressgateway-b")
    api.pod_logs[("istio-system", "istio-ingressgateway-b", "istio-proxy")] = LOG
    api.pod_logs[("istio-system", "istio-ingressgateway-a", "istio-proxy")] = LOG.splitlines()[0]
    found = podlogs.proxy_access_log(
        kube, "ingress", "istio-system", GATEWAY_LABELS, None, exchange(FIRST_ID), True, TEXT
    )
    assert found.line is not None and found.line.startswith("[2026-12-02T")
    assert found.fields["path"] == "/reviews/1"
    assert found.fields["responseCode"] == "200"
    assert found.fields["authority"] == "bookinfo.example.com"
    assert found.fields["upstreamCluster"] == "outbound|9080||reviews.default.svc.cluster.local"
    # Each replica's log of the last minutes, of the sidecar container.
    assert {q["container"][0] for q in api.log_queries} == {"istio-proxy"}
    assert {q["sinceSeconds"][0] for q in api.log_queries} == {str(podlogs.SINCE_SECONDS)}


def test_a_request_the_proxy_did_not_log_has_no_line_and_says_where_it_looked(
    api: FakeAPI, kube: Kube
) -> None:
    pod(api, "istio-ingressgateway-a")
    api.pod_logs[("istio-system", "istio-ingressgateway-a", "istio-proxy")] = LOG
    missing = podlogs.proxy_access_log(
        kube, "ingress", "istio-system", GATEWAY_LABELS, None, exchange("other-id"), False, TEXT
    )
    assert missing.line is None and missing.available  # a true "not logged"
    assert missing.note == "no line with x-request-id other-id in istio-ingressgateway-a"


def test_a_line_that_appears_late_is_waited_for(api: FakeAPI, kube: Kube) -> None:
    pod(api, "istio-ingressgateway-a")
    reads = iter([LOG.splitlines()[0], LOG.splitlines()[0]])
    api.pod_logs[("istio-system", "istio-ingressgateway-a", "istio-proxy")] = lambda: next(
        reads, LOG
    )
    found = podlogs.proxy_access_log(
        kube, "ingress", "istio-system", GATEWAY_LABELS, None, exchange(FIRST_ID), True, TEXT
    )
    assert found.fields["path"] == "/reviews/1"
    assert len(api.log_queries) == 3


def test_a_request_no_backend_saw_is_a_skip_not_a_guess(api: FakeAPI, kube: Kube) -> None:
    pod(api, "istio-ingressgateway-a")
    with pytest.raises(pytest.skip.Exception, match="no backend saw this request"):
        podlogs.proxy_access_log(
            kube, "ingress", "istio-system", GATEWAY_LABELS, None, exchange(None), False, TEXT
        )


def test_an_unreadable_log_is_said_in_the_verdict(api: FakeAPI, kube: Kube) -> None:
    pod(api, "istio-ingressgateway-a")  # no istio-proxy container log served: 400
    failed = podlogs.proxy_access_log(
        kube, "ingress", "istio-system", GATEWAY_LABELS, None, exchange(FIRST_ID), True, TEXT
    )
    assert failed.line is None and not failed.available  # fails logged: false too
    assert failed.note.startswith("log of istio-ingressgateway-a/istio-proxy: (400)")
    gone = podlogs.proxy_access_log(
        kube, "ingress", "default", GATEWAY_LABELS, None, exchange(FIRST_ID), False, TEXT
    )
    assert (gone.available, gone.note) == (False, "no running pod of it in default")


def test_the_installed_mesh_config_by_profile_and_how_a_case_differs() -> None:
    demo = IstioAdapter(AdapterOptions({"istio-profile": "demo"}, "kind")).installed_mesh_config()
    default = IstioAdapter(AdapterOptions({}, "kind")).installed_mesh_config()
    assert (
        IstioAdapter(AdapterOptions({"istio-profile": "ambient"}, "kind")).installed_mesh_config()
        is None
    )
    assert demo.access_log_file == "/dev/stdout"
    assert demo.provider("otel") is not None  # the demo profile's collector providers
    assert default == MeshConfig()
    assert podlogs.mesh_config_difference(MeshConfig(access_log_file="/dev/stdout"), demo) is None
    assert podlogs.mesh_config_difference(MeshConfig(), default) is None
    assert podlogs.mesh_config_difference(MeshConfig(), demo) == (
        "accessLogFile '' (installed: '/dev/stdout')"
    )
    json_logs = MeshConfig(access_log_file="/dev/stdout", access_log_encoding="JSON")
    assert podlogs.mesh_config_difference(json_logs, demo) == (
        "accessLogEncoding 'JSON' (installed: 'TEXT')"
    )
    own = MeshConfig.model_validate(
        {"extensionProviders": [{"name": "mine", "envoyFileAccessLog": {"path": "/dev/stdout"}}]}
    )
    assert podlogs.mesh_config_difference(own, default) == (
        "extensionProviders 'mine' (not installed as written)"
    )


def case(name: str) -> Any:
    cases = load_case_file(HERE.parents[2] / "cases" / "access-logging.yaml").cases
    return next(c for c in cases if c.name == name)


def test_a_case_logging_as_the_demo_profile_runs_and_reads_its_gateway_log(
    target: tuple[KubernetesTarget, FakeProvider, StandIns], api: FakeAPI
) -> None:
    kubernetes_target, _, _ = target  # the demo profile: accessLogFile /dev/stdout
    loaded = case("access-log-ingress-response-flags")
    assert loaded.case.spec.mesh_config.access_log_file == "/dev/stdout"
    deployment = kubernetes_target.activate(loaded)
    try:
        gateway = "istio-ingressgateway-6b7c8d9f-fghij"
        api.objects[f"/api/v1/namespaces/istio-system/pods/{gateway}"]["status"] = {
            "phase": "Running"
        }
        api.pod_logs[("istio-system", gateway, "istio-proxy")] = LOG
        found = deployment.access_log("ingress", exchange(FIRST_ID), True)
        assert found.fields["path"] == "/reviews/1"
    finally:
        kubernetes_target.deactivate()


def test_a_case_meaning_another_mesh_config_skips_its_access_log_checks(
    target: tuple[KubernetesTarget, FakeProvider, StandIns],
) -> None:
    kubernetes_target, _, _ = target
    # Without meshConfig the case means Istio's default, no access log; demo logs.
    deployment = kubernetes_target.activate(case("access-log-off-by-default"))
    try:
        with pytest.raises(
            pytest.skip.Exception,
            match=r"lacks capability access-log for this case: the installed mesh logs "
            r"otherwise \(accessLogFile '' \(installed: '/dev/stdout'\)\)",
        ):
            deployment.access_log("ingress", exchange(FIRST_ID), False)
    finally:
        kubernetes_target.deactivate()


def test_a_service_names_its_echo_pods_sidecars(
    target: tuple[KubernetesTarget, FakeProvider, StandIns], api: FakeAPI
) -> None:
    kubernetes_target, _, _ = target
    loaded = case("access-log-file-at-gateway-and-server")  # accessLogFile as demo's
    check = loaded.case.spec.checks[0]
    assert [log.proxy for log in check.expect.access_logs] == ["ingress", "reviews"]
    deployment = kubernetes_target.activate(loaded)
    try:
        namespace = deployment.plan.map("default")  # type: ignore[attr-defined]
        for name in ("reviews-v1-abc", "reviews-v1-def"):
            pod(api, name, namespace)
            labels = {"app": "reviews", "version": "v1"}
            api.objects[f"/api/v1/namespaces/{namespace}/pods/{name}"]["metadata"]["labels"] = (
                labels
            )
        api.pod_logs[(namespace, "reviews-v1-abc", "istio-proxy")] = LOG.splitlines()[0]
        api.pod_logs[(namespace, "reviews-v1-def", "istio-proxy")] = LOG
        found = deployment.access_log("reviews", exchange(FIRST_ID), True)
        assert found.fields["path"] == "/reviews/1"
        assert len(api.log_queries) == 2  # each replica's sidecar
    finally:
        kubernetes_target.deactivate()
