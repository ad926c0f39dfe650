"""Istio's side of a failure and of readiness: proxy config, logs, analysis, routes in sync.

A failed check or deployment shows, for the gateway it used: the logs of its
pods and of istiod (their tails), its listeners, routes and clusters
(``istioctl proxy-config ... -o json``), and ``istioctl analyze`` of the
case's namespaces. Before the first check, ``wait_routes`` polls the routes
of each proxy the checks use until they carry the case's VirtualServices
(``sync.py`` says which).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from ...._cases.model.workloads import GatewayWorkload
from ...._errors import TargetError
from ..providers import ClusterHandle, run_tool

__all__ = ["analyze", "dump_gateway", "missing_routes", "pod_logs", "wait_routes"]

_SECTION_LIMIT = 6000
_POLL = 2.0


def _istioctl(adapter: Any, cluster: ClusterHandle, *args: str) -> str:
    assert adapter.istioctl is not None
    return run_tool([str(adapter.istioctl), *args, *cluster.tool_args()], timeout=60)


def pod_logs(api: Any, namespace: str, selector: str, lines: int = 40) -> str:
    """The tails of the logs of the pods ``selector`` picks (every container)."""
    from ..kube import k8s

    core = k8s("kubernetes.client").CoreV1Api(api.api_client)
    out: list[str] = []
    for pod in api.list("v1", "Pod", namespace, selector):
        name = pod["metadata"]["name"]
        for container in (pod.get("spec") or {}).get("containers") or []:
            try:
                log = core.read_namespaced_pod_log(
                    name, namespace, container=container["name"], tail_lines=lines
                )
            except Exception as exc:  # a dump must never hide the original failure
                log = f"(no log: {exc})"
            out.append(f"log of {namespace}/{name} {container['name']}:")
            out += [f"  {line}" for line in str(log).splitlines()[-lines:]]
    return "\n".join(out)


def dump_gateway(adapter: Any, cluster: ClusterHandle, gateway: GatewayWorkload) -> str:
    sections: list[str] = []
    kube = getattr(adapter, "kube", None)
    if kube is not None:
        selector = ",".join(f"{k}={v}" for k, v in sorted(gateway.labels.items()))
        istiod = "app=istiod" + (f",istio.io/rev={adapter.revision}" if adapter.revision else "")
        for namespace, chosen in ((gateway.namespace, selector), ("istio-system", istiod)):
            try:
                sections.append(pod_logs(kube, namespace, chosen))
            except Exception as exc:
                sections.append(f"(logs of {chosen} in {namespace}: {exc})")
    if adapter.istioctl is None:
        sections.append("(no istioctl: the gateway's listeners, routes, clusters are not shown)")
        return "\n\n".join(s for s in sections if s)
    for what in ("listeners", "routes", "clusters"):
        try:
            out = _istioctl(
                adapter, cluster, "proxy-config", what, f"deploy/{gateway.name}",
                "-n", gateway.namespace, "-o", "json",
            )  # fmt: skip
            text = json.dumps(json.loads(out), indent=1)[:_SECTION_LIMIT]
        except (TargetError, ValueError) as exc:
            text = f"(failed: {exc})"
        sections.append(f"istioctl proxy-config {what} of {gateway.name}:\n{text}")
    return "\n\n".join(s for s in sections if s)


def analyze(adapter: Any, cluster: ClusterHandle, namespaces: list[str]) -> str:
    """``istioctl analyze`` of each namespace: what Istio itself finds wrong with the case."""
    if adapter.istioctl is None:
        return ""
    parts = []
    for namespace in namespaces:
        try:
            out = _istioctl(adapter, cluster, "analyze", "--namespace", namespace)
        except TargetError as exc:  # analyze exits non-zero when it finds errors
            out = str(exc)
        parts.append(f"istioctl analyze --namespace {namespace}:\n{out.strip()[:_SECTION_LIMIT]}")
    return "\n\n".join(parts)


def wait_routes(
    adapter: Any,
    cluster: ClusterHandle,
    wanted: dict[str, list[str]],
    timeout: float,
    sleep: Any = time.sleep,
    now: Any = time.monotonic,
) -> str:
    """Poll each proxy's routes until they carry ``wanted``; '' then, else what is missing.

    ``wanted``: ``<namespace>:<istioctl target>`` -> config suffixes. Not
    reaching them is not an error (a VirtualService may legitimately yield
    no route, e.g. one that loses a host conflict); the note goes into
    failure messages instead.
    """
    if adapter.istioctl is None:
        return "meshgate: no istioctl, so whether the proxies carry the case's routes is unknown"
    deadline = now() + timeout
    missing: dict[str, list[str]] = dict(wanted)
    while True:
        for ref in list(missing):
            namespace, _, target = ref.partition(":")
            try:
                out = _istioctl(
                    adapter, cluster, "proxy-config", "routes", target, "-n", namespace,
                    "-o", "json",
                )  # fmt: skip
                still = missing_routes(json.loads(out), missing[ref])
            except (TargetError, ValueError):
                continue
            if still:
                missing[ref] = still
            else:
                del missing[ref]
        if not missing:
            return ""
        if now() >= deadline:
            detail = "; ".join(f"{ref} lacks {', '.join(s)}" for ref, s in sorted(missing.items()))
            return (
                f"meshgate: after {timeout:.0f}s the proxies still lacked routes of the case "
                f"({detail}); a check may have seen older configuration"
            )
        sleep(_POLL)


def missing_routes(route_dump: Any, suffixes: Iterable[str]) -> list[str]:
    """The config suffixes no route of ``istioctl proxy-config routes -o json`` carries.

    Each route Istio builds from a VirtualService has
    ``metadata.filterMetadata.istio.config`` =
    ``/apis/<group>/<version>/namespaces/<ns>/virtual-service/<name>``
    (``AddConfigInfoMetadata``, ``pilot/pkg/networking/util/util.go``).
    """
    seen: set[str] = set()
    for config in route_dump if isinstance(route_dump, list) else []:
        for host in config.get("virtualHosts") or []:
            for route in host.get("routes") or []:
                meta = ((route.get("metadata") or {}).get("filterMetadata") or {}).get("istio")
                path = (meta or {}).get("config")
                if isinstance(path, str):
                    seen.add(path)
    return [s for s in suffixes if not any(p.endswith(s) for p in seen)]
