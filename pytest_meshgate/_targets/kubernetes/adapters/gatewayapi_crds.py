"""The Gateway API CRDs on a cluster: read the installed bundle, apply the pinned release if older.

Istio's docs install them with
``kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/<v>/standard-install.yaml``
(or ``experimental-install.yaml``). Here the same manifest is fetched and
server-side applied through the API (field manager ``pytest-meshgate``,
conflicts forced, as ``kubectl apply --server-side --force-conflicts`` does),
but only when the cluster lacks one of the CRDs the cases use, or has an
older bundle: each CRD of the release carries
``gateway.networking.k8s.io/bundle-version`` and ``.../channel`` annotations
(``config/crd/*/gateway.networking.k8s.io_*.yaml`` of kubernetes-sigs/gateway-api).
A newer bundle is left alone. Then each CRD must be ``Established``.

The pin is what Istio at HEAD requires (``sigs.k8s.io/gateway-api v1.6.0``
in istio/istio's ``go.mod``). At v1.6.0 GRPCRoute, TLSRoute and TCPRoute are
``v1`` in the standard channel; the experimental channel adds the older
``v1alpha2``/``v1alpha3`` versions and experimental fields (HTTPRoute
``retry``, ``parentRefs[].port``, ``sessionPersistence``) that cases use, so
it is the default (``--meshgate-gateway-api-channel``).
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import yaml

from ...._errors import TargetError, TargetUnavailable
from ..kube import condition_true

__all__ = [
    "BUNDLE_ANNOTATION",
    "CASE_CRDS",
    "CHANNELS",
    "CHANNEL_ANNOTATION",
    "FIELD_MANAGER",
    "GATEWAY_API_VERSION",
    "crds_to_install",
    "ensure_gateway_api_crds",
    "release_url",
]

GATEWAY_API_VERSION = "v1.6.0"
CHANNELS = ("standard", "experimental")
RELEASE_BASE = "https://github.com/kubernetes-sigs/gateway-api/releases/download"
BUNDLE_ANNOTATION = "gateway.networking.k8s.io/bundle-version"
CHANNEL_ANNOTATION = "gateway.networking.k8s.io/channel"
FIELD_MANAGER = "pytest-meshgate"
# The CRDs of the kinds cases may hold (_cases/model/resources.py).
CASE_CRDS = tuple(
    f"{plural}.gateway.networking.k8s.io"
    for plural in (
        "gatewayclasses",
        "gateways",
        "httproutes",
        "grpcroutes",
        "referencegrants",
        "tlsroutes",
        "tcproutes",
        "listenersets",
        "backendtlspolicies",
    )
)
_POLL = 1.0


def release_url(version: str, channel: str, base: str = RELEASE_BASE) -> str:
    return f"{base.rstrip('/')}/{version}/{channel}-install.yaml"


def _bundle(version: str) -> tuple[int, int, int, int] | None:
    """``v1.6.0`` -> (1, 6, 0, 1); a pre-release (``v1.6.0-rc.1``) sorts before its release."""
    match = re.match(r"^v?(\d+)\.(\d+)\.(\d+)(-.+)?$", version.strip())
    if match is None:
        return None
    major, minor, patch = (int(match.group(i)) for i in (1, 2, 3))
    return major, minor, patch, 0 if match.group(4) else 1


def crds_to_install(kube: Any, version: str, channel: str) -> list[str]:
    """Why the pinned bundle must be applied: one line per CRD missing or older; [] if none."""
    wanted = _bundle(version)
    assert wanted is not None, version
    reasons: list[str] = []
    for name in CASE_CRDS:
        live = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name, None)
        if live is None:
            reasons.append(f"{name}: missing")
            continue
        annotations = (live.get("metadata") or {}).get("annotations") or {}
        have = str(annotations.get(BUNDLE_ANNOTATION) or "")
        parsed = _bundle(have)
        if parsed is None or parsed < wanted:
            reasons.append(f"{name}: bundle {have or 'unknown'} older than {version}")
        elif (
            parsed == wanted
            and channel == "experimental"
            and annotations.get(CHANNEL_ANNOTATION) == "standard"
        ):
            # The experimental channel is a superset; the standard one lacks what cases use.
            reasons.append(f"{name}: channel standard, experimental wanted")
    return reasons


def fetch_manifest(url: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """The release manifest's objects (its YAML documents, empty ones left out)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read().decode("utf-8")
    except OSError as exc:
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # it holds the response, and with it the connection
        raise TargetUnavailable(
            f"meshgate: cannot fetch the Gateway API CRDs from {url}: {exc} (install them "
            f"yourself: kubectl apply --server-side -f {url})"
        ) from None
    objects = [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]
    if not any(o.get("kind") == "CustomResourceDefinition" for o in objects):
        raise TargetUnavailable(f"meshgate: {url} holds no CustomResourceDefinition")
    return objects


def ensure_gateway_api_crds(
    kube: Any,
    version: str = GATEWAY_API_VERSION,
    channel: str = "experimental",
    url: str | None = None,
    timeout: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Apply the release (``url``, default the pinned one) when the cluster needs it; wait
    until its CRDs are Established.

    Returns what was done, for the log: ``""`` when the installed bundle sufficed.
    """
    reasons = crds_to_install(kube, version, channel)
    if not reasons:
        return ""
    url = url or release_url(version, channel)
    objects = fetch_manifest(url)
    for obj in objects:
        kube.server_side_apply(obj, FIELD_MANAGER)
    names = [o["metadata"]["name"] for o in objects if o.get("kind") == "CustomResourceDefinition"]
    _wait_established(kube, names, timeout, sleep)
    return f"applied {url} ({'; '.join(reasons)})"


def _wait_established(
    kube: Any, names: list[str], timeout: float, sleep: Callable[[float], None]
) -> None:
    """Every CRD ``Established``, as ``kubectl wait --for=condition=Established`` waits."""
    deadline = time.monotonic() + timeout
    waiting = list(names)
    while waiting:
        waiting = [n for n in waiting if not _established(kube, n)]
        if not waiting:
            return
        if time.monotonic() >= deadline:
            raise TargetError(
                f"meshgate: Gateway API CRDs not Established after {timeout:.0f}s: "
                + ", ".join(waiting)
            )
        sleep(_POLL)


def _established(kube: Any, name: str) -> bool:
    live = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name, None)
    return condition_true(live, "Established")
