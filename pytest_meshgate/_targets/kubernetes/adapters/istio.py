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
"""

from __future__ import annotations

import json
from typing import Any

from ...._cases.model.workloads import DEFAULT_GATEWAYS, GatewayWorkload
from ...._errors import TargetError, TargetUnavailable
from ..providers import ClusterHandle, resolve_binary, run_tool
from .base import AdapterOptions, Implementation

__all__ = ["HELM_REPO", "ISTIO_VERSION", "PROFILES", "IstioAdapter"]

# The Helm charts' version when none is given; istioctl brings its own.
ISTIO_VERSION = "1.26.2"
HELM_REPO = "https://istio-release.storage.googleapis.com/charts"
SYSTEM_NAMESPACE = "istio-system"

# profile -> the default gateways it runs (istio manifests/profiles/*.yaml).
PROFILES: dict[str, tuple[str, ...]] = {
    "default": ("ingress",),
    "demo": ("ingress", "egress"),
    "minimal": (),
    "ambient": (),
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
        self.revision = options.get("istio-revision")
        default_mode = "istioctl" if options.target == "kind" else "none"
        self.mode = options.get("istio-install", default_mode) or default_mode
        if self.mode not in ("istioctl", "helm", "none"):
            raise TargetUnavailable(
                f"meshgate: --meshgate-istio-install={self.mode}: not one of istioctl, helm, none"
            )
        self._istioctl = resolve_binary("istioctl", options.get("istioctl"))
        self._helm = resolve_binary("helm", options.get("helm"))

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
        if self.profile == "demo":
            return None
        from ...._cases.catalog import DEFAULT_CATALOG, load_catalog

        catalog = load_catalog(DEFAULT_CATALOG)
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

    def capabilities(self) -> frozenset[str]:
        if self.profile == "ambient":
            return frozenset()
        return frozenset({"mesh-clients"})

    def fingerprint(self) -> str:
        return f"istio/{self.mode}/{self.profile}/{self.version or '-'}/{self.revision or '-'}"

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
                            "annotations": {"inject.istio.io/templates": "gateway"},
                            "labels": pod_labels,
                        },
                        "spec": {"containers": [{"name": "istio-proxy", "image": "auto"}]},
                    },
                },
            },
        ]

    # ------------------------------------------------------------ install

    def preflight(self) -> None:
        if self.mode == "istioctl" and self._istioctl is None:
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
        if self.mode == "helm" and self._helm is None:
            raise TargetUnavailable(
                "meshgate: installing Istio with Helm needs helm: none on PATH "
                "(https://helm.sh/docs/intro/install/, or --meshgate-helm=PATH, "
                "or --meshgate-istio-install=istioctl|none)"
            )

    def install_commands(self, cluster: ClusterHandle) -> list[list[str]]:
        """The exact commands ``install`` runs, in order (also what the tests assert)."""
        if self.mode == "none":
            return []
        if self.mode == "istioctl":
            assert self._istioctl is not None
            command = [str(self._istioctl), "install", "-y", "--set", f"profile={self.profile}"]
            if self.revision:
                command += ["--revision", self.revision]
            return [command + cluster.tool_args()]
        assert self._helm is not None
        version = self.version or ISTIO_VERSION
        common = ["--repo", HELM_REPO, "--version", version, "--namespace", SYSTEM_NAMESPACE]
        common += ["--wait", *cluster.tool_args(helm=True)]
        rev = ["--set", f"revision={self.revision}"] if self.revision else []
        istiod = f"istiod-{self.revision}" if self.revision else "istiod"
        helm = str(self._helm)
        commands = [
            [helm, "upgrade", "--install", "istio-base", "base", *common, "--create-namespace"],
        ]
        if self.profile == "ambient":
            commands.append(
                [helm, "upgrade", "--install", "istio-cni", "cni", *common,
                 "--set", "profile=ambient"]
            )  # fmt: skip
        commands.append(
            [helm, "upgrade", "--install", istiod, "istiod", *common,
             "--set", f"profile={self.profile}", *rev]
        )  # fmt: skip
        if self.profile == "ambient":
            commands.append([helm, "upgrade", "--install", "ztunnel", "ztunnel", *common])
        for short in PROFILES[self.profile]:
            release = DEFAULT_GATEWAYS[short].name
            service = ["--set", "service.type=ClusterIP"] if short == "egress" else []
            commands.append(
                [helm, "upgrade", "--install", release, "gateway", *common, *rev, *service]
            )
        return commands

    def install(self, cluster: ClusterHandle) -> None:
        if self.mode == "istioctl" and self.version:
            assert self._istioctl is not None
            have = run_tool([str(self._istioctl), "version", "--remote=false", "--short"]).strip()
            if have.lstrip("v") != self.version.lstrip("v"):
                raise TargetUnavailable(
                    f"meshgate: --meshgate-istio-version={self.version} but istioctl "
                    f"{self._istioctl} is {have}; pass the matching --meshgate-istioctl"
                )
        for command in self.install_commands(cluster):
            run_tool(command, timeout=900)

    def wait_ready(self, cluster: ClusterHandle, api: Any, timeout: float) -> None:
        from ..kube import wait_deployments_available

        istiod = f"istiod-{self.revision}" if self.revision else "istiod"
        names = [istiod, *(DEFAULT_GATEWAYS[s].name for s in PROFILES[self.profile])]
        try:
            wait_deployments_available(api, [(SYSTEM_NAMESPACE, n) for n in names], timeout)
        except TargetError as exc:
            raise TargetError(
                f"{exc}\n(profile {self.profile}; installed with {self.mode}: with "
                "--meshgate-istio-install=none, Istio must already run with that profile)"
            ) from None

    # ------------------------------------------------------------ diagnostics

    def dump(self, cluster: ClusterHandle, gateway: GatewayWorkload) -> str:
        if self._istioctl is None:
            return "(no istioctl: the gateway's routes and clusters cannot be shown)"
        sections: list[str] = []
        for what in ("routes", "clusters"):
            command = [
                str(self._istioctl), "proxy-config", what, f"deploy/{gateway.name}",
                "-n", gateway.namespace, "-o", "json", *cluster.tool_args(),
            ]  # fmt: skip
            try:
                out = run_tool(command, timeout=60)
                text = json.dumps(json.loads(out), indent=1)[:6000]
            except (TargetError, ValueError) as exc:
                text = f"(failed: {exc})"
            sections.append(f"istioctl proxy-config {what} of {gateway.name}:\n{text}")
        return "\n\n".join(sections)
