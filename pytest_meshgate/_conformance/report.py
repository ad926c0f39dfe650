"""The conformance verdict: test reports in, a ConformanceReport and a summary out.

Everything here runs on the process that owns the terminal: the only process
of a plain run, or the xdist controller, which receives every worker's test
reports with their ``user_properties`` (where collection put each check's case,
features, support decision and profiles) and never collects itself.

Counting: one conformance *test* is one **case** (Gateway API's
``ConformanceTest``); its checks are its subtests. A case passes only if all
its checks pass, fails if any check fails or errors, and is skipped if none
failed but one was skipped. The ids of failed checks are listed beside the
failed cases, so a report says which request went wrong.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from .._cases.catalog import Level
from .._cases.model.gatewayapi import GATEWAY_API_CHANNEL, GATEWAY_API_VERSION
from .._options import REPORT_FIELDS, Settings
from .._version import __version__
from .selection import Selection

__all__ = [
    "IMPLEMENTATION_FIELDS",
    "CaseResult",
    "Recorder",
    "build_report",
    "load_report",
    "report_problems",
]

# Not meshgate.dev/...: files of that group are collected as case files.
API_VERSION = "conformance.meshgate.dev/v1alpha1"
IMPLEMENTATION_FIELDS = REPORT_FIELDS
PARTIAL_REPORT_INTERVAL = 30.0  # seconds between partial reports of a cluster run
Outcome = Literal["passed", "failed", "skipped", "not-supported", "provisional-skipped"]
_COUNTED = ("passed", "failed", "skipped")


@dataclass
class CheckResult:
    """The outcome of one check over its setup, call and teardown phases."""

    name: str
    outcome: Literal["passed", "failed", "skipped"] | None = None  # None: never called
    reason: str = ""


@dataclass
class CaseResult:
    """One case (a conformance test) as the run saw it."""

    name: str
    features: list[str]
    provisional: bool
    status: str  # the decision made at collection (_conformance.Decision)
    reason: str
    profiles: dict[str, Level]
    checks: dict[str, CheckResult] = field(default_factory=dict)  # nodeid -> result

    @property
    def outcome(self) -> Outcome:
        if self.status in ("not-supported", "provisional-skipped", "skipped"):
            return self.status  # type: ignore[return-value]
        outcomes = [check.outcome for check in self.checks.values()]
        if "failed" in outcomes:
            return "failed"
        if "skipped" in outcomes or None in outcomes:
            return "skipped"
        return "passed"

    @property
    def why(self) -> str:
        """Why the case did not pass, in one line."""
        if self.reason:
            return self.reason
        for check in self.checks.values():
            if check.outcome in ("failed", "skipped"):
                return f"check '{check.name}' {check.outcome}: {check.reason}".rstrip(": ")
            if check.outcome is None:
                return f"check '{check.name}' did not run to the end"
        return ""

    def failed_checks(self) -> list[str]:
        return [f"{self.name}::{c.name}" for c in self.checks.values() if c.outcome == "failed"]


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(getattr(report, "wasxfail", "") or "")


class Recorder:
    """Accumulates meshgate test reports, then writes the report and the summary."""

    def __init__(
        self,
        selection: Selection,
        *,
        report_path: Path | None = None,
        implementation: dict[str, Any] | None = None,
        mode: str = "default",
        partial_every: float | None = None,
    ) -> None:
        self.selection = selection
        self.report_path = report_path
        self.implementation = implementation
        self.mode = mode
        # Seconds between partial reports (``partial_path``) while the run goes on:
        # a CI job killed at its time limit still leaves what had run.
        self.partial_every = partial_every
        self._last_partial: float | None = None
        self.cases: dict[str, CaseResult] = {}
        self.report: dict[str, Any] | None = None

    @property
    def partial_path(self) -> Path | None:
        """``<report>.partial.yaml``: the report so far; removed when the run finishes."""
        if self.report_path is None:
            return None
        return self.report_path.with_name(self.report_path.stem + ".partial.yaml")

    @classmethod
    def for_settings(cls, selection: Selection, settings: Settings) -> Recorder:
        """A recorder for this run; checks the report options first.

        Raises:
            pytest.UsageError: a report is asked for without all implementation fields.
        """
        implementation = None
        if settings.report is not None:
            missing = settings.missing_report_fields()
            if missing:
                # As in Gateway API: a report that cannot say whose it is is worthless.
                raise pytest.UsageError(
                    f"--meshgate-report needs the implementation it reports on: "
                    f"missing {', '.join(missing)} (options or ini keys)"
                )
            implementation = {
                name: list(value) if isinstance(value, tuple) else value
                for name, value in settings.implementation.items()
            }
        return cls(
            selection,
            report_path=settings.report,
            implementation=implementation,
            mode=settings.mode,
            # Cluster runs take an hour, not seconds: keep what they found as they go.
            partial_every=None if settings.target == "local" else PARTIAL_REPORT_INTERVAL,
        )

    def add(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties).get("meshgate_conformance")
        if not isinstance(props, Mapping):
            return
        case = self.cases.get(props["case"])
        if case is None:
            case = self.cases[props["case"]] = CaseResult(
                name=props["case"],
                features=list(props["features"]),
                provisional=bool(props["provisional"]),
                status=props["status"],
                reason=props["reason"],
                profiles=dict(props["profiles"]),
            )
        check = case.checks.setdefault(report.nodeid, CheckResult(props["check"]))
        if report.failed:
            check.outcome = "failed"
            check.reason = f"{report.when} failed" if report.when != "call" else ""
        elif report.skipped and check.outcome != "failed":
            check.outcome, check.reason = "skipped", _skip_reason(report)
        elif report.when == "call" and check.outcome is None:
            check.outcome = "passed"
        if report.when == "teardown":
            self._maybe_write_partial()

    def _maybe_write_partial(self) -> None:
        path = self.partial_path
        if path is None or self.partial_every is None:
            return
        now = time.monotonic()
        if self._last_partial is not None and now - self._last_partial < self.partial_every:
            return
        self._last_partial = now
        _write_atomically(path, self.build())

    def build(self) -> dict[str, Any]:
        self.report = build_report(
            self.selection, self.cases.values(), implementation=self.implementation, mode=self.mode
        )
        return self.report

    def finish(self) -> None:
        report = self.build()
        if self.report_path is not None:
            _write_atomically(self.report_path, report)
            partial = self.partial_path
            if partial is not None:
                partial.unlink(missing_ok=True)

    # ---------------------------------------------------------------- terminal

    def summarize(self, terminal: Any) -> None:
        """A few lines per profile, and what was left out and why (never silently)."""
        report = self.report or self.build()
        classified = any(case.features for case in self.cases.values())
        if not classified and self.report_path is None:
            return  # users' own cases without features: no conformance talk
        terminal.section("meshgate conformance")
        for line in summary_lines(self.selection, self.cases.values(), report):
            terminal.write_line(line)
        if self.report_path is not None:
            terminal.write_line(f"report: {self.report_path}")


def _write_atomically(path: Path, report: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(
        yaml.safe_dump(dict(report), sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    scratch.replace(path)


def summary_lines(
    selection: Selection, cases: Iterable[CaseResult], report: Mapping[str, Any]
) -> list[str]:
    cases = list(cases)
    lines: list[str] = []
    if not report["profiles"]:
        lines.append("no profile reported: no case counts in a profile whose core is supported")
    for profile in report["profiles"]:
        lines.append(f"{profile['name']}: {profile['summary']}")
        for level in ("core", "extended"):
            status = profile[level]
            stats = status["statistics"]
            line = (
                f"  {level + ':':9} {status['result']:8} passed {stats['Passed']}, "
                f"failed {stats['Failed']}, skipped {stats['Skipped']}"
            )
            if status["unsupportedFeatures"]:
                line += f"; unsupported: {', '.join(status['unsupportedFeatures'])}"
            lines.append(line)
            for name in status["failedTests"] + status["skippedTests"]:
                lines.append(f"    {name}: {_by_name(cases)[name].why}")
    lines.extend(_left_out(selection, cases, report))
    return lines


def _by_name(cases: list[CaseResult]) -> dict[str, CaseResult]:
    return {case.name: case for case in cases}


def _left_out(
    selection: Selection, cases: list[CaseResult], report: Mapping[str, Any]
) -> list[str]:
    lines: list[str] = []
    not_supported = [c for c in cases if c.outcome == "not-supported"]
    if not_supported:
        missing: dict[str, int] = {}
        for case in not_supported:
            for name in sorted(set(case.features) - selection.supported):
                missing[name] = missing.get(name, 0) + 1
        # Most-missed features first: they are what a vendor would implement next.
        ranked = sorted(missing.items(), key=lambda item: (-item[1], item[0]))
        detail = ", ".join(f"{name} ({n})" for name, n in ranked[:8])
        if len(ranked) > 8:
            detail += f" and {len(ranked) - 8} more"
        lines.append(f"not supported, not counted: {len(not_supported)} cases; missing {detail}")
    provisional = [c for c in cases if c.provisional and c.outcome in _COUNTED]
    if provisional:
        parts = [f"{c.name} {c.outcome}" for c in sorted(provisional, key=lambda c: c.name)]
        lines.append(f"provisional, not counted: {', '.join(parts)}")
    reported = {profile["name"] for profile in report["profiles"]}
    outside = [
        c
        for c in cases
        if not c.provisional and c.outcome in _COUNTED and not reported & set(c.profiles)
    ]
    if outside:
        bare = sum(1 for c in outside if not c.features)
        lines.append(
            f"in no reported profile, not counted: {len(outside)} cases"
            + (f" ({bare} name no features)" if bare else "")
        )
    seen = {case.name for case in cases}
    unknown = sorted(selection.skip_cases - seen)
    if unknown:
        lines.append(f"--meshgate-skip-cases names no case of this run: {', '.join(unknown)}")
    return lines


# ------------------------------------------------------------------ the report


def _result(passed: int, failed: int, skipped: int, unsupported_core: bool) -> str:
    if failed:
        return "failure"
    # An unsupported core feature (exempted from a claimed profile) is never a success.
    if skipped or unsupported_core:
        return "partial"
    return "success"


def _sub_summary(status: Mapping[str, Any]) -> str:
    stats = status["statistics"]
    if status["result"] == "failure":
        return f"failed with {stats['Failed']} test failures"
    if status["result"] == "partial":
        if stats["Skipped"]:
            return f"partially succeeded with {stats['Skipped']} test skips"
        return "partially succeeded: some core features are not supported"
    return "succeeded"


def _status(
    selection: Selection, level: Level, features: list[str], cases: list[CaseResult]
) -> dict[str, Any]:
    passed = sorted(c.name for c in cases if c.outcome == "passed")
    failed = sorted(c.name for c in cases if c.outcome == "failed")
    skipped = sorted(c.name for c in cases if c.outcome == "skipped")
    # Named as the API names them (a Gateway API profile's KubernetesGateway is its Gateway).
    catalog = selection.catalog.features
    supported = sorted(catalog[f].report_name for f in features if f in selection.supported)
    unsupported = sorted(catalog[f].report_name for f in features if f not in selection.supported)
    return {
        "result": _result(
            len(passed), len(failed), len(skipped), level == "core" and bool(unsupported)
        ),
        "statistics": {"Passed": len(passed), "Failed": len(failed), "Skipped": len(skipped)},
        "failedTests": failed,
        "skippedTests": skipped,
        "failedChecks": [check for c in cases for check in c.failed_checks()],
        "supportedFeatures": supported,
        "unsupportedFeatures": unsupported,
    }


def reported_profiles(selection: Selection, cases: Iterable[CaseResult]) -> list[str]:
    """Claimed profiles, else each profile whose core is supported and that has a case."""
    if selection.claimed:
        return list(selection.claimed)
    present = {name for case in cases for name in case.profiles}
    return [
        name for name in selection.catalog.profiles if name in present and selection.claimable(name)
    ]


def _of_gateway_api(selection: Selection, profile: str) -> bool:
    features = selection.catalog.profiles[profile].core
    return all(selection.catalog.features[f].api == "gateway-api" for f in features)


def build_report(
    selection: Selection,
    cases: Iterable[CaseResult],
    *,
    implementation: Mapping[str, Any] | None,
    mode: str = "default",
    date: datetime.datetime | None = None,
) -> dict[str, Any]:
    """The ConformanceReport of a run, as plain data (keys in Gateway API's order)."""
    cases = sorted(cases, key=lambda c: c.name)
    counted = [c for c in cases if not c.provisional and c.outcome in _COUNTED]
    profiles = []
    for name in reported_profiles(selection, cases):
        profile = selection.catalog.profiles[name]
        levels: tuple[tuple[Level, list[str]], ...] = (
            ("core", profile.core),
            ("extended", profile.extended),
        )
        core, extended = (
            _status(
                selection, level, features, [c for c in counted if c.profiles.get(name) == level]
            )
            for level, features in levels
        )
        summary = f"Core tests {_sub_summary(core)}. Extended tests {_sub_summary(extended)}."
        profiles.append({"name": name, "summary": summary, "core": core, "extended": extended})
    when = date or datetime.datetime.now(datetime.timezone.utc)
    gateway_api: dict[str, str] = {}
    if any(_of_gateway_api(selection, str(p["name"])) for p in profiles):
        # As the Go suite's report says which release it tested (apis/v1/conformancereport.go).
        gateway_api = {
            "gatewayAPIVersion": GATEWAY_API_VERSION,
            "gatewayAPIChannel": GATEWAY_API_CHANNEL,
        }
    return {
        "apiVersion": API_VERSION,
        "kind": "ConformanceReport",
        "date": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "meshgateVersion": __version__,
        **gateway_api,
        "implementation": dict(implementation) if implementation else None,
        "target": selection.implementation,
        "mode": mode,
        "profiles": profiles,
        "succeededProvisionalTests": sorted(
            c.name for c in cases if c.provisional and c.outcome == "passed"
        ),
        # Not in Gateway API's shape: why each counted case was skipped (its issue #2206).
        "skippedTestReasons": {c.name: c.why for c in counted if c.outcome == "skipped"},
    }


# ------------------------------------------------------------------ reading reports

_STATUS_KEYS = (
    "result",
    "statistics",
    "failedTests",
    "skippedTests",
    "failedChecks",
    "supportedFeatures",
    "unsupportedFeatures",
)


def report_problems(data: Any) -> list[str]:
    """What keeps ``data`` from being a ConformanceReport of ours; empty when it is one."""
    if not isinstance(data, dict) or data.get("kind") != "ConformanceReport":
        return ["not a ConformanceReport (kind)"]
    problems = [
        f"missing {key}"
        for key in ("apiVersion", "date", "meshgateVersion", "implementation", "mode", "profiles")
        if key not in data
    ]
    implementation = data.get("implementation")
    if not isinstance(implementation, dict):
        problems.append("implementation: missing (organization, project, url, version, contact)")
    else:
        problems += [
            f"implementation.{key}: empty"
            for key in IMPLEMENTATION_FIELDS
            if not implementation.get(key)
        ]
    for i, profile in enumerate(data.get("profiles") or []):
        where = f"profiles[{i}]"
        if not isinstance(profile, dict) or "name" not in profile:
            problems.append(f"{where}: missing name")
            continue
        for level in ("core", "extended"):
            status = profile.get(level)
            if not isinstance(status, dict):
                problems.append(f"{where}.{level}: missing")
                continue
            problems += [
                f"{where}.{level}.{key}: missing" for key in _STATUS_KEYS if key not in status
            ]
            if status.get("result") not in ("success", "partial", "failure"):
                problems.append(f"{where}.{level}.result: not success, partial or failure")
            stats = status.get("statistics")
            if not isinstance(stats, dict) or set(stats) != {"Passed", "Failed", "Skipped"}:
                problems.append(f"{where}.{level}.statistics: needs Passed, Failed, Skipped")
    return problems


def load_report(path: Path) -> dict[str, Any]:
    """A report file, checked for shape.

    Raises:
        ValueError: the file is not a ConformanceReport.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    problems = report_problems(data)
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    assert isinstance(data, dict)
    return data
