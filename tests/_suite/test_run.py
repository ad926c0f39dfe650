"""A failure of the harness itself, end to end: one located paragraph naming the case, no traceback."""

from __future__ import annotations

import pytest

from pytest_meshgate._errors import TargetError
from pytest_meshgate._suite.run import harness_error

pytest_plugins = ["pytester"]

CASE = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {{name: {name}}}
spec:
  services:
  - name: echo
    ports: [{{name: http, port: 8080}}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {{name: gw}}
    spec:
      selector: {{istio: ingressgateway}}
      servers:
      - port: {{number: 80, name: http, protocol: HTTP}}
        hosts: ["*"]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {{name: {vs}}}
    spec:
      hosts: ["*"]
      gateways: [gw]
      http:
      - route: [{{destination: {{host: echo}}}}]
  checks:
  - name: first
    request: {{url: "http://app.example.com/"}}
  - name: second
    request: {{url: "http://app.example.com/again"}}
"""

# The translation of one case raises what no code path expects; the calls are
# counted in a file, so the test sees how often the harness tried.
BROKEN_TRANSLATOR = """
from pathlib import Path

import pytest_meshgate._targets.local.translate as translate

real = translate.translate_gateway


def translate_gateway(world, proxy):
    names = {getattr(getattr(r, "metadata", None), "name", None) for r in world.resources}
    if "explodes" in names:
        with Path(__file__).with_name("calls.txt").open("a") as calls:
            calls.write("call\\n")
        raise ValueError("boom in translation")
    return real(world, proxy)


translate.translate_gateway = translate_gateway
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(
        ".yaml",
        good=CASE.format(name="good", vs="vs"),
        broken=CASE.format(name="broken", vs="explodes"),
    )
    pytester.makeconftest(BROKEN_TRANSLATOR)
    return pytester


def test_a_translation_that_raises_is_a_harness_error_of_each_check(
    suite: pytest.Pytester,
) -> None:
    result = suite.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ check 'first' of case 'broken' _*",
            "broken.yaml:26: case 'broken', check 'first': harness error: "
            "ValueError: boom in translation",
            "(the harness failed, not the gateway; --tb=long shows the traceback)",
            "*_ check 'second' of case 'broken' _*",
            "broken.yaml:28: case 'broken', check 'second': harness error: "
            "ValueError: boom in translation",
        ]
    )
    out = result.stdout.str()
    assert "Traceback" not in out and "raise ValueError" not in out
    # A failed deployment is remembered: the second check did not translate again.
    assert (suite.path / "calls.txt").read_text().count("call") == 1


def test_the_traceback_is_there_when_asked_for(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-p", "no:cacheprovider", "--tb=long", "broken.yaml")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "broken.yaml:26: case 'broken', check 'first': harness error: *",
            "Traceback (most recent call last):",
            "*in translate_gateway",
            '*raise ValueError("boom in translation")',
            "ValueError: boom in translation",
        ]
    )


def test_a_target_fixture_that_raises_is_a_harness_error_in_setup(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", good=CASE.format(name="good", vs="vs"))
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def meshgate_target():
            raise RuntimeError("no target today")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of check 'first' of case 'good'*",
            "good.yaml:26: case 'good', check 'first': harness error: "
            "RuntimeError: no target today",
            "*ERROR at setup of check 'second' of case 'good'*",
            "good.yaml:28: case 'good', check 'second': harness error: *",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_harness_error_message_stays_one_paragraph() -> None:
    error = harness_error("c", "k", KeyError("x" * 5000))
    assert isinstance(error, TargetError)
    text = str(error)
    assert text.startswith("case 'c', check 'k': harness error: KeyError: 'xxx")
    assert "... (5002 characters)" in text and len(text) < 1200
    assert "harness error: AssertionError: (no message)" in str(
        harness_error("c", "k", AssertionError())
    )
