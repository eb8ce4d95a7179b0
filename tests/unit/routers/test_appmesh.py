"""App Mesh router: the pure builders and readers of VirtualNodes, VirtualRouters, VirtualServices."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from controller.kube import Kube
from controller.routers import appmesh_routes as build
from controller.routers.appmesh import AppMeshRouter
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from controller.routers.route_objects import RouteContext, route_context

Obj = dict[str, Any]


def make_canary(service: Obj | None = None, analysis: Obj | None = None) -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "apps", "uid": "uid-1"},
        "spec": {
            "provider": "appmesh",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898, **(service or {})},
            "analysis": {
                "interval": "15s",
                "threshold": 5,
                "stepWeight": 5,
                "maxWeight": 50,
                **(analysis or {}),
            },
        },
    }


def ctx_of(canary: Obj) -> RouteContext:
    ctx = route_context(canary, "appmesh")
    build.check_supported(ctx)
    return ctx


def targets(route: Obj) -> dict[str, int]:
    return {t["virtualNodeRef"]["name"]: t["weight"] for t in route["httpRoute"]["action"]["weightedTargets"]}


def test_virtual_nodes_select_primary_and_canary_pods_and_carry_backends() -> None:
    canary = make_canary(
        {"backends": ["backend1", "backend2.other", "arn:aws:appmesh:eu-west-1:1:mesh/m/virtualService/x"]}
    )
    primary, canary_node = build.virtual_nodes(ctx_of(canary), ("app", "podinfo"))
    assert primary["metadata"]["name"] == "podinfo-primary"
    assert primary["spec"]["podSelector"] == {"matchLabels": {"app": "podinfo-primary"}}
    assert primary["spec"]["serviceDiscovery"] == {
        "dns": {"hostname": "podinfo-primary.apps.svc.cluster.local."}
    }
    assert primary["spec"]["listeners"] == [{"portMapping": {"port": 9898, "protocol": "http"}}]
    assert canary_node["metadata"]["name"] == "podinfo-canary"
    assert canary_node["spec"]["podSelector"] == {"matchLabels": {"app": "podinfo"}}
    assert (
        canary_node["spec"]["serviceDiscovery"]["dns"]["hostname"] == "podinfo-canary.apps.svc.cluster.local."
    )
    assert primary["spec"]["backends"] == [
        {"virtualService": {"virtualServiceRef": {"name": "backend1"}}},
        {"virtualService": {"virtualServiceRef": {"name": "backend2", "namespace": "other"}}},
        {"virtualService": {"virtualServiceARN": "arn:aws:appmesh:eu-west-1:1:mesh/m/virtualService/x"}},
    ]
    for node in (primary, canary_node):
        assert node["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
        assert node["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/reconcile"] == "disabled"


def test_grpc_port_name_target_port_and_timeout_shape_the_listener() -> None:
    canary = make_canary({"portName": "grpc-api", "targetPort": 9000, "timeout": "1m30s"})
    node = build.virtual_nodes(ctx_of(canary), ("name", "podinfo"))[0]
    assert node["spec"]["podSelector"] == {"matchLabels": {"name": "podinfo-primary"}}
    assert node["spec"]["listeners"] == [
        {
            "portMapping": {"port": 9000, "protocol": "grpc"},
            "timeout": {"grpc": {"perRequest": {"unit": "ms", "value": 90000}}},
        }
    ]


def test_virtual_router_splits_between_the_nodes_with_retries_and_timeout() -> None:
    canary = make_canary(
        {
            "timeout": "15s",
            "retries": {
                "attempts": 3,
                "perTryTimeout": "5s",
                "retryOn": "gateway-error,client-error,connection-error",
            },
            "match": [{"uri": {"prefix": "/api"}}],
        }
    )
    router = build.virtual_router(ctx_of(canary), Routes(70, 30))
    assert router["spec"]["listeners"] == [{"portMapping": {"port": 9898, "protocol": "http"}}]
    [route] = router["spec"]["routes"]
    assert route["name"] == "podinfo"
    assert route["httpRoute"]["match"] == {"prefix": "/api"}
    assert route["httpRoute"]["timeout"] == {"perRequest": {"unit": "ms", "value": 15000}}
    assert route["httpRoute"]["retryPolicy"] == {
        "maxRetries": 3,
        "perRetryTimeout": {"unit": "ms", "value": 5000},
        "httpRetryEvents": ["gateway-error", "client-error"],
        "tcpRetryEvents": ["connection-error"],
    }
    assert targets(route) == {"podinfo-canary": 30, "podinfo-primary": 70}
    assert build.routes_of(router, "podinfo-primary", "podinfo-canary") == Routes(70, 30)


def test_retry_defaults_follow_flagger() -> None:
    route = build.virtual_router(ctx_of(make_canary({"retries": {}})), Routes(100, 0))["spec"]["routes"][0]
    assert route["httpRoute"]["retryPolicy"] == {
        "maxRetries": 1,
        "perRetryTimeout": {"unit": "ms", "value": 250},
        "httpRetryEvents": ["gateway-error"],
    }
    assert route["httpRoute"]["match"] == {"prefix": "/"}
    assert "timeout" not in route["httpRoute"]


def test_ab_testing_routes_one_weighted_route_per_condition_and_the_rest_to_primary() -> None:
    analysis = {
        "match": [
            {"headers": {"user-agent": {"regex": ".*(Firefox|curl).*"}}},
            {"headers": {"x-canary": {"suffix": "insider"}}, "queryParams": {"beta": {"exact": "1"}}},
        ],
    }
    router = build.virtual_router(
        ctx_of(make_canary(analysis={**analysis, "iterations": 10})), Routes(0, 100)
    )
    a, a2, b = router["spec"]["routes"]
    assert (a["name"], a["priority"]) == ("podinfo-a", 10)
    assert a["httpRoute"]["match"] == {
        "prefix": "/",
        "headers": [{"name": "user-agent", "match": {"regex": ".*(Firefox|curl).*"}}],
    }
    assert (a2["name"], a2["priority"]) == ("podinfo-a2", 11)
    assert a2["httpRoute"]["match"] == {
        "prefix": "/",
        "headers": [{"name": "x-canary", "match": {"suffix": "insider"}}],
        "queryParameters": [{"name": "beta", "match": {"exact": "1"}}],
    }
    assert targets(a) == targets(a2) == {"podinfo-canary": 100, "podinfo-primary": 0}
    assert (b["name"], b["priority"]) == ("podinfo-b", 20)
    assert "headers" not in b["httpRoute"]["match"]
    assert targets(b) == {"podinfo-primary": 100}
    assert build.routes_of(router, "podinfo-primary", "podinfo-canary") == Routes(0, 100)


def test_virtual_services_point_at_their_routers_and_expose_hosts_on_the_gateway() -> None:
    ctx = ctx_of(make_canary({"hosts": ["podinfo.example.com"], "timeout": "5s", "retries": {"attempts": 2}}))
    apex = build.virtual_service(ctx, "podinfo")
    assert apex["spec"] == {
        "awsName": "podinfo.apps",
        "provider": {"virtualRouter": {"virtualRouterRef": {"name": "podinfo"}}},
    }
    annotations = apex["metadata"]["annotations"]
    assert annotations["gateway.appmesh.k8s.aws/expose"] == "true"
    assert annotations["gateway.appmesh.k8s.aws/domain"] == "podinfo.example.com,"
    assert annotations["gateway.appmesh.k8s.aws/timeout"] == "5s"
    assert annotations["gateway.appmesh.k8s.aws/retries"] == "2"
    canary_vs = build.virtual_service(ctx, "podinfo-canary")
    assert canary_vs["spec"]["awsName"] == "podinfo-canary.apps"
    assert "gateway.appmesh.k8s.aws/expose" not in canary_vs["metadata"]["annotations"]
    canary_router = build.canary_virtual_router(ctx)
    assert canary_router["metadata"]["name"] == "podinfo-canary"
    assert targets(canary_router["spec"]["routes"][0]) == {"podinfo-canary": 100, "podinfo-primary": 0}


def test_routes_of_rejects_a_router_without_the_nodes() -> None:
    foreign = {
        "metadata": {"name": "podinfo", "namespace": "apps"},
        "spec": {
            "routes": [
                {
                    "name": "x",
                    "httpRoute": {
                        "action": {"weightedTargets": [{"virtualNodeRef": {"name": "other"}, "weight": 100}]}
                    },
                }
            ]
        },
    }
    with pytest.raises(RouterError, match="no weighted route"):
        build.routes_of(foreign, "podinfo-primary", "podinfo-canary")


@pytest.mark.parametrize(
    ("service", "analysis", "message"),
    [
        ({}, {"iterations": 5, "mirror": True}, "mirroring"),
        ({}, {"sessionAffinity": {"cookieName": "c"}}, "session affinity"),
        ({}, {"iterations": 5, "match": [{"sourceLabels": {"app": "x"}}]}, "sourceLabels"),
        ({}, {"iterations": 5, "match": [{"queryParams": {"q": {"prefix": "a"}}}]}, "query parameter"),
        ({"match": [{"headers": {"x": {"exact": "y"}}}]}, {}, "uri.prefix"),
        ({"match": [{"uri": {"exact": "/a"}}]}, {}, "uri.prefix"),
        ({"retries": {"retryOn": "5xx"}}, {}, "retry event '5xx'"),
    ],
)
def test_unsupported_requests_are_refused(service: Obj, analysis: Obj, message: str) -> None:
    with pytest.raises(UnsupportedFeature, match=message):
        ctx_of(make_canary(service, analysis))


async def test_the_registry_builds_the_router_and_refuses_mirroring_before_any_call() -> None:
    kube = Kube(client.Configuration(host="http://127.0.0.1:9"))
    try:
        router = router_for(
            kube, {**make_canary(), "spec": {**make_canary()["spec"], "provider": "appmesh:v1beta2"}}
        )
        assert isinstance(router, AppMeshRouter)
        with pytest.raises(UnsupportedFeature, match="mirroring"):
            await router.set_routes(50, 50, True)
    finally:
        await kube.close()
