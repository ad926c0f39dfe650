"""How a failed check reads in pytest's report: its summary line and its story per ``--tb``."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

from .._errors import CheckFailed, TargetError

__all__ = ["SERIALIZED_KEY", "CheckFailureRepr", "FailureLine", "failure_repr"]

# Under pytest-xdist a report travels to the controller as JSON, where a
# longrepr that is not a Python traceback becomes its text; the plugin's
# serialization hooks carry ours under this key and rebuild it.
SERIALIZED_KEY = "meshgate_failure"
# Closes a --tb=short story that left something out.
_SHORT_HINT = "(--tb=long adds the headers, the target's diagnostics and the case's warnings)"


@dataclass(frozen=True)
class FailureLine:
    """``path:line: message``: where the check is and what failed, on one line.

    pytest reads it as a longrepr's ``reprcrash`` (the shape of its
    ``ReprFileLocation``): the ``-r`` short test summary and JUnit's
    ``message`` attribute take ``message``, ``--tb=line`` prints the whole line.
    """

    path: str
    lineno: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.lineno}: {self.message}"

    def toterminal(self, tw: Any) -> None:
        tw.line(str(self))


@dataclass(frozen=True)
class CheckFailureRepr:
    """A failed check's longrepr: the one-line summary and the story the ``--tb`` style asks for.

    ``text`` is what the FAILURES section shows (empty for ``--tb=line``, whose
    line pytest prints from ``reprcrash``); ``str()`` is the text JUnit's body
    and plugins that read longreprs as strings get.
    """

    reprcrash: FailureLine
    text: str

    def toterminal(self, tw: Any) -> None:
        lines = self.text.splitlines()
        for number, line in enumerate(lines):
            # The first line is the located summary: the glance.
            tw.line(line, red=number == 0, bold=number == 0)

    def __str__(self) -> str:
        return self.text or str(self.reprcrash)

    def to_json(self) -> dict[str, Any]:
        crash = self.reprcrash
        return {
            "path": crash.path,
            "lineno": crash.lineno,
            "message": crash.message,
            "text": self.text,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckFailureRepr:
        crash = FailureLine(str(data["path"]), int(data["lineno"]), str(data["message"]))
        return cls(crash, str(data["text"]))


def failure_repr(
    error: BaseException, path: str, line: int, style: str, verbose: int
) -> CheckFailureRepr:
    """The report of a check that ended in ``error`` (a ``MeshgateError``), located at
    ``path:line``, for the ``--tb`` ``style``.

    - ``long``, ``auto`` (and ``native``): the whole story, located; a harness
      error (a ``TargetError`` with a cause) with the cause's traceback on
      ``long``, ``native`` or ``-vv``;
    - ``short``: a compact story (a check: headline, request and status lines,
      failed expectations; an error: its message without traceback);
    - ``line``: nothing but the summary line; ``no``: pytest shows nothing.

    The summary line is the failed expectations (``backend: expected reviews
    v2, got default/reviews v1``, several joined by ``; ``), else the error's
    first line.
    """
    message = str(error)
    if isinstance(error, CheckFailed) and error.failures:
        summary = "; ".join(error.failures)
    else:
        summary = next((x for x in message.splitlines() if x.strip()), type(error).__name__)
    crash = FailureLine(path, line, summary)
    if style == "line":
        return CheckFailureRepr(crash, "")
    story = message
    if style == "short" and isinstance(error, CheckFailed) and error.brief != message:
        story = f"{error.brief}\n{_SHORT_HINT}"
    # An error whose first line is its summary is not repeated.
    text = f"{path}:{line}: {story}" if story.startswith(summary) else f"{crash}\n{story}"
    cause = error.__cause__
    wants_traceback = style in ("long", "native") or verbose >= 2
    if isinstance(error, TargetError) and cause is not None and wants_traceback:
        text += "\n\n" + "".join(traceback.format_exception(cause)).rstrip()
    return CheckFailureRepr(crash, text)
