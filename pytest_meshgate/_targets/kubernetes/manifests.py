"""Pure rendering of a case into Kubernetes objects, in apply order: no cluster, no client, no I/O.

Everything a case needs on a cluster is computed here as plain dicts, so the
exact objects are reviewable (golden files, ``python -m pytest_meshgate
render``) and validated against the cluster's schemas (``validation.py``),
and the code that talks to the API server (``deployment.py``) stays a loop
over them. Namespaces and their rewriting are ``namespaces.py``; the echo
and client pods ``echo_pod.py``.

Apply order (``apply_phases``): namespaces; Secrets and ConfigMaps; then the
deployment points external names at their Services (CoreDNS) before anything
can resolve them; Services; Deployments and Pods; then the case's Istio
objects in the order Istio will sort them (``model/config.go``
``configCompareByCreationTime``: creationTimestamp, then name, then
namespace). The API server sets ``creationTimestamp`` itself, in whole
seconds, whatever the manifest says; so objects whose case timestamps differ
are applied in separate phases, a second apart, and those of one timestamp
(or none, which counts as created together, last) in name order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..._cases.exported import without_server_fields
from ..._cases.model.case import Case
from ..._cases.model.workloads import GatewayWorkload, Secret, Service
from .echo_pod import (
    CLIENT_IMAGE,
    ECHO_IMAGE,
    HTTP2_CONFIGMAP,
    client_pod,
    container_port,
    echo_deployments,
    echo_source_files,
    echo_tls_secret_data,
    http2_source_files,
    source_configmap,
    terminates_tls,
)
from .jwtrules import inline_key_sets
from .namespaces import (
    MANAGED_BY,
    NamespacePlan,
    k8s_name,
    rewrite_host,
    rewrite_resource,
    service_hostnames,
    service_namespace,
)

__all__ = [
    "CLIENT_IMAGE",
    "ECHO_IMAGE",
    "Material",
    "RenderSettings",
    "apply_phases",
    "extra_gateway_ports",
    "ports_service",
    "ports_service_name",
    "render_case",
    "speaks_http2",
]

_ORDER = {
    "Namespace": 0,
    "Secret": 1,
    "ConfigMap": 1,
    "ServiceAccount": 1,
    "Service": 2,
    "Deployment": 3,
    "Pod": 3,
}
_APP_KINDS = frozenset(
    {
        ("v1", "Service"),
        ("v1", "ServiceAccount"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
    }
)
_CORE_GROUPS = ("", "v1", "apps")
_LAST = "~"  # sorts after every RFC 3339 timestamp: no timestamp counts as created last
# Ports of the default gateways that kind maps to the host (providers/kind.py GATEWAY_NODE_PORTS).
_MAPPED_GATEWAY_PORTS = frozenset({80, 443})


class Material:
    """TLS material for a case's secrets, and its JWT key sets; ``material.py`` has the
    trustme one (and the keys of ``jwtkeys.py``).

    Kept abstract so rendering stays pure and golden files stay stable.
    """

    def secret_data(self, secret: Secret) -> dict[str, str]:
        """The keys of the Kubernetes Secret for ``secret`` (PEM text)."""
        raise NotImplementedError

    def service_cert(self, names: list[str]) -> dict[str, str]:
        """``tls.crt``/``tls.key`` for an echo that terminates TLS without a named secret."""
        raise NotImplementedError

    def trusted_cas(self) -> str:
        """Every CA of the case (PEM): whose client certificates an echo asks for."""
        raise NotImplementedError

    def public_jwks(self, name: str) -> str:
        """The public JWKS JSON of the case's key ``name`` (``${jwks:<name>}``)."""
        raise NotImplementedError

    def served_jwks(self, uri: str) -> str | None:
        """The JWKS JSON the case's keys serve at ``uri``, or None if none do."""
        raise NotImplementedError


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
    # The implementation's default gateways by short name: their extra ports get a Service.
    gateways: Mapping[str, GatewayWorkload] = field(default_factory=dict)
    # The echo's source files by path; None: this installation's own (golden files pass text).
    echo_sources: Mapping[str, str] | None = None
    # The h2 library's files for echoes that may speak HTTP/2; None: this installation's.
    http2_sources: Mapping[str, str] | None = None
    # The implementation's GatewayClass, which cases call ``istio``; None: left as written.
    gateway_class: str | None = None
    # Labels the implementation wants on Gateways of its class (istio.io/rev).
    gateway_labels: Mapping[str, str] = field(default_factory=dict)


def render_case(
    case: Case, plan: NamespacePlan, settings: RenderSettings, material: Material
) -> list[dict[str, Any]]:
    """Every object of ``case``, in the order they are applied (see ``apply_phases``)."""
    spec = case.spec
    services = [s.name for s in spec.services]
    labels = {**MANAGED_BY, **settings.case_labels}
    sources = dict(settings.echo_sources or echo_source_files())
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
        if secret.kind == "ConfigMap":  # a CA for BackendTLSPolicy caCertificateRefs
            objects.append(_config_map(secret.name, plan.map(secret.namespace), data, labels))
            continue
        objects.append(_secret(secret.name, plan.map(secret.namespace), data, labels))
    pod_namespaces = {service_namespace(s, plan) for s in spec.services}
    pod_namespaces |= {plan.map(c.namespace) for c in spec.clients}
    for namespace in sorted(pod_namespaces):
        objects.append(source_configmap(namespace, sources, labels))
    http2_services = [s for s in spec.services if s.runs_pods and speaks_http2(case, s)]
    http2: dict[str, str] | None = None
    if http2_services:
        http2 = dict(settings.http2_sources or http2_source_files())
        for namespace in sorted({service_namespace(s, plan) for s in http2_services}):
            objects.append(source_configmap(namespace, http2, labels, HTTP2_CONFIGMAP))
    secrets = {s.name: s for s in spec.secrets}
    for service in spec.services:
        deps = http2 if service in http2_services else None
        objects += _service_objects(
            service, plan, settings, material, labels, secrets, sources, deps
        )
    for client in spec.clients:
        account = {"name": client.service_account, "namespace": plan.map(client.namespace)}
        known = {
            (o["metadata"]["name"], o["metadata"].get("namespace"))
            for o in objects
            if o.get("kind") == "ServiceAccount"
        }
        if (
            client.service_account not in (None, "default")
            and (
                account["name"],
                account["namespace"],
            )
            not in known
        ):
            objects.append(
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {**account, "labels": labels},
                }
            )
        objects.append(client_pod(client, plan, settings.client_image, sources, labels))
    for workload in spec.gateways:
        if settings.gateway_manifests is not None:
            for obj in settings.gateway_manifests(workload, plan.map(workload.namespace)):
                obj.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
                objects.append(obj)
    for short, ports in extra_gateway_ports(case, settings.gateways).items():
        objects.append(ports_service(plan, short, settings.gateways[short], ports, labels))
    for resource in spec.resources:
        if _stood_in_for(resource):
            continue  # the echo's Service, Deployments and account above answer in their place
        # A kubectl get -o yaml paste: what the API server set is not the user's to apply.
        # The key sets istiod would inline, in place of the harness's JWKS server (jwtrules.py).
        resource = inline_key_sets(without_server_fields(resource), material)
        rewritten = rewrite_resource(resource, plan, services)
        rewritten["metadata"]["labels"].update(settings.case_labels)
        objects.append(rewritten)
    from .gatewayapi import prepare

    objects = prepare(objects, case, plan, settings.gateway_class, settings.gateway_labels)
    return [obj for phase in apply_phases(objects) for obj in phase]


def speaks_http2(case: Case, service: Service) -> bool:
    """Whether a proxy may speak HTTP/2 to ``service``'s echo, so it needs ``h2``.

    An ``http2``/``grpc`` port gets an HTTP/2 upstream; gRPC and HTTP/2 checks,
    GRPCRoutes and DestinationRules (``h2UpgradePolicy``, ``useClientProtocol``)
    may bring HTTP/2 to any port of any service of the case.
    """
    if any(p.protocol in ("HTTP2", "GRPC") for p in service.ports):
        return True
    spec = case.spec
    if any(c.request is not None and (c.request.grpc or c.request.http2) for c in spec.checks):
        return True
    for resource in spec.resources:
        if resource.get("kind") == "GRPCRoute":
            return True
        if resource.get("kind") == "DestinationRule" and any(
            word in json.dumps(resource.get("spec"), default=str)
            for word in ('"h2UpgradePolicy"', '"useClientProtocol"')
        ):
            return True
    return False


def _stood_in_for(resource: Mapping[str, Any]) -> bool:
    """An application's own Service, Deployment or ServiceAccount (``_cases/appworkloads``)."""
    return (resource.get("apiVersion"), resource.get("kind")) in _APP_KINDS


def _is_core(obj: Mapping[str, Any]) -> bool:
    group = str(obj["apiVersion"]).rpartition("/")[0]
    return group in _CORE_GROUPS and obj["kind"] in _ORDER


def _creation_key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    metadata = obj["metadata"]
    stamp = str(metadata.get("creationTimestamp") or _LAST)
    return stamp, str(metadata["name"]), str(metadata.get("namespace") or "")


def apply_phases(objects: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The objects in phases: core kinds by kind, then custom objects by creation time.

    Phases of custom objects hold one creationTimestamp each (in Istio's tie
    order: name, namespace); the deployment lets a second pass between them,
    so the API server's timestamps order them as the case's do.
    """
    core = [o for o in objects if _is_core(o)]
    custom = sorted((o for o in objects if not _is_core(o)), key=_creation_key)
    phases: list[list[dict[str, Any]]] = []
    for rank in sorted({_ORDER[o["kind"]] for o in core}):
        phases.append([o for o in core if _ORDER[o["kind"]] == rank])
    for obj in custom:
        stamp = _creation_key(obj)[0]
        last = phases[-1] if phases else []
        if last and not _is_core(last[0]) and _creation_key(last[0])[0] == stamp:
            last.append(obj)
            continue
        phases.append([obj])
    return phases


def extra_gateway_ports(
    case: Case, gateways: Mapping[str, GatewayWorkload]
) -> dict[str, list[int]]:
    """Default gateway (short name) -> ports its checks enter by that have no NodePort yet."""
    wanted: dict[str, set[int]] = {}
    for check in case.spec.checks:
        request = check.request
        if request is None:  # a status check sends nothing
            continue
        short = request.gateway or "ingress"
        if request.from_ is not None or short not in gateways:
            continue
        parts = urlsplit(request.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if port not in _MAPPED_GATEWAY_PORTS:
            wanted.setdefault(short, set()).add(port)
    return {short: sorted(ports) for short, ports in sorted(wanted.items())}


def ports_service_name(plan: NamespacePlan, short: str) -> str:
    return f"{plan.prefix}-{short}-ports"


def ports_service(
    plan: NamespacePlan, short: str, workload: GatewayWorkload, ports: list[int],
    labels: Mapping[str, str],
) -> dict[str, Any]:  # fmt: skip
    """A NodePort Service of the case onto a default gateway's pods, port P to pod port P.

    kind maps only the NodePorts of 80 and 443 of the default gateways; a
    check entering one on another port (a Gateway server on 9000) reaches it
    through this Service. Istio resolves a server port through the gateway
    pod's Services (``resolvePorts``, ``pilot/pkg/model/gateway.go``: a port
    equal to a Service port listens on its targetPort), so P onto pod port P
    listens where a port no Service names would: no listener changes.
    """
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": ports_service_name(plan, short),
            "namespace": workload.namespace,
            "labels": dict(labels),
            "annotations": {"meshgate.dev/gateway-ports": short},
        },
        "spec": {
            "type": "NodePort",
            "selector": dict(workload.labels),
            "ports": [
                {"name": f"tcp-{port}", "port": port, "targetPort": port, "protocol": "TCP"}
                for port in ports
            ],
        },
    }


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


def _config_map(
    name: str, namespace: str, data: Mapping[str, str], labels: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "data": dict(data),
    }


def _service_ports(service: Service) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "port": p.port,
            "targetPort": container_port(p),
            **({"appProtocol": p.app_protocol} if p.app_protocol else {}),
        }
        for p in service.ports
    ]


def _podless_service(
    service: Service, plan: NamespacePlan, labels: Mapping[str, str]
) -> dict[str, Any]:
    """An ExternalName Service, or a Service selecting other services' echo pods.

    The echo labels its pods ``app=<k8s name of their service>``, so an ``app``
    selector names the service as rendered; an ExternalName's in-cluster host
    names its namespace as mapped.
    """
    base = k8s_name(service.name)
    spec: dict[str, Any] = {}
    if service.external_name is not None:
        spec = {"type": "ExternalName", "externalName": rewrite_host(service.external_name, plan)}
    else:
        selector = dict(service.selector or {})
        if "app" in selector:
            selector["app"] = k8s_name(selector["app"])
        spec = {"selector": selector, **({"clusterIP": "None"} if service.headless else {})}
    if service.ports:
        spec["ports"] = _service_ports(service)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": base,
            "namespace": service_namespace(service, plan),
            "labels": {"app": base, **labels},
        },
        "spec": spec,
    }


def _service_objects(
    service: Service,
    plan: NamespacePlan,
    settings: RenderSettings,
    material: Material,
    labels: Mapping[str, str],
    secrets: Mapping[str, Secret],
    sources: Mapping[str, str],
    http2: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    namespace = service_namespace(service, plan)
    base = k8s_name(service.name)
    if not service.runs_pods:
        return [_podless_service(service, plan, labels)]
    objects: list[dict[str, Any]] = []
    tls_secret: str | None = None
    mutual: set[int] = set()
    server_pems: dict[int, dict[str, str]] = {}
    for port in service.ports:
        if not terminates_tls(port) or container_port(port) in server_pems:
            continue
        # The port's named secret (a server or mutual one, in tls format), else
        # a certificate the default CA issues for the service's names.
        named = secrets.get(port.tls.secret) if port.tls is not None and port.tls.secret else None
        if named is not None:
            pems = material.secret_data(named.model_copy(update={"format": "tls"}))
            if named.type == "mutual":
                mutual.add(container_port(port))
        else:
            pems = material.service_cert(service_hostnames(service, plan))
        server_pems[container_port(port)] = pems
    if server_pems:
        tls_secret = f"{base}-echo-tls"
        data = echo_tls_secret_data(server_pems, material.trusted_cas())
        objects.append(_secret(tls_secret, namespace, data, labels))
    objects.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": base, "namespace": namespace, "labels": {"app": base, **labels}},
            "spec": {
                "selector": {"app": base},
                **({"clusterIP": "None"} if service.headless else {}),
                "ports": _service_ports(service),
            },
        }
    )
    if service.service_account is not None and service.service_account != "default":
        # The application's pods' identity, now the echo's (Kubernetes makes `default` itself).
        metadata = {"name": service.service_account, "namespace": namespace, "labels": labels}
        objects.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata})
    objects += echo_deployments(
        service, plan, settings.echo_image, sources, labels, tls_secret, mutual, http2
    )
    return objects
