"""The APISIX router against a real apiserver with the ApisixRoute CRD of tests/crds.

The referenced route is created with kubectl; the canary route is read back independently
with kubectl at every step.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.kube import Kube
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from gitcanary_sandbox.client import SandboxClient

Obj = dict[str, Any]
WALK = [0, 10, 20, 30, 40, 50, 0]
CRD = Path(__file__).resolve().parents[2] / "crds" / "apisix-route.yaml"
RESOURCE = "apisixroutes.apisix.apache.org"


@pytest.fixture(scope="module")
def apisix_crd(sandbox: SandboxClient) -> Iterator[None]:
    sandbox.kubectl("apply", "--server-side", "-f", str(CRD))
    sandbox.kubectl("wait", "--for=condition=Established", f"crd/{RESOURCE}", "--timeout=60s")
    yield


def owned_canary(sandbox: SandboxClient, namespace: str, name: str, analysis: Obj | None = None) -> Obj:
    sandbox.kubectl("create", "configmap", name, "-n", namespace)
    uid = sandbox.kubectl("get", "configmap", name, "-n", namespace, "-o", "jsonpath={.metadata.uid}").strip()
    assert uid
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
        "spec": {
            "provider": "apisix",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "routeRef": {"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute", "name": "gateway"},
            "service": {"port": 80, "targetPort": 9898},
            "analysis": {"interval": "15s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
        },
    }


def create_source(sandbox: SandboxClient, namespace: str, service: str) -> Obj:
    source: Obj = {
        "apiVersion": "apisix.apache.org/v2",
        "kind": "ApisixRoute",
        "metadata": {
            "name": "gateway",
            "namespace": namespace,
            "labels": {"app": service, "kustomize.toolkit.fluxcd.io/name": "apps"},
        },
        "spec": {
            "http": [
                {
                    "name": "main",
                    "match": {"hosts": ["app.example.com"], "paths": ["/*"]},
                    "backends": [
                        {"serviceName": service, "servicePort": 80, "resolveGranularity": "service"}
                    ],
                    "websocket": False,
                }
            ]
        },
    }
    sandbox.kubectl("create", "-f", "-", stdin=json.dumps(source))
    return source


def live_route(sandbox: SandboxClient, namespace: str, name: str) -> Obj | None:
    out = sandbox.kubectl("get", RESOURCE, name, "-n", namespace, "-o", "json", "--ignore-not-found")
    return json.loads(out) if out.strip() else None


def weights_of(route: Obj) -> dict[str, int]:
    return {b["serviceName"]: b["weight"] for b in route["spec"]["http"][0]["backends"]}


async def test_reconcile_and_walk_the_weights(
    sandbox: SandboxClient, namespace: str, apisix_crd: None
) -> None:
    canary = owned_canary(sandbox, namespace, "podinfo")
    source = create_source(sandbox, namespace, "podinfo")
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        route = live_route(sandbox, namespace, "gateway-podinfo-canary")
        assert route is not None
        assert route["metadata"]["ownerReferences"][0]["uid"] == canary["metadata"]["uid"]
        assert route["metadata"]["labels"] == {"app": "podinfo", "app.kubernetes.io/managed-by": "gitcanary"}
        rule = route["spec"]["http"][0]
        assert rule["priority"] == 10000
        assert rule["match"] == source["spec"]["http"][0]["match"]
        assert rule["backends"] == [
            {
                "serviceName": "podinfo-primary",
                "servicePort": 80,
                "resolveGranularity": "service",
                "weight": 100,
            },
            {
                "serviceName": "podinfo-canary",
                "servicePort": 80,
                "resolveGranularity": "service",
                "weight": 0,
            },
        ]
        assert await router.get_routes() == Routes(100, 0, False)
        for weight in WALK:
            await router.set_routes(100 - weight, weight, False)
            live = live_route(sandbox, namespace, "gateway-podinfo-canary")
            assert live is not None
            assert weights_of(live) == {"podinfo-primary": 100 - weight, "podinfo-canary": weight}
            assert await router.get_routes() == Routes(100 - weight, weight, False)
            if weight == 30:
                await router.reconcile()  # reconcile never resets a split in progress
                assert await router.get_routes() == Routes(70, 30, False)
        # a change to the referenced route is carried over by the next write
        patch = [{"op": "add", "path": "/spec/http/0/match/paths/-", "value": "/api"}]
        sandbox.kubectl("patch", RESOURCE, "gateway", "-n", namespace, "--type=json", "-p", json.dumps(patch))
        await router.set_routes(90, 10, False)
        live = live_route(sandbox, namespace, "gateway-podinfo-canary")
        assert live is not None
        assert live["spec"]["http"][0]["match"]["paths"] == ["/*", "/api"]
        assert weights_of(live) == {"podinfo-primary": 90, "podinfo-canary": 10}
        # the referenced route is never modified by the router
        untouched = live_route(sandbox, namespace, "gateway")
        assert untouched is not None
        assert untouched["spec"]["http"][0]["backends"] == source["spec"]["http"][0]["backends"]
        await router.finalize()
        assert live_route(sandbox, namespace, "gateway-podinfo-canary") is None
        assert live_route(sandbox, namespace, "gateway") is not None
    finally:
        await kube.close()


async def test_missing_reference_and_unsupported_requests_write_nothing(
    sandbox: SandboxClient, namespace: str, apisix_crd: None
) -> None:
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, owned_canary(sandbox, namespace, "podinfo"))
        with pytest.raises(RouterError, match=r"\(spec\.routeRef\) not found"):
            await router.reconcile()
        create_source(sandbox, namespace, "other")
        with pytest.raises(RouterError, match="no HTTP rule with backend podinfo"):
            await router.reconcile()
        analysis = {"iterations": 5, "match": [{"headers": {"x-canary": {"exact": "1"}}}]}
        refused = router_for(kube, owned_canary(sandbox, namespace, "ab", analysis))
        with pytest.raises(UnsupportedFeature, match="A/B"):
            await refused.reconcile()
        names = sandbox.kubectl("get", RESOURCE, "-n", namespace, "-o", "jsonpath={.items[*].metadata.name}")
        assert names.split() == ["gateway"]
        with pytest.raises(RouterError, match="not found"):
            await router.get_routes()
    finally:
        await kube.close()
