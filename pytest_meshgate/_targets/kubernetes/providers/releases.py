"""The pinned kind and kubectl releases: versions, node image, release URLs, checked download.

Handed no binaries, pytest-kind downloads kind and kubectl of its own
versions, always the amd64 build and unchecked (``KindCluster.ensure_kind``
and ``ensure_kubectl`` in pytest-kind's ``pytest_kind/cluster.py``). meshgate
pins its own versions, takes the file for this OS and architecture, and
checks the SHA-256 the project publishes next to it; it downloads only when
asked (``--meshgate-kind-download=yes``).
"""

from __future__ import annotations

import hashlib
import os
import platform
import urllib.request
from pathlib import Path

from ...._errors import TargetUnavailable

__all__ = [
    "KIND_NODE_IMAGE",
    "KIND_VERSION",
    "KUBECTL_VERSION",
    "default_cache_dir",
    "download_pinned",
    "pinned_name",
    "pinned_urls",
    "platform_tag",
]

# Pins. Not exercised against a real download or cluster on the machine this
# was written on (no network, no Docker); CI (.github/workflows) uses the same.
KIND_VERSION = "v0.29.0"
# kind v0.29.0's own default node image, digest included (pkg/apis/config/defaults/image.go).
KIND_NODE_IMAGE = (
    "kindest/node:v1.33.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f"
)
KUBECTL_VERSION = "v1.33.1"


def platform_tag() -> tuple[str, str]:
    """(os, arch) as kind and Kubernetes name their release files: linux/darwin, amd64/arm64."""
    system = platform.system().lower()
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
    return system, arch


def pinned_urls(tool: str, system: str, arch: str) -> tuple[str, str]:
    """The release URL of a pinned binary and of its published SHA-256 file."""
    if tool == "kind":
        url = (
            f"https://github.com/kubernetes-sigs/kind/releases/download/"
            f"{KIND_VERSION}/kind-{system}-{arch}"
        )
        return url, url + ".sha256sum"
    if tool == "kubectl":
        url = f"https://dl.k8s.io/release/{KUBECTL_VERSION}/bin/{system}/{arch}/kubectl"
        return url, url + ".sha256"
    raise ValueError(tool)


def pinned_name(tool: str) -> str:
    system, arch = platform_tag()
    version = KIND_VERSION if tool == "kind" else KUBECTL_VERSION
    return f"{tool}-{version}-{system}-{arch}"


def download_pinned(
    tool: str,
    cache_dir: Path,
    urls: tuple[str, str] | None = None,
    timeout: float = 120,
) -> Path:
    """Fetch the pinned ``tool`` for this OS/arch into ``cache_dir``, checking its SHA-256.

    The digest comes from the checksum file the project publishes next to the
    binary; a mismatch leaves nothing behind.
    """
    target = cache_dir / pinned_name(tool)
    if target.is_file():
        return target
    system, arch = platform_tag()
    url, sum_url = urls or pinned_urls(tool, system, arch)
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(sum_url, timeout=timeout) as response:
            expected = response.read().decode().split()[0].lower()
        with urllib.request.urlopen(url, timeout=timeout) as response:
            blob = response.read()
    except OSError as exc:
        raise TargetUnavailable(f"meshgate: could not download {tool} from {url}: {exc}") from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != expected:
        raise TargetUnavailable(
            f"meshgate: {url} has SHA-256 {digest}, but {sum_url} says {expected}; not using it"
        )
    partial = target.with_suffix(".partial")
    partial.write_bytes(blob)
    partial.chmod(0o755)
    partial.replace(target)
    return target


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-meshgate" / "bin"
