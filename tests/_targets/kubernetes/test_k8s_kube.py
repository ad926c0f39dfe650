"""``Kube`` against a fake API server (k8s_fakeapi.py): what apply sends.

The real ``kubernetes`` client library talks HTTP to an in-memory imitation
of the API server. What this proves: apply creates, and on a conflict
replaces with the live ``resourceVersion``, keeping a Service's clusterIP.
What it does not prove: how a real API server answers; no cluster ran.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from k8s_fakeapi import FakeAPI, kubeconfig_for

from pytest_meshgate._targets.kubernetes.kube import Kube, k8s

pytest.importorskip("kubernetes")


def test_kube_apply_replaces_with_the_live_resource_version_and_keeps_cluster_ip(
    api: FakeAPI, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig_for(api.url))
    kube = Kube(k8s("kubernetes.config").new_client_from_config(config_file=str(kubeconfig)))
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "s", "namespace": "n"}, "spec": {"ports": [{"port": 80}]}}  # fmt: skip
    kube.apply(service)
    api.objects["/api/v1/namespaces/n/services/s"]["spec"]["clusterIP"] = "10.0.0.1"
    kube.apply({**service, "spec": {"ports": [{"port": 81}]}})
    live = api.objects["/api/v1/namespaces/n/services/s"]
    assert live["spec"] == {"ports": [{"port": 81}], "clusterIP": "10.0.0.1"}
    assert api.writes() == [
        ("POST", "/api/v1/namespaces/n/services"),
        ("POST", "/api/v1/namespaces/n/services"),  # 409: exists
        ("PUT", "/api/v1/namespaces/n/services/s"),
    ]
