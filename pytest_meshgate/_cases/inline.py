"""Cases from Python data: a Case document, a spec or resources as dicts, validated as files are.

The Python API (``pytest_meshgate.deploy``) builds its cases here. They go
through the loader's own ``load_document`` (the case model, every resource's
model and Istio's webhook rules, includes, references), so a dict is refused
exactly where a case file would be. Dicts have no lines: every problem is
located at the caller's line (``origin``), with its key path.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Union

from pydantic import ValidationError

from .._errors import CaseError, Problem
from .includes import Includes
from .loader import LoadedCase, load_case_file, load_document, reference_problems
from .model.base import validation_problems
from .model.case import API_VERSION, CaseWithoutChecks, Check
from .yamlpos import Document, Mark, Positions, format_key_path

__all__ = ["CaseSource", "load_case", "load_check", "with_checks", "with_requests"]

CaseSource = Union[str, "os.PathLike[str]", Mapping[str, Any], Sequence[Mapping[str, Any]]]
"""A case file's path, a Case document, a case's ``spec``, one resource, or a list of them."""

_SPEC_KEYS = ("services", "clients", "gateways", "secrets")


def load_case(
    source: CaseSource,
    *,
    origin: Mark,
    root: Path,
    case: str | None = None,
    name: str = "python-api",
    **spec: Sequence[Mapping[str, Any]] | None,
) -> LoadedCase:
    """The validated case ``source`` describes.

    A path is a case file (``case`` names one of its cases; needed when it
    has several). A mapping whose ``apiVersion`` is ``meshgate.dev/...`` is
    a Case document; another mapping with an ``apiVersion`` is one
    resource; a mapping without one is a case's ``spec``; a list holds
    resources. ``spec`` (``services``, ``clients``, ``gateways``,
    ``secrets``) completes the last three, whose case is called ``name``.
    Includes resolve from ``origin``'s directory, within ``root``.

    Raises:
        CaseError: the file or data is not a valid case (every problem, located).
        TypeError: arguments that do not fit together.
    """
    given = {key: list(value) for key, value in spec.items() if value is not None}
    unknown = sorted(set(given) - set(_SPEC_KEYS))
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}")
    if isinstance(source, (str, os.PathLike)):
        if given:
            raise TypeError(f"{', '.join(sorted(given))}: a case file declares its own")
        return _from_file(Path(source), case, root)
    if case is not None:
        raise TypeError("case= names a case of a file; this source is data")
    if isinstance(source, Mapping) and str(source.get("apiVersion", "")).startswith(
        "meshgate.dev/"
    ):  # a Case document
        if given:
            raise TypeError(f"{', '.join(sorted(given))}: a Case document declares its own")
        document: dict[str, Any] = copy.deepcopy(dict(source))
    else:
        if isinstance(source, Mapping) and "apiVersion" not in source:
            case_spec = copy.deepcopy(dict(source))
        elif isinstance(source, Mapping):
            case_spec = {"resources": [copy.deepcopy(dict(source))]}
        elif isinstance(source, Sequence):
            case_spec = {"resources": [copy.deepcopy(dict(r)) for r in source]}  # type: ignore[arg-type]
        else:
            raise TypeError(f"cannot build a case from {type(source).__name__}")
        for key, value in given.items():
            if key in case_spec:
                raise TypeError(f"{key} given twice: in the spec and as an argument")
            case_spec[key] = copy.deepcopy(value)
        document = {
            "apiVersion": API_VERSION,
            "kind": "Case",
            "metadata": {"name": name},
            "spec": case_spec,
        }
    return _from_data(document, origin, root)


def _from_file(path: Path, name: str | None, root: Path) -> LoadedCase:
    loaded = load_case_file(path, root=root)
    if name is None:
        if len(loaded.cases) == 1 and not loaded.invalid:
            return loaded.cases[0]
        if loaded.invalid and not loaded.cases and len(loaded.invalid) == 1:
            raise loaded.invalid[0].error
        names = [c.name for c in loaded.cases] + [d.name for d in loaded.invalid]
        message = f"holds {len(names)} cases ({', '.join(names)}): name one with case="
        raise CaseError([Problem(path, 1, 1, "", message)])
    for found in loaded.cases:
        if found.name == name:
            return found
    for invalid in loaded.invalid:
        if invalid.name == name:
            raise invalid.error
    names = [c.name for c in loaded.cases] + [d.name for d in loaded.invalid]
    message = f"no case '{name}' (cases: {', '.join(names) or 'none'})"
    raise CaseError([Problem(path, 1, 1, "", message)])


def _from_data(document: dict[str, Any], origin: Mark, root: Path) -> LoadedCase:
    positions = Positions(values={(): origin})
    includes = Includes(origin.path, Path(os.path.realpath(root)))
    loaded, error = load_document(
        origin.path, Document(document, positions, origin, 0), includes, CaseWithoutChecks
    )
    if error is not None:
        raise error
    assert loaded is not None
    return loaded


def load_check(loaded: LoadedCase, data: Mapping[str, Any], origin: Mark) -> Check:
    """A check (``name``, ``request``, ``expect``, as in a case file) of ``loaded``, validated
    with the case: its model, then what its names refer to (services, secrets, clients).

    Raises:
        CaseError: located at ``origin``, key paths from the check (``expect.backend``).
    """
    positions = Positions(values={(): origin})
    try:
        check = Check.model_validate(dict(data))
    except ValidationError as exc:
        problems = [
            origin.problem(format_key_path(key_path), message)
            for key_path, message, _ in validation_problems(exc, dict(data))
        ]
        raise CaseError(problems) from None
    alone = with_checks(loaded, [check])
    prefix = "spec.checks[0]."
    problems = [
        dataclasses.replace(p, key_path=p.key_path.removeprefix(prefix))
        for p in reference_problems(alone.case, positions, origin.path)
    ]
    if problems:
        raise CaseError(problems)
    return check


def with_checks(loaded: LoadedCase, checks: Sequence[Check]) -> LoadedCase:
    """``loaded`` with ``checks`` instead of its own (the same resources and positions)."""
    spec = loaded.case.spec.model_copy(update={"checks": list(checks)})
    return dataclasses.replace(loaded, case=loaded.case.model_copy(update={"spec": spec}))


def with_requests(loaded: LoadedCase, checks: Sequence[Check]) -> LoadedCase:
    """``loaded`` with ``checks`` added after its own: a target that sets up only what
    checks use (the local target's gateways and sidecar ports) then sets up theirs too."""
    return with_checks(loaded, [*loaded.case.spec.checks, *checks])
