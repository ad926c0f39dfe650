"""Tests of case file loading: validation, includes, references, isolation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytest_meshgate._cases.loader import load_case_file

Write = Callable[[str, str], Path]

GOOD = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: NAME}
spec:
  services:
  - name: reviews
    ports: [{name: http, port: 9080}]
    versions: [v1, v2]
  checks:
  - name: reaches reviews
    request: {url: "http://app.example.com/"}
    expect: {backend: {service: reviews, version: v1}}
"""


def headlines(result_path: Path) -> list[str]:
    result = load_case_file(result_path)
    return [p.headline() for d in result.invalid for p in d.error.problems]


def test_valid_case_loads_with_defaults(write: Write) -> None:
    result = load_case_file(write("c.yaml", GOOD.replace("NAME", "good")))
    assert not result.invalid
    (loaded,) = result.cases
    check = loaded.case.spec.checks[0]
    assert check.expect.statuses == (200,)
    assert check.request.workload == "ingress"
    assert loaded.case.spec.services[0].namespace == "default"
    assert loaded.check_mark(0).line == 10


def test_unknown_key_names_file_line_column_and_suggests(write: Write) -> None:
    path = write("c.yaml", GOOD.replace("NAME", "x").replace("{url:", "{methd: GET, url:"))
    (line,) = headlines(path)
    assert line == (
        f"{path}:11:15: spec.checks[0].request.methd: unknown key (did you mean 'method'?)"
    )


def test_union_tags_never_leak_into_key_paths(write: Write) -> None:
    path = write("c.yaml", GOOD.replace("NAME", "x").replace("{service: reviews,", "{servic: r,"))
    lines = headlines(path)
    assert all(".str" not in line and "BackendRef" not in line for line in lines), lines
    assert any("expect.backend.servic: unknown key (did you mean 'service'?)" in x for x in lines)
    assert any("expect.backend: missing required key 'service'" in x for x in lines)


def test_bad_document_does_not_hide_the_others(write: Write) -> None:
    text = GOOD.replace("NAME", "one") + "---" + GOOD.replace("NAME", "two").replace("9080", "0")
    text += "---" + GOOD.replace("NAME", "three")
    result = load_case_file(write("c.yaml", text))
    assert [c.name for c in result.cases] == ["one", "three"]
    assert [d.name for d in result.invalid] == ["two"]
    (problem,) = result.invalid[0].error.problems
    assert problem.key_path == "spec.services[0].ports[0].port"
    assert problem.line == 20


def test_duplicate_case_names_in_a_file(write: Write) -> None:
    text = GOOD.replace("NAME", "same") + "---" + GOOD.replace("NAME", "same")
    result = load_case_file(write("c.yaml", text))
    assert len(result.cases) == 1
    (problem,) = result.invalid[0].error.problems
    assert "duplicate case name 'same' (first used on line 1)" in problem.message


def test_references_are_checked(write: Write) -> None:
    text = (
        GOOD.replace("NAME", "refs")
        .replace("request: {url:", "request: {gateway: nowhere, url:")
        .replace("version: v1}", "version: v9}")
    )
    lines = headlines(write("c.yaml", text))
    assert any("request.gateway: unknown gateway 'nowhere'" in x for x in lines)
    assert any("service 'reviews' has no version 'v9' (v1, v2)" in x for x in lines)


def test_yaml_syntax_error_spoils_only_that_file(write: Write) -> None:
    path = write("c.yaml", "apiVersion: meshgate.dev/v1alpha1\nkind: [Case\n")
    result = load_case_file(path)
    assert not result.cases
    (problem,) = result.invalid[0].error.problems
    assert problem.message.startswith("invalid YAML")


def test_errors_inside_an_included_file_point_into_it(write: Write) -> None:
    write(
        "manifests/vs.yaml",
        """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: vs}
        spec:
          hosts: [app.example.com]
          gateways: [gw]
          http:
          - route:
            - destination: {host: reviews, prot: 3}
        """,
    )
    text = GOOD.replace("NAME", "inc").replace(
        "  checks:", "  resources:\n  - include: manifests/vs.yaml\n  checks:"
    )
    path = write("c.yaml", text)
    (line,) = headlines(path)
    included = path.parent / "manifests" / "vs.yaml"
    assert line == (
        f"{included}:9:36: spec.resources[0].spec.http[0].route[0].destination.prot: "
        "unknown key (did you mean 'port'?)"
    )


def test_missing_include_is_located_in_the_case_file(write: Write) -> None:
    text = GOOD.replace("NAME", "inc").replace(
        "  checks:", "  resources:\n  - include: nowhere.yaml\n  checks:"
    )
    path = write("c.yaml", text)
    (line,) = headlines(path)
    assert line.startswith(f"{path}:10:14: spec.resources[0].include: included file not found")


def test_connection_expectation_excludes_http_ones(write: Write) -> None:
    text = GOOD.replace("NAME", "conn").replace(
        "expect: {backend:", "expect: {connection: refused, backend:"
    )
    (line,) = headlines(write("c.yaml", text))
    assert "connection expects no HTTP answer; drop backend or connection" in line


def test_statistics_keys_are_validated(write: Write) -> None:
    text = GOOD.replace("NAME", "stats").replace(
        "expect: {backend: {service: reviews, version: v1}}",
        "expect: {split: {reviews/v1: 60, reviews/v9: 30, status/503: 5}}",
    )
    lines = headlines(write("a.yaml", text))
    assert any("split shares add up to 95, not 100" in x for x in lines)
    text = GOOD.replace("NAME", "stats").replace(
        "expect: {backend: {service: reviews, version: v1}}",
        "expect: {split: {reviews/v1: 70, nobody: 30}}",
    )
    lines = headlines(write("b.yaml", text))
    assert any("'nobody' is neither service[/version] of this case" in x for x in lines)
    text = GOOD.replace("NAME", "stats").replace(
        "expect: {backend: {service: reviews, version: v1}}",
        "expect: {pods: {atMost: 1}, counts: {status/503: {atLeast: 1}}}",
    )
    (line,) = headlines(write("c.yaml", text))
    assert "counts, pods need request.count" in line
    text = GOOD.replace("NAME", "stats").replace(
        "expect: {backend: {service: reviews, version: v1}}",
        "expect: {split: {reviews/v1: 100}, backend: reviews}",
    )
    (line,) = headlines(write("d.yaml", text))
    assert "split judges the answers' shares alone; drop backend" in line
    text = GOOD.replace("NAME", "stats").replace(
        "expect: {backend: {service: reviews, version: v1}}",
        "expect: {mirroredTo: {service: ratings, share: 50}}",
    )
    (line,) = headlines(write("e.yaml", text))
    assert "expect.mirroredTo: unknown service 'ratings'" in line


def test_replicas_and_misbehaving_are_validated(write: Write) -> None:
    text = GOOD.replace("NAME", "bad").replace(
        "versions: [v1, v2]",
        "versions: [v1, v2]\n    replicas: 2\n    misbehaving: [{version: v3, status: 503}]",
    )
    (line,) = headlines(write("a.yaml", text))
    assert "misbehaving[0].version 'v3' is not in versions" in line
    text = GOOD.replace("NAME", "bad").replace(
        "versions: [v1, v2]", "versions: [v1, v2]\n    misbehaving: [{replica: 1, reset: true}]"
    )
    (line,) = headlines(write("b.yaml", text))
    assert "misbehaving[0].replica 1 needs replicas > 1" in line
    text = GOOD.replace("NAME", "bad").replace(
        "versions: [v1, v2]", "versions: [v1, v2]\n    misbehaving: [{replica: 0}]"
    )
    (line,) = headlines(write("c.yaml", text))
    assert line.endswith(
        "c.yaml:9:19: spec.services[0].misbehaving[0]: "
        "give status, delay, reset, refuse or blackhole"
    )


def test_repeated_ports_are_refused_where_they_repeat(write: Write) -> None:
    path = write(
        "c.yaml",
        """
        apiVersion: meshgate.dev/v1alpha1
        kind: Case
        metadata: {name: ports}
        spec:
          services:
          - name: reviews
            ports: [{name: http, port: 9080}, {name: http, port: 9081}, {name: tcp, port: 9080}]
          gateways:
          - name: edge
            labels: {istio: edge}
            ports: [{name: http, port: 80}, {name: http-alt, port: 80}]
          resources:
          - apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: ext}
            spec:
              hosts: [ext.example.com]
              ports:
              - {number: 80, name: http, protocol: HTTP}
              - {number: 443, name: http, protocol: HTTPS}
              - {number: 80, name: web, protocol: HTTP}
              resolution: DNS
          checks:
          - name: c
            request: {url: "http://app.example.com/"}
        """,
    )
    # Services and gateway workloads are the loader's check, in Kubernetes' words; the
    # ServiceEntry is Istio's webhook's (_cases/validation/serviceentry.py). Each repeat
    # is reported once, by one of them.
    assert headlines(path) == [
        f"{path}:7:46: spec.services[0].ports[1].name: duplicate port name 'http'",
        f"{path}:7:83: spec.services[0].ports[2].port: duplicate port 9080",
        f"{path}:11:60: spec.gateways[0].ports[1].port: duplicate port 80",
        f'{path}:20:29: spec.resources[0].spec.ports[1].name: service entry port name "http" already defined',
        f"{path}:21:18: spec.resources[0].spec.ports[2].number: service entry port 80 already defined",
    ]


def test_distinct_ports_load(write: Write) -> None:
    text = GOOD.replace("NAME", "ok").replace(
        "ports: [{name: http, port: 9080}]",
        "ports: [{name: http, port: 9080}, {name: http-alt, port: 9081, targetPort: 9080}]",
    )
    assert not load_case_file(write("c.yaml", text)).invalid


def test_a_manifest_kind_of_another_type_is_a_located_error(write: Write) -> None:
    # Found by tests/_cases/test_hostile.py: a list as kind broke the kind lookup.
    text = GOOD.replace("NAME", "k").replace(
        "  checks:", "  resources:\n  - {apiVersion: networking.istio.io/v1, kind: [a]}\n  checks:"
    )
    path = write("c.yaml", text)
    (line,) = headlines(path)
    assert line == f"{path}:10:48: spec.resources[0].kind: a manifest's kind must be a string"


def test_a_backend_must_be_a_service_that_runs_pods_and_a_headless_pod_one_of_its(
    write: Write,
) -> None:
    services = """  services:
  - name: reviews
    headless: true
    replicas: 2
    ports: [{name: http, port: 9080}]
  - name: reviews-alias
    externalName: reviews.default.svc.cluster.local
"""
    text = GOOD.replace("NAME", "kinds").replace(
        "  services:\n  - name: reviews\n    ports: [{name: http, port: 9080}]\n    versions: [v1, v2]\n",
        services,
    )
    ok = text.replace("{service: reviews, version: v1}", "{service: reviews, pod: reviews-1}")
    assert headlines(write("ok.yaml", ok)) == []
    (line,) = headlines(
        write(
            "pod.yaml",
            text.replace("{service: reviews, version: v1}", "{service: reviews, pod: reviews-2}"),
        )
    )
    assert (
        "expect.backend.pod: service 'reviews' has no pod 'reviews-2' (reviews-0, reviews-1)"
        in line
    )
    (line,) = headlines(
        write("alias.yaml", text.replace("{service: reviews, version: v1}", "reviews-alias"))
    )
    assert "service 'reviews-alias' runs no pods of its own" in line


def test_a_client_pod_ip_is_a_loopback_address_of_its_own(write: Write) -> None:
    clients = "  clients:\n  - {name: a, podIP: 127.10.0.1}\n  - {name: b, podIP: PODIP}\n  checks:"
    good = GOOD.replace("NAME", "ok").replace("  checks:", clients)
    loaded = load_case_file(write("ok.yaml", good.replace("PODIP", "127.10.0.2")))
    assert not loaded.invalid
    assert [c.pod_ip for c in loaded.cases[0].case.spec.clients] == ["127.10.0.1", "127.10.0.2"]
    (line,) = headlines(write("twice.yaml", good.replace("PODIP", "127.10.0.1")))
    assert line.endswith(
        "twice.yaml:10:3: spec.clients: clients[1] (b): podIP 127.10.0.1 is already a's; "
        "every pod has an address of its own"
    )
    (line,) = headlines(write("cluster.yaml", good.replace("PODIP", "10.244.0.7")))
    assert "cluster.yaml:11:" in line
    assert "spec.clients[1].podIP: podIP 10.244.0.7 is not a loopback address" in line
    (line,) = headlines(write("harness.yaml", good.replace("PODIP", "127.0.1.5")))
    assert "spec.clients[1].podIP: podIP 127.0.1.5 is in 127.0.0.0/16, which the harness" in line


def test_websocket_and_header_choice_errors_name_their_line(write: Write) -> None:
    case = GOOD.replace("NAME", "x").replace(
        '    request: {url: "http://app.example.com/"}\n'
        "    expect: {backend: {service: reviews, version: v1}}\n",
        '    request:\n      url: "http://app.example.com/ws"\n'
        "      websocket: {messages: [{binary: 'no!'}]}\n"
        "    expect: {response: {headersOneOf: {x-a: []}}}\n",
    )
    lines = headlines(write("c.yaml", case))
    assert any(
        ":13:" in x and "spec.checks[0].request.websocket.messages[0].binary" in x and "base64" in x
        for x in lines
    ), lines
    assert any(":14:" in x and "expect.response.headersOneOf.x-a" in x for x in lines), lines
