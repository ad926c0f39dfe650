"""Gateway analyzers: selectors and ports against the gateway workloads, conflicts, credentials.

As Istio's ``pkg/config/analysis/analyzers/gateway/``: ``gateway.go``
(IngressGatewayPortAnalyzer), ``conflictinggateway.go``
(ConflictingGatewayAnalyzer), ``secret.go`` (SecretAnalyzer) and
``certificate.go`` (CertificateAnalyzer).
"""

from __future__ import annotations

from ..model.istio.gateway import Server, ServerTLSSettings
from .cluster import Cluster, Instance, label_selector, selects
from .messages import (
    CONFLICTING_GATEWAYS,
    GATEWAY_DUPLICATE_CERTIFICATE,
    GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
    INVALID_GATEWAY_CREDENTIAL,
    REFERENCED_RESOURCE_NOT_FOUND,
)

__all__ = [
    "conflicting_gateways",
    "duplicate_certificates",
    "gateway_secrets",
    "ingress_gateway_ports",
]


def _selector_field(instance: Instance) -> tuple[str, ...]:
    """``spec.selector.<label>``: the first label of the printed selector (ErrorLine)."""
    selector = instance.spec.selector or {}
    return ("spec", "selector", sorted(selector)[0]) if selector else ()


def ingress_gateway_ports(cluster: Cluster) -> None:
    """A selector that matches no pod (IST0101); a server port no Service offers (IST0162).

    A server port counts as offered when a Service selecting a matching pod
    (in the pod's namespace) has it as a target port, or as a port.
    """
    for gateway in cluster.instances("Gateway"):
        selector = gateway.spec.selector or {}
        target_ports: set[int] = set()
        service_ports: set[int] = set()
        matched = 0
        for pod in cluster.pods:
            if not selects(selector, pod.labels):
                continue
            matched += 1
            for service in cluster.services:
                if service.namespace != pod.namespace or not selects(service.selector, pod.labels):
                    continue
                for port in service.ports:
                    if port.protocol == "TCP":
                        target_ports.add(port.target_port or port.port)
                        service_ports.add(port.port)
        printed = label_selector(selector)
        if matched == 0:
            cluster.report(
                REFERENCED_RESOURCE_NOT_FOUND,
                gateway,
                "selector",
                printed,
                at=_selector_field(gateway),
            )
            continue
        for server in gateway.spec.servers:
            number = server.port.number
            if number not in target_ports and number not in service_ports:
                cluster.report(
                    GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
                    gateway,
                    number,
                    printed,
                    at=_selector_field(gateway),
                )


def conflicting_gateways(cluster: Cluster) -> None:
    """Servers of Gateways on the same workloads and port that repeat a host (IST0145).

    Gateways are grouped by printed selector and port; a gateway meets the
    groups whose selector is its own, or contains or is contained in it and
    selects a pod its own selector also selects. A gateway with a selector
    that meets no group at all is reported as IST0101.
    """
    gateways = list(cluster.instances("Gateway"))
    # "selector~port" -> gateway full name -> host -> bind, as initGatewaysMap builds it.
    groups: dict[tuple[str, int], dict[str, dict[str, str]]] = {}
    for gateway in gateways:
        printed = label_selector(gateway.spec.selector)
        for server in gateway.spec.servers:
            hosts = {host: server.bind or "" for host in server.hosts}
            groups.setdefault((printed, server.port.number), {})[gateway.full_name] = hosts

    for gateway in gateways:
        printed = label_selector(gateway.spec.selector)
        own = gateway.spec.selector or {}
        met: dict[tuple[str, int], dict[str, dict[str, str]]] = {}
        for key, members in groups.items():
            other_printed, _ = key
            if other_printed == printed or (
                (other_printed in printed or printed in other_printed)
                and any(
                    selects(own, pod.labels) and selects(_parse(other_printed), pod.labels)
                    for pod in cluster.pods
                )
            ):
                met[key] = members
        if printed and not met:
            cluster.report(
                REFERENCED_RESOURCE_NOT_FOUND,
                gateway,
                "selector",
                printed,
                at=_selector_field(gateway),
            )
            continue
        for server in gateway.spec.servers:
            conflicting: list[str] = []
            for (_, port), members in met.items():
                if port != server.port.number:
                    continue
                for other, known in members.items():
                    if other != gateway.full_name and _duplicates(server, known):
                        conflicting.append(other)
            if conflicting:
                cluster.report(
                    CONFLICTING_GATEWAYS,
                    gateway,
                    ",".join(sorted(conflicting)),
                    printed,
                    str(server.port.number),
                    ",".join(server.hosts),
                )


def _duplicates(server: Server, known: dict[str, str]) -> bool:
    """``model.CheckDuplicates``: a host already known with the same bind.

    Like Istio's, it records the server's hosts in ``known`` when none is a
    duplicate, so a later comparison with the same group sees them too.
    """
    bind = server.bind or ""
    duplicates = [h for h in server.hosts if h in known and known[h] == bind]
    if not duplicates:
        known.update(dict.fromkeys(server.hosts, bind))
    return bool(duplicates)


def _parse(printed: str) -> dict[str, str]:
    """``parseSelectorFromString``: ``a=b,c=d`` back into labels."""
    labels: dict[str, str] = {}
    for pair in printed.split(","):
        key, sep, value = pair.partition("=")
        if sep and "=" not in value:
            labels[key] = value
    return labels


def gateway_secrets(cluster: Cluster) -> None:
    """A ``credentialName`` with no Secret in the gateway workload's namespace (IST0101),
    or one without a usable certificate and key (IST0161).

    The namespace is that of the first pod the selector matches (``secret.go``
    ``getGatewayNamespace``); no such pod: IST0101 for the selector.
    """
    secrets = {(s.namespace, s.name): s for s in cluster.secrets}
    for gateway in cluster.instances("Gateway"):
        selector = gateway.spec.selector or {}
        namespace = next((p.namespace for p in cluster.pods if selects(selector, p.labels)), None)
        if namespace is None:
            cluster.report(
                REFERENCED_RESOURCE_NOT_FOUND,
                gateway,
                "selector",
                label_selector(selector),
                at=_selector_field(gateway),
            )
            continue
        for index, server in enumerate(gateway.spec.servers):
            name = server.tls.credential_name if server.tls is not None else None
            if not name:
                continue
            where = ("spec", "servers", index, "tls", "credentialName")
            # resource.NewShortOrFullName: "ns/name", else a name in the workload's namespace.
            first, slash, rest = name.partition("/")
            secret = secrets.get((first, rest) if slash else (namespace, name))
            if secret is None:
                cluster.report(
                    REFERENCED_RESOURCE_NOT_FOUND, gateway, "credentialName", name, at=where
                )
            elif not secret.valid:
                cluster.report(
                    INVALID_GATEWAY_CREDENTIAL, gateway, gateway.name, namespace, at=where
                )


def duplicate_certificates(cluster: Cluster) -> None:
    """Two Gateways on the same workloads serving TLS with the same certificate (IST0138).

    ``certificate.go``: the other Gateway's selector holds every label of this
    one's (an empty selector: every Gateway); same ``credentialName``, or
    without one the same ``serverCertificate`` and ``privateKey`` files.
    """
    gateways = list(cluster.instances("Gateway"))
    for gateway in gateways:
        own = gateway.spec.selector or {}
        for other in gateways:
            if other.full_name == gateway.full_name:
                continue
            theirs = other.spec.selector or {}
            if any(theirs.get(key) != value for key, value in own.items()):
                continue
            for server in gateway.spec.servers:
                for their_server in other.spec.servers:
                    if server.tls is None or their_server.tls is None:
                        continue
                    if _same_certificate(server.tls, their_server.tls):
                        cluster.report(
                            GATEWAY_DUPLICATE_CERTIFICATE,
                            gateway,
                            [gateway.full_name, other.full_name],
                            at=("metadata", "name"),
                        )


def _same_certificate(one: ServerTLSSettings, other: ServerTLSSettings) -> bool:
    if one.credential_name and other.credential_name:
        return one.credential_name == other.credential_name
    if one.credential_name or other.credential_name:
        return False
    return bool(
        one.server_certificate
        and one.server_certificate == other.server_certificate
        and one.private_key
        and one.private_key == other.private_key
    )
