"""A dry run: every object the kind or cluster target would apply for each case, as YAML files.

``python -m pytest_meshgate render --target kind|cluster [--profile P] PATH... --output DIR``
writes ``DIR/<case-name>.yaml`` per case: the objects in apply order
(``manifests.apply_phases``), each as ``kubectl apply`` takes it, so they can
be read, diffed, validated and ``kubectl apply --dry-run=server``-ed.
Nothing talks to a cluster. TLS material is generated as on a run (trustme,
fresh keys each time: the files hold private keys of throwaway test CAs);
namespaces get the prefix a deployment named ``render/<case>`` gets.

What the target does besides applying these is listed at the top of each
file: the CoreDNS rewrite of external names (an edit of
``kube-system/coredns``), node ports chosen on kind, the one-second gaps
between Istio objects of different creation times.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import yaml

from ..._cases.loader import LoadedCase, load_case_file
from .build import build_parts
from .manifests import apply_phases, render_case
from .namespaces import NamespacePlan, k8s_name, service_namespace
from .target import render_settings

__all__ = ["case_files", "render_loaded", "render_paths"]

RUN = "render"


class _Dumper(yaml.SafeDumper):
    """Multi-line text (the echo's source, PEM) as literal blocks, readable and diffable."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def case_files(paths: Sequence[Path]) -> Iterator[Path]:
    """The case files among ``paths`` (directories searched), in a stable order."""
    from ..._cases.yamlpos import looks_like_case_file

    for path in paths:
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        for candidate in candidates:
            if candidate.suffix in (".yaml", ".yml") and looks_like_case_file(candidate):
                yield candidate


def render_loaded(
    loaded: LoadedCase, target: str, values: Mapping[str, str | None]
) -> list[dict[str, Any]]:
    """The objects the target applies for ``loaded``, in apply order."""
    from .material import TrustmeMaterial

    _, adapter, settings = build_parts(target, values)
    case = loaded.case
    plan = NamespacePlan.for_case(
        case, f"{RUN}/{case.name}", system=frozenset({adapter.system_namespace, "kube-system"})
    )
    objects = render_case(
        case, plan, render_settings(adapter, settings, case.name, RUN), TrustmeMaterial(case)
    )
    return objects


def _header(loaded: LoadedCase, target: str, values: Mapping[str, str | None]) -> str:
    case = loaded.case
    plan = NamespacePlan.for_case(case, f"{RUN}/{case.name}")
    lines = [
        f"# Case {case.name} ({loaded.path}) as the {target} target applies it"
        + (f", istio profile {values.get('istio-profile')}" if values.get("istio-profile") else ""),
        "# (python -m pytest_meshgate render). Objects in apply order; besides them the target",
    ]
    externals = [s for s in case.spec.services if s.external]
    if externals:
        lines.append("# - adds a CoreDNS rewrite to kube-system/coredns before the Services:")
        for service in externals:
            where = f"{k8s_name(service.name)}.{service_namespace(service, plan)}.svc.cluster.local"
            lines.append(f"#     {service.name} -> {where}")
    lines += [
        "# - on kind, gives gateway Services the NodePorts kind maps to 127.0.0.1:30080-30099;",
        "# - applies Istio objects of different creationTimestamps a second apart (the API",
        "#   server stamps them), and waits for readiness after the Deployments and Pods.",
    ]
    return "\n".join(lines) + "\n"


def render_paths(
    target: str,
    paths: Sequence[Path],
    output: Path,
    values: Mapping[str, str | None],
    err: IO[str] = sys.stderr,
) -> int:
    """Write one file per case; 0 if every case rendered, 1 if any file had invalid cases."""
    output.mkdir(parents=True, exist_ok=True)
    status = 0
    written: dict[str, Path] = {}
    for path in case_files(paths):
        loaded_file = load_case_file(path)
        for invalid in loaded_file.invalid:
            err.write(invalid.error.render() + "\n")
            status = 1
        for loaded in loaded_file.cases:
            name = loaded.case.name
            if name in written:
                err.write(f"{path}: case {name} also in {written[name]}; not written again\n")
                status = 1
                continue
            objects = render_loaded(loaded, target, values)
            phases = apply_phases(objects)
            documents = [obj for phase in phases for obj in phase]
            text = _header(loaded, target, values) + yaml.dump_all(
                documents, Dumper=_Dumper, sort_keys=False, explicit_start=True, width=100
            )
            destination = output / f"{name}.yaml"
            destination.write_text(text)
            written[name] = path
    if not written and status == 0:
        err.write("render: no case files found in " + ", ".join(map(str, paths)) + "\n")
        return 1
    return status
