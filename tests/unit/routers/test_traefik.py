"""Traefik router: the weighted TraefikService and reading its weights back."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from controller.kube import Kube
from controller.routers import traefik
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from controller.routers.route_objects import RouteContext, route_context

Obj = dict[str, Any]


def make_canary(analysis: Obj | None = None) -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "uid-1"},
        "spec": {
            "provider": "traefik",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 80, "apex": {"labels": {"team": "a"}}},
            "analysis": {"interval": "30s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
        },
    }


def ctx_of(canary: Obj) -> RouteContext:
    ctx = route_context(canary, "traefik")
    traefik.check_supported(ctx)
    return ctx


def test_the_canary_is_listed_only_while_it_has_weight() -> None:
    ctx = ctx_of(make_canary())
    start = traefik.traefik_service(ctx, Routes(100, 0))
    assert start["apiVersion"] == "traefik.io/v1alpha1"
    assert start["metadata"]["labels"]["team"] == "a"
    assert start["spec"] == {
        "weighted": {
            "services": [{"name": "podinfo-primary", "namespace": "test", "port": 80, "weight": 100}]
        }
    }
    assert traefik.routes_of(start, "podinfo-primary", "podinfo-canary") == Routes(100, 0)
    mid = traefik.traefik_service(ctx, Routes(70, 30))
    assert [(s["name"], s["weight"]) for s in mid["spec"]["weighted"]["services"]] == [
        ("podinfo-primary", 70),
        ("podinfo-canary", 30),
    ]
    assert traefik.routes_of(mid, "podinfo-primary", "podinfo-canary") == Routes(70, 30)


def test_routes_of_needs_the_primary_and_some_weight() -> None:
    ctx = ctx_of(make_canary())
    handover = traefik.handover_service(ctx)
    assert handover["spec"]["weighted"]["services"][0]["name"] == "podinfo"
    with pytest.raises(RouterError, match="does not route"):
        traefik.routes_of(handover, "podinfo-primary", "podinfo-canary")
    empty = traefik.traefik_service(ctx, Routes(0, 0))
    with pytest.raises(RouterError, match="no weight"):
        traefik.routes_of(empty, "podinfo-primary", "podinfo-canary")


@pytest.mark.parametrize(
    ("analysis", "what"),
    [
        ({"iterations": 5, "match": [{"headers": {"x": {"exact": "1"}}}]}, "A/B"),
        ({"mirror": True}, "mirroring"),
        ({"sessionAffinity": {"cookieName": "c"}}, "session affinity"),
    ],
)
def test_unsupported_features_are_refused(analysis: Obj, what: str) -> None:
    with pytest.raises(UnsupportedFeature, match=what):
        ctx_of(make_canary(analysis))


def test_registered_with_its_query_set() -> None:
    router = router_for(Kube(client.Configuration()), make_canary())
    assert isinstance(router, traefik.TraefikRouter)
