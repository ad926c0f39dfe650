"""Case files in, validated cases (or located problems) out.

One bad document never hides the good ones: every document is validated on
its own, and each failure becomes a :class:`CaseError` for that document only.
A YAML syntax error spoils the whole file, since nothing after it can be
trusted. Loading never raises for what a file holds, whatever it holds
(``tests/_cases/test_hostile.py`` mutates the suite's own files to check).
"""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .._errors import CaseError, Problem
from .._grpcwire import STATUS_NAMES
from .apply import Replacement, apply_in_order
from .appworkloads import with_app_services
from .exported import unwrap_lists
from .includes import Includes
from .model.base import KeyPath, validation_problems
from .model.case import Case
from .model.request import Request
from .model.workloads import DEFAULT_GATEWAYS, headless_pod_name
from .nearmiss import CASE_API_VERSION, api_version_hint, kind_hint
from .source import Source
from .yamlpos import Document, Mark, Positions, format_key_path, load_documents

__all__ = [
    "CaseFile",
    "InvalidDocument",
    "LoadedCase",
    "load_case_file",
    "load_document",
    "reference_problems",
]


@dataclass
class LoadedCase:
    """A valid case with its parsed resources and where each key came from.

    ``resources`` are the objects the case's manifests leave when applied in
    document order (``apply``): a repeated object once, as last defined.
    ``resource_paths`` are the key paths of those definitions in ``positions``
    (``("spec", "resources", 3)``, includes expanded); ``replacements`` say
    which definitions replaced which.
    """

    case: Case
    path: Path
    start: Mark
    positions: Positions
    resources: tuple[Any, ...] = ()
    resource_paths: tuple[KeyPath, ...] = ()
    replacements: tuple[Replacement, ...] = ()
    # What Istio's webhook would warn about the resources (it accepts them).
    warnings: tuple[Problem, ...] = ()

    @property
    def name(self) -> str:
        return self.case.name

    def mark(self, key_path: KeyPath) -> Mark:
        return self.positions.locate(key_path) or self.start

    def check_mark(self, index: int) -> Mark:
        return self.mark(("spec", "checks", index))

    def resource_mark(self, index: int, key_path: KeyPath = ()) -> Mark:
        """Where ``key_path`` of ``resources[index]`` is written (or its nearest ancestor)."""
        if index >= len(self.resource_paths):  # built without paths: the case's start
            return self.start
        return self.mark((*self.resource_paths[index], *key_path))


@dataclass
class InvalidDocument:
    """A document that failed validation: its name if one could be read, and why."""

    name: str
    start: Mark
    error: CaseError


@dataclass
class CaseFile:
    """Everything one case file yielded, in document order."""

    path: Path
    cases: list[LoadedCase] = field(default_factory=list)
    invalid: list[InvalidDocument] = field(default_factory=list)


def load_case_file(path: Path, root: Path | None = None, source: Source | None = None) -> CaseFile:
    """Load and validate every case in ``path``; never raises for bad content.

    ``root`` is the include root: includes resolve only to files below it
    (default: the case file's own directory; the plugin passes pytest's
    rootdir or ``meshgate-include-root``). ``source``: the file's text, read
    already (the documentation's examples, cut out of a Markdown file).
    """
    result = CaseFile(path)
    try:
        documents = load_documents(path, source)
    except CaseError as exc:
        result.invalid.append(InvalidDocument(path.stem, Mark(path, 1, 1), exc))
        return result

    include_root = Path(os.path.realpath(root if root is not None else path.parent))
    includes = Includes(path, include_root, used=sum(d.nodes for d in documents))
    names: dict[str, Mark] = {}
    for document in documents:
        loaded, error = load_document(path, document, includes)
        name = _document_name(document)
        if loaded is not None and name in names:
            first = names[name]
            problem = _problem(
                document.positions,
                ("metadata", "name"),
                f"duplicate case name '{name}' (first used on line {first.line})",
                path,
            )
            error, loaded = CaseError([problem]), None
        if loaded is not None:
            names[name] = loaded.start
            result.cases.append(loaded)
        else:
            assert error is not None
            result.invalid.append(InvalidDocument(name, document.start, error))
    return result


def _document_name(document: Document) -> str:
    data = document.data
    if isinstance(data, dict):
        metadata = data.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
            return str(metadata["name"])
    return f"document-{document.index + 1}"


def load_document(
    path: Path, document: Document, includes: Includes, model: type[Case] = Case
) -> tuple[LoadedCase | None, CaseError | None]:
    """One document validated as a case (``model``: ``Case``, or one whose checks may be
    absent); the case, or the error of every problem found."""
    data = document.data
    positions = Positions(dict(document.positions.keys), dict(document.positions.values))
    if not isinstance(data, dict):
        return None, CaseError([document.start.problem("", _not_a_case(data))])

    problems: list[Problem] = []
    data = includes.expand(data, positions, problems)
    # kubectl get -o yaml output as it is: Lists unwrapped, server-set fields dropped.
    data = unwrap_lists(data, positions, problems, document.start)
    if problems:
        return None, CaseError(problems)

    try:
        case = model.model_validate(data)
    except ValidationError as exc:
        for key_path, message, at_key in validation_problems(exc, data):
            if at_key:
                message += _did_you_mean(_case_schema(), key_path)
            elif key_path in (("apiVersion",), ("kind",)):
                message = _header_message(data, key_path[0], message)
            problems.append(_problem(positions, key_path, message, path, at_key=at_key))
        return None, CaseError(problems)

    warnings: list[Problem] = []
    resources = _parse_resources(case, positions, path, problems, warnings)
    if not problems:
        case = with_app_services(case, resources, positions, path, problems)
    problems.extend(reference_problems(case, positions, path))
    problems.extend(_port_problems(case, positions, path))
    if not problems:
        problems.extend(_resource_reference_problems(case, resources, positions, path))
    if not problems:
        from .validation import expected_warnings

        warnings, stale = expected_warnings(
            warnings, case.metadata.expected_warnings, positions, path
        )
        problems.extend(stale)
    if problems:
        return None, CaseError(problems)
    applied = apply_in_order(
        resources,
        [("spec", "resources", i) for i in range(len(resources))],
        lambda key_path: positions.locate(key_path) or document.start,
    )
    loaded = LoadedCase(
        case,
        path,
        document.start,
        positions,
        applied.resources,
        applied.paths,
        applied.replacements,
        tuple(warnings),
    )
    return loaded, None


@functools.cache
def _case_schema() -> dict[str, Any]:
    from .schema import case_schema

    return case_schema()


@functools.cache
def _resource_schema(api_version: str, kind: str) -> dict[str, Any] | None:
    from .schema import resource_schema

    return resource_schema(api_version, kind)


def _did_you_mean(schema: dict[str, Any] | None, key_path: KeyPath) -> str:
    """`` (did you mean 'method'?)`` for a misspelt key, else the keys allowed there."""
    from .schema import allowed_keys

    if schema is None:
        return ""
    allowed = allowed_keys(schema, key_path[:-1])
    if not allowed:
        return ""
    close = difflib.get_close_matches(str(key_path[-1]), allowed, n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (allowed: {', '.join(allowed)})"


def _header_message(data: dict[str, Any], key: str, message: str) -> str:
    """A misspelt ``apiVersion`` or ``kind`` of a case, said as one (``nearmiss``)."""
    api_version = data.get("apiVersion")
    if key == "apiVersion":
        return api_version_hint(api_version) or message
    if api_version == CASE_API_VERSION or api_version_hint(api_version) is not None:
        return kind_hint(data.get("kind"))
    return message


def _not_a_case(data: Any) -> str:
    kind = type(data).__name__ if data is not None else "nothing"
    return f"a case document must be a mapping with apiVersion, kind, metadata, spec; got {kind}"


def _problem(
    positions: Positions, key_path: KeyPath, message: str, path: Path, *, at_key: bool = False
) -> Problem:
    mark = positions.locate(key_path, prefer_key=at_key)
    if mark is None:
        return Problem(path, 1, 1, format_key_path(key_path), message)
    return mark.problem(format_key_path(key_path), message)


# ------------------------------------------------------------------ resources


def _parse_resources(
    case: Case, positions: Positions, path: Path, problems: list[Problem], warnings: list[Problem]
) -> list[Any]:
    from .model.resources import UnsupportedResource, parse_resource
    from .validation import validate_resource

    parsed: list[Any] = []
    for i, raw in enumerate(case.spec.resources):
        base: KeyPath = ("spec", "resources", i)
        wrong = [
            k
            for k in ("apiVersion", "kind")
            if raw.get(k) is not None and not isinstance(raw[k], str)
        ]
        if wrong:  # a list or mapping here would not even be hashable for the kind lookup
            message = f"a manifest's {wrong[0]} must be a string"
            problems.append(_problem(positions, (*base, wrong[0]), message, path))
            continue
        try:
            resource = parse_resource(raw)
        except UnsupportedResource as exc:
            problems.append(_problem(positions, (*base, "kind"), str(exc), path))
        except ValidationError as exc:
            for key_path, message, at_key in validation_problems(exc, raw):
                if at_key:
                    schema = _resource_schema(str(raw.get("apiVersion")), str(raw.get("kind")))
                    message += _did_you_mean(schema, key_path)
                problems.append(_problem(positions, base + key_path, message, path, at_key=at_key))
        else:
            parsed.append(resource)
            # What a cluster would refuse although the model accepts it (Istio's webhook).
            findings = validate_resource(resource, positions, base, path)
            problems.extend(findings.errors)
            warnings.extend(findings.warnings)
    return parsed


# ------------------------------------------------------------------ references


def reference_problems(case: Case, positions: Positions, path: Path) -> Iterable[Problem]:
    """Names that must refer to something declared in the case (its checks' too)."""
    spec = case.spec

    def problem(key_path: KeyPath, message: str) -> Problem:
        return _problem(positions, key_path, message, path)

    yield from _duplicates(
        [(f"{s.namespace}/{s.name}", ("spec", "services", i)) for i, s in enumerate(spec.services)],
        "service",
        problem,
    )
    yield from _duplicates(
        [(c.name, ("spec", "clients", i)) for i, c in enumerate(spec.clients)], "client", problem
    )
    yield from _duplicates(
        [(g.name, ("spec", "gateways", i)) for i, g in enumerate(spec.gateways)], "gateway", problem
    )
    yield from _duplicates(
        [(s.name, ("spec", "secrets", i)) for i, s in enumerate(spec.secrets)], "secret", problem
    )
    yield from _duplicates(
        [(c.name, ("spec", "checks", i)) for i, c in enumerate(spec.checks)], "check", problem
    )

    secrets = {s.name: s for s in spec.secrets}
    cas = {"default"} | {s.name for s in spec.secrets if s.type == "ca"}
    gateways = set(DEFAULT_GATEWAYS) | {g.name for g in spec.gateways}
    clients = {c.name for c in spec.clients}
    services: dict[str, set[str]] = {}
    podless: set[str] = set()  # ExternalName and selector services: the echo never answers as them
    headless_pods: dict[str, set[str]] = {}
    for service in spec.services:
        if not service.runs_pods:
            podless.add(service.name)
            continue
        services.setdefault(service.name, set()).update(service.versions)
        if service.headless:
            headless_pods.setdefault(service.name, set()).update(
                headless_pod_name(service, v, i)
                for v in service.versions
                for i in range(service.replicas)
            )
    workloads = gateways | clients | set(services)

    for i, gateway in enumerate(spec.gateways):
        if gateway.name in DEFAULT_GATEWAYS:
            yield problem(
                ("spec", "gateways", i, "name"), f"'{gateway.name}' is a built-in gateway name"
            )

    for i, secret in enumerate(spec.secrets):
        if secret.type != "ca" and secret.issuer not in cas:
            yield problem(
                ("spec", "secrets", i, "issuer"),
                f"unknown issuer '{secret.issuer}' (CAs: {', '.join(sorted(cas))})",
            )

    for i, service in enumerate(spec.services):
        for j, port in enumerate(service.ports):
            if port.tls and port.tls.secret is not None:
                server_secret = secrets.get(port.tls.secret)
                if server_secret is None or server_secret.type not in ("server", "mutual"):
                    yield problem(
                        ("spec", "services", i, "ports", j, "tls", "secret"),
                        f"'{port.tls.secret}' is not a server or mutual secret of this case",
                    )

    for i, check in enumerate(spec.checks):
        base: KeyPath = ("spec", "checks", i)
        # A status check sends nothing: no request names to check.
        request, expect = check.request or _NO_REQUEST, check.expect
        # ``namespace/name`` addresses a Gateway API Gateway (checked with the resources).
        if (
            request.gateway is not None
            and "/" not in request.gateway
            and request.gateway not in gateways
        ):
            yield problem(
                (*base, "request", "gateway"),
                f"unknown gateway '{request.gateway}' (known: {', '.join(sorted(gateways))})",
            )
        if request.from_ is not None and request.from_ not in clients:
            yield problem(
                (*base, "request", "from"),
                f"unknown client '{request.from_}'"
                + (
                    f" (clients: {', '.join(sorted(clients))})" if clients else " (no spec.clients)"
                ),
            )
        if request.tls is not None:
            if request.tls.client_cert is not None:
                client_secret = secrets.get(request.tls.client_cert)
                if client_secret is None or client_secret.type != "client":
                    yield problem(
                        (*base, "request", "tls", "clientCert"),
                        f"'{request.tls.client_cert}' is not a client secret of this case",
                    )
            if request.tls.ca not in cas:
                yield problem(
                    (*base, "request", "tls", "ca"),
                    f"unknown CA '{request.tls.ca}' (CAs: {', '.join(sorted(cas))})",
                )
        backend = expect.backend_ref
        if backend is not None:
            key: KeyPath = (*base, "expect", "backend")
            if backend.service in podless and backend.service not in services:
                yield problem(
                    key,
                    f"service '{backend.service}' runs no pods of its own (ExternalName or "
                    "selector): the pods that answer report their own service",
                )
            elif backend.service not in services:
                yield problem(key, f"unknown service '{backend.service}'")
            elif (
                backend.pod is not None
                and backend.service in headless_pods
                and backend.pod not in headless_pods[backend.service]
            ):
                known = ", ".join(sorted(headless_pods[backend.service]))
                yield problem(
                    (*key, "pod"),
                    f"service '{backend.service}' has no pod '{backend.pod}' ({known})",
                )
            elif backend.version is not None and backend.version not in services[backend.service]:
                known = ", ".join(sorted(services[backend.service]))
                yield problem(
                    key, f"service '{backend.service}' has no version '{backend.version}' ({known})"
                )
        if expect.via is not None and expect.via not in workloads:
            yield problem((*base, "expect", "via"), f"unknown workload '{expect.via}'")
        for field_name, labels in (("split", expect.split), ("counts", expect.counts)):
            for key_name in labels or {}:
                kind, _, rest = key_name.partition("/")
                if kind == "status":
                    if not (rest.isdigit() and 100 <= int(rest) <= 599):
                        yield problem((*base, "expect", field_name), f"bad status '{key_name}'")
                elif kind in ("connection", "header"):
                    continue  # the model checked the outcome or header name
                elif kind == "grpc" and rest in STATUS_NAMES:  # not a version: those are slugs
                    if request.grpc is None:
                        yield problem(
                            (*base, "expect", field_name),
                            f"'{key_name}' counts gRPC statuses; it needs request.grpc",
                        )
                elif kind not in services or (rest and rest not in services[kind]):
                    yield problem(
                        (*base, "expect", field_name),
                        f"'{key_name}' is neither service[/version] of this case, status/NNN, "
                        "grpc/<STATUS>, connection/<outcome> nor header/<name>",
                    )
        for mirror in expect.mirrors:
            key = (*base, "expect", "mirroredTo")
            if mirror.service not in services:
                yield problem(key, f"unknown service '{mirror.service}'")
            elif mirror.version is not None and mirror.version not in services[mirror.service]:
                yield problem(key, f"service '{mirror.service}' has no version '{mirror.version}'")


def _port_problems(case: Case, positions: Positions, path: Path) -> Iterator[Problem]:
    """Ports repeated in one case Service or gateway workload (Kubernetes refuses it).

    A ServiceEntry's repeated ports are Istio's webhook's to refuse, in its words
    (``_cases/validation/serviceentry.py``).
    """
    _Ports = list[tuple[KeyPath, str, int]]
    services: list[_Ports] = [
        [(("spec", "services", i, "ports", j), p.name, p.port) for j, p in enumerate(s.ports)]
        for i, s in enumerate(case.spec.services)
    ]
    gateways: list[_Ports] = [
        [(("spec", "gateways", i, "ports", j), p.name, p.port) for j, p in enumerate(g.ports)]
        for i, g in enumerate(case.spec.gateways)
    ]
    for ports in services + gateways:
        seen: set[tuple[str, object]] = set()
        for key_path, name, number in ports:
            for key, value, message in (
                ("name", name, f"duplicate port name '{name}'"),
                ("port", number, f"duplicate port {number}"),
            ):
                if (key, value) in seen:
                    yield _problem(positions, (*key_path, key), message, path)
                seen.add((key, value))


def _resource_reference_problems(
    case: Case, resources: tuple[Any, ...] | list[Any], positions: Positions, path: Path
) -> Iterable[Problem]:
    """Names in checks that must refer to a resource of the case (``request.gateway: ns/name``)."""
    from .model.resources import reference_problems

    for key_path, message in reference_problems(case, resources):
        yield _problem(positions, key_path, message, path)


_NO_REQUEST = Request(url="http://no.request/")


def _duplicates(entries: list[tuple[str, KeyPath]], what: str, problem: Any) -> Iterator[Problem]:
    seen: dict[str, KeyPath] = {}
    for name, key_path in entries:
        if name in seen:
            yield problem((*key_path, "name"), f"duplicate {what} '{name}'")
        else:
            seen[name] = key_path
