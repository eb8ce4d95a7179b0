"""The Skipper router against a real apiserver: the canary Ingress, weights and predicates."""

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


def owned_canary(sandbox: SandboxClient, namespace: str, name: str, analysis: Obj | None = None) -> Obj:
    sandbox.kubectl("create", "configmap", name, "-n", namespace)
    uid = sandbox.kubectl("get", "configmap", name, "-n", namespace, "-o", "jsonpath={.metadata.uid}").strip()
    assert uid
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
        "spec": {
            "provider": "skipper",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": name},
            "service": {"port": 80},
            "analysis": {"interval": "15s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
        },
    }


def create_ingress(sandbox: SandboxClient, namespace: str, name: str) -> None:
    backend = {"service": {"name": name, "port": {"number": 80}}}
    manifest = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "annotations": {"zalando.org/skipper-predicate": 'Method("GET")'}},
        "spec": {
            "ingressClassName": "skipper",
            "rules": [
                {
                    "host": f"{name}.example.com",
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
            ],
        },
    }
    sandbox.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(manifest))


def live(sandbox: SandboxClient, namespace: str, name: str) -> Obj:
    out: Obj = json.loads(sandbox.kubectl("get", "ingress", name, "-n", namespace, "-o", "json"))
    return out


async def test_reconcile_creates_the_canary_ingress_and_walks_the_weights(
    sandbox: SandboxClient, namespace: str
) -> None:
    create_ingress(sandbox, namespace, "podinfo")
    canary = owned_canary(sandbox, namespace, "podinfo")
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        ingress = live(sandbox, namespace, "podinfo-canary")
        assert ingress["metadata"]["ownerReferences"][0]["uid"] == canary["metadata"]["uid"]
        paths = ingress["spec"]["rules"][0]["http"]["paths"]
        assert [p["backend"]["service"]["name"] for p in paths] == ["podinfo-primary", "podinfo-canary"]
        assert await router.get_routes() == Routes(100, 0, False)
        for weight in WALK:
            await router.set_routes(100 - weight, weight, False)
            annotations = live(sandbox, namespace, "podinfo-canary")["metadata"]["annotations"]
            assert json.loads(annotations["zalando.org/backend-weights"]) == {
                "podinfo-primary": 100 - weight,
                "podinfo-canary": weight,
            }
            first = "Weight(100)" if weight else "False()"
            assert annotations["zalando.org/skipper-predicate"] == f'{first} && Method("GET")'
            assert await router.get_routes() == Routes(100 - weight, weight, False)
            if weight == 30:
                await router.reconcile()  # reconcile never resets a split in progress
                assert await router.get_routes() == Routes(70, 30, False)
        await router.finalize()
        assert await kube.get("networking.k8s.io/v1", "Ingress", namespace, "podinfo-canary") is None
        assert await kube.get("networking.k8s.io/v1", "Ingress", namespace, "podinfo") is not None
    finally:
        await kube.close()


async def test_unsupported_requests_write_nothing(sandbox: SandboxClient, namespace: str) -> None:
    create_ingress(sandbox, namespace, "refused")
    canary = owned_canary(sandbox, namespace, "refused", {"sessionAffinity": {"cookieName": "c"}})
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        with pytest.raises(UnsupportedFeature, match="session affinity"):
            await router.reconcile()
        assert await kube.get("networking.k8s.io/v1", "Ingress", namespace, "refused-canary") is None
        with pytest.raises(RouterError, match="not found"):
            await router.get_routes()
    finally:
        await kube.close()
