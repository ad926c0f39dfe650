"""The exception tree: bad case files, failed checks and target trouble kept apart.

::

    MeshgateError
    ├── CaseError              a case file is malformed (found at collection; never a traceback)
    ├── CheckFailed            the gateway did not do what a check expects (a test failure)
    └── TargetError            the target could not run the case at all
        ├── ConfigRejected     Envoy refused a configuration update (carries Envoy's reason)
        ├── ProxyCrashed       an Envoy process died (carries its last log lines)
        └── TargetUnavailable  the target cannot start here (no Envoy binary, no cluster, ...)

A report can then tell "your case file is wrong" (CaseError) from "the gateway
misbehaved" (CheckFailed) from "the harness could not run" (TargetError).

Warnings have their own tree, so that a run can show, silence or refuse them
by category (``-W ignore::pytest_meshgate.ReplacedResourceWarning``)::

    MeshgateWarning              something in a case file deserves a look, but it runs
    ├── WebhookWarning           what Istio's webhook accepts but warns about (a deprecated field)
    ├── ReplacedResourceWarning  a later definition of an object replaced an earlier one
    └── AnalysisWarning          what ``istioctl analyze`` reports (``--meshgate-analyze``)
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "AnalysisWarning",
    "CaseError",
    "CheckFailed",
    "ConfigRejected",
    "MeshgateError",
    "MeshgateWarning",
    "Problem",
    "ProxyCrashed",
    "ReplacedResourceWarning",
    "TargetError",
    "TargetUnavailable",
    "display_path",
    "excerpt",
]


class MeshgateError(Exception):
    """Base class of every error pytest-meshgate raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a case file, located for a human.

    ``line`` and ``column`` are 1-based, as editors show them; ``key_path`` is
    the dotted path to the offending key (``spec.checks[0].request.methd``).

    ``source`` is the offending line, taken by the loader from a file it
    accepted (a case file, or a manifest it includes); ``None`` shows no
    excerpt. Rendering never opens a file: a problem located in a file that
    is not YAML we accepted (``/proc/self/environ`` named by an include, a
    file outside the suite) must not print its content.
    """

    path: Path
    line: int
    column: int
    key_path: str
    message: str
    source: str | None = field(default=None, repr=False, compare=False)

    def headline(self) -> str:
        where = f"{display_path(self.path)}:{self.line}:{self.column}"
        if self.key_path:
            return f"{where}: {self.key_path}: {self.message}"
        return f"{where}: {self.message}"

    def render(self, width: int = 1) -> str:
        """The headline and the offending source line with a caret, rustc style."""
        lines = [self.headline()]
        if self.source is not None:
            source, caret = excerpt(self.source, self.column)
            number = str(self.line).rjust(width)
            gutter = " " * len(number)
            lines.append(f"{gutter} |")
            lines.append(f"{number} | {source}")
            lines.append(f"{gutter} | {' ' * caret}^")
        return "\n".join(lines)


# Enough of a long line to see the offending key around the caret.
_EXCERPT_WIDTH = 120


def excerpt(line: str, column: int) -> tuple[str, int]:
    """A printable window of ``line`` around ``column`` (1-based) and the caret's offset in it.

    Control and format characters become U+FFFD, one for one, so that the caret
    stays aligned and a case file cannot move the terminal's cursor or recolour it.
    """
    line = line.rstrip()
    offset = max(column - 1, 0)
    start = 0
    if len(line) > _EXCERPT_WIDTH:
        start = min(max(offset - _EXCERPT_WIDTH // 2, 0), len(line) - _EXCERPT_WIDTH)
        line = line[start : start + _EXCERPT_WIDTH]
    shown = "".join(
        "\ufffd" if unicodedata.category(c) in ("Cc", "Cf", "Cs") and c != "\t" else c for c in line
    )
    prefix = "..." if start else ""
    return prefix + shown, len(prefix) + offset - start


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it, as compilers print."""
    try:
        # realpath, not Path.resolve: a symlink loop must not raise (RuntimeError on 3.11).
        return str(Path(os.path.realpath(path)).relative_to(os.path.realpath(Path.cwd())))
    except (ValueError, OSError):
        return str(path)


class CaseError(MeshgateError):
    """A case file (or a file it includes) is malformed.

    Carries every problem found, so a user fixes them all in one round.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: (str(p.path), p.line, p.column)))
        super().__init__(self.render())

    def render(self) -> str:
        width = max((len(str(p.line)) for p in self.problems), default=1)
        return "\n\n".join(p.render(width) for p in self.problems)


class CheckFailed(MeshgateError):
    """A check's expectation was not met; the message is the whole story.

    ``failures`` are the failed expectations, one line each (``backend:
    expected reviews v2, got default/reviews v1``): what pytest's summary line
    and ``--tb=line`` show. ``brief`` is the story without the target's
    diagnostics (headers, access log, routes), for ``--tb=short``; the whole
    message when not given.
    """

    def __init__(self, message: str, failures: Sequence[str] = (), brief: str = "") -> None:
        super().__init__(message)
        self.failures = tuple(failures)
        self.brief = brief or message

    def __reduce__(self) -> tuple[type[CheckFailed], tuple[str, tuple[str, ...], str]]:
        # Pickled (multiprocessing, xdist), it keeps its failures and brief story.
        return type(self), (str(self), self.failures, self.brief)


class TargetError(MeshgateError):
    """The target could not run a case (as opposed to the case failing)."""


class ConfigRejected(TargetError):
    """Envoy rejected a configuration update; the message carries its reason."""


class ProxyCrashed(TargetError):
    """An Envoy process exited while it was needed; carries its last log lines."""


class TargetUnavailable(TargetError):
    """The target cannot be used on this machine; the message says what is missing."""


class MeshgateWarning(UserWarning):
    """Base class of every warning pytest-meshgate issues on purpose."""


class WebhookWarning(MeshgateWarning):
    """Istio accepts a case's configuration but its admission webhook warns about it.

    Emitted at collection, the message starts with ``file:line:col: key.path:``.
    """


class ReplacedResourceWarning(MeshgateWarning):
    """A case defines one object twice; the later definition replaced the earlier one."""


class AnalysisWarning(MeshgateWarning):
    """A finding of the ``istioctl analyze`` analyzers, shown with ``--meshgate-analyze``."""
