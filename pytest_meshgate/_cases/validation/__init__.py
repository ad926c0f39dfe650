"""Istio's admission validation of a case's resources: what a cluster would refuse, located.

A resource the pydantic model accepted still has to pass what a real cluster
checks before storing it: the Kubernetes API server (object metadata, the
CRD schema's ``oneOf`` and CEL rules) and Istio's validating webhook
(``pkg/config/validation`` in istio/istio). Errors make the case an invalid
document at collection; warnings (what the webhook accepts but says about)
come back beside them. docs/istio-validation.md lists every rule.

One module per kind (``gateway``, ``virtualservice`` with ``httproute`` and
``httppolicy``, ``destinationrule``, ``serviceentry``, ``sidecar``, ``telemetry``,
``security``: AuthorizationPolicy and RequestAuthentication) over the
rules they share (``kubernetes``, ``trafficpolicy``, ``tls``, ``headers``,
``hosts``, ``regex``, ``common``) and ``report``, where findings are collected.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..._errors import Problem
from ..model.istio import (
    AuthorizationPolicy,
    DestinationRule,
    Gateway,
    IstioResource,
    PeerAuthentication,
    RequestAuthentication,
    ServiceEntry,
    Sidecar,
    Telemetry,
    VirtualService,
)
from ..yamlpos import KeyPath, Positions, format_key_path
from .destinationrule import validate_destination_rule
from .gateway import validate_gateway
from .kubernetes import KubernetesObject, validate_istio_annotations, validate_metadata
from .peerauthentication import validate_peer_authentication
from .report import Findings, Report
from .security import validate_authorization_policy, validate_request_authentication
from .serviceentry import validate_service_entry
from .sidecar import validate_sidecar
from .telemetry import validate_telemetry
from .virtualservice import validate_virtual_service

__all__ = ["Findings", "Report", "check_resource", "expected_warnings", "validate_resource"]


def check_resource(resource: KubernetesObject, report: Report) -> None:
    """Every rule for ``resource``, into ``report`` (rooted at the resource)."""
    validate_metadata(resource, report)
    if not isinstance(resource, IstioResource):
        return  # Istio's webhook validates Istio config only; the model holds Gateway API's rules
    if not validate_istio_annotations(resource, report):
        return  # Istio's webhook stops at these
    if isinstance(resource, Gateway):
        validate_gateway(resource, report)
    elif isinstance(resource, VirtualService):
        validate_virtual_service(resource, report)
    elif isinstance(resource, DestinationRule):
        validate_destination_rule(resource, report)
    elif isinstance(resource, ServiceEntry):
        validate_service_entry(resource, report)
    elif isinstance(resource, Sidecar):
        validate_sidecar(resource, report)
    elif isinstance(resource, Telemetry):
        validate_telemetry(resource, report)
    elif isinstance(resource, AuthorizationPolicy):
        validate_authorization_policy(resource, report)
    elif isinstance(resource, RequestAuthentication):
        validate_request_authentication(resource, report)
    elif isinstance(resource, PeerAuthentication):
        validate_peer_authentication(resource, report)


def validate_resource(
    resource: KubernetesObject, positions: Positions, base: KeyPath, path: Path
) -> Findings:
    """Validate one parsed resource found at ``base`` of a case; errors and warnings, located."""
    report = Report(base)
    check_resource(resource, report)
    return report.located(positions, path)


def expected_warnings(
    warnings: Sequence[Problem], expected: Sequence[str], positions: Positions, path: Path
) -> tuple[list[Problem], list[Problem]]:
    """Split ``warnings`` by the case's ``metadata.expectedWarnings``.

    Returns the warnings no entry expects (to emit) and an error for each
    entry no warning matches: a case that documents a warning Istio no longer
    gives is stale.
    """
    unexpected = [w for w in warnings if not any(e in w.message for e in expected)]
    stale: list[Problem] = []
    for i, entry in enumerate(expected):
        if any(entry in w.message for w in warnings):
            continue
        key_path: KeyPath = ("metadata", "expectedWarnings", i)
        mark = positions.locate(key_path)
        message = f"no resource of this case gives the expected warning '{entry}'"
        key = format_key_path(key_path)
        stale.append(
            mark.problem(key, message) if mark is not None else Problem(path, 1, 1, key, message)
        )
    return unexpected, stale
