"""Gloo router: the pure builders and readers of the Upstreams and the RouteTable."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from controller.kube import Kube
from controller.routers import gloo_routes as build
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from controller.routers.gloo import GlooRouter
from controller.routers.route_objects import RouteContext, route_context

Obj = dict[str, Any]
PRIMARY = "test-podinfo-primaryupstream-9898"
CANARY = "test-podinfo-canaryupstream-9898"


def make_canary(analysis: Obj | None = None) -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "uid-9"},
        "spec": {
            "provider": "gloo",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {"interval": "15s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
        },
    }


def ctx_of(canary: Obj) -> RouteContext:
    ctx = route_context(canary, "gloo")
    build.check_supported(ctx)
    return ctx


def weights_of(route: Obj) -> dict[str, int]:
    return {
        d["destination"]["upstream"]["name"]: d["weight"]
        for d in route["routeAction"]["multi"]["destinations"]
    }


def test_upstreams_are_named_per_namespace_service_and_port_and_copy_the_template() -> None:
    ctx = ctx_of(make_canary())
    assert build.upstream_names(ctx) == (PRIMARY, CANARY)
    service = {"metadata": {"name": "podinfo-primary"}, "spec": {"selector": {"app": "podinfo-primary"}}}
    template = {
        "spec": {
            "connectionConfig": {"maxRequestsPerConnection": 10},
            "useHttp2": True,
            "kube": {"serviceName": "ignored", "serviceNamespace": "x", "servicePort": 1},
            "static": {"hosts": []},
        }
    }
    upstream = build.upstream(ctx, PRIMARY, service, template)
    assert upstream["apiVersion"] == "gloo.solo.io/v1"
    assert upstream["spec"] == {
        "connectionConfig": {"maxRequestsPerConnection": 10},
        "useHttp2": True,
        "kube": {
            "serviceName": "podinfo-primary",
            "serviceNamespace": "test",
            "servicePort": 9898,
            "selector": {"app": "podinfo-primary"},
        },
    }
    assert upstream["metadata"]["ownerReferences"][0]["uid"] == "uid-9"
    assert build.upstream(ctx, PRIMARY, service, None)["spec"].keys() == {"kube"}


def test_route_table_splits_between_the_upstreams() -> None:
    table = build.route_table(ctx_of(make_canary()), Routes(60, 40))
    assert table["apiVersion"] == "gateway.solo.io/v1"
    assert table["metadata"]["name"] == "podinfo"
    [route] = table["spec"]["routes"]
    assert route["inheritablePathMatchers"] is True
    assert "matchers" not in route
    assert weights_of(route) == {PRIMARY: 60, CANARY: 40}
    assert route["routeAction"]["multi"]["destinations"][0]["destination"]["upstream"]["namespace"] == "test"
    assert build.routes_of(table, PRIMARY, CANARY) == Routes(60, 40)


def test_ab_testing_gets_one_matcher_per_condition_and_a_primary_fallback() -> None:
    analysis = {
        "match": [
            {"headers": {"x-canary": {"exact": "insider"}, "user-agent": {"prefix": "Mozilla"}}},
            {
                "headers": {"cookie": {"regex": "^(.*?;)?(canary=always)(;.*)?$"}},
                "queryParams": {"v": {"exact": "2"}},
            },
        ],
    }
    table = build.route_table(ctx_of(make_canary({**analysis, "iterations": 10})), Routes(100, 0))
    weighted, rest = table["spec"]["routes"]
    assert weighted["matchers"] == [
        {
            "headers": [
                {"name": "x-canary", "value": "insider"},
                {"name": "user-agent", "value": "^Mozilla.*", "regex": True},
            ]
        },
        {
            "headers": [{"name": "cookie", "value": "^(.*?;)?(canary=always)(;.*)?$", "regex": True}],
            "queryParameters": [{"name": "v", "value": "2"}],
        },
    ]
    assert rest == {
        "inheritablePathMatchers": True,
        "routeAction": {"single": {"upstream": {"name": PRIMARY, "namespace": "test"}}},
    }
    assert build.routes_of(table, PRIMARY, CANARY) == Routes(100, 0)


def test_routes_of_rejects_a_table_without_the_canary_upstream() -> None:
    table = {
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {"routes": [{"routeAction": {"single": {}}}]},
    }
    with pytest.raises(RouterError, match="no weighted route"):
        build.routes_of(table, PRIMARY, CANARY)


@pytest.mark.parametrize(
    ("analysis", "message"),
    [
        ({"iterations": 5, "mirror": True}, "mirroring"),
        ({"sessionAffinity": {"cookieName": "c"}}, "session affinity"),
        ({"iterations": 5, "match": [{"sourceLabels": {"app": "x"}}]}, "sourceLabels"),
    ],
)
def test_unsupported_requests_are_refused(analysis: Obj, message: str) -> None:
    with pytest.raises(UnsupportedFeature, match=message):
        ctx_of(make_canary(analysis))


async def test_the_registry_builds_the_router_and_refuses_bad_splits_before_any_call() -> None:
    kube = Kube(client.Configuration(host="http://127.0.0.1:9"))
    try:
        router = router_for(kube, make_canary())
        assert isinstance(router, GlooRouter)
        with pytest.raises(UnsupportedFeature, match="mirroring"):
            await router.set_routes(50, 50, True)
        with pytest.raises(RouterError, match="invalid weights"):
            await router.set_routes(0, 0, False)
    finally:
        await kube.close()
