"""Kubernetes core pieces: names, labels, label selectors, the Namespace resource."""

from __future__ import annotations

import pydantic
import pytest

from pytest_meshgate._cases.model.kubernetes import (
    KubernetesLabelSelector,
    KubernetesNamespace,
    ObjectMeta,
    label_selector_matches,
)
from pytest_meshgate._cases.model.resources import parse_resource


def test_namespace_labels_and_the_name_label() -> None:
    ns = parse_resource(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "apps", "labels": {"team": "a"}},
        }
    )
    assert isinstance(ns, KubernetesNamespace)
    assert ns.effective_labels == {"team": "a", "kubernetes.io/metadata.name": "apps"}
    assert ns.spec.finalizers == []


@pytest.mark.parametrize(
    "meta",
    [
        {"name": "Upper"},
        {"name": "a", "namespace": "has.dot"},
        {"name": "a", "labels": {"bad key!": "v"}},
        {"name": "a", "labels": {"k": "-starts-with-dash"}},
        {"name": "a", "labels": {"/no-prefix": "v"}},
    ],
)
def test_names_and_labels_are_checked(meta: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        ObjectMeta.model_validate(meta)


def test_label_selector_semantics() -> None:
    selector = KubernetesLabelSelector.model_validate(
        {
            "matchLabels": {"team": "a"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "stage"]},
                {"key": "legacy", "operator": "DoesNotExist"},
                {"key": "tier", "operator": "NotIn", "values": ["db"]},
            ],
        }
    )
    assert label_selector_matches(selector, {"team": "a", "env": "prod"})
    assert label_selector_matches(selector, {"team": "a", "env": "stage", "tier": "web"})
    assert not label_selector_matches(selector, {"team": "a", "env": "dev"})
    assert not label_selector_matches(selector, {"team": "a", "env": "prod", "legacy": ""})
    assert not label_selector_matches(selector, {"team": "a", "env": "prod", "tier": "db"})
    assert not label_selector_matches(selector, {"env": "prod"})
    assert label_selector_matches(KubernetesLabelSelector(), {})
    exists = KubernetesLabelSelector.model_validate(
        {"matchExpressions": [{"key": "x", "operator": "Exists"}]}
    )
    assert label_selector_matches(exists, {"x": ""}) and not label_selector_matches(exists, {})
