"""When a case's configuration has reached its proxies: the routes each must carry.

A negative check (a 404, a refused port) passes just as well on the previous
case's configuration, so before the first check the deployment waits until
every gateway and client sidecar the checks use carries a route of each
VirtualService that binds to it. Istio tags every route it builds from a
VirtualService with the config's path (``AddConfigInfoMetadata`` in
``pilot/pkg/networking/util/util.go``:
``filterMetadata.istio.config = /apis/<group>/<version>/namespaces/<ns>/virtual-service/<name>``),
so the proxy's own route dump (``istioctl proxy-config routes -o json``) says
whether it has them; the version in the path is Istio's, so only the
``/namespaces/<ns>/virtual-service/<name>`` end is compared.

Only HTTP routes carry it (TCP and TLS routes are listener filter chains),
and a VirtualService whose hosts no bound server serves yields no route: such
VirtualServices are not waited for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..._cases.model.case import Case

__all__ = ["config_suffix", "expected_routes", "hosts_overlap"]


def config_suffix(namespace: str, name: str) -> str:
    return f"/namespaces/{namespace}/virtual-service/{name}"


def _host_matches(pattern: str, host: str) -> bool:
    if pattern == "*" or pattern == host:
        return True
    return pattern.startswith("*.") and host.endswith(pattern[1:])


def hosts_overlap(server_hosts: Iterable[str], vs_hosts: Iterable[str]) -> bool:
    """Whether a VirtualService host can be served by a server host (``ns/`` prefixes dropped)."""
    servers = [h.split("/", 1)[-1] for h in server_hosts]
    return any(_host_matches(s, v) or _host_matches(v, s) for s in servers for v in vs_hosts)


def _rewritten(case: Case, plan: Any) -> list[dict[str, Any]]:
    from .namespaces import rewrite_resource

    services = [s.name for s in case.spec.services]
    return [rewrite_resource(r, plan, services) for r in case.spec.resources]


def expected_routes(
    case: Case, plan: Any, proxies: Mapping[str, tuple[str, Mapping[str, str]]]
) -> dict[str, list[str]]:
    """Proxy ref (as istioctl names it) -> config suffixes its routes must hold."""
    resources = _rewritten(case, plan)
    gateways = [r for r in resources if r.get("kind") == "Gateway"]
    services = [r for r in resources if r.get("kind") == "VirtualService"]
    wanted: dict[str, list[str]] = {}
    client_names = {c.name for c in case.spec.clients}
    for short, (ref, labels) in proxies.items():
        suffixes: list[str] = []
        for vs in services:
            spec = vs.get("spec") or {}
            if not spec.get("http"):
                continue
            namespace = vs["metadata"]["namespace"]
            bound = spec.get("gateways") or ["mesh"]
            if short in client_names:
                client_ns = plan.map(_client_ns(case, short))
                if "mesh" in bound and _exported(spec, namespace, client_ns):
                    suffixes.append(config_suffix(namespace, vs["metadata"]["name"]))
                continue
            for gateway in gateways:
                selector = (gateway.get("spec") or {}).get("selector") or {}
                if not selector or any(labels.get(k) != v for k, v in selector.items()):
                    continue
                gw_ns, gw_name = gateway["metadata"]["namespace"], gateway["metadata"]["name"]
                refs = {f"{gw_ns}/{gw_name}"} | ({gw_name} if gw_ns == namespace else set())
                if not refs & set(bound):
                    continue
                hosts = [
                    h for s in (gateway.get("spec") or {}).get("servers") or []
                    for h in s.get("hosts") or []
                ]  # fmt: skip
                if hosts_overlap(hosts, spec.get("hosts") or []):
                    suffixes.append(config_suffix(namespace, vs["metadata"]["name"]))
                    break
        if suffixes:
            wanted[ref] = sorted(set(suffixes))
    return wanted


def _client_ns(case: Case, name: str) -> str:
    return next(c.namespace for c in case.spec.clients if c.name == name)


def _exported(spec: Mapping[str, Any], own: str, namespace: str) -> bool:
    export_to = spec.get("exportTo") or []
    if not export_to or "*" in export_to:
        return True
    return namespace in export_to or ("." in export_to and own == namespace)
