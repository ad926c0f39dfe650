"""End-to-end tests of the plugin through pytester: collection, ids, errors, real runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

MODELINE = "# yaml-language-server: $schema=schema.json\n"

ROUTING_CASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata:
  name: prefix-routing
  description: Prefix /reviews goes to reviews v1, everything else is 404.
spec:
  services:
  - name: reviews
    ports: [{name: http, port: 9080}]
    versions: [v1, v2]
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
    kind: DestinationRule
    metadata: {name: reviews}
    spec:
      host: reviews
      subsets:
      - {name: v1, labels: {version: v1}}
      - {name: v2, labels: {version: v2}}
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [app.example.com]
      gateways: [app-gateway]
      http:
      - match: [{uri: {prefix: /reviews}}]
        route: [{destination: {host: reviews, subset: v1}}]
  checks:
  - name: prefix goes to v1
    request: {url: "http://app.example.com/reviews/1"}
    expect: {backend: {service: reviews, version: v1}, request: {path: /reviews/1}}
  - name: other paths are 404
    request: {url: "http://app.example.com/ratings"}
    expect: {status: 404}
  - name: unbound host is 404
    request: {url: "http://other.example.com/reviews/1"}
    expect: {status: 404}
"""

BAD_CASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: broken}
spec:
  checks:
  - name: typo
    request: {url: "http://a.example.com/", methd: GET}
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", routing=MODELINE + ROUTING_CASE, broken=MODELINE + BAD_CASE)
    pytester.makefile(".yaml", unrelated="name: ci\non: [push]\n")
    return pytester


def test_collect_only_ids_and_offline(suite: pytest.Pytester) -> None:
    # A missing Envoy binary proves collection never tries to start one.
    result = suite.runpytest("--collect-only", "-q", "--meshgate-envoy=/nonexistent/envoy")
    result.stdout.fnmatch_lines(
        [
            "broken.yaml::broken",
            "routing.yaml::prefix-routing::prefix goes to v1",
            "routing.yaml::prefix-routing::other paths are 404",
            "routing.yaml::prefix-routing::unbound host is 404",
            "*4 tests collected*",
        ]
    )
    assert "unrelated" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        ["*meshgate: invalid case documents*", "broken.yaml:9:45: spec.checks?0?.request.methd: *"]
    )
    assert result.ret == 0


def test_bad_case_file_errors_cleanly_and_others_run(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "broken.yaml:9:45: spec.checks[0].request.methd: unknown key (did you mean 'method'?)",
            '9 |     request: {url: "http://a.example.com/", methd: GET}',
            "*|                                             ^",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_failed_check_explains_itself(pytester: pytest.Pytester) -> None:
    wrong = ROUTING_CASE.replace("version: v1}, request", "version: v2}, request")
    pytester.makefile(".yaml", routing=MODELINE + wrong)
    result = pytester.runpytest("-p", "no:cacheprovider", "--meshgate-consistency-timeout=300ms")
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "routing.yaml:" in out
    assert "check 'prefix goes to v1' of case 'prefix-routing' failed" in out
    assert "backend: expected reviews v2, got default/reviews v1" in out
    assert "GET http://app.example.com/reviews/1" in out
    assert "access log of istio-ingressgateway:" in out
    assert "route=" in out and "cluster=outbound|9080|v1|reviews.default.svc.cluster.local" in out
    assert "routes of virtual host" in out


def test_runs_under_xdist(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=3, errors=1)


def test_ini_keys_mirror_options(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmeshgate-target = nowhere\n")
    pytester.makefile(".yaml", routing=MODELINE + ROUTING_CASE)
    result = pytester.runpytest("--collect-only")
    result.stderr.fnmatch_lines(["*--meshgate-target: unknown target 'nowhere'*"])
    assert result.ret != 0


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline and "envoy" in cmdline:
                pids.append(int(entry.name))
    return pids


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_no_process_or_file(
    pytester: pytest.Pytester, tmp_path: Path, signum: int
) -> None:
    slow = ROUTING_CASE.replace('/reviews/1"}', '/reviews/1?delay=30s"}', 1)
    pytester.makefile(".yaml", routing=MODELINE + slow)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(pytester.path)],
        cwd=pytester.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not _processes_mentioning(str(scratch)):
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "Envoy never started"
            time.sleep(0.05)
        time.sleep(0.3)  # let the slow request get under way
        proc.send_signal(signum)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
        if proc.stdout:
            proc.stdout.close()
    assert "Interrupted" in output or "KeyboardInterrupt" in output, output
    assert _processes_mentioning(str(scratch)) == []
    assert [p.name for p in scratch.iterdir()] == []


def test_cluster_targets_keep_a_cases_checks_on_one_xdist_worker(suite: pytest.Pytester) -> None:
    """A case deploys once on a cluster: under xdist its checks go to one worker (loadgroup)."""
    config = suite.parseconfigure("--dist", "load", "--meshgate-target=kind")
    assert config.option.dist == "loadgroup"
    local = suite.parseconfigure("--dist", "load")
    assert local.option.dist == "load"  # local cases switch in milliseconds: spread them
    items, _ = suite.inline_genitems("--meshgate-target=kind", "--collect-only")
    checks = [item for item in items if item.get_closest_marker("meshgate_case")]
    groups = {item.get_closest_marker("xdist_group").kwargs["name"] for item in checks}  # type: ignore[union-attr]
    assert groups == {"routing.yaml::prefix-routing"} and len(checks) == 3
