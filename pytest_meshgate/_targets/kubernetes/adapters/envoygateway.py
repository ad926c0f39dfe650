"""The Envoy Gateway adapter: a Gateway API implementation only, installed from its Helm chart.

Installed as Envoy Gateway's docs install it
(``site/content/en/latest/install/install-helm.md`` in envoyproxy/gateway):
``helm install eg oci://docker.io/envoyproxy/gateway-helm --version <v> -n
envoy-gateway-system --create-namespace`` (here ``upgrade --install``, so a
reused cluster is not an error), then ``kubectl wait ... deployment/envoy-gateway
--for=condition=Available``. The chart brings the Gateway API CRDs itself
(its ``crds`` subchart: the experimental channel of the Gateway API version
the release is built against, v1.6.1 for v1.9.0). meshgate then applies
(server-side) the GatewayClass cases call ``istio``, here ``meshgate-eg`` with
controller ``gateway.envoyproxy.io/gatewayclass-controller``; on kind its
``parametersRef`` is an ``EnvoyProxy`` making each Gateway's Service a
NodePort Service (nobody assigns load-balancer addresses on kind).

Each Gateway gets its Envoy Deployment and Service in
``envoy-gateway-system``, under a hashed name, labelled
``gateway.envoyproxy.io/owning-gateway-name`` and ``...-namespace``
(``internal/gatewayapi/translator.go``); they are found by those labels.

No mesh, no Istio: cases with Istio resources are skipped, naming them;
supported features are the Gateway API's (``api: gateway-api`` in
conformance/features.yaml); ``from:`` checks lack ``mesh-clients``. With
``--meshgate-envoy-gateway-install=none`` (the default on ``cluster``) nothing
is installed or applied: Envoy Gateway and a GatewayClass of that name must
exist.
"""

from __future__ import annotations

from typing import Any

from ...._cases.model.workloads import GatewayWorkload
from ...._errors import TargetError, TargetUnavailable
from ..gatewayapi import GatewayClassInfo
from ..kube import condition_true
from ..providers import ClusterHandle, resolve_binary, run_tool
from .base import AdapterOptions, Implementation

__all__ = [
    "CHART",
    "CONTROLLER_NAME",
    "ENVOY_GATEWAY_VERSION",
    "GATEWAY_CLASS",
    "OWNING_NAME",
    "OWNING_NAMESPACE",
    "SYSTEM_NAMESPACE",
    "EnvoyGatewayAdapter",
]

# The newest release of envoyproxy/gateway (tag v1.9.0, August 2026); its chart
# version is the tag, "v" included (the docs' --version {{< helm-version >}}).
ENVOY_GATEWAY_VERSION = "v1.9.0"
CHART = "oci://docker.io/envoyproxy/gateway-helm"
RELEASE = "eg"
SYSTEM_NAMESPACE = "envoy-gateway-system"
CONTROLLER_DEPLOYMENT = (
    "envoy-gateway"  # charts/gateway-helm/templates/envoy-gateway-deployment.yaml
)
CONTROLLER_NAME = "gateway.envoyproxy.io/gatewayclass-controller"  # api/v1alpha1
GATEWAY_CLASS = "meshgate-eg"
ENVOY_PROXY = "meshgate-eg"
OWNING_NAME = "gateway.envoyproxy.io/owning-gateway-name"
OWNING_NAMESPACE = "gateway.envoyproxy.io/owning-gateway-namespace"
_ISTIO_GROUPS = ("networking.istio.io", "security.istio.io", "telemetry.istio.io")


class EnvoyGatewayAdapter(Implementation):
    """Envoy Gateway from its Helm chart; see the module docstring."""

    name = "envoy-gateway"
    system_namespace = SYSTEM_NAMESPACE

    def __init__(self, options: AdapterOptions) -> None:
        super().__init__(options)
        self.version = options.get("envoy-gateway-version", ENVOY_GATEWAY_VERSION) or ""
        default_mode = "helm" if options.target == "kind" else "none"
        self.mode = options.get("envoy-gateway-install", default_mode) or default_mode
        if self.mode not in ("helm", "none"):
            raise TargetUnavailable(
                f"meshgate: --meshgate-envoy-gateway-install={self.mode}: not one of helm, none"
            )
        self.helm = resolve_binary("helm", options.get("helm"))
        self._unavailable: str | None = None

    # ------------------------------------------------------------ declarations

    def describe(self) -> str:
        return f"envoy-gateway {self.version}"

    def gateways(self) -> dict[str, GatewayWorkload]:
        return {}  # no gateways of its own: only those it deploys for Gateways

    def mesh_namespace_labels(self) -> dict[str, str]:
        return {}

    def supported_features(self) -> frozenset[str] | None:
        """The Gateway API's features; Istio's are not its to implement."""
        from ...._cases.catalog import DEFAULT_CATALOG, load_catalog

        catalog = load_catalog(DEFAULT_CATALOG)
        return frozenset(n for n, f in catalog.features.items() if f.api == "gateway-api")

    def unsupported_resources(self, kinds: set[tuple[str, str]]) -> str | None:
        istio = sorted(kind for group, kind in kinds if group in _ISTIO_GROUPS)
        if istio:
            return f"Istio API resources ({', '.join(istio)}): it implements the Gateway API only"
        return None

    def fingerprint(self) -> str:
        return f"envoy-gateway/{self.mode}/{self.version}"

    # ------------------------------------------------------------ Gateway API

    def gateway_class(self) -> GatewayClassInfo | None:
        return GatewayClassInfo(GATEWAY_CLASS, CONTROLLER_NAME)

    def gateway_api_unavailable(self) -> str | None:
        return self._unavailable

    def gateway_api_workload(self, namespace: str, name: str) -> GatewayWorkload | None:
        """The Service Envoy Gateway made for Gateway ``namespace/name``, by its owning labels."""
        labels = {OWNING_NAME: name, OWNING_NAMESPACE: namespace}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        services = self.kube.list("v1", "Service", SYSTEM_NAMESPACE, selector)
        if not services:
            return None
        return GatewayWorkload(
            name=services[0]["metadata"]["name"],
            namespace=SYSTEM_NAMESPACE,
            labels=labels,
            ports=[],
        )

    def class_objects(self, kind_cluster: bool) -> list[dict[str, Any]]:
        """The GatewayClass (and on kind its EnvoyProxy) meshgate applies after the chart."""
        gateway_class: dict[str, Any] = {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": GATEWAY_CLASS},
            "spec": {"controllerName": CONTROLLER_NAME},
        }
        if not kind_cluster:
            return [gateway_class]
        gateway_class["spec"]["parametersRef"] = {
            "group": "gateway.envoyproxy.io",
            "kind": "EnvoyProxy",
            "name": ENVOY_PROXY,
            "namespace": SYSTEM_NAMESPACE,
        }
        envoy_proxy = {
            "apiVersion": "gateway.envoyproxy.io/v1alpha1",
            "kind": "EnvoyProxy",
            "metadata": {"name": ENVOY_PROXY, "namespace": SYSTEM_NAMESPACE},
            "spec": {"provider": {"type": "Kubernetes",
                                  "kubernetes": {"envoyService": {"type": "NodePort"}}}},
        }  # fmt: skip
        return [envoy_proxy, gateway_class]

    # ------------------------------------------------------------ install

    def preflight(self) -> None:
        if self.mode == "helm" and self.helm is None:
            raise TargetUnavailable(
                "meshgate: installing Envoy Gateway needs helm: none on PATH "
                "(https://helm.sh/docs/intro/install/, or --meshgate-helm=PATH, "
                "or --meshgate-envoy-gateway-install=none)"
            )

    def install_commands(self, cluster: ClusterHandle) -> list[list[str]]:
        """The exact commands ``install`` runs (also what the tests assert)."""
        if self.mode == "none":
            return []
        assert self.helm is not None
        return [
            [
                str(self.helm), "upgrade", "--install", RELEASE, CHART,
                "--version", self.version,
                "--namespace", SYSTEM_NAMESPACE, "--create-namespace",
                "--wait", "--timeout", "5m",
                *cluster.tool_args(helm=True),
            ]
        ]  # fmt: skip

    def install(self, cluster: ClusterHandle) -> None:
        for command in self.install_commands(cluster):
            run_tool(command, timeout=900)
        if self.mode == "none":
            return
        from .gatewayapi_crds import FIELD_MANAGER

        assert self.kube is not None, "attach() first"
        for obj in self.class_objects(bool(cluster.host_ports)):
            self.kube.server_side_apply(obj, FIELD_MANAGER)

    def wait_ready(self, cluster: ClusterHandle, api: Any, timeout: float) -> None:
        from ..kube import wait_deployments_available

        try:
            wait_deployments_available(api, [(SYSTEM_NAMESPACE, CONTROLLER_DEPLOYMENT)], timeout)
        except TargetError as exc:
            raise TargetError(
                f"{exc}\n(installed with {self.mode}: with --meshgate-envoy-gateway-install=none, "
                "Envoy Gateway must already run in envoy-gateway-system)"
            ) from None
        self._unavailable = _class_problem(api, timeout)


def _class_problem(api: Any, timeout: float) -> str | None:
    """Why the GatewayClass cannot serve cases (missing, not Accepted after ``timeout``)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            live = api.get("gateway.networking.k8s.io/v1", "GatewayClass", GATEWAY_CLASS, None)
        except TargetError:
            return "the cluster does not serve the Gateway API (no CRDs)"
        if live is None:
            return f"no GatewayClass {GATEWAY_CLASS} (controller {CONTROLLER_NAME})"
        if (live.get("spec") or {}).get("controllerName") != CONTROLLER_NAME:
            return f"GatewayClass {GATEWAY_CLASS} belongs to another controller"
        if condition_true(live, "Accepted"):
            return None
        if time.monotonic() >= deadline:
            return f"GatewayClass {GATEWAY_CLASS} not Accepted by Envoy Gateway"
        api.sleep(1.0)
