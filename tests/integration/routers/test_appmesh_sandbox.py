"""The App Mesh router against a real apiserver with the upstream App Mesh CRDs, driven by the seed.

The seed tutorial (flux-appmesh-canary-tutorial.md) shows the Canary's ``analysis`` blocks (the
progressive one in canary.yaml and the A/B one in abtest.yaml) but not the rest of the manifest;
the test reads those blocks from the seed and completes them as the tutorial describes the app:
provider ``appmesh``, target Deployment ``podinfo``, podinfo's port 9898. The Canary
(``gitcanary.io/v1beta1``) and its target Deployment are applied to the sandbox, the Canary is
the owner of everything generated, the upstream schemas validate every write, and every split
is read back with kubectl.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.kube import Kube
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from gitcanary_sandbox.client import SandboxClient
from tests.builders import deployment
from tests.upstream import SEEDS

Obj = dict[str, Any]
REPO = Path(__file__).resolve().parents[3]
SEED = SEEDS / "flux-appmesh-canary-tutorial.md"
FENCE = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def seed_analyses() -> list[Obj]:
    """The ``analysis`` blocks of the seed, in order (canary.yaml, then abtest.yaml)."""
    found = []
    for block in FENCE.findall(SEED.read_text()):
        doc = yaml.safe_load(block.replace("\u00a0", " "))
        if isinstance(doc, dict) and isinstance(doc.get("analysis"), dict):
            found.append(doc["analysis"])
    assert len(found) == 2, f"expected the canary and A/B analysis blocks in {SEED}, found {len(found)}"
    return found


def apply_seed_canary(sandbox: SandboxClient, namespace: str, analysis: Obj) -> Obj:
    target = deployment(namespace, "podinfo", "ghcr.io/stefanprodan/podinfo:5.0.0")
    sandbox.kubectl("apply", "-f", "-", stdin=json.dumps(target))
    manifest = {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": namespace},
        "spec": {
            "provider": "appmesh",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {
                "port": 9898,
                "timeout": "15s",
                "retries": {"attempts": 3, "perTryTimeout": "5s", "retryOn": "gateway-error,client-error"},
                "backends": ["backend"],
            },
            "analysis": analysis,
        },
    }
    sandbox.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    live: Obj = json.loads(
        sandbox.kubectl("get", "canaries.gitcanary.io", "podinfo", "-n", namespace, "-o", "json")
    )
    assert live["metadata"]["uid"]
    return live


def live_object(sandbox: SandboxClient, namespace: str, plural: str, name: str) -> Obj:
    out: Obj = json.loads(
        sandbox.kubectl("get", f"{plural}.appmesh.k8s.aws", name, "-n", namespace, "-o", "json")
    )
    return out


def split(route: Obj) -> dict[str, int]:
    return {t["virtualNodeRef"]["name"]: t["weight"] for t in route["httpRoute"]["action"]["weightedTargets"]}


async def test_seed_canary_generates_valid_app_mesh_objects_and_walks_the_weights(
    sandbox: SandboxClient, namespace: str
) -> None:
    analysis = seed_analyses()[0]
    step, top = int(analysis["stepWeight"]), int(analysis["maxWeight"])
    assert (step, top) == (5, 50)
    canary = apply_seed_canary(sandbox, namespace, analysis)
    uid = canary["metadata"]["uid"]
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        for name, selector in (("podinfo-primary", "podinfo-primary"), ("podinfo-canary", "podinfo")):
            node = live_object(sandbox, namespace, "virtualnodes", name)
            assert node["metadata"]["ownerReferences"][0]["uid"] == uid
            assert node["metadata"]["ownerReferences"][0]["kind"] == "Canary"
            assert node["spec"]["podSelector"] == {"matchLabels": {"app": selector}}
            assert (
                node["spec"]["serviceDiscovery"]["dns"]["hostname"]
                == f"{name}.{namespace}.svc.cluster.local."
            )
            assert node["spec"]["listeners"][0]["portMapping"] == {"port": 9898, "protocol": "http"}
            assert node["spec"]["listeners"][0]["timeout"] == {
                "http": {"perRequest": {"unit": "ms", "value": 15000}}
            }
            assert node["spec"]["backends"] == [
                {"virtualService": {"virtualServiceRef": {"name": "backend"}}}
            ]
        for name in ("podinfo", "podinfo-canary"):
            service = live_object(sandbox, namespace, "virtualservices", name)
            assert service["spec"]["awsName"] == f"{name}.{namespace}"
            assert service["spec"]["provider"] == {"virtualRouter": {"virtualRouterRef": {"name": name}}}
            assert service["metadata"]["ownerReferences"][0]["uid"] == uid
        canary_router = live_object(sandbox, namespace, "virtualrouters", "podinfo-canary")
        assert split(canary_router["spec"]["routes"][0]) == {"podinfo-canary": 100, "podinfo-primary": 0}

        apex = live_object(sandbox, namespace, "virtualrouters", "podinfo")
        [route] = apex["spec"]["routes"]
        assert route["httpRoute"]["match"] == {"prefix": "/"}
        assert route["httpRoute"]["retryPolicy"]["httpRetryEvents"] == ["gateway-error", "client-error"]
        assert route["httpRoute"]["retryPolicy"]["maxRetries"] == 3
        assert route["httpRoute"]["timeout"] == {"perRequest": {"unit": "ms", "value": 15000}}
        assert split(route) == {"podinfo-primary": 100, "podinfo-canary": 0}
        assert await router.get_routes() == Routes(100, 0, False)

        walk = [*range(0, top + 1, step), 0]
        for weight in walk:
            await router.set_routes(100 - weight, weight, False)
            routes = live_object(sandbox, namespace, "virtualrouters", "podinfo")["spec"]["routes"]
            assert len(routes) == 1
            assert split(routes[0]) == {"podinfo-primary": 100 - weight, "podinfo-canary": weight}
            assert await router.get_routes() == Routes(100 - weight, weight, False)
            if weight == 25:
                await router.reconcile()  # reconcile never resets a split in progress
                assert await router.get_routes() == Routes(75, 25, False)

        with pytest.raises(UnsupportedFeature, match="mirroring"):
            await router.set_routes(50, 50, True)
        assert await router.get_routes() == Routes(100, 0, False)
        await router.finalize()
        assert await router.get_routes() == Routes(100, 0, False)
    finally:
        await kube.close()


async def test_seed_ab_test_routes_matching_user_agents_to_the_canary(
    sandbox: SandboxClient, namespace: str
) -> None:
    analysis = seed_analyses()[1]
    assert analysis["match"] == [{"headers": {"user-agent": {"regex": ".*(Firefox|curl).*"}}}]
    canary = apply_seed_canary(sandbox, namespace, analysis)
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        for primary, canary_weight in ((100, 0), (0, 100), (100, 0)):
            await router.set_routes(primary, canary_weight, False)
            a, b = live_object(sandbox, namespace, "virtualrouters", "podinfo")["spec"]["routes"]
            assert (a["name"], a["priority"], b["name"], b["priority"]) == ("podinfo-a", 10, "podinfo-b", 20)
            assert a["httpRoute"]["match"] == {
                "prefix": "/",
                "headers": [{"name": "user-agent", "match": {"regex": ".*(Firefox|curl).*"}}],
            }
            assert split(a) == {"podinfo-primary": primary, "podinfo-canary": canary_weight}
            assert b["httpRoute"]["match"] == {"prefix": "/"}
            assert split(b) == {"podinfo-primary": 100}
            assert await router.get_routes() == Routes(primary, canary_weight, False)
    finally:
        await kube.close()


async def test_unsupported_requests_write_nothing(sandbox: SandboxClient, namespace: str) -> None:
    analysis = {**seed_analyses()[0], "sessionAffinity": {"cookieName": "flagger-cookie"}}
    canary = apply_seed_canary(sandbox, namespace, analysis)
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        with pytest.raises(UnsupportedFeature, match="session affinity"):
            await router.reconcile()
        for kind, name in (("VirtualNode", "podinfo-primary"), ("VirtualRouter", "podinfo")):
            assert await kube.get("appmesh.k8s.aws/v1beta2", kind, namespace, name) is None
        with pytest.raises(RouterError, match="not found"):
            await router.get_routes()
    finally:
        await kube.close()
