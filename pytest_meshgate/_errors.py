"""The exception tree: bad case files, failed checks and target trouble kept apart.

::

    MeshgateError
    ├── CaseError              a case file is malformed (found at collection; never a traceback)
    ├── CheckFailed            the gateway did not do what a check expects (a test failure)
    └── TargetError            the target could not run the case at all
        ├── ConfigRejected     Envoy refused a configuration update (carries Envoy's reason)
        ├── ProxyCrashed       an Envoy process died (carries its last log lines)
        └── TargetUnavailable  the target cannot start here (no Envoy binary, no cluster, ...)

    MeshgateWarning (UserWarning)  what Istio accepts but warns about (e.g. a deprecated field)

A report can then tell "your case file is wrong" (CaseError) from "the gateway
misbehaved" (CheckFailed) from "the harness could not run" (TargetError).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CaseError",
    "CheckFailed",
    "ConfigRejected",
    "MeshgateError",
    "MeshgateWarning",
    "Problem",
    "ProxyCrashed",
    "TargetError",
    "TargetUnavailable",
    "display_path",
]


class MeshgateError(Exception):
    """Base class of every error pytest-meshgate raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a case file, located for a human.

    ``line`` and ``column`` are 1-based, as editors show them; ``key_path`` is
    the dotted path to the offending key (``spec.checks[0].request.methd``).
    """

    path: Path
    line: int
    column: int
    key_path: str
    message: str

    def headline(self) -> str:
        where = f"{display_path(self.path)}:{self.line}:{self.column}"
        if self.key_path:
            return f"{where}: {self.key_path}: {self.message}"
        return f"{where}: {self.message}"

    def render(self, width: int = 1) -> str:
        """The headline and the offending source line with a caret, rustc style."""
        lines = [self.headline()]
        source = _source_line(self.path, self.line)
        if source is not None:
            number = str(self.line).rjust(width)
            gutter = " " * len(number)
            lines.append(f"{gutter} |")
            lines.append(f"{number} | {source}")
            lines.append(f"{gutter} | {' ' * (self.column - 1)}^")
        return "\n".join(lines)


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it, as compilers print."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _source_line(path: Path, line: int) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    source_lines = text.splitlines()
    if 1 <= line <= len(source_lines):
        return source_lines[line - 1].rstrip()
    return None


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


class MeshgateWarning(UserWarning):
    """Istio accepts a case's configuration but warns about it (its webhook's warnings).

    Emitted at collection, the message starts with ``file:line:col: key.path:``.
    """


class CheckFailed(MeshgateError):
    """A check's expectation was not met; the message is the whole story."""


class TargetError(MeshgateError):
    """The target could not run a case (as opposed to the case failing)."""


class ConfigRejected(TargetError):
    """Envoy rejected a configuration update; the message carries its reason."""


class ProxyCrashed(TargetError):
    """An Envoy process exited while it was needed; carries its last log lines."""


class TargetUnavailable(TargetError):
    """The target cannot be used on this machine; the message says what is missing."""
