"""``python -m pytest_meshgate render``: a dry run, one YAML file per case, as a real subprocess.

What this proves: the command writes every object the target applies for
each case, in apply order (namespaces, Secrets and ConfigMaps, Services,
Deployments and Pods, then Istio objects by creation time), says what it
does besides (the CoreDNS edit), reports a bad case file at its line while
still writing the rest, and needs no cluster. What it does not: that a
cluster accepts the files (``kubectl apply --dry-run=server`` would say;
test_k8s_validation.py checks them against Kubernetes 1.33's schemas).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
ROOT = HERE.parents[2]


def render(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytest_meshgate", "render", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def test_render_writes_each_case_in_apply_order(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = render(
        "--target", "kind", "--profile", "demo", str(HERE / "cases"), "--output", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "egress-only.yaml", "ordering.yaml", "pod-port.yaml", "prefix-rewrite.yaml", "rich.yaml"
    ]  # fmt: skip
    text = (out / "rich.yaml").read_text()
    assert "# - adds a CoreDNS rewrite to kube-system/coredns before the Services:" in text
    assert "#     api.example.com -> api-example-com.mg-" in text
    documents = list(yaml.safe_load_all(text))
    kinds = [d["kind"] for d in documents]
    rank = {"Namespace": 0, "Secret": 1, "ConfigMap": 1, "Service": 2, "Deployment": 3, "Pod": 3}
    core = [rank[k] for k in kinds if k in rank]
    assert core == sorted(core) and kinds.index("Gateway") > kinds.index("Pod")
    assert all(d["metadata"]["labels"]["meshgate.dev/run"] == "render" for d in documents)
    ordering = [d["metadata"]["name"] for d in yaml.safe_load_all((out / "ordering.yaml").read_text())
                if d["kind"] == "VirtualService"]  # fmt: skip
    assert ordering == ["b-older", "a-newer", "c-same-time", "z-plain"]
    ports = [d for d in yaml.safe_load_all((out / "pod-port.yaml").read_text()) if d["kind"] == "Service"
             and d["metadata"]["namespace"] == "istio-system"]  # fmt: skip
    assert [p["port"] for p in ports[0]["spec"]["ports"]] == [9000]


def test_a_bad_case_file_is_reported_at_its_line_and_the_others_are_written(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: meshgate.dev/v1alpha1\nkind: Case\nmetadata: {name: bad}\nspec: {servics: []}\n"
    )
    out = tmp_path / "out"
    done = render(str(bad), str(HERE / "cases" / "pod-port.yaml"), "--output", str(out))
    assert done.returncode == 1
    assert "bad.yaml:4:" in done.stderr and "servics" in done.stderr
    assert (out / "pod-port.yaml").is_file() and not (out / "bad.yaml").exists()


def test_render_needs_an_output_and_says_so() -> None:
    done = render(str(HERE / "cases"))
    assert done.returncode == 2 and "--output" in done.stderr


def test_security_policies_and_gateway_pod_annotations_are_applied_as_written(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    done = render(
        "--target", "kind", "--profile", "demo",
        str(ROOT / "cases" / "authorization-policy.yaml"), "--output", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    def documents(case: str) -> list[dict[str, Any]]:
        return list(yaml.safe_load_all((out / f"{case}.yaml").read_text()))

    policies = [
        d
        for d in documents("authz-ingress-gateway-deny-rules")
        if d["kind"] == "AuthorizationPolicy"
    ]
    deny = next(d for d in policies if d["metadata"]["name"] == "policy-b")
    assert deny["apiVersion"] == "security.istio.io/v1"
    assert deny["spec"]["action"] == "DENY"
    assert deny["spec"]["rules"][2]["from"][0]["source"]["remoteIpBlocks"] == [
        "172.17.72.46", "192.168.4.0/23"
    ]  # fmt: skip
    dry_run = next(
        d for d in documents("authz-audit-and-dry-run-decide-nothing")
        if d["metadata"]["name"] == "dry-run-deny-all"
    )  # fmt: skip
    assert dry_run["metadata"]["annotations"]["istio.io/dry-run"] == "true"
    edge = next(
        d for d in documents("authz-spoofed-xff-not-trusted")
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "edge"
    )  # fmt: skip
    annotations = edge["spec"]["template"]["metadata"]["annotations"]
    assert yaml.safe_load(annotations["proxy.istio.io/config"]) == {
        "gatewayTopology": {"numTrustedProxies": 1}
    }
    assert annotations["inject.istio.io/templates"] == "gateway"
