"""Stand-in ``kind``, ``kubectl``, ``istioctl``, ``helm`` and ``docker`` executables.

Each is a small Python script put first on PATH that appends its argv to
``calls.jsonl`` and imitates just enough of the real tool's output (``kind
get clusters``, ``kind create cluster --kubeconfig=...``, ``docker port``,
``istioctl version``) for our code to proceed. They prove which commands we
issue, with which arguments, in which order; they prove nothing about what
the real tools would do with them.

Where our code reads a tool's output or depends on how it fails, the
stand-in prints what the real tool prints, taken from its source:

- ``istioctl version``: ``pkg/version/cobra.go`` (istio 1.26-1.28): ``--short``
  prints ``client version: 1.26.2``, ``-o json`` the ``Version`` struct
  (``{"clientVersion": {"version", "revision", "golang_version", "status",
  "tag"}}``, two-space indent), no flag the ``BuildInfo`` long form.
- ``istioctl proxy-config routes -o json``: Envoy route configurations, from
  ``STANDIN_ROUTES`` (a JSON list), with Istio's ``filterMetadata.istio.config``.
- ``helm upgrade --install``: a chart's ``profile`` must name one of its
  ``files/profile-*.yaml`` (``templates/zzz_profile.yaml`` fails "unknown
  profile" otherwise; the 1.26-1.28 charts have ambient, demo, preview,
  remote, stable and platform-* ones), and ``--wait`` on the ``gateway`` chart
  with its default LoadBalancer Service fails as Helm does after its timeout
  on a cluster that assigns no load-balancer address (plain kind), at once.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

SCRIPT = r"""#!{python}
import json, os, sys
from pathlib import Path
state = Path(os.environ["STANDIN_STATE"])
tool = Path(sys.argv[0]).name
args = sys.argv[1:]
with open(state / "calls.jsonl", "a") as log:
    log.write(json.dumps([tool, *args]) + "\n")
clusters_file = state / "clusters"
clusters = clusters_file.read_text().split() if clusters_file.exists() else []
kubeconfig = os.environ.get("STANDIN_KUBECONFIG", "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
fail = os.environ.get("STANDIN_FAIL", "")
if fail and " ".join([tool, *args]).startswith(fail):
    sys.stderr.write("stand-in failure for " + fail + "\n")
    sys.exit(1)
if tool == "kind":
    if args[:2] == ["get", "clusters"]:
        print("\n".join(clusters))
    elif args[:2] == ["get", "kubeconfig"]:
        print(kubeconfig)
    elif args[:2] == ["create", "cluster"]:
        name = next(a.split("=", 1)[1] for a in args if a.startswith("--name="))
        for a in args:
            if a.startswith("--kubeconfig="):
                Path(a.split("=", 1)[1]).write_text(kubeconfig)
        clusters_file.write_text("\n".join([*clusters, name]))
    elif args[:2] == ["delete", "cluster"]:
        name = next(a.split("=", 1)[1] for a in args if a.startswith("--name="))
        clusters_file.write_text("\n".join(c for c in clusters if c != name))
elif tool == "docker" and args[:1] == ["port"]:
    for port in os.environ.get("STANDIN_DOCKER_PORTS", "").split():
        print(f"{port}/tcp -> 127.0.0.1:{port}")
elif tool == "istioctl" and args[:1] == ["version"]:
    version = os.environ.get("STANDIN_ISTIO_VERSION", "1.26.2")
    info = {"version": version, "revision": "f9a1a1c0ffee", "golang_version": "go1.24.4",
            "status": "Clean", "tag": version}
    if "-o" in args and args[args.index("-o") + 1] == "json":
        print(json.dumps({"clientVersion": info}, indent=2))
    elif "--short" in args or "-s" in args:
        print("client version: " + version)
    else:
        print('client version: version.BuildInfo{Version:"%s", GitRevision:"%s", '
              'GolangVersion:"%s", BuildStatus:"%s", GitTag:"%s"}' % (
              version, info["revision"], info["golang_version"], info["status"], version))
elif tool == "istioctl" and args[:2] == ["proxy-config", "routes"]:
    print(os.environ.get("STANDIN_ROUTES", "[]"))
elif tool == "istioctl" and args[:1] == ["proxy-config"]:
    print("[]")
elif tool == "helm" and args[:2] == ["upgrade", "--install"]:
    release, chart = args[2], args[3]
    profiles = {"ambient", "demo", "preview", "remote", "stable", "platform-gke", "platform-k3d",
                "platform-k3s", "platform-microk8s", "platform-minikube", "platform-openshift"}
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    for item in sets:
        key, _, value = item.partition("=")
        if key == "profile" and value not in profiles:
            sys.stderr.write("Error: INSTALLATION FAILED: execution error at (%s/templates/"
                             "zzz_profile.yaml:34:3): unknown profile %s\n" % (chart, value))
            sys.exit(1)
    service_type = next((v.split("=", 1)[1] for v in sets if v.startswith("service.type=")),
                        "LoadBalancer")
    if chart == "gateway" and "--wait" in args and service_type == "LoadBalancer":
        sys.stderr.write("Error: INSTALLATION FAILED: context deadline exceeded\n")
        sys.exit(1)
"""

TOOLS = ("kind", "kubectl", "istioctl", "helm", "docker")


class StandIns:
    """The stand-in bin directory and what was run."""

    def __init__(self, root: Path, tools: tuple[str, ...] = TOOLS) -> None:
        self.root = root
        self.bin = root / "bin"
        self.state = root / "state"
        self.bin.mkdir(parents=True, exist_ok=True)
        self.state.mkdir(parents=True, exist_ok=True)
        for tool in tools:
            path = self.bin / tool
            path.write_text(SCRIPT.replace("{python}", sys.executable))
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "STANDIN_STATE": str(self.state),
            **extra,
        }

    def calls(self) -> list[list[str]]:
        log = self.state / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def set_clusters(self, *names: str) -> None:
        (self.state / "clusters").write_text("\n".join(names))

    def clusters(self) -> list[str]:
        path = self.state / "clusters"
        return path.read_text().split() if path.exists() else []

    def path_of(self, tool: str) -> str:
        return str(self.bin / tool)

    def short(self) -> list[list[Any]]:
        """Calls with the stand-in directory shortened to the tool name."""
        return [[c[0], *c[1:]] for c in self.calls()]
