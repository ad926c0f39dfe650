"""pytest-meshgate: declarative gateway conformance cases for pytest.

This module is the only public surface. Names are imported on first use, so
that pytest loading the plugin (``pytest_meshgate.plugin``, which imports this
package first) does not pay for pydantic, httpx or the targets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._cases.loader import LoadedCase, load_case_file
    from ._cases.model.case import Case, Check
    from ._cases.model.expect import Expect
    from ._cases.model.request import Request
    from ._cases.schema import case_schema
    from ._errors import (
        AnalysisWarning,
        CaseError,
        CheckFailed,
        ConfigRejected,
        MeshgateError,
        MeshgateWarning,
        Problem,
        ProxyCrashed,
        ReplacedResourceWarning,
        TargetError,
        TargetUnavailable,
        WebhookWarning,
    )
    from ._exchange.records import Credential, Exchange
    from ._judge.expectations import judge
    from ._judge.verdicts import Consistency
    from ._suite.api import CaseDeployer, DeployedCase, deploy
    from ._targets.base import Deployment, Target
    from ._targets.local import LocalTarget

_EXPORTS = {
    "AnalysisWarning": "._errors",
    "Case": "._cases.model.case",
    "CaseDeployer": "._suite.api",
    "CaseError": "._errors",
    "Check": "._cases.model.case",
    "CheckFailed": "._errors",
    "ConfigRejected": "._errors",
    "Consistency": "._judge.verdicts",
    "Credential": "._exchange.records",
    "DeployedCase": "._suite.api",
    "Deployment": "._targets.base",
    "Exchange": "._exchange.records",
    "Expect": "._cases.model.expect",
    "LoadedCase": "._cases.loader",
    "LocalTarget": "._targets.local",
    "MeshgateError": "._errors",
    "MeshgateWarning": "._errors",
    "Problem": "._errors",
    "ProxyCrashed": "._errors",
    "ReplacedResourceWarning": "._errors",
    "Request": "._cases.model.request",
    "Target": "._targets.base",
    "TargetError": "._errors",
    "TargetUnavailable": "._errors",
    "WebhookWarning": "._errors",
    "case_schema": "._cases.schema",
    "deploy": "._suite.api",
    "judge": "._judge.expectations",
    "load_case_file": "._cases.loader",
}

__all__ = [
    "AnalysisWarning",
    "Case",
    "CaseDeployer",
    "CaseError",
    "Check",
    "CheckFailed",
    "ConfigRejected",
    "Consistency",
    "Credential",
    "DeployedCase",
    "Deployment",
    "Exchange",
    "Expect",
    "LoadedCase",
    "LocalTarget",
    "MeshgateError",
    "MeshgateWarning",
    "Problem",
    "ProxyCrashed",
    "ReplacedResourceWarning",
    "Request",
    "Target",
    "TargetError",
    "TargetUnavailable",
    "WebhookWarning",
    "__version__",
    "case_schema",
    "deploy",
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
