"""DestinationRule validation: Istio's tables (validation_test.go TestValidateDestinationRule,
TestValidateTrafficPolicy, TestValidateConnectionPool, TestValidateLoadBalancer,
TestValidateOutlierDetection; agent/validation_test.go TestValidateLocalityLbSetting,
TestValidateTLS) and the measured false passes."""

from __future__ import annotations

from typing import Any

import pytest
from validating import check_row, destination_rule, outcome, traffic_policy

SUBSETS = [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]
GOOD_POLICY = {
    "loadBalancer": {"simple": "ROUND_ROBIN"},
    "connectionPool": {"tcp": {"maxConnections": 7}, "http": {"http2MaxRequests": 11}},
    "outlierDetection": {"minHealthPercent": 20},
}
BAD_POLICY = {**GOOD_POLICY, "connectionPool": {}}

# TestValidateDestinationRule (the rule-level rows): (name, spec, error, warning).
RULE_ROWS: list[tuple[str, dict[str, Any], str, str]] = [
    ("simple destination rule", {"subsets": SUBSETS}, "", ""),
    (
        "simple destination rule with empty selector labels",
        {"subsets": SUBSETS, "workloadSelector": {}},
        "",
        "workload selector specified without labels",
    ),
    ("missing destination name", {"host": "", "subsets": SUBSETS}, "at least 1 character", ""),
    (
        "missing subset name",
        {"subsets": [{"name": "", "labels": {"version": "v1"}}]},
        "at least 1 character",
        "",
    ),
    (
        "duplicate subset names",
        {
            "subsets": [
                {"name": "foo", "labels": {"version": "v1"}},
                {"name": "foo", "labels": {"version": "v2"}},
            ]
        },
        "duplicate subset names: foo",
        "",
    ),
    ("valid traffic policy, top level", {"trafficPolicy": GOOD_POLICY, "subsets": SUBSETS}, "", ""),
    (
        "invalid traffic policy, top level",
        {"trafficPolicy": BAD_POLICY, "subsets": SUBSETS},
        "connection pool must have at least one field",
        "",
    ),
    (
        "valid traffic policy, subset level",
        {"subsets": [{**SUBSETS[0], "trafficPolicy": GOOD_POLICY}, SUBSETS[1]]},
        "",
        "",
    ),
    (
        "invalid traffic policy, subset level",
        {"subsets": [{**SUBSETS[0], "trafficPolicy": BAD_POLICY}, SUBSETS[1]]},
        "subsets[0].trafficPolicy.connectionPool: connection pool must have at least one field",
        "",
    ),
    (
        "valid traffic policy, both levels",
        {
            "trafficPolicy": GOOD_POLICY,
            "subsets": [{**SUBSETS[0], "trafficPolicy": GOOD_POLICY}, SUBSETS[1]],
        },
        "",
        "",
    ),
    (
        "a subset name that is not a DNS label",
        {"subsets": [{"name": "v1.0"}]},
        "subset name is invalid: v1.0",
        "",
    ),
    (
        "a subset label that is not a label value",
        {"subsets": [{"name": "v1", "labels": {"version": "v 1"}}]},
        'invalid tag value: "v 1"',
        "",
    ),
    ("a bad host", {"host": "a.*.b"}, '(label "*" invalid)', ""),
    (
        "a workload selector with exportTo beyond its namespace",
        {"workloadSelector": {"matchLabels": {"app": "a"}}, "exportTo": ["*"]},
        "destination rule with workload selector cannot have exportTo beyond current namespace",
        "",
    ),
    (
        "a wildcard in a selector",
        {"workloadSelector": {"matchLabels": {"app": "a*"}}},
        'wildcard is not supported in selector: "app=a*"',
        "",
    ),
]


@pytest.mark.parametrize(
    ("name", "spec", "error", "warning"), RULE_ROWS, ids=[r[0] for r in RULE_ROWS]
)
def test_validate_destination_rule(
    name: str, spec: dict[str, Any], error: str, warning: str
) -> None:
    check_row(destination_rule(spec), error, warning)


def tls(mode: str, **settings: Any) -> dict[str, Any]:
    return {"tls": {"mode": mode, **settings}}


SAN = {"subjectAltNames": ["reviews.default.svc"]}
SKIP = {"insecureSkipVerify": True}
KEYS = {"privateKey": "key", "clientCertificate": "cert"}
SKIP_SIMPLE = "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true"
SKIP_MUTUAL = "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true"

# TestValidateDestinationRule's InsecureSkipVerify rows and agent TestValidateTLS.
CLIENT_TLS_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("simple, ca by CaCertificates", tls("SIMPLE", caCertificates="test", **SAN), ""),
    ("simple, ca by CredentialName", tls("SIMPLE", credentialName="test", **SAN), ""),
    (
        "simple, skip verify false",
        tls("SIMPLE", caCertificates="test", **SAN, insecureSkipVerify=False),
        "",
    ),
    (
        "simple, skip verify with credentialName",
        tls("SIMPLE", credentialName="test", **SKIP),
        SKIP_SIMPLE,
    ),
    (
        "simple, skip verify with caCertificates",
        tls("SIMPLE", caCertificates="test", **SKIP),
        SKIP_SIMPLE,
    ),
    ("simple, skip verify with SANs", tls("SIMPLE", **SAN, **SKIP), SKIP_SIMPLE),
    ("mutual, ca by CaCertificates", tls("MUTUAL", caCertificates="test", **KEYS, **SAN), ""),
    ("mutual, ca by CredentialName", tls("MUTUAL", credentialName="test", **SAN), ""),
    (
        "mutual, skip verify with caCertificates",
        tls("MUTUAL", caCertificates="test", **KEYS, **SKIP),
        SKIP_MUTUAL,
    ),
    ("mutual, skip verify with credentialName", tls("MUTUAL", credentialName="test", **SKIP), ""),
    ("mutual, skip verify without ca", tls("MUTUAL", **KEYS, **SKIP), ""),
    ("mutual, skip verify with SANs", tls("MUTUAL", **KEYS, **SAN, **SKIP), SKIP_MUTUAL),
    (
        "mutual without client certificate",
        tls("MUTUAL", privateKey="key"),
        "client certificate required for mutual tls",
    ),
    (
        "mutual without private key",
        tls("MUTUAL", clientCertificate="cert"),
        "private key required for mutual tls",
    ),
    (
        "credentialName with certificates",
        tls("SIMPLE", credentialName="c", caCertificates="ca"),
        "cannot specify client certificates or CA certificate or CA CRL If credentialName is set",
    ),
    (
        "configmap credential of another namespace",
        tls("SIMPLE", credentialName="configmap://other/ca"),
        "namespace must match the configuration namespace",
    ),
    (
        "configmap credential without a name",
        tls("SIMPLE", credentialName="configmap://default"),
        "Expected namespace and name",
    ),
    (
        "configmap credential of its namespace",
        tls("SIMPLE", credentialName="configmap://default/ca"),
        "",
    ),
    ("istio mutual", tls("ISTIO_MUTUAL"), ""),
]


@pytest.mark.parametrize(
    ("name", "policy", "error"), CLIENT_TLS_ROWS, ids=[r[0] for r in CLIENT_TLS_ROWS]
)
def test_validate_client_tls(name: str, policy: dict[str, Any], error: str) -> None:
    check_row(traffic_policy(policy), error)


# TestValidateTrafficPolicy.
POLICY_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("valid traffic policy", GOOD_POLICY, ""),
    ("invalid traffic policy, nil entries", {}, "traffic policy must have at least one field"),
    (
        "invalid traffic policy, missing port in port level settings",
        {"portLevelSettings": [GOOD_POLICY]},
        "portTrafficPolicy must have valid port",
    ),
    (
        "a port level setting without a field",
        {"portLevelSettings": [{"port": {"number": 80}}]},
        "port traffic policy must have at least one field",
    ),
    (
        "invalid traffic policy, bad connection pool",
        BAD_POLICY,
        "connection pool must have at least one field",
    ),
    (
        "invalid traffic policy, bad max connection duration",
        {
            "loadBalancer": {"simple": "ROUND_ROBIN"},
            "connectionPool": {"tcp": {"maxConnectionDuration": "500ns"}},
        },
        "duration must be greater than 1ms",
    ),
    (
        "invalid traffic policy, panic threshold too low",
        {**GOOD_POLICY, "outlierDetection": {"minHealthPercent": -1}},
        "greater than or equal to 0",
    ),
    (
        "invalid traffic policy, both upgrade and use client protocol set",
        {"connectionPool": {"http": {"h2UpgradePolicy": "UPGRADE", "useClientProtocol": True}}},
        "use client protocol must not be true when H2UpgradePolicy is UPGRADE",
    ),
    (
        "tunnel and proxy protocol together",
        {"tunnel": {"targetHost": "a.b", "targetPort": 80}, "proxyProtocol": {"version": "V1"}},
        "tunnel and proxyProtocol must not be set together",
    ),
    (
        "a tunnel protocol neither CONNECT nor POST",
        {"tunnel": {"protocol": "GET", "targetHost": "a.b", "targetPort": 80}},
        'tunnel protocol must be "CONNECT" or "POST"',
    ),
    (
        "a tunnel target port out of range",
        {"tunnel": {"targetHost": "a.b", "targetPort": 0}},
        "tunnel target port is invalid",
    ),
    (
        "a tunnel without a target host",
        {"tunnel": {"targetPort": 80}},
        "missing required key 'targetHost'",
    ),
    ("a retry budget alone is a field", {"retryBudget": {"percent": {"value": 20}}}, ""),
]


@pytest.mark.parametrize(("name", "policy", "error"), POLICY_ROWS, ids=[r[0] for r in POLICY_ROWS])
def test_validate_traffic_policy(name: str, policy: dict[str, Any], error: str) -> None:
    check_row(traffic_policy(policy), error)


HTTP_POOL = {
    "http1MaxPendingRequests": 2,
    "http2MaxRequests": 11,
    "maxRequestsPerConnection": 5,
    "maxRetries": 4,
    "idleTimeout": "30s",
    "maxConcurrentStreams": 5,
}

# TestValidateConnectionPool.
POOL_ROWS: list[tuple[str, dict[str, Any], str]] = [
    (
        "valid connection pool, tcp and http",
        {"tcp": {"maxConnections": 7, "connectTimeout": "2s"}, "http": HTTP_POOL},
        "",
    ),
    ("valid connection pool, tcp only", {"tcp": {"maxConnections": 7, "connectTimeout": "2s"}}, ""),
    ("valid connection pool, http only", {"http": HTTP_POOL}, ""),
    ("invalid connection pool, empty", {}, "connection pool must have at least one field"),
    (
        "invalid connection pool, bad max connections",
        {"tcp": {"maxConnections": -1}},
        "greater than or equal to 0",
    ),
    (
        "invalid connection pool, bad connect timeout",
        {"tcp": {"connectTimeout": "2000000005ns"}},
        "only durations to ms precision are supported",
    ),
    (
        "invalid connection pool, bad max pending requests",
        {"http": {"http1MaxPendingRequests": -1}},
        "greater than or equal to 0",
    ),
    (
        "invalid connection pool, bad idle timeout",
        {"http": {"idleTimeout": "30000000005ns"}},
        "only durations to ms precision",
    ),
    ("valid connection pool, tcp timeout disabled", {"tcp": {"idleTimeout": "0s"}}, ""),
    # Go's Milliseconds() truncates: 900us is 0ms, which disables the timeout.
    ("a tcp idle timeout below 1ms", {"tcp": {"idleTimeout": "900us"}}, ""),
    ("a tcp idle timeout off the millisecond", {"tcp": {"idleTimeout": "1500us"}}, "ms precision"),
    (
        "a keepalive time below 1ms",
        {"tcp": {"tcpKeepalive": {"time": "100us"}}},
        "duration must be greater than 1ms",
    ),
]


@pytest.mark.parametrize(("name", "pool", "error"), POOL_ROWS, ids=[r[0] for r in POOL_ROWS])
def test_validate_connection_pool(name: str, pool: dict[str, Any], error: str) -> None:
    check_row(traffic_policy({"connectionPool": pool}), error)


def cookie(**fields: Any) -> dict[str, Any]:
    return {"consistentHash": {"httpCookie": {"name": "test-cookie", "ttl": "1h", **fields}}}


# TestValidateLoadBalancer: (name, loadBalancer, error, warning).
LB_ROWS: list[tuple[str, dict[str, Any], str, str]] = [
    ("valid load balancer with simple load balancing", {"simple": "ROUND_ROBIN"}, "", ""),
    (
        "valid load balancer with consistentHash load balancing",
        {"consistentHash": {"minimumRingSize": 1024, "httpCookie": {"name": "test", "ttl": "1h"}}},
        "",
        "consistent hash MinimumRingSize is deprecated",
    ),
    (
        "invalid load balancer with consistentHash load balancing, missing name",
        cookie(name=""),
        "name required for HttpCookie",
        "",
    ),
    (
        "invalid load balancer with consistentHash load balancing, maglev not prime",
        {"consistentHash": {"maglev": {"tableSize": 1000}}},
        "tableSize must be a prime number for maglev",
        "",
    ),
    (
        "maglev without a table size",
        {"consistentHash": {"maglev": {}}},
        "tableSize must be set for maglev",
        "",
    ),
    (
        "a maglev table too large",
        {"consistentHash": {"maglev": {"tableSize": 5000011}}},
        "tableSize must be less than 5000011",
        "",
    ),
    (
        "valid unique cookie attributes",
        cookie(
            attributes=[
                {"name": "SameSite", "value": "Strict"},
                {"name": "Secure", "value": "true"},
            ]
        ),
        "",
        "",
    ),
    (
        "duplicate cookie attribute names",
        cookie(
            attributes=[
                {"name": "SameSite", "value": "Strict"},
                {"name": "SameSite", "value": "Lax"},
            ]
        ),
        "duplicate cookie attribute name: SameSite",
        "",
    ),
    (
        "empty cookie attribute name",
        cookie(attributes=[{"name": "", "value": "v"}]),
        "cookie attribute name cannot be empty",
        "",
    ),
    (
        "minimum ring size with a hash algorithm",
        {
            "consistentHash": {
                "useSourceIp": True,
                "minimumRingSize": 1024,
                "ringHash": {"minimumRingSize": 1024},
            }
        },
        "only one of MinimumRingSize or Maglev/Ringhash can be specified",
        "",
    ),
    (
        "the CRD's oneOf: simple and consistentHash",
        {"simple": "RANDOM", "consistentHash": {"useSourceIp": True}},
        "only one of simple, consistentHash may be set",
        "",
    ),
    (
        "the CRD's oneOf: two hash keys",
        {"consistentHash": {"useSourceIp": True, "httpHeaderName": "x-user"}},
        "only one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName may be set",
        "",
    ),
    (
        "the CRD's oneOf: ring hash and maglev",
        {"consistentHash": {"useSourceIp": True, "ringHash": {}, "maglev": {"tableSize": 65537}}},
        "only one of ringHash, maglev may be set",
        "",
    ),
    (
        "warmup with a short duration",
        {"simple": "ROUND_ROBIN", "warmup": {"duration": "100us"}},
        "duration must be greater than 1ms",
        "",
    ),
    (
        "warmup minimum above 100",
        {"simple": "ROUND_ROBIN", "warmup": {"duration": "10s", "minimumPercent": 101}},
        "minimumPercent value should be less than or equal to 100",
        "",
    ),
    (
        "warmup aggression 0",
        {"simple": "ROUND_ROBIN", "warmup": {"duration": "10s", "aggression": 0}},
        "aggression should be greater than 0",
        "",
    ),
    (
        "warmup aggression below 1 (Istio 1.26)",
        {"simple": "ROUND_ROBIN", "warmup": {"duration": "10s", "aggression": 0.5}},
        "aggression should be greater than or equal to 1",
        "",
    ),
    (
        "warmupDurationSecs below 1ms (the CRD)",
        {"simple": "ROUND_ROBIN", "warmupDurationSecs": "1us"},
        "must be a valid duration greater than 1ms",
        "",
    ),
]


@pytest.mark.parametrize(("name", "lb", "error", "warning"), LB_ROWS, ids=[r[0] for r in LB_ROWS])
def test_validate_load_balancer(name: str, lb: dict[str, Any], error: str, warning: str) -> None:
    check_row(traffic_policy({"loadBalancer": lb}), error, warning)


# TestValidateOutlierDetection: (name, outlierDetection, error, warning).
OUTLIER_ROWS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "valid outlier detection",
        {"interval": "2s", "baseEjectionTime": "2s", "maxEjectionPercent": 50},
        "",
        "",
    ),
    (
        "invalid outlier detection, bad interval",
        {"interval": "2000000005ns"},
        "only durations to ms precision",
        "",
    ),
    (
        "invalid outlier detection, bad base ejection time",
        {"baseEjectionTime": "2000000005ns"},
        "only durations to ms precision",
        "",
    ),
    (
        "invalid outlier detection, bad max ejection percent",
        {"maxEjectionPercent": 105},
        "less than or equal to 100",
        "",
    ),
    (
        "invalid outlier detection, panic threshold too low",
        {"minHealthPercent": -1},
        "greater than or equal to 0",
        "",
    ),
    (
        "invalid outlier detection, panic threshold too high",
        {"minHealthPercent": 101},
        "less than or equal to 100",
        "",
    ),
    (
        "deprecated outlier detection, ConsecutiveErrors",
        {"consecutiveErrors": 101},
        "",
        "outlier detection consecutive errors is deprecated",
    ),
    (
        "consecutive local origin errors is set but split local origin errors is not set",
        {"consecutiveLocalOriginFailures": 10},
        "split external local origin errors is set to false",
        "",
    ),
]


@pytest.mark.parametrize(
    ("name", "outlier", "error", "warning"), OUTLIER_ROWS, ids=[r[0] for r in OUTLIER_ROWS]
)
def test_validate_outlier_detection(
    name: str, outlier: dict[str, Any], error: str, warning: str
) -> None:
    check_row(traffic_policy({"outlierDetection": outlier}), error, warning)


# agent/validation_test.go TestValidateLocalityLbSetting: (name, setting, with outlier, error, warning).
LOCALITY_ROWS: list[tuple[str, dict[str, Any], bool, str, str]] = [
    (
        "total weight > 100",
        {"distribute": [{"from": "a/b/c", "to": {"a/b/c": 80, "a/b1": 25}}]},
        True,
        "total locality weight 105 != 100",
        "",
    ),
    (
        "total weight < 100",
        {"distribute": [{"from": "a/b/c", "to": {"a/b/c": 80, "a/b1": 15}}]},
        True,
        "total locality weight 95 != 100",
        "",
    ),
    (
        "weight = 0",
        {"distribute": [{"from": "a/b/c", "to": {"a/b/c": 0, "a/b1": 100}}]},
        True,
        "locality weight must be in range [1, 100]",
        "",
    ),
    (
        "both distribute and failover",
        {
            "distribute": [{"from": "a/b/c", "to": {"a/b/c": 80, "a/b1": 20}}],
            "failover": [{"from": "region1", "to": "region2"}],
        },
        True,
        "can not simultaneously specify 'distribute' and 'failover'",
        "",
    ),
    (
        "failover src and dst have same region",
        {"failover": [{"from": "region1", "to": "region1"}]},
        True,
        "must specify different regions",
        "",
    ),
    (
        "failover src contains '*'",
        {"failover": [{"from": "*", "to": "region2"}]},
        True,
        "should not contain '*' wildcard",
        "",
    ),
    (
        "failover dst contains '/'",
        {"failover": [{"from": "region1", "to": "region2/zone1"}]},
        True,
        "locality lb failover only specify region",
        "",
    ),
    (
        "failover priority without outlier detection",
        {"failoverPriority": ["topology.istio.io/network", "topology.kubernetes.io/region"]},
        False,
        "",
        "outlier detection policy must be provided for failover",
    ),
    (
        "failoverPriority with a region label beside failover",
        {
            "failover": [{"from": "region1", "to": "region2"}],
            "failoverPriority": ["topology.kubernetes.io/region"],
        },
        True,
        "can not simultaneously set 'failover' and topology label 'topology.kubernetes.io/region'",
        "",
    ),
    (
        "overlapping localities",
        {"distribute": [{"from": "a/*", "to": {"b": 100}}, {"from": "a/b", "to": {"c": 100}}]},
        True,
        "locality a/b overlap with previous specified ones",
        "",
    ),
    (
        "a wildcard not at the end",
        {"distribute": [{"from": "*/b", "to": {"c": 100}}]},
        True,
        "wildcard '*' number can not exceed 1 and must be in the end",
        "",
    ),
]


@pytest.mark.parametrize(
    ("name", "setting", "with_outlier", "error", "warning"),
    LOCALITY_ROWS,
    ids=[r[0] for r in LOCALITY_ROWS],
)
def test_validate_locality_lb_setting(
    name: str, setting: dict[str, Any], with_outlier: bool, error: str, warning: str
) -> None:
    policy: dict[str, Any] = {
        "loadBalancer": {"simple": "ROUND_ROBIN", "localityLbSetting": setting}
    }
    if with_outlier:
        policy["outlierDetection"] = {"consecutive5xxErrors": 5}
    check_row(traffic_policy(policy), error, warning)


# ------------------------------------------------------------------ the measured false passes


def test_duplicate_subset_names_are_rejected_at_the_second() -> None:
    spec = {
        "subsets": [
            {"name": "v1", "labels": {"version": "v1"}},
            {"name": "v1", "labels": {"version": "v2"}},
        ]
    }
    assert outcome(destination_rule(spec)).errors == [
        "spec.subsets[1].name: duplicate subset names: v1"
    ]


def test_simple_and_consistent_hash_together_are_rejected() -> None:
    policy = {
        "loadBalancer": {"simple": "LEAST_REQUEST", "consistentHash": {"httpHeaderName": "x-user"}}
    }
    assert outcome(traffic_policy(policy)).errors == [
        "spec.trafficPolicy.loadBalancer: only one of simple, consistentHash may be set "
        "(got simple and consistentHash)"
    ]


def test_the_crd_limits_selector_values() -> None:
    spec = {"workloadSelector": {"matchLabels": {"app": "a" * 64}}}
    assert outcome(destination_rule(spec)).errors == [
        "spec.workloadSelector.matchLabels.app: Too long: may not be more than 63 bytes"
    ]
