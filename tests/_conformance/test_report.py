"""The ConformanceReport, the terminal summary and the Markdown matrix (_report, _matrix).

The end-to-end runs use their own small catalogue (``--meshgate-features``), so
they do not move when the suite's catalogue grows, and plain-HTTP cases with
one check each, so a run against the real local target takes a second or two.
"""

from __future__ import annotations

import copy
import datetime
import textwrap
from pathlib import Path
from typing import Any

import pytest

# Import before the in-process pytester runs (as conftest does for yaml): a
# module first imported inside a run is dropped after it, and cryptography
# re-imported later no longer recognises its own curve classes.
import trustme  # noqa: F401
import yaml
from conftest import TEST_CATALOG as CATALOG

from pytest_meshgate import __version__
from pytest_meshgate.__main__ import main
from pytest_meshgate._cases.catalog import load_catalog
from pytest_meshgate._conformance.matrix import render_matrix
from pytest_meshgate._conformance.report import (
    CaseResult,
    CheckResult,
    build_report,
    report_problems,
)
from pytest_meshgate._conformance.selection import Selection

pytest_plugins = ["pytester"]


RESOURCES = """\
  services:
  - name: reviews
    ports: [{name: http, port: 9080}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: app-gateway}
    spec:
      selector: {istio: ingressgateway}
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: [app.example.com]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [app.example.com]
      gateways: [app-gateway]
      http:
      - route: [{destination: {host: reviews}}]
"""


def case(
    name: str,
    features: list[str],
    *,
    provisional: bool = False,
    status: int = 200,
    skipped_check: bool = False,
) -> str:
    text = textwrap.dedent(
        f"""\
        apiVersion: meshgate.dev/v1alpha1
        kind: Case
        metadata:
          name: {name}
          features: [{", ".join(features)}]
          provisional: {str(provisional).lower()}
        spec:
        """
    )
    text += RESOURCES + "  checks:\n"
    text += "  - name: answers\n    request: {url: 'http://app.example.com/'}\n"
    text += f"    expect: {{status: {status}}}\n"
    if skipped_check:
        text += "  - name: later\n    skip: known issue 42\n"
        text += "    request: {url: 'http://app.example.com/'}\n"
    return text


SUITE = "---\n".join(
    [
        case("passes-core", ["Basic", "Routing"]),
        case("passes-extended", ["Basic", "Fancy"]),
        case("needs-tls", ["Basic", "Secure"]),
        case("check-skipped", ["Basic", "Routing"], skipped_check=True),
        case("explicit-skip", ["Basic", "Fancy"]),
        case("new-thing", ["Basic", "Routing"], provisional=True),
        case("no-features", []),
        case("fails", ["Basic", "Fancy"], status=418),
    ]
)

IMPLEMENTATION = [
    "--meshgate-report-organization=acme",
    "--meshgate-report-project=acme-gw",
    "--meshgate-report-url=https://example.com/acme-gw",
    "--meshgate-report-version=v1.2.3",
    "--meshgate-report-contact=@acme/maintainers, gw@example.com",
]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", features=CATALOG)
    pytester.makefile(".yaml", suite=SUITE)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "-rs",
        "suite.yaml",
        f"--meshgate-features={pytester.path / 'features.yaml'}",
        "--meshgate-supported-features=Basic,Routing,Fancy",
        "--meshgate-skip-cases=explicit-skip",
        "--meshgate-consistency-timeout=300ms",
        *args,
    )


def _status(passed: int, failed: int, skipped: int, **lists: Any) -> dict[str, Any]:
    return {"Passed": passed, "Failed": failed, "Skipped": skipped, **lists}


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["plain", "xdist"])
def test_report_shape_and_statistics_match_the_run(
    suite: pytest.Pytester, xdist: list[str]
) -> None:
    report_path = suite.path / "out" / "report.yaml"
    result = run(suite, f"--meshgate-report={report_path}", *IMPLEMENTATION, *xdist)
    # Checks: 5 passed (incl. provisional and no-features), 1 failed, 3 skipped
    # (needs-tls not supported, explicit-skip, and the `skip:` check).
    result.assert_outcomes(passed=5, failed=1, skipped=3)
    for reason in (  # -rs says why each skip happened (the order varies under xdist)
        "*not supported: implementation 'local' does not support Secure",
        "*known issue 42",
        "*skipped explicitly (--meshgate-skip-cases)",
    ):
        result.stdout.fnmatch_lines([reason])

    report = yaml.safe_load(report_path.read_text(encoding="utf-8"))
    assert report_problems(report) == []
    assert report["apiVersion"] == "conformance.meshgate.dev/v1alpha1"
    assert report["kind"] == "ConformanceReport"
    assert report["meshgateVersion"] == __version__
    assert report["implementation"] == {
        "organization": "acme",
        "project": "acme-gw",
        "url": "https://example.com/acme-gw",
        "version": "v1.2.3",
        "contact": ["@acme/maintainers", "gw@example.com"],
    }
    assert report["mode"] == "default" and report["target"] == "local"
    datetime.datetime.strptime(report["date"], "%Y-%m-%dT%H:%M:%SZ")
    # TLS-PROFILE is not claimable (Secure is unsupported), so it is not reported.
    assert [p["name"] for p in report["profiles"]] == ["HTTP-PROFILE"]
    profile = report["profiles"][0]
    core, extended = profile["core"], profile["extended"]
    assert core["result"] == "partial"
    assert core["statistics"] == _status(1, 0, 1)
    assert core["skippedTests"] == ["check-skipped"] and core["failedTests"] == []
    assert core["supportedFeatures"] == ["Basic", "Routing"] and core["unsupportedFeatures"] == []
    assert extended["result"] == "failure"
    assert extended["statistics"] == _status(1, 1, 1)
    assert extended["failedTests"] == ["fails"]
    assert extended["failedChecks"] == ["fails::answers"]
    assert extended["skippedTests"] == ["explicit-skip"]
    assert extended["supportedFeatures"] == ["Fancy"]
    assert profile["summary"] == (
        "Core tests partially succeeded with 1 test skips. "
        "Extended tests failed with 1 test failures."
    )
    # Provisional cases are reported apart, never counted in a profile.
    assert report["succeededProvisionalTests"] == ["new-thing"]
    assert report["skippedTestReasons"] == {
        "check-skipped": "check 'later' skipped: known issue 42",
        "explicit-skip": "skipped explicitly (--meshgate-skip-cases)",
    }

    result.stdout.fnmatch_lines(
        [
            "*meshgate conformance*",
            "HTTP-PROFILE: Core tests partially succeeded with 1 test skips. *",
            "  core:     partial  passed 1, failed 0, skipped 1",
            "    check-skipped: check 'later' skipped: known issue 42",
            "  extended: failure  passed 1, failed 1, skipped 1",
            "    fails: check 'answers' failed",
            "    explicit-skip: skipped explicitly (--meshgate-skip-cases)",
            "not supported, not counted: 1 cases; missing Secure (1)",
            "provisional, not counted: new-thing passed",
            "in no reported profile, not counted: 1 cases (1 name no features)",
            f"report: {report_path}",
        ]
    )


def test_report_needs_the_implementation(suite: pytest.Pytester) -> None:
    result = run(suite, "--meshgate-report=r.yaml", "--meshgate-report-organization=acme")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--meshgate-report needs the implementation it reports on: missing "
            "--meshgate-report-project, --meshgate-report-url, --meshgate-report-version, --meshgate-report-contact*"
        ]
    )
    assert not (suite.path / "r.yaml").exists()


def test_claimed_profile_runs_its_core_and_skipping_provisional(suite: pytest.Pytester) -> None:
    report_path = suite.path / "report.yaml"
    result = run(
        suite,
        "--meshgate-profile=TLS-PROFILE",
        "--meshgate-skip-provisional",
        "-k",
        "needs-tls or new-thing",
        f"--meshgate-report={report_path}",
        *IMPLEMENTATION,
    )
    # Claiming TLS-PROFILE claims Secure: needs-tls now runs (and passes: its
    # check is plain HTTP); the provisional case is skipped and never counted.
    result.assert_outcomes(passed=1, skipped=1)
    report = yaml.safe_load(report_path.read_text(encoding="utf-8"))
    assert [p["name"] for p in report["profiles"]] == ["TLS-PROFILE"]
    assert report["profiles"][0]["core"]["statistics"] == _status(1, 0, 0)
    assert report["profiles"][0]["core"]["result"] == "success"
    assert report["succeededProvisionalTests"] == []


def test_unknown_feature_is_a_collection_error_at_its_line(pytester: pytest.Pytester) -> None:
    # The shipped catalogue: a typo in a feature name is caught where it is written.
    text = case("typo", ["Gateway", "HTTPPathPrefixMatsh"]) + "---\n" + case("fine", [])
    pytester.makefile(".yaml", suite=text)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "suite.yaml:5:23: metadata.features[1]: unknown feature 'HTTPPathPrefixMatsh' "
            "(did you mean 'HTTPPathPrefixMatch'?) (features are listed in features.yaml)",
        ]
    )
    assert "meshgate conformance" not in result.stdout.str()


def test_broken_catalogue_is_one_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", features=CATALOG.replace("level: extended", "level: extra"))
    pytester.makefile(".yaml", suite=case("fine", []))
    result = pytester.runpytest(
        "-p", "no:cacheprovider", f"--meshgate-features={pytester.path / 'features.yaml'}"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*features.yaml:6:36: features?2?.level: Input should be*"])
    assert "Traceback" not in result.stdout.str()


# ------------------------------------------------------------------ report rules, offline


def _selection(tmp_path: Path, supported: set[str]) -> Selection:
    path = tmp_path / "features.yaml"
    path.write_text(CATALOG, encoding="utf-8")
    return Selection(
        catalog=load_catalog(path),
        implementation="acme",
        supported=frozenset(supported),
        source="explicit",
        claimed=("HTTP-PROFILE", "TLS-PROFILE"),
        skip_cases=frozenset(),
    )


def _case(name: str, profiles: dict[str, Any], *outcomes: str, status: str = "run") -> CaseResult:
    result = CaseResult(name, ["Basic"], False, status, "", profiles)
    for i, outcome in enumerate(outcomes):
        result.checks[f"n{i}"] = CheckResult(f"c{i}", outcome)  # type: ignore[arg-type]
    return result


def test_exempt_core_feature_of_a_claimed_profile_is_never_success(tmp_path: Path) -> None:
    selection = _selection(tmp_path, {"Basic", "Routing", "Fancy"})
    cases = [_case("a", {"HTTP-PROFILE": "core", "TLS-PROFILE": "core"}, "passed", "passed")]
    report = build_report(selection, cases, implementation=None)
    http, tls = report["profiles"]
    assert http["core"]["result"] == "success" and http["extended"]["result"] == "success"
    assert tls["core"]["unsupportedFeatures"] == ["Secure"]
    assert tls["core"]["result"] == "partial"
    assert tls["summary"].startswith("Core tests partially succeeded: some core features")


def test_case_outcome_is_its_worst_check(tmp_path: Path) -> None:
    selection = _selection(tmp_path, {"Basic", "Routing", "Fancy", "Secure"})
    profiles = {"HTTP-PROFILE": "core"}
    cases = [
        _case("all-pass", profiles, "passed", "passed"),
        _case("one-fails", profiles, "passed", "failed", "skipped"),
        _case("one-skipped", profiles, "passed", "skipped"),
        _case("interrupted", profiles, "passed", None),  # type: ignore[arg-type]
        _case("unsupported", profiles, "skipped", status="not-supported"),
    ]
    core = build_report(selection, cases, implementation=None)["profiles"][0]["core"]
    assert core["statistics"] == _status(1, 1, 2)
    assert core["failedTests"] == ["one-fails"]
    assert core["failedChecks"] == ["one-fails::c1"]
    assert core["skippedTests"] == ["interrupted", "one-skipped"]


def test_report_problems_name_what_is_missing() -> None:
    assert report_problems({"kind": "Other"}) == ["not a ConformanceReport (kind)"]
    problems = report_problems(
        {
            "kind": "ConformanceReport",
            "implementation": {"organization": "acme"},
            "profiles": [{"name": "P", "core": {"result": "ok", "statistics": {}}}],
        }
    )
    assert "missing date" in problems
    assert "implementation.contact: empty" in problems
    assert "profiles[0].core.result: not success, partial or failure" in problems
    assert "profiles[0].extended: missing" in problems


# ------------------------------------------------------------------ the matrix


def _two_reports(tmp_path: Path) -> tuple[Path, Path]:
    selection = _selection(tmp_path, {"Basic", "Routing"})
    cases = [_case("a", {"HTTP-PROFILE": "core", "TLS-PROFILE": "core"}, "passed")]
    first = build_report(
        selection,
        cases,
        implementation={
            "organization": "zeta",
            "project": "zgw",
            "url": "https://z.example",
            "version": "1.0",
            "contact": ["@z"],
        },
    )
    second = copy.deepcopy(first)
    second["implementation"].update(organization="acme", project="agw", url="https://a.example")
    tls = second["profiles"][1]["core"]
    tls["supportedFeatures"], tls["unsupportedFeatures"] = ["Basic", "Secure"], []
    tls["result"] = "success"
    http = second["profiles"][0]["extended"]
    http["supportedFeatures"], http["unsupportedFeatures"] = ["Fancy"], []
    http["result"], http["statistics"]["Skipped"] = "partial", 2
    paths = tmp_path / "zeta.yaml", tmp_path / "acme.yaml"
    for path, report in zip(paths, (first, second), strict=True):
        path.write_text(yaml.safe_dump(report, sort_keys=False), encoding="utf-8")
    return paths


def test_matrix_renders_two_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix", *map(str, _two_reports(tmp_path))]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    http = lines.index("### HTTP-PROFILE")
    assert lines[http + 2] == (
        "| Organization | Project | Version | Mode | Core | Extended | Basic | Routing | Fancy |"
    )
    # Rows sorted by organization: acme before zeta.
    assert lines[http + 4] == (
        "| acme | [agw](https://a.example) | 1.0 | default | ✅ success (1 passed) "
        "| ⚠️ partial (0 passed, 2 skipped), 1/1 features | ✅ | ✅ | ✅ |"
    )
    assert lines[http + 5] == (
        "| zeta | [zgw](https://z.example) | 1.0 | default | ✅ success (1 passed) "
        "| ✅ success (0 passed), 0/1 features | ✅ | ✅ | ❌ |"
    )
    tls = lines.index("### TLS-PROFILE")
    assert lines[tls + 4].endswith("| ✅ | ✅ |") and lines[tls + 5].endswith("| ✅ | ❌ |")


def test_matrix_one_profile_and_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = list(map(str, _two_reports(tmp_path)))
    assert main(["matrix", "--profile", "TLS-PROFILE", *paths]) == 0
    out = capsys.readouterr().out
    assert "### TLS-PROFILE" in out and "HTTP-PROFILE" not in out
    bogus = tmp_path / "bogus.yaml"
    bogus.write_text("kind: Case\n", encoding="utf-8")
    assert main(["matrix", paths[0], str(bogus)]) == 2
    assert "bogus.yaml: not a ConformanceReport (kind)" in capsys.readouterr().err


def test_matrix_from_loaded_reports_marks_unknown_features() -> None:
    report: dict[str, Any] = {
        "implementation": {"organization": "o", "project": "p", "url": "u", "version": "1"},
        "mode": "gateway-namespace",
        "profiles": [
            {
                "name": "P",
                "core": {
                    "result": "failure",
                    "statistics": {"Passed": 1, "Failed": 2, "Skipped": 0},
                    "supportedFeatures": ["A"],
                    "unsupportedFeatures": [],
                },
                "extended": {
                    "result": "success",
                    "statistics": {"Passed": 0, "Failed": 0, "Skipped": 0},
                    "supportedFeatures": [],
                    "unsupportedFeatures": [],
                },
            }
        ],
    }
    other = copy.deepcopy(report)
    other["profiles"][0]["extended"]["unsupportedFeatures"] = ["B|C"]
    out = render_matrix([report, other])
    assert "| o | [p](u) | 1 | gateway-namespace | ❌ failure (1 passed, 2 failed) |" in out
    assert "| A | B\\|C |" in out  # pipes in names cannot break the table
    assert out.count("| ✅ | n/a |") == 1 and out.count("| ✅ | ❌ |") == 1


def test_sessions_without_case_files_never_load_the_conformance_model(
    pytester: pytest.Pytester,
) -> None:
    # The plugin loads in every session of every project that has it installed.
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    pytester.makeconftest(
        "import sys\n"
        "def pytest_sessionfinish(session):\n"
        "    loaded = [m for m in sys.modules if m.startswith('pytest_meshgate._')]\n"
        "    print('LOADED', sorted(loaded))\n"
    )
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    (line,) = [line for line in result.stdout.lines if "LOADED" in line]
    assert "_conformance" not in line and "_report" not in line and "pydantic" not in line


def test_a_cluster_run_keeps_a_partial_report_while_it_goes_and_drops_it_at_the_end(
    tmp_path: Path,
) -> None:
    from types import SimpleNamespace

    from pytest_meshgate._conformance.report import Recorder

    path = tmp_path / "reports" / "kind.yaml"
    recorder = Recorder(_selection(tmp_path, {"Basic"}), report_path=path, partial_every=0.0)
    props = {"case": "a", "check": "c0", "features": ["Basic"], "provisional": False,
             "status": "run", "reason": "", "profiles": {"HTTP-PROFILE": "core"}}  # fmt: skip
    for when, outcome in (("setup", "passed"), ("call", "passed"), ("teardown", "passed")):
        report = SimpleNamespace(
            user_properties=[("meshgate_conformance", props)], nodeid="f::a::c0", when=when,
            failed=False, skipped=False, passed=outcome == "passed",
        )  # fmt: skip
        recorder.add(report)  # type: ignore[arg-type]
    partial = tmp_path / "reports" / "kind.partial.yaml"
    assert partial.is_file() and not path.exists()  # what ran so far, before the end
    profiles = {p["name"]: p for p in yaml.safe_load(partial.read_text())["profiles"]}
    assert profiles["HTTP-PROFILE"]["core"]["statistics"]["Passed"] == 1
    recorder.finish()
    assert path.is_file() and not partial.exists()


GATEWAY_API_CATALOG = """\
apiVersion: conformance.meshgate.dev/v1alpha1
kind: FeatureCatalog
features:
- {name: Gateway, api: istio, level: core, description: Istio's Gateway.}
- {name: KubernetesGateway, upstream: Gateway, api: gateway-api, level: core, description: GW.}
- {name: HTTPRoute, api: gateway-api, level: core, description: Routes.}
- {name: HTTPRouteQueryParamMatching, api: gateway-api, level: extended, description: Query.}
profiles:
- {name: ISTIO, description: Istio., core: [Gateway]}
- {name: GATEWAY-HTTP, description: HTTP., core: [KubernetesGateway, HTTPRoute], extended: [HTTPRouteQueryParamMatching]}
"""


def test_gateway_api_profiles_name_features_as_the_go_suite_does(tmp_path: Path) -> None:
    path = tmp_path / "features.yaml"
    path.write_text(GATEWAY_API_CATALOG, encoding="utf-8")
    selection = Selection(
        catalog=load_catalog(path),
        implementation="acme",
        supported=frozenset({"Gateway", "KubernetesGateway", "HTTPRoute"}),
        source="explicit",
        claimed=("GATEWAY-HTTP",),
        skip_cases=frozenset(),
    )
    cases = [
        CaseResult(
            "httproute-simple",
            ["KubernetesGateway", "HTTPRoute"],
            False,
            "run",
            "",
            {"GATEWAY-HTTP": "core"},
        )
    ]
    cases[0].checks["n"] = CheckResult("c", "passed")
    report = build_report(selection, cases, implementation=None)
    (profile,) = report["profiles"]
    assert profile["core"]["supportedFeatures"] == ["Gateway", "HTTPRoute"]
    assert profile["extended"]["unsupportedFeatures"] == ["HTTPRouteQueryParamMatching"]
    assert (report["gatewayAPIVersion"], report["gatewayAPIChannel"]) == ("v1.6.1", "standard")
    # An Istio profile's report says nothing of a Gateway API release.
    istio = build_report(
        Selection(
            selection.catalog, "acme", selection.supported, "explicit", ("ISTIO",), frozenset()
        ),
        [],
        implementation=None,
    )
    assert "gatewayAPIVersion" not in istio and istio["profiles"][0]["core"][
        "supportedFeatures"
    ] == ["Gateway"]
