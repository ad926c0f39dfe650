"""``spec.meshConfig``'s telemetry providers: Istio's defaults, merged by name, and the refusals."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pytest_meshgate._cases.model.meshconfig import MeshConfig


def mesh(**config: Any) -> MeshConfig:
    return MeshConfig.model_validate(config)


def test_istios_default_providers_are_there_without_any() -> None:
    config = mesh()
    assert sorted(config.providers()) == ["envoy", "prometheus", "stackdriver"]
    envoy = config.provider("Envoy")  # fetchProvider ignores case
    assert envoy is not None and envoy.kind == "envoyFileAccessLog"
    assert envoy.envoy_file_access_log is not None
    assert envoy.envoy_file_access_log.path == "/dev/stdout"
    assert config.default_providers.metrics == ["prometheus"]
    assert config.default_providers.access_logging == []


def test_extension_providers_merge_by_name_into_the_defaults() -> None:
    config = mesh(
        extensionProviders=[
            {"name": "envoy", "envoyFileAccessLog": {"path": "/dev/stderr"}},
            {
                "name": "otel",
                "envoyOtelAls": {"service": "otel.obs.svc.cluster.local", "port": 4317},
            },
        ]
    )
    assert sorted(config.providers()) == ["envoy", "otel", "prometheus", "stackdriver"]
    envoy = config.provider("envoy")
    assert envoy is not None and envoy.envoy_file_access_log is not None
    assert envoy.envoy_file_access_log.path == "/dev/stderr"
    otel = config.provider("otel")
    assert otel is not None and otel.kind == "envoyOtelAls"
    assert config.provider("zipkin") is None


@pytest.mark.parametrize(
    ("providers", "message"),
    [
        ([{"name": "a"}], "exactly one provider kind"),
        ([{"name": "a", "prometheus": {}, "zipkin": {}}], "exactly one provider kind"),
        ([{"name": "a", "envoyFileLog": {}}], "unknown extension provider key 'envoyFileLog'"),
        ([{"name": "", "prometheus": {}}], "at least 1 character"),
        (
            [{"name": "a", "prometheus": {}}, {"name": "a", "zipkin": {}}],
            "duplicate extension provider name 'a'",
        ),
        (
            [{"name": "a", "envoyFileAccessLog": {"path": "relative.log"}}],
            "path is an absolute path",
        ),
        (
            [
                {
                    "name": "a",
                    "envoyFileAccessLog": {"logFormat": {"text": "%RESPONSE_CODE%", "labels": {}}},
                }
            ],
            "logFormat is text or labels, not both",
        ),
    ],
)
def test_what_istio_refuses_is_refused(providers: list[Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        mesh(extensionProviders=providers)


def test_default_providers_name_lists_of_providers() -> None:
    config = mesh(defaultProviders={"accessLogging": ["envoy"], "metrics": []})
    assert config.default_providers.access_logging == ["envoy"]
    assert config.default_providers.metrics == []
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        mesh(defaultProviders={"logging": ["envoy"]})
