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


def seed_cluster(api: FakeAPI, gateway_api: bool = True) -> None:
    """What Istio (demo profile) and kind would have left in the cluster.

    ``gateway_api``: with the pinned Gateway API CRDs installed by an earlier
    run (so installing applies nothing) and Istio's GatewayClass.
    """
    if gateway_api:
        seed_gateway_api(api)
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


# ---------------------------------------------------------------- Gateway API

GATEWAY_API_KINDS = {
    "gatewayclasses": ("GatewayClass", False, ["v1", "v1beta1"]),
    "gateways": ("Gateway", True, ["v1", "v1beta1"]),
    "httproutes": ("HTTPRoute", True, ["v1", "v1beta1"]),
    "grpcroutes": ("GRPCRoute", True, ["v1"]),
    "referencegrants": ("ReferenceGrant", True, ["v1", "v1beta1"]),
    "tlsroutes": ("TLSRoute", True, ["v1", "v1alpha2", "v1alpha3"]),
    "tcproutes": ("TCPRoute", True, ["v1", "v1alpha2"]),
    "listenersets": ("ListenerSet", True, ["v1"]),
    "backendtlspolicies": ("BackendTLSPolicy", True, ["v1"]),
}
ISTIO_CONTROLLER = "istio.io/gateway-controller"


def gateway_api_crd(plural: str, version: str = "v1.6.0", channel: str = "experimental") -> dict:
    """A CRD shaped as the release's (``config/crd/<channel>/``): names, annotations, versions."""
    kind, namespaced, versions = GATEWAY_API_KINDS[plural]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.gateway.networking.k8s.io",
            "annotations": {
                "gateway.networking.k8s.io/bundle-version": version,
                "gateway.networking.k8s.io/channel": channel,
            },
        },
        "spec": {
            "group": "gateway.networking.k8s.io",
            "names": {"kind": kind, "plural": plural},
            "scope": "Namespaced" if namespaced else "Cluster",
            "versions": [
                {"name": v, "served": channel == "experimental" or i == 0, "storage": i == 0}
                for i, v in enumerate(versions)
            ],
        },
    }


def seed_gateway_api(api: FakeAPI, controller: str = ISTIO_CONTROLLER, class_name: str = "istio",
                     crds: bool = True) -> None:  # fmt: skip
    """The CRDs (already Established) and the implementation's GatewayClass, accepted."""
    if crds:
        for plural in GATEWAY_API_KINDS:
            path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{plural}.gateway.networking.k8s.io"
            api.put(path, gateway_api_crd(plural))
            api.objects[path]["status"] = {
                "conditions": [{"type": "Established", "status": "True"}]
            }
    api.put(
        f"/apis/gateway.networking.k8s.io/v1/gatewayclasses/{class_name}",
        {"metadata": {"name": class_name}, "spec": {"controllerName": controller},
         "status": {"conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                                    "message": "Handled by Istio controller",
                                    "observedGeneration": 1}]}},
    )  # fmt: skip


def _condition(kind: str, reason: str, message: str, generation: int) -> dict:
    return {"type": kind, "status": "True", "reason": reason, "message": message,
            "observedGeneration": generation}  # fmt: skip


def istio_controller(api: FakeAPI, path: str, obj: dict) -> None:
    """Stands in for istiod: a Gateway of class istio gets ``<name>-istio`` and status; routes
    get a parent status. Instant, and only as much as the tests read; not Istio's logic."""
    kind = obj.get("kind")
    meta = obj.get("metadata") or {}
    namespace, name = meta.get("namespace"), meta.get("name")
    generation = int(meta.get("generation") or 1)
    if kind == "Gateway" and (obj.get("spec") or {}).get("gatewayClassName") == "istio":
        if (obj.get("status") or {}).get("conditions"):
            return  # written already (this write was ours)
        listeners = obj["spec"].get("listeners") or []
        service = f"{name}-istio"
        api._save(
            f"/api/v1/namespaces/{namespace}/services/{service}",
            {"metadata": {"name": service, "namespace": namespace,
                          "labels": {"gateway.networking.k8s.io/gateway-name": name}},
             "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.42",
                      "selector": {"gateway.networking.k8s.io/gateway-name": name},
                      "ports": [{"name": f"{listener['protocol'].lower()}-{listener['port']}",
                                 "port": listener["port"]} for listener in listeners]}},
            ("v1", "Service"),
        )  # fmt: skip
        api._save(
            f"/api/v1/namespaces/{namespace}/pods/{service}-5d8f7-abcde",
            {"metadata": {"name": f"{service}-5d8f7-abcde", "namespace": namespace,
                          "labels": {"gateway.networking.k8s.io/gateway-name": name}},
             "spec": {"containers": [{"name": "istio-proxy", "image": "auto"}]}},
            ("v1", "Pod"),
        )  # fmt: skip
        address = f"{service}.{namespace}.svc.cluster.local"
        obj["status"] = {
            "conditions": [
                _condition("Accepted", "Accepted", "Resource accepted", generation),
                _condition("Programmed", "Programmed",
                           f"Resource programmed, assigned to service(s) {address}:80", generation),
            ],
            "listeners": [
                {"name": listener["name"], "attachedRoutes": 0,
                 "supportedKinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"},
                                    {"group": "gateway.networking.k8s.io", "kind": "GRPCRoute"}],
                 "conditions": [_condition("Programmed", "Programmed", "No errors found",
                                           generation)]}
                for listener in listeners
            ],
        }  # fmt: skip
        # Routes applied before their Gateway are reconciled now, as istiod would.
        for route_path, route in list(api.objects.items()):
            if route.get("kind") in ("HTTPRoute", "GRPCRoute"):
                istio_controller(api, route_path, route)
    if kind in ("HTTPRoute", "GRPCRoute"):
        if (obj.get("status") or {}).get("parents"):
            return
        parents = []
        for ref in obj["spec"].get("parentRefs") or []:
            gateway_ns = ref.get("namespace") or namespace
            gateway = api.objects.get(
                f"/apis/gateway.networking.k8s.io/v1/namespaces/{gateway_ns}/gateways/{ref['name']}"
            )
            if gateway is None or gateway["spec"].get("gatewayClassName") != "istio":
                continue  # another class's Gateway: Istio writes nothing
            for listener in (gateway.get("status") or {}).get("listeners") or []:
                if ref.get("sectionName") in (None, listener["name"]):
                    listener["attachedRoutes"] += 1
            parents.append({
                "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", **ref},
                "controllerName": ISTIO_CONTROLLER,
                "conditions": [_condition("Accepted", "Accepted", "Route was valid", generation),
                               _condition("ResolvedRefs", "ResolvedRefs",
                                          "All references resolved", generation)],
            })  # fmt: skip
        obj["status"] = {"parents": parents}


EG_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"


def envoy_gateway_crd() -> dict:
    """Envoy Gateway's EnvoyProxy CRD, as far as discovery needs it."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "envoyproxies.gateway.envoyproxy.io"},
        "spec": {"group": "gateway.envoyproxy.io",
                 "names": {"kind": "EnvoyProxy", "plural": "envoyproxies"},
                 "scope": "Namespaced",
                 "versions": [{"name": "v1alpha1", "served": True, "storage": True}]},
    }  # fmt: skip


def envoy_gateway_controller(api: FakeAPI, path: str, obj: dict) -> None:
    """Stands in for Envoy Gateway: its GatewayClass is accepted; a Gateway of it gets an
    Envoy Service and pod in envoy-gateway-system under a hashed name, with the owning
    labels, and status. Instant; not Envoy Gateway's logic."""
    kind = obj.get("kind")
    meta = obj.get("metadata") or {}
    generation = int(meta.get("generation") or 1)
    if kind == "GatewayClass" and (obj.get("spec") or {}).get("controllerName") == EG_CONTROLLER:
        obj["status"] = {"conditions": [_condition("Accepted", "Accepted", "Valid GatewayClass",
                                                   generation)]}  # fmt: skip
    if kind == "Gateway" and (obj.get("spec") or {}).get("gatewayClassName") == "meshgate-eg":
        if (obj.get("status") or {}).get("conditions"):
            return
        namespace, name = meta["namespace"], meta["name"]
        labels = {"gateway.envoyproxy.io/owning-gateway-name": name,
                  "gateway.envoyproxy.io/owning-gateway-namespace": namespace}  # fmt: skip
        hashed = f"envoy-{namespace}-{name}-3b7c9a1e"[:63]
        api._save(
            f"/api/v1/namespaces/envoy-gateway-system/services/{hashed}",
            {"metadata": {"name": hashed, "namespace": "envoy-gateway-system", "labels": labels},
             "spec": {"type": "NodePort", "selector": labels,
                      "ports": [{"name": f"http-{listener['port']}", "port": listener["port"],
                                 "targetPort": 10000 + listener["port"]}
                                for listener in obj["spec"]["listeners"]]}},
            ("v1", "Service"),
        )  # fmt: skip
        api._save(
            f"/api/v1/namespaces/envoy-gateway-system/pods/{hashed}-7f9c-abcde",
            {"metadata": {"name": f"{hashed}-7f9c-abcde", "namespace": "envoy-gateway-system",
                          "labels": labels},
             "spec": {"containers": [{"name": "envoy", "image": "envoyproxy/envoy"}]}},
            ("v1", "Pod"),
        )  # fmt: skip
        obj["status"] = {"conditions": [
            _condition("Accepted", "Accepted", "The Gateway has been scheduled by Envoy Gateway",
                       generation),
            _condition("Programmed", "Programmed", "Address assigned to the Gateway, 1/1 envoy "
                       "replicas available", generation),
        ]}  # fmt: skip
