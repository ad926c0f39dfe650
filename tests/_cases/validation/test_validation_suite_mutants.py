"""The suite's own resources, made Istio-invalid one way each: the loader refuses every one.

Each mutant takes the first resource of its kind in cases/ that fits (a
VirtualService with HTTP routes, a Gateway with servers, ...), breaks one of
Istio's rules, and must make its case an invalid document. Before
_cases/validation, 75 of these 80 loaded without a word.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_meshgate._cases.loader import load_case_file
from pytest_meshgate._cases.yamlpos import looks_like_case_file

CASES = Path(__file__).resolve().parents[3] / "cases"
Resource = dict[str, Any]
Mutant = tuple[str, str, Callable[[Resource], bool], Callable[[Resource], object]]
MUTANTS: list[Mutant] = []


def _documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(CASES.glob("*.yaml")):
        if looks_like_case_file(path):
            docs.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    return docs


def m(
    kind: str, name: str, pred: Callable[[Resource], bool] = lambda r: True
) -> Callable[[Callable[[Resource], object]], None]:
    def add(mutate: Callable[[Resource], object]) -> None:
        MUTANTS.append((kind, name, pred, mutate))

    return add


def http_vs(r: Resource) -> bool:
    return bool(r["spec"].get("http")) and bool(r["spec"].get("hosts"))


def has_servers(r: Resource) -> bool:
    return bool(r["spec"].get("servers"))


def has_subsets(r: Resource) -> bool:
    return bool(r["spec"].get("subsets"))


def S(r: Resource) -> Any:
    return r["spec"]


def H(r: Resource) -> Any:
    return r["spec"]["http"][0]


# --- VirtualService
m("VirtualService", "no hosts, bound to a gateway", http_vs)(lambda r: S(r).pop("hosts"))
m("VirtualService", "redirect and route", http_vs)(
    lambda r: H(r).update(redirect={"uri": "/x"}, route=[{"destination": {"host": "echo"}}])
)
m("VirtualService", "timeout 1ns", http_vs)(lambda r: H(r).update(timeout="1ns"))
m("VirtualService", "timeout 1.5ms", http_vs)(lambda r: H(r).update(timeout="1500us"))
m("VirtualService", "host with a wildcard in the middle", http_vs)(
    lambda r: S(r).update(hosts=["app.*.example.com"])
)
m("VirtualService", "header name with a space", http_vs)(
    lambda r: H(r).update(match=[{"headers": {"x user": {"exact": "a"}}}])
)
m("VirtualService", "non-RE2 uri regex", http_vs)(
    lambda r: H(r).update(match=[{"uri": {"regex": "^/(?!admin)"}}])
)
m("VirtualService", "non-RE2 header regex", http_vs)(
    lambda r: H(r).update(match=[{"headers": {"x": {"regex": "(a)\\1"}}}])
)
m("VirtualService", "regex over 1024", http_vs)(
    lambda r: H(r).update(match=[{"uri": {"regex": "a" * 1025}}])
)
m("VirtualService", "empty header prefix", http_vs)(
    lambda r: H(r).update(match=[{"headers": {"x": {"prefix": ""}}}])
)
m("VirtualService", "duplicate hosts", http_vs)(
    lambda r: S(r).update(hosts=["*.example.com", "app.example.com"])
)
m("VirtualService", "host * on the mesh", http_vs)(
    lambda r: (S(r).update(hosts=["*"]), S(r).pop("gateways", None))
)
m("VirtualService", "bad gateway name", http_vs)(lambda r: S(r).update(gateways=["ns/Bad_Name"]))
m("VirtualService", "no routes at all", http_vs)(lambda r: S(r).pop("http"))
m("VirtualService", "destination host *", http_vs)(
    lambda r: H(r).update(route=[{"destination": {"host": "*"}}])
)
m("VirtualService", "subset not a label", http_vs)(
    lambda r: H(r).update(route=[{"destination": {"host": "echo", "subset": "v1.0"}}])
)
m("VirtualService", "total weight 0", http_vs)(
    lambda r: H(r).update(
        route=[
            {"destination": {"host": "a"}, "weight": 0},
            {"destination": {"host": "b"}, "weight": 0},
        ]
    )
)
m("VirtualService", "retries 0 attempts with perTryTimeout", http_vs)(
    lambda r: H(r).update(retries={"attempts": 0, "perTryTimeout": "1s"})
)
m("VirtualService", "bad retryOn", http_vs)(
    lambda r: H(r).update(retries={"attempts": 2, "retryOn": "5xx,sometimes"})
)
m("VirtualService", "set Host in response", http_vs)(
    lambda r: H(r).update(headers={"response": {"set": {"host": "x"}}})
)
m("VirtualService", "header value with a bare %", http_vs)(
    lambda r: H(r).update(headers={"request": {"set": {"x": "100%"}}})
)
m("VirtualService", "cors bad method", http_vs)(
    lambda r: H(r).update(corsPolicy={"allowMethods": ["FETCH"]})
)
m("VirtualService", "fault without abort or delay", http_vs)(lambda r: H(r).update(fault={}))
m("VirtualService", "grpc abort status unknown", http_vs)(
    lambda r: H(r).update(fault={"abort": {"grpcStatus": "NOPE"}})
)
m("VirtualService", "redirect uri and prefixRewrite", http_vs)(
    lambda r: (H(r).pop("route", None), H(r).update(redirect={"uri": "/a", "prefixRewrite": "/b"}))
)
m("VirtualService", "redirect code 200", http_vs)(
    lambda r: (H(r).pop("route", None), H(r).update(redirect={"uri": "/a", "redirectCode": 200}))
)
m("VirtualService", "redirect scheme ftp", http_vs)(
    lambda r: (H(r).pop("route", None), H(r).update(redirect={"scheme": "ftp"}))
)
m("VirtualService", "rewrite uri and regex", http_vs)(
    lambda r: H(r).update(rewrite={"uri": "/a", "uriRegexRewrite": {"match": "^/", "rewrite": "/"}})
)
m("VirtualService", "empty rewrite", http_vs)(lambda r: H(r).update(rewrite={}))
m("VirtualService", "authority twice", http_vs)(
    lambda r: H(r).update(rewrite={"authority": "a"}, headers={"request": {"set": {"host": "b"}}})
)
m("VirtualService", "mirror and mirrors", http_vs)(
    lambda r: H(r).update(mirror={"host": "a"}, mirrors=[{"destination": {"host": "b"}}])
)
m("VirtualService", "sourceNamespace not a label", http_vs)(
    lambda r: H(r).update(match=[{"sourceNamespace": "a.b"}])
)
m("VirtualService", "exportTo ~", http_vs)(lambda r: S(r).update(exportTo=["~"]))
m("VirtualService", "upper-case name", http_vs)(lambda r: r["metadata"].update(name="MyVS"))
m("VirtualService", "invalid label key", http_vs)(
    lambda r: r["metadata"].update(labels={"bad key": "x"})
)
m("VirtualService", "dry-run annotation", http_vs)(
    lambda r: r["metadata"].update(annotations={"istio.io/dry-run": "true"})
)
m("VirtualService", "namespace with a dot", http_vs)(
    lambda r: r["metadata"].update(namespace="a.b")
)
# --- Gateway


def G(r: Resource) -> Any:
    return r["spec"]["servers"][0]


m("Gateway", "no servers", has_servers)(lambda r: S(r).update(servers=[]))
m("Gateway", "bogus protocol", has_servers)(lambda r: G(r)["port"].update(protocol="BOGUS"))
m("Gateway", "duplicate port names", has_servers)(
    lambda r: S(r)["servers"].append(copy.deepcopy(G(r)))
)
m("Gateway", "port without name", has_servers)(lambda r: G(r)["port"].pop("name", None))
m("Gateway", "HTTPS without tls", has_servers)(
    lambda r: (G(r)["port"].update(protocol="HTTPS"), G(r).pop("tls", None))
)
m("Gateway", "targetPort", has_servers)(lambda r: G(r)["port"].update(targetPort=8080))
m("Gateway", "short host", has_servers)(lambda r: G(r).update(hosts=["app"]))
m("Gateway", "partial wildcard host", has_servers)(
    lambda r: G(r).update(hosts=["*app.example.com"])
)
m("Gateway", "~ namespace host", has_servers)(lambda r: G(r).update(hosts=["~/app.example.com"]))
m("Gateway", "name with a dot", has_servers)(lambda r: r["metadata"].update(name="gw.v1"))
m("Gateway", "bind not an IP", has_servers)(lambda r: G(r).update(bind="localhost"))
m("Gateway", "SIMPLE without credential", has_servers)(
    lambda r: (G(r)["port"].update(protocol="HTTPS"), G(r).update(tls={"mode": "SIMPLE"}))
)
m("Gateway", "MUTUAL files without CA", has_servers)(
    lambda r: (
        G(r)["port"].update(protocol="HTTPS"),
        G(r).update(tls={"mode": "MUTUAL", "serverCertificate": "a", "privateKey": "b"}),
    )
)
m("Gateway", "ISTIO_MUTUAL with credentialName", has_servers)(
    lambda r: (
        G(r)["port"].update(protocol="HTTPS"),
        G(r).update(tls={"mode": "ISTIO_MUTUAL", "credentialName": "c"}),
    )
)
m("Gateway", "TLS on a TCP port", has_servers)(
    lambda r: (
        G(r)["port"].update(protocol="TCP"),
        G(r).update(tls={"mode": "SIMPLE", "credentialName": "c"}),
    )
)
m("Gateway", "credentialName and credentialNames", has_servers)(
    lambda r: (
        G(r)["port"].update(protocol="HTTPS"),
        G(r).update(tls={"mode": "SIMPLE", "credentialName": "c", "credentialNames": ["d"]}),
    )
)
# --- DestinationRule
D = S
m("DestinationRule", "duplicate subset names", has_subsets)(
    lambda r: D(r)["subsets"].append(copy.deepcopy(D(r)["subsets"][0]))
)
m("DestinationRule", "simple and consistentHash")(
    lambda r: D(r).update(
        trafficPolicy={
            "loadBalancer": {"simple": "RANDOM", "consistentHash": {"useSourceIp": True}}
        }
    )
)
m("DestinationRule", "subset name not a label", has_subsets)(
    lambda r: D(r)["subsets"][0].update(name="v1.0")
)
m("DestinationRule", "subset label value with a space", has_subsets)(
    lambda r: D(r)["subsets"][0].update(labels={"version": "v 1"})
)
m("DestinationRule", "empty traffic policy")(lambda r: D(r).update(trafficPolicy={}))
m("DestinationRule", "empty connection pool")(
    lambda r: D(r).update(trafficPolicy={"connectionPool": {}})
)
m("DestinationRule", "connect timeout 1us")(
    lambda r: D(r).update(trafficPolicy={"connectionPool": {"tcp": {"connectTimeout": "1us"}}})
)
m("DestinationRule", "UPGRADE with useClientProtocol")(
    lambda r: D(r).update(
        trafficPolicy={
            "connectionPool": {"http": {"h2UpgradePolicy": "UPGRADE", "useClientProtocol": True}}
        }
    )
)
m("DestinationRule", "local origin failures without split")(
    lambda r: D(r).update(trafficPolicy={"outlierDetection": {"consecutiveLocalOriginFailures": 3}})
)
m("DestinationRule", "maglev not prime")(
    lambda r: D(r).update(
        trafficPolicy={
            "loadBalancer": {"consistentHash": {"useSourceIp": True, "maglev": {"tableSize": 1000}}}
        }
    )
)
m("DestinationRule", "two hash keys")(
    lambda r: D(r).update(
        trafficPolicy={
            "loadBalancer": {"consistentHash": {"useSourceIp": True, "httpHeaderName": "x"}}
        }
    )
)
m("DestinationRule", "port level without port")(
    lambda r: D(r).update(
        trafficPolicy={"portLevelSettings": [{"loadBalancer": {"simple": "RANDOM"}}]}
    )
)
m("DestinationRule", "MUTUAL without certificate")(
    lambda r: D(r).update(trafficPolicy={"tls": {"mode": "MUTUAL"}})
)
m("DestinationRule", "host with a wildcard in the middle")(lambda r: D(r).update(host="a.*.b"))
m("DestinationRule", "locality weights not 100")(
    lambda r: D(r).update(
        trafficPolicy={
            "outlierDetection": {"consecutive5xxErrors": 1},
            "loadBalancer": {
                "simple": "RANDOM",
                "localityLbSetting": {"distribute": [{"from": "a/*", "to": {"b/*": 60}}]},
            },
        }
    )
)
# --- ServiceEntry
E = S
m("ServiceEntry", "host *")(lambda r: E(r).update(hosts=["*"]))
m("ServiceEntry", "duplicate port numbers")(
    lambda r: E(r).update(
        ports=[
            {"number": 80, "name": "a", "protocol": "HTTP"},
            {"number": 80, "name": "b", "protocol": "HTTP"},
        ]
    )
)
m("ServiceEntry", "port name not a label")(
    lambda r: E(r).update(ports=[{"number": 80, "name": "http_1", "protocol": "HTTP"}])
)
m("ServiceEntry", "unknown protocol")(
    lambda r: E(r).update(ports=[{"number": 80, "name": "x", "protocol": "KAFKA"}])
)
m("ServiceEntry", "CIDR with DNS")(
    lambda r: E(r).update(addresses=["10.0.0.0/8"], resolution="DNS")
)
m("ServiceEntry", "NONE with endpoints")(
    lambda r: E(r).update(resolution="NONE", endpoints=[{"address": "1.1.1.1"}])
)
m("ServiceEntry", "STATIC with an FQDN endpoint")(
    lambda r: E(r).update(resolution="STATIC", endpoints=[{"address": "a.example.com"}])
)
m("ServiceEntry", "DNS wildcard host without endpoints")(
    lambda r: (E(r).update(hosts=["*.example.com"], resolution="DNS"), E(r).pop("endpoints", None))
)
# --- Sidecar
C = S
m("Sidecar", "empty")(lambda r: r.update(spec={}))
m("Sidecar", "egress host without namespace")(
    lambda r: C(r).update(egress=[{"hosts": ["foo.example.com"]}])
)
m("Sidecar", "egressProxy without ALLOW_ANY")(
    lambda r: C(r).update(
        outboundTrafficPolicy={
            "mode": "REGISTRY_ONLY",
            "egressProxy": {"host": "a.b", "port": {"number": 80}},
        }
    )
)
m("Sidecar", "wildcard in selector")(
    lambda r: C(r).update(workloadSelector={"labels": {"app": "*"}})
)


@pytest.fixture(scope="module")
def documents() -> list[dict[str, Any]]:
    return _documents()


@pytest.mark.parametrize(
    ("kind", "name", "pred", "mutate"), MUTANTS, ids=[f"{k}: {n}" for k, n, _, _ in MUTANTS]
)
def test_an_istio_invalid_mutant_of_the_suite_is_refused(
    documents: list[dict[str, Any]],
    tmp_path: Path,
    kind: str,
    name: str,
    pred: Callable[[Resource], bool],
    mutate: Callable[[Resource], object],
) -> None:
    document, index = next(
        (d, i)
        for d in documents
        for i, r in enumerate(d["spec"].get("resources", []))
        if isinstance(r, dict) and r.get("kind") == kind and pred(r)
    )
    case = copy.deepcopy(document)
    # Includes are relative paths inside the include root (the case's directory here), so
    # the mutant gets a copy of the suite's manifests beside it.
    shutil.copytree(CASES / "manifests", tmp_path / "manifests")
    mutate(case["spec"]["resources"][index])
    path = tmp_path / "mutant.yaml"
    path.write_text(yaml.safe_dump(case, sort_keys=False), encoding="utf-8")
    result = load_case_file(path)
    assert result.cases == [], f"{kind}: {name} was accepted"
    (invalid,) = result.invalid
    # Refused for the mutant resource, not for anything else of the case.
    where = f"spec.resources[{index}]"
    assert invalid.error.problems
    assert all(p.key_path.startswith(where) for p in invalid.error.problems), invalid.error
