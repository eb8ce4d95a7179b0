"""The Gloo router against a real apiserver with the Gloo CRDs of tests/crds/gloo.yaml.

The Canary (``gitcanary.io/v1beta1``) is applied to the sandbox and owns what the router writes;
the primary and canary Services and an upstreamRef template are real objects; every split is
read back with kubectl.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controller.kube import Kube
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from gitcanary_sandbox.client import SandboxClient

Obj = dict[str, Any]
CRDS = Path(__file__).resolve().parents[2] / "crds" / "gloo.yaml"
WALK = [0, 10, 20, 30, 40, 50, 0]


@pytest.fixture
def gloo(sandbox: SandboxClient) -> SandboxClient:
    sandbox.kubectl("apply", "--server-side", "-f", str(CRDS))
    for crd in ("upstreams.gloo.solo.io", "routetables.gateway.solo.io"):
        sandbox.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")
    return sandbox


def apply(sandbox: SandboxClient, obj: Obj) -> Obj:
    sandbox.kubectl("apply", "-f", "-", stdin=json.dumps(obj))
    found: Obj = json.loads(sandbox.kubectl("get", "-f", "-", "-o", "json", stdin=json.dumps(obj)))
    live: Obj = found["items"][0] if found.get("kind") == "List" else found
    assert live["metadata"]["uid"]
    return live


def services(sandbox: SandboxClient, namespace: str) -> None:
    for suffix in ("primary", "canary"):
        selector = "podinfo-primary" if suffix == "primary" else "podinfo"
        apply(
            sandbox,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"podinfo-{suffix}", "namespace": namespace},
                "spec": {"selector": {"app": selector}, "ports": [{"name": "http", "port": 9898}]},
            },
        )


def canary(namespace: str, analysis: Obj | None = None, **spec: Any) -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": namespace},
        "spec": {
            "provider": "gloo",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {
                "interval": "15s",
                "threshold": 5,
                **(analysis or {"stepWeight": 10, "maxWeight": 50}),
            },
            **spec,
        },
    }


def live(sandbox: SandboxClient, namespace: str, plural: str, name: str) -> Obj:
    out: Obj = json.loads(sandbox.kubectl("get", plural, name, "-n", namespace, "-o", "json"))
    return out


def weights_of(route: Obj) -> dict[str, int]:
    return {
        d["destination"]["upstream"]["name"]: d["weight"]
        for d in route["routeAction"]["multi"]["destinations"]
    }


async def test_reconcile_creates_upstreams_from_the_template_and_walks_the_weights(
    gloo: SandboxClient, namespace: str
) -> None:
    sandbox = gloo
    services(sandbox, namespace)
    template = {
        "apiVersion": "gloo.solo.io/v1",
        "kind": "Upstream",
        "metadata": {"name": "config", "namespace": namespace},
        "spec": {
            "connectionConfig": {"maxRequestsPerConnection": 10},
            "static": {"hosts": [{"addr": "x", "port": 1}]},
        },
    }
    apply(sandbox, template)
    ref = {"apiVersion": "gloo.solo.io/v1", "kind": "Upstream", "name": "config"}
    owner = apply(sandbox, canary(namespace, upstreamRef=ref))
    uid = owner["metadata"]["uid"]
    primary, canary_us = (
        f"{namespace}-podinfo-primaryupstream-9898",
        f"{namespace}-podinfo-canaryupstream-9898",
    )
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, owner)
        await router.reconcile()
        for name, service, selector in (
            (primary, "podinfo-primary", "podinfo-primary"),
            (canary_us, "podinfo-canary", "podinfo"),
        ):
            upstream = live(sandbox, namespace, "upstreams.gloo.solo.io", name)
            assert upstream["spec"] == {
                "connectionConfig": {"maxRequestsPerConnection": 10},
                "kube": {
                    "serviceName": service,
                    "serviceNamespace": namespace,
                    "servicePort": 9898,
                    "selector": {"app": selector},
                },
            }
            assert upstream["metadata"]["ownerReferences"][0]["uid"] == uid
        table = live(sandbox, namespace, "routetables.gateway.solo.io", "podinfo")
        assert table["metadata"]["ownerReferences"][0]["uid"] == uid
        assert weights_of(table["spec"]["routes"][0]) == {primary: 100, canary_us: 0}
        assert await router.get_routes() == Routes(100, 0, False)
        for weight in WALK:
            await router.set_routes(100 - weight, weight, False)
            routes = live(sandbox, namespace, "routetables.gateway.solo.io", "podinfo")["spec"]["routes"]
            assert len(routes) == 1
            assert weights_of(routes[0]) == {primary: 100 - weight, canary_us: weight}
            assert await router.get_routes() == Routes(100 - weight, weight, False)
            if weight == 30:
                await router.reconcile()
                assert await router.get_routes() == Routes(70, 30, False)
        await router.finalize()
        assert await router.get_routes() == Routes(100, 0, False)
    finally:
        await kube.close()


async def test_ab_testing_matches_headers_and_falls_back_to_the_primary(
    gloo: SandboxClient, namespace: str
) -> None:
    sandbox = gloo
    services(sandbox, namespace)
    analysis = {
        "match": [
            {"headers": {"x-canary": {"exact": "insider"}}},
            {"headers": {"user-agent": {"regex": ".*Firefox.*"}}},
        ]
    }
    owner = apply(sandbox, canary(namespace, {"iterations": 10, **analysis}))
    primary, canary_us = (
        f"{namespace}-podinfo-primaryupstream-9898",
        f"{namespace}-podinfo-canaryupstream-9898",
    )
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, owner)
        await router.reconcile()
        for p, c in ((100, 0), (0, 100), (100, 0)):
            await router.set_routes(p, c, False)
            weighted, rest = live(sandbox, namespace, "routetables.gateway.solo.io", "podinfo")["spec"][
                "routes"
            ]
            assert weighted["matchers"] == [
                {"headers": [{"name": "x-canary", "value": "insider"}]},
                {"headers": [{"name": "user-agent", "value": ".*Firefox.*", "regex": True}]},
            ]
            assert weights_of(weighted) == {primary: p, canary_us: c}
            assert rest["routeAction"] == {"single": {"upstream": {"name": primary, "namespace": namespace}}}
            assert await router.get_routes() == Routes(p, c, False)
    finally:
        await kube.close()


async def test_missing_services_and_unsupported_requests_write_nothing(
    gloo: SandboxClient, namespace: str
) -> None:
    sandbox = gloo
    owner = apply(sandbox, canary(namespace))
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, owner)
        with pytest.raises(RouterError, match="podinfo-primary not found"):
            await router.reconcile()
        # A spec change moves metadata.generation, as the API server does (the parsed Canary is
        # kept per generation: controller.api.parsed).
        meta = owner["metadata"]
        mirrored = {
            **owner,
            "metadata": {**meta, "generation": int(meta.get("generation") or 1) + 1},
            "spec": {**owner["spec"], "analysis": {**owner["spec"]["analysis"], "mirror": True}},
        }
        with pytest.raises(UnsupportedFeature, match="mirroring"):
            await router_for(kube, mirrored).reconcile()
        assert await kube.get("gateway.solo.io/v1", "RouteTable", namespace, "podinfo") is None
        with pytest.raises(RouterError, match="not found"):
            await router.get_routes()
    finally:
        await kube.close()
