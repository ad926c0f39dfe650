"""The pinned kind and kubectl releases: their URLs per OS and architecture, the checked download.

A local HTTP server stands in for the release host; the real release URLs
were not fetched.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_meshgate._errors import TargetUnavailable
from pytest_meshgate._targets.kubernetes.providers import releases
from pytest_meshgate._targets.kubernetes.providers.releases import download_pinned, pinned_urls


def test_pinned_urls_are_architecture_aware() -> None:
    kind, kind_sum = pinned_urls("kind", "linux", "arm64")
    assert (
        kind
        == f"https://github.com/kubernetes-sigs/kind/releases/download/{releases.KIND_VERSION}/kind-linux-arm64"
    )
    assert kind_sum == kind + ".sha256sum"
    kubectl, kubectl_sum = pinned_urls("kubectl", "darwin", "amd64")
    assert (
        kubectl == f"https://dl.k8s.io/release/{releases.KUBECTL_VERSION}/bin/darwin/amd64/kubectl"
    )
    assert kubectl_sum == kubectl + ".sha256"


@pytest.fixture
def release_server(tmp_path: Path) -> Iterator[str]:
    """A local HTTP server standing in for the release host (files under tmp_path/www)."""
    www = tmp_path / "www"
    www.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(www), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_checks_the_published_sha256(release_server: str, tmp_path: Path) -> None:
    www = tmp_path / "www"
    blob = b"#!/bin/sh\necho kind\n"
    (www / "kind").write_bytes(blob)
    (www / "kind.sha256sum").write_text(f"{hashlib.sha256(blob).hexdigest()}  kind-linux-amd64\n")
    (www / "bad.sha256sum").write_text("0" * 64 + "  kind\n")
    cache = tmp_path / "cache"
    with pytest.raises(TargetUnavailable, match=r"SHA-256 .* but .* says 0000"):
        download_pinned(
            "kind", cache, (f"{release_server}/kind", f"{release_server}/bad.sha256sum")
        )
    assert not cache.exists() or list(cache.iterdir()) == []
    path = download_pinned(
        "kind", cache, (f"{release_server}/kind", f"{release_server}/kind.sha256sum")
    )
    assert path.read_bytes() == blob and path.stat().st_mode & 0o111
    assert path.name == releases.pinned_name("kind")
