"""The Sidecar selector analyzer on Istio's own testdata (sidecar-selector.yaml,
sidecar-default-selector.yaml), adapted as cases: Istio's Pods become clients."""

from __future__ import annotations

from pathlib import Path

from analysis_cases import findings_for, reported

SIDECARS = "sidecar.SelectorAnalyzer"


def _sidecar(name: str, namespace: str, labels: str = "") -> str:
    selector = f"\n  workloadSelector: {{labels: {labels}}}" if labels else ""
    return f"""
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: {name}, namespace: {namespace}}}
spec:{selector}
  egress: [{{hosts: ["./*"]}}]
"""


def test_sidecar_selectors(tmp_path: Path) -> None:
    # testdata/sidecar-selector.yaml
    workloads = """
    clients:
    - {name: productpage}
    - {name: productpage-other, namespace: other, labels: {app: productpage}}
    - {name: reviews}
    - {name: ratings, labels: {app: ratings-app, myapp: ratings-myapp}}
    """
    manifests = "---".join(
        [
            _sidecar("maps-correctly-no-conflicts", "default", "{app: productpage}"),
            _sidecar("maps-to-nonexistent", "default", "{app: bogus}"),
            _sidecar("maps-to-different-ns", "other", "{app: reviews}"),
            _sidecar("dupe-1", "default", "{app: reviews}"),
            _sidecar("dupe-2", "default", "{app: reviews}"),
            _sidecar("overlap-1", "default", "{app: ratings-app}"),
            _sidecar("overlap-2", "default", "{myapp: ratings-myapp}"),
        ]
    )
    found = findings_for(tmp_path, manifests, workloads, SIDECARS)
    assert reported(found) == [
        ("IST0101", "Sidecar default/maps-to-nonexistent"),
        ("IST0101", "Sidecar other/maps-to-different-ns"),
        ("IST0110", "Sidecar default/dupe-1"),
        ("IST0110", "Sidecar default/dupe-2"),
        ("IST0110", "Sidecar default/overlap-1"),
        ("IST0110", "Sidecar default/overlap-2"),
    ]
    messages = {f.name: f.message for f in found}
    assert messages["default/maps-to-nonexistent"] == 'Referenced selector not found: "app=bogus"'
    assert messages["default/dupe-1"] == (
        'The Sidecars [dupe-1 dupe-2] in namespace "default" select the same workload pod '
        '"reviews", which can lead to undefined behavior.'
    )


def test_sidecars_without_selectors(tmp_path: Path) -> None:
    # testdata/sidecar-default-selector.yaml (without its ambient-mode namespaces)
    workloads = "clients: [{name: random-pod, namespace: ns1, labels: {app: foo}}]"
    manifests = "---".join(
        [
            _sidecar("no-selector", "ns1"),
            _sidecar("has-selector", "ns1", "{app: foo}"),
            _sidecar("has-conflict-1", "ns2"),
            _sidecar("has-conflict-2", "ns2"),
        ]
    )
    found = findings_for(tmp_path, manifests, workloads, SIDECARS)
    assert reported(found) == [
        ("IST0111", "Sidecar ns2/has-conflict-1"),
        ("IST0111", "Sidecar ns2/has-conflict-2"),
    ]
    assert found[0].message == (
        'The Sidecars [has-conflict-1 has-conflict-2] in namespace "ns2" have no workload '
        "selector, which can lead to undefined behavior."
    )
