"""Gateway API router: the pure builders and readers of the HTTPRoute."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from controller.kube import Kube
from controller.routers import gatewayapi_routes as build
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from controller.routers.gatewayapi import GatewayAPIRouter
from controller.routers.route_objects import RouteContext, route_context
from controller.routers.sticky_sessions import StickyCookies, cookie_regex

Obj = dict[str, Any]
NO_COOKIES = StickyCookies()
ALL_PRIMARY = Routes(100, 0)
PRIMARY, CANARY = "podinfo-primary", "podinfo-canary"


def make_canary(
    service: Obj | None = None, analysis: Obj | None = None, provider: str = "gatewayapi:v1"
) -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "uid-5678"},
        "spec": {
            "provider": provider,
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {
                "port": 9898,
                "gatewayRefs": [{"name": "gateway", "namespace": "istio-ingress"}],
                **(service or {}),
            },
            "analysis": {"interval": "1m", "threshold": 5, "stepWeight": 10, **(analysis or {})},
        },
    }


def ctx_of(canary: Obj) -> RouteContext:
    ctx = route_context(canary, "gatewayapi")
    build.check_supported(ctx, canary["spec"]["provider"])
    return ctx


def route_for(canary: Obj, weights: Routes = ALL_PRIMARY, cookies: StickyCookies = NO_COOKIES) -> Obj:
    return build.http_route(ctx_of(canary), canary["spec"]["provider"], weights, cookies)


def backends(rule: Obj) -> list[tuple[str, int]]:
    return [(b["name"], b["weight"]) for b in rule["backendRefs"]]


def test_default_route_has_parents_hosts_and_weighted_backends() -> None:
    route = route_for(make_canary({"hosts": ["app.example.com"]}), Routes(90, 10))
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["metadata"]["name"] == "podinfo"
    assert route["metadata"]["ownerReferences"][0]["uid"] == "uid-5678"
    assert route["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/reconcile"] == "disabled"
    assert route["spec"]["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "gateway",
            "namespace": "istio-ingress",
        }
    ]
    assert route["spec"]["hostnames"] == ["app.example.com"]
    assert route["spec"]["rules"] == [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [
                {"group": "", "kind": "Service", "name": PRIMARY, "port": 9898, "weight": 90},
                {"group": "", "kind": "Service", "name": CANARY, "port": 9898, "weight": 10},
            ],
        }
    ]


def test_v1beta1_provider_writes_v1beta1_and_other_versions_are_unsupported() -> None:
    assert (
        route_for(make_canary(provider="gatewayapi:v1beta1"))["apiVersion"]
        == "gateway.networking.k8s.io/v1beta1"
    )
    with pytest.raises(UnsupportedFeature, match="v1alpha2"):
        build.api_version("gatewayapi:v1alpha2")


def test_service_matches_translate_istio_conditions() -> None:
    service = {
        "match": [
            {
                "uri": {"prefix": "/api"},
                "method": {"exact": "GET"},
                "headers": {"x-a": {"exact": "1"}, "x-b": {"prefix": "pre"}},
                "queryParams": {"q": {"regex": "v[0-9]"}},
            },
            {"uri": {"regex": "/v[12]/.*"}},
        ]
    }
    matches = route_for(make_canary(service))["spec"]["rules"][0]["matches"]
    assert matches == [
        {
            "path": {"type": "PathPrefix", "value": "/api"},
            "method": "GET",
            "headers": [
                {"name": "x-a", "type": "Exact", "value": "1"},
                {"name": "x-b", "type": "RegularExpression", "value": "^pre.*"},
            ],
            "queryParams": [{"name": "q", "type": "RegularExpression", "value": "v[0-9]"}],
        },
        {"path": {"type": "RegularExpression", "value": "/v[12]/.*"}},
    ]


def test_filters_and_timeouts_come_from_the_service() -> None:
    service = {
        "timeout": "30s",
        "backendTimeout": "10s",
        "headers": {
            "request": {"add": {"b": "2", "a": "1"}, "set": {"s": "v"}, "remove": ["x-r"]},
            "response": {"add": {"x-resp": "y"}},
        },
        "rewrite": {"uri": "/v2", "authority": "backend.local"},
        "corsPolicy": {
            "allowOrigins": [{"exact": "https://example.com"}],
            "allowMethods": ["GET", "POST"],
            "allowCredentials": True,
            "maxAge": "24h",
        },
        "mirror": [{"backendRef": {"name": "shadow", "port": 8080}}],
    }
    rule = route_for(make_canary(service))["spec"]["rules"][0]
    assert rule["timeouts"] == {"request": "30s", "backendRequest": "10s"}
    assert rule["filters"] == [
        {
            "type": "RequestHeaderModifier",
            "requestHeaderModifier": {
                "add": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}],
                "set": [{"name": "s", "value": "v"}],
                "remove": ["x-r"],
            },
        },
        {
            "type": "ResponseHeaderModifier",
            "responseHeaderModifier": {"add": [{"name": "x-resp", "value": "y"}]},
        },
        {
            "type": "URLRewrite",
            "urlRewrite": {
                "hostname": "backend.local",
                "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/v2"},
            },
        },
        {
            "type": "CORS",
            "cors": {
                "allowOrigins": ["https://example.com"],
                "allowCredentials": True,
                "allowMethods": ["GET", "POST"],
                "maxAge": 86400,
            },
        },
        {
            "type": "RequestMirror",
            "requestMirror": {"backendRef": {"group": "", "kind": "Service", "name": "shadow", "port": 8080}},
        },
    ]


def test_full_path_rewrite() -> None:
    rule = route_for(make_canary({"rewrite": {"uri": "/x", "type": "ReplaceFullPath"}}))["spec"]["rules"][0]
    assert rule["filters"] == [
        {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplaceFullPath", "replaceFullPath": "/x"}}}
    ]


def test_mirroring_adds_a_request_mirror_to_the_canary_with_percent() -> None:
    canary = make_canary(analysis={"iterations": 5, "mirror": True, "mirrorWeight": 40})
    rule = route_for(canary, Routes(100, 0, True))["spec"]["rules"][0]
    assert rule["filters"] == [
        {
            "type": "RequestMirror",
            "requestMirror": {
                "backendRef": {"group": "", "kind": "Service", "name": CANARY, "port": 9898},
                "percent": 40,
            },
        }
    ]
    assert "filters" not in route_for(canary, Routes(100, 0, False))["spec"]["rules"][0]


def test_ab_testing_merges_analysis_matches_and_sends_the_rest_to_primary() -> None:
    analysis = {
        "iterations": 10,
        "match": [
            {"headers": {"x-canary": {"exact": "insider"}}},
            {"headers": {"cookie": {"regex": "^(.*?;)?(canary=always)(;.*)?$"}}},
            {"queryParams": {"beta": {"exact": "yes"}}},
        ],
    }
    canary = make_canary({"timeout": "5s", "match": [{"uri": {"prefix": "/api"}}]}, analysis)
    rules = route_for(canary, Routes(0, 100))["spec"]["rules"]
    api = {"path": {"type": "PathPrefix", "value": "/api"}}
    assert rules[0]["matches"] == [
        {**api, "headers": [{"name": "x-canary", "type": "Exact", "value": "insider"}]},
        {
            **api,
            "headers": [
                {"name": "cookie", "type": "RegularExpression", "value": "^(.*?;)?(canary=always)(;.*)?$"}
            ],
        },
        {**api, "queryParams": [{"name": "beta", "type": "Exact", "value": "yes"}]},
    ]
    assert backends(rules[0]) == [(PRIMARY, 0), (CANARY, 100)]
    assert rules[1]["matches"] == [api]
    assert backends(rules[1]) == [(PRIMARY, 100)]
    assert rules[1]["timeouts"] == {"request": "5s"}


@pytest.mark.parametrize(
    ("service", "analysis", "words"),
    [
        ({"gatewayRefs": []}, {}, "gatewayRefs"),
        ({"retries": {"attempts": 3}}, {}, "retries"),
        ({"trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}, {}, "trafficPolicy"),
        ({"gateways": ["public-gateway"]}, {}, "gateways"),
        ({"delegation": True}, {}, "delegation"),
        ({"appProtocol": "tcp"}, {}, "TCP"),
        ({"match": [{"authority": {"exact": "a"}}]}, {}, "authority"),
        ({"match": [{"method": {"prefix": "G"}}]}, {}, "method"),
        ({"corsPolicy": {"allowOrigins": [{"regex": ".*"}]}}, {}, "allowOrigins"),
        ({}, {"iterations": 2, "match": [{"sourceLabels": {"app": "a"}}]}, "sourceLabels"),
        ({}, {"sessionAffinity": {"cookieName": "a", "primaryCookieName": "a"}}, "same cookie name"),
    ],
)
def test_unsupported_requests_are_rejected_with_a_reason(service: Obj, analysis: Obj, words: str) -> None:
    with pytest.raises(UnsupportedFeature, match=words):
        ctx_of(make_canary(service, analysis))


@pytest.mark.parametrize("mirrored", [False, True])
@pytest.mark.parametrize("ab", [False, True])
def test_routes_of_reads_back_every_split_it_builds(mirrored: bool, ab: bool) -> None:
    analysis: Obj = {"iterations": 4, "mirror": True}
    if ab:
        analysis["match"] = [{"headers": {"x-user": {"exact": "beta"}}}]
    canary = make_canary(analysis=analysis)
    for canary_weight in range(0, 101, 10):
        weights = Routes(100 - canary_weight, canary_weight, mirrored)
        assert build.routes_of(route_for(canary, weights), PRIMARY, CANARY) == weights


def test_routes_of_fails_without_a_weighted_rule() -> None:
    foreign = {
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {"rules": [{"backendRefs": [{"name": "x"}]}]},
    }
    with pytest.raises(RouterError, match="no rule"):
        build.routes_of(foreign, PRIMARY, CANARY)


AFFINITY = {"sessionAffinity": {"cookieName": "canary-c", "primaryCookieName": "primary-c", "maxAge": 600}}


def test_session_affinity_adds_sticky_rules_and_cookie_filters() -> None:
    cookies = StickyCookies(canary="canary-c=aaa", primary="primary-c=bbb")
    route = route_for(make_canary(analysis=AFFINITY), Routes(80, 20), cookies)
    sticky_canary, sticky_primary, weighted = route["spec"]["rules"]
    root = {"path": {"type": "PathPrefix", "value": "/"}}
    assert sticky_canary["matches"] == [
        {
            **root,
            "headers": [
                {"name": "Cookie", "type": "RegularExpression", "value": cookie_regex("canary-c=aaa")}
            ],
        }
    ]
    assert backends(sticky_canary) == [(PRIMARY, 0), (CANARY, 100)]
    assert backends(sticky_primary) == [(PRIMARY, 100), (CANARY, 0)]
    primary_ref, canary_ref = weighted["backendRefs"]
    assert canary_ref["filters"] == [
        {
            "type": "ResponseHeaderModifier",
            "responseHeaderModifier": {"add": [{"name": "Set-Cookie", "value": "canary-c=aaa; Max-Age=600"}]},
        }
    ]
    assert (
        primary_ref["filters"][0]["responseHeaderModifier"]["add"][0]["value"] == "primary-c=bbb; Max-Age=60"
    )
    assert build.routes_of(route, PRIMARY, CANARY) == Routes(80, 20)
    assert build.cookies_of(route, PRIMARY, CANARY) == cookies


def test_expiring_cookie_reuses_the_response_header_filter() -> None:
    canary = make_canary(
        {"headers": {"response": {"set": {"x-a": "b"}}}}, {"sessionAffinity": {"cookieName": "c"}}
    )
    route = route_for(canary, Routes(100, 0), StickyCookies(expiring="c=old"))
    sticky, weighted = route["spec"]["rules"]
    assert sticky["filters"] == [
        {
            "type": "ResponseHeaderModifier",
            "responseHeaderModifier": {
                "set": [{"name": "x-a", "value": "b"}],
                "add": [{"name": "Set-Cookie", "value": "c=old; Max-Age=-1"}],
            },
        }
    ]
    assert weighted["filters"] == [
        {"type": "ResponseHeaderModifier", "responseHeaderModifier": {"set": [{"name": "x-a", "value": "b"}]}}
    ]
    assert build.cookies_of(route, PRIMARY, CANARY) == StickyCookies(expiring="c=old")
    assert build.routes_of(route, PRIMARY, CANARY) == Routes(100, 0)


def _with_status(route: Obj, status: str, observed: int) -> Obj:
    route["metadata"]["generation"] = 2
    ref = {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "name": "gateway",
        "namespace": "istio-ingress",
    }
    route["status"] = {
        "parents": [
            {
                "parentRef": ref,
                "controllerName": "example.com/gw",
                "conditions": [{"type": "Accepted", "status": status, "observedGeneration": observed}],
            }
        ]
    }
    return route


def test_parents_must_accept_the_current_generation() -> None:
    route = route_for(make_canary())
    assert build.parents_not_ready(route) is None
    assert build.parents_not_ready(_with_status(route, "True", 2)) is None
    assert "not ready" in (build.parents_not_ready(_with_status(route, "True", 1)) or "")
    assert "status: False" in (build.parents_not_ready(_with_status(route, "False", 2)) or "")


def test_handover_sends_everything_to_the_apex_service() -> None:
    route = build.handover_route(ctx_of(make_canary()), "gatewayapi:v1")
    assert [backends(r) for r in route["spec"]["rules"]] == [[("podinfo", 100)]]


async def test_router_for_selects_the_gateway_api_router() -> None:
    kube = Kube(client.Configuration())
    try:
        router = router_for(kube, make_canary(provider="gatewayapi:v1beta1"))
        assert isinstance(router, GatewayAPIRouter)
        assert router.route_api_version == "gateway.networking.k8s.io/v1beta1"
    finally:
        await kube.close()
