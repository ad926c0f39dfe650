"""DestinationRule analyzers: TLS origination that verifies nothing, subsets and hosts of nothing.

As Istio's ``pkg/config/analysis/analyzers/destinationrule/``:
``ca-certificates.go`` (CaCertificateAnalyzer) and ``subset.go``
(SubsetSelectPodAnalyzer).
"""

from __future__ import annotations

from ..model.istio.destinationrule import ClientTLSSettings
from .cluster import Cluster, selects
from .hosts import destination_host, registry
from .messages import (
    DESTINATION_RULE_SUBSET_NOT_SELECT_PODS,
    NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL,
    NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL,
    UNKNOWN_DESTINATION_RULE_HOST,
)

__all__ = ["ca_certificates", "subsets_select_pods"]


def _verifies_nothing(tls: ClientTLSSettings | None, selected: bool) -> bool:
    """SIMPLE or MUTUAL without ``caCertificates``, unless a ``credentialName`` on a
    DestinationRule with a ``workloadSelector`` brings the CA."""
    if tls is None or tls.mode not in ("SIMPLE", "MUTUAL"):
        return False
    return not tls.ca_certificates and not (tls.credential_name and selected)


def ca_certificates(cluster: Cluster) -> None:
    """TLS origination without a CA to verify the server, for the whole host (IST0128)
    or a port (IST0129)."""
    for rule in cluster.instances("DestinationRule"):
        spec = rule.spec
        policy = spec.traffic_policy
        if policy is None:
            continue
        selected = spec.workload_selector is not None
        tls = policy.tls
        if tls is not None and _verifies_nothing(tls, selected):
            cluster.report(
                NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL,
                rule,
                rule.full_name,
                rule.namespace,
                tls.mode,
                spec.host,
                at=("spec", "trafficPolicy", "tls", "caCertificates"),
            )
        for i, port in enumerate(policy.port_level_settings):
            if port.tls is not None and _verifies_nothing(port.tls, selected):
                # The port as Go prints the PortSelector message.
                number = f"number:{port.port.number}" if port.port is not None else "<nil>"
                cluster.report(
                    NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL,
                    rule,
                    rule.full_name,
                    rule.namespace,
                    port.tls.mode,
                    spec.host,
                    number,
                    at=("spec", "trafficPolicy", "portLevelSettings", i, "tls", "caCertificates"),
                )


def subsets_select_pods(cluster: Cluster) -> None:
    """A host no Service or ServiceEntry defines (IST0174); a subset whose labels (with
    the ServiceEntry's workload selector) match no pod in any namespace (IST0173)."""
    entries = registry(cluster)
    for rule in cluster.instances("DestinationRule"):
        spec = rule.spec
        entry = destination_host(rule.namespace, spec.export_to, spec.host, entries)
        if entry is None:
            cluster.report(UNKNOWN_DESTINATION_RULE_HOST, rule, spec.host)
            continue
        for i, subset in enumerate(spec.subsets):
            selector = {**entry.workload_labels, **subset.labels}
            if not any(selects(selector, pod.labels) for pod in cluster.pods):
                cluster.report(
                    DESTINATION_RULE_SUBSET_NOT_SELECT_PODS,
                    rule,
                    subset.name,
                    at=("spec", "subsets", i),
                )
