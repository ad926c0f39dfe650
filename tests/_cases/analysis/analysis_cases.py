"""Helpers for the analyzer tests: Istio's testdata manifests as a case, and its findings."""

from __future__ import annotations

import textwrap
from pathlib import Path

from pytest_meshgate._cases.analysis import ANALYZERS, Finding, analyze
from pytest_meshgate._cases.analysis.cluster import Cluster
from pytest_meshgate._cases.analysis.findings import sorted_findings
from pytest_meshgate._cases.loader import LoadedCase, load_case_file

_CASE = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: analysis}
spec:
WORKLOADS
  resources:
  - include: manifests.yaml
  checks:
  - {name: c, request: {url: "http://a.example.com/"}}
"""


def _case_file(directory: Path, manifests: str, workloads: str) -> Path:
    (directory / "manifests.yaml").write_text(textwrap.dedent(manifests).lstrip("\n"))
    spec = textwrap.indent(textwrap.dedent(workloads).strip("\n"), "  ") if workloads else ""
    case = directory / "case.yaml"
    case.write_text(_CASE.replace("WORKLOADS\n", spec + "\n" if spec else ""))
    return case


def case_with(directory: Path, manifests: str, workloads: str = "") -> LoadedCase:
    """A case whose resources are ``manifests`` (YAML documents, e.g. an Istio testdata
    file adapted), included from ``manifests.yaml``, and whose ``spec`` also holds
    ``workloads`` (services, gateways, clients, secrets)."""
    loaded = load_case_file(_case_file(directory, manifests, workloads))
    assert not loaded.invalid, [d.error.render() for d in loaded.invalid]
    (only,) = loaded.cases
    return only


def refusal_of(directory: Path, manifests: str, workloads: str = "") -> str:
    """The rendered error of such a case, which must be refused at collection (e.g. by
    Istio's webhook validation, which a case passes before any analyzer sees it)."""
    loaded = load_case_file(_case_file(directory, manifests, workloads))
    assert not loaded.cases
    (invalid,) = loaded.invalid
    return invalid.error.render()


def findings_for(
    directory: Path, manifests: str, workloads: str = "", analyzer: str | None = None
) -> list[Finding]:
    """The findings of ``analyzer`` (an Istio analyzer name; all: ``None``) for such a case."""
    loaded = case_with(directory, manifests, workloads)
    if analyzer is None:
        return analyze(loaded)
    cluster = Cluster.of(loaded)
    ANALYZERS[analyzer](cluster)
    return sorted_findings(cluster.findings)


def reported(findings: list[Finding]) -> list[tuple[str, str]]:
    """``(code, "Kind namespace/name")`` of each finding, sorted: Istio's test expectations."""
    return sorted((f.code, f"{f.kind} {f.name}") for f in findings)
