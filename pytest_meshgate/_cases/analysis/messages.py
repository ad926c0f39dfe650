"""The ``istioctl analyze`` messages this package reports: Istio's codes, levels and wording.

Each is an entry of Istio's ``pkg/config/analysis/msg/messages.yaml`` (name,
code, level, template); templates keep Go's verbs (``%s``, ``%q``, ``%v``,
``%d``) and are filled as Go's ``fmt.Sprintf`` would, so a message reads
exactly as istioctl prints it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CONFLICTING_GATEWAYS",
    "CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS",
    "CONFLICTING_SIDECAR_WORKLOAD_SELECTORS",
    "DESTINATION_RULE_SUBSET_NOT_SELECT_PODS",
    "GATEWAY_DUPLICATE_CERTIFICATE",
    "GATEWAY_PORT_NOT_DEFINED_ON_SERVICE",
    "INGRESS_ROUTE_RULES_NOT_AFFECTED",
    "INVALID_GATEWAY_CREDENTIAL",
    "LEVELS",
    "MESSAGES",
    "MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS",
    "NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL",
    "NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL",
    "PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION",
    "REFERENCED_INTERNAL_GATEWAY",
    "REFERENCED_RESOURCE_NOT_FOUND",
    "UNKNOWN_DESTINATION_RULE_HOST",
    "VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED",
    "VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY",
    "Level",
    "MessageType",
    "go_sprintf",
]

Level = Literal["Error", "Warning", "Info"]
# Worst first, as Istio's diag.Level sort order (pkg/config/analysis/diag/level.go).
LEVELS: tuple[Level, ...] = ("Error", "Warning", "Info")


@dataclass(frozen=True)
class MessageType:
    """One kind of message: Istio's name, code, level and template."""

    name: str
    code: str
    level: Level
    template: str

    def render(self, *args: object) -> str:
        return go_sprintf(self.template, args)


def go_sprintf(template: str, args: Sequence[object]) -> str:
    """``template`` filled as Go's ``fmt.Sprintf``, for the verbs the templates use.

    ``%s``, ``%v`` and ``%d`` print the value (a list as ``[a b]``, Go's
    slice format); ``%q`` quotes a string with double quotes and Go-style escapes.
    """
    out: list[str] = []
    values = iter(args)
    i = 0
    while i < len(template):
        char = template[i]
        if char != "%" or i + 1 >= len(template):
            out.append(char)
            i += 1
            continue
        verb = template[i + 1]
        i += 2
        if verb == "%":
            out.append("%")
            continue
        value = next(values)
        out.append(json.dumps(str(value), ensure_ascii=False) if verb == "q" else _go_value(value))
    return "".join(out)


def _go_value(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_go_value(v) for v in value) + "]"
    return str(value)


def _message(name: str, code: str, level: Level, template: str) -> MessageType:
    return MessageType(name, code, level, template)


REFERENCED_RESOURCE_NOT_FOUND = _message(
    "ReferencedResourceNotFound", "IST0101", "Error", "Referenced %s not found: %q"
)
CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS = _message(
    "ConflictingMeshGatewayVirtualServiceHosts",
    "IST0109",
    "Error",
    "The VirtualServices %s associated with mesh gateway define the same host %s which can "
    "lead to undefined behavior. This can be fixed by merging the conflicting "
    "VirtualServices into a single resource.",
)
CONFLICTING_SIDECAR_WORKLOAD_SELECTORS = _message(
    "ConflictingSidecarWorkloadSelectors",
    "IST0110",
    "Error",
    "The Sidecars %v in namespace %q select the same workload pod %q, which can lead to "
    "undefined behavior.",
)
MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS = _message(
    "MultipleSidecarsWithoutWorkloadSelectors",
    "IST0111",
    "Error",
    "The Sidecars %v in namespace %q have no workload selector, which can lead to undefined "
    "behavior.",
)
VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED = _message(
    "VirtualServiceDestinationPortSelectorRequired",
    "IST0112",
    "Error",
    "This VirtualService routes to a service %q that exposes multiple ports %v. Specifying a "
    "port in the destination is required to disambiguate.",
)
PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION = _message(
    "PortNameIsNotUnderNamingConvention",
    "IST0118",
    "Info",
    "Port name %s (port: %d, targetPort: %s) doesn't follow the naming convention of Istio port.",
)
NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL = _message(
    "NoServerCertificateVerificationDestinationLevel",
    "IST0128",
    "Warning",
    "DestinationRule %s in namespace %s has TLS mode set to %s but no caCertificates are set "
    "to validate server identity for host: %s",
)
NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL = _message(
    "NoServerCertificateVerificationPortLevel",
    "IST0129",
    "Warning",
    "DestinationRule %s in namespace %s has TLS mode set to %s but no caCertificates are set "
    "to validate server identity for host: %s at port %s",
)
VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY = _message(
    "VirtualServiceHostNotFoundInGateway",
    "IST0132",
    "Warning",
    "one or more host %v defined in VirtualService %s not found in Gateway %s.",
)
GATEWAY_DUPLICATE_CERTIFICATE = _message(
    "GatewayDuplicateCertificate",
    "IST0138",
    "Warning",
    "Duplicate certificate in multiple gateways %v may cause 404s if clients re-use HTTP2 "
    "connections.",
)
INGRESS_ROUTE_RULES_NOT_AFFECTED = _message(
    "IngressRouteRulesNotAffected",
    "IST0140",
    "Warning",
    "Subset in virtual service %s has no effect on ingress gateway %s requests",
)
CONFLICTING_GATEWAYS = _message(
    "ConflictingGateways",
    "IST0145",
    "Error",
    "Conflict with gateways %s (workload selector %s, port %s, hosts %v).",
)
INVALID_GATEWAY_CREDENTIAL = _message(
    "InvalidGatewayCredential",
    "IST0161",
    "Error",
    "The credential referenced by the Gateway %s in namespace %s is invalid, which can cause "
    "the traffic not to work as expected.",
)
GATEWAY_PORT_NOT_DEFINED_ON_SERVICE = _message(
    "GatewayPortNotDefinedOnService",
    "IST0162",
    "Warning",
    "The gateway is listening on a target port (port %d) that is not defined in the Service "
    "associated with its workload instances (Pod selector %s). If you need to access the "
    "gateway port through the gateway Service, it will not be available.",
)
REFERENCED_INTERNAL_GATEWAY = _message(
    "ReferencedInternalGateway",
    "IST0165",
    "Warning",
    "Gateway reference in VirtualService %s is to an implementation-generated internal "
    "Gateway: %s.",
)
DESTINATION_RULE_SUBSET_NOT_SELECT_PODS = _message(
    "DestinationRuleSubsetNotSelectPods",
    "IST0173",
    "Error",
    "The Subset %s defined in the DestinationRule does not select any pods. Which may lead to "
    "503 UH (NoHealthyUpstream).",
)
UNKNOWN_DESTINATION_RULE_HOST = _message(
    "UnknownDestinationRuleHost",
    "IST0174",
    "Warning",
    "The host %s defined in the DestinationRule does not match any services in the mesh.",
)

MESSAGES: dict[str, MessageType] = {
    m.code: m
    for m in (
        REFERENCED_RESOURCE_NOT_FOUND,
        CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS,
        CONFLICTING_SIDECAR_WORKLOAD_SELECTORS,
        MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS,
        VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED,
        PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION,
        NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL,
        NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL,
        VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY,
        GATEWAY_DUPLICATE_CERTIFICATE,
        INGRESS_ROUTE_RULES_NOT_AFFECTED,
        CONFLICTING_GATEWAYS,
        INVALID_GATEWAY_CREDENTIAL,
        GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
        REFERENCED_INTERNAL_GATEWAY,
        DESTINATION_RULE_SUBSET_NOT_SELECT_PODS,
        UNKNOWN_DESTINATION_RULE_HOST,
    )
}
"""The messages implemented, by code."""
