"""Running one check: skip what the target cannot do, then judge until consistent."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ._judge import await_verdict
from ._targets import required_capabilities

if TYPE_CHECKING:
    from ._loader import LoadedCase
    from ._targets import Target

__all__ = ["run_check"]


def run_check(target: Target, loaded: LoadedCase, index: int) -> None:
    """Deploy ``loaded`` on ``target`` (once per case) and judge its check ``index``."""
    check = loaded.case.spec.checks[index]
    if check.skip:
        pytest.skip(check.skip)
    missing = sorted(required_capabilities(check) - target.capabilities)
    if missing:
        pytest.skip(f"target '{target.name}' lacks capability {', '.join(missing)}")
    deployment = target.activate(loaded)
    await_verdict(
        lambda: deployment.send(check.request),
        check.expect,
        target.consistency,
        explain=deployment.explain,
        title=f"check '{check.name}' of case '{loaded.name}'",
    )
