"""Skipper router: the canary Ingress with both backends, weights and predicates."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from controller.kube import Kube
from controller.routers import skipper
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from controller.routers.route_objects import RouteContext, route_context

Obj = dict[str, Any]


def make_canary(analysis: Obj | None = None, ingress_ref: bool = True) -> Obj:
    spec: Obj = {
        "provider": "skipper",
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "service": {"port": 80},
        "analysis": {"interval": "30s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
    }
    if ingress_ref:
        spec["ingressRef"] = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web"}
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "uid-1"},
        "spec": spec,
    }


def make_ingress(predicate: str | None = None) -> Obj:
    annotations = {"kubernetes.io/ingress.class": "skipper"}
    if predicate is not None:
        annotations["zalando.org/skipper-predicate"] = predicate
    backend = {"service": {"name": "podinfo", "port": {"number": 80}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "test", "annotations": annotations},
        "spec": {
            "rules": [
                {
                    "host": "app.example.com",
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
            ]
        },
    }


def ctx_of(canary: Obj) -> RouteContext:
    ctx = route_context(canary, "skipper")
    skipper.check_supported(ctx)
    return ctx


def test_canary_ingress_routes_to_primary_and_canary_with_weights() -> None:
    out = skipper.canary_ingress(ctx_of(make_canary()), make_ingress('Method("GET")'), Routes(80, 20))
    assert out["metadata"]["name"] == "web-canary"
    paths = out["spec"]["rules"][0]["http"]["paths"]
    assert [p["backend"]["service"]["name"] for p in paths] == ["podinfo-primary", "podinfo-canary"]
    annotations = out["metadata"]["annotations"]
    assert json.loads(annotations["zalando.org/backend-weights"]) == {
        "podinfo-primary": 80,
        "podinfo-canary": 20,
    }
    assert annotations["zalando.org/skipper-predicate"] == 'Weight(100) && Method("GET")'
    assert annotations["kubernetes.io/ingress.class"] == "skipper"
    assert skipper.routes_of(out, "podinfo-primary", "podinfo-canary") == Routes(80, 20)


def test_zero_canary_weight_disables_the_canary_routes() -> None:
    out = skipper.canary_ingress(
        ctx_of(make_canary()), make_ingress('Weight(100) && Path("/")'), Routes(100, 0)
    )
    assert out["metadata"]["annotations"]["zalando.org/skipper-predicate"] == 'False() && Path("/")'
    assert skipper.routes_of(out, "podinfo-primary", "podinfo-canary") == Routes(100, 0)


def test_with_first_predicate_drops_our_own_predicates() -> None:
    assert skipper.with_first_predicate("", "Weight(100)") == "Weight(100)"
    assert (
        skipper.with_first_predicate("False() && A() && Weight(100)", "Weight(100)") == "Weight(100) && A()"
    )


def test_missing_backend_and_bad_weights_are_errors() -> None:
    ingress = make_ingress()
    ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "other"
    with pytest.raises(RouterError, match="no backend podinfo"):
        skipper.canary_ingress(ctx_of(make_canary()), ingress, Routes(100, 0))
    out = skipper.canary_ingress(ctx_of(make_canary()), make_ingress(), Routes(100, 0))
    out["metadata"]["annotations"]["zalando.org/backend-weights"] = '{"podinfo-primary": 100}'
    with pytest.raises(RouterError, match="lacks"):
        skipper.routes_of(out, "podinfo-primary", "podinfo-canary")
    out["metadata"]["annotations"]["zalando.org/backend-weights"] = "{"
    with pytest.raises(RouterError, match="invalid"):
        skipper.routes_of(out, "podinfo-primary", "podinfo-canary")


@pytest.mark.parametrize(
    ("canary", "what"),
    [
        (make_canary(ingress_ref=False), "spec.ingressRef"),
        (make_canary({"iterations": 5, "match": [{"headers": {"x": {"exact": "1"}}}]}), "A/B"),
        (make_canary({"mirror": True}), "mirroring"),
        (make_canary({"sessionAffinity": {"cookieName": "c"}}), "session affinity"),
    ],
)
def test_unsupported_features_are_refused(canary: Obj, what: str) -> None:
    with pytest.raises(UnsupportedFeature, match=what):
        ctx_of(canary)


def test_registered_with_its_query_set() -> None:
    router = router_for(Kube(client.Configuration()), make_canary())
    assert isinstance(router, skipper.SkipperRouter)
