"""Support decisions: what runs on an implementation, from the catalogue and the options."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_meshgate._cases.catalog import CatalogError, load_catalog
from pytest_meshgate._conformance.selection import Selection
from pytest_meshgate._suite.conformance import selection_for

pytest_plugins = ["pytester"]


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
