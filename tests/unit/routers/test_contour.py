"""Contour router: the HTTPProxy routes, A/B conditions, policies and reading weights back."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from controller.kube import Kube
from controller.routers import contour
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from controller.routers.route_objects import RouteContext, route_context

Obj = dict[str, Any]


def make_canary(service: Obj | None = None, analysis: Obj | None = None) -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "uid-1"},
        "spec": {
            "provider": "contour",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898, **(service or {})},
            "analysis": {"interval": "30s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
        },
    }


def ctx_of(canary: Obj) -> RouteContext:
    ctx = route_context(canary, "contour")
    contour.check_supported(ctx)
    return ctx


def weights(route: Obj) -> dict[str, int]:
    return {s["name"]: s["weight"] for s in route["services"]}


def test_weighted_proxy_has_one_route_with_linkerd_overrides() -> None:
    proxy = contour.http_proxy(
        ctx_of(make_canary({"apex": {"annotations": {"projectcontour.io/ingress.class": "c"}}})),
        Routes(80, 20),
    )
    assert proxy["apiVersion"] == "projectcontour.io/v1"
    assert proxy["metadata"]["annotations"]["projectcontour.io/ingress.class"] == "c"
    assert proxy["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    [route] = proxy["spec"]["routes"]
    assert route["conditions"] == [{"prefix": "/"}]
    assert weights(route) == {"podinfo-primary": 80, "podinfo-canary": 20}
    assert route["services"][1]["requestHeadersPolicy"] == {
        "set": [{"name": "l5d-dst-override", "value": "podinfo-canary.test.svc.cluster.local:9898"}]
    }
    assert "timeoutPolicy" not in route
    assert "retryPolicy" not in route


def test_prefix_timeout_and_retries_come_from_the_service_spec() -> None:
    service = {
        "match": [{"uri": {"prefix": "/api"}}],
        "timeout": "15s",
        "retries": {"attempts": 3, "perTryTimeout": "5s", "retryOn": "gateway-error, connect-failure"},
    }
    [route] = contour.http_proxy(ctx_of(make_canary(service)), Routes(100, 0))["spec"]["routes"]
    assert route["conditions"] == [{"prefix": "/api"}]
    assert route["timeoutPolicy"] == {"response": "15s", "idle": "5m"}
    assert route["retryPolicy"] == {
        "count": 3,
        "perTryTimeout": "5s",
        "retryOn": ["gateway-error", "connect-failure"],
    }


def test_ab_testing_has_a_route_per_match_then_the_primary() -> None:
    analysis = {
        "iterations": 10,
        "match": [
            {"headers": {"x-canary": {"exact": "insider"}}},
            {"headers": {"user-agent": {"prefix": "Mozilla"}}, "queryParams": {"beta": {"regex": "^y"}}},
            {"headers": {"x-any": {}}},
        ],
    }
    routes = contour.http_proxy(ctx_of(make_canary(analysis=analysis)), Routes(0, 100))["spec"]["routes"]
    assert [r["conditions"] for r in routes] == [
        [{"prefix": "/"}, {"header": {"name": "x-canary", "exact": "insider"}}],
        [
            {"prefix": "/"},
            {"header": {"name": "user-agent", "regex": "^Mozilla.*"}},
            {"queryParameter": {"name": "beta", "regex": "^y"}},
        ],
        [{"prefix": "/"}, {"header": {"name": "x-any", "present": True}}],
        [{"prefix": "/"}],
    ]
    assert [weights(r) for r in routes] == [{"podinfo-primary": 0, "podinfo-canary": 100}] * 3 + [
        {"podinfo-primary": 100, "podinfo-canary": 0}
    ]
    proxy = contour.http_proxy(ctx_of(make_canary(analysis=analysis)), Routes(0, 100))
    assert contour.routes_of(proxy, "podinfo-primary", "podinfo-canary") == Routes(0, 100)


def test_routes_of_rejects_proxies_without_the_split() -> None:
    proxy = contour.http_proxy(ctx_of(make_canary()), Routes(60, 40))
    assert contour.routes_of(proxy, "podinfo-primary", "podinfo-canary") == Routes(60, 40)
    proxy["spec"]["routes"][0]["services"][1]["weight"] = 0
    proxy["spec"]["routes"][0]["services"][0]["weight"] = 0
    with pytest.raises(RouterError, match="no weight"):
        contour.routes_of(proxy, "podinfo-primary", "podinfo-canary")
    handover = contour.handover_proxy(ctx_of(make_canary()))
    assert weights(handover["spec"]["routes"][0]) == {"podinfo": 100}
    with pytest.raises(RouterError, match="does not route"):
        contour.routes_of(handover, "podinfo-primary", "podinfo-canary")
    with pytest.raises(RouterError, match="no routes"):
        contour.routes_of({"metadata": {"name": "x"}, "spec": {}}, "a", "b")


@pytest.mark.parametrize(
    ("analysis", "what"),
    [
        ({"mirror": True}, "mirroring"),
        ({"sessionAffinity": {"cookieName": "c"}}, "session affinity"),
        ({"iterations": 5, "match": [{"sourceLabels": {"app": "x"}}]}, "source label"),
    ],
)
def test_unsupported_features_are_refused(analysis: Obj, what: str) -> None:
    with pytest.raises(UnsupportedFeature, match=what):
        ctx_of(make_canary(analysis=analysis))


def test_registered_for_contour_with_its_query_set() -> None:
    router = router_for(Kube(client.Configuration()), make_canary())
    assert isinstance(router, contour.ContourRouter)
