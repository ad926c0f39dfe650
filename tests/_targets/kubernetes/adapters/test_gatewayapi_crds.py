"""Installing the Gateway API CRDs: the release manifest, server-side applied through the API.

The release host is a local HTTP server serving a manifest shaped as the
v1.6.0 release is (its CRDs' names, bundle-version and channel annotations,
served versions, and the ValidatingAdmissionPolicy the standard channel
adds); the API is the fake API server, which serves a CRD's versions once
stored and makes it Established on its second read. When the
kubernetes-sigs/gateway-api mirror is on this machine, its v1.6.0 CRD files
stand in for the release instead: the annotations and versions this code
relies on are then the real ones. What this does not prove: the GitHub
release URL itself, or a real API server's server-side apply (field
ownership is not modelled).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_fakeapi import FakeAPI, kubeconfig_for

from pytest_meshgate._errors import TargetUnavailable
from pytest_meshgate._targets.kubernetes.adapters.gatewayapi_crds import (
    CASE_CRDS,
    GATEWAY_API_VERSION,
    crds_to_install,
    ensure_gateway_api_crds,
    release_url,
)

pytest.importorskip("kubernetes")

MIRROR = Path("/work/.mirror/kubernetes-sigs+gateway-api/repo")
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def shaped_release(version: str, channel: str) -> str:
    """A release manifest shaped as v1.6.0's: one CRD per kind, annotated, versions served."""
    docs: list[dict[str, Any]] = []
    for name in CASE_CRDS:
        plural = name.split(".", 1)[0]
        kind = {
            "gatewayclasses": "GatewayClass",
            "gateways": "Gateway",
            "httproutes": "HTTPRoute",
            "grpcroutes": "GRPCRoute",
            "referencegrants": "ReferenceGrant",
            "tlsroutes": "TLSRoute",
            "tcproutes": "TCPRoute",
            "listenersets": "ListenerSet",
            "backendtlspolicies": "BackendTLSPolicy",
        }[plural]
        versions = [{"name": "v1", "served": True, "storage": True}]
        if plural in ("tlsroutes", "tcproutes"):
            versions.append({"name": "v1alpha2", "served": channel == "experimental",
                             "storage": False})  # fmt: skip
        docs.append(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {
                    "name": name,
                    "annotations": {
                        "gateway.networking.k8s.io/bundle-version": version,
                        "gateway.networking.k8s.io/channel": channel,
                    },
                },
                "spec": {
                    "group": "gateway.networking.k8s.io",
                    "names": {"kind": kind, "plural": plural},
                    "scope": "Cluster" if plural == "gatewayclasses" else "Namespaced",
                    "versions": versions,
                },
            }
        )
    docs.append(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "safe-upgrades.gateway.networking.k8s.io"},
            "spec": {"failurePolicy": "Fail"},
        }
    )
    return "---\n" + "\n---\n".join(yaml.safe_dump(d) for d in docs)


def mirror_release(channel: str) -> str | None:
    """The v1.6.0 CRD files of ``channel`` from the mirror, concatenated (None: no mirror)."""
    if not MIRROR.is_dir():
        return None
    listed = subprocess.run(
        ["git", "-C", str(MIRROR), "ls-tree", "--name-only", f"{GATEWAY_API_VERSION}:config/crd/{channel}/"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if listed.returncode != 0:
        return None
    texts = []
    for name in listed.stdout.split():
        if not name.startswith("gateway.networking.k8s.io_"):
            continue  # x-k8s.io kinds of the experimental channel are not needed here
        shown = subprocess.run(
            ["git", "-C", str(MIRROR), "show", f"{GATEWAY_API_VERSION}:config/crd/{channel}/{name}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        texts.append(shown.stdout)
    return "\n---\n".join(texts)


@contextmanager
def release_host(files: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """A local stand-in for GitHub's release downloads: path -> text; logs the paths asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            text = files.get(self.path)
            data = (text or "Not Found").encode()
            self.send_response(200 if text is not None else 404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def kube(api: FakeAPI, tmp_path: Path) -> Any:
    from pytest_meshgate._targets.kubernetes.kube import Kube, k8s

    path = tmp_path / "kubeconfig"
    path.write_text(kubeconfig_for(api.url))
    client = k8s("kubernetes.config").new_client_from_config(config_file=str(path))
    return Kube(client, sleep=lambda _: None)


def test_a_cluster_without_them_gets_the_pinned_release_applied_server_side(
    api: FakeAPI, kube: Any
) -> None:
    files = {f"/{GATEWAY_API_VERSION}/experimental-install.yaml":
             shaped_release(GATEWAY_API_VERSION, "experimental")}  # fmt: skip
    with release_host(files) as (base, asked):
        url = release_url(GATEWAY_API_VERSION, "experimental", base)
        done = ensure_gateway_api_crds(kube, url=url, sleep=lambda _: None)
    assert asked == [f"/{GATEWAY_API_VERSION}/experimental-install.yaml"]
    assert done.startswith(f"applied {url} (gatewayclasses.gateway.networking.k8s.io: missing")
    patches = [path for method, path in api.requests if method == "PATCH"]
    assert patches[: len(CASE_CRDS)] == [f"{CRD_PATH}/{name}" for name in CASE_CRDS]
    # kubectl apply --server-side --force-conflicts: apply patches, our field manager, forced.
    assert set(api.content_types) == {"application/apply-patch+yaml"}
    assert (
        "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/safe-upgrades.gateway.networking.k8s.io"
        in api.objects
    )
    # Served now: the dynamic client finds the kinds cases apply.
    assert kube.resource("gateway.networking.k8s.io/v1", "HTTPRoute").namespaced
    assert kube.resource("gateway.networking.k8s.io/v1alpha2", "TLSRoute").namespaced
    assert crds_to_install(kube, GATEWAY_API_VERSION, "experimental") == []


def test_the_same_or_a_newer_bundle_is_left_alone_an_older_one_upgraded(
    api: FakeAPI, kube: Any
) -> None:
    for doc in yaml.safe_load_all(shaped_release("v1.7.0", "standard")):
        if doc["kind"] == "CustomResourceDefinition":
            api.put(f"{CRD_PATH}/{doc['metadata']['name']}", doc)
    assert crds_to_install(kube, GATEWAY_API_VERSION, "standard") == []
    # Same version, standard installed, experimental wanted: newer, so no downgrade either.
    assert crds_to_install(kube, GATEWAY_API_VERSION, "experimental") == []
    assert ensure_gateway_api_crds(kube, channel="standard", url="http://127.0.0.1:1/x") == ""
    for doc in yaml.safe_load_all(shaped_release("v1.5.1", "standard")):
        if doc["kind"] == "CustomResourceDefinition":
            api.put(f"{CRD_PATH}/{doc['metadata']['name']}", doc)
    assert crds_to_install(kube, GATEWAY_API_VERSION, "standard")[0] == (
        "gatewayclasses.gateway.networking.k8s.io: bundle v1.5.1 older than v1.6.0"
    )
    for doc in yaml.safe_load_all(shaped_release(GATEWAY_API_VERSION, "standard")):
        if doc["kind"] == "CustomResourceDefinition":
            api.put(f"{CRD_PATH}/{doc['metadata']['name']}", doc)
    assert crds_to_install(kube, GATEWAY_API_VERSION, "standard") == []
    assert crds_to_install(kube, GATEWAY_API_VERSION, "experimental")[0].endswith(
        "channel standard, experimental wanted"
    )
    # A pre-release of the pin is older than it.
    api.put(f"{CRD_PATH}/gateways.gateway.networking.k8s.io",
            {"metadata": {"name": "gateways.gateway.networking.k8s.io", "annotations": {
                "gateway.networking.k8s.io/bundle-version": "v1.6.0-rc.2"}}})  # fmt: skip
    assert crds_to_install(kube, GATEWAY_API_VERSION, "standard") == [
        "gateways.gateway.networking.k8s.io: bundle v1.6.0-rc.2 older than v1.6.0"
    ]


def test_an_unreachable_release_says_how_to_install_by_hand(kube: Any) -> None:
    with release_host({}) as (base, _):
        url = release_url(GATEWAY_API_VERSION, "standard", base)
        with pytest.raises(TargetUnavailable) as info:
            ensure_gateway_api_crds(kube, channel="standard", url=url)
    assert f"kubectl apply --server-side -f {url}" in str(info.value)


@pytest.mark.parametrize("channel", ["standard", "experimental"])
def test_the_real_v1_6_0_crd_files_carry_what_the_install_relies_on(
    api: FakeAPI, kube: Any, channel: str
) -> None:
    text = mirror_release(channel)
    if text is None:
        pytest.skip("the kubernetes-sigs/gateway-api mirror is not on this machine")
    docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    crds = {d["metadata"]["name"]: d for d in docs if d["kind"] == "CustomResourceDefinition"}
    assert set(CASE_CRDS) <= set(crds)
    for name in CASE_CRDS:
        annotations = crds[name]["metadata"]["annotations"]
        assert annotations["gateway.networking.k8s.io/bundle-version"] == GATEWAY_API_VERSION
        assert annotations["gateway.networking.k8s.io/channel"] == channel
    served = {
        (d["spec"]["names"]["kind"], v["name"])
        for d in crds.values()
        for v in d["spec"]["versions"]
        if v["served"]
    }
    # GRPCRoute, TLSRoute and TCPRoute are v1 in both channels at v1.6.0; the
    # alphas only in experimental (docs/gateway-api.md's table).
    assert {("GRPCRoute", "v1"), ("TLSRoute", "v1"), ("TCPRoute", "v1")} <= served
    assert (("TLSRoute", "v1alpha2") in served) == (channel == "experimental")
    files = {f"/{GATEWAY_API_VERSION}/{channel}-install.yaml": text}
    with release_host(files) as (base, _):
        url = release_url(GATEWAY_API_VERSION, channel, base)
        ensure_gateway_api_crds(kube, channel=channel, url=url, sleep=lambda _: None)
    assert kube.resource("gateway.networking.k8s.io/v1", "GRPCRoute").namespaced
    assert crds_to_install(kube, GATEWAY_API_VERSION, channel) == []


def test_crds_not_established_in_time_are_an_error_naming_them(kube: Any) -> None:
    from pytest_meshgate._errors import TargetError

    files = {f"/{GATEWAY_API_VERSION}/standard-install.yaml":
             shaped_release(GATEWAY_API_VERSION, "standard")}  # fmt: skip
    with release_host(files) as (base, _):
        url = release_url(GATEWAY_API_VERSION, "standard", base)
        # The fake makes a CRD Established on its second read; no time for one here.
        with pytest.raises(TargetError, match="not Established after 0s: gatewayclasses"):
            ensure_gateway_api_crds(kube, channel="standard", url=url, timeout=0)
