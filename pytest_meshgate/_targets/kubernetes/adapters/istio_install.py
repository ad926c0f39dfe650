"""Installing Istio: the exact istioctl or Helm commands for a profile, and the version check.

istioctl: ``istioctl install -y --set profile=<profile>``; its gateways map
Service port 80 to 8080 and 443 to 8443, which the default gateway
definitions (``DEFAULT_GATEWAYS``) and the cases assume (a Gateway server on
8080 is Service port 80's target).

Helm, from Istio's charts as published (``manifests/charts/`` in istio/istio):

- A chart's ``profile`` value names a file ``files/profile-<name>.yaml`` of
  that chart (``templates/zzz_profile.yaml`` fails with "unknown profile"
  otherwise). The charts of 1.26-1.28 have ambient, demo, preview, remote,
  stable and platform-* profiles, no ``default`` and no ``minimal``: those
  two are the charts' own defaults, so no profile is passed for them.
- The ``gateway`` chart's Service is a ``LoadBalancer`` mapping 80->80 and
  443->443 (its ``values.yaml``). ``helm --wait`` waits for a load-balancer
  address, which plain kind never assigns; and 80->80 is not what the cases
  assume. So its Service gets istioctl's ports (``--set-json``, Helm >= 3.10)
  and, on kind, type NodePort (meshgate then pins the node ports); on an
  existing cluster it stays a LoadBalancer, installed without ``--wait``
  (meshgate waits for the gateway Deployment itself).
"""

from __future__ import annotations

import json
from typing import Any

from ...._cases.model.workloads import DEFAULT_GATEWAYS
from ...._errors import TargetUnavailable
from ..providers import ClusterHandle, run_tool

__all__ = [
    "GATEWAY_SERVICE_PORTS",
    "HELM_PROFILES",
    "HELM_REPO",
    "ISTIO_VERSION",
    "PROFILES",
    "SYSTEM_NAMESPACE",
    "check_istioctl_version",
    "install_commands",
    "istioctl_client_version",
]

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

# meshgate profile -> the charts' profile value (None: the charts' defaults).
HELM_PROFILES: dict[str, str | None] = {
    "default": None,
    "demo": "demo",
    "minimal": None,
    "ambient": "ambient",
}

# istioctl's gateway Service ports (manifests/charts/gateways/istio-ingress/values.yaml).
GATEWAY_SERVICE_PORTS = [
    {"name": "status-port", "port": 15021, "protocol": "TCP", "targetPort": 15021},
    {"name": "http2", "port": 80, "protocol": "TCP", "targetPort": 8080},
    {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443},
]


def install_commands(adapter: Any, cluster: ClusterHandle) -> list[list[str]]:
    """The commands that install ``adapter``'s Istio (an ``IstioAdapter``) into ``cluster``."""
    if adapter.mode == "none":
        return []
    if adapter.mode == "istioctl":
        assert adapter.istioctl is not None
        command = [str(adapter.istioctl), "install", "-y", "--set", f"profile={adapter.profile}"]
        if adapter.revision:
            command += ["--revision", adapter.revision]
        return [command + cluster.tool_args()]
    assert adapter.helm is not None
    version = adapter.version or ISTIO_VERSION
    repo = ["--repo", HELM_REPO, "--version", version, "--namespace", SYSTEM_NAMESPACE]
    kube = cluster.tool_args(helm=True)
    wait = ["--wait", *kube]
    profile = HELM_PROFILES[adapter.profile]
    with_profile = ["--set", f"profile={profile}"] if profile else []
    rev = ["--set", f"revision={adapter.revision}"] if adapter.revision else []
    istiod = f"istiod-{adapter.revision}" if adapter.revision else "istiod"
    helm = str(adapter.helm)
    commands = [
        [helm, "upgrade", "--install", "istio-base", "base", *repo, *wait, "--create-namespace"],
        [helm, "upgrade", "--install", istiod, "istiod", *repo, *wait, *with_profile, *rev],
    ]
    if adapter.profile == "ambient":
        commands.append([helm, "upgrade", "--install", "istio-cni", "cni", *repo, *wait,
                         *with_profile])  # fmt: skip
        commands.append([helm, "upgrade", "--install", "ztunnel", "ztunnel", *repo, *wait])
    for short in PROFILES[adapter.profile]:
        release = DEFAULT_GATEWAYS[short].name
        ports = ["--set-json", f"service.ports={json.dumps(GATEWAY_SERVICE_PORTS)}"]
        if cluster.host_ports:  # kind: NodePort, pinned to the mapped ports afterwards
            service = ["--set", "service.type=NodePort", *wait]
        elif short == "egress":
            service = ["--set", "service.type=ClusterIP", *wait]
        else:  # a LoadBalancer: no --wait, which would wait for its address
            service = kube
        commands.append(
            [helm, "upgrade", "--install", release, "gateway", *repo, *service, *with_profile,
             *rev, *ports]
        )  # fmt: skip
    return commands


def istioctl_client_version(adapter: Any) -> str:
    """``istioctl version --remote=false -o json``'s ``clientVersion.version``.

    The JSON is ``pkg/version`` ``Version`` (``cobra.go``):
    ``{"clientVersion": {"version": "1.26.2", "revision": ..., "golang_version": ...,
    "status": ..., "tag": ...}}``. The text forms are not parsed: ``--short``
    prints ``client version: 1.26.2``, the long form a Go struct.
    """
    assert adapter.istioctl is not None
    out = run_tool([str(adapter.istioctl), "version", "--remote=false", "-o", "json"], timeout=60)
    try:
        version = json.loads(out)["clientVersion"]["version"]
    except (ValueError, KeyError, TypeError):
        raise TargetUnavailable(
            f"meshgate: `{adapter.istioctl} version --remote=false -o json` printed no "
            f"clientVersion.version: {out.strip()[:200]!r}"
        ) from None
    return str(version)


def check_istioctl_version(adapter: Any) -> None:
    """--meshgate-istio-version must be the istioctl's own (it installs its version)."""
    assert adapter.version is not None
    have = istioctl_client_version(adapter)
    if have.lstrip("v") != adapter.version.lstrip("v"):
        raise TargetUnavailable(
            f"meshgate: --meshgate-istio-version={adapter.version} but istioctl "
            f"{adapter.istioctl} is {have}; pass the matching --meshgate-istioctl"
        )
