"""Conformance model: the feature catalogue, profiles, and what runs on an implementation.

The catalogue (``conformance/features.yaml``, shipped in the package as
``pytest_meshgate/features.yaml``) names every feature a case may list in
``metadata.features`` and groups them into profiles. The rules follow the
Kubernetes Gateway API suite, so vendors read our reports the way they read
theirs:

* a case needs *all* its features: one unsupported feature skips it as
  ``not-supported``, and a not-supported case is not counted anywhere;
* a case counts in a profile only if all its features are in the profile,
  as *core* when they are all core features of that profile, else *extended*
  (so core or extended is decided per profile, not per case);
* explicit skips (``--meshgate-skip-cases``) are counted as skipped, which
  makes the profile ``partial``;
* provisional cases run but are kept out of profile statistics; the ones
  that pass are listed apart.

A case that names no features belongs to no profile: it runs like any other
test (users' own regression cases need no catalogue) and is simply not part of
a conformance verdict.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest
from pydantic import Field, ValidationError

from ._errors import CaseError, MeshgateError, Problem
from ._model.base import StrictModel, validation_problems
from ._yamlpos import Positions, format_key_path, load_documents

if TYPE_CHECKING:
    from ._loader import LoadedCase

__all__ = [
    "DEFAULT_CATALOG",
    "Catalog",
    "CatalogError",
    "Decision",
    "Feature",
    "Profile",
    "Selection",
    "declared_features",
    "feature_problems",
    "load_catalog",
    "selection_for",
]

DEFAULT_CATALOG = Path(__file__).with_name("features.yaml")

Level = Literal["core", "extended"]
# What happens to a case, decided before it runs (the same on every xdist worker).
Status = Literal["run", "not-supported", "skipped", "provisional-skipped"]


class CatalogError(MeshgateError):
    """The feature catalogue is malformed, or an option names something it lacks."""


# ------------------------------------------------------------------ catalogue model


class Feature(StrictModel):
    """One behaviour a case can require, e.g. ``HTTPPathPrefixMatch``."""

    name: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$", description="CamelCase, unique.")
    api: Literal["istio", "gateway-api"]
    level: Level = Field(description="Its usual support level; profiles decide per profile.")
    description: str = Field(min_length=1)


class Profile(StrictModel):
    """A named set of features an implementation can claim, split into core and extended."""

    name: str = Field(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$")
    description: str = Field(min_length=1)
    core: list[str] = Field(min_length=1)
    extended: list[str] = Field(default_factory=list)

    @property
    def features(self) -> frozenset[str]:
        return frozenset(self.core) | frozenset(self.extended)

    def level_of(self, features: Iterable[str]) -> Level | None:
        """``core``/``extended`` if a case with ``features`` counts here, else ``None``."""
        wanted = set(features)
        if not wanted or not wanted <= self.features:
            return None
        return "core" if wanted <= set(self.core) else "extended"


class CatalogDocument(StrictModel):
    # Not meshgate.dev/...: files of that group are collected as case files.
    api_version: Literal["conformance.meshgate.dev/v1alpha1"]
    kind: Literal["FeatureCatalog"]
    features: list[Feature] = Field(min_length=1)
    profiles: list[Profile] = Field(default_factory=list)


@dataclass(frozen=True)
class Catalog:
    """The validated catalogue: features and profiles by name, in file order."""

    path: Path
    features: dict[str, Feature]
    profiles: dict[str, Profile]

    def suggest(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self.features), n=1, cutoff=0.6)
        return f" (did you mean '{close[0]}'?)" if close else ""

    def membership(self, features: Iterable[str]) -> dict[str, Level]:
        """The profiles a case with ``features`` counts in, and at which level."""
        wanted = list(features)
        levels = {name: profile.level_of(wanted) for name, profile in self.profiles.items()}
        return {name: level for name, level in levels.items() if level is not None}


@functools.cache
def load_catalog(path: Path = DEFAULT_CATALOG) -> Catalog:
    """Load and check a catalogue; every problem is located, like case file errors.

    Raises:
        CatalogError: the file is unreadable, invalid, or inconsistent.
    """
    try:
        documents = load_documents(path)
    except CaseError as exc:
        raise CatalogError(f"feature catalogue:\n{exc.render()}") from None
    if len(documents) != 1:
        raise CatalogError(f"{path}: a feature catalogue is exactly one YAML document")
    document = documents[0]
    try:
        model = CatalogDocument.model_validate(document.data)
    except ValidationError as exc:
        problems = [
            _problem(path, document.positions, key_path, message, at_key=at_key)
            for key_path, message, at_key in validation_problems(exc, document.data)
        ]
        raise CatalogError(f"feature catalogue:\n{CaseError(problems).render()}") from None
    problems = list(_consistency_problems(path, document.positions, model))
    if problems:
        raise CatalogError(f"feature catalogue:\n{CaseError(problems).render()}")
    return Catalog(
        path,
        {feature.name: feature for feature in model.features},
        {profile.name: profile for profile in model.profiles},
    )


def _consistency_problems(
    path: Path, positions: Positions, model: CatalogDocument
) -> Iterator[Problem]:
    names: set[str] = set()
    for i, feature in enumerate(model.features):
        if feature.name in names:
            message = f"duplicate feature '{feature.name}'"
            yield _problem(path, positions, ("features", i, "name"), message)
        names.add(feature.name)
    profiles: set[str] = set()
    for i, profile in enumerate(model.profiles):
        if profile.name in profiles:
            message = f"duplicate profile '{profile.name}'"
            yield _problem(path, positions, ("profiles", i, "name"), message)
        profiles.add(profile.name)
        for level in ("core", "extended"):
            seen: set[str] = set()
            for j, name in enumerate(getattr(profile, level)):
                key_path = ("profiles", i, level, j)
                if name not in names:
                    yield _problem(path, positions, key_path, f"unknown feature '{name}'")
                elif name in seen or (level == "extended" and name in profile.core):
                    yield _problem(path, positions, key_path, f"'{name}' is listed twice")
                seen.add(name)


def _problem(
    path: Path,
    positions: Positions,
    key_path: tuple[str | int, ...],
    message: str,
    *,
    at_key: bool = False,
) -> Problem:
    mark = positions.locate(key_path, prefer_key=at_key)
    line, column = (mark.line, mark.column) if mark else (1, 1)
    return Problem(path, line, column, format_key_path(key_path), message)


def feature_problems(catalog: Catalog, loaded: LoadedCase) -> list[Problem]:
    """A located problem for each feature of a case that the catalogue does not know."""
    problems = []
    for i, name in enumerate(loaded.case.metadata.features):
        if name not in catalog.features:
            key_path = ("metadata", "features", i)
            mark = loaded.mark(key_path)
            problems.append(
                Problem(
                    mark.path,
                    mark.line,
                    mark.column,
                    format_key_path(key_path),
                    f"unknown feature '{name}'{catalog.suggest(name)}"
                    f" (features are listed in {catalog.path.name})",
                )
            )
    return problems


# ------------------------------------------------------------------ what runs


def declared_features(target: str, config: pytest.Config | None = None) -> frozenset[str] | None:
    """The features the implementation behind ``--meshgate-target`` declares; None: all.

    Read from the target class or the implementation adapter, never a running
    target: the xdist controller decides and reports without starting one,
    and declaring features must not need a cluster.
    """
    if target == "local":
        from ._targets.local.target import LocalTarget

        return LocalTarget.supported_features
    if target in ("kind", "cluster") and config is not None:
        from ._targets.kubernetes import OPTION_NAMES
        from ._targets.kubernetes.adapters import AdapterOptions, load_implementation
        from .plugin import get_option

        values = {name: get_option(config, name) for name in OPTION_NAMES}
        adapter = load_implementation(
            values.get("implementation") or "istio", AdapterOptions(values, target)
        )
        return adapter.supported_features()
    return frozenset()


@dataclass(frozen=True)
class Decision:
    """What happens to one case and why; ``reason`` is empty when it runs."""

    status: Status
    reason: str = ""


@dataclass(frozen=True)
class Selection:
    """The support decisions of one run, derived from options alone.

    Workers (which collect) and the xdist controller (which reports) build the
    same selection from the same options, so they agree without talking.
    """

    catalog: Catalog
    implementation: str
    supported: frozenset[str]
    source: Literal["declared", "explicit", "all"]
    claimed: tuple[str, ...]  # profiles named with --meshgate-profile
    skip_cases: frozenset[str]
    skip_provisional: bool = False

    @property
    def unsupported(self) -> frozenset[str]:
        return frozenset(self.catalog.features) - self.supported

    def decide(self, name: str, features: Iterable[str], provisional: bool) -> Decision:
        """Not-supported first, then provisional, then explicit skips (Gateway API's order)."""
        missing = sorted(set(features) - self.supported)
        if missing:
            return Decision(
                "not-supported",
                f"not supported: implementation '{self.implementation}' does not support "
                f"{', '.join(missing)}",
            )
        if provisional and self.skip_provisional:
            return Decision("provisional-skipped", "provisional case (--meshgate-skip-provisional)")
        if name in self.skip_cases:
            return Decision("skipped", "skipped explicitly (--meshgate-skip-cases)")
        return Decision("run")

    def claimable(self, profile: str) -> bool:
        """Whether every core feature of ``profile`` is supported."""
        return set(self.catalog.profiles[profile].core) <= self.supported

    def item_properties(self, loaded: LoadedCase) -> dict[str, Any]:
        """What the report needs about a check's case, as plain data for xdist."""
        metadata = loaded.case.metadata
        decision = self.decide(loaded.name, metadata.features, metadata.provisional)
        return {
            "case": loaded.name,
            "features": list(metadata.features),
            "provisional": metadata.provisional,
            "status": decision.status,
            "reason": decision.reason,
            "profiles": dict(self.catalog.membership(metadata.features)),
        }


def _names(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def selection_for(config: pytest.Config) -> Selection:
    """The selection of this run (cached on the config).

    Raises:
        CatalogError: the catalogue is broken, or an option names an unknown
            feature or profile.
    """
    from .plugin import get_flag, get_option

    cached = config.stash.get(_SELECTION, None)
    if cached is not None:
        return cached
    path = get_option(config, "features")
    catalog = load_catalog(Path(path).resolve() if path else DEFAULT_CATALOG)
    target = get_option(config, "target") or "local"

    def known(option: str, names: list[str], table: dict[str, Any], what: str) -> list[str]:
        for name in names:
            if name not in table:
                hint = difflib.get_close_matches(name, list(table), n=1, cutoff=0.6)
                suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
                raise CatalogError(
                    f"--meshgate-{option}: unknown {what} '{name}'{suggestion}; see {catalog.path}"
                )
        return names

    features = catalog.features
    explicit = known(
        "supported-features", _names(get_option(config, "supported-features")), features, "feature"
    )
    exempt = known(
        "exempt-features", _names(get_option(config, "exempt-features")), features, "feature"
    )
    claimed = known("profile", _names(get_option(config, "profile")), catalog.profiles, "profile")
    source: Literal["declared", "explicit", "all"]
    if get_flag(config, "all-features"):
        base, source = frozenset(catalog.features), "all"
    elif explicit:
        base, source = frozenset(explicit), "explicit"
    else:
        declared = declared_features(target, config)
        everything = frozenset(catalog.features)
        # A custom catalogue may not know the target's names: those mean nothing here.
        base = everything if declared is None else declared & everything
        source = "declared"
    # Claiming a profile claims its core features: its core cases run, and
    # fail if the implementation lacks them, instead of hiding as unsupported.
    for name in claimed:
        base |= frozenset(catalog.profiles[name].core)
    selection = Selection(
        catalog=catalog,
        implementation=target,
        supported=base - frozenset(exempt),
        source=source,
        claimed=tuple(claimed),
        skip_cases=frozenset(_names(get_option(config, "skip-cases"))),
        skip_provisional=get_flag(config, "skip-provisional"),
    )
    config.stash[_SELECTION] = selection
    return selection


_SELECTION = pytest.StashKey[Selection]()
