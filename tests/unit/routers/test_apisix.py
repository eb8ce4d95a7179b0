"""APISIX router: the canary ApisixRoute builder, weight reading and refusals."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes import client

from controller.kube import Kube
from controller.routers import apisix
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from controller.routers.route_objects import route_context

Obj = dict[str, Any]


def make_canary(route_ref: Obj | None = None, analysis: Obj | None = None, service: Obj | None = None) -> Obj:
    spec: Obj = {
        "provider": "apisix",
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "service": {"port": 80, "targetPort": 9898, **(service or {})},
        "analysis": {"interval": "30s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
    }
    if route_ref is not None:
        spec["routeRef"] = route_ref
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "uid-1"},
        "spec": spec,
    }


REF: Obj = {"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute", "name": "web"}


def source_route(**backend: Any) -> Obj:
    return {
        "apiVersion": "apisix.apache.org/v2",
        "kind": "ApisixRoute",
        "metadata": {
            "name": "web",
            "namespace": "test",
            "labels": {"team": "a", "kustomize.toolkit.fluxcd.io/name": "apps"},
            "annotations": {
                "note": "kept",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "kustomize.toolkit.fluxcd.io/prune": "disabled",
            },
        },
        "spec": {
            "http": [
                {
                    "name": "other",
                    "match": {"paths": ["/other"]},
                    "backends": [{"serviceName": "other", "servicePort": 80}],
                },
                {
                    "name": "rule1",
                    "match": {"hosts": ["app.example.com"], "paths": ["/*"]},
                    "plugins": [{"name": "cors", "enable": True, "config": {}}],
                    "backends": [{"serviceName": "podinfo", "servicePort": 80, **backend}],
                },
            ],
            "stream": [{"name": "tcp", "protocol": "TCP", "match": {"ingressPort": 9100}}],
        },
    }


def test_router_for_returns_the_apisix_router() -> None:
    router = router_for(Kube(client.Configuration()), make_canary(REF))
    assert isinstance(router, apisix.ApisixRouter)


def test_canary_route_copies_the_apex_rule_with_two_weighted_backends() -> None:
    ctx = route_context(make_canary(REF), "apisix")
    source = source_route(resolveGranularity="service", subset="v1")
    before = copy.deepcopy(source)
    route = apisix.canary_route(ctx, source, Routes(70, 30))
    assert source == before  # the referenced route is never modified
    assert route["apiVersion"] == "apisix.apache.org/v2"
    meta = route["metadata"]
    assert meta["name"] == "web-podinfo-canary"
    assert meta["namespace"] == "test"
    assert meta["ownerReferences"][0]["uid"] == "uid-1"
    assert meta["labels"] == {"team": "a", "app.kubernetes.io/managed-by": "gitcanary"}
    assert meta["annotations"] == {"note": "kept", "kustomize.toolkit.fluxcd.io/reconcile": "disabled"}
    assert route["spec"] == {
        "http": [
            {
                "name": "rule1",
                "priority": 10000,
                "match": {"hosts": ["app.example.com"], "paths": ["/*"]},
                "plugins": [{"name": "cors", "enable": True, "config": {}}],
                "backends": [
                    {
                        "serviceName": "podinfo-primary",
                        "servicePort": 80,
                        "resolveGranularity": "service",
                        "subset": "v1",
                        "weight": 70,
                    },
                    {
                        "serviceName": "podinfo-canary",
                        "servicePort": 80,
                        "resolveGranularity": "service",
                        "subset": "v1",
                        "weight": 30,
                    },
                ],
            }
        ]
    }


def test_the_service_name_selects_the_rule_and_names_the_route() -> None:
    ctx = route_context(make_canary(REF, service={"name": "other"}), "apisix")
    route = apisix.canary_route(ctx, source_route(), Routes(100, 0))
    assert route["metadata"]["name"] == "web-other-canary"
    assert route["spec"]["http"][0]["name"] == "other"
    assert [b["serviceName"] for b in route["spec"]["http"][0]["backends"]] == [
        "other-primary",
        "other-canary",
    ]


def test_a_route_without_the_apex_backend_or_with_several_backends_is_refused() -> None:
    ctx = route_context(make_canary(REF, service={"name": "absent"}), "apisix")
    with pytest.raises(RouterError, match="no HTTP rule with backend absent"):
        apisix.canary_route(ctx, source_route(), Routes(100, 0))
    ctx = route_context(make_canary(REF), "apisix")
    source = source_route()
    source["spec"]["http"][1]["backends"].append({"serviceName": "extra", "servicePort": 80})
    with pytest.raises(RouterError, match="2 backends"):
        apisix.canary_route(ctx, source, Routes(100, 0))
    source["spec"]["http"] = []
    with pytest.raises(RouterError, match=r"spec\.http is empty"):
        apisix.canary_route(ctx, source, Routes(100, 0))


def test_routes_of_reads_the_weights_of_the_primary_rule() -> None:
    ctx = route_context(make_canary(REF), "apisix")
    route = apisix.canary_route(ctx, source_route(), Routes(60, 40))
    assert apisix.routes_of(route, "podinfo-primary", "podinfo-canary") == Routes(60, 40, False)
    route["spec"]["http"][0]["backends"][0]["weight"] = "60"
    with pytest.raises(RouterError, match="invalid weight"):
        apisix.routes_of(route, "podinfo-primary", "podinfo-canary")
    route["spec"]["http"][0]["backends"][0]["weight"] = 0
    route["spec"]["http"][0]["backends"][1]["weight"] = 0
    with pytest.raises(RouterError, match="no weight"):
        apisix.routes_of(route, "podinfo-primary", "podinfo-canary")
    with pytest.raises(RouterError, match="no HTTP rule"):
        apisix.routes_of(source_route(), "podinfo-primary", "podinfo-canary")


@pytest.mark.parametrize(
    ("route_ref", "analysis", "what"),
    [
        (None, {}, "spec.routeRef"),
        ({**REF, "apiVersion": "apisix.apache.org/v2beta3"}, {}, "v2beta3"),
        (REF, {"iterations": 5, "match": [{"headers": {"x-canary": {"exact": "1"}}}]}, "A/B"),
        (REF, {"iterations": 5, "stepWeight": None, "mirror": True}, "mirroring"),
        (REF, {"sessionAffinity": {"cookieName": "c"}}, "session affinity"),
    ],
)
def test_unsupported_requests_are_refused(route_ref: Obj | None, analysis: Obj, what: str) -> None:
    ctx = route_context(make_canary(route_ref, analysis), "apisix")
    with pytest.raises(UnsupportedFeature, match=what):
        apisix.check_supported(ctx)


async def test_invalid_weights_are_refused_before_any_api_call() -> None:
    router = apisix.ApisixRouter(Kube(client.Configuration(host="http://127.0.0.1:9")), make_canary(REF))
    try:
        with pytest.raises(RouterError, match="negative"):
            await router.set_routes(-1, 101, False)
        with pytest.raises(RouterError, match="some traffic must go somewhere"):
            await router.set_routes(0, 0, False)
        with pytest.raises(UnsupportedFeature, match="mirroring"):
            await router.set_routes(90, 10, True)
    finally:
        await router.kube.close()
