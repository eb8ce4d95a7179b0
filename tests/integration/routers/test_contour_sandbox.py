"""The Contour router against a real apiserver with the upstream Contour CRDs.

Every HTTPProxy the router writes is validated by the upstream schema (retryOn enum, condition
shapes); every split is read back independently with kubectl.
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
    sandbox: SandboxClient, namespace: str, name: str, service: Obj, analysis: Obj | None = None
) -> Obj:
    sandbox.kubectl("create", "configmap", name, "-n", namespace)
    uid = sandbox.kubectl("get", "configmap", name, "-n", namespace, "-o", "jsonpath={.metadata.uid}").strip()
    assert uid
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
        "spec": {
            "provider": "contour",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 9898, **service},
            "analysis": {"interval": "15s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
        },
    }


def live_proxy(sandbox: SandboxClient, namespace: str, name: str) -> Obj:
    out: Obj = json.loads(
        sandbox.kubectl("get", "httpproxies.projectcontour.io", name, "-n", namespace, "-o", "json")
    )
    return out


def weights(route: Obj) -> dict[str, int]:
    return {s["name"]: s.get("weight", 0) for s in route["services"]}


async def test_reconcile_creates_the_proxy_and_walks_the_weights(
    sandbox: SandboxClient, namespace: str
) -> None:
    service = {
        "match": [{"uri": {"prefix": "/api"}}],
        "timeout": "15s",
        "retries": {"attempts": 3, "perTryTimeout": "5s", "retryOn": "gateway-error,connect-failure"},
        "apex": {"annotations": {"projectcontour.io/ingress.class": "contour"}},
    }
    canary = owned_canary(sandbox, namespace, "podinfo", service)
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        proxy = live_proxy(sandbox, namespace, "podinfo")
        assert proxy["metadata"]["ownerReferences"][0]["uid"] == canary["metadata"]["uid"]
        assert proxy["metadata"]["annotations"]["projectcontour.io/ingress.class"] == "contour"
        [route] = proxy["spec"]["routes"]
        assert route["conditions"] == [{"prefix": "/api"}]
        assert route["timeoutPolicy"] == {"response": "15s", "idle": "5m"}
        assert route["retryPolicy"] == {
            "count": 3,
            "perTryTimeout": "5s",
            "retryOn": ["gateway-error", "connect-failure"],
        }
        assert weights(route) == {"podinfo-primary": 100, "podinfo-canary": 0}
        assert await router.get_routes() == Routes(100, 0, False)

        for weight in WALK:
            await router.set_routes(100 - weight, weight, False)
            routes = live_proxy(sandbox, namespace, "podinfo")["spec"]["routes"]
            assert len(routes) == 1
            assert weights(routes[0]) == {"podinfo-primary": 100 - weight, "podinfo-canary": weight}
            assert await router.get_routes() == Routes(100 - weight, weight, False)
            if weight == 30:
                await router.reconcile()  # reconcile never resets a split in progress
                assert await router.get_routes() == Routes(70, 30, False)

        await router.finalize()
        routes = live_proxy(sandbox, namespace, "podinfo")["spec"]["routes"]
        assert [weights(r) for r in routes] == [{"podinfo": 100}]
    finally:
        await kube.close()


async def test_ab_testing_routes_matching_requests_to_the_canary(
    sandbox: SandboxClient, namespace: str
) -> None:
    analysis = {
        "iterations": 10,
        "match": [
            {"headers": {"x-canary": {"exact": "insider"}}},
            {"headers": {"user-agent": {"suffix": "Firefox"}}, "queryParams": {"beta": {"exact": "1"}}},
        ],
    }
    canary = owned_canary(sandbox, namespace, "abtest", {}, analysis)
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        for primary, canary_weight in ((100, 0), (0, 100), (100, 0)):
            await router.set_routes(primary, canary_weight, False)
            routes = live_proxy(sandbox, namespace, "abtest")["spec"]["routes"]
            assert [r["conditions"] for r in routes] == [
                [{"prefix": "/"}, {"header": {"name": "x-canary", "exact": "insider"}}],
                [
                    {"prefix": "/"},
                    {"header": {"name": "user-agent", "regex": ".*Firefox$"}},
                    {"queryParameter": {"name": "beta", "exact": "1"}},
                ],
                [{"prefix": "/"}],
            ]
            expected = {"abtest-primary": primary, "abtest-canary": canary_weight}
            assert [weights(r) for r in routes] == [
                expected,
                expected,
                {"abtest-primary": 100, "abtest-canary": 0},
            ]
            assert await router.get_routes() == Routes(primary, canary_weight, False)
    finally:
        await kube.close()


async def test_unsupported_requests_write_nothing(sandbox: SandboxClient, namespace: str) -> None:
    canary = owned_canary(sandbox, namespace, "refused", {}, {"sessionAffinity": {"cookieName": "c"}})
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        with pytest.raises(UnsupportedFeature, match="session affinity"):
            await router.reconcile()
        assert await kube.get("projectcontour.io/v1", "HTTPProxy", namespace, "refused") is None
        with pytest.raises(RouterError, match="not found"):
            await router.get_routes()
    finally:
        await kube.close()
