"""KEDA HTTP router: the pure translation between Service backends and interceptor backends."""

from __future__ import annotations

from typing import Any, cast

import pytest

from controller.kube import Kube
from controller.routers import gatewayapi_routes as build
from controller.routers import keda_http_backends as backends
from controller.routers.base import Routes, UnsupportedFeature
from controller.routers.factory import router_for
from controller.routers.keda_http import KedaHTTPRouter, wants_interceptor
from controller.routers.route_objects import route_context
from controller.routers.sticky_sessions import StickyCookies
from controller.scalers.keda_http import ROUTING_HEADER

Obj = dict[str, Any]
KUBE = cast(Kube, object())
ADDON = backends.ServiceRef("keda", "keda-add-ons-http-interceptor-proxy", 8080)
PRIMARY_SET = backends.ServiceRef("keda", "primary-interceptor-proxy", 8181)


def make_canary(analysis: Obj | None = None, provider: str | None = None, autoscaler: bool = True) -> Obj:
    spec: Obj = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "service": {"port": 9898, "gatewayRefs": [{"name": "gateway", "namespace": "istio-ingress"}]},
        "analysis": {"interval": "1m", "threshold": 5, "stepWeight": 10, **(analysis or {})},
    }
    if provider:
        spec["provider"] = provider
    if autoscaler:
        spec["autoscalerRef"] = {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "HTTPScaledObject",
            "name": "podinfo",
            "primaryScalingSet": {"name": "primary", "kind": "ClusterHTTPScalingSet"},
        }
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "uid-1"},
        "spec": spec,
    }


def built(canary: Obj, weights: Routes, cookies: StickyCookies | None = None) -> Obj:
    ctx = route_context(canary, "keda-http")
    return build.http_route(ctx, "gatewayapi:v1", weights, cookies or StickyCookies())


def markers(rule: Obj) -> list[tuple[str, str | None, int, str]]:
    out = []
    for b in rule["backendRefs"]:
        (marker,) = [f for f in b["filters"] if f["type"] == "RequestHeaderModifier"]
        (header,) = marker["requestHeaderModifier"]["set"]
        assert header["name"] == ROUTING_HEADER
        out.append((b["name"], b.get("namespace"), b["port"], header["value"]))
    return out


@pytest.mark.parametrize(
    "interceptors", [backends.Interceptors(PRIMARY_SET, ADDON), backends.Interceptors(ADDON, ADDON)]
)
@pytest.mark.parametrize(
    ("analysis", "weights", "cookies"),
    [
        ({}, Routes(70, 30), None),
        ({"iterations": 5, "mirror": True, "mirrorWeight": 20}, Routes(100, 0, True), None),
        ({"iterations": 5, "match": [{"headers": {"x-canary": {"exact": "insider"}}}]}, Routes(0, 100), None),
        ({"sessionAffinity": {"cookieName": "flagger-cookie"}}, Routes(90, 10), StickyCookies(canary="c1")),
    ],
)
def test_round_trip_keeps_what_the_gatewayapi_readers_see(
    interceptors: backends.Interceptors, analysis: Obj, weights: Routes, cookies: StickyCookies | None
) -> None:
    canary = make_canary(analysis)
    ctx = route_context(canary, "keda-http")
    route = built(canary, weights, cookies)
    wire = backends.to_interceptors(route, ctx.names, interceptors)
    for rule in wire["spec"]["rules"]:
        assert all(b["name"] not in ("podinfo-primary", "podinfo-canary") for b in rule["backendRefs"])
    back = backends.to_services(wire, ctx.names, 9898, interceptors)
    assert back == route
    assert build.routes_of(back, "podinfo-primary", "podinfo-canary") == weights


def test_backends_go_to_the_interceptors_with_their_markers() -> None:
    canary = make_canary()
    ctx = route_context(canary, "keda-http")
    wire = backends.to_interceptors(
        built(canary, Routes(60, 40)), ctx.names, backends.Interceptors(PRIMARY_SET, ADDON)
    )
    (rule,) = wire["spec"]["rules"]
    assert markers(rule) == [
        ("primary-interceptor-proxy", "keda", 8181, "primary"),
        ("keda-add-ons-http-interceptor-proxy", "keda", 8080, "canary"),
    ]
    assert [b["weight"] for b in rule["backendRefs"]] == [60, 40]


def test_mirror_goes_to_the_canary_interceptor() -> None:
    canary = make_canary({"iterations": 5, "mirror": True})
    ctx = route_context(canary, "keda-http")
    wire = backends.to_interceptors(
        built(canary, Routes(100, 0, True)), ctx.names, backends.Interceptors(PRIMARY_SET, ADDON)
    )
    (mirror,) = [f for f in wire["spec"]["rules"][0]["filters"] if f["type"] == "RequestMirror"]
    assert mirror["requestMirror"]["backendRef"] == {
        "group": "",
        "kind": "Service",
        "name": "keda-add-ons-http-interceptor-proxy",
        "namespace": "keda",
        "port": 8080,
    }


def test_handover_goes_to_the_canary_interceptor() -> None:
    ctx = route_context(make_canary(), "keda-http")
    handover = build.handover_route(ctx, "gatewayapi:v1")
    wire = backends.to_interceptors(handover, ctx.names, backends.Interceptors(PRIMARY_SET, ADDON))
    assert markers(wire["spec"]["rules"][0]) == [
        ("keda-add-ons-http-interceptor-proxy", "keda", 8080, "canary")
    ]


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (None, ADDON),
        ("http/proxy:9000", backends.ServiceRef("http", "proxy", 9000)),
        ("http/proxy", backends.ServiceRef("http", "proxy", 8080)),
    ],
)
def test_default_interceptor_from_the_annotation(
    annotation: str | None, expected: backends.ServiceRef
) -> None:
    annotations = {backends.INTERCEPTOR_ANNOTATION: annotation} if annotation else {}
    assert backends.default_interceptor(annotations) == expected


@pytest.mark.parametrize("bad", ["proxy:8080", "/proxy", "ns/proxy:http"])
def test_a_malformed_annotation_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match=backends.INTERCEPTOR_ANNOTATION):
        backends.default_interceptor({backends.INTERCEPTOR_ANNOTATION: bad})


def test_scaling_set_interceptor_namespace_and_port() -> None:
    cluster = backends.scaling_set_interceptor("ClusterHTTPScalingSet", "primary", "test", ADDON, None)
    assert cluster == backends.ServiceRef("keda", "primary-interceptor-proxy", 8080)
    spec = {"spec": {"interceptor": {"config": {"proxyPort": 8181}}}}
    local = backends.scaling_set_interceptor("HTTPScalingSet", "mine", "test", ADDON, spec)
    assert local == backends.ServiceRef("test", "mine-interceptor-proxy", 8181)


def test_wants_interceptor_and_the_registry() -> None:
    assert wants_interceptor(make_canary(provider="gatewayapi:v1"))
    assert wants_interceptor(make_canary(provider="keda-http"))
    assert not wants_interceptor(make_canary(provider="istio"))
    assert not wants_interceptor(make_canary(provider="gatewayapi:v1", autoscaler=False))
    assert isinstance(router_for(KUBE, make_canary(provider="keda-http")), KedaHTTPRouter)


def test_a_canary_without_http_scaled_object_is_unsupported() -> None:
    router = KedaHTTPRouter(KUBE, make_canary(autoscaler=False))
    with pytest.raises(UnsupportedFeature, match="HTTPScaledObject"):
        router.context()
    assert KedaHTTPRouter(KUBE, make_canary()).versioned_provider == "gatewayapi:v1"
    assert KedaHTTPRouter(KUBE, make_canary(provider="gatewayapi:v1beta1")).versioned_provider == "gatewayapi:v1beta1"
