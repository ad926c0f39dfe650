"""backendRefs -> Istio destinations, with Istio's verdict on references it cannot follow.

``pilot/pkg/config/kube/gateway/conversion.go`` ``buildDestination``: a
Service in the route's namespace, or in another one a ReferenceGrant opens;
an unknown Service, a reference not granted or a kind Istio does not know
keeps its rule with a destination no cluster answers (Envoy then answers
500, ``cluster_not_found_response_code``); a Service named by hostname or
without port is a hard error of the whole route.
"""

from __future__ import annotations

from ...._cases.model.gatewayapi import BackendObjectReference
from ...._cases.model.istio import Destination, PortSelector
from .context import ConversionInputs
from .status import (
    BACKEND_NOT_FOUND,
    INVALID_DESTINATION,
    INVALID_KIND,
    REF_NOT_PERMITTED,
    ConfigError,
)

__all__ = ["EMPTY_DESTINATION", "build_destination", "is_invalid_backend"]

# istio.Destination{}: its cluster is "UnknownService" (route.go GetDestinationCluster).
EMPTY_DESTINATION = Destination.model_construct(host="", subset=None, port=None)


def is_invalid_backend(error: ConfigError) -> bool:
    """``isInvalidBackend``: the rule stays (answering 500); other errors drop the route."""
    return error.reason in (REF_NOT_PERMITTED, BACKEND_NOT_FOUND, INVALID_KIND)


def build_destination(
    inputs: ConversionInputs,
    ref: BackendObjectReference,
    namespace: str,
    route_kind: str,
    enforce_ref_grant: bool,
) -> tuple[Destination | None, ConfigError | None]:
    """``buildDestination``: (destination, error); no destination means a hard error."""
    group, kind = ref.group, ref.kind
    crosses = ref.namespace is not None and ref.namespace != namespace
    if (
        enforce_ref_grant
        and crosses
        and not inputs.reference_allowed(
            "gateway.networking.k8s.io",
            route_kind,
            namespace,
            group,
            kind,
            ref.name,
            ref.namespace or "",
        )
    ):
        return EMPTY_DESTINATION, ConfigError(
            REF_NOT_PERMITTED,
            f"backendRef {ref.name}/{ref.namespace} not accessible to a {route_kind} in "
            f'namespace "{namespace}" (missing a ReferenceGrant?)',
        )
    target_ns = ref.namespace or namespace
    invalid: ConfigError | None = None
    if (group, kind) == ("", "Service"):
        if "." in ref.name:
            return None, ConfigError(
                INVALID_DESTINATION,
                "service name invalid; the name of the Service must be used, not the hostname.",
            )
        hostname = f"{ref.name}.{target_ns}.svc.{inputs.domain_suffix}"
        if inputs.service(target_ns, ref.name) is None:
            invalid = ConfigError(BACKEND_NOT_FOUND, f"backend({hostname}) not found")
    elif (group, kind) in (
        ("networking.istio.io", "Hostname"),
        ("multicluster.x-k8s.io", "ServiceImport"),
        ("inference.networking.k8s.io", "InferencePool"),
    ):
        raise UnsupportedBackend(f"backendRef kind {group}/{kind} ({ref.name})")
    else:
        return EMPTY_DESTINATION, ConfigError(
            INVALID_KIND, f'referencing unsupported backendRef: group "{group}" kind "{kind}"'
        )
    if ref.port is None:
        # "Port is required when the referent is a Kubernetes Service."
        return None, ConfigError(INVALID_DESTINATION, "port is required in backendRef")
    return Destination(host=hostname, port=PortSelector(number=ref.port)), invalid


class UnsupportedBackend(Exception):
    """A backend kind Istio supports and the local target does not (a skip, not a 500)."""
