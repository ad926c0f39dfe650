"""``Kube`` against a fake API server (k8s_fakeapi.py): apply, strict fields, rollout waits.

The real ``kubernetes`` client library talks HTTP to an in-memory imitation
of the API server. What this proves: apply creates, and on a conflict
replaces with the live ``resourceVersion``, keeping a Service's clusterIP;
the server's creationTimestamp and uid come back; an unknown CRD field is a
``FieldsRejected`` naming it; a restarted Deployment is waited for until it
has rolled out, past the moment its old pods made it look available; a
LoadBalancer stays pending. What it does not prove: how a real API server
answers; no cluster ran.
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


def kube_for(api: FakeAPI, tmp_path: Path) -> Kube:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig_for(api.url))
    kube = Kube(k8s("kubernetes.config").new_client_from_config(config_file=str(kubeconfig)))
    kube.sleep = lambda _: None
    return kube


def test_a_restart_is_waited_for_until_rolled_out_not_while_old_pods_are_available(
    api: FakeAPI, tmp_path: Path
) -> None:
    from pytest_meshgate._targets.kubernetes.kube import rollout_status, wait_deployments_available

    kube = kube_for(api, tmp_path)
    path = "/apis/apps/v1/namespaces/kube-system/deployments/coredns"
    api.put(path, {"metadata": {"name": "coredns", "namespace": "kube-system"},
                   "spec": {"replicas": 2, "template": {"metadata": {}}}})  # fmt: skip
    kube.resource("apps/v1", "Deployment").patch(
        body={"spec": {"template": {"metadata": {"annotations": {"restarted": "now"}}}}},
        name="coredns", namespace="kube-system", content_type="application/merge-patch+json",
    )  # fmt: skip
    seen: list[dict[str, object]] = []
    original = kube.get

    def watching_get(*args: object) -> object:
        live = original(*args)  # type: ignore[arg-type]
        seen.append(dict(live["status"]))
        return live

    kube.get = watching_get  # type: ignore[method-assign]
    wait_deployments_available(kube, [("kube-system", "coredns")], timeout=5)
    # Right after the controller observed the change, the old pods were still all available:
    # "observed and available" said done there; the rollout was not.
    first = seen[0]
    assert first["availableReplicas"] == 2 and first["updatedReplicas"] == 0
    assert rollout_status({"metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": first}) == (
        False, "0 out of 2 new replicas have been updated"
    )  # fmt: skip
    last = seen[-1]
    assert last["updatedReplicas"] == last["replicas"] == last["availableReplicas"] == 2


def test_objects_get_the_servers_creation_time_and_uid_and_unknown_crd_fields_are_refused(
    api: FakeAPI, tmp_path: Path
) -> None:
    from pytest_meshgate._targets.kubernetes.kube import FieldsRejected

    kube = kube_for(api, tmp_path)
    stored = kube.apply({"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": "n", "creationTimestamp": "2024-01-01T00:00:00Z"}})  # fmt: skip
    assert stored["metadata"]["creationTimestamp"] != "2024-01-01T00:00:00Z"
    assert stored["metadata"]["uid"]
    api.schemas[("networking.istio.io/v1", "Sidecar")] = {
        "properties": {"spec": {"properties": {"egress": {}}}}
    }
    sidecar = {"apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
               "metadata": {"name": "s", "namespace": "n"}, "spec": {"egress": [], "newField": 1}}  # fmt: skip
    with pytest.raises(FieldsRejected) as info:
        kube.apply(sidecar)
    assert info.value.fields == ["spec.newField"]
    assert 'strict decoding error: unknown field "spec.newField"' in str(info.value)
    assert api.objects.get("/apis/networking.istio.io/v1/namespaces/n/sidecars/s") is None


def test_a_load_balancer_service_stays_pending(api: FakeAPI, tmp_path: Path) -> None:
    kube = kube_for(api, tmp_path)
    stored = kube.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb", "namespace": "n"},
                         "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})  # fmt: skip
    assert stored["status"] == {"loadBalancer": {}}
