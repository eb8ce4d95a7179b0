"""Istio router: the pure builders and readers of DestinationRules and the VirtualService."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from kubernetes import client

from controller.kube import Kube
from controller.routers import istio_routes as build
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from controller.routers.istio import IstioRouter
from controller.routers.route_objects import ORIGINAL_CONFIGURATION, route_context
from controller.routers.sticky_sessions import StickyCookies, cookie_regex, next_cookies, parse_set_cookie

Obj = dict[str, Any]
NO_COOKIES = StickyCookies()
ALL_PRIMARY = Routes(100, 0)


def make_canary(service: Obj | None = None, analysis: Obj | None = None, **spec: Any) -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "uid-1234"},
        "spec": {
            "provider": "istio",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898, **(service or {})},
            "analysis": {"interval": "30s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
            **spec,
        },
    }


def ctx_of(canary: Obj) -> Any:
    ctx = route_context(canary, "istio")
    build.check_supported(ctx)
    return ctx


def vs_for(canary: Obj, weights: Routes = ALL_PRIMARY, cookies: StickyCookies = NO_COOKIES) -> Obj:
    return build.virtual_service(ctx_of(canary), weights, cookies)


def test_destination_rules_carry_the_traffic_policy_and_ownership() -> None:
    policy = {"tls": {"mode": "ISTIO_MUTUAL"}, "loadBalancer": {"simple": "LEAST_REQUEST"}}
    rules = build.destination_rules(ctx_of(make_canary({"trafficPolicy": policy})))
    assert [r["metadata"]["name"] for r in rules] == ["podinfo-canary", "podinfo-primary"]
    for rule in rules:
        assert rule["apiVersion"] == "networking.istio.io/v1beta1"
        assert rule["spec"] == {"host": rule["metadata"]["name"], "trafficPolicy": policy}
        assert rule["metadata"]["ownerReferences"][0]["uid"] == "uid-1234"
        assert rule["metadata"]["ownerReferences"][0]["controller"] is True
        assert rule["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/reconcile"] == "disabled"


def test_destination_rules_without_traffic_policy_have_only_a_host() -> None:
    rules = build.destination_rules(ctx_of(make_canary()))
    assert [r["spec"] for r in rules] == [{"host": "podinfo-canary"}, {"host": "podinfo-primary"}]


def test_virtual_service_defaults_to_the_mesh_and_adds_the_apex_host() -> None:
    vs = vs_for(
        make_canary({"hosts": ["app.example.com"], "apex": {"labels": {"team": "a"}}}), Routes(90, 10)
    )
    assert vs["metadata"]["name"] == "podinfo"
    assert vs["metadata"]["labels"]["team"] == "a"
    assert vs["spec"]["hosts"] == ["app.example.com", "podinfo"]
    assert vs["spec"]["gateways"] == ["mesh"]
    assert vs["spec"]["http"] == [
        {
            "route": [
                {"destination": {"host": "podinfo-primary"}, "weight": 90},
                {"destination": {"host": "podinfo-canary"}, "weight": 10},
            ]
        }
    ]


def test_wildcard_host_and_explicit_gateways_are_kept_as_given() -> None:
    vs = vs_for(make_canary({"hosts": ["*"], "gateways": ["public-gateway.istio-system.svc.cluster.local"]}))
    assert vs["spec"]["hosts"] == ["*"]
    assert vs["spec"]["gateways"] == ["public-gateway.istio-system.svc.cluster.local"]


def test_port_discovery_behind_a_gateway_sets_destination_ports() -> None:
    canary = make_canary({"portDiscovery": True, "gateways": ["public-gateway"]})
    route = vs_for(canary)["spec"]["http"][0]["route"]
    assert [d["destination"]["port"] for d in route] == [{"number": 9898}, {"number": 9898}]
    mesh_only = vs_for(make_canary({"portDiscovery": True}))["spec"]["http"][0]["route"]
    assert all("port" not in d["destination"] for d in mesh_only)


def test_delegation_drops_hosts_and_gateways_and_rejects_them_when_set() -> None:
    spec = vs_for(make_canary({"delegation": True}))["spec"]
    assert "hosts" not in spec
    assert "gateways" not in spec
    with pytest.raises(UnsupportedFeature, match="delegat"):
        ctx_of(make_canary({"delegation": True, "hosts": ["a.example.com"]}))


def test_service_route_options_are_copied_to_the_route() -> None:
    service = {
        "match": [{"uri": {"prefix": "/api"}}],
        "retries": {"attempts": 3, "perTryTimeout": "1s", "retryOn": "gateway-error,connect-failure"},
        "timeout": "5s",
        "headers": {"request": {"add": {"x-team": "a"}}, "response": {"remove": ["x-envoy"]}},
        "corsPolicy": {
            "allowOrigins": [{"exact": "https://example.com"}],
            "allowMethods": ["GET"],
            "maxAge": "24h",
        },
        "rewrite": {"uri": "/"},
    }
    route = vs_for(make_canary(service))["spec"]["http"][0]
    assert route["match"] == [{"uri": {"prefix": "/api"}}]
    assert route["retries"] == service["retries"]
    assert route["timeout"] == "5s"
    assert route["headers"] == service["headers"]
    assert route["corsPolicy"] == service["corsPolicy"]
    assert route["rewrite"] == {"uri": "/"}


def test_full_path_rewrite_uses_a_regex_rewrite() -> None:
    route = vs_for(make_canary({"rewrite": {"uri": "/v2/", "type": "ReplaceFullPath", "authority": "b"}}))
    assert route["spec"]["http"][0]["rewrite"] == {
        "authority": "b",
        "uriRegexRewrite": {"match": "^.*$", "rewrite": "/v2/"},
    }


def test_mirroring_adds_mirror_and_percentage() -> None:
    route = vs_for(make_canary(analysis={"mirror": True, "mirrorWeight": 25}), Routes(100, 0, True))
    http = route["spec"]["http"][0]
    assert http["mirror"] == {"host": "podinfo-canary"}
    assert http["mirrorPercentage"] == {"value": 25.0}
    unmirrored = vs_for(make_canary(analysis={"mirror": True, "mirrorWeight": 25}), Routes(100, 0, False))
    assert "mirror" not in unmirrored["spec"]["http"][0]


def test_ab_testing_routes_matching_requests_with_weights_and_the_rest_to_primary() -> None:
    analysis = {
        "iterations": 10,
        "match": [
            {"headers": {"x-canary": {"exact": "insider"}}},
            {"headers": {"user-agent": {"suffix": "Firefox/99"}}},
        ],
    }
    canary = make_canary({"match": [{"uri": {"prefix": "/api"}}]}, analysis)
    http = vs_for(canary, Routes(0, 100))["spec"]["http"]
    assert len(http) == 2
    assert http[0]["match"] == [
        {"uri": {"prefix": "/api"}, "headers": {"x-canary": {"exact": "insider"}}},
        {"uri": {"prefix": "/api"}, "headers": {"user-agent": {"regex": ".*Firefox/99$"}}},
    ]
    assert [d["weight"] for d in http[0]["route"]] == [0, 100]
    assert http[1]["match"] == [{"uri": {"prefix": "/api"}}]
    assert http[1]["route"] == [{"destination": {"host": "podinfo-primary"}, "weight": 100}]


def test_ab_match_without_service_match_is_used_as_is() -> None:
    analysis = {
        "iterations": 5,
        "match": [{"queryParams": {"beta": {"exact": "1"}}, "sourceLabels": {"a": "b"}}],
    }
    http = vs_for(make_canary(analysis=analysis))["spec"]["http"]
    assert http[0]["match"] == [{"queryParams": {"beta": {"exact": "1"}}, "sourceLabels": {"a": "b"}}]
    assert "match" not in http[1]


def test_tcp_services_get_a_tcp_route_and_reject_mirroring() -> None:
    canary = make_canary({"appProtocol": "TCP", "match": [{"port": 9898}]})
    spec = vs_for(canary, Routes(70, 30))["spec"]
    assert "http" not in spec
    assert spec["tcp"] == [
        {
            "match": [{"port": 9898}],
            "route": [
                {"destination": {"host": "podinfo-primary"}, "weight": 70},
                {"destination": {"host": "podinfo-canary"}, "weight": 30},
            ],
        }
    ]
    assert build.routes_of(vs_for(canary, Routes(70, 30)), "podinfo-primary", "podinfo-canary") == Routes(
        70, 30
    )
    with pytest.raises(UnsupportedFeature, match="mirroring"):
        vs_for(canary, Routes(100, 0, True))
    with pytest.raises(UnsupportedFeature, match="TCP"):
        ctx_of(
            make_canary(
                {"appProtocol": "tcp"}, {"iterations": 3, "match": [{"headers": {"a": {"exact": "b"}}}]}
            )
        )


@pytest.mark.parametrize(
    ("service", "analysis", "words"),
    [
        ({"gatewayRefs": [{"name": "gw"}]}, {}, "gatewayRefs"),
        ({"mirror": [{"backendRef": {"name": "other"}}]}, {}, "service.mirror"),
        ({"backendTimeout": "1s"}, {}, "backendTimeout"),
        ({"rewrite": {"uri": "/", "type": "Bogus"}}, {}, "rewrite type"),
        (
            {},
            {
                "iterations": 2,
                "match": [{"headers": {"a": {"exact": "b"}}}],
                "sessionAffinity": {"cookieName": "c"},
            },
            "sessionAffinity",
        ),
        ({}, {"sessionAffinity": {"cookieName": "c", "primaryCookieName": "c"}}, "same cookie name"),
    ],
)
def test_unsupported_requests_are_rejected_with_a_reason(service: Obj, analysis: Obj, words: str) -> None:
    with pytest.raises(UnsupportedFeature, match=words):
        ctx_of(make_canary(service, analysis))


def test_a_canary_without_service_is_unsupported() -> None:
    canary = make_canary()
    del canary["spec"]["service"]
    with pytest.raises(UnsupportedFeature, match=r"spec\.service"):
        route_context(canary, "istio")


@pytest.mark.parametrize("mirrored", [False, True])
@pytest.mark.parametrize("ab", [False, True])
def test_routes_of_reads_back_every_split_it_builds(mirrored: bool, ab: bool) -> None:
    analysis: Obj = {"mirror": True}
    if ab:
        analysis.update(iterations=3, match=[{"headers": {"x-user": {"exact": "beta"}}}])
    canary = make_canary({"match": [{"uri": {"prefix": "/"}}]}, analysis)
    for canary_weight in range(0, 101, 10):
        weights = Routes(100 - canary_weight, canary_weight, mirrored)
        assert build.routes_of(vs_for(canary, weights), "podinfo-primary", "podinfo-canary") == weights


def test_routes_of_fails_on_a_foreign_virtual_service() -> None:
    foreign = {"metadata": {"name": "podinfo", "namespace": "test"}, "spec": {"http": [{"route": []}]}}
    with pytest.raises(RouterError, match="no route"):
        build.routes_of(foreign, "podinfo-primary", "podinfo-canary")


AFFINITY = {"sessionAffinity": {"cookieName": "flagger-cookie", "maxAge": 3600, "path": "/", "secure": True}}


def test_session_affinity_with_canary_traffic_adds_a_sticky_route_and_a_cookie() -> None:
    canary = make_canary({"match": [{"uri": {"prefix": "/"}}]}, AFFINITY)
    cookies = StickyCookies(canary="flagger-cookie=abcDEF")
    http = vs_for(canary, Routes(80, 20), cookies)["spec"]["http"]
    assert [r.get("name") for r in http] == ["sticky-route", None]
    sticky, weighted = http
    assert sticky["match"] == [
        {"uri": {"prefix": "/"}, "headers": {"cookie": {"regex": cookie_regex("flagger-cookie=abcDEF")}}}
    ]
    assert [d["weight"] for d in sticky["route"]] == [0, 100]
    assert weighted["route"][1]["headers"] == {
        "response": {"add": {"Set-Cookie": "flagger-cookie=abcDEF; Max-Age=3600; Path=/; Secure"}}
    }
    assert "headers" not in weighted["route"][0]
    vs = vs_for(canary, Routes(80, 20), cookies)
    assert build.routes_of(vs, "podinfo-primary", "podinfo-canary") == Routes(80, 20)
    assert build.cookies_of(vs, "podinfo-primary", "podinfo-canary") == cookies


def test_primary_cookie_keeps_primary_users_for_one_interval() -> None:
    affinity = {"sessionAffinity": {"cookieName": "canary-c", "primaryCookieName": "primary-c"}}
    cookies = StickyCookies(canary="canary-c=aaa", primary="primary-c=bbb")
    vs = vs_for(make_canary(analysis=affinity), Routes(70, 30), cookies)
    names = [r.get("name") for r in vs["spec"]["http"]]
    assert names == ["sticky-route", "sticky-route-primary", None]
    primary_sticky = vs["spec"]["http"][1]
    assert [d["weight"] for d in primary_sticky["route"]] == [100, 0]
    primary_dest = vs["spec"]["http"][2]["route"][0]
    assert primary_dest["headers"]["response"]["add"]["Set-Cookie"] == "primary-c=bbb; Max-Age=30"
    assert build.cookies_of(vs, "podinfo-primary", "podinfo-canary") == cookies


def test_after_the_run_the_previous_canary_cookie_is_expired() -> None:
    canary = make_canary({"headers": {"response": {"set": {"x-a": "b"}}}}, AFFINITY)
    vs = vs_for(canary, Routes(100, 0), StickyCookies(expiring="flagger-cookie=old"))
    sticky, weighted = vs["spec"]["http"]
    assert sticky["name"] == "sticky-route"
    assert sticky["headers"]["response"] == {
        "set": {"x-a": "b"},
        "add": {"Set-Cookie": "flagger-cookie=old; Max-Age=-1"},
    }
    assert weighted["headers"] == {"response": {"set": {"x-a": "b"}}}
    assert build.cookies_of(vs, "podinfo-primary", "podinfo-canary") == StickyCookies(
        expiring="flagger-cookie=old"
    )
    assert build.routes_of(vs, "podinfo-primary", "podinfo-canary") == Routes(100, 0)
    # without any cookie to expire, there is no sticky route at all
    assert len(vs_for(canary, Routes(100, 0))["spec"]["http"]) == 1


def test_next_cookies_keeps_the_live_cookie_and_expires_it_at_zero() -> None:
    affinity = route_context(make_canary(analysis=AFFINITY), "istio").analysis.session_affinity
    assert affinity is not None
    fresh = next_cookies(affinity, NO_COOKIES, 10, "NEWVAL", "uid")
    assert fresh == StickyCookies(canary="flagger-cookie=NEWVAL")
    kept = next_cookies(affinity, StickyCookies(canary="flagger-cookie=live"), 20, "OTHER", "uid")
    assert kept.canary == "flagger-cookie=live"
    renamed = next_cookies(affinity, StickyCookies(canary="old-name=live"), 20, "OTHER", "uid")
    assert renamed.canary == "flagger-cookie=OTHER"
    done = next_cookies(affinity, StickyCookies(canary="flagger-cookie=live"), 0, "X", "uid")
    assert done == StickyCookies(expiring="flagger-cookie=live")
    still = next_cookies(affinity, StickyCookies(expiring="flagger-cookie=live"), 0, "X", "uid")
    assert still == StickyCookies(expiring="flagger-cookie=live")


def test_parse_set_cookie_reads_the_cookie_and_max_age() -> None:
    assert parse_set_cookie("a=b; Max-Age=10; Path=/") == ("a=b", 10)
    assert parse_set_cookie("a=b; max-age=-1") == ("a=b", -1)
    assert parse_set_cookie("a=b") == ("a=b", None)


def test_handover_sends_everything_to_the_apex_service() -> None:
    vs = build.handover_virtual_service(ctx_of(make_canary({"timeout": "3s"})))
    assert vs["spec"]["http"] == [
        {"timeout": "3s", "route": [{"destination": {"host": "podinfo"}, "weight": 100}]}
    ]
    assert vs["metadata"]["ownerReferences"][0]["uid"] == "uid-1234"


def test_original_spec_prefers_kubectl_then_recorded_annotations() -> None:
    spec = {"hosts": ["podinfo"], "http": [{"route": [{"destination": {"host": "podinfo"}}]}]}
    applied = {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService", "spec": spec}
    vs: Obj = {"metadata": {"name": "podinfo", "annotations": {}}, "spec": {}}
    assert build.original_spec(vs) is None
    vs["metadata"]["annotations"][ORIGINAL_CONFIGURATION] = json.dumps({"hosts": ["x"]})
    assert build.original_spec(vs) == {"hosts": ["x"]}
    vs["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(applied)
    assert build.original_spec(vs) == spec
    broken = copy.deepcopy(vs)
    broken["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = "{"
    with pytest.raises(RouterError):
        build.original_spec(broken)


def test_apex_annotations_never_copy_recorded_configurations() -> None:
    apex = {
        "annotations": {
            "a": "1",
            ORIGINAL_CONFIGURATION: "{}",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
        }
    }
    meta = vs_for(make_canary({"apex": apex}))["metadata"]
    assert meta["annotations"] == {"a": "1", "kustomize.toolkit.fluxcd.io/reconcile": "disabled"}
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "gitcanary"


async def test_router_for_selects_the_istio_router() -> None:
    kube = Kube(client.Configuration())
    try:
        router = router_for(kube, make_canary())
        assert isinstance(router, IstioRouter)
    finally:
        await kube.close()
