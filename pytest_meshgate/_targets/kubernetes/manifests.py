"""Pure rendering of a case into Kubernetes objects: no cluster, no client, no I/O.

Everything a case needs on a cluster is computed here as plain dicts, so the
exact objects are reviewable as golden files and the code that talks to the
API server (``deploy.py``) stays a thin loop over them.

Namespaces. Every case gets its own namespaces: the case's ``default`` becomes
``mg-<id>-default`` and so on, where ``<id>`` is unique per deployment. Nothing
of a case ever lands in a user's real ``default`` namespace (which matters on
``--meshgate-target=cluster``), leftovers of an interrupted run never collide
with the next one, and namespaces are deleted wholesale afterwards. Only the
implementation's system namespace (``istio-system``) is shared: the gateways
live there, so objects a case puts there (a ``credentialName`` Secret) keep
their namespace and are deleted one by one. Namespace names are rewritten in
the manifests where Istio reads them (``metadata.namespace``, ``host``,
``hosts``, ``gateways``, ``exportTo``, ``namespaces``), never in free text.

Echo workloads are the Gateway API ``echo-basic`` image. It does not report a
version, so the Deployment of ``reviews`` version ``v1`` is named
``reviews-v1`` and the version is read back from the pod name prefix
``reviews-v1-`` (``version_from_pod``), as Gateway API's suite does with
``infra-backend-v1-...``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..._cases.model.case import Case
from ..._cases.model.workloads import Client, GatewayWorkload, Secret, Service, ServicePort

__all__ = [
    "CLIENT_IMAGE",
    "DEFAULT_SYSTEM_NAMESPACES",
    "ECHO_IMAGE",
    "EXTERNAL_SUFFIX",
    "MANAGED_BY",
    "Material",
    "NamespacePlan",
    "RenderSettings",
    "container_port",
    "coredns_rewrite_block",
    "k8s_name",
    "render_case",
    "rewrite_resource",
    "rewrite_url",
    "version_from_pod",
]

# Pinned so a run is reproducible; the tag is the one Gateway API's own docs
# and Istio's samples use. Override with --meshgate-echo-image.
ECHO_IMAGE = "gcr.io/k8s-staging-gateway-api/echo-basic:v20231214-v1.0.0-140-gf544a46e"
# A client needs only curl and a shell-less `sleep`; pinned for the same reason.
CLIENT_IMAGE = "curlimages/curl:8.11.1"

MANAGED_BY = {"app.kubernetes.io/managed-by": "pytest-meshgate"}
EXTERNAL_SUFFIX = "-external"  # appended to the case prefix: mg-<id>--external
DEFAULT_SYSTEM_NAMESPACES = frozenset({"istio-system", "kube-system"})

# echo-basic's fixed ports (images:echo-basic/echo-basic.go env defaults).
ECHO_HTTP_PORT = 3000
ECHO_H2C_PORT = 3001
ECHO_HTTPS_PORT = 8443
ECHO_TLS_MOUNT = "/etc/echo-tls"

_NAME_KEYS = frozenset({"host", "hosts"})


def k8s_name(name: str) -> str:
    """A Service/Deployment-safe name: ``api.example.com`` -> ``api-example-com``."""
    safe = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if len(safe) > 50:
        # Keep names unique and short enough for "<name>-<version>-<rs>-<pod>".
        safe = safe[:43].rstrip("-") + "-" + hashlib.sha1(name.encode()).hexdigest()[:6]
    return safe or "x"


def container_port(port: ServicePort) -> int:
    """The echo-basic port a Service port targets: HTTPS/TLS 8443, h2c 3001, else 3000."""
    protocol = port.protocol
    if port.tls is not None or protocol in ("HTTPS", "TLS"):
        return ECHO_HTTPS_PORT
    if protocol in ("HTTP2", "GRPC"):
        return ECHO_H2C_PORT
    return ECHO_HTTP_PORT


# --------------------------------------------------------------------- namespaces


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
        if isinstance(metadata, dict) and isinstance(metadata.get("namespace"), str):
            names.add(metadata["namespace"])
    return names


def rewrite_host(value: str, plan: NamespacePlan, services: Iterable[str] = ()) -> str:
    """Map the namespace inside a host as Istio reads it.

    ``ns/host`` (Gateway servers, Sidecar egress), ``svc.ns``,
    ``svc.ns.svc[.cluster.local]`` and ``*.ns.svc.cluster.local``. A two-label
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
    return value


def rewrite_resource(
    resource: Mapping[str, Any], plan: NamespacePlan, services: Iterable[str] = ()
) -> dict[str, Any]:
    """A copy of ``resource`` with case namespaces mapped to cluster namespaces.

    A resource without a namespace goes to the case's ``default``, as
    ``kubectl apply`` would put it in the default namespace.
    """
    names = tuple(services)

    def walk(node: Any, key: str | None) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, key) for v in node]
        if isinstance(node, str):
            if key in _NAME_KEYS:
                return rewrite_host(node, plan, names)
            if key == "gateways":
                return rewrite_host(node, plan, names) if "/" in node else node
            if key in ("exportTo", "namespaces", "namespace"):
                return plan.map(node)
        return node

    copy: dict[str, Any] = walk(dict(resource), None)
    metadata = dict(copy.get("metadata") or {})
    metadata["namespace"] = plan.map(str(metadata.get("namespace") or "default"))
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


def version_from_pod(pod: str, service: Service) -> str | None:
    """The version whose Deployment ``<service>-<version>`` owns pod ``pod``.

    The longest matching version wins, so ``v1`` never claims ``v1-canary``'s pods.
    """
    base = k8s_name(service.name)
    matches = [v for v in service.versions if pod.startswith(f"{base}-{v}-")]
    return max(matches, key=len) if matches else None


# --------------------------------------------------------------------- secrets


class Material:
    """TLS material for a case's secrets; ``secrets.py`` has the trustme one.

    Kept abstract so rendering stays pure and golden files stay stable.
    """

    def secret_data(self, secret: Secret) -> dict[str, str]:
        """The keys of the Kubernetes Secret for ``secret`` (PEM text)."""
        raise NotImplementedError

    def service_cert(self, names: list[str]) -> dict[str, str]:
        """``tls.crt``/``tls.key`` for an echo that terminates TLS without a named secret."""
        raise NotImplementedError


# --------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class RenderSettings:
    """What the target and implementation decide about a case's objects."""

    echo_image: str = ECHO_IMAGE
    client_image: str = CLIENT_IMAGE
    mesh_labels: Mapping[str, str] = field(
        default_factory=lambda: {"istio-injection": "enabled"}
    )  # namespace labels that put pods in the mesh
    outside_labels: Mapping[str, str] = field(
        default_factory=lambda: {"istio-injection": "disabled"}
    )
    case_labels: Mapping[str, str] = field(default_factory=dict)  # meshgate.dev/case, /run
    gateway_manifests: Callable[[GatewayWorkload, str], list[dict[str, Any]]] | None = None


def render_case(
    case: Case, plan: NamespacePlan, settings: RenderSettings, material: Material
) -> list[dict[str, Any]]:
    """Every object of ``case``, in the order they are applied."""
    spec = case.spec
    services = [s.name for s in spec.services]
    labels = {**MANAGED_BY, **settings.case_labels}
    objects: list[dict[str, Any]] = []
    for namespace in plan.mapping.values():
        objects.append(_namespace(namespace, {**labels, **settings.mesh_labels}))
    if any(s.external for s in spec.services):
        objects.append(_namespace(plan.external, {**labels, **settings.outside_labels}))
    for secret in spec.secrets:
        if secret.namespace is None:
            continue  # used by the client side only, never published
        # Certificates name in-cluster hosts as clients will dial them.
        hosts = [rewrite_host(h, plan, services) for h in secret.hosts]
        data = material.secret_data(secret.model_copy(update={"hosts": hosts}))
        objects.append(_secret(secret.name, plan.map(secret.namespace), data, labels))
    secrets = {s.name: s for s in spec.secrets}
    for service in spec.services:
        objects += _service_objects(service, plan, settings, material, labels, secrets)
    for client in spec.clients:
        objects.append(_client_pod(client, plan, settings, labels))
    for workload in spec.gateways:
        if settings.gateway_manifests is not None:
            for obj in settings.gateway_manifests(workload, plan.map(workload.namespace)):
                obj.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
                objects.append(obj)
    for resource in spec.resources:
        rewritten = rewrite_resource(resource, plan, services)
        rewritten["metadata"]["labels"].update(settings.case_labels)
        objects.append(rewritten)
    return objects


def _namespace(name: str, labels: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": dict(labels)},
    }


def _secret(
    name: str, namespace: str, data: Mapping[str, str], labels: Mapping[str, str]
) -> dict[str, Any]:
    kind = "kubernetes.io/tls" if {"tls.crt", "tls.key"} <= set(data) else "Opaque"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "type": kind,
        "stringData": dict(data),
    }


def service_namespace(service: Service, plan: NamespacePlan) -> str:
    return plan.external if service.external else plan.map(service.namespace)


def service_hostnames(service: Service, plan: NamespacePlan) -> list[str]:
    """The names clients use for a service: external host, or the cluster DNS forms."""
    namespace = service_namespace(service, plan)
    base = k8s_name(service.name)
    names = [f"{base}.{namespace}.svc.cluster.local", f"{base}.{namespace}.svc", base]
    return [service.name, *names] if service.external else names


def _service_objects(
    service: Service,
    plan: NamespacePlan,
    settings: RenderSettings,
    material: Material,
    labels: Mapping[str, str],
    secrets: Mapping[str, Secret],
) -> list[dict[str, Any]]:
    namespace = service_namespace(service, plan)
    base = k8s_name(service.name)
    objects: list[dict[str, Any]] = []
    tls_secret: str | None = None
    mutual = False
    tls_ports = [p for p in service.ports if container_port(p) == ECHO_HTTPS_PORT]
    if tls_ports:
        # echo-basic serves one HTTPS port with one certificate: the first TLS
        # port's. It reads tls.crt/tls.key/ca.crt from a Secret in its own
        # namespace, so the named case secret (which may be published
        # elsewhere, or not at all) gets a copy there in the tls format.
        first = tls_ports[0].tls
        named = secrets.get(first.secret) if first is not None and first.secret else None
        if named is not None:
            data = material.secret_data(named.model_copy(update={"format": "tls"}))
            mutual = named.type == "mutual"
        else:
            data = material.service_cert(service_hostnames(service, plan))
        tls_secret = f"{base}-echo-tls"
        objects.append(_secret(tls_secret, namespace, data, labels))
    objects.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": base, "namespace": namespace, "labels": {"app": base, **labels}},
            "spec": {
                "selector": {"app": base},
                "ports": [_service_port(p) for p in service.ports],
            },
        }
    )
    for version in service.versions:
        objects.append(
            _echo_deployment(service, version, namespace, settings, labels, tls_secret, mutual)
        )
    return objects


def _service_port(port: ServicePort) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "name": port.name,
        "port": port.port,
        "targetPort": container_port(port),
    }
    if port.app_protocol:
        rendered["appProtocol"] = port.app_protocol
    return rendered


def _echo_deployment(
    service: Service,
    version: str,
    namespace: str,
    settings: RenderSettings,
    labels: Mapping[str, str],
    tls_secret: str | None,
    mutual: bool,
) -> dict[str, Any]:
    base = k8s_name(service.name)
    selector = {"app": base, "version": version}
    env: list[dict[str, Any]] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        # The case's own name (api.example.com), which is what checks expect back.
        {"name": "SERVICE_NAME", "value": service.name},
    ]
    container: dict[str, Any] = {
        "name": "echo",
        "image": settings.echo_image,
        "env": env,
        "ports": [
            {"name": "http", "containerPort": ECHO_HTTP_PORT},
            {"name": "h2c", "containerPort": ECHO_H2C_PORT},
        ],
        "readinessProbe": {"httpGet": {"path": "/health", "port": ECHO_HTTP_PORT}},
        "resources": {"requests": {"cpu": "10m"}},
    }
    pod_spec: dict[str, Any] = {"containers": [container], "terminationGracePeriodSeconds": 1}
    if tls_secret is not None:
        env += [
            {"name": "HTTPS_PORT", "value": str(ECHO_HTTPS_PORT)},
            {"name": "TLS_SERVER_CERT", "value": f"{ECHO_TLS_MOUNT}/tls.crt"},
            {"name": "TLS_SERVER_PRIVKEY", "value": f"{ECHO_TLS_MOUNT}/tls.key"},
        ]
        if mutual:
            env.append({"name": "TLS_CLIENT_CACERTS", "value": f"{ECHO_TLS_MOUNT}/ca.crt"})
        container["ports"].append({"name": "https", "containerPort": ECHO_HTTPS_PORT})
        container["volumeMounts"] = [{"name": "tls", "mountPath": ECHO_TLS_MOUNT, "readOnly": True}]
        pod_spec["volumes"] = [{"name": "tls", "secret": {"secretName": tls_secret}}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"{base}-{version}",
            "namespace": namespace,
            "labels": {**selector, **labels},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": {**selector, **service.labels}},
                "spec": pod_spec,
            },
        },
    }


def _client_pod(
    client: Client, plan: NamespacePlan, settings: RenderSettings, labels: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": client.name,
            "namespace": plan.map(client.namespace),
            "labels": {"app": client.name, **client.labels, **labels},
            # curl must not start before the sidecar can carry its traffic.
            "annotations": {
                "proxy.istio.io/config": json.dumps({"holdApplicationUntilProxyStarts": True})
            },
        },
        "spec": {
            "containers": [
                {
                    "name": "client",
                    "image": settings.client_image,
                    "command": ["sleep", "infinity"],
                    "resources": {"requests": {"cpu": "10m"}},
                }
            ],
            "terminationGracePeriodSeconds": 0,
        },
    }


# --------------------------------------------------------------------- external DNS


def coredns_rewrite_block(marker: str, rewrites: Mapping[str, str]) -> str:
    """Corefile lines making external hosts resolve to in-cluster Services.

    Each host gets a ``rewrite stop`` block that rewrites the question and the
    answer back (so resolvers accept it), between ``# meshgate begin/end``
    marker comments that teardown removes.
    """
    lines = [f"    # meshgate begin {marker}"]
    for host, target in sorted(rewrites.items()):
        lines += [
            "    rewrite stop {",
            f"        name regex ^{re.escape(host)}\\.$ {target}.",
            f"        answer name ^{re.escape(target)}\\.$ {host}.",
            "    }",
        ]
    lines.append(f"    # meshgate end {marker}")
    return "\n".join(lines) + "\n"
