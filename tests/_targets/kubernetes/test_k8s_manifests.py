"""Golden files of what the kubernetes target would apply, and the rules behind them.

Pure rendering only: no cluster ran. These prove which objects, labels,
namespaces and rewrites we send; whether Istio and echo-basic then behave as
intended is only shown by a run on a real cluster (see docs/kubernetes.md).

Regenerate after an intended change, then review the diff::

    MESHGATE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/_targets/kubernetes/test_k8s_manifests.py
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_meshgate._cases.loader import LoadedCase, load_case_file
from pytest_meshgate._cases.model.workloads import Secret, ServicePort
from pytest_meshgate._targets.kubernetes.adapters.base import AdapterOptions
from pytest_meshgate._targets.kubernetes.adapters.istio import IstioAdapter
from pytest_meshgate._targets.kubernetes.coredns import (
    coredns_rewrite_block,
    insert_coredns_block,
    remove_coredns_block,
)
from pytest_meshgate._targets.kubernetes.echo_pod import container_port, terminates_tls
from pytest_meshgate._targets.kubernetes.manifests import (
    Material,
    RenderSettings,
    apply_phases,
    render_case,
)
from pytest_meshgate._targets.kubernetes.namespaces import (
    NamespacePlan,
    k8s_name,
    rewrite_host,
    rewrite_resource,
    rewrite_url,
)
from pytest_meshgate._targets.kubernetes.providers.kind import kind_config

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
UPDATE = os.environ.get("MESHGATE_UPDATE_GOLDEN") == "1"


class FixedMaterial(Material):
    """Placeholder PEM text, so golden files do not change with every run."""

    def secret_data(self, secret: Secret) -> dict[str, str]:
        crt, key, ca = (
            ("cert", "key", "cacert")
            if secret.format == "generic"
            else ("tls.crt", "tls.key", "ca.crt")
        )
        if secret.type in ("ca", "trust"):
            return {
                ca: f"<ca certificate of {secret.name if secret.type == 'ca' else secret.issuer}>"
            }
        data = {crt: f"<{secret.type} certificate {secret.name} for {','.join(secret.hosts)} by {secret.issuer}>",
                key: f"<key of {secret.name}>"}  # fmt: skip
        if secret.type == "mutual":
            data[ca] = f"<ca certificate of {secret.issuer}>"
        return data

    def service_cert(self, names: list[str]) -> dict[str, str]:
        return {"tls.crt": f"<certificate for {','.join(names)}>", "tls.key": "<key>"}

    def trusted_cas(self) -> str:
        return "<every CA of the case>"


# The echo's source files, as placeholders: golden files must not change with the echo's code.
SOURCES = {
    "pytest_meshgate/__init__.py": "<source>",
    "pytest_meshgate/_durations.py": "<source>",
    "pytest_meshgate/_targets/__init__.py": "<source>",
    "pytest_meshgate/_targets/echo/__init__.py": "<source>",
    "pytest_meshgate/_targets/echo/cli.py": "<source>",
}


def rich_case() -> LoadedCase:
    loaded = load_case_file(HERE / "cases" / "rich.yaml")
    assert not loaded.invalid, [i.error.render() for i in loaded.invalid]
    return loaded.cases[0]


def compare(name: str, data: Any) -> None:
    text = (
        yaml.safe_dump_all(data, sort_keys=False)
        if isinstance(data, list)
        else yaml.safe_dump(data, sort_keys=False)
    )
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with MESHGATE_UPDATE_GOLDEN=1"
    assert text == path.read_text(), (
        f"{name} differs from its golden file (MESHGATE_UPDATE_GOLDEN=1)"
    )


@pytest.mark.parametrize(
    ("profile", "revision"), [("default", None), ("ambient", None), ("demo", "canary")]
)
def test_rendered_case_matches_golden(profile: str, revision: str | None) -> None:
    loaded = rich_case()
    adapter = IstioAdapter(
        AdapterOptions({"istio-profile": profile, "istio-revision": revision}, "kind")
    )
    plan = NamespacePlan.for_case(loaded.case, "golden-run/rich/1")
    settings = RenderSettings(
        mesh_labels=adapter.mesh_namespace_labels(),
        outside_labels=adapter.outside_namespace_labels(),
        case_labels={"meshgate.dev/case": "rich", "meshgate.dev/run": "golden-run"},
        gateway_manifests=adapter.gateway_manifests,
        gateways=adapter.gateways(),
        echo_sources=SOURCES,
    )
    objects = render_case(loaded.case, plan, settings, FixedMaterial())
    suffix = profile + (f"-{revision}" if revision else "")
    compare(f"rich-{suffix}.yaml", objects)


def test_kind_config_matches_golden() -> None:
    compare("kind-config.yaml", kind_config())


def test_every_object_of_a_case_lives_in_its_own_or_a_system_namespace() -> None:
    loaded = rich_case()
    plan = NamespacePlan.for_case(loaded.case, "x")
    objects = render_case(loaded.case, plan, RenderSettings(echo_sources=SOURCES), FixedMaterial())
    for obj in objects:
        namespace = obj["metadata"].get("namespace")
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"].startswith(plan.prefix + "-")
        else:
            assert namespace in (*plan.owned, "istio-system"), obj
    assert plan.mapping == {
        "backend": f"{plan.prefix}-backend",
        "default": f"{plan.prefix}-default",
    }
    assert NamespacePlan.for_case(loaded.case, "y").prefix != plan.prefix


def test_hosts_are_rewritten_only_where_they_name_a_case_namespace() -> None:
    plan = NamespacePlan("mg-1", {"default": "mg-1-default", "backend": "mg-1-backend"})
    services = ["reviews"]
    assert (
        rewrite_host("reviews.default.svc.cluster.local", plan)
        == "reviews.mg-1-default.svc.cluster.local"
    )
    assert rewrite_host("*.backend.svc.cluster.local", plan) == "*.mg-1-backend.svc.cluster.local"
    assert rewrite_host("reviews.default", plan, services) == "reviews.mg-1-default"
    assert rewrite_host("backend/app.example.com", plan) == "mg-1-backend/app.example.com"
    assert rewrite_host("istio-system/*", plan) == "istio-system/*"
    # Not namespaces: a domain whose second label happens to be a case namespace.
    assert rewrite_host("www.default", plan, services) == "www.default"
    assert rewrite_host("app.example.com", plan) == "app.example.com"
    assert rewrite_url("http://reviews.default.svc.cluster.local:9080/a?b=1", plan) == (
        "http://reviews.mg-1-default.svc.cluster.local:9080/a?b=1"
    )
    assert rewrite_url("http://app.example.com/x", plan) == "http://app.example.com/x"


def test_cluster_scoped_objects_get_no_namespace_and_a_namespace_its_mapped_name() -> None:
    plan = NamespacePlan("mg-1", {"default": "mg-1-default", "team-a": "mg-1-team-a"})
    gateway_class = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClass",
        "metadata": {"name": "mine"},
        "spec": {"controllerName": "istio.io/gateway-controller"},
    }
    assert "namespace" not in rewrite_resource(gateway_class, plan)["metadata"]
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    rewritten = rewrite_resource(namespace, plan)["metadata"]
    assert rewritten["name"] == "mg-1-team-a" and "namespace" not in rewritten
    # A namespaced Gateway API object without one goes to the case's default, as kubectl's.
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "r"}, "spec": {}}  # fmt: skip
    assert rewrite_resource(route, plan)["metadata"]["namespace"] == "mg-1-default"


def test_authorization_sources_name_the_mapped_namespaces() -> None:
    plan = NamespacePlan("mg-1", {"ns1": "mg-1-ns1", "ns2": "mg-1-ns2"})
    policy = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
              "metadata": {"name": "p", "namespace": "ns1"},
              "spec": {"rules": [{"from": [{"source": {
                  "principals": ["cluster.local/ns/ns1/sa/a", "*/ns/ns2/sa/*", "*"],
                  "notPrincipals": ["cluster.local/ns/istio-system/sa/gw"],
                  "namespaces": ["ns1"], "notNamespaces": ["ns2"]}}]}]}}  # fmt: skip
    (rule,) = rewrite_resource(policy, plan)["spec"]["rules"]
    source = rule["from"][0]["source"]
    assert source["principals"] == ["cluster.local/ns/mg-1-ns1/sa/a", "*/ns/mg-1-ns2/sa/*", "*"]
    # A namespace the case does not own keeps its name.
    assert source["notPrincipals"] == ["cluster.local/ns/istio-system/sa/gw"]
    assert (source["namespaces"], source["notNamespaces"]) == (["mg-1-ns1"], ["mg-1-ns2"])


def test_service_accounts_and_source_conditions_name_the_mapped_namespaces() -> None:
    plan = NamespacePlan("mg-1", {"ns1": "mg-1-ns1", "ns2": "mg-1-ns2"})
    policy = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
              "metadata": {"name": "p", "namespace": "ns1"},
              "spec": {"rules": [{
                  "from": [{"source": {"serviceAccounts": ["ns1/a", "b"],
                                       "notServiceAccounts": ["ns2/a"]}}],
                  "when": [{"key": "source.namespace", "values": ["ns1"], "notValues": ["ns2"]},
                           {"key": "source.principal", "values": ["cluster.local/ns/ns2/sa/a"]},
                           {"key": "source.serviceAccount", "notValues": ["ns2/a"]},
                           {"key": "request.headers[ns1]", "values": ["ns1"]}]}]}}  # fmt: skip
    (rule,) = rewrite_resource(policy, plan)["spec"]["rules"]
    source = rule["from"][0]["source"]
    # An account without a namespace is the policy's own namespace's: unchanged.
    assert source["serviceAccounts"] == ["mg-1-ns1/a", "b"]
    assert source["notServiceAccounts"] == ["mg-1-ns2/a"]
    namespace, principal, account, header = rule["when"]
    assert namespace == {
        "key": "source.namespace",
        "values": ["mg-1-ns1"],
        "notValues": ["mg-1-ns2"],
    }
    assert principal["values"] == ["cluster.local/ns/mg-1-ns2/sa/a"]
    assert account["notValues"] == ["mg-1-ns2/a"]
    # Other conditions are not namespaces, whatever their values say.
    assert header == {"key": "request.headers[ns1]", "values": ["ns1"]}


def test_external_names_become_service_names() -> None:
    assert k8s_name("api.example.com") == "api-example-com"
    assert len(k8s_name("x" * 80)) <= 50


def test_echo_ports_are_the_target_ports_and_tls_follows_the_protocol() -> None:
    assert container_port(ServicePort(name="http-web", port=80)) == 80
    assert container_port(ServicePort(name="http", port=80, target_port=8080)) == 8080
    assert terminates_tls(ServicePort(name="https", port=443))
    assert terminates_tls(ServicePort(name="http", port=80, tls={"secret": "x"}))  # type: ignore[arg-type]
    assert not terminates_tls(ServicePort(name="grpc", port=7070))


def test_apply_phases_core_kinds_first_then_istio_by_creation_time() -> None:
    def obj(
        kind: str, name: str, stamp: str | None = None, api: str = "networking.istio.io/v1"
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "namespace": "n"}
        if stamp:
            meta["creationTimestamp"] = stamp
        return {"apiVersion": api, "kind": kind, "metadata": meta}

    objects = [
        obj("VirtualService", "z"),
        obj("VirtualService", "b", "2024-06-01T00:00:00Z"),
        obj("Gateway", "a", "2024-06-01T00:00:00Z"),
        obj("Deployment", "d", api="apps/v1"),
        obj("DestinationRule", "c", "2024-01-01T00:00:00Z"),
        obj("Service", "s", api="v1"),
        obj("Namespace", "n", api="v1"),
        obj("ConfigMap", "m", api="v1"),
    ]
    phases = [
        [(o["kind"], o["metadata"]["name"]) for o in phase] for phase in apply_phases(objects)
    ]
    assert phases == [
        [("Namespace", "n")], [("ConfigMap", "m")], [("Service", "s")], [("Deployment", "d")],
        [("DestinationRule", "c")],  # 2024-01
        [("Gateway", "a"), ("VirtualService", "b")],  # one second, in name order
        [("VirtualService", "z")],  # no timestamp: created together, last
    ]  # fmt: skip


COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
    }
    forward . /etc/resolv.conf
    reload
}
"""


def test_coredns_rewrites_are_added_first_and_removed_exactly() -> None:
    block = coredns_rewrite_block(
        "mg-1", {"api.example.com": "api-example-com.mg-1--external.svc.cluster.local"}
    )
    edited = insert_coredns_block(COREFILE, block)
    assert edited.splitlines()[:7] == [
        ".:53 {",
        "    # meshgate begin mg-1",
        "    rewrite stop {",
        r"        name regex ^api\.example\.com\.$ api-example-com.mg-1--external.svc.cluster.local.",
        r"        answer name ^api\-example\-com\.mg\-1\-\-external\.svc\.cluster\.local\.$ api.example.com.",
        "    }",
        "    # meshgate end mg-1",
    ]
    assert insert_coredns_block(edited, block) == edited  # idempotent
    other = coredns_rewrite_block("mg-2", {"b.example": "b.mg-2--external.svc.cluster.local"})
    both = insert_coredns_block(edited, other)
    assert remove_coredns_block(both, "mg-1") == insert_coredns_block(COREFILE, other)
    assert remove_coredns_block(remove_coredns_block(both, "mg-1"), "mg-2") == COREFILE


def _samples(name: str) -> LoadedCase:
    root = HERE.parents[2]
    loaded = load_case_file(root / "cases" / "istio-samples.yaml", root=root)
    return next(c for c in loaded.cases if c.name == name)


def test_an_applications_own_objects_are_replaced_by_the_echo_and_its_account() -> None:
    loaded = _samples("httpbin-status")
    plan = NamespacePlan.for_case(loaded.case, "x")
    objects = render_case(loaded.case, plan, RenderSettings(echo_sources=SOURCES), FixedMaterial())
    images = {
        c["image"]
        for o in objects
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert "docker.io/kennethreitz/httpbin" not in images and images  # the echo runs instead
    (service,) = [
        o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "httpbin"
    ]
    assert service["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": 80}]
    accounts = [o for o in objects if o["kind"] == "ServiceAccount"]
    assert [a["metadata"]["name"] for a in accounts] == ["httpbin"]
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "httpbin"
    kinds = [o["kind"] for o in objects]
    assert kinds.index("ServiceAccount") < kinds.index("Deployment")


def test_server_set_fields_of_a_paste_are_never_applied() -> None:
    loaded = _samples("helloworld-kubectl-export")
    plan = NamespacePlan.for_case(loaded.case, "x")
    objects = render_case(loaded.case, plan, RenderSettings(echo_sources=SOURCES), FixedMaterial())
    istio = [o for o in objects if o["apiVersion"].startswith("networking.istio.io/")]
    assert sorted(o["kind"] for o in istio) == ["Gateway", "VirtualService"]
    for obj in istio:
        assert "status" not in obj
        assert not {"managedFields", "resourceVersion", "uid", "generation"} & set(obj["metadata"])
        assert obj["metadata"]["creationTimestamp"] == "2025-03-04T10:15:02Z"
    # helloworld runs as Kubernetes' default account: no ServiceAccount to create.
    assert not [o for o in objects if o["kind"] == "ServiceAccount"]


def test_mesh_tls_cases_render_accounts_injection_and_peer_authentications() -> None:
    repo = Path(__file__).resolve().parents[3]
    loaded = load_case_file(repo / "cases" / "peer-authentication.yaml").cases[1]
    assert loaded.name == "peer-authentication-workload-beats-namespace-beats-mesh"
    plan = NamespacePlan.for_case(loaded.case, "x")
    objects = render_case(loaded.case, plan, RenderSettings(echo_sources=SOURCES), FixedMaterial())
    pods = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Pod"}
    assert pods["sleep"]["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    assert pods["mesh-sleep"]["spec"]["serviceAccountName"] == "sleep"
    assert "sidecar.istio.io/inject" not in pods["mesh-sleep"]["metadata"]["annotations"]
    accounts = [o["metadata"] for o in objects if o["kind"] == "ServiceAccount"]
    assert {"name": "sleep", "namespace": plan.map("bar")}.items() <= accounts[0].items()
    policies = [o for o in objects if o["kind"] == "PeerAuthentication"]
    assert len(policies) == 4
