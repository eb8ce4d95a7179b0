"""NGINX router: the canary Ingress copy, its canary annotations and reading them back."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from controller.kube import Kube
from controller.routers import nginx_routes as build
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from controller.routers.nginx import NginxRouter
from controller.routers.route_objects import RouteContext, route_context

Obj = dict[str, Any]
P = "nginx.ingress.kubernetes.io"


def make_canary(analysis: Obj | None = None, ingress_ref: bool = True) -> Obj:
    spec: Obj = {
        "provider": "nginx",
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


def make_ingress() -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "web",
            "namespace": "test",
            "labels": {"app": "web"},
            "annotations": {
                "kubernetes.io/ingress.class": "nginx",
                f"{P}/canary": "true",
                f"{P}/canary-weight": "40",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
            },
        },
        "spec": {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "host": "app.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "podinfo", "port": {"number": 80}}},
                            },
                            {
                                "path": "/x",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "other", "port": {"number": 80}}},
                            },
                        ]
                    },
                }
            ],
        },
    }


def ctx_of(canary: Obj) -> RouteContext:
    ctx = route_context(canary, "nginx")
    build.check_supported(ctx)
    return ctx


def test_canary_ingress_copies_the_spec_and_sends_the_apex_backend_to_the_canary() -> None:
    ingress = make_ingress()
    out = build.canary_ingress(ctx_of(make_canary()), ingress, Routes(90, 10))
    assert out["metadata"]["name"] == "web-canary"
    assert out["metadata"]["labels"] == {"app": "web", "app.kubernetes.io/managed-by": "gitcanary"}
    assert out["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    paths = out["spec"]["rules"][0]["http"]["paths"]
    assert [p["backend"]["service"]["name"] for p in paths] == ["podinfo-canary", "other"]
    assert out["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "podinfo"
    assert out["metadata"]["annotations"] == {
        "kubernetes.io/ingress.class": "nginx",
        "kustomize.toolkit.fluxcd.io/reconcile": "disabled",
        f"{P}/canary": "true",
        f"{P}/canary-weight": "10",
    }


def test_zero_weight_disables_the_canary_and_drops_the_weight() -> None:
    out = build.canary_ingress(ctx_of(make_canary()), make_ingress(), Routes(100, 0))
    annotations = out["metadata"]["annotations"]
    assert annotations[f"{P}/canary"] == "false"
    assert not [k for k in annotations if k.startswith(f"{P}/canary-")]
    assert build.routes_of(out) == Routes(100, 0)


def test_an_ingress_without_the_apex_backend_is_an_error() -> None:
    ingress = make_ingress()
    ingress["spec"]["rules"][0]["http"]["paths"].pop(0)
    with pytest.raises(RouterError, match="no backend podinfo"):
        build.canary_ingress(ctx_of(make_canary()), ingress, Routes(100, 0))


def test_ab_header_and_cookie_become_canary_by_annotations() -> None:
    analysis = {
        "iterations": 10,
        "match": [
            {"headers": {"x-canary": {"exact": "insider"}}},
            {"headers": {"cookie": {"exact": "canary"}}},
        ],
    }
    ctx = ctx_of(make_canary(analysis))
    out = build.canary_ingress(ctx, make_ingress(), Routes(0, 100))
    annotations = out["metadata"]["annotations"]
    assert annotations[f"{P}/canary"] == "true"
    assert annotations[f"{P}/canary-by-header"] == "x-canary"
    assert annotations[f"{P}/canary-by-header-value"] == "insider"
    assert annotations[f"{P}/canary-by-cookie"] == "canary"
    assert f"{P}/canary-weight" not in annotations
    assert build.routes_of(out) == Routes(0, 100)
    done = build.canary_ingress(ctx, make_ingress(), Routes(100, 0))
    assert build.routes_of(done) == Routes(100, 0)
    assert f"{P}/canary-by-header" not in done["metadata"]["annotations"]


@pytest.mark.parametrize(
    ("match", "pattern"),
    [
        ({"regex": "^(a|b)$"}, "^(a|b)$"),
        ({"prefix": "Mozilla"}, "^Mozilla.*"),
        ({"suffix": "Firefox"}, ".*Firefox$"),
    ],
)
def test_non_exact_header_matches_become_a_pattern(match: Obj, pattern: str) -> None:
    rule = build.ab_rule(
        ctx_of(make_canary({"iterations": 5, "match": [{"headers": {"user-agent": match}}]}))
    )
    assert rule == build.AbRule(header="user-agent", header_pattern=pattern)


def test_weighted_routes_are_read_back_from_the_canary_weight() -> None:
    out = build.canary_ingress(ctx_of(make_canary()), make_ingress(), Routes(70, 30))
    assert build.routes_of(out) == Routes(70, 30)
    out["metadata"]["annotations"][f"{P}/canary-weight"] = "lots"
    with pytest.raises(RouterError, match="invalid canary-weight"):
        build.routes_of(out)


def test_a_custom_annotation_prefix_is_used_throughout() -> None:
    out = build.canary_ingress(ctx_of(make_canary()), make_ingress(), Routes(80, 20), prefix="custom.io")
    assert out["metadata"]["annotations"]["custom.io/canary-weight"] == "20"
    assert f"{P}/canary" in out["metadata"]["annotations"]  # the source's own annotation is not ours
    assert build.routes_of(out, "custom.io") == Routes(80, 20)


@pytest.mark.parametrize(
    ("canary", "what"),
    [
        (make_canary(ingress_ref=False), "spec.ingressRef"),
        (make_canary({"mirror": True}), "mirroring"),
        (make_canary({"sessionAffinity": {"cookieName": "c"}}), "session affinity"),
        (
            make_canary(
                {"iterations": 5, "match": [{"headers": {"a": {"exact": "1"}, "b": {"exact": "2"}}}]}
            ),
            "more than one header",
        ),
        (make_canary({"iterations": 5, "match": [{"headers": {"cookie": {"prefix": "c"}}}]}), "cookie"),
        (
            make_canary({"iterations": 5, "match": [{"queryParams": {"q": {"exact": "1"}}}]}),
            "query parameter",
        ),
        (make_canary({"iterations": 5, "match": [{"sourceLabels": {"app": "x"}}]}), "source label"),
    ],
)
def test_what_nginx_cannot_express_is_refused(canary: Obj, what: str) -> None:
    with pytest.raises(UnsupportedFeature, match=what):
        ctx_of(canary)


def test_registered_with_its_query_set() -> None:
    router = router_for(Kube(client.Configuration()), make_canary())
    assert isinstance(router, NginxRouter)
