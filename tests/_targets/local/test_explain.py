"""Route descriptions in failure messages: what a route does, mirrors included."""

from __future__ import annotations

from pytest_meshgate._targets.local.explain import _describe_route


def test_a_route_names_its_mirrors_and_their_share() -> None:
    route = {
        "name": "default/app.http[0]",
        "match": {"prefix": "/half"},
        "route": {
            "cluster": "outbound|80|v1|echo.default.svc.cluster.local",
            "request_mirror_policies": [
                {
                    "cluster": "outbound|80||shadow.default.svc.cluster.local",
                    "runtime_fraction": {
                        "default_value": {"numerator": 125000, "denominator": "MILLION"}
                    },
                },
                {"cluster": "outbound|80||audit.default.svc.cluster.local"},
            ],
        },
    }
    assert _describe_route(route) == (
        "prefix /half -> outbound|80|v1|echo.default.svc.cluster.local, "
        "mirror to outbound|80||shadow.default.svc.cluster.local (12.5 %), "
        "mirror to outbound|80||audit.default.svc.cluster.local (100 %)   [default/app.http[0]]"
    )


def test_a_route_without_mirrors_reads_as_before() -> None:
    route = {"match": {"path": "/x"}, "route": {"cluster": "c"}}
    assert _describe_route(route) == "path /x -> c"
