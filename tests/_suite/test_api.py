"""The Python API end to end: a user's own test file, run by pytester on the real local target.

Every test here runs a test module a user could write (``meshgate_deploy``,
``pytest_meshgate.deploy``) against real Envoys and echo backends, real
requests and, for TLS, a plain httpx client of the user's trusting the CA
the API hands out.
"""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

# What the user's module starts with: resources as dicts, as they would be loaded from YAML.
PRELUDE = """
import ssl
import sys

import httpx
import pytest

import pytest_meshgate
from pytest_meshgate import CaseDeployer, CaseError, CheckFailed, TargetError

GATEWAY = {
    "apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "app"},
    "spec": {"selector": {"istio": "ingressgateway"}, "servers": [
        {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["app.example.com"]},
    ]},
}
SUBSETS = {
    "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "reviews"},
    "spec": {"host": "reviews", "subsets": [
        {"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}},
    ]},
}
SERVICES = [{"name": "reviews", "ports": [{"name": "http", "port": 9080}], "versions": ["v1", "v2"]}]


def route_to(subset):
    return {
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "reviews"},
        "spec": {"hosts": ["app.example.com", "reviews"], "gateways": ["app", "mesh"],
                 "http": [{"route": [{"destination": {"host": "reviews", "subset": subset}}]}]},
    }
"""


def user_module(pytester: pytest.Pytester, body: str) -> None:
    pytester.makepyfile(test_user=PRELUDE + textwrap.dedent(body))


def line_of(pytester: pytest.Pytester, text: str) -> int:
    """The 1-based line of ``text`` in the user's module."""
    lines = (pytester.path / "test_user.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_parametrized_routing_with_send_and_expect(pytester: pytest.Pytester) -> None:
    user_module(
        pytester,
        """
        @pytest.mark.parametrize("version", ["v1", "v2"])
        def test_routes(meshgate_deploy: CaseDeployer, version: str) -> None:
            case = meshgate_deploy([GATEWAY, route_to(version), SUBSETS], services=SERVICES)
            exchange = case.expect(
                {"url": "http://app.example.com/reviews/1"},
                {"backend": {"service": "reviews", "version": version}},
            )
            assert exchange.response is not None and exchange.response.echo["version"] == version
            # One attempt, judged by the test itself.
            sent = case.send("http://app.example.com/other")
            assert sent.response.status == 200 and sent.response.echo["path"] == "/other"
            # A host no server has: Envoy's 404.
            assert case.send("http://nowhere.example.com/").response.status == 404
            assert case.name == f"test-routes-{version}"
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_routes?v1? PASSED*", "*test_routes?v2? PASSED*"])


def test_a_failing_expect_tells_the_case_checks_story(pytester: pytest.Pytester) -> None:
    user_module(
        pytester,
        """
        def test_wrong_version(meshgate_deploy):
            case = meshgate_deploy([GATEWAY, route_to("v1"), SUBSETS], services=SERVICES)
            case.expect("http://app.example.com/r", {"backend": {"service": "reviews", "version": "v2"}})
        """,
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--meshgate-consistency-timeout=500ms"
    )
    result.assert_outcomes(failed=1)
    line = line_of(pytester, "case.expect(")
    out = result.stdout.str()
    # The same loop (attempts, N in a row), the same story, ending at the user's line.
    result.stdout.fnmatch_lines(
        [
            f"E * expect #1 (test_user.py:{line}) of case 'test-wrong-version' failed: "
            "* attempts in *s, needed 3 passing in a row",
            "E * backend: expected reviews v2, got default/reviews v1",
            "E * access log of istio-ingressgateway:",
            "E * routes of virtual host 'app.example.com:80'*",
        ]
    )
    assert "_judge/verdicts.py" not in out  # no harness frames: the message is the story


def test_invalid_data_is_a_case_error_at_the_calling_line(pytester: pytest.Pytester) -> None:
    user_module(
        pytester,
        """
        BAD = {**route_to("v1"), "spec": {"hosts": ["app.example.com"], "http": [{"rout": []}]}}

        def test_bad_resource(meshgate_deploy):
            with pytest.raises(CaseError) as caught:
                meshgate_deploy([GATEWAY, BAD], services=SERVICES)
            print("RESOURCE:", caught.value)

        def test_bad_expectation(meshgate_deploy):
            case = meshgate_deploy([GATEWAY, route_to("v1"), SUBSETS], services=SERVICES)
            with pytest.raises(CaseError) as caught:
                case.expect("http://app.example.com/", {"backend": {"service": "ratings"}, "statuss": 200})
            print("EXPECT:", caught.value)
            with pytest.raises(CaseError) as caught:
                case.send({"url": "ftp://app.example.com/"})
            print("REQUEST:", caught.value)

        def test_uncaught(meshgate_deploy):
            meshgate_deploy({"resources": [GATEWAY], "services": [{"name": "x", "ports": []}]})
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=2, failed=1)
    resource = line_of(pytester, "meshgate_deploy([GATEWAY, BAD]")
    expect = line_of(pytester, '"statuss": 200')
    send = line_of(pytester, "ftp://")
    out = result.stdout.str()
    assert (
        f"RESOURCE: test_user.py:{resource}:1: spec.resources[1].spec.http[0].rout: "
        "unknown key (did you mean 'route'?)"
    ) in out
    assert f"EXPECT: test_user.py:{expect}:1: expect.statuss: unknown key" in out
    assert f"REQUEST: test_user.py:{send}:1: request.url: not an http:// or https:// URL" in out
    # Uncaught, it fails the test in one located line, as a bad case file would.
    uncaught = line_of(pytester, 'meshgate_deploy({"resources"')
    assert f"CaseError: test_user.py:{uncaught}:1: spec.services[0].ports: List should" in out


def test_a_reference_the_case_lacks_is_a_case_error(pytester: pytest.Pytester) -> None:
    user_module(
        pytester,
        """
        def test_unknown_service(meshgate_deploy):
            case = meshgate_deploy([GATEWAY, route_to("v1"), SUBSETS], services=SERVICES)
            case.expect("http://app.example.com/", {"backend": {"service": "ratings"}})
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    line = line_of(pytester, "case.expect(")
    assert (
        f"test_user.py:{line}:1: expect.backend: unknown service 'ratings'" in result.stdout.str()
    )


def test_tls_with_the_users_own_httpx_client(pytester: pytest.Pytester) -> None:
    user_module(
        pytester,
        """
        TLS_GATEWAY = {
            "apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "app"},
            "spec": {"selector": {"istio": "ingressgateway"}, "servers": [{
                "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                "tls": {"mode": "MUTUAL", "credentialName": "app-credential"},
                "hosts": ["app.example.com"],
            }]},
        }
        SECRETS = [
            {"name": "app-credential", "namespace": "istio-system", "type": "mutual",
             "hosts": ["app.example.com"]},
            {"name": "good-client", "type": "client", "hosts": ["client.example.com"]},
        ]

        def test_mutual_tls(meshgate_deploy, tmp_path):
            case = meshgate_deploy(
                [TLS_GATEWAY, route_to("v1"), SUBSETS], services=SERVICES, secrets=SECRETS
            )
            host, port = case.gateway_address(443)
            client = case.credentials()["good-client"]
            (tmp_path / "client.pem").write_bytes(client.cert_pem + client.key_pem)
            context = ssl.create_default_context(cadata=case.ca_pem().decode())
            url = f"https://{host}:{port}/reviews"
            sni = {"sni_hostname": "app.example.com"}
            headers = {"Host": "app.example.com"}
            # Without a client certificate the handshake is refused (MUTUAL)...
            with httpx.Client(verify=context) as plain, pytest.raises(httpx.TransportError, match="certificate required"):
                plain.get(url, headers=headers, extensions=sni)
            # ...with the case's client credential it is served, verified against the run's CA.
            context.load_cert_chain(tmp_path / "client.pem")
            with httpx.Client(verify=context) as mine:
                response = mine.get(url, headers=headers, extensions=sni)
            assert response.status_code == 200, response.text
            assert response.json()["version"] == "v1"
            # A client that does not trust the run's CA refuses the gateway's certificate.
            with httpx.Client(verify=ssl.create_default_context()) as stranger:
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    stranger.get(url, headers=headers, extensions=sni)
            # The harness's own client, through expect, agrees.
            case.expect(
                {"url": "https://app.example.com/", "tls": {"clientCert": "good-client"}},
                {"backend": "reviews", "tls": {"peerCertificate": {"san": ["app.example.com"]}}},
            )
            assert client.ca_pem == case.ca_pem()
            assert case.credentials()["app-credential"].type == "mutual"
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_files_documents_specs_and_mesh_clients(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        cases=textwrap.dedent(
            """\
            apiVersion: meshgate.dev/v1alpha1
            kind: Case
            metadata: {name: first}
            spec:
              services: [{name: web, ports: [{name: http, port: 8000}]}]
              resources:
              - include: manifests/gateway.yaml
              - apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: web}
                spec:
                  hosts: [app.example.com]
                  gateways: [app]
                  http: [{route: [{destination: {host: web}}]}]
              checks:
              - name: web
                request: {url: "http://app.example.com/"}
                expect: {backend: web}
            ---
            apiVersion: meshgate.dev/v1alpha1
            kind: Case
            metadata: {name: second}
            spec:
              checks:
              - {name: nothing, request: {url: "http://app.example.com/"}, expect: {connection: refused}}
            """
        ),
    )
    (pytester.path / "manifests").mkdir()
    (pytester.path / "manifests" / "gateway.yaml").write_text(
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: app}\n"
        "spec:\n  selector: {istio: ingressgateway}\n  servers:\n"
        "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [app.example.com]\n"
    )
    user_module(
        pytester,
        """
        @pytest.fixture(scope="module")
        def first(meshgate_target):
            # A case file's case, deployed once for the module.
            with pytest_meshgate.deploy(meshgate_target, "cases.yaml", case="first") as deployed:
                yield deployed

        def test_file_case(first):
            assert [c.name for c in first.case.spec.checks] == ["web"]
            first.expect("http://app.example.com/", {"backend": "web"})

        def test_a_file_with_two_cases_needs_a_name(meshgate_deploy):
            with pytest.raises(CaseError, match="holds 2 cases .first, second.: name one with case="):
                meshgate_deploy("cases.yaml")
            with pytest.raises(CaseError, match="no case 'third' .cases: first, second."):
                meshgate_deploy("cases.yaml", case="third")

        def test_case_document_and_spec(meshgate_deploy):
            document = {
                "apiVersion": "meshgate.dev/v1alpha1", "kind": "Case", "metadata": {"name": "doc"},
                "spec": {"services": SERVICES, "resources": [GATEWAY, route_to("v2"), SUBSETS]},
            }
            assert meshgate_deploy(document).expect(
                "http://app.example.com/", {"backend": {"service": "reviews", "version": "v2"}}
            ).response.status == 200
            spec = {"services": SERVICES, "resources": [{"include": "manifests/gateway.yaml"}, route_to("v1")]}
            case, line = meshgate_deploy(spec, name="from-spec"), sys._getframe().f_lineno
            assert case.name == "from-spec"
            # No DestinationRule for the subset: the story ends with istioctl analyze's finding,
            # located at the line that deployed the case.
            with pytest.raises(CheckFailed) as caught:
                case.expect("http://app.example.com/", {"backend": "reviews"})
            assert "flags=NC" in str(caught.value)
            assert (
                f"Error [IST0101] (VirtualService default/reviews test_user.py:{line}) "
                'Referenced host+subset in destinationrule not found: "reviews+v1"'
            ) in str(caught.value)

        def test_a_mesh_client_is_set_up_when_first_used(meshgate_deploy):
            case = meshgate_deploy(
                [route_to("v2"), SUBSETS], services=SERVICES, clients=[{"name": "sleep"}]
            )
            exchange = case.expect(
                {"from": "sleep", "url": "http://reviews:9080/"},
                {"backend": {"service": "reviews", "version": "v2"}, "via": "sleep"},
            )
            assert exchange.extra["client"] == "sleep"

        def test_a_replaced_case_refuses_requests(meshgate_deploy):
            old = meshgate_deploy([GATEWAY, route_to("v1"), SUBSETS], services=SERVICES)
            new = meshgate_deploy([GATEWAY, route_to("v2"), SUBSETS], services=SERVICES)
            with pytest.raises(TargetError, match="no longer deployed: another case replaced it"):
                old.send("http://app.example.com/")
            new.expect("http://app.example.com/", {"backend": {"service": "reviews", "version": "v2"}})
        """,
    )
    # The API's cases and a case file's checks share the session's target.
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-v",
        "--meshgate-consistency-timeout=1s",
        "test_user.py",
        "cases.yaml",
    )
    result.assert_outcomes(passed=7)
