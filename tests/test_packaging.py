"""Publishing: the sdist and wheel build, the wheel installs into a new venv and works there.

Offline on purpose (CI has no index): ``python -m build --no-isolation`` uses
the venv's setuptools (the ``dev`` extra), the wheel is installed with
``--no-deps --no-index``, and the new venv borrows the runtime dependencies
from this interpreter's site-packages through a ``.pth`` file, so what is
imported from ``pytest_meshgate`` there is the wheel's alone.
"""

from __future__ import annotations

import email.parser
import os
import re
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

import pytest_meshgate
from pytest_meshgate._cases.schema import case_schema_json

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[1]
VERSION = pytest_meshgate.__version__
SCHEMA = "pytest_meshgate/schema/case.schema.json"

CASE = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: from-the-wheel}
spec:
  checks:
  - name: c
    request: {url: "http://a.example.com/", methd: GET}
"""


def _clean_env() -> dict[str, str]:
    # PYTHONPATH would put this checkout's package before the wheel's.
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and wheel of a copy of the sources (the checkout stays clean)."""
    pytest.importorskip("build", reason="the dev extra's `build` is not installed")
    source = tmp_path_factory.mktemp("source")
    shutil.copytree(
        ROOT / "pytest_meshgate",
        source / "pytest_meshgate",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("pytest_meshgate-*.whl")
    return wheel


def test_the_wheel_holds_the_schema_plugin_and_metadata(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        names = set(wheel.namelist())
        assert wheel.read(SCHEMA).decode("utf-8") == case_schema_json()
        info = f"pytest_meshgate-{VERSION}.dist-info"
        metadata = email.parser.Parser().parsestr(wheel.read(f"{info}/METADATA").decode())
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert {"pytest_meshgate/py.typed", "pytest_meshgate/features.yaml"} <= names
    assert "pytest_meshgate/_cli/main.py" in names
    assert "[pytest11]\nmeshgate = pytest_meshgate.plugin" in entry_points
    assert metadata["Name"] == "pytest-meshgate" and metadata["Version"] == VERSION
    assert "Framework :: Pytest" in metadata.get_all("Classifier", [])
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File", []) == ["LICENSE"]
    assert f"{info}/licenses/LICENSE" in names
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().startswith(
        "# pytest-meshgate\n"
    )  # README.md, the long description
    urls = metadata.get_all("Project-URL", [])
    assert "Source, https://github.com/pytest-meshgate/pytest-meshgate" in urls


def test_the_sdist_holds_the_sources_and_the_schema(dist: Path) -> None:
    (sdist,) = dist.glob("pytest_meshgate-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {
        "pyproject.toml",
        "README.md",
        "LICENSE",
        SCHEMA,
        "pytest_meshgate/__main__.py",
    } <= names


def test_the_wheel_installs_into_a_new_venv_and_runs(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
    subprocess.run(
        [*install, "--no-index", "--quiet", str(_wheel(dist))],
        check=True,
        env=_clean_env(),
        timeout=300,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The runtime dependencies, from this interpreter (after the venv's own site-packages).
    (Path(purelib) / "borrowed-dependencies.pth").write_text("\n".join(site.getsitepackages()))
    work = tmp_path / "project"
    work.mkdir()
    (work / "broken.yaml").write_text(CASE)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(python), *args],
            cwd=work,
            capture_output=True,
            text=True,
            env=_clean_env(),
            timeout=300,
        )

    where = run("-c", "import pytest_meshgate; print(pytest_meshgate.__file__)")
    assert where.stdout.strip() == str(Path(purelib) / "pytest_meshgate" / "__init__.py")
    version = run("-m", "pytest_meshgate", "--version")
    assert version.returncode == 0 and version.stdout == f"pytest-meshgate {VERSION}\n"
    result = run("-m", "pytest_meshgate", "validate", "broken.yaml")
    assert result.returncode == 1
    assert result.stdout.startswith("broken.yaml:7:45: spec.checks[0].request.methd: unknown key")
    # The plugin is found through the wheel's pytest11 entry point.
    collected = run("-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "broken.yaml")
    assert collected.returncode == 1
    assert "broken.yaml::from-the-wheel" in collected.stdout


def test_the_pre_commit_hook_runs_an_existing_command() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "meshgate-validate" and hook["language"] == "python"
    assert hook["entry"] == "python -m pytest_meshgate validate"
    assert hook["require_serial"] is True
    assert re.search(hook["files"], "cases/a.yaml") and re.search(hook["files"], "b.yml")
    assert not re.search(hook["files"], "a.yaml.txt")
    result = subprocess.run(
        [sys.executable, *hook["entry"].split()[1:], "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "usage: python -m pytest_meshgate validate" in result.stdout


@pytest.mark.network
def test_pre_commit_try_repo_runs_the_hook(tmp_path: Path) -> None:
    """pre-commit itself installs the hook from this checkout and runs it on a project.

    It builds the hook's venv from the index (the runtime dependencies, Envoy's
    wheel among them: about 100 MB), so it runs only when asked:
    ``MESHGATE_NETWORK_TESTS=1`` with pre-commit on PATH.
    """
    pre_commit = shutil.which("pre-commit")
    if not os.environ.get("MESHGATE_NETWORK_TESTS") or pre_commit is None:
        pytest.skip("needs MESHGATE_NETWORK_TESTS=1, pre-commit on PATH and the package index")
    project = tmp_path / "project"
    project.mkdir()
    (project / "broken.yaml").write_text(CASE)
    (project / "ci.yml").write_text("on: [push]\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "cases"]):
        subprocess.run([*git, *command], cwd=project, check=True)
    env = {**_clean_env(), "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    result = subprocess.run(
        [pre_commit, "try-repo", str(ROOT), "meshgate-validate", "--all-files"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "meshgate validate" in result.stdout and "Failed" in result.stdout
    assert "broken.yaml:7:45: spec.checks[0].request.methd: unknown key" in result.stdout
    assert "skipped (not a meshgate case file): ci.yml" in result.stdout
