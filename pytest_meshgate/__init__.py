"""pytest-meshgate: declarative gateway conformance cases for pytest.

This module is the only public surface. Names are imported on first use, so
that pytest loading the plugin (``pytest_meshgate.plugin``, which imports this
package first) does not pay for pydantic, httpx or the targets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ._client import Exchange
    from ._errors import (
        CaseError,
        CheckFailed,
        ConfigRejected,
        MeshgateError,
        Problem,
        ProxyCrashed,
        TargetError,
        TargetUnavailable,
    )
    from ._judge import Consistency, judge
    from ._loader import LoadedCase, load_case_file
    from ._model.case import Case, Check, Expect, Request
    from ._schema import case_schema
    from ._targets import Deployment, Target
    from ._targets.local import LocalTarget

_EXPORTS = {
    "Case": "._model.case",
    "CaseError": "._errors",
    "Check": "._model.case",
    "CheckFailed": "._errors",
    "ConfigRejected": "._errors",
    "Consistency": "._judge",
    "Deployment": "._targets",
    "Exchange": "._client",
    "Expect": "._model.case",
    "LoadedCase": "._loader",
    "LocalTarget": "._targets.local",
    "MeshgateError": "._errors",
    "Problem": "._errors",
    "ProxyCrashed": "._errors",
    "Request": "._model.case",
    "Target": "._targets",
    "TargetError": "._errors",
    "TargetUnavailable": "._errors",
    "case_schema": "._schema",
    "judge": "._judge",
    "load_case_file": "._loader",
}

__all__ = [
    "Case",
    "CaseError",
    "Check",
    "CheckFailed",
    "ConfigRejected",
    "Consistency",
    "Deployment",
    "Exchange",
    "Expect",
    "LoadedCase",
    "LocalTarget",
    "MeshgateError",
    "Problem",
    "ProxyCrashed",
    "Request",
    "Target",
    "TargetError",
    "TargetUnavailable",
    "__version__",
    "case_schema",
    "judge",
    "load_case_file",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_meshgate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
