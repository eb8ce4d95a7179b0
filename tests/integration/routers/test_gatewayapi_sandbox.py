"""The Gateway API router against a real apiserver with the upstream Gateway API CRDs.

The Canary is a plain dict whose owner is a real ConfigMap (for a real uid); every HTTPRoute the
router writes is validated by the upstream schema (including its CEL rules), and every split is
read back independently with kubectl.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.kube import Kube
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from gitcanary_sandbox.client import SandboxClient

Obj = dict[str, Any]
WALK = [0, 10, 20, 30, 40, 50, 0]


def owned_canary(
    sandbox: SandboxClient,
    namespace: str,
    name: str,
    service: Obj,
    analysis: Obj | None = None,
    provider: str = "gatewayapi:v1",
) -> Obj:
    sandbox.kubectl("create", "configmap", name, "-n", namespace)
    uid = sandbox.kubectl("get", "configmap", name, "-n", namespace, "-o", "jsonpath={.metadata.uid}").strip()
    assert uid
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
        "spec": {
            "provider": provider,
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {
                "port": 9898,
                "gatewayRefs": [{"name": "public", "namespace": "gateways"}],
                **service,
            },
            "analysis": {"interval": "15s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
        },
    }


def live_route(sandbox: SandboxClient, namespace: str, name: str) -> Obj:
    out: Obj = json.loads(
        sandbox.kubectl("get", "httproutes.gateway.networking.k8s.io", name, "-n", namespace, "-o", "json")
    )
    return out


def split(rule: Obj) -> dict[str, int]:
    return {b["name"]: b["weight"] for b in rule["backendRefs"]}


@pytest.mark.parametrize("provider", ["gatewayapi:v1", "gatewayapi:v1beta1"])
async def test_reconcile_creates_an_owned_route_and_walks_the_weights(
    sandbox: SandboxClient, namespace: str, provider: str
) -> None:
    service = {
        "hosts": ["app.example.com"],
        "timeout": "30s",
        "backendTimeout": "10s",
        "headers": {"request": {"set": {"x-team": "a"}}, "response": {"remove": ["server"]}},
        "corsPolicy": {
            "allowOrigins": [{"exact": "https://example.com"}],
            "allowMethods": ["GET"],
            "maxAge": "1h",
        },
        "rewrite": {"uri": "/v2"},
    }
    canary = owned_canary(sandbox, namespace, "podinfo", service, provider=provider)
    uid = canary["metadata"]["uid"]
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        route = live_route(sandbox, namespace, "podinfo")
        assert route["metadata"]["ownerReferences"][0]["uid"] == uid
        assert route["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/reconcile"] == "disabled"
        assert route["spec"]["hostnames"] == ["app.example.com"]
        assert route["spec"]["parentRefs"][0]["name"] == "public"
        (rule,) = route["spec"]["rules"]
        assert rule["timeouts"] == {"request": "30s", "backendRequest": "10s"}
        assert [f["type"] for f in rule["filters"]] == [
            "RequestHeaderModifier",
            "ResponseHeaderModifier",
            "URLRewrite",
            "CORS",
        ]
        assert rule["filters"][3]["cors"]["maxAge"] == 3600
        assert split(rule) == {"podinfo-primary": 100, "podinfo-canary": 0}
        assert await router.get_routes() == Routes(100, 0, False)

        for weight in WALK:
            await router.set_routes(100 - weight, weight, False)
            rules = live_route(sandbox, namespace, "podinfo")["spec"]["rules"]
            assert len(rules) == 1
            assert split(rules[0]) == {"podinfo-primary": 100 - weight, "podinfo-canary": weight}
            assert all(b["port"] == 9898 for b in rules[0]["backendRefs"])
            assert await router.get_routes() == Routes(100 - weight, weight, False)
            if weight == 40:
                await router.reconcile()  # reconcile never resets a split in progress
                assert await router.get_routes() == Routes(60, 40, False)

        await router.finalize()
        rules = live_route(sandbox, namespace, "podinfo")["spec"]["rules"]
        assert [split(r) for r in rules] == [{"podinfo": 100}]
    finally:
        await kube.close()


async def test_ab_testing_and_mirroring(sandbox: SandboxClient, namespace: str) -> None:
    analysis = {
        "iterations": 10,
        "match": [
            {"headers": {"x-canary": {"exact": "insider"}}},
            {"queryParams": {"beta": {"prefix": "y"}}},
        ],
    }
    ab = owned_canary(sandbox, namespace, "abtest", {"match": [{"uri": {"prefix": "/api"}}]}, analysis)
    mirror = owned_canary(
        sandbox, namespace, "mirror", {}, {"iterations": 5, "mirror": True, "mirrorWeight": 30}
    )
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, ab)
        await router.reconcile()
        for primary, canary_weight in ((100, 0), (0, 100), (100, 0)):
            await router.set_routes(primary, canary_weight, False)
            rules = live_route(sandbox, namespace, "abtest")["spec"]["rules"]
            assert len(rules) == 2
            api = {"path": {"type": "PathPrefix", "value": "/api"}}
            assert rules[0]["matches"] == [
                {**api, "headers": [{"name": "x-canary", "type": "Exact", "value": "insider"}]},
                {**api, "queryParams": [{"name": "beta", "type": "RegularExpression", "value": "^y.*"}]},
            ]
            assert split(rules[0]) == {"abtest-primary": primary, "abtest-canary": canary_weight}
            assert rules[1]["matches"] == [api]
            assert split(rules[1]) == {"abtest-primary": 100}
            assert await router.get_routes() == Routes(primary, canary_weight, False)

        router = router_for(kube, mirror)
        await router.reconcile()
        await router.set_routes(100, 0, True)
        rule = live_route(sandbox, namespace, "mirror")["spec"]["rules"][0]
        assert rule["filters"] == [
            {
                "type": "RequestMirror",
                "requestMirror": {
                    "backendRef": {"group": "", "kind": "Service", "name": "mirror-canary", "port": 9898},
                    "percent": 30,
                },
            }
        ]
        assert await router.get_routes() == Routes(100, 0, True)
        await router.set_routes(0, 100, False)
        assert "filters" not in live_route(sandbox, namespace, "mirror")["spec"]["rules"][0]
        assert await router.get_routes() == Routes(0, 100, False)
    finally:
        await kube.close()


async def test_session_affinity_cookies(sandbox: SandboxClient, namespace: str) -> None:
    affinity = {
        "sessionAffinity": {"cookieName": "canary-c", "primaryCookieName": "primary-c", "maxAge": 300}
    }
    canary = owned_canary(
        sandbox, namespace, "sticky", {"headers": {"response": {"set": {"x-a": "b"}}}}, affinity
    )
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        assert len(live_route(sandbox, namespace, "sticky")["spec"]["rules"]) == 1
        await router.set_routes(90, 10, False)
        rules = live_route(sandbox, namespace, "sticky")["spec"]["rules"]
        assert len(rules) == 3
        assert split(rules[0]) == {"sticky-primary": 0, "sticky-canary": 100}
        assert split(rules[1]) == {"sticky-primary": 100, "sticky-canary": 0}
        assert split(rules[2]) == {"sticky-primary": 90, "sticky-canary": 10}
        canary_cookie = rules[2]["backendRefs"][1]["filters"][0]["responseHeaderModifier"]["add"][0]["value"]
        assert canary_cookie.startswith("canary-c=")
        assert canary_cookie.endswith("; Max-Age=300")
        primary_cookie = rules[2]["backendRefs"][0]["filters"][0]["responseHeaderModifier"]["add"][0]["value"]
        assert primary_cookie.startswith("primary-c=")
        assert primary_cookie.endswith("; Max-Age=15")
        assert await router.get_routes() == Routes(90, 10, False)

        await router.set_routes(80, 20, False)
        rules = live_route(sandbox, namespace, "sticky")["spec"]["rules"]
        assert (
            rules[2]["backendRefs"][1]["filters"][0]["responseHeaderModifier"]["add"][0]["value"]
            == canary_cookie
        )
        assert await router.get_routes() == Routes(80, 20, False)

        await router.set_routes(100, 0, False)
        rules = live_route(sandbox, namespace, "sticky")["spec"]["rules"]
        assert len(rules) == 2
        modifier = rules[0]["filters"][0]["responseHeaderModifier"]
        assert modifier["set"] == [{"name": "x-a", "value": "b"}]
        assert modifier["add"] == [
            {"name": "Set-Cookie", "value": canary_cookie.split(";")[0] + "; Max-Age=-1"}
        ]
        assert await router.get_routes() == Routes(100, 0, False)
    finally:
        await kube.close()


async def test_unaccepted_routes_and_unsupported_requests(sandbox: SandboxClient, namespace: str) -> None:
    canary = owned_canary(sandbox, namespace, "status", {})
    refused = owned_canary(sandbox, namespace, "refused", {"retries": {"attempts": 2}})
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        live = await kube.get("gateway.networking.k8s.io/v1", "HTTPRoute", namespace, "status")
        assert live is not None
        parent = {
            "parentRef": {
                "group": "gateway.networking.k8s.io",
                "kind": "Gateway",
                "name": "public",
                "namespace": "gateways",
            },
            "controllerName": "example.com/gateway",
            "conditions": [
                {
                    "type": "Accepted",
                    "status": "False",
                    "reason": "NotAllowedByListeners",
                    "message": "",
                    "observedGeneration": live["metadata"]["generation"],
                    "lastTransitionTime": "2024-01-01T00:00:00Z",
                }
            ],
        }
        await kube.merge_patch(
            "gateway.networking.k8s.io/v1",
            "HTTPRoute",
            namespace,
            "status",
            {"status": {"parents": [parent]}},
            "status",
        )
        with pytest.raises(RouterError, match="not ready"):
            await router.get_routes()

        refusing = router_for(kube, refused)
        with pytest.raises(UnsupportedFeature, match="retries"):
            await refusing.reconcile()
        assert await kube.get("gateway.networking.k8s.io/v1", "HTTPRoute", namespace, "refused") is None
    finally:
        await kube.close()
