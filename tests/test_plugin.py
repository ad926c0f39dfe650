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
    # An invalid document fails collection as it fails a run: a CI gate must not pass it.
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_collect_only_passes_when_the_invalid_document_is_deselected(
    suite: pytest.Pytester,
) -> None:
    result = suite.runpytest("--collect-only", "-q", "-k", "prefix")
    result.stdout.fnmatch_lines(["*3/4 tests collected (1 deselected)*"])
    assert result.ret == pytest.ExitCode.OK


def test_collect_only_fails_on_a_case_name_another_file_uses(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", a=ROUTING_CASE, b=ROUTING_CASE)
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "*meshgate: invalid case documents*",
            "b.yaml:4:9: metadata.name: duplicate case name 'prefix-routing' (first used in a.yaml:1)",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_bad_case_file_errors_cleanly_and_others_run(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
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


def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_no_process_or_file(
    pytester: pytest.Pytester, tmp_path: Path, signum: int
) -> None:
    slow = ROUTING_CASE.replace('/reviews/1"}', '/reviews/1?delay=1h"}', 1)
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
        # A run started in the background by a non-interactive shell inherits an
        # ignored SIGINT, and Python then never turns Ctrl-C into KeyboardInterrupt:
        # the child starts with the default dispositions a terminal gives it.
        preexec_fn=_default_signals,
    )
    try:
        deadline = time.monotonic() + 120  # a hang guard, not a speed goal
        while not _processes_mentioning(str(scratch)):
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "Envoy never started"
            time.sleep(0.05)
        time.sleep(0.3)  # let the slow request get under way
        proc.send_signal(signum)
        proc.wait(timeout=120)  # a hang guard: the request in flight would take an hour
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


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL])
def test_lanes_interrupted_or_killed_leave_no_process_or_file(
    pytester: pytest.Pytester, tmp_path: Path, signum: int
) -> None:
    """Cases on three lanes, each with a request in flight for an hour: an interrupt stops
    every lane's Envoys and removes their files; SIGKILL leaves no Envoy either (they are
    forked from a thread that lasts as long as pytest), and the next run prunes the files."""
    slow = ROUTING_CASE.replace('/reviews/1"}', '/reviews/1?delay=1h"}', 1)
    for n in range(3):
        pytester.makefile(
            ".yaml", **{f"routing{n}": MODELINE + slow.replace("prefix-routing", f"r{n}")}
        )
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--meshgate-lanes=3"]
    proc = subprocess.Popen(
        [*command, str(pytester.path)],
        cwd=pytester.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=_default_signals,
    )
    try:
        deadline = time.monotonic() + 120  # a hang guard, not a speed goal
        while len(_processes_mentioning(str(scratch))) < 3:  # an Envoy on each lane
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the lanes' Envoys never started"
            time.sleep(0.05)
        time.sleep(0.3)  # let the slow requests get under way
        proc.send_signal(signum)
        proc.wait(timeout=120)  # a hang guard: the requests in flight would take an hour
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
        if proc.stdout:
            proc.stdout.close()
    gone = time.monotonic() + 10  # SIGKILL: the kernel kills the Envoys on its own time
    while _processes_mentioning(str(scratch)) and time.monotonic() < gone:
        time.sleep(0.05)
    assert _processes_mentioning(str(scratch)) == [], output
    if signum == signal.SIGINT:
        assert "Interrupted" in output or "KeyboardInterrupt" in output, output
    else:  # what the killed run left, the next run's target removes first
        from pytest_meshgate._targets.rundirs import prune_orphans

        assert prune_orphans("meshgate-local", scratch)
    assert [p.name for p in scratch.iterdir()] == []


def test_every_target_keeps_a_cases_checks_on_one_xdist_worker(suite: pytest.Pytester) -> None:
    """A case deploys once: under xdist its checks go to one worker (loadgroup).

    On a cluster deploying costs seconds; on the local target the first check of
    a case starts its independent checks side by side (_suite/schedule.py).
    """
    config = suite.parseconfigure("--dist", "load", "--meshgate-target=kind")
    assert config.option.dist == "loadgroup"
    local = suite.parseconfigure("--dist", "load")
    assert local.option.dist == "loadgroup"
    items, _ = suite.inline_genitems("--meshgate-target=kind", "--collect-only")
    checks = [item for item in items if item.get_closest_marker("meshgate_case")]
    groups = {item.get_closest_marker("xdist_group").kwargs["name"] for item in checks}  # type: ignore[union-attr]
    assert groups == {"routing.yaml::prefix-routing"} and len(checks) == 3


# ------------------------------------------------------------------ hostile input

SECRET = "hunter2-not-for-logs"

BOMB = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
    f"{n}: &{n} [{','.join(['*' + o] * 9)}]\n" for o, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def _case(name: str, resources: str, extra: str = "") -> str:
    return (
        f"apiVersion: meshgate.dev/v1alpha1\nkind: Case\nmetadata: {{name: {name}}}\n{extra}"
        f"spec:\n  resources:\n{resources}  checks:\n"
        '  - name: c\n    request: {url: "http://a.example.com/"}\n'
    )


def test_hostile_files_are_errors_and_the_good_case_still_passes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHGATE_TEST_SECRET", SECRET)
    (pytester.path / "outside").mkdir()
    (pytester.path / "outside" / "secret.yaml").write_text(f"token: {SECRET}\n")
    suite = pytester.mkdir("suite")
    (suite / "routing.yaml").write_text(MODELINE + ROUTING_CASE)
    bomb = "".join(f"  {line}\n" for line in BOMB.splitlines())
    (suite / "bomb.yaml").write_text(_case("bomb", "  - {}\n", f"x:\n{bomb}"))
    bomb_lines = (suite / "bomb.yaml").read_text().splitlines()
    (suite / "outside.yaml").write_text(
        _case("outside", "  - include: ../outside/secret.yaml\n  - include: /proc/self/environ\n")
    )
    (suite / "loop.yaml").symlink_to("loop.yaml")
    (suite / "looping.yaml").write_text(_case("looping", "  - include: loop.yaml\n"))
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--junitxml={junit}", "--meshgate-include-root=suite", "suite"
    )
    result.assert_outcomes(passed=3, errors=3)
    row = next(i for i, line in enumerate(bomb_lines) if line.startswith("  f: &f")) + 1
    result.stdout.fnmatch_lines_random(
        [
            f"suite/bomb.yaml:{row}:13: more than 100000 YAML nodes with aliases expanded*",
            "suite/outside.yaml:6:14: spec.resources?0?.include: include '../outside/secret.yaml'"
            " resolves outside the include root*",
            "suite/outside.yaml:7:14: spec.resources?1?.include: include takes a path relative*",
            "suite/looping.yaml:6:14: spec.resources?0?.include: include 'loop.yaml' is a symlink"
            " loop",
        ]
    )
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "RuntimeError" not in output
    assert SECRET not in output and SECRET not in junit.read_text()


def test_a_directory_linked_into_itself_is_collected_once(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", routing=MODELINE + ROUTING_CASE)
    (pytester.path / "again").symlink_to(".")
    (pytester.path / "same.yaml").symlink_to("routing.yaml")
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["routing.yaml::prefix-routing::prefix goes to v1", "*3 tests*"])
    assert "duplicate case name" not in result.stdout.str()
    assert result.ret == 0


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le"])
def test_a_case_file_with_a_byte_order_mark_is_collected(
    pytester: pytest.Pytester, encoding: str
) -> None:
    (pytester.path / "bom.yaml").write_bytes((MODELINE + ROUTING_CASE).encode(encoding))
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["bom.yaml::prefix-routing::prefix goes to v1", "*3 tests*"])


def test_a_file_that_is_not_utf8_is_a_located_error(pytester: pytest.Pytester) -> None:
    text = (MODELINE + ROUTING_CASE).replace("Prefix /reviews", "Pr\xe9fixe /reviews")
    (pytester.path / "latin.yaml").write_bytes(text.encode("latin-1"))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["latin.yaml:7:18: not valid UTF-8: byte 0xe9 at offset 140"])
    assert "Traceback" not in result.stdout.str()


def test_includes_stay_inside_rootdir_by_default(pytester: pytest.Pytester) -> None:
    gateway = ROUTING_CASE.split("  - apiVersion: networking.istio.io/v1\n")[1]
    shared = pytester.mkdir("shared")
    (shared / "gw.yaml").write_text(
        "apiVersion: networking.istio.io/v1\n"
        + "\n".join(line.removeprefix("    ") for line in gateway.splitlines())
    )
    cases = pytester.mkdir("cases")
    case = ROUTING_CASE.replace(
        "  - apiVersion: networking.istio.io/v1\n" + gateway, "  - include: ../shared/gw.yaml\n"
    )
    (cases / "routing.yaml").write_text(case)
    pytester.makeini("[pytest]\n")  # rootdir: pytester.path, which holds shared/
    assert pytester.runpytest("--collect-only", "-q", "cases").ret == 0
    refused = pytester.runpytest("--collect-only", "-q", "--meshgate-include-root=cases", "cases")
    refused.stdout.fnmatch_lines(
        ["*include '../shared/gw.yaml' resolves outside the include root*"]
    )
    pytester.makeini("[pytest]\nmeshgate-include-root = cases\n")
    refused = pytester.runpytest("--collect-only", "-q", "cases")
    refused.stdout.fnmatch_lines(
        ["*include '../shared/gw.yaml' resolves outside the include root*"]
    )


def test_a_session_without_case_files_imports_no_case_machinery(pytester: pytest.Pytester) -> None:
    # The pytest11 module is loaded in every session of a project that installs the plugin.
    pytester.makepyfile(
        """
        import sys

        def test_nothing_heavy_was_imported():
            heavy = [m for m in ("pytest_meshgate._suite.nodes", "pytest_meshgate._cases.model")
                     if m in sys.modules]
            assert heavy == []
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
