"""Cases from Python data: the forms a source takes, and problems located at the caller."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_meshgate._cases.inline import load_case, load_check, with_requests
from pytest_meshgate._cases.model.case import Check
from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._cases.yamlpos import Mark
from pytest_meshgate._errors import CaseError

GATEWAY = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "Gateway",
    "metadata": {"name": "gw"},
    "spec": {
        "selector": {"istio": "ingressgateway"},
        "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}],
    },
}
SERVICES = [{"name": "web", "ports": [{"name": "http", "port": 8000}]}]


@pytest.fixture
def origin(tmp_path: Path) -> Mark:
    return Mark(tmp_path / "test_mine.py", 12, 1)


def test_a_resource_list_a_single_resource_and_a_spec_make_the_same_case(
    origin: Mark, tmp_path: Path
) -> None:
    listed = load_case([GATEWAY], origin=origin, root=tmp_path, services=SERVICES, name="a")
    single = load_case(GATEWAY, origin=origin, root=tmp_path, services=SERVICES, name="a")
    spec = load_case(
        {"resources": [GATEWAY], "services": SERVICES}, origin=origin, root=tmp_path, name="a"
    )
    for loaded in (listed, single, spec):
        assert loaded.name == "a"
        assert [r.kind for r in loaded.resources] == ["Gateway"]
        assert [s.name for s in loaded.case.spec.services] == ["web"]
        assert loaded.case.spec.checks == []


def test_the_callers_data_is_not_changed(origin: Mark, tmp_path: Path) -> None:
    resources = [dict(GATEWAY)]
    load_case(resources, origin=origin, root=tmp_path)
    assert resources == [GATEWAY]


def test_problems_are_located_at_the_caller_with_key_paths(origin: Mark, tmp_path: Path) -> None:
    bad = {**GATEWAY, "spec": {"selector": {"istio": "ingressgateway"}, "servres": []}}
    with pytest.raises(CaseError) as caught:
        load_case([GATEWAY, bad], origin=origin, root=tmp_path)
    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == (origin.path, 12)
    assert problem.key_path == "spec.resources[1].spec.servres"
    assert "did you mean 'servers'" in problem.message


def test_arguments_that_do_not_fit_are_type_errors(origin: Mark, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="services given twice"):
        load_case({"services": SERVICES}, origin=origin, root=tmp_path, services=SERVICES)
    with pytest.raises(TypeError, match="a case file declares its own"):
        load_case("cases.yaml", origin=origin, root=tmp_path, services=SERVICES)
    with pytest.raises(TypeError, match="case= names a case of a file"):
        load_case([GATEWAY], origin=origin, root=tmp_path, case="x")
    with pytest.raises(TypeError, match="unexpected keyword argument 'service'"):
        load_case([GATEWAY], origin=origin, root=tmp_path, service=SERVICES)


def test_a_check_is_validated_against_its_case(origin: Mark, tmp_path: Path) -> None:
    loaded = load_case([GATEWAY], origin=origin, root=tmp_path, services=SERVICES)
    check = load_check(loaded, {"name": "c", "request": {"url": "http://a/"}}, origin)
    assert check.request == Request(url="http://a/")
    with pytest.raises(CaseError) as caught:
        load_check(
            loaded,
            {"name": "c", "request": {"url": "http://a/", "tls": {"clientCert": "nope"}}},
            origin,
        )
    assert [p.key_path for p in caught.value.problems] == ["request.tls.clientCert"]
    assert "'nope' is not a client secret of this case" in caught.value.problems[0].message


def test_requests_are_added_after_the_cases_own_checks(origin: Mark, tmp_path: Path) -> None:
    loaded = load_case([GATEWAY], origin=origin, root=tmp_path)
    more = with_requests(loaded, [Check(name="x", request=Request(url="http://a/"))])
    assert [c.name for c in more.case.spec.checks] == ["x"]
    assert loaded.case.spec.checks == []  # the original is left alone
    assert more.resources == loaded.resources
