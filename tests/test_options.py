"""The option table: parsed once into Settings, a bad value is one usage error before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_meshgate._options import OPTIONS, Settings, settings_of

pytest_plugins = ["pytester"]

CASE = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: nothing-to-run}
spec:
  checks:
  - name: would need a target
    request: {url: "http://a.example.com/"}
"""


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        (
            "--meshgate-consistency-timeout=soon",
            "--meshgate-consistency-timeout=soon: not a duration",
        ),
        ("--meshgate-request-timeout=0", "--meshgate-request-timeout=0: must be longer than zero"),
        ("--meshgate-consecutive-successes=0", "not a whole number of at least 1"),
        ("--meshgate-consecutive-successes=three", "not a whole number of at least 1"),
        (
            "--meshgate-envoy-log-level=loud",
            "--meshgate-envoy-log-level: unknown envoy-log-level 'loud'",
        ),
        (
            "--meshgate-target=kin",
            "--meshgate-target: unknown target 'kin' (local, kind, cluster) (did you mean 'kind'?)",
        ),
        ("--meshgate-kind-keep=maybe", "--meshgate-kind-keep=maybe: not yes or no"),
        ("--meshgate-istio-profile=tiny", "unknown istio-profile 'tiny'"),
        ("--meshgate-lanes=0", "--meshgate-lanes=0: not auto or a whole number from 1 to 16"),
        ("--meshgate-lanes=many", "--meshgate-lanes=many: not auto or a whole number"),
    ],
)
def test_a_bad_value_is_one_usage_error_before_anything_runs(
    pytester: pytest.Pytester, argument: str, message: str
) -> None:
    pytester.makefile(".yaml", case=CASE)
    result = pytester.runpytest_subprocess(argument)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    result.stdout.no_fnmatch_line("*would need a target*")


def test_ini_keys_are_read_and_the_command_line_wins(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\n"
        "meshgate-request-timeout = 2s\n"
        "meshgate-consecutive-successes = 5\n"
        "meshgate-skip-cases = a, b\n"
        "meshgate-skip-provisional = true\n"
        "meshgate-report = out/report.yaml\n"
    )
    config = pytester.parseconfig("--meshgate-request-timeout=250ms")
    settings = settings_of(config)
    assert settings.request_timeout == 0.25
    assert settings.consecutive_successes == 5
    assert settings.skip_cases == {"a", "b"}
    assert settings.skip_provisional is True
    assert settings.report == Path(config.invocation_params.dir) / "out" / "report.yaml"
    # Parsed once: the same object on every call.
    assert settings_of(config) is settings


def test_settings_are_frozen_and_name_every_option() -> None:
    settings = Settings.from_values({"target": "kind", "kind-cluster-name": "ci"})
    with pytest.raises(AttributeError):
        settings.target = "local"  # type: ignore[misc]
    assert settings.kubernetes["kind-cluster-name"] == "ci"
    assert set(settings.kubernetes) == {o.name for o in OPTIONS if o.group == "kubernetes"}
    with pytest.raises(
        pytest.UsageError, match="unknown option 'targte' \\(did you mean 'target'\\?\\)"
    ):
        Settings.from_values({"targte": "local"})


def test_report_needs_every_implementation_field() -> None:
    settings = Settings.from_values(
        {"report": "r.yaml", "report-organization": "acme", "report-contact": "@a, b@c.d"}
    )
    assert settings.missing_report_fields() == [
        "--meshgate-report-project",
        "--meshgate-report-url",
        "--meshgate-report-version",
    ]
    assert settings.implementation["contact"] == ("@a", "b@c.d")


def test_every_option_is_documented_in_pytest_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    text = result.stdout.str()
    for option in OPTIONS:
        assert f"--{option.key}" in text


def test_include_root_is_unset_by_default_and_anchored_at_the_invocation_dir(
    tmp_path: Path,
) -> None:
    assert Settings.from_values({}).include_root is None
    settings = Settings.from_values({"include-root": "suites/shared"}, base=tmp_path)
    assert settings.include_root == tmp_path / "suites" / "shared"
    assert Settings.from_values({"include-root": "/abs"}, base=tmp_path).include_root == Path(
        "/abs"
    )


def test_lanes_are_auto_unless_a_number_is_given() -> None:
    assert Settings.from_values({}).lanes is None
    assert Settings.from_values({"lanes": "auto"}).lanes is None
    assert Settings.from_values({"lanes": "2"}).lanes == 2
