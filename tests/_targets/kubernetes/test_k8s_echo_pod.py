"""The echo that answers on a cluster, run here for real from its rendered Deployment.

A case is rendered as the kind target renders it (real certificates from
trustme, the echo's real source files in the ConfigMap); each echo
Deployment's container is then started as the kubelet would start it
(``k8s_pods.py``: the ConfigMap and Secret files at their mount paths under
the working directory, the downward API's pod name, ``$(POD_NAME)`` expanded,
the command as rendered with this interpreter as ``python3``). What it
proves: that process is the project's echo, from the ConfigMap's files and
not this checkout's, and it serves every echo behaviour the case suite uses:
the echo-basic body with ``version``, ``/status``, ``/retry``, delays, a
misbehaving replica, TLS with the case's certificate, and mutual TLS that
refuses a client without a certificate. What it does not prove: that the
pinned image has the Python it needs, or anything about a sidecar in front.
"""

from __future__ import annotations

import ast
import json
import socket
import ssl
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from k8s_pods import exec_in, free_ports, run_container

from pytest_meshgate._cases.loader import LoadedCase, load_case_file
from pytest_meshgate._targets.kubernetes.echo_pod import SENDER_MODULE, echo_source_files
from pytest_meshgate._targets.kubernetes.manifests import RenderSettings, render_case
from pytest_meshgate._targets.kubernetes.material import TrustmeMaterial
from pytest_meshgate._targets.kubernetes.namespaces import NamespacePlan

CASE = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {{name: echo-pod}}
spec:
  services:
  - name: reviews
    ports:
    - {{name: http, port: {http}}}
    - {{name: https, port: {https}, tls: {{secret: reviews-cert}}}}
    - {{name: https-mtls, port: {mtls}, tls: {{secret: reviews-mtls}}}}
    versions: [v2]
    replicas: {replicas}
    misbehaving: {misbehaving}
  clients:
  - name: sleep
  secrets:
  - {{name: reviews-cert, type: server, hosts: [reviews.example.com]}}
  - {{name: reviews-mtls, type: mutual, hosts: [mtls.example.com]}}
  - {{name: good-client, type: client, hosts: [client.example.com]}}
  checks:
  - name: routed
    request: {{url: "http://reviews.default.svc.cluster.local:{http}/"}}
    expect: {{backend: reviews}}
"""


class Rendered:
    def __init__(
        self, tmp_path: Path, replicas: int = 2, misbehaving: str = "[{replica: 1, status: 503}]"
    ) -> None:
        self.http, self.https, self.mtls = free_ports(3)
        path = tmp_path / "case.yaml"
        path.write_text(
            CASE.format(
                http=self.http,
                https=self.https,
                mtls=self.mtls,
                replicas=replicas,
                misbehaving=misbehaving,
            )
        )
        loaded = load_case_file(path)
        assert not loaded.invalid, [i.error.render() for i in loaded.invalid]
        self.loaded: LoadedCase = loaded.cases[0]
        self.material = TrustmeMaterial(self.loaded.case)
        self.plan = NamespacePlan.for_case(self.loaded.case, "echo-pod-test")
        self.objects = render_case(self.loaded.case, self.plan, RenderSettings(), self.material)
        self.root = tmp_path / "pods"

    def deployment(self, name: str) -> dict[str, Any]:
        return next(
            o for o in self.objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name
        )

    def health_port(self, name: str) -> int:
        probe = self.deployment(name)["spec"]["template"]["spec"]["containers"][0]
        return int(probe["readinessProbe"]["httpGet"]["port"])

    def run(self, name: str, pod: str) -> Any:
        return run_container(
            self.deployment(name),
            self.objects,
            self.root / name,
            pod,
            self.health_port(name),
            stock=True,
        )

    def ca_pem(self) -> str:
        return self.material.cas["default"].cert_pem.bytes().decode()


@pytest.fixture
def rendered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Rendered:
    # In a pod the health listener's fixed port is the pod's own; here every
    # echo shares the machine, and another test's echo answering /health on
    # 18999 would pass the readiness wait for one that failed to start.
    (health,) = free_ports(1)
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.echo_pod.HEALTH_PORT", health)
    return Rendered(tmp_path)


def test_each_replica_is_its_own_deployment_running_the_echo_from_the_configmap(
    rendered: Rendered,
) -> None:
    names = [o["metadata"]["name"] for o in rendered.objects if o["kind"] == "Deployment"]
    assert names == ["reviews-v2-r0", "reviews-v2-r1"]
    container = rendered.deployment("reviews-v2-r1")["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python3", "-m", "pytest_meshgate._targets.echo"]
    assert container["args"][-2:] == ["--fault-status", "503"]
    assert (
        "--fault-status"
        not in rendered.deployment("reviews-v2-r0")["spec"]["template"]["spec"]["containers"][0][
            "args"
        ]
    )
    with rendered.run("reviews-v2-r0", "reviews-v2-r0-7d9f5-x2x7q") as pod:
        body = httpx.get(f"http://127.0.0.1:{rendered.http}/a?b=1", headers={"x-foo": "bar"}).json()
    assert (body["service"], body["namespace"], body["version"], body["pod"]) == (
        "reviews", "default", "v2", "reviews-v2-r0-7d9f5-x2x7q"
    )  # fmt: skip
    assert body["path"] == "/a?b=1" and body["headers"]["X-Foo"] == ["bar"]
    assert pod.process.wait(timeout=10) == 0  # SIGTERM ends it cleanly
    first_line = pod.output().splitlines()[0]
    # The code that answered is the ConfigMap's copy, not this checkout's.
    assert f"from {pod.workdir / 'src' / 'pytest_meshgate' / '_targets' / 'echo'}" in first_line


def test_status_retry_delay_and_set_header_as_the_suite_uses_them(rendered: Rendered) -> None:
    base = f"http://127.0.0.1:{rendered.http}"
    with rendered.run("reviews-v2-r0", "reviews-v2-r0-a"), httpx.Client(timeout=10) as client:
        teapot = client.get(f"{base}/status/418")
        assert teapot.status_code == 418 and teapot.json()["service"] == "reviews"
        retry = f"{base}/retry/?uuid={uuid.uuid4()}&succeedAfter=2&responseCode=503"
        assert [client.get(retry).status_code for _ in range(3)] == [503, 503, 200]
        reset_retry = f"{base}/retry/?uuid={uuid.uuid4()}&succeedAfter=1"
        with pytest.raises(httpx.TransportError):
            client.get(reset_retry)  # the first attempt is reset, as echo-basic's hijack does
        assert client.get(reset_retry).status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            client.get(f"{base}/?delay=30s", timeout=1.0)
        header = client.get(base, headers={"X-Echo-Set-Header": "X-From-Echo:yes"})
        assert header.headers["x-from-echo"] == "yes"


def test_the_misbehaving_replica_answers_every_request_with_its_status(rendered: Rendered) -> None:
    with rendered.run("reviews-v2-r1", "reviews-v2-r1-b"), httpx.Client(timeout=10) as client:
        answers = [
            client.get(f"http://127.0.0.1:{rendered.http}{p}") for p in ("/", "/status/200", "/x")
        ]
        assert [a.status_code for a in answers] == [503, 503, 503]
        assert answers[0].json()["pod"] == "reviews-v2-r1-b"
        health = client.get(f"http://127.0.0.1:{rendered.health_port('reviews-v2-r1')}/health")
        assert health.status_code == 200  # its readiness probe still passes


def test_replicas_that_refuse_or_drop_connects_stay_ready(tmp_path: Path) -> None:
    rendered = Rendered(tmp_path, 3, "[{replica: 1, refuse: true}, {replica: 2, blackhole: true}]")
    args = [
        rendered.deployment(f"reviews-v2-r{i}")["spec"]["template"]["spec"]["containers"][0]["args"]
        for i in range(3)
    ]
    assert [a[-1] for a in args] == ["health=18999,probe", "--fault-refuse", "--fault-blackhole"]
    ports = (rendered.http, rendered.https, rendered.mtls)
    with rendered.run("reviews-v2-r1", "reviews-v2-r1-c"), httpx.Client(timeout=10) as client:
        for port in ports:  # plaintext and TLS ports alike: nothing listens
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=5.0)
        health = client.get(f"http://127.0.0.1:{rendered.health_port('reviews-v2-r1')}/health")
        assert health.status_code == 200  # the readiness probe's listener is spared
    with rendered.run("reviews-v2-r2", "reviews-v2-r2-d"), httpx.Client(timeout=10) as client:
        for port in ports:
            with pytest.raises(TimeoutError):  # the SYN is dropped: no refusal, no answer
                socket.create_connection(("127.0.0.1", port), timeout=0.3)
        health = client.get(f"http://127.0.0.1:{rendered.health_port('reviews-v2-r2')}/health")
        assert health.status_code == 200


def _tls_get(port: int, sni: str, ca_pem: str, cert: Any = None) -> httpx.Response:
    context = ssl.create_default_context(cadata=ca_pem)
    if cert is not None:
        cert.configure_cert(context)
    with httpx.Client(verify=context, timeout=10) as client:
        request = client.build_request(
            "GET", f"https://127.0.0.1:{port}/", extensions={"sni_hostname": sni}
        )
        return client.send(request)


def test_tls_with_the_case_certificate_and_mutual_tls_refusing_a_missing_client_cert(
    rendered: Rendered,
) -> None:
    ca = rendered.material.cas["default"]
    client_leaf = ca.issue_cert("client.example.com")
    with rendered.run("reviews-v2-r0", "reviews-v2-r0-c"):
        simple = _tls_get(rendered.https, "reviews.example.com", rendered.ca_pem())
        assert simple.status_code == 200
        assert simple.json()["tls"]["serverName"] == "reviews.example.com"
        # The mutual port refuses a handshake without a client certificate...
        with pytest.raises(httpx.TransportError):
            _tls_get(rendered.mtls, "mtls.example.com", rendered.ca_pem())
        # ... and reports the one it verified.
        mutual = _tls_get(rendered.mtls, "mtls.example.com", rendered.ca_pem(), client_leaf)
        assert mutual.status_code == 200
        peers = mutual.json()["tls"]["peerCertificates"]
        assert peers and "BEGIN CERTIFICATE" in peers[0]
        # Plain HTTP to a TLS port: the 400 the egress TLS cases expect.
        plain = httpx.get(f"http://127.0.0.1:{rendered.https}/")
        assert plain.status_code == 400


def test_the_echo_secret_holds_each_tls_port_and_every_case_ca(rendered: Rendered) -> None:
    secret = next(
        o
        for o in rendered.objects
        if o["kind"] == "Secret" and o["metadata"]["name"] == "reviews-echo-tls"
    )
    keys = set(secret["stringData"])
    assert keys == {"ca.crt", f"{rendered.https}.crt", f"{rendered.https}.key",
                    f"{rendered.mtls}.crt", f"{rendered.mtls}.key"}  # fmt: skip
    args = rendered.deployment("reviews-v2-r0")["spec"]["template"]["spec"]["containers"][0]["args"]
    listens = [args[i + 1] for i, a in enumerate(args) if a == "--listen"]
    assert listens[1].startswith(f"https={rendered.https},cert=tls/")
    assert listens[2].endswith(",mutual") and not listens[1].endswith(",mutual")
    assert json.loads(json.dumps(secret))  # plain text, no bytes


def _client_pod(rendered: Rendered) -> dict[str, Any]:
    return next(o for o in rendered.objects if o["kind"] == "Pod")


def _send(rendered: Rendered, plan: dict[str, Any]) -> list[Any]:
    from pytest_meshgate._targets.kubernetes.clients import exchanges_from_results

    done = exec_in(
        _client_pod(rendered), rendered.objects, rendered.root / "sleep",
        ["python3", "-m", SENDER_MODULE], json.dumps(plan) + "\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    url = f"http://127.0.0.1:{plan['connect'][1]}{plan['target']}"
    return exchanges_from_results(plan, url, "sleep", None, done.stdout, done.stderr, 0)


def test_the_in_pod_sender_sends_what_the_http_client_sends_many_at_once(
    rendered: Rendered,
) -> None:
    from pytest_meshgate._cases.model.request import Request
    from pytest_meshgate._exchange.client import HTTPClient
    from pytest_meshgate._targets.kubernetes.clients import sender_plan

    request = Request.model_validate(
        {
            "url": f"http://127.0.0.1:{rendered.http}/p/${{uuid}}?q=1",
            "headers": {"x-case": "${uuid}"},
        }
    )
    plan = sender_plan(request, request.url, count=40, concurrency=4, timeout=10, tls=None)
    with rendered.run("reviews-v2-r0", "reviews-v2-r0-d"):
        exchanges = _send(rendered, plan)
        direct = HTTPClient(timeout=10)
        try:
            reference = direct.send(request, ("127.0.0.1", rendered.http), "direct")
        finally:
            direct.close()
    assert len(exchanges) == 40 and all(e.response is not None for e in exchanges)
    echoes = [e.response.echo for e in exchanges if e.response is not None]
    assert all(e is not None for e in echoes)
    ids = {e.request.meshgate_id for e in exchanges}
    assert len(ids) == 40  # a fresh x-meshgate-id per attempt...
    assert {tuple(e["headers"]["X-Meshgate-Id"]) for e in echoes if e} == {(i,) for i in ids}
    paths = {e["path"] for e in echoes if e}
    assert len(paths) == 40 and all(p.startswith("/p/") and p.endswith("?q=1") for p in paths)
    # Four keep-alive connections carried the 40 (one exec call, real concurrency).
    assert len({e["peer"] for e in echoes if e}) == 4
    assert all(e["headers"]["X-Case"][0] == e["path"][3:-4] for e in echoes if e)  # one uuid each
    # ... and otherwise the very header fields HTTPClient sends, in its order.
    ours = [k for k in echoes[0]["headers"]] if echoes[0] else []
    theirs = [k for k in reference.response.echo["headers"]]  # type: ignore[union-attr]
    assert ours == theirs


def test_the_in_pod_sender_does_mutual_tls_and_classifies_failures(rendered: Rendered) -> None:
    from pytest_meshgate._cases.model.request import Request
    from pytest_meshgate._exchange.records import ClientTLS
    from pytest_meshgate._targets.kubernetes.clients import sender_plan

    ca = rendered.material.cas["default"]
    leaf = ca.issue_cert("client.example.com")
    tls = ClientTLS(server_name="mtls.example.com", ca_pem=ca.cert_pem.bytes())
    request = Request.model_validate({"url": f"https://127.0.0.1:{rendered.mtls}/"})
    pems = (
        "".join(b.bytes().decode() for b in leaf.cert_chain_pems),
        leaf.private_key_pem.bytes().decode(),
    )
    with rendered.run("reviews-v2-r0", "reviews-v2-r0-e"):
        [ok] = _send(rendered, sender_plan(request, request.url, 1, 1, 10, tls, pems))
        [refused_cert] = _send(rendered, sender_plan(request, request.url, 1, 1, 10, tls))
    [refused] = _send(rendered, sender_plan(request, request.url, 1, 1, 10, tls, pems))
    assert ok.response is not None and ok.response.status == 200
    assert ok.tls is not None and ok.tls.peer_sans == ("mtls.example.com",)
    assert ok.response.echo["tls"]["peerCertificates"]  # type: ignore[index]
    assert refused_cert.response is None and refused_cert.connection in ("tlsError", "reset")
    assert refused.connection == "refused"  # nothing listens any more


GRPC_CASE = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {{name: grpc-echo-pod}}
spec:
  services:
  - name: grpc-echo
    ports:
    - {{name: grpc, port: {grpc}}}
    - {{name: http, port: {http}}}
  - name: plain
    namespace: other
    ports: [{{name: http, port: 8080}}]
  checks:
  - name: called
    request:
      url: "http://grpc.example.com"
      grpc: {{method: EchoTwo}}
"""


def test_an_echo_with_a_grpc_port_answers_grpc_with_h2_from_its_configmap_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gRPC echo of a cluster pod: the project's own, h2 mounted from ``meshgate-http2-src``.

    Run without site-packages (``-S``), as in the stock image: had the
    ConfigMap lacked a file of h2, hpack or hyperframe, the echo could not
    import it and the call would get no answer.
    """
    from pytest_meshgate._cases.model.request import Request
    from pytest_meshgate._exchange.grpc import GrpcClient

    grpc_port, http_port, health = free_ports(3)
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.echo_pod.HEALTH_PORT", health)
    path = tmp_path / "case.yaml"
    path.write_text(GRPC_CASE.format(grpc=grpc_port, http=http_port))
    loaded = load_case_file(path).cases[0]
    plan = NamespacePlan.for_case(loaded.case, "grpc-echo-pod-test")
    objects = render_case(loaded.case, plan, RenderSettings(), TrustmeMaterial(loaded.case))
    configmaps = {
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in objects
        if o["kind"] == "ConfigMap"
    }
    # A gRPC check may reach any service of the case: both namespaces get h2.
    assert (plan.map("default"), "meshgate-http2-src") in configmaps
    assert (plan.map("other"), "meshgate-http2-src") in configmaps
    deployment = next(o for o in objects if o["metadata"]["name"] == "grpc-echo-v1")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "PYTHONPATH", "value": "src:deps"} in container["env"]
    request = Request.model_validate(
        {"url": f"http://127.0.0.1:{grpc_port}", "grpc": {"method": "EchoTwo",
                                                        "metadata": {"x-case": "one"}}}
    )  # fmt: skip
    with run_container(deployment, objects, tmp_path / "pod", "grpc-echo-v1-a", health, True):
        exchange = GrpcClient(timeout=10).call(request, ("127.0.0.1", grpc_port), "direct")
        h1 = httpx.get(f"http://127.0.0.1:{http_port}/").json()
    assert exchange.response is not None and exchange.response.grpc is not None, exchange.error
    reply = exchange.response.grpc
    assert reply.status == 0 and reply.echo is not None
    assert reply.echo["path"] == "/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/EchoTwo"
    assert reply.echo["headers"]["x-case"] == ["one"]
    assert reply.echo["service"] == "grpc-echo" and h1["service"] == "grpc-echo"


def test_an_echo_nothing_speaks_http2_to_gets_no_h2(tmp_path: Path) -> None:
    rendered = Rendered(tmp_path)
    assert not [o for o in rendered.objects if o["metadata"]["name"] == "meshgate-http2-src"]
    env = rendered.deployment("reviews-v2-r0")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "PYTHONPATH", "value": "src"} in env


def test_the_shipped_sources_import_nothing_of_the_package_they_leave_out() -> None:
    # In a stock Python image the ConfigMap's files are all of pytest_meshgate there is: a
    # module they import at load time but leave out would crash the echo (the pods of these
    # tests could still find it through the editable install of the checkout).
    shipped = echo_source_files()
    modules = {
        path.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for path in shipped
    }
    for path, text in shipped.items():
        package = path.removesuffix(".py").replace("/", ".").rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.ImportFrom) or node.col_offset != 0:
                continue  # imports inside functions are the optional ones (h2)
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            if name.startswith("pytest_meshgate"):
                assert name in modules, f"{path} imports {name}, which the ConfigMap leaves out"
