"""The run's conformance selection, and the hooks that feed test reports to its recorder."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from .._options import settings_of

if TYPE_CHECKING:
    from .._conformance.selection import Selection

__all__ = ["ConformanceHooks", "selection_for"]

# Imports stay inside the functions: every pytest session registers these
# hooks, and sessions without case files must not load pydantic for them.
_SELECTION = pytest.StashKey["Selection"]()


def selection_for(config: pytest.Config) -> Selection:
    """The selection of this run, made once per process and kept on the config.

    Workers (which collect) and the xdist controller (which reports) make the
    same selection from the same options, so they agree without talking.

    Raises:
        CatalogError: the catalogue is broken, or an option names an unknown
            feature or profile.
    """
    cached = config.stash.get(_SELECTION, None)
    if cached is not None:
        return cached
    from .._cases.catalog import DEFAULT_CATALOG, load_catalog
    from .._conformance.selection import select
    from .._targets.factory import declared_features

    settings = settings_of(config)
    catalog = load_catalog(settings.features or DEFAULT_CATALOG)
    selection = config.stash[_SELECTION] = select(
        catalog, settings, lambda: declared_features(settings)
    )
    return selection


class ConformanceHooks:
    """Feeds test reports to the conformance recorder, on the controller only.

    Stays import-free until a meshgate check reports (or a report is asked
    for), so sessions without case files never load the conformance model.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.recorder: Any = None
        if settings_of(config).report is not None:
            self._start()  # check the implementation options before anything runs

    def _start(self) -> Any:
        if self.recorder is None:
            from .._cases.catalog import CatalogError
            from .._conformance.report import Recorder

            try:
                selection = selection_for(self.config)
            except CatalogError as exc:
                raise pytest.UsageError(str(exc)) from None
            self.recorder = Recorder.for_settings(selection, settings_of(self.config))
        return self.recorder

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.recorder is None and not any(
            name == "meshgate_conformance" for name, _ in report.user_properties
        ):
            return
        self._start().add(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.recorder is not None:
            self.recorder.finish()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.recorder is not None:
            self.recorder.summarize(terminalreporter)
