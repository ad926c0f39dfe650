"""Kubernetes core pieces the manifests share: metadata, label selectors, Namespace, ConfigMap.

Names, labels and selectors are validated as the API server does
(``k8s.io/apimachinery/pkg/util/validation/validation.go``: DNS-1123 label
and subdomain names, qualified label keys, label values;
``pkg/apis/meta/v1/validation``: label selector operators).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from .base import StrictModel

__all__ = [
    "DNS_LABEL",
    "DNS_SUBDOMAIN",
    "ClusterObjectMeta",
    "KubernetesConfigMap",
    "KubernetesLabelSelector",
    "KubernetesNamespace",
    "LabelSelectorRequirement",
    "NamespaceSpec",
    "ObjectMeta",
    "check_labels",
    "label_selector_matches",
]

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_DNS_LABEL = re.compile(DNS_LABEL)
_DNS_SUBDOMAIN = re.compile(DNS_SUBDOMAIN)
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _subdomain_name(name: str) -> str:
    # validation.go IsDNS1123Subdomain: object names of most kinds.
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        raise ValueError(
            f"invalid name {name!r}: a lowercase RFC 1123 subdomain must consist of lower case "
            "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
            "character (at most 253 characters)"
        )
    return name


def _label_name(name: str) -> str:
    # validation.go IsDNS1123Label: namespace names.
    if len(name) > 63 or not _DNS_LABEL.match(name):
        raise ValueError(
            f"invalid namespace name {name!r}: a lowercase RFC 1123 label must consist of lower "
            "case alphanumeric characters or '-', and must start and end with an alphanumeric "
            "character (at most 63 characters)"
        )
    return name


def check_labels(labels: Mapping[str, str]) -> None:
    """validation.go IsQualifiedName (keys) and IsValidLabelValue (values)."""
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if (
            not name
            or len(name) > 63
            or not _LABEL_NAME.match(name)
            or (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)))
            or ("/" in key and not prefix)
        ):
            raise ValueError(
                f"invalid label key {key!r}: an optional DNS subdomain prefix and '/', then a "
                "name of at most 63 alphanumeric characters, '-', '_' or '.', starting and "
                "ending with an alphanumeric character"
            )
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            raise ValueError(
                f"invalid label value {value!r} of {key!r}: at most 63 alphanumeric characters, "
                "'-', '_' or '.', starting and ending with an alphanumeric character"
            )


def _labels(labels: dict[str, str]) -> dict[str, str]:
    check_labels(labels)
    return labels


Labels = Annotated[dict[str, str], AfterValidator(_labels)]


class ObjectMeta(StrictModel):
    """The metadata of a namespaced object (Gateway API resources)."""

    name: Annotated[str, AfterValidator(_subdomain_name)]
    namespace: Annotated[str, AfterValidator(_label_name)] = "default"
    labels: Labels = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: datetime | None = None
    generation: int | None = Field(default=None, ge=1)


class ClusterObjectMeta(StrictModel):
    """The metadata of a cluster-scoped object (Namespace, GatewayClass): no namespace."""

    name: Annotated[str, AfterValidator(_subdomain_name)]
    labels: Labels = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: datetime | None = None
    generation: int | None = Field(default=None, ge=1)


class LabelSelectorRequirement(StrictModel):
    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values_as_operator_needs(self) -> LabelSelectorRequirement:
        # meta/v1/validation ValidateLabelSelectorRequirement()
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError("values: must be specified when `operator` is 'In' or 'NotIn'")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(
                "values: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
            )
        check_labels({self.key: ""})
        return self


class KubernetesLabelSelector(StrictModel):
    """``metav1.LabelSelector``: matchLabels AND every matchExpressions entry."""

    match_labels: Labels = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)


def label_selector_matches(selector: KubernetesLabelSelector, labels: Mapping[str, str]) -> bool:
    """``metav1.LabelSelectorAsSelector(selector).Matches(labels)``; empty selects everything."""
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return False
    for requirement in selector.match_expressions:
        present = requirement.key in labels
        value = labels.get(requirement.key)
        if requirement.operator == "In" and value not in requirement.values:
            return False
        if requirement.operator == "NotIn" and present and value in requirement.values:
            return False
        if requirement.operator == "Exists" and not present:
            return False
        if requirement.operator == "DoesNotExist" and present:
            return False
    return True


class NamespaceSpec(StrictModel):
    finalizers: list[str] = Field(default_factory=list)


class KubernetesNamespace(StrictModel):
    """A core ``v1`` Namespace: its labels are what Gateway ``allowedRoutes`` selectors read."""

    api_version: Literal["v1"]
    kind: Literal["Namespace"]
    metadata: ClusterObjectMeta
    spec: NamespaceSpec = Field(default_factory=NamespaceSpec)

    @field_validator("metadata", mode="before")
    @classmethod
    def _cluster_scoped(cls, value: object) -> object:
        if isinstance(value, dict) and "namespace" in value:
            raise ValueError("a Namespace is cluster-scoped: metadata.namespace must not be set")
        return value

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return ""

    @property
    def key(self) -> str:
        return self.metadata.name

    @property
    def effective_labels(self) -> dict[str, str]:
        """Its labels with ``kubernetes.io/metadata.name``, which the API server always sets."""
        return {**self.metadata.labels, "kubernetes.io/metadata.name": self.metadata.name}


# validation.go IsConfigMapKey: a file name, at most 253 characters.
_CONFIG_MAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def _config_map_data(data: dict[str, str]) -> dict[str, str]:
    for key in data:
        if len(key) > 253 or not _CONFIG_MAP_KEY.match(key) or key in (".", ".."):
            raise ValueError(
                f"invalid ConfigMap key {key!r}: a valid config key must consist of alphanumeric "
                "characters, '-', '_' or '.' (at most 253 characters)"
            )
    return data


class KubernetesConfigMap(StrictModel):
    """A core ``v1`` ConfigMap: what a BackendTLSPolicy's ``caCertificateRefs`` read (``ca.crt``).

    A CA the run generates is published as one by a ``spec.secrets`` entry
    of ``kind: ConfigMap``; a manifest gives fixed data (an empty or
    malformed CA, as conformance tests do).
    """

    api_version: Literal["v1"]
    kind: Literal["ConfigMap"]
    metadata: ObjectMeta
    data: Annotated[dict[str, str], AfterValidator(_config_map_data)] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace}/{self.metadata.name}"
