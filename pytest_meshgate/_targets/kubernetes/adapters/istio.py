"""The Istio adapter: install with istioctl or Helm, a profile, a version or revision.

Gateways by profile (Istio's own profile definitions): ``default`` runs the
ingress gateway, ``demo`` the ingress and egress gateways, ``minimal`` and
``ambient`` none. A case that sends to a gateway the profile lacks is skipped
as not supported, not failed. ``ambient`` has no sidecars and meshgate
deploys no waypoints, so ``from:`` checks are not supported there either.

Install modes (``--meshgate-istio-install``): ``istioctl`` (default on kind),
``helm`` (the official charts, pinned by ``--meshgate-istio-version``), or
``none`` (default on ``cluster``: use what is installed, change nothing).
Nothing is ever uninstalled: on kind the cluster goes away, and on an
existing cluster removing a mesh is not a test harness's call.

Gateway API: before Istio, the Gateway API CRDs of the pinned release
(``gatewayapi_crds.py``, v1.6.0 as Istio pins it) are server-side applied
when the cluster lacks them or has an older bundle, except with
``--meshgate-istio-install=none``, which changes nothing: there a cluster
without them skips Gateway API cases. Gateways of class ``istio``
(controller ``istio.io/gateway-controller``) get, from Istio's deployment
controller, a Deployment and a Service ``<name>-istio`` in their namespace
whose pods are labelled ``gateway.networking.k8s.io/gateway-name: <name>``
(``pilot/pkg/config/kube/gateway/deploymentcontroller.go``).
"""

from __future__ import annotations

import re
from typing import Any

from ...._cases.model.workloads import DEFAULT_GATEWAYS, GatewayWorkload
from ...._errors import TargetError, TargetUnavailable
from ..providers import ClusterHandle, resolve_binary, run_tool
from .base import AdapterOptions, GatewayClassInfo, Implementation
from .gatewayapi_crds import CHANNELS, GATEWAY_API_VERSION, crds_to_install, release_url
from .istio_install import HELM_REPO, ISTIO_VERSION, PROFILES, SYSTEM_NAMESPACE

__all__ = [
    "FEATURE_SINCE",
    "HELM_REPO",
    "ISTIO_VERSION",
    "PROFILES",
    "IstioAdapter",
    "istiod_version",
    "parse_version",
]

# Features whose API fields are newer than some supported Istio: the first
# version whose CRDs have them (manifests/charts/base/files/crd-all.gen.yaml).
# Older ones would prune the field (or refuse it under strict validation).
FEATURE_SINCE: dict[str, tuple[int, int]] = {
    "HTTPRedirectPrefixRewrite": (1, 31),  # HTTPRedirect.prefixRewrite
}


class IstioAdapter(Implementation):
    """Istio through istioctl or Helm; see the module docstring."""

    name = "istio"
    system_namespace = SYSTEM_NAMESPACE

    def __init__(self, options: AdapterOptions) -> None:
        super().__init__(options)
        self.profile = options.get("istio-profile", "default") or "default"
        if self.profile not in PROFILES:
            raise TargetUnavailable(
                f"meshgate: --meshgate-istio-profile={self.profile}: not one of "
                f"{', '.join(PROFILES)}"
            )
        self.version = options.get("istio-version")
        if self.version is not None and parse_version(self.version) is None:
            raise TargetUnavailable(
                f"meshgate: --meshgate-istio-version={self.version}: not a version like 1.26.2"
            )
        self.live_version: str | None = None  # read from istiod's image once it runs
        self.revision = options.get("istio-revision")
        default_mode = "istioctl" if options.target == "kind" else "none"
        self.mode = options.get("istio-install", default_mode) or default_mode
        if self.mode not in ("istioctl", "helm", "none"):
            raise TargetUnavailable(
                f"meshgate: --meshgate-istio-install={self.mode}: not one of istioctl, helm, none"
            )
        self.istioctl = resolve_binary("istioctl", options.get("istioctl"))
        self.helm = resolve_binary("helm", options.get("helm"))
        self.gateway_api_channel = options.get("gateway-api-channel", "experimental") or ""
        if self.gateway_api_channel not in CHANNELS:
            raise TargetUnavailable(
                f"meshgate: --meshgate-gateway-api-channel={self.gateway_api_channel}: not one "
                f"of {', '.join(CHANNELS)}"
            )
        self.gateway_api_manifest = options.get("gateway-api-manifest") or release_url(
            GATEWAY_API_VERSION, self.gateway_api_channel
        )
        self.gateway_api_note = ""  # what the CRD install did, or why Gateway API cases skip
        self._gateway_api_missing: str | None = None

    # ------------------------------------------------------------ declarations

    def gateways(self) -> dict[str, GatewayWorkload]:
        return {short: DEFAULT_GATEWAYS[short] for short in PROFILES[self.profile]}

    def mesh_namespace_labels(self) -> dict[str, str]:
        if self.profile == "ambient":
            return {"istio.io/dataplane-mode": "ambient"}
        if self.revision:
            return {"istio.io/rev": self.revision}
        return {"istio-injection": "enabled"}

    def outside_namespace_labels(self) -> dict[str, str]:
        return {} if self.profile == "ambient" else {"istio-injection": "disabled"}

    def supported_features(self) -> frozenset[str] | None:
        """Features by profile: what needs a gateway the profile does not install is out.

        demo runs both default gateways (all features); default has no egress
        gateway; minimal and ambient install no gateway at all, so only the
        mesh profile's features remain, and ambient has no sidecars for them.
        """
        from ...._cases.catalog import DEFAULT_CATALOG, load_catalog

        catalog = load_catalog(DEFAULT_CATALOG)
        too_new = self.features_too_new()
        if self.profile == "demo":
            return frozenset(catalog.features) - too_new if too_new else None
        return self._profile_features(catalog) - too_new

    def _profile_features(self, catalog: Any) -> frozenset[str]:
        if self.profile == "default":
            # What only egress cases use: the egress profile less what ingress
            # and mesh cases share with it (Gateway, MeshRouting, ServiceEntry).
            profiles = catalog.profiles
            shared = profiles["ISTIO-INGRESS-HTTP"].features | profiles["ISTIO-MESH-HTTP"].features
            egress_only = frozenset(profiles["ISTIO-EGRESS"].features) - frozenset(shared)
            return frozenset(catalog.features) - egress_only
        if self.profile == "minimal":
            return frozenset(catalog.profiles["ISTIO-MESH-HTTP"].features)
        return frozenset()

    def effective_version(self) -> str:
        """The Istio version cases run on: the live istiod's, the option's, else the pin."""
        return self.live_version or self.version or ISTIO_VERSION

    def features_too_new(self) -> frozenset[str]:
        """Features whose fields the effective Istio version's CRDs lack (``FEATURE_SINCE``)."""
        have = parse_version(self.effective_version()) or (0, 0)
        return frozenset(f for f, since in FEATURE_SINCE.items() if have[:2] < since)

    def describe(self) -> str:
        return f"istio {self.effective_version()} (profile {self.profile})"

    def capabilities(self) -> frozenset[str]:
        if self.profile == "ambient":
            return frozenset()
        # metrics: every sidecar and gateway serves its istio_* samples on :15090;
        # access-log: each writes its log to its istio-proxy container's log.
        return frozenset({"mesh-clients", "metrics", "access-log"})

    def installed_mesh_config(self) -> Any:
        """The profile's meshConfig (manifests/helm-profiles/<profile>.yaml): demo logs
        to /dev/stdout and defines four collector providers; the others set nothing."""
        from ...._cases.model.meshconfig import MeshConfig

        if self.profile == "ambient":
            return None
        if self.profile != "demo":
            return MeshConfig()
        return MeshConfig.model_validate({"accessLogFile": "/dev/stdout", "extensionProviders": [
            {"name": "otel", "envoyOtelAls": {
                "service": "opentelemetry-collector.observability.svc.cluster.local",
                "port": 4317}},
            {"name": "skywalking", "skywalking": {
                "service": "tracing.istio-system.svc.cluster.local", "port": 11800}},
            {"name": "otel-tracing", "opentelemetry": {
                "port": 4317,
                "service": "opentelemetry-collector.observability.svc.cluster.local"}},
            {"name": "jaeger", "opentelemetry": {
                "port": 4317, "service": "jaeger-collector.istio-system.svc.cluster.local"}},
        ]})  # fmt: skip

    def fingerprint(self) -> str:
        return (
            f"istio/{self.mode}/{self.profile}/{self.version or '-'}/{self.revision or '-'}"
            f"/gateway-api={GATEWAY_API_VERSION}-{self.gateway_api_channel}"
        )

    # ------------------------------------------------------------ Gateway API

    def gateway_class(self) -> GatewayClassInfo | None:
        # istiod creates it once the CRDs are served (pilot/pkg/config/kube/gatewaycommon).
        return GatewayClassInfo("istio", "istio.io/gateway-controller")

    def gateway_api_unavailable(self) -> str | None:
        return self._gateway_api_missing

    def gateway_api_labels(self) -> dict[str, str]:
        # A revisioned istiod reconciles only Gateways labelled with its revision.
        return {"istio.io/rev": self.revision} if self.revision else {}

    def gateway_api_workload(self, namespace: str, name: str) -> GatewayWorkload | None:
        """``<name>-istio`` in the Gateway's namespace (deploymentcontroller.go's naming)."""
        return GatewayWorkload(
            name=f"{name}-istio"[:63].rstrip("-"),
            namespace=namespace,
            labels={"gateway.networking.k8s.io/gateway-name": name},
            ports=[],
        )

    def gateway_manifests(self, workload: GatewayWorkload, namespace: str) -> list[dict[str, Any]]:
        """A gateway by injection, Istio's documented way: image ``auto``, template gateway."""
        pod_labels = {**workload.labels, "sidecar.istio.io/inject": "true"}
        if self.revision:
            pod_labels["istio.io/rev"] = self.revision
        marker = {"meshgate.dev/gateway": workload.name}
        return [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": workload.name, "namespace": namespace, "labels": dict(marker)},
                "spec": {
                    "type": "ClusterIP",
                    "selector": dict(workload.labels),
                    "ports": [
                        {"name": p.name, "port": p.port, "targetPort": p.target_port or p.port}
                        for p in workload.ports
                    ],
                },
            },
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": workload.name, "namespace": namespace, "labels": dict(marker)},
                "spec": {
                    "selector": {"matchLabels": dict(workload.labels)},
                    "template": {
                        "metadata": {
                            # The case's pod annotations (proxy.istio.io/config) as written.
                            "annotations": {
                                **workload.annotations,
                                "inject.istio.io/templates": "gateway",
                            },
                            "labels": pod_labels,
                        },
                        "spec": {"containers": [{"name": "istio-proxy", "image": "auto"}]},
                    },
                },
            },
        ]

    # ------------------------------------------------------------ install

    def preflight(self) -> None:
        if self.mode == "istioctl" and self.istioctl is None:
            given = self.options.get("istioctl")
            where = (
                f"--meshgate-istioctl={given} is not an executable file"
                if given
                else ("no istioctl on PATH")
            )
            raise TargetUnavailable(
                f"meshgate: installing Istio needs istioctl: {where} (get it: "
                "curl -L https://istio.io/downloadIstio | sh -, or pass --meshgate-istioctl=PATH, "
                "or --meshgate-istio-install=helm|none)"
            )
        if self.mode == "helm" and self.helm is None:
            raise TargetUnavailable(
                "meshgate: installing Istio with Helm needs helm: none on PATH "
                "(https://helm.sh/docs/intro/install/, or --meshgate-helm=PATH, "
                "or --meshgate-istio-install=istioctl|none)"
            )

    def install_commands(self, cluster: ClusterHandle) -> list[list[str]]:
        """The exact commands ``install`` runs, in order (also what the tests assert)."""
        from .istio_install import install_commands

        return install_commands(self, cluster)

    def install(self, cluster: ClusterHandle) -> None:
        from .istio_install import check_istioctl_version

        if self.mode == "istioctl" and self.version:
            check_istioctl_version(self)
        if self.mode != "none":
            # First, as Istio's docs order it: istiod then finds them at start.
            self.install_gateway_api_crds()
        for command in self.install_commands(cluster):
            run_tool(command, timeout=900)

    def install_gateway_api_crds(self) -> None:
        """Apply the pinned Gateway API release unless the cluster has it (or a newer one)."""
        from .gatewayapi_crds import ensure_gateway_api_crds

        assert self.kube is not None, "attach() first"
        self.gateway_api_note = ensure_gateway_api_crds(
            self.kube, GATEWAY_API_VERSION, self.gateway_api_channel, self.gateway_api_manifest
        )

    def wait_ready(self, cluster: ClusterHandle, api: Any, timeout: float) -> None:
        from ..kube import wait_daemonsets_ready, wait_deployments_available

        istiod = f"istiod-{self.revision}" if self.revision else "istiod"
        names = [istiod, *(DEFAULT_GATEWAYS[s].name for s in PROFILES[self.profile])]
        try:
            wait_deployments_available(api, [(SYSTEM_NAMESPACE, n) for n in names], timeout)
            if self.profile == "ambient":
                # The ambient data plane: no traffic flows before these run on every node.
                wait_daemonsets_ready(
                    api,
                    [(SYSTEM_NAMESPACE, "ztunnel"), (SYSTEM_NAMESPACE, "istio-cni-node")],
                    timeout,
                )
        except TargetError as exc:
            raise TargetError(
                f"{exc}\n(profile {self.profile}; installed with {self.mode}: with "
                "--meshgate-istio-install=none, Istio must already run with that profile)"
            ) from None
        live = api.get("apps/v1", "Deployment", istiod, SYSTEM_NAMESPACE) or {}
        self.live_version = istiod_version(live) or self.live_version
        missing = [
            r for r in crds_to_install(api, GATEWAY_API_VERSION, self.gateway_api_channel)
            if r.endswith(": missing")
        ]  # fmt: skip
        self._gateway_api_missing = (
            f"the cluster lacks the Gateway API CRDs ({', '.join(missing)}; install "
            f"them: kubectl apply --server-side -f {self.gateway_api_manifest})"
            if missing
            else None
        )

    # ------------------------------------------------------------ diagnostics

    def dump(self, cluster: ClusterHandle, gateway: GatewayWorkload) -> str:
        from .istio_diagnostics import dump_gateway

        return dump_gateway(self, cluster, gateway)

    def analyze(self, cluster: ClusterHandle, namespaces: list[str]) -> str:
        from .istio_diagnostics import analyze

        return analyze(self, cluster, namespaces)

    def wait_synced(
        self, cluster: ClusterHandle, wanted: dict[str, list[str]], timeout: float
    ) -> str:
        from .istio_diagnostics import wait_routes

        return wait_routes(self, cluster, wanted, timeout)


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``1.26.2`` (or ``v1.26.2``, ``1.26.2-distroless``) -> (1, 26, 2); None if it is none."""
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def istiod_version(deployment: dict[str, Any]) -> str | None:
    """The version of a running istiod from its image tag (``docker.io/istio/pilot:1.26.2``)."""
    containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or []
    for container in containers:
        image = str(container.get("image") or "")
        tag = image.rsplit("@", 1)[0].rpartition(":")[2] if ":" in image else ""
        if parse_version(tag) is not None:
            return tag
    return None
