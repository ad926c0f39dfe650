"""``--meshgate-target=kind|cluster`` on a machine that cannot get a cluster: one line, at once.

Each run is a real pytest subprocess whose output must be one ``ERROR:
meshgate: ...`` line without a traceback, given before anything is collected
(so before any case could start a cluster or an install), with no tool run on
the way where stand-ins record what runs. That is what "at once" means here;
no wall-clock bound is asserted, since a loaded machine would break it. These
are the only behaviours of the cluster targets that run end to end here: the
machine has no Docker engine, kind, istioctl or cluster.
"""

from __future__ import annotations

import socket
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from k8s_fakeapi import kubeconfig_for
from k8s_standins import StandIns

from pytest_meshgate._targets.kubernetes.providers.releases import platform_tag

pytest_plugins = ["pytester"]

CASE = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: ping}
spec:
  services:
  - name: reviews
    ports: [{name: http, port: 9080}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: gw}
    spec:
      selector: {istio: ingressgateway}
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: [app.example.com]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: vs}
    spec:
      hosts: [app.example.com]
      gateways: [gw]
      http:
      - route: [{destination: {host: reviews}}]
  checks:
  - name: routed
    request: {url: "http://app.example.com/"}
    expect: {backend: reviews}
"""


@pytest.fixture
def suite(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> pytest.Pytester:
    pytester.makefile(".yaml", ping=CASE)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no kind, kubectl, istioctl, helm, docker
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.kube/config, no cache
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def assert_one_line(result: pytest.RunResult, expected: str) -> None:
    errors = [line for line in result.stderr.lines if line.strip()]
    assert errors == [expected], result.stderr.lines + result.stdout.lines
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    # Refused in pytest_sessionstart: nothing was collected, so nothing ran.
    assert "collect" not in result.stdout.str() and "ping" not in result.stdout.str()


def test_kind_without_kind(suite: pytest.Pytester) -> None:
    result = run(suite, "--meshgate-target=kind")
    assert_one_line(
        result,
        "ERROR: meshgate: the kind target needs kind (v0.29.0 pinned): none on PATH; install it "
        "(https://kind.sigs.k8s.io/docs/user/quick-start/#installation), pass "
        "--meshgate-kind-bin=PATH, or --meshgate-kind-download=yes to fetch the pinned v0.29.0 "
        f"for {'/'.join(platform_tag())}",
    )


def test_kind_without_a_docker_engine(
    suite: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    standins = StandIns(tmp_path / "standins", tools=("kind", "kubectl"))
    monkeypatch.setenv("PATH", str(standins.bin))
    result = run(suite, "--meshgate-target=kind")
    assert_one_line(
        result,
        f"ERROR: meshgate: the kind target needs a Docker engine: none answers at "
        f"unix://{tmp_path}/no-docker.sock (No such file or directory) "
        "(install Docker or use --meshgate-target=local)",
    )
    assert standins.calls() == []  # nothing was created on the way to the error


@pytest.fixture
def docker_ping(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "engine.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nOK")

    threading.Thread(target=serve, daemon=True).start()
    yield path
    server.close()


def test_kind_without_istioctl(
    suite: pytest.Pytester, tmp_path: Path, docker_ping: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    standins = StandIns(tmp_path / "standins", tools=("kind", "kubectl"))
    monkeypatch.setenv("PATH", str(standins.bin))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{docker_ping}")
    result = run(suite, "--meshgate-target=kind")
    assert_one_line(
        result,
        "ERROR: meshgate: installing Istio needs istioctl: no istioctl on PATH (get it: curl -L "
        "https://istio.io/downloadIstio | sh -, or pass --meshgate-istioctl=PATH, or "
        "--meshgate-istio-install=helm|none)",
    )
    assert standins.calls() == []  # no cluster created before finding istioctl missing


def test_kind_with_envoy_gateway_without_helm(
    suite: pytest.Pytester, tmp_path: Path, docker_ping: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--meshgate-implementation=envoy-gateway`` picks that adapter: its preflight speaks."""
    standins = StandIns(tmp_path / "standins", tools=("kind", "kubectl"))
    monkeypatch.setenv("PATH", str(standins.bin))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{docker_ping}")
    result = run(suite, "--meshgate-target=kind", "--meshgate-implementation=envoy-gateway")
    assert_one_line(
        result,
        "ERROR: meshgate: installing Envoy Gateway needs helm: none on PATH "
        "(https://helm.sh/docs/intro/install/, or --meshgate-helm=PATH, "
        "or --meshgate-envoy-gateway-install=none)",
    )
    assert standins.calls() == []


def test_cluster_without_kubeconfig(suite: pytest.Pytester, tmp_path: Path) -> None:
    result = run(suite, "--meshgate-target=cluster")
    assert_one_line(
        result,
        f"ERROR: meshgate: the cluster target needs a kubeconfig: {tmp_path}/home/.kube/config "
        "does not exist (pass --meshgate-kubeconfig=PATH, set KUBECONFIG, or use "
        "--meshgate-target=local)",
    )


def test_cluster_unreachable(suite: pytest.Pytester, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig_for(f"https://127.0.0.1:{port}", "ci"))
    result = run(suite, "--meshgate-target=cluster", f"--meshgate-kubeconfig={kubeconfig}")
    assert_one_line(
        result,
        f"ERROR: meshgate: the cluster of context 'ci' is unreachable: https://127.0.0.1:{port} "
        "(Connection refused); check the cluster or --meshgate-context",
    )


def test_cluster_unknown_context(suite: pytest.Pytester, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig_for("https://127.0.0.1:1", "ci"))
    result = run(
        suite,
        "--meshgate-target=cluster",
        f"--meshgate-kubeconfig={kubeconfig}",
        "--meshgate-context=prod",
    )
    assert_one_line(
        result,
        f"ERROR: meshgate: kubeconfig {kubeconfig} has no context 'prod' (contexts: ci); "
        "pass --meshgate-context=NAME",
    )


def test_collect_only_needs_no_cluster(suite: pytest.Pytester) -> None:
    result = run(suite, "--meshgate-target=kind", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["ping.yaml::ping::routed", "*1 test collected*"])
    assert result.ret == 0


BLOCKER = textwrap.dedent(
    """
    # Makes the [kind] extra look uninstalled: its packages cannot be imported.
    import sys

    class _Uninstalled:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("kubernetes", "pytest_kind", "pykube"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _Uninstalled())
    """
)


def test_without_the_kind_extra_local_works_and_kind_says_what_to_install(
    suite: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    monkeypatch.setenv("PYTHONPATH", str(site))
    # pytest-kind's own plugin would not be registered either without the package.
    no_kind = ("-p", "no:pytest-kind")
    local = run(suite, *no_kind)
    local.assert_outcomes(passed=1)
    result = run(suite, *no_kind, "--meshgate-target=kind")
    assert_one_line(
        result,
        "ERROR: meshgate: the kind target needs pytest-kind and kubernetes: pip install "
        "'pytest-meshgate[kind]' (or use --meshgate-target=local)",
    )
    result = run(suite, *no_kind, "--meshgate-target=cluster")
    assert_one_line(
        result,
        "ERROR: meshgate: the cluster target needs the kubernetes client: pip install "
        "'pytest-meshgate[kind]' (or use --meshgate-target=local)",
    )


def test_our_options_do_not_clash_with_pytest_kinds(suite: pytest.Pytester) -> None:
    pytest.importorskip("pytest_kind")
    result = run(suite, "--help")
    out = result.stdout.str()
    for theirs in ("--cluster-name", "--keep-cluster", "--kubeconfig=", "--kind-bin"):
        assert theirs in out  # pytest-kind's, unprefixed, still there
    for ours in ("--meshgate-kind-cluster-name", "--meshgate-kind-keep", "--meshgate-kubeconfig",
                 "--meshgate-context", "--meshgate-istio-profile", "--meshgate-istioctl"):  # fmt: skip
        assert ours in out
    assert result.ret == 0
