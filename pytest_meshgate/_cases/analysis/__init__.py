"""What ``istioctl analyze`` would warn about a case: Istio's analyzers, codes and wording.

``analyze(loaded)`` runs the analyzers of Istio's
``pkg/config/analysis/analyzers/`` that concern the resources a case can
hold, over the case's resources and its workloads (``cluster``: pods,
Services and Secrets as the targets deploy them), and returns the findings
sorted and de-duplicated as istioctl prints them. The analyzers implemented,
and those that are not, are listed in ``docs/analysis.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .cluster import Cluster
from .destinationrule import ca_certificates, subsets_select_pods
from .findings import Finding, at_or_above, sorted_findings
from .gateway import (
    conflicting_gateways,
    duplicate_certificates,
    gateway_secrets,
    ingress_gateway_ports,
)
from .messages import LEVELS, MESSAGES, Level
from .service import port_names
from .sidecar import sidecar_selectors
from .virtualservice import (
    conflicting_mesh_gateway_hosts,
    destination_hosts,
    destination_subsets,
    virtual_service_gateways,
)

if TYPE_CHECKING:
    from ..loader import LoadedCase

__all__ = ["ANALYZERS", "LEVELS", "MESSAGES", "Finding", "Level", "analyze", "at_or_above"]

ANALYZERS: dict[str, Callable[[Cluster], None]] = {
    # Istio's analyzer names (Metadata().Name), for docs and messages.
    "gateway.IngressGatewayPortAnalyzer": ingress_gateway_ports,
    "gateway.ConflictingGatewayAnalyzer": conflicting_gateways,
    "gateway.SecretAnalyzer": gateway_secrets,
    "gateway.CertificateAnalyzer": duplicate_certificates,
    "virtualservice.GatewayAnalyzer": virtual_service_gateways,
    "virtualservice.DestinationHostAnalyzer": destination_hosts,
    "virtualservice.DestinationRuleAnalyzer": destination_subsets,
    "virtualservice.ConflictingMeshGatewayHostsAnalyzer": conflicting_mesh_gateway_hosts,
    "destinationrule.CaCertificateAnalyzer": ca_certificates,
    "destinationrule.SubsetSelectPodAnalyzer": subsets_select_pods,
    "service.PortNameAnalyzer": port_names,
    "sidecar.SelectorAnalyzer": sidecar_selectors,
}
"""Every analyzer implemented, by Istio's name."""


def analyze(loaded: LoadedCase) -> list[Finding]:
    """Every finding of every analyzer for ``loaded``, as istioctl would print them."""
    cluster = Cluster.of(loaded)
    for analyzer in ANALYZERS.values():
        analyzer(cluster)
    return sorted_findings(cluster.findings)
