"""The public surface is exactly __all__, and importing the plugin stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest_meshgate


def test_all_names_resolve() -> None:
    for name in pytest_meshgate.__all__:
        assert getattr(pytest_meshgate, name) is not None, name


def test_all_is_sorted_and_unique() -> None:
    names = [n for n in pytest_meshgate.__all__ if n != "__version__"]
    assert names == sorted(set(names))


def test_plugin_import_does_not_load_heavy_modules() -> None:
    code = (
        "import sys, pytest_meshgate.plugin\n"
        "heavy = [m for m in ('pydantic', 'httpx', 'trustme', 'pytest_meshgate._targets.base',"
        " 'pytest_meshgate._cases.model.case') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
