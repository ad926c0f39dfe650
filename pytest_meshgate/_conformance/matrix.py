"""Markdown feature matrices from ConformanceReports, one table per profile.

The layout follows the Gateway API implementation tables vendors are compared
on: one row per implementation (organization, project, version, mode), the
core and extended verdicts, then one column per feature of the profile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["render_matrix"]

_MARK = {"success": "✅", "partial": "⚠️", "failure": "❌"}


def _escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _verdict(status: Mapping[str, Any]) -> str:
    stats = status["statistics"]
    result = status["result"]
    detail = f"{stats['Passed']} passed"
    if stats["Failed"]:
        detail += f", {stats['Failed']} failed"
    if stats["Skipped"]:
        detail += f", {stats['Skipped']} skipped"
    return f"{_MARK.get(result, '?')} {result} ({detail})"


def _extended(status: Mapping[str, Any]) -> str:
    supported = len(status["supportedFeatures"])
    total = supported + len(status["unsupportedFeatures"])
    return f"{_verdict(status)}, {supported}/{total} features"


def _features(reports: Sequence[Mapping[str, Any]], profile: str) -> list[str]:
    """The profile's features as the reports name them: core ones first, in report order."""
    ordered: list[str] = []
    for level in ("core", "extended"):
        for report in reports:
            for entry in report["profiles"]:
                if entry["name"] != profile:
                    continue
                status = entry[level]
                for name in sorted(status["supportedFeatures"] + status["unsupportedFeatures"]):
                    if name not in ordered:
                        ordered.append(name)
    return ordered


def render_matrix(
    reports: Sequence[Mapping[str, Any]], profiles: Sequence[str] | None = None
) -> str:
    """One Markdown table per profile (``profiles``, else every profile any report has)."""
    names: list[str] = []
    for report in reports:
        for entry in report["profiles"]:
            if entry["name"] not in names:
                names.append(entry["name"])
    if profiles:
        names = [name for name in profiles if name in names]
    rows = sorted(
        reports,
        key=lambda r: (
            str(r["implementation"]["organization"]).lower(),
            str(r["implementation"]["project"]).lower(),
            str(r["implementation"]["version"]),
        ),
    )
    sections: list[str] = []
    for profile in names:
        features = _features(rows, profile)
        header = ["Organization", "Project", "Version", "Mode", "Core", "Extended", *features]
        lines = [
            f"### {profile}",
            "",
            "| " + " | ".join(_escape(cell) for cell in header) + " |",
            "|" + "|".join("---" for _ in header) + "|",
        ]
        for report in rows:
            entry = next((p for p in report["profiles"] if p["name"] == profile), None)
            if entry is None:
                continue
            implementation = report["implementation"]
            supported = set(entry["core"]["supportedFeatures"]) | set(
                entry["extended"]["supportedFeatures"]
            )
            known = (
                supported
                | set(entry["core"]["unsupportedFeatures"])
                | set(entry["extended"]["unsupportedFeatures"])
            )
            cells = [
                implementation["organization"],
                f"[{_escape(implementation['project'])}]({implementation['url']})",
                implementation["version"],
                report.get("mode", "default"),
                _verdict(entry["core"]),
                _extended(entry["extended"]),
                *("✅" if f in supported else "❌" if f in known else "n/a" for f in features),
            ]
            lines.append("| " + " | ".join(_escape(cell) for cell in cells) + " |")
        sections.append("\n".join(lines))
    if not sections:
        return "No profile to compare.\n"
    legend = "✅ supported, ❌ not supported, n/a not in that report's catalogue."
    return "\n\n".join(sections) + f"\n\n{legend}\n"
