"""Whether a case runs with mesh mutual TLS modelled, and the Envoy of the inbound sidecars.

Istio gives every injected pod a sidecar and every client sidecar and gateway
auto mTLS towards them. Locally that costs an Envoy hop per request, so the
inbound sidecars run only in cases where they can change an outcome: the case
holds a PeerAuthentication, a DestinationRule with ISTIO_MUTUAL towards one
of its services, says which workloads are in the mesh (a Namespace labelled
``istio-injection``, a service or client with ``sidecar``), an
AuthorizationPolicy or RequestAuthentication selects one of its services (its
inbound sidecar enforces it), a check looks at the
``X-Forwarded-Client-Cert`` header the inbound sidecar adds, or a check has
``expect.metrics`` (the principals and ``connection_security_policy`` Istio
reports, the destination reporter at an injected pod and the peer metadata
its sidecar exchanges all come from that sidecar), or an ``expect.accessLog`` names a
service (its pods' sidecars log at their inbound listeners). Elsewhere
traffic from the mesh reaches the echo directly in plaintext, which is what
auto mTLS looks like to the app except for that header.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..._cases.loader import LoadedCase
from ..._cases.model.istio import (
    AuthorizationPolicy,
    DestinationRule,
    PeerAuthentication,
    RequestAuthentication,
    TrafficPolicy,
)
from ..._cases.model.kubernetes import KubernetesNamespace
from ..._cases.model.workloads import GatewayWorkload, Service
from .translate.authz import attaches
from .world import ROOT_NAMESPACE

__all__ = ["INBOUND_SIDECARS", "mesh_tls_modelled"]

# The one Envoy serving every injected pod's inbound listeners (translate/sidecar/inbound).
INBOUND_SIDECARS = GatewayWorkload(
    name="inbound-sidecars", namespace="meshgate", labels={"app": "inbound-sidecars"}, ports=[]
)
_XFCC = "x-forwarded-client-cert"


def _tls_modes(policy: TrafficPolicy | None) -> Iterator[str]:
    if policy is None:
        return
    if policy.tls is not None:
        yield policy.tls.mode
    for entry in policy.port_level_settings:
        if entry.tls is not None:
            yield entry.tls.mode


def _istio_mutual_to_services(rule: DestinationRule, names: set[str]) -> bool:
    host = rule.spec.host
    if host not in names and not host.startswith("*"):
        return False
    policies = [rule.spec.traffic_policy, *(s.traffic_policy for s in rule.spec.subsets)]
    return any(mode == "ISTIO_MUTUAL" for p in policies for mode in _tls_modes(p))


def _selects_a_service(
    policy: AuthorizationPolicy | RequestAuthentication, services: list[Service], root: str
) -> bool:
    """Whether ``policy`` attaches to a pod of ``services``, by ``translate/authz``'s own
    attachment rule (a targetRefs policy attaches to Gateway API gateways only)."""
    for service in services:
        if policy.namespace not in (root, service.namespace):
            continue
        for version in service.versions:
            labels = {"app": service.name, "version": version, **service.labels}
            if attaches(policy, _Pod(service.namespace, labels)):
                return True
    return False


@dataclass(frozen=True)
class _Pod:
    """What policy attachment reads of a pod (``translate.authz.Workload``)."""

    namespace: str
    labels: Mapping[str, str]


def _looks_at_xfcc(check: Any) -> bool:
    want = check.expect.request if check.expect is not None else None
    if want is None:
        return False
    names = [*want.headers, *want.absent_headers, *want.headers_contain]
    return any(name.lower() == _XFCC for name in names)


def mesh_tls_modelled(loaded: LoadedCase) -> bool:
    """Whether the case's injected pods get inbound sidecars (see the module docstring)."""
    spec = loaded.case.spec
    names: set[str] = set()
    for service in spec.services:
        if not service.external:
            ns = service.namespace
            names |= {service.name, f"{service.name}.{ns}", f"{service.name}.{ns}.svc"}
            names.add(f"{service.name}.{ns}.svc.cluster.local")
    services = [s for s in spec.services if not s.external]
    root = ROOT_NAMESPACE
    for resource in loaded.resources:
        if isinstance(resource, PeerAuthentication):
            return True
        policy = isinstance(resource, (AuthorizationPolicy, RequestAuthentication))
        if policy and _selects_a_service(resource, services, root):
            return True
        if isinstance(resource, DestinationRule) and _istio_mutual_to_services(resource, names):
            return True
        if (
            isinstance(resource, KubernetesNamespace)
            and "istio-injection" in resource.metadata.labels
        ):
            return True
    if any(s.sidecar is not None for s in spec.services):
        return True
    if any(c.sidecar is not None for c in spec.clients):
        return True
    for check in spec.checks:
        if _looks_at_xfcc(check) or check.expect.metrics is not None:
            return True
        # A service's access log is its pods' sidecars' (their inbound listeners).
        if any(spec.service_proxy(e.proxy) is not None for e in check.expect.access_logs):
            return True
    return False
