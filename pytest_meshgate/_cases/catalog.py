"""The feature catalogue: the names a case may list in ``metadata.features``, in profiles.

The catalogue (``conformance/features.yaml``, shipped in the package as
``pytest_meshgate/features.yaml``) is the vocabulary of case files, as the
schema is their grammar: collection checks a case's features against it, the
conformance layer groups verdicts by its profiles, and implementation
adapters declare what they support in its terms.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationError

from .._errors import CaseError, MeshgateError, Problem
from .model.base import StrictModel, validation_problems
from .yamlpos import Positions, format_key_path, load_documents

if TYPE_CHECKING:
    from .loader import LoadedCase

__all__ = [
    "DEFAULT_CATALOG",
    "Catalog",
    "CatalogError",
    "Feature",
    "Level",
    "Profile",
    "feature_problems",
    "load_catalog",
]

DEFAULT_CATALOG = Path(__file__).parents[1] / "features.yaml"

Level = Literal["core", "extended"]


class CatalogError(MeshgateError):
    """The feature catalogue is malformed, or an option names something it lacks."""


class Feature(StrictModel):
    """One behaviour a case can require, e.g. ``HTTPPathPrefixMatch``."""

    name: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$", description="CamelCase, unique.")
    upstream: str | None = Field(
        default=None,
        pattern=r"^[A-Z][A-Za-z0-9]*$",
        description="The API's own name for the feature where ours differs (a Gateway API "
        "SupportedFeature whose name an Istio feature already has); reports use it.",
    )
    api: Literal["istio", "gateway-api"]
    level: Level = Field(description="Its usual support level; profiles decide per profile.")
    description: str = Field(min_length=1)

    @property
    def report_name(self) -> str:
        """The name a conformance report gives the feature: the API's own."""
        return self.upstream or self.name


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
    reported: dict[str, str] = {}  # a report's name -> the feature that has it
    for i, feature in enumerate(model.features):
        if feature.name in names:
            message = f"duplicate feature '{feature.name}'"
            yield _problem(path, positions, ("features", i, "name"), message)
        names.add(feature.name)
        if feature.upstream is not None and feature.api != "gateway-api":
            message = "upstream names a Gateway API feature; this one is Istio's"
            yield _problem(path, positions, ("features", i, "upstream"), message)
        elif feature.upstream == feature.name:
            message = "upstream is for a name that differs from the feature's"
            yield _problem(path, positions, ("features", i, "upstream"), message)
        other = reported.setdefault(f"{feature.api}:{feature.report_name}", feature.name)
        if other != feature.name:
            message = (
                f"reports would name both '{other}' and '{feature.name}' '{feature.report_name}'"
            )
            yield _problem(path, positions, ("features", i, "upstream"), message)
    apis = {feature.name: feature.api for feature in model.features}
    profiles: set[str] = set()
    for i, profile in enumerate(model.profiles):
        if profile.name in profiles:
            message = f"duplicate profile '{profile.name}'"
            yield _problem(path, positions, ("profiles", i, "name"), message)
        profiles.add(profile.name)
        kinds = sorted({apis[n] for n in profile.core + profile.extended if n in apis})
        if len(kinds) > 1:
            message = f"mixes features of {' and '.join(kinds)}; a profile is of one API"
            yield _problem(path, positions, ("profiles", i, "name"), message)
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
    if mark is None:
        return Problem(path, 1, 1, format_key_path(key_path), message)
    return mark.problem(format_key_path(key_path), message)


def feature_problems(catalog: Catalog, loaded: LoadedCase) -> list[Problem]:
    """A located problem for each feature of a case that the catalogue does not know."""
    problems = []
    for i, name in enumerate(loaded.case.metadata.features):
        if name not in catalog.features:
            key_path = ("metadata", "features", i)
            mark = loaded.mark(key_path)
            problems.append(
                mark.problem(
                    format_key_path(key_path),
                    f"unknown feature '{name}'{catalog.suggest(name)}"
                    f" (features are listed in {catalog.path.name})",
                )
            )
    return problems
