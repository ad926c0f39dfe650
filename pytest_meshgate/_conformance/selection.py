"""What runs on an implementation: support decisions from the catalogue and the settings.

The rules follow the Kubernetes Gateway API suite, so vendors read our
reports the way they read theirs:

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .._cases.catalog import Catalog, CatalogError
from .._options import Settings

if TYPE_CHECKING:
    from .._cases.loader import LoadedCase

__all__ = ["Decision", "Selection", "Status", "select"]

# What happens to a case, decided before it runs (the same on every xdist worker).
Status = Literal["run", "not-supported", "skipped", "provisional-skipped"]


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


def select(
    catalog: Catalog,
    settings: Settings,
    declared: Callable[[], frozenset[str] | None],
) -> Selection:
    """The selection of a run: a pure function of the catalogue, the settings and
    the features the target declares (``declared`` is asked only when the
    settings name no features themselves; ``None`` from it means every feature).

    Raises:
        CatalogError: an option names a feature or profile the catalogue lacks.
    """

    def known(option: str, names: Iterable[str], table: Mapping[str, Any], what: str) -> list[str]:
        for name in names:
            if name not in table:
                hint = difflib.get_close_matches(name, list(table), n=1, cutoff=0.6)
                suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
                raise CatalogError(
                    f"--meshgate-{option}: unknown {what} '{name}'{suggestion}; see {catalog.path}"
                )
        return list(names)

    features = catalog.features
    explicit = known("supported-features", settings.supported_features, features, "feature")
    exempt = known("exempt-features", settings.exempt_features, features, "feature")
    claimed = known("profile", settings.profiles, catalog.profiles, "profile")
    source: Literal["declared", "explicit", "all"]
    everything = frozenset(catalog.features)
    if settings.all_features:
        base, source = everything, "all"
    elif explicit:
        base, source = frozenset(explicit), "explicit"
    else:
        names = declared()
        # A custom catalogue may not know the target's names: those mean nothing here.
        base = everything if names is None else names & everything
        source = "declared"
    # Claiming a profile claims its core features: its core cases run, and
    # fail if the implementation lacks them, instead of hiding as unsupported.
    for name in claimed:
        base |= frozenset(catalog.profiles[name].core)
    return Selection(
        catalog=catalog,
        implementation=settings.target,
        supported=base - frozenset(exempt),
        source=source,
        claimed=tuple(claimed),
        skip_cases=settings.skip_cases,
        skip_provisional=settings.skip_provisional,
    )
