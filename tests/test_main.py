"""``python -m pytest_meshgate analyze``: istioctl's output, thresholds and exit codes (subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

Write = Callable[[str, str], Path]

CASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: c}
spec:
  services: [{name: reviews, ports: [{name: http, port: 9080}]}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: app-gateway}
    spec:
      selector: {istio: ingressgateway}
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: [app.example.com]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [HOST]
      gateways: [GATEWAY]
      http:
      - route: [{destination: {host: reviews}}]
  checks:
  - {name: c, request: {url: "http://app.example.com/"}}
"""


def _analyze(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_meshgate", "analyze", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=120,
    )


def _case(host: str = "app.example.com", gateway: str = "app-gateway") -> str:
    return CASE.replace("HOST", host).replace("GATEWAY", gateway)


def test_an_error_prints_like_istioctl_and_exits_1(write: Write, tmp_path: Path) -> None:
    write("cases/x.yaml", _case(gateway="foo"))
    result = _analyze(tmp_path, "cases")
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "Error [IST0101] (VirtualService default/reviews cases/x.yaml:20) Referenced gateway "
        'not found: "foo"',
        "Warning [IST0132] (VirtualService default/reviews cases/x.yaml:20) one or more host "
        "[app.example.com] defined in VirtualService default/reviews not found in Gateway "
        "default/foo.",
    ]
    assert "Error: Analyzers found issues when analyzing cases." in result.stderr


def test_warnings_alone_pass_unless_the_threshold_says_so(write: Write, tmp_path: Path) -> None:
    write("x.yaml", _case(host="other.example.com"))  # IST0132 only: a Warning
    result = _analyze(tmp_path, "x.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Warning [IST0132] (VirtualService default/reviews x.yaml:20)")
    result = _analyze(tmp_path, "--failure-threshold", "warning", "x.yaml")
    assert result.returncode == 1
    # Below the output threshold nothing is printed, and the exit code is unchanged.
    result = _analyze(
        tmp_path, "--output-threshold", "Error", "--failure-threshold", "Warning", "x.yaml"
    )
    assert result.returncode == 1 and result.stdout == ""
    result = _analyze(tmp_path, "--output-threshold", "Error", "x.yaml")
    assert result.returncode == 0 and result.stdout == ""


def test_a_clean_case_says_so(write: Write, tmp_path: Path) -> None:
    write("x.yaml", _case())
    result = _analyze(tmp_path, "x.yaml")
    assert result.returncode == 0
    assert result.stdout == ""
    assert "\u2714 No validation issues found when analyzing x.yaml." in result.stderr


def test_an_invalid_case_file_prints_its_located_errors_and_exits_1(
    write: Write, tmp_path: Path
) -> None:
    write("bad.yaml", _case().replace("gateways: [app-gateway]", "gatways: [app-gateway]"))
    write("good.yaml", _case(gateway="foo"))
    result = _analyze(tmp_path, ".")
    assert result.returncode == 1
    assert (
        "bad.yaml:20:7: spec.resources[1].spec.gatways: unknown key (did you mean 'gateways'?)"
        in (result.stderr)
    )
    # The valid file is still analyzed.
    assert "Referenced gateway not found" in result.stdout


def test_bad_arguments(tmp_path: Path) -> None:
    result = _analyze(tmp_path, "--failure-threshold", "fatal", ".")
    assert result.returncode == 2
    assert "'fatal' is not one of Error, Warning, Info" in result.stderr
    result = _analyze(tmp_path, "missing.yaml")
    assert result.returncode == 2
    assert "no such file or directory: missing.yaml" in result.stderr


def test_repeated_objects_are_noted(tmp_path: Path) -> None:
    text = _case()
    second = text[text.index("  - apiVersion: networking.istio.io/v1\n    kind: VirtualService") :]
    second = second[: second.index("  checks:")]
    (tmp_path / "x.yaml").write_text(text.replace("  checks:", second + "  checks:", 1))
    result = _analyze(tmp_path, "x.yaml")
    assert result.returncode == 0
    assert "note: VirtualService default/reviews defined again at x.yaml:" in result.stderr
