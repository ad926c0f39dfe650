"""Case namespaces on a cluster: the plan that maps them, and the rewriting of names Istio reads.

Every case gets its own namespaces: the case's ``default`` becomes
``mg-<id>-default`` and so on, where ``<id>`` is unique per deployment. Nothing
of a case ever lands in a user's real ``default`` namespace (which matters on
``--meshgate-target=cluster``), leftovers of an interrupted run never collide
with the next one, and namespaces are deleted wholesale afterwards. Only the
implementation's system namespace (``istio-system``) is shared: the gateways
live there, so objects a case puts there (a ``credentialName`` Secret) keep
their namespace and are deleted one by one. Namespace names are rewritten in
the manifests where Istio reads them (``metadata.namespace``, ``host``,
``hosts``, ``gateways``, ``exportTo``, ``namespaces``), never in free text.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..._cases.model.case import Case
from ..._cases.model.resources import cluster_scoped
from ..._cases.model.workloads import Service

__all__ = [
    "DEFAULT_SYSTEM_NAMESPACES",
    "EXTERNAL_SUFFIX",
    "MANAGED_BY",
    "NamespacePlan",
    "case_namespaces",
    "k8s_name",
    "rewrite_host",
    "rewrite_resource",
    "rewrite_url",
    "service_hostnames",
    "service_namespace",
]

MANAGED_BY = {"app.kubernetes.io/managed-by": "pytest-meshgate"}
EXTERNAL_SUFFIX = "-external"  # appended to the case prefix: mg-<id>--external
DEFAULT_SYSTEM_NAMESPACES = frozenset({"istio-system", "kube-system"})

_NAME_KEYS = frozenset({"host", "hosts"})
# AuthorizationPolicy sources naming a SPIFFE identity <trust domain>/ns/<namespace>/sa/<account>.
_PRINCIPAL_KEYS = frozenset({"principals", "notPrincipals"})
_PRINCIPAL_NAMESPACE = re.compile(r"(?<=/ns/)([^/]+)(?=/sa/)")
# serviceAccounts: <namespace>/<account> (or an account of the policy's namespace).
_ACCOUNT_KEYS = frozenset({"serviceAccounts", "notServiceAccounts"})
# when conditions whose values name the same things as those sources.
_CONDITION_KEYS = {
    "source.namespace": "namespaces",
    "source.principal": "principals",
    "source.serviceAccount": "serviceAccounts",
}


def k8s_name(name: str) -> str:
    """A Service/Deployment-safe name: ``api.example.com`` -> ``api-example-com``."""
    safe = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if len(safe) > 50:
        # Keep names unique and short enough for "<name>-<version>-<rs>-<pod>".
        safe = safe[:43].rstrip("-") + "-" + hashlib.sha1(name.encode()).hexdigest()[:6]
    return safe or "x"


@dataclass(frozen=True)
class NamespacePlan:
    """Case namespace -> cluster namespace, and back."""

    prefix: str  # "mg-1a2b3c"
    mapping: Mapping[str, str]  # case namespace -> cluster namespace
    system: frozenset[str] = DEFAULT_SYSTEM_NAMESPACES

    @classmethod
    def for_case(
        cls,
        case: Case,
        deployment_id: str,
        system: frozenset[str] = DEFAULT_SYSTEM_NAMESPACES,
    ) -> NamespacePlan:
        """``deployment_id`` makes the prefix unique (run id + case name in practice)."""
        prefix = "mg-" + hashlib.sha1(deployment_id.encode()).hexdigest()[:6]
        names = sorted(case_namespaces(case) - system)
        mapping = {name: f"{prefix}-{name}"[:63].rstrip("-") for name in names}
        return cls(prefix, mapping, system)

    @property
    def external(self) -> str:
        """The namespace outside the mesh for external services (no injection label)."""
        return f"{self.prefix}-{EXTERNAL_SUFFIX}"

    def map(self, namespace: str) -> str:
        return self.mapping.get(namespace, namespace)

    def unmap(self, namespace: str) -> str:
        for case_ns, cluster_ns in self.mapping.items():
            if cluster_ns == namespace:
                return case_ns
        return namespace

    @property
    def owned(self) -> list[str]:
        """Namespaces this case creates and deletes, in a stable order."""
        return [*self.mapping.values(), self.external]


def case_namespaces(case: Case) -> set[str]:
    """Every namespace a case names: workloads, secrets, gateways, resources."""
    spec = case.spec
    names = {"default"}
    names |= {s.namespace for s in spec.services if not s.external}
    names |= {c.namespace for c in spec.clients}
    names |= {s.namespace for s in spec.secrets if s.namespace is not None}
    names |= {g.namespace for g in spec.gateways}
    for resource in spec.resources:
        metadata = resource.get("metadata") if isinstance(resource, dict) else None
        if not isinstance(metadata, dict):
            continue
        if isinstance(metadata.get("namespace"), str):
            names.add(metadata["namespace"])
        if _is_namespace(resource) and isinstance(metadata.get("name"), str):
            names.add(metadata["name"])  # a Namespace of the case is one of its namespaces
    return names


def _is_namespace(resource: Mapping[str, Any]) -> bool:
    return resource.get("apiVersion") == "v1" and resource.get("kind") == "Namespace"


def rewrite_host(value: str, plan: NamespacePlan, services: Iterable[str] = ()) -> str:
    """Map the namespace inside a host as Istio reads it.

    ``ns/host`` (Gateway servers, Sidecar egress), ``svc.ns``,
    ``svc.ns.svc[.cluster.local]``, ``*.ns.svc.cluster.local`` and a pod's own
    name ``pod.svc.ns.svc[.cluster.local]``. A two-label
    ``a.b`` is only taken as ``svc.ns`` when ``a`` is one of the case's
    services, so ``example.com`` is never mistaken for a namespace ``com``.
    """
    if "/" in value:
        namespace, _, rest = value.partition("/")
        return f"{plan.map(namespace)}/{rewrite_host(rest, plan, services)}"
    labels = value.split(".")
    if len(labels) >= 2 and labels[1] in plan.mapping:
        qualified = len(labels) >= 3 and labels[2] == "svc"
        if qualified or (len(labels) == 2 and labels[0] in set(services)):
            labels[1] = plan.mapping[labels[1]]
            return ".".join(labels)
    if len(labels) >= 4 and labels[2] in plan.mapping and labels[3] == "svc":
        # A headless Service's pod: <pod>.<service>.<ns>.svc[.cluster.local].
        labels[2] = plan.mapping[labels[2]]
        return ".".join(labels)
    return value


def rewrite_resource(
    resource: Mapping[str, Any], plan: NamespacePlan, services: Iterable[str] = ()
) -> dict[str, Any]:
    """A copy of ``resource`` with case namespaces mapped to cluster namespaces.

    A resource without a namespace goes to the case's ``default``, as
    ``kubectl apply`` would put it in the default namespace. A cluster-scoped
    one (GatewayClass, Namespace) gets none, as the API server stores it; a
    Namespace of the case is renamed to the cluster namespace it maps to.
    """
    names = tuple(services)

    def condition(node: dict[str, Any]) -> dict[str, Any]:
        """A ``when`` condition on a source attribute, its values mapped as the source's."""
        as_key = _CONDITION_KEYS[node["key"]]
        return {k: walk(v, as_key if k in ("values", "notValues") else k) for k, v in node.items()}

    def walk(node: Any, key: str | None) -> Any:
        if isinstance(node, datetime.datetime):
            # An unquoted YAML timestamp: the API server wants RFC 3339 text.
            if node.tzinfo is None:
                node = node.replace(tzinfo=datetime.timezone.utc)
            return node.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(node, dict):
            if key == "when" and node.get("key") in _CONDITION_KEYS:
                return condition(node)
            return {k: walk(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, key) for v in node]
        if isinstance(node, str):
            if key in _NAME_KEYS:
                return rewrite_host(node, plan, names)
            if key == "gateways":
                return rewrite_host(node, plan, names) if "/" in node else node
            if key in ("exportTo", "namespaces", "notNamespaces", "namespace"):
                return plan.map(node)
            if key in _PRINCIPAL_KEYS:
                return _PRINCIPAL_NAMESPACE.sub(lambda m: plan.map(m.group(1)), node, count=1)
            if key in _ACCOUNT_KEYS and "/" in node:
                namespace, _, account = node.partition("/")
                return f"{plan.map(namespace)}/{account}"
        return node

    copy: dict[str, Any] = walk(dict(resource), None)
    metadata = dict(copy.get("metadata") or {})
    if not cluster_scoped(resource.get("apiVersion"), resource.get("kind")):
        metadata["namespace"] = plan.map(str(metadata.get("namespace") or "default"))
    elif _is_namespace(resource):
        metadata["name"] = plan.map(str(metadata.get("name")))
    metadata["labels"] = {**(metadata.get("labels") or {}), **MANAGED_BY}
    copy["metadata"] = metadata
    return copy


def rewrite_url(url: str, plan: NamespacePlan, services: Iterable[str] = ()) -> str:
    """A request URL with an in-cluster host mapped (``reviews.default.svc...``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    mapped = rewrite_host(host, plan, services)
    if mapped == host:
        return url
    netloc = mapped if parts.port is None else f"{mapped}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def service_namespace(service: Service, plan: NamespacePlan) -> str:
    return plan.external if service.external else plan.map(service.namespace)


def service_hostnames(service: Service, plan: NamespacePlan) -> list[str]:
    """The names clients use for a service: external host, or the cluster DNS forms."""
    namespace = service_namespace(service, plan)
    base = k8s_name(service.name)
    names = [f"{base}.{namespace}.svc.cluster.local", f"{base}.{namespace}.svc", base]
    return [service.name, *names] if service.external else names
