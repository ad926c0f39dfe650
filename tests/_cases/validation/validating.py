"""Helpers for the validation tests: manifests of each kind, and what validating one finds.

``outcome`` reports what a cluster would answer to a manifest: the model's
errors (the API server's schema) or the validation's errors and warnings,
each as ``key.path: message``, so a table row can name the substring of
Istio's message it expects.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pydantic

from pytest_meshgate._cases.model.base import validation_problems
from pytest_meshgate._cases.model.resources import parse_resource
from pytest_meshgate._cases.validation import Report, check_resource
from pytest_meshgate._cases.yamlpos import format_key_path

Manifest = dict[str, Any]

API = "networking.istio.io/v1"


@dataclass
class Outcome:
    """What validating one manifest found."""

    model: list[str] = field(default_factory=list)  # the schema refused it (pydantic)
    errors: list[str] = field(default_factory=list)  # Istio's webhook (or CEL) refuses it
    warnings: list[str] = field(default_factory=list)  # accepted, with these warnings

    @property
    def rejected(self) -> list[str]:
        return self.model + self.errors

    def rejects(self, part: str) -> bool:
        return any(part in message for message in self.rejected)

    def warns(self, part: str) -> bool:
        return any(part in message for message in self.warnings)


def outcome(manifest: Manifest) -> Outcome:
    try:
        resource = parse_resource(manifest)
    except pydantic.ValidationError as exc:
        model = [f"{format_key_path(k)}: {m}" for k, m, _ in validation_problems(exc, manifest)]
        return Outcome(model=model)
    report = Report()
    check_resource(resource, report)
    result = Outcome()
    for finding in report.findings:
        text = f"{format_key_path(finding.key_path)}: {finding.message}"
        (result.warnings if finding.warning else result.errors).append(text)
    return result


def check_row(manifest: Manifest, error: str, warning: str = "") -> None:
    """A row of one of Istio's tables: ``error`` (or ``warning``) is a part of a message, or ""."""
    result = outcome(manifest)
    if error:
        assert result.rejects(error), (error, result)
    else:
        assert not result.rejected, result
    if warning:
        assert result.warns(warning), (warning, result)
    elif not error:
        assert not result.warnings, result


def manifest(kind: str, spec: dict[str, Any], name: str, **metadata: Any) -> Manifest:
    return {
        "apiVersion": API,
        "kind": kind,
        "metadata": {"name": name, **metadata},
        "spec": copy.deepcopy(spec),
    }


def server(
    hosts: list[str] | None = None,
    number: int = 80,
    protocol: str = "HTTP",
    name: str | None = "http",
    **extra: Any,
) -> dict[str, Any]:
    port: dict[str, Any] = {"number": number, "protocol": protocol}
    if name is not None:
        port["name"] = name
    return {"hosts": hosts or ["foo.bar.com"], "port": port, **extra}


def gateway(*servers: dict[str, Any], name: str = "gw", **metadata: Any) -> Manifest:
    spec = {"selector": {"istio": "ingressgateway"}, "servers": list(servers)}
    return manifest("Gateway", spec, name, **metadata)


def gateway_tls(tls: dict[str, Any], protocol: str = "HTTPS") -> Manifest:
    """A Gateway with one server of ``protocol`` on 443 with these TLS settings."""
    return gateway(server(number=443, protocol=protocol, name="https", tls=tls))


def route(**http: Any) -> dict[str, Any]:
    """An HTTP route to ``echo`` with ``http`` merged in."""
    return {"route": [{"destination": {"host": "echo"}}], **http}


def virtual_service(spec: dict[str, Any], name: str = "vs", **metadata: Any) -> Manifest:
    return manifest("VirtualService", spec, name, **metadata)


def http_vs(*routes: dict[str, Any], hosts: list[str] | None = None, **spec: Any) -> Manifest:
    """A VirtualService for ``foo.bar`` (mesh) with these HTTP routes."""
    return virtual_service({"hosts": hosts or ["foo.bar"], "http": list(routes), **spec})


def destination_rule(spec: dict[str, Any], name: str = "dr", **metadata: Any) -> Manifest:
    return manifest("DestinationRule", {"host": "reviews", **spec}, name, **metadata)


def traffic_policy(policy: dict[str, Any]) -> Manifest:
    return destination_rule({"trafficPolicy": policy})


def service_entry(spec: dict[str, Any], name: str = "se", **metadata: Any) -> Manifest:
    return manifest("ServiceEntry", spec, name, **metadata)


def sidecar(spec: dict[str, Any], name: str = "sc", **metadata: Any) -> Manifest:
    return manifest("Sidecar", spec, name, **metadata)
