"""The DestinationRule: host, traffic policy, subsets, exportTo, workload selector.

``ValidateDestinationRule`` and ``validateSubset`` in Istio's
``pkg/config/validation/validation.go``; the traffic policy is in ``trafficpolicy``.
"""

from __future__ import annotations

from ..model.istio import DestinationRule, TrafficPolicy
from .common import (
    is_dns1123_label,
    too_long,
    too_many,
    validate_export_to,
    validate_labels,
    validate_workload_selector,
)
from .hosts import validate_wildcard_domain
from .report import Report
from .trafficpolicy import validate_traffic_policy

__all__ = ["validate_destination_rule"]


def validate_destination_rule(rule: DestinationRule, r: Report) -> None:
    """``ValidateDestinationRule``."""
    spec, s = rule.spec, r.at("spec")
    s.error(validate_wildcard_domain(spec.host), "host")
    if spec.traffic_policy is not None:
        validate_traffic_policy(rule.namespace, spec.traffic_policy, s.at("trafficPolicy"))
    names: set[str] = set()
    for i, subset in enumerate(spec.subsets):
        sub = s.at("subsets", i)
        if subset.name in names:
            sub.error(f"duplicate subset names: {subset.name}", "name")
        names.add(subset.name)
        if not subset.name:
            sub.error("subset name cannot be empty", "name")
        elif not is_dns1123_label(subset.name):
            sub.error(f"subset name is invalid: {subset.name}", "name")
        sub.errors(validate_labels(subset.labels), "labels")
        if subset.traffic_policy is not None:
            validate_traffic_policy(rule.namespace, subset.traffic_policy, sub.at("trafficPolicy"))
    s.errors(
        validate_export_to(
            rule.namespace,
            spec.export_to,
            destination_rule_with_selector=spec.workload_selector is not None,
        ),
        "exportTo",
    )
    if spec.workload_selector is not None:
        labels = spec.workload_selector.match_labels
        errors, warning = validate_workload_selector(labels)
        s.errors(errors, "workloadSelector", "matchLabels")
        s.warn(warning, "workloadSelector")
        s.error(too_many(len(labels), 4096), "workloadSelector", "matchLabels")
        for key, value in labels.items():
            s.error(too_long(value, 63), "workloadSelector", "matchLabels", key)
    for where, policy in _policies(rule):
        s.error(too_many(len(policy.port_level_settings), 4096), *where, "portLevelSettings")


def _policies(rule: DestinationRule) -> list[tuple[tuple[str | int, ...], TrafficPolicy]]:
    """Every traffic policy of the rule with its key path (the CRD limits each)."""
    out: list[tuple[tuple[str | int, ...], TrafficPolicy]] = []
    if rule.spec.traffic_policy is not None:
        out.append((("trafficPolicy",), rule.spec.traffic_policy))
    for i, subset in enumerate(rule.spec.subsets):
        if subset.traffic_policy is not None:
            out.append((("subsets", i, "trafficPolicy"), subset.traffic_policy))
    return out
