"""Rendered objects against what the API server would check: strict schemas, names, keys, sizes.

Core objects (``v1``, ``apps/v1``) are validated against the Kubernetes
OpenAPI schema of the pinned node version, strictly (an unknown field is an
error, as ``kubectl apply --validate=strict`` makes it), with the schemas the
``kubernetes-validate`` package ships per Kubernetes version (an optional
dependency: the ``dev`` extra). Then the rules the API server applies beyond
the schema that rendering could get wrong (``pkg/apis/core/validation`` and
``apimachinery/pkg/util/validation`` in kubernetes/kubernetes): object names
(DNS-1123 labels for namespaces, DNS-1035 labels for Services, subdomains
for the rest), label keys and values, ConfigMap and Secret keys, their 1 MiB
size, container and Service port names, env variable names.

Istio's and Gateway API's objects (custom resources, not in Kubernetes'
OpenAPI schema) are not validated here: no package registry this project can
use carries the CRD schemas of the versions it supports (see
docs/kubernetes.md, "What has and has not been run"); they are returned as
unvalidated, never silently passed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

__all__ = ["KUBERNETES_VERSION", "Validation", "validate_objects"]

KUBERNETES_VERSION = "1.33"  # the pinned kind node image's (providers/releases.py)

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")
_MAX_CONFIG_BYTES = 1024 * 1024  # MaxSecretSize, also a ConfigMap's limit

_CORE_KINDS = {
    ("v1", k) for k in ("Namespace", "Secret", "ConfigMap", "Service", "ServiceAccount", "Pod")
}
_CORE_KINDS |= {("apps/v1", "Deployment")}


@dataclass
class Validation:
    """Problems found (``Kind namespace/name: where: what``) and objects left unvalidated."""

    problems: list[str] = field(default_factory=list)
    unvalidated: dict[str, str] = field(default_factory=dict)  # apiVersion/kind -> why
    validated: int = 0


def _schema_dir(version: str) -> Any:
    import importlib.resources

    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    directory = root / f"v{version}.0-local-strict"
    if not directory.is_dir():
        raise LookupError(f"kubernetes-validate has no strict schemas for Kubernetes {version}")
    return directory


@lru_cache(maxsize=32)
def _validator(version: str, api_version: str, kind: str) -> Any:
    import jsonschema
    from referencing import Registry, Resource

    directory = _schema_dir(version)
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = json.loads((directory / f"{kind.lower()}-{group}.json").read_text())
    definitions = json.loads((directory / "_definitions.json").read_text())
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _where(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {namespace}{meta.get('name')}"


def _schema_problems(obj: Mapping[str, Any], version: str) -> list[str]:
    validator = _validator(version, str(obj["apiVersion"]), str(obj["kind"]))
    problems = []
    for error in sorted(validator.iter_errors(dict(obj)), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in error.absolute_path) or "(object)"
        problems.append(f"{_where(obj)}: {path}: {error.message}")
    return problems


def _name_problems(obj: Mapping[str, Any]) -> Iterable[str]:
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    kind = obj["kind"]
    rule, pattern, limit = (
        ("a DNS-1123 label", _DNS1123_LABEL, 63)
        if kind == "Namespace"
        else ("a DNS-1035 label", _DNS1035_LABEL, 63)
        if kind == "Service"
        else ("a DNS-1123 subdomain", _DNS1123_SUBDOMAIN, 253)
    )
    if not pattern.match(name) or len(name) > limit:
        yield f"{_where(obj)}: metadata.name: {name!r} is not {rule} of at most {limit} characters"
    for where, labels in (("metadata.labels", meta.get("labels") or {}),):
        yield from _label_problems(obj, where, labels)
    if kind == "Deployment":
        template = obj["spec"]["template"]["metadata"].get("labels") or {}
        yield from _label_problems(obj, "spec.template.metadata.labels", template)


def _label_problems(obj: Mapping[str, Any], where: str, labels: Mapping[str, Any]) -> Iterable[str]:
    for key, value in labels.items():
        prefix, _, name = str(key).rpartition("/")
        if (prefix and not _DNS1123_SUBDOMAIN.match(prefix)) or not (
            _QUALIFIED_NAME.match(name) and len(name) <= 63
        ):
            yield f"{_where(obj)}: {where}: {key!r} is not a qualified label key"
        if not isinstance(value, str) or not _LABEL_VALUE.match(value) or len(value) > 63:
            yield f"{_where(obj)}: {where}.{key}: {value!r} is not a label value"


def _data_problems(obj: Mapping[str, Any]) -> Iterable[str]:
    size = 0
    for section in ("data", "stringData", "binaryData"):
        for key, value in (obj.get(section) or {}).items():
            if not _CONFIG_KEY.match(key) or len(key) > 253:
                yield f"{_where(obj)}: {section}: key {key!r} is not a valid file name"
            size += len(str(key)) + len(str(value).encode())
    if size > _MAX_CONFIG_BYTES:
        yield f"{_where(obj)}: its data is {size} bytes, over the API server's 1 MiB"


def _pod_problems(obj: Mapping[str, Any], spec: Mapping[str, Any]) -> Iterable[str]:
    for key in ("hostname", "subdomain"):
        value = spec.get(key)
        if value is not None and not _DNS1123_LABEL.match(str(value)):
            yield f"{_where(obj)}: spec.{key} {value!r} is not a DNS-1123 label"
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            name = port.get("name")
            if name is not None and (not _IANA_SVC_NAME.match(name) or "--" in name or
                                     not re.search("[a-z]", name)):  # fmt: skip
                yield f"{_where(obj)}: container {container['name']}: port name {name!r} invalid"
        for var in container.get("env") or []:
            if not _ENV_NAME.match(str(var.get("name"))):
                yield f"{_where(obj)}: container {container['name']}: env name {var.get('name')!r}"
    for volume in spec.get("volumes") or []:
        for item in (volume.get("configMap") or volume.get("secret") or {}).get("items") or []:
            path = str(item.get("path"))
            if path.startswith("/") or ".." in path.split("/"):
                yield f"{_where(obj)}: volume {volume['name']}: item path {path!r} not relative"


def _service_problems(obj: Mapping[str, Any]) -> Iterable[str]:
    spec = obj["spec"]
    ports = spec.get("ports") or []
    # ValidateService: an ExternalName Service names a DNS-1123 subdomain and has no
    # cluster IP; any other needs ports unless headless.
    if spec.get("type") == "ExternalName":
        name = str(spec.get("externalName") or "").removesuffix(".")
        if not name or len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
            yield f"{_where(obj)}: spec.externalName {name!r} is not a DNS-1123 subdomain"
        if spec.get("clusterIP") or spec.get("clusterIPs"):
            yield f"{_where(obj)}: spec.clusterIP: may not be set for ExternalName services"
    elif not ports and spec.get("clusterIP") != "None":
        yield f"{_where(obj)}: spec.ports: Required value"
    names = [p.get("name") for p in ports]
    if len(ports) > 1 and (None in names or len(set(names)) != len(names)):
        yield f"{_where(obj)}: spec.ports: several ports need distinct names"
    for name in names:
        if name is not None and not _DNS1123_LABEL.match(name):
            yield f"{_where(obj)}: spec.ports: name {name!r} is not a DNS-1123 label"


def validate_objects(
    objects: Iterable[Mapping[str, Any]], kubernetes_version: str = KUBERNETES_VERSION
) -> Validation:
    """Validate ``objects`` as the API server of ``kubernetes_version`` would (see the module)."""
    result = Validation()
    for obj in objects:
        key = (str(obj.get("apiVersion")), str(obj.get("kind")))
        if key not in _CORE_KINDS:
            # Istio's and Gateway API's kinds are CRDs, not in Kubernetes' OpenAPI
            # schema; their case models check them at collection instead.
            result.unvalidated[f"{key[0]}/{key[1]}"] = (
                "a custom resource: no CRD schema of the supported versions is available "
                "from a registry"
            )
            continue
        result.validated += 1
        result.problems += _schema_problems(obj, kubernetes_version)
        result.problems += list(_name_problems(obj))
        if obj["kind"] in ("ConfigMap", "Secret"):
            result.problems += list(_data_problems(obj))
        if obj["kind"] == "Pod":
            result.problems += list(_pod_problems(obj, obj["spec"]))
        if obj["kind"] == "Deployment":
            result.problems += list(_pod_problems(obj, obj["spec"]["template"]["spec"]))
        if obj["kind"] == "Service":
            result.problems += list(_service_problems(obj))
    return result
