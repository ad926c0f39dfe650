"""The resource registry: one model per apiVersion and kind, across Istio, Gateway API and core."""

from __future__ import annotations

import re

import pytest

from pytest_meshgate._cases.model import gatewayapi, istio
from pytest_meshgate._cases.model.resources import (
    UnsupportedResource,
    parse_resource,
    resource_model,
    resource_types,
)


def test_same_kind_name_two_apis() -> None:
    assert resource_model("networking.istio.io/v1beta1", "Gateway") is istio.Gateway
    assert (
        resource_model("gateway.networking.k8s.io/v1beta1", "Gateway")
        is gatewayapi.KubernetesGateway
    )
    assert (
        resource_model("gateway.networking.k8s.io/v1alpha2", "TLSRoute")
        is gatewayapi.KubernetesTLSRouteV1Alpha2
    )
    assert resource_model("networking.istio.io/v1", "HTTPRoute") is None


def test_every_served_version_is_registered() -> None:
    registered = {(t.api_version, t.kind) for t in resource_types() if t.api == "gateway-api"}
    expected = {
        (f"gateway.networking.k8s.io/{v}", kind)
        for kind, versions in gatewayapi.SERVED_VERSIONS.items()
        for v in versions
    }
    assert registered == expected
    assert ("v1", "Namespace") in {(t.api_version, t.kind) for t in resource_types()}


def test_unknown_kinds_and_unserved_versions() -> None:
    with pytest.raises(
        UnsupportedResource, match=re.escape("supported kinds: networking.istio.io: Gateway")
    ) as info:
        parse_resource({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "UDPRoute"})
    assert "gateway.networking.k8s.io: GatewayClass (v1/v1beta1)" in str(info.value)
    with pytest.raises(
        UnsupportedResource,
        match=re.escape(
            "HTTPRoute is not served as apiVersion 'gateway.networking.k8s.io/v1alpha2'"
        ),
    ):
        parse_resource({"apiVersion": "gateway.networking.k8s.io/v1alpha2", "kind": "HTTPRoute"})
    with pytest.raises(UnsupportedResource):
        parse_resource([])  # type: ignore[arg-type]
