"""The feature catalogue: validation, profile membership, and the shipped one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_meshgate._cases.catalog import DEFAULT_CATALOG, CatalogError, load_catalog
from pytest_meshgate._cases.loader import load_case_file

REPO = Path(__file__).resolve().parents[2]

CATALOG = """
apiVersion: conformance.meshgate.dev/v1alpha1
kind: FeatureCatalog
features:
- {name: Basic, api: istio, level: core, description: Plain routing.}
- {name: Routing, api: istio, level: core, description: Path routing.}
- {name: Fancy, api: istio, level: extended, description: Something rare.}
- {name: Secure, api: istio, level: core, description: TLS.}
profiles:
- name: HTTP-PROFILE
  description: Plain HTTP.
  core: [Basic, Routing]
  extended: [Fancy]
- name: TLS-PROFILE
  description: TLS.
  core: [Basic, Secure]
"""


@pytest.fixture
def block_catalog_path(write: Callable[[str, str], Path]) -> Path:
    return write("features.yaml", CATALOG)


def test_membership_needs_every_feature_and_levels_are_per_profile(
    block_catalog_path: Path,
) -> None:
    catalog = load_catalog(block_catalog_path)
    assert catalog.membership(["Basic", "Routing"]) == {"HTTP-PROFILE": "core"}
    assert catalog.membership(["Basic", "Fancy"]) == {"HTTP-PROFILE": "extended"}
    # Shared features count in both profiles, at the level each profile gives them.
    assert catalog.membership(["Basic"]) == {"HTTP-PROFILE": "core", "TLS-PROFILE": "core"}
    # Features from two profiles: in neither.
    assert catalog.membership(["Fancy", "Secure"]) == {}
    # No features: not a conformance test at all.
    assert catalog.membership([]) == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CATALOG.replace("level: core, description: TLS.", "level: basic, description: TLS."),
         "features.yaml:7:37: features[3].level: Input should be 'core' or 'extended'"),
        (CATALOG.replace("core: [Basic, Secure]", "core: [Basic, Secrue]"),
         "features.yaml:15:17: profiles[1].core[1]: unknown feature 'Secrue'"),
        (CATALOG.replace("Something rare.", "Something rare.}\n- {name: Fancy, api: istio, level: core, description: x"),
         "features.yaml:7:10: features[3].name: duplicate feature 'Fancy'"),
        (CATALOG.replace("extended: [Fancy]", "extended: [Fancy, Routing]"),
         "features.yaml:12:21: profiles[0].extended[1]: 'Routing' is listed twice"),
        (CATALOG.replace("  description: TLS.\n", "  descripton: TLS.\n"),
         "features.yaml:14:3: profiles[1].descripton: unknown key"),
    ],
)  # fmt: skip
def test_catalog_problems_are_located(
    write: Callable[[str, str], Path], text: str, expected: str
) -> None:
    path = write("features.yaml", text)
    with pytest.raises(CatalogError) as excinfo:
        load_catalog(path)
    assert expected in str(excinfo.value).replace(str(path), "features.yaml")


def test_shipped_catalogue_is_the_repository_one() -> None:
    assert DEFAULT_CATALOG.read_bytes() == (REPO / "conformance" / "features.yaml").read_bytes()
    catalog = load_catalog(DEFAULT_CATALOG)
    for name in ("ISTIO-INGRESS-HTTP", "ISTIO-INGRESS-TLS", "ISTIO-EGRESS", "ISTIO-MESH-HTTP"):
        assert name in catalog.profiles
    assert {feature.api for feature in catalog.features.values()} <= {"istio", "gateway-api"}


def test_every_feature_named_in_cases_is_in_the_catalogue() -> None:
    catalog = load_catalog(DEFAULT_CATALOG)
    named: dict[str, str] = {}
    for path in sorted((REPO / "cases").glob("*.yaml")):
        for case in load_case_file(path).cases:
            for feature in case.case.metadata.features:
                named.setdefault(feature, f"{path.name}::{case.name}")
    assert named, "the suite names no features at all"
    unknown = {name: where for name, where in named.items() if name not in catalog.features}
    assert unknown == {}


def test_every_catalogue_feature_is_in_a_profile() -> None:
    catalog = load_catalog(DEFAULT_CATALOG)
    in_profiles = set().union(*(profile.features for profile in catalog.profiles.values()))
    assert set(catalog.features) - in_profiles == set()


GATEWAY_API = """
- {name: KubernetesGateway, upstream: Gateway, api: gateway-api, level: core, description: GW.}
- {name: HTTPRoute, api: gateway-api, level: core, description: Routes.}
"""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("- {name: Fancy, api: istio", "- {name: Fancy, upstream: Fun, api: istio"),
         "features[2].upstream: upstream names a Gateway API feature; this one is Istio's"),
        (("upstream: Gateway,", "upstream: HTTPRoute,"),
         "features[5].upstream: reports would name both 'KubernetesGateway' and 'HTTPRoute' 'HTTPRoute'"),
        (("upstream: Gateway,", "upstream: KubernetesGateway,"),
         "features[4].upstream: upstream is for a name that differs from the feature's"),
        (("core: [Basic, Secure]", "core: [Basic, HTTPRoute]"),
         "profiles[1].name: mixes features of gateway-api and istio; a profile is of one API"),
    ],
)  # fmt: skip
def test_upstream_names_and_profiles_keep_the_apis_apart(
    write: Callable[[str, str], Path], change: tuple[str, str], expected: str
) -> None:
    text = CATALOG.replace("profiles:\n", GATEWAY_API.lstrip("\n") + "profiles:\n")
    path = write("features.yaml", text.replace(*change))
    with pytest.raises(CatalogError) as excinfo:
        load_catalog(path)
    assert expected in str(excinfo.value)


def test_the_shipped_gateway_api_features_report_upstream_names() -> None:
    catalog = load_catalog(DEFAULT_CATALOG)
    gateway_api = [f for f in catalog.features.values() if f.api == "gateway-api"]
    assert {f.name: f.report_name for f in gateway_api if f.upstream} == {
        "KubernetesGateway": "Gateway",
        "KubernetesTLSRoute": "TLSRoute",
        "KubernetesTCPRoute": "TCPRoute",
    }
    # Renamed only where an Istio feature has the Gateway API's name.
    istio = {f.name for f in catalog.features.values() if f.api == "istio"}
    assert all(f.upstream in istio for f in gateway_api if f.upstream)
    assert not {f.name for f in gateway_api} & istio
