"""The target factory: the features a target declares, read without starting it."""

from __future__ import annotations

import pytest

from pytest_meshgate._cases.catalog import DEFAULT_CATALOG, load_catalog
from pytest_meshgate._options import Settings, settings_of
from pytest_meshgate._targets.factory import declared_features

pytest_plugins = ["pytester"]


def test_local_target_declares_known_features_and_claims_its_profiles() -> None:
    catalog = load_catalog(DEFAULT_CATALOG)
    declared = declared_features(Settings())
    assert declared is not None and declared <= set(catalog.features)
    claimable = {
        name for name, profile in catalog.profiles.items() if set(profile.core) <= declared
    }
    assert claimable == {
        "ISTIO-INGRESS-HTTP",
        "ISTIO-INGRESS-TLS",
        "ISTIO-INGRESS-GRPC",
        "ISTIO-EGRESS",
        "ISTIO-MESH-HTTP",
        "ISTIO-TELEMETRY",
        "ISTIO-SECURITY",
        "GATEWAY-HTTP",
        "GATEWAY-TLS",
        "GATEWAY-TCP",
        "GATEWAY-GRPC",
        "MESH-HTTP",
    }
    # Every feature of the ingress TLS and egress profiles is implemented, core and extended.
    assert catalog.profiles["ISTIO-INGRESS-TLS"].features <= declared
    assert catalog.profiles["ISTIO-EGRESS"].features <= declared
    # ...and so is every feature of the ingress HTTP profile, traffic policy included.
    assert catalog.profiles["ISTIO-INGRESS-HTTP"].features <= declared
    assert catalog.profiles["ISTIO-INGRESS-GRPC"].features <= declared
    assert catalog.profiles["ISTIO-TELEMETRY"].features <= declared
    assert catalog.profiles["ISTIO-SECURITY"].features <= declared


@pytest.mark.parametrize(
    ("profile", "has_ingress", "has_egress", "has_mesh"),
    [
        ("demo", True, True, True),
        ("default", True, False, True),
        ("minimal", False, False, True),
        ("ambient", False, False, False),
    ],
)
def test_istio_adapter_declares_features_by_profile(
    pytester: pytest.Pytester, profile: str, has_ingress: bool, has_egress: bool, has_mesh: bool
) -> None:
    # Declaring features reads options only: no cluster, no kind, no istioctl.
    config = pytester.parseconfig("--meshgate-target=kind", f"--meshgate-istio-profile={profile}")
    catalog = load_catalog(DEFAULT_CATALOG)
    declared = declared_features(settings_of(config))
    supported = set(catalog.features) if declared is None else set(declared)
    assert ("GatewayTLSSimple" in supported) is has_ingress
    assert ("EgressGateway" in supported) is has_egress
    assert ("MeshRouting" in supported) is has_mesh
