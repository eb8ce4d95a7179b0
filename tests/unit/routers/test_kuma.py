"""Kuma router: the TrafficRoute builder, weight reading, take-over records and refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from controller.kube import Kube
from controller.routers import kuma
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from controller.routers.route_objects import ORIGINAL_CONFIGURATION, route_context

Obj = dict[str, Any]


def make_canary(
    service: Obj | None = None,
    analysis: Obj | None = None,
    annotations: dict[str, str] | None = None,
    namespace: str = "test",
) -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {
            "name": "podinfo",
            "namespace": namespace,
            "uid": "uid-1",
            "annotations": annotations or {},
        },
        "spec": {
            "provider": "kuma",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898, **(service or {})},
            "analysis": {"interval": "30s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
        },
    }


def test_router_for_returns_the_kuma_router() -> None:
    router = router_for(Kube(client.Configuration()), make_canary())
    assert isinstance(router, kuma.KumaRouter)


def test_traffic_route_follows_flaggers_layout() -> None:
    ctx = route_context(make_canary(), "kuma")
    route = kuma.traffic_route(ctx, Routes(70, 30))
    assert route["apiVersion"] == "kuma.io/v1alpha1"
    assert route["kind"] == "TrafficRoute"
    assert route["mesh"] == "default"
    meta = route["metadata"]
    assert meta["name"] == "podinfo"
    assert "namespace" not in meta and "ownerReferences" not in meta  # cluster-scoped
    assert meta["annotations"] == {
        "9898.service.kuma.io": "http",
        "kustomize.toolkit.fluxcd.io/reconcile": "disabled",
        "gitcanary.io/canary": "test/podinfo",
    }
    assert meta["labels"] == {"app.kubernetes.io/managed-by": "gitcanary"}
    assert route["spec"] == {
        "sources": [{"match": {"kuma.io/service": "*"}}],
        "destinations": [{"match": {"kuma.io/service": "podinfo_test_svc_9898"}}],
        "conf": {
            "split": [
                {"weight": 70, "destination": {"kuma.io/service": "podinfo-primary_test_svc_9898"}},
                {"weight": 30, "destination": {"kuma.io/service": "podinfo-canary_test_svc_9898"}},
            ]
        },
    }


def test_mesh_annotation_service_name_and_apex_metadata_are_used() -> None:
    canary = make_canary(
        service={"name": "web", "port": 80, "apex": {"labels": {"team": "a"}, "annotations": {"x": "y"}}},
        annotations={"kuma.io/mesh": "prod"},
    )
    route = kuma.traffic_route(route_context(canary, "kuma"), Routes(100, 0))
    assert route["mesh"] == "prod"
    assert route["metadata"]["name"] == "web"
    assert route["metadata"]["labels"]["team"] == "a"
    assert route["metadata"]["annotations"]["x"] == "y"
    assert "80.service.kuma.io" not in route["metadata"]["annotations"]
    assert route["spec"]["conf"]["split"][1]["destination"] == {"kuma.io/service": "web-canary_test_svc_80"}


def test_routes_of_reads_both_weights_by_service_name() -> None:
    ctx = route_context(make_canary(), "kuma")
    route = kuma.traffic_route(ctx, Routes(60, 40))
    assert kuma.routes_of(route, "podinfo-primary", "podinfo-canary") == Routes(60, 40, False)
    # a changed port keeps the weights: entries are matched on the service part of the tag
    route["spec"]["conf"]["split"][0]["destination"]["kuma.io/service"] = "podinfo-primary_test_svc_80"
    assert kuma.routes_of(route, "podinfo-primary", "podinfo-canary") == Routes(60, 40, False)
    route["spec"]["conf"]["split"] = [
        {"weight": 100, "destination": {"kuma.io/service": "other_test_svc_80"}}
    ]
    with pytest.raises(RouterError, match="no weight"):
        kuma.routes_of(route, "podinfo-primary", "podinfo-canary")


@pytest.mark.parametrize(("raw", "expected"), [(0, 0), (55, 55), ("20", 20)])
def test_parse_weight_accepts_unsigned_integers(raw: object, expected: int) -> None:
    assert kuma.parse_weight(raw) == expected


@pytest.mark.parametrize("raw", [-1, True, "ten", 1.5, None])
def test_parse_weight_rejects_garbage(raw: object) -> None:
    with pytest.raises(RouterError, match="invalid TrafficRoute weight"):
        kuma.parse_weight(raw)


def test_a_route_taken_over_records_its_original_mesh_and_spec_once() -> None:
    ctx = route_context(make_canary(), "kuma")
    users: Obj = {
        "apiVersion": "kuma.io/v1alpha1",
        "kind": "TrafficRoute",
        "mesh": "default",
        "metadata": {"name": "podinfo", "annotations": {}},
        "spec": {"conf": {"destination": {"kuma.io/service": "podinfo_test_svc_9898"}}},
    }
    desired = kuma.desired_route(ctx, users, Routes(100, 0))
    recorded = desired["metadata"]["annotations"][ORIGINAL_CONFIGURATION]
    assert json.loads(recorded) == {"mesh": "default", "spec": users["spec"]}
    assert kuma.original_configuration(desired) == {"mesh": "default", "spec": users["spec"]}
    # once recorded, a later write keeps the first record, not the route as the Canary wrote it
    again = kuma.desired_route(ctx, desired, Routes(50, 50))
    assert again["metadata"]["annotations"][ORIGINAL_CONFIGURATION] == recorded
    # a route the Canary created records nothing
    created = kuma.desired_route(ctx, kuma.traffic_route(ctx, Routes(100, 0)), Routes(90, 10))
    assert ORIGINAL_CONFIGURATION not in created["metadata"]["annotations"]
    assert kuma.original_configuration(created) is None


def test_original_configuration_that_is_not_json_is_an_error() -> None:
    route: Obj = {"metadata": {"name": "podinfo", "annotations": {ORIGINAL_CONFIGURATION: "{nope"}}}
    with pytest.raises(RouterError, match="not JSON"):
        kuma.original_configuration(route)


def test_a_route_of_another_canary_is_detected() -> None:
    mine = route_context(make_canary(), "kuma")
    theirs = kuma.traffic_route(route_context(make_canary(namespace="prod"), "kuma"), Routes(100, 0))
    assert kuma.managed_by_other(theirs, mine) == "prod/podinfo"
    assert kuma.managed_by_other(kuma.traffic_route(mine, Routes(100, 0)), mine) is None


@pytest.mark.parametrize(
    ("analysis", "what"),
    [
        ({"iterations": 5, "match": [{"headers": {"x-canary": {"exact": "1"}}}]}, "A/B"),
        ({"iterations": 5, "stepWeight": None, "mirror": True}, "mirroring"),
        ({"sessionAffinity": {"cookieName": "c"}}, "session affinity"),
    ],
)
def test_unsupported_features_are_refused(analysis: Obj, what: str) -> None:
    ctx = route_context(make_canary(analysis=analysis), "kuma")
    with pytest.raises(UnsupportedFeature, match=what):
        kuma.check_supported(ctx)


async def test_invalid_weights_are_refused_before_any_api_call() -> None:
    router = kuma.KumaRouter(Kube(client.Configuration(host="http://127.0.0.1:9")), make_canary())
    try:
        with pytest.raises(RouterError, match="negative"):
            await router.set_routes(-1, 101, False)
        with pytest.raises(RouterError, match="some traffic must go somewhere"):
            await router.set_routes(0, 0, False)
        with pytest.raises(UnsupportedFeature, match="mirroring"):
            await router.set_routes(90, 10, True)
    finally:
        await router.kube.close()
