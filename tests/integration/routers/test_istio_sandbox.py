"""The Istio router against a real apiserver with the upstream Istio CRDs.

The Canary is a plain dict whose owner is a real ConfigMap (for a real uid); every object the
router writes is validated by the upstream schema, and every split is read back independently
with kubectl (which reads the CRD's preferred version, networking.istio.io/v1).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.kube import Kube
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from controller.routers.route_objects import ORIGINAL_CONFIGURATION
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
            "provider": "istio",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 9898, **service},
            "analysis": {"interval": "15s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
        },
    }


def live_vs(sandbox: SandboxClient, namespace: str, name: str) -> Obj:
    out: Obj = json.loads(
        sandbox.kubectl("get", "virtualservices.networking.istio.io", name, "-n", namespace, "-o", "json")
    )
    return out


def split(route: Obj) -> dict[str, int]:
    return {d["destination"]["host"]: d.get("weight", 0) for d in route["route"]}


async def test_reconcile_creates_owned_objects_and_walks_the_weights(
    sandbox: SandboxClient, namespace: str
) -> None:
    canary = owned_canary(
        sandbox,
        namespace,
        "podinfo",
        {
            "hosts": ["app.example.com"],
            "match": [{"uri": {"prefix": "/"}}],
            "retries": {"attempts": 3, "perTryTimeout": "1s", "retryOn": "gateway-error,connect-failure"},
            "timeout": "10s",
            "headers": {"request": {"add": {"x-envoy-upstream-rq-timeout-ms": "15000"}}},
            "corsPolicy": {
                "allowOrigins": [{"exact": "https://example.com"}],
                "allowMethods": ["GET"],
                "maxAge": "24h",
            },
            "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
        },
    )
    uid = canary["metadata"]["uid"]
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        for host in ("podinfo-primary", "podinfo-canary"):
            rule = await kube.get("networking.istio.io/v1", "DestinationRule", namespace, host)
            assert rule is not None
            assert rule["spec"] == {"host": host, "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}
            assert rule["metadata"]["ownerReferences"][0]["uid"] == uid
        vs = live_vs(sandbox, namespace, "podinfo")
        assert vs["metadata"]["ownerReferences"][0]["uid"] == uid
        assert vs["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/reconcile"] == "disabled"
        assert vs["spec"]["hosts"] == ["app.example.com", "podinfo"]
        assert vs["spec"]["gateways"] == ["mesh"]
        http = vs["spec"]["http"]
        assert len(http) == 1
        assert http[0]["retries"]["attempts"] == 3
        assert http[0]["timeout"] == "10s"
        assert split(http[0]) == {"podinfo-primary": 100, "podinfo-canary": 0}
        assert await router.get_routes() == Routes(100, 0, False)

        for weight in WALK:
            await router.set_routes(100 - weight, weight, False)
            http = live_vs(sandbox, namespace, "podinfo")["spec"]["http"]
            assert len(http) == 1
            assert split(http[0]) == {"podinfo-primary": 100 - weight, "podinfo-canary": weight}
            assert await router.get_routes() == Routes(100 - weight, weight, False)
            if weight == 30:
                await router.reconcile()  # reconcile never resets a split in progress
                assert await router.get_routes() == Routes(70, 30, False)

        await router.finalize()
        http = live_vs(sandbox, namespace, "podinfo")["spec"]["http"]
        assert [split(r) for r in http] == [{"podinfo": 100}]
    finally:
        await kube.close()


async def test_ab_testing_routes_matching_requests_to_the_canary(
    sandbox: SandboxClient, namespace: str
) -> None:
    analysis = {
        "iterations": 10,
        "match": [
            {"headers": {"x-canary": {"exact": "insider"}}},
            {"headers": {"user-agent": {"suffix": "Firefox"}}},
        ],
    }
    canary = owned_canary(sandbox, namespace, "abtest", {"match": [{"uri": {"prefix": "/api"}}]}, analysis)
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        for primary, canary_weight in ((100, 0), (0, 100), (100, 0)):
            await router.set_routes(primary, canary_weight, False)
            http = live_vs(sandbox, namespace, "abtest")["spec"]["http"]
            assert len(http) == 2
            assert http[0]["match"] == [
                {"uri": {"prefix": "/api"}, "headers": {"x-canary": {"exact": "insider"}}},
                {"uri": {"prefix": "/api"}, "headers": {"user-agent": {"regex": ".*Firefox$"}}},
            ]
            assert split(http[0]) == {"abtest-primary": primary, "abtest-canary": canary_weight}
            assert http[1]["match"] == [{"uri": {"prefix": "/api"}}]
            assert split(http[1]) == {"abtest-primary": 100}
            assert await router.get_routes() == Routes(primary, canary_weight, False)
    finally:
        await kube.close()


async def test_mirroring_and_session_affinity(sandbox: SandboxClient, namespace: str) -> None:
    mirror = owned_canary(
        sandbox, namespace, "mirror", {}, {"iterations": 5, "mirror": True, "mirrorWeight": 50}
    )
    sticky = owned_canary(
        sandbox, namespace, "sticky", {}, {"sessionAffinity": {"cookieName": "flagger-cookie", "maxAge": 120}}
    )
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, mirror)
        await router.reconcile()
        await router.set_routes(100, 0, True)
        http = live_vs(sandbox, namespace, "mirror")["spec"]["http"]
        assert http[0]["mirror"] == {"host": "mirror-canary"}
        assert http[0]["mirrorPercentage"] == {"value": 50}
        assert await router.get_routes() == Routes(100, 0, True)
        await router.set_routes(100, 0, False)
        assert "mirror" not in live_vs(sandbox, namespace, "mirror")["spec"]["http"][0]
        assert await router.get_routes() == Routes(100, 0, False)

        router = router_for(kube, sticky)
        await router.reconcile()
        await router.set_routes(90, 10, False)
        first = live_vs(sandbox, namespace, "sticky")["spec"]["http"]
        assert [r.get("name") for r in first] == ["sticky-route", None]
        cookie = first[1]["route"][1]["headers"]["response"]["add"]["Set-Cookie"]
        assert cookie.startswith("flagger-cookie=")
        assert cookie.endswith("; Max-Age=120")
        await router.set_routes(80, 20, False)
        second = live_vs(sandbox, namespace, "sticky")["spec"]["http"]
        assert second[1]["route"][1]["headers"]["response"]["add"]["Set-Cookie"] == cookie
        assert [d["weight"] for d in second[0]["route"]] == [0, 100]
        assert await router.get_routes() == Routes(80, 20, False)
        await router.set_routes(100, 0, False)
        done = live_vs(sandbox, namespace, "sticky")["spec"]["http"]
        value = cookie.split(";")[0]
        assert done[0]["headers"]["response"]["add"]["Set-Cookie"] == f"{value}; Max-Age=-1"
        assert await router.get_routes() == Routes(100, 0, False)
    finally:
        await kube.close()


async def test_an_adopted_virtual_service_is_restored_on_finalize(
    sandbox: SandboxClient, namespace: str
) -> None:
    original = {"hosts": ["legacy"], "http": [{"route": [{"destination": {"host": "legacy"}}]}]}
    manifest = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "legacy"},
        "spec": original,
    }
    sandbox.kubectl("create", "-n", namespace, "-f", "-", stdin=json.dumps(manifest))
    canary = owned_canary(sandbox, namespace, "legacy", {})
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        vs = live_vs(sandbox, namespace, "legacy")
        assert json.loads(vs["metadata"]["annotations"][ORIGINAL_CONFIGURATION]) == original
        assert not vs["metadata"].get("ownerReferences")
        assert await router.get_routes() == Routes(100, 0, False)
        await router.set_routes(60, 40, False)
        assert await router.get_routes() == Routes(60, 40, False)
        await router.finalize()
        restored = live_vs(sandbox, namespace, "legacy")
        assert restored["spec"] == original
        assert not restored["metadata"].get("ownerReferences")
        assert ORIGINAL_CONFIGURATION not in (restored["metadata"].get("annotations") or {})
    finally:
        await kube.close()


async def test_unsupported_requests_write_nothing(sandbox: SandboxClient, namespace: str) -> None:
    canary = owned_canary(sandbox, namespace, "refused", {"gatewayRefs": [{"name": "gw"}]})
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        with pytest.raises(UnsupportedFeature, match="gatewayRefs"):
            await router.reconcile()
        assert await kube.get("networking.istio.io/v1", "VirtualService", namespace, "refused") is None
        assert (
            await kube.get("networking.istio.io/v1", "DestinationRule", namespace, "refused-primary") is None
        )
        with pytest.raises(RouterError, match="not found"):
            await router.get_routes()
    finally:
        await kube.close()
