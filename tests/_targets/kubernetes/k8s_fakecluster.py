"""A fake cluster for the target and deployment tests: the fake API seeded, a provider for it.

``seed_cluster`` leaves in the fake API server (k8s_fakeapi.py) what Istio's
demo profile and kind would have; ``FakeProvider`` hands out a handle on it
and counts releases. No cluster runs.
"""

from __future__ import annotations

from pathlib import Path

from k8s_fakeapi import FakeAPI

from pytest_meshgate._cases.loader import LoadedCase, load_case_file
from pytest_meshgate._targets.kubernetes.providers.base import ClusterHandle, ClusterProvider

__all__ = ["COREFILE", "FakeProvider", "rich_case", "seed_cluster"]

HERE = Path(__file__).parent
COREFILE = ".:53 {\n    errors\n    kubernetes cluster.local in-addr.arpa ip6.arpa\n    reload\n}\n"


def seed_cluster(api: FakeAPI) -> None:
    """What Istio (demo profile) and kind would have left in the cluster."""
    for namespace in ("kube-system", "istio-system"):
        api.put(f"/api/v1/namespaces/{namespace}", {"metadata": {"name": namespace}})
    for name in ("istiod", "istio-ingressgateway", "istio-egressgateway"):
        image = "docker.io/istio/pilot:1.26.2" if name == "istiod" else "auto"
        api.put(f"/apis/apps/v1/namespaces/istio-system/deployments/{name}",
                {"metadata": {"name": name, "namespace": "istio-system"},
                 "spec": {"replicas": 1, "template": {"spec": {"containers": [
                     {"name": "main", "image": image}]}}}})  # fmt: skip
    for name in ("istio-ingressgateway", "istio-egressgateway"):
        api.put(
            f"/api/v1/namespaces/istio-system/services/{name}",
            {"metadata": {"name": name, "namespace": "istio-system"},
             "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.9",
                      "ports": [{"name": "status-port", "port": 15021},
                                {"name": "http2", "port": 80}, {"name": "https", "port": 443}]}},
        )  # fmt: skip
    for name, labels in (
        ("istiod-5c9f7d9b8-abcde", {"app": "istiod"}),
        ("istio-ingressgateway-6b7c8d9f-fghij",
         {"app": "istio-ingressgateway", "istio": "ingressgateway"}),
    ):  # fmt: skip
        api.put(f"/api/v1/namespaces/istio-system/pods/{name}",
                {"metadata": {"name": name, "namespace": "istio-system", "labels": labels},
                 "spec": {"containers": [{"name": "main", "image": "x"}]}})  # fmt: skip
    api.put("/api/v1/namespaces/kube-system/configmaps/coredns",
            {"metadata": {"name": "coredns", "namespace": "kube-system"}, "data": {"Corefile": COREFILE}})  # fmt: skip
    api.put("/apis/apps/v1/namespaces/kube-system/deployments/coredns",
            {"metadata": {"name": "coredns", "namespace": "kube-system"}, "spec": {"replicas": 2}})  # fmt: skip


class FakeProvider(ClusterProvider):
    name = "kind"

    def __init__(self, handle: ClusterHandle) -> None:
        self.handle = handle
        self.released = 0

    def acquire(self) -> ClusterHandle:
        return self.handle

    def release(self) -> None:
        self.released += 1


def rich_case() -> LoadedCase:
    return load_case_file(HERE / "cases" / "rich.yaml").cases[0]
