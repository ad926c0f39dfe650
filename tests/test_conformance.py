"""The feature catalogue, profile membership and support decisions (_conformance)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_meshgate._conformance import (
    DEFAULT_CATALOG,
    CatalogError,
    Selection,
    declared_features,
    load_catalog,
    selection_for,
)
from pytest_meshgate._loader import load_case_file

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]

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
def catalog_path(write: Callable[[str, str], Path]) -> Path:
    return write("features.yaml", CATALOG)


def test_membership_needs_every_feature_and_levels_are_per_profile(catalog_path: Path) -> None:
    catalog = load_catalog(catalog_path)
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


def _selection(catalog_path: Path, **kwargs: object) -> Selection:
    options = {
        "implementation": "acme",
        "supported": frozenset({"Basic", "Routing"}),
        "source": "explicit",
        "claimed": (),
        "skip_cases": frozenset(),
        **kwargs,
    }
    return Selection(catalog=load_catalog(catalog_path), **options)  # type: ignore[arg-type]


def test_decisions_not_supported_wins_then_provisional_then_skip(catalog_path: Path) -> None:
    selection = _selection(catalog_path, skip_cases=frozenset({"a"}), skip_provisional=True)
    assert selection.decide("b", ["Basic", "Routing"], False).status == "run"
    assert selection.decide("b", [], False).status == "run"
    not_supported = selection.decide("a", ["Basic", "Fancy", "Secure"], True)
    assert not_supported.status == "not-supported"
    assert not_supported.reason == (
        "not supported: implementation 'acme' does not support Fancy, Secure"
    )
    assert selection.decide("a", ["Basic"], True).status == "provisional-skipped"
    assert selection.decide("a", ["Basic"], False).status == "skipped"
    assert selection.claimable("HTTP-PROFILE") and not selection.claimable("TLS-PROFILE")


def test_options_decide_the_supported_set(pytester: pytest.Pytester, catalog_path: Path) -> None:
    def supported(*args: str) -> frozenset[str]:
        config = pytester.parseconfig(f"--meshgate-features={catalog_path}", *args)
        return selection_for(config).supported

    # The local target declares its own features; none of this catalogue's.
    assert supported() == frozenset()
    assert supported("--meshgate-supported-features=Basic, Fancy") == {"Basic", "Fancy"}
    assert supported("--meshgate-all-features", "--meshgate-exempt-features=Secure") == {
        "Basic",
        "Routing",
        "Fancy",
    }
    # Claiming a profile claims its core features (its core cases run, and may fail).
    assert supported("--meshgate-profile=TLS-PROFILE", "--meshgate-supported-features=Fancy") == {
        "Basic",
        "Secure",
        "Fancy",
    }
    config = pytester.parseconfig(
        f"--meshgate-features={catalog_path}", "--meshgate-supported-features=Basci"
    )
    with pytest.raises(CatalogError, match="unknown feature 'Basci' \\(did you mean 'Basic'\\?\\)"):
        selection_for(config)


def test_ini_keys_select_too(pytester: pytest.Pytester, catalog_path: Path) -> None:
    pytester.makeini(
        f"[pytest]\nmeshgate-features = {catalog_path}\nmeshgate-all-features = true\n"
        "meshgate-skip-cases = x, y\n"
    )
    selection = selection_for(pytester.parseconfig())
    assert selection.source == "all"
    assert selection.supported == {"Basic", "Routing", "Fancy", "Secure"}
    assert selection.skip_cases == {"x", "y"}


# ------------------------------------------------------------------ the shipped catalogue


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


def test_local_target_declares_known_features_and_claims_its_profiles() -> None:
    catalog = load_catalog(DEFAULT_CATALOG)
    declared = declared_features("local")
    assert declared is not None and declared <= set(catalog.features)
    claimable = {
        name for name, profile in catalog.profiles.items() if set(profile.core) <= declared
    }
    assert claimable == {
        "ISTIO-INGRESS-HTTP",
        "ISTIO-INGRESS-TLS",
        "ISTIO-EGRESS",
        "ISTIO-MESH-HTTP",
    }
    # Every feature of the ingress TLS and egress profiles is implemented, core and extended.
    assert catalog.profiles["ISTIO-INGRESS-TLS"].features <= declared
    assert catalog.profiles["ISTIO-EGRESS"].features <= declared
    # ...and so is every feature of the ingress HTTP profile, traffic policy included.
    assert catalog.profiles["ISTIO-INGRESS-HTTP"].features <= declared


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
    declared = declared_features("kind", config)
    supported = set(catalog.features) if declared is None else set(declared)
    assert ("GatewayTLSSimple" in supported) is has_ingress
    assert ("EgressGateway" in supported) is has_egress
    assert ("MeshRouting" in supported) is has_mesh
