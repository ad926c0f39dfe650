"""Shared helpers for the project's own tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

# Import before any in-process pytester run: pytester drops modules first
# imported inside a run, and PyYAML's C extension keeps the node classes of
# the first import, so a re-imported `yaml` would not recognise its own nodes.
import yaml  # noqa: F401

import pytest_meshgate._suite.nodes

# Likewise cryptography's Rust bindings: a second in-process run that deploys
# a case re-imported them and failed with "curve must be an EllipticCurve
# instance" (tests/_suite/test_failure.py runs several in one process).
import pytest_meshgate._targets.local.mesh_identity
import pytest_meshgate._targets.secrets  # noqa: F401

CASE_HEADER = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
"""


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a dedented file under tmp_path and return its path."""

    def write_file(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write_file


# A small feature catalogue for the catalogue, selection and report tests.
TEST_CATALOG = """\
apiVersion: conformance.meshgate.dev/v1alpha1
kind: FeatureCatalog
features:
- {name: Basic, api: istio, level: core, description: Plain routing.}
- {name: Routing, api: istio, level: core, description: Path routing.}
- {name: Fancy, api: istio, level: extended, description: Something rare.}
- {name: Secure, api: istio, level: core, description: TLS.}
profiles:
- {name: HTTP-PROFILE, description: Plain HTTP., core: [Basic, Routing], extended: [Fancy]}
- {name: TLS-PROFILE, description: TLS., core: [Basic, Secure]}
"""


@pytest.fixture
def catalog_path(write: Callable[[str, str], Path]) -> Path:
    """TEST_CATALOG written to a file."""
    return write("features.yaml", TEST_CATALOG)
