"""Object metadata as the Kubernetes API server checks it, and the annotations Istio refuses.

Kubernetes: a custom resource's name is a DNS-1123 subdomain, its namespace a
DNS-1123 label, label keys are qualified names, label values at most 63
characters, annotation keys qualified names, annotations at most 256 KiB
(``k8s.io/apimachinery`` ``pkg/api/validation/objectmeta.go``,
``pkg/apis/meta/v1/validation``, ``pkg/util/validation``). Istio:
``validateMetadata`` in ``pkg/config/validation/validation.go``.
"""

from __future__ import annotations

import re

from ..model.apps import AppResource
from ..model.gatewayapi import ClusterGatewayAPIResource, GatewayAPIResource
from ..model.istio import IstioResource, PolicyTargetReference
from ..model.kubernetes import KubernetesNamespace
from .report import Report

__all__ = [
    "KubernetesObject",
    "label_key_problems",
    "label_value_problems",
    "subdomain_problems",
    "validate_istio_annotations",
    "validate_metadata",
    "validate_target_ref",
]

_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = _LABEL + r"(\." + _LABEL + ")*"
_QUALIFIED = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_RE = re.compile(_LABEL)
_SUBDOMAIN_RE = re.compile(_SUBDOMAIN)
_QUALIFIED_RE = re.compile(_QUALIFIED)
_VALUE_RE = re.compile("(" + _QUALIFIED + ")?")
ANNOTATIONS_LIMIT = 256 * 1024

# Every object a case may hold; cluster-scoped ones (Namespace, GatewayClass)
# have ``namespace == ""``, as Kubernetes stores them.
KubernetesObject = (
    IstioResource
    | GatewayAPIResource
    | ClusterGatewayAPIResource
    | KubernetesNamespace
    | AppResource
)

_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', regex used "
    f"for validation is '{_LABEL}')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    f"for validation is '{_SUBDOMAIN}')"
)
_QUALIFIED_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc', regex used for validation "
    f"is '{_QUALIFIED}')"
)
_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue', or 'my_value', "
    f"or '12345', regex used for validation is '({_QUALIFIED})?')"
)

# pkg/config/constants: annotations Istio keeps for itself.
_ISTIO_ONLY = ("internal.istio.io/parent-namespace", "internal.istio.io/parents")
_ALWAYS_REJECT = "internal.istio.io/webhook-always-reject"
_DRY_RUN = "istio.io/dry-run"  # AuthorizationPolicy only


def _max_length(limit: int) -> str:
    return f"must be no more than {limit} characters"


def subdomain_problems(value: str) -> list[str]:
    """``IsDNS1123Subdomain``."""
    problems = [_max_length(253)] if len(value) > 253 else []
    if not _SUBDOMAIN_RE.fullmatch(value):
        problems.append(_SUBDOMAIN_MSG)
    return problems


def _dns_label_problems(value: str) -> list[str]:
    """``IsDNS1123Label``."""
    problems = [_max_length(63)] if len(value) > 63 else []
    if not _LABEL_RE.fullmatch(value):
        problems.append("must not contain dots" if _SUBDOMAIN_RE.fullmatch(value) else _LABEL_MSG)
    return problems


def label_key_problems(key: str) -> list[str]:
    """``IsQualifiedName`` (``content.IsLabelKey``): ``[prefix/]name``."""
    parts = key.split("/")
    if len(parts) > 2:
        return [
            f"a valid label key {_QUALIFIED_MSG} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    problems: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            problems.append("prefix part must be non-empty")
        else:
            problems.extend("prefix part " + p for p in subdomain_problems(parts[0]))
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part " + _max_length(63))
    if not _QUALIFIED_RE.fullmatch(name):
        problems.append("name part " + _QUALIFIED_MSG)
    return problems


def label_value_problems(value: str) -> list[str]:
    """``IsValidLabelValue``."""
    problems = [_max_length(63)] if len(value) > 63 else []
    if not _VALUE_RE.fullmatch(value):
        problems.append(_VALUE_MSG)
    return problems


def _invalid(value: str, problem: str) -> str:
    """``field.Invalid``'s wording: ``Invalid value: "x": why``."""
    return f'Invalid value: "{value}": {problem}'


def validate_metadata(resource: KubernetesObject, r: Report) -> None:
    """What the API server checks of every object's metadata, before any webhook sees it."""
    meta, m = resource.metadata, r.at("metadata")
    for problem in subdomain_problems(meta.name):
        m.error(_invalid(meta.name, problem), "name")
    # A cluster-scoped object has no namespace to check (its model refuses one).
    if not isinstance(resource, (ClusterGatewayAPIResource, KubernetesNamespace)):
        for problem in _dns_label_problems(resource.namespace):
            m.error(_invalid(resource.namespace, problem), "namespace")
    for key, value in meta.labels.items():
        for problem in label_key_problems(key):
            m.error(_invalid(key, problem), "labels", key)
        for problem in label_value_problems(value):
            m.error(_invalid(value, problem), "labels", key)
    for key in meta.annotations:
        # Case does not matter in annotation keys (objectmeta.go ValidateAnnotations).
        for problem in label_key_problems(key.lower()):
            m.error(_invalid(key, problem), "annotations", key)
    size = sum(len(k.encode()) + len(v.encode()) for k, v in meta.annotations.items())
    if size > ANNOTATIONS_LIMIT:
        m.error(f"Too long: must have at most {ANNOTATIONS_LIMIT} bytes", "annotations")


def validate_istio_annotations(resource: IstioResource, r: Report) -> bool:
    """``validateMetadata``: annotations Istio refuses; whether its webhook goes on to the spec."""
    annotations = resource.metadata.annotations
    m = r.at("metadata", "annotations")
    if _DRY_RUN in annotations:
        problem = _dry_run_problem(resource, annotations[_DRY_RUN])
        if problem:
            m.error(problem, _DRY_RUN)
            return False
    if _ALWAYS_REJECT in annotations:
        m.error(f'"{_ALWAYS_REJECT}" annotation found, rejecting', _ALWAYS_REJECT)
        return False
    for key in _ISTIO_ONLY:
        if key in annotations:
            m.error(f'"{key}" annotation found, this may not be set by users', key)
            return False
    return True


# strconv.ParseBool
_GO_BOOLS = frozenset(
    {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}
)


def _dry_run_problem(resource: IstioResource, value: str) -> str | None:
    """``checkDryRunAnnotation``: AuthorizationPolicy only, ALLOW or DENY, a Go boolean."""
    ns_name = f"{resource.namespace}/{resource.name}"
    if resource.kind != "AuthorizationPolicy":
        return f"{ns_name} has unsupported annotation {_DRY_RUN}, please remove the annotation"
    action = getattr(resource.spec, "action", "ALLOW")
    if action not in ("ALLOW", "DENY"):
        return (
            f"the annotation {_DRY_RUN} currently only supports action ALLOW/DENY, found "
            f"action {action} in {ns_name}"
        )
    if value not in _GO_BOOLS:
        return (
            f"{ns_name} has annotation {_DRY_RUN} with invalid value ({value}): "
            f'strconv.ParseBool: parsing "{value}": invalid syntax'
        )
    return None


# allowedTargetRefs in pkg/config/validation/validation.go: (canonical group, kind).
_ALLOWED_TARGETS = (
    ("core", "Service"),
    ("networking.istio.io", "ServiceEntry"),
    ("gateway.networking.k8s.io", "Gateway"),
    ("gateway.networking.k8s.io", "GatewayClass"),
)
_ALLOWED_TEXT = (
    "[core/v1/Service networking.istio.io/v1/ServiceEntry "
    "gateway.networking.k8s.io/v1/Gateway gateway.networking.k8s.io/v1/GatewayClass]"
)


def validate_target_ref(ref: PolicyTargetReference, r: Report) -> None:
    """``validatePolicyTargetReference``."""
    if not ref.name:
        r.error("targetRef name must be set", "name")
    if ref.namespace:
        r.error(
            "targetRef namespace must not be set; cross namespace referencing is not supported",
            "namespace",
        )
    if (ref.group or "core", ref.kind) not in _ALLOWED_TARGETS:
        r.error(
            f"targetRef must be to one of {_ALLOWED_TEXT} but was {ref.group}/{ref.kind}", "kind"
        )
