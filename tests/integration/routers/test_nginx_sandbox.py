"""The NGINX router against a real apiserver: the canary Ingress and its annotations.

The Canary is a plain dict whose owner is a real ConfigMap (for a real uid); the referenced
Ingress is created with kubectl and every split is read back independently with kubectl.
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
P = "nginx.ingress.kubernetes.io"


def owned_canary(sandbox: SandboxClient, namespace: str, name: str, analysis: Obj | None = None) -> Obj:
    sandbox.kubectl("create", "configmap", name, "-n", namespace)
    uid = sandbox.kubectl("get", "configmap", name, "-n", namespace, "-o", "jsonpath={.metadata.uid}").strip()
    assert uid
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
        "spec": {
            "provider": "nginx",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": f"{name}-web"},
            "service": {"port": 80},
            "analysis": {"interval": "15s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
        },
    }


def create_ingress(sandbox: SandboxClient, namespace: str, name: str) -> None:
    backend = {"service": {"name": name, "port": {"number": 80}}}
    manifest = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": f"{name}-web",
            "labels": {"app": name},
            "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "8m"},
        },
        "spec": {
            "ingressClassName": "nginx",
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


def canary_annotations(ingress: Obj) -> dict[str, str]:
    return {k: v for k, v in ingress["metadata"]["annotations"].items() if k.startswith(f"{P}/canary")}


async def test_reconcile_creates_the_canary_ingress_and_walks_the_weights(
    sandbox: SandboxClient, namespace: str
) -> None:
    create_ingress(sandbox, namespace, "podinfo")
    canary = owned_canary(sandbox, namespace, "podinfo")
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        ingress = live(sandbox, namespace, "podinfo-web-canary")
        assert ingress["metadata"]["ownerReferences"][0]["uid"] == canary["metadata"]["uid"]
        assert ingress["metadata"]["labels"]["app"] == "podinfo"
        assert ingress["metadata"]["annotations"][f"{P}/proxy-body-size"] == "8m"
        assert ingress["spec"]["ingressClassName"] == "nginx"
        backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        assert backend == {"name": "podinfo-canary", "port": {"number": 80}}
        assert canary_annotations(ingress) == {f"{P}/canary": "false"}
        assert await router.get_routes() == Routes(100, 0, False)
        source = live(sandbox, namespace, "podinfo-web")
        assert source["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "podinfo"

        for weight in WALK:
            await router.set_routes(100 - weight, weight, False)
            expected = (
                {f"{P}/canary": "true", f"{P}/canary-weight": str(weight)}
                if weight
                else {f"{P}/canary": "false"}
            )
            assert canary_annotations(live(sandbox, namespace, "podinfo-web-canary")) == expected
            assert await router.get_routes() == Routes(100 - weight, weight, False)
            if weight == 30:
                await router.reconcile()  # reconcile never resets a split in progress
                assert await router.get_routes() == Routes(70, 30, False)

        await router.finalize()
        assert await kube.get("networking.k8s.io/v1", "Ingress", namespace, "podinfo-web-canary") is None
        assert await kube.get("networking.k8s.io/v1", "Ingress", namespace, "podinfo-web") is not None
    finally:
        await kube.close()


async def test_ab_testing_with_header_and_cookie(sandbox: SandboxClient, namespace: str) -> None:
    create_ingress(sandbox, namespace, "abtest")
    analysis = {
        "iterations": 10,
        "match": [
            {"headers": {"x-canary": {"regex": "^(insider|beta)$"}}},
            {"headers": {"cookie": {"exact": "canary"}}},
        ],
    }
    canary = owned_canary(sandbox, namespace, "abtest", analysis)
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        await router.set_routes(0, 100, False)
        assert canary_annotations(live(sandbox, namespace, "abtest-web-canary")) == {
            f"{P}/canary": "true",
            f"{P}/canary-by-header": "x-canary",
            f"{P}/canary-by-header-pattern": "^(insider|beta)$",
            f"{P}/canary-by-cookie": "canary",
        }
        assert await router.get_routes() == Routes(0, 100, False)
        await router.set_routes(100, 0, False)
        assert canary_annotations(live(sandbox, namespace, "abtest-web-canary")) == {f"{P}/canary": "false"}
        assert await router.get_routes() == Routes(100, 0, False)
    finally:
        await kube.close()


async def test_unsupported_requests_write_nothing(sandbox: SandboxClient, namespace: str) -> None:
    create_ingress(sandbox, namespace, "refused")
    canary = owned_canary(
        sandbox, namespace, "refused", {"iterations": 5, "mirror": True, "stepWeight": None}
    )
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        with pytest.raises(UnsupportedFeature, match="mirroring"):
            await router.reconcile()
        assert await kube.get("networking.k8s.io/v1", "Ingress", namespace, "refused-web-canary") is None
        with pytest.raises(RouterError, match="not found"):
            await router.get_routes()
    finally:
        await kube.close()
