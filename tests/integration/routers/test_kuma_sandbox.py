"""The Kuma router against a real apiserver with the TrafficRoute CRD of tests/crds.

TrafficRoute is cluster-scoped, so every test uses an apex name unique to its namespace and
removes what it created; every route is read back independently with kubectl.
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
CRD = Path(__file__).resolve().parents[2] / "crds" / "kuma-trafficroute.yaml"
RESOURCE = "trafficroutes.kuma.io"


@pytest.fixture(scope="module")
def kuma_crd(sandbox: SandboxClient) -> Iterator[None]:
    sandbox.kubectl("apply", "--server-side", "-f", str(CRD))
    sandbox.kubectl("wait", "--for=condition=Established", f"crd/{RESOURCE}", "--timeout=60s")
    yield


def make_canary(namespace: str, name: str, analysis: Obj | None = None, mesh: str | None = None) -> Obj:
    annotations = {"kuma.io/mesh": mesh} if mesh else {}
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "annotations": annotations},
        "spec": {
            "provider": "kuma",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 9898},
            "analysis": {"interval": "15s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
        },
    }


def live_route(sandbox: SandboxClient, name: str) -> Obj | None:
    out = sandbox.kubectl("get", RESOURCE, name, "-o", "json", "--ignore-not-found")
    return json.loads(out) if out.strip() else None


def split_of(route: Obj) -> dict[str, int]:
    return {s["destination"]["kuma.io/service"]: s["weight"] for s in route["spec"]["conf"]["split"]}


async def test_reconcile_and_walk_the_weights(sandbox: SandboxClient, namespace: str, kuma_crd: None) -> None:
    name = f"web-{namespace}"
    canary = make_canary(namespace, name, mesh="payments")
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        route = live_route(sandbox, name)
        assert route is not None
        assert route["mesh"] == "payments"
        assert route["metadata"]["annotations"]["gitcanary.io/canary"] == f"{namespace}/{name}"
        assert route["spec"]["sources"] == [{"match": {"kuma.io/service": "*"}}]
        assert route["spec"]["destinations"] == [
            {"match": {"kuma.io/service": f"{name}_{namespace}_svc_9898"}}
        ]
        primary, canary_tag = f"{name}-primary_{namespace}_svc_9898", f"{name}-canary_{namespace}_svc_9898"
        assert split_of(route) == {primary: 100, canary_tag: 0}
        assert await router.get_routes() == Routes(100, 0, False)
        for weight in WALK:
            await router.set_routes(100 - weight, weight, False)
            live = live_route(sandbox, name)
            assert live is not None
            assert split_of(live) == {primary: 100 - weight, canary_tag: weight}
            assert await router.get_routes() == Routes(100 - weight, weight, False)
            if weight == 30:
                await router.reconcile()  # reconcile never resets a split in progress
                assert await router.get_routes() == Routes(70, 30, False)
        await router.finalize()
        assert live_route(sandbox, name) is None
        await router.finalize()  # idempotent
    finally:
        sandbox.kubectl("delete", RESOURCE, name, "--ignore-not-found")
        await kube.close()


async def test_a_users_route_is_taken_over_and_restored(
    sandbox: SandboxClient, namespace: str, kuma_crd: None
) -> None:
    name = f"adopted-{namespace}"
    original = {
        "apiVersion": "kuma.io/v1alpha1",
        "kind": "TrafficRoute",
        "mesh": "default",
        "metadata": {"name": name},
        "spec": {
            "sources": [{"match": {"kuma.io/service": "*"}}],
            "destinations": [{"match": {"kuma.io/service": f"{name}_{namespace}_svc_9898"}}],
            "conf": {"destination": {"kuma.io/service": f"{name}_{namespace}_svc_9898"}},
        },
    }
    sandbox.kubectl("create", "-f", "-", stdin=json.dumps(original))
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, make_canary(namespace, name))
        await router.reconcile()
        assert await router.get_routes() == Routes(100, 0, False)
        await router.set_routes(80, 20, False)
        live = live_route(sandbox, name)
        assert live is not None
        assert split_of(live)[f"{name}-canary_{namespace}_svc_9898"] == 20
        await router.finalize()
        restored = live_route(sandbox, name)
        assert restored is not None
        assert restored["spec"] == original["spec"]
        assert restored["mesh"] == "default"
        annotations = restored["metadata"].get("annotations") or {}
        assert "gitcanary.io/canary" not in annotations
        assert "gitcanary.io/original-configuration" not in annotations
        with pytest.raises(RouterError, match="no weight"):
            await router.get_routes()
    finally:
        sandbox.kubectl("delete", RESOURCE, name, "--ignore-not-found")
        await kube.close()


async def test_a_route_of_another_canary_is_never_overwritten(
    sandbox: SandboxClient, namespace: str, kuma_crd: None
) -> None:
    name = f"shared-{namespace}"
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        first = router_for(kube, make_canary(namespace, name))
        await first.reconcile()
        await first.set_routes(60, 40, False)
        second = router_for(kube, make_canary("elsewhere", name))
        with pytest.raises(RouterError, match=f"managed by canary {namespace}/{name}"):
            await second.reconcile()
        with pytest.raises(RouterError, match="managed by canary"):
            await second.set_routes(0, 100, False)
        await second.finalize()  # not its route: left alone
        assert await first.get_routes() == Routes(60, 40, False)
    finally:
        sandbox.kubectl("delete", RESOURCE, name, "--ignore-not-found")
        await kube.close()


async def test_unsupported_requests_write_nothing(
    sandbox: SandboxClient, namespace: str, kuma_crd: None
) -> None:
    name = f"refused-{namespace}"
    analysis = {"iterations": 5, "match": [{"headers": {"x-canary": {"exact": "1"}}}]}
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, make_canary(namespace, name, analysis))
        with pytest.raises(UnsupportedFeature, match="A/B"):
            await router.reconcile()
        assert live_route(sandbox, name) is None
        with pytest.raises(RouterError, match="not found"):
            await router.get_routes()
    finally:
        await kube.close()
