"""The SMI router against a real apiserver with the TrafficSplit CRD of tests/crds.

The CRD serves v1alpha1, v1alpha2 and v1alpha3; every split is read back independently with
kubectl in the version the provider uses.
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
CRD = Path(__file__).resolve().parents[2] / "crds" / "smi-trafficsplit.yaml"


@pytest.fixture(scope="module")
def smi_crd(sandbox: SandboxClient) -> Iterator[None]:
    sandbox.kubectl("apply", "--server-side", "-f", str(CRD))
    sandbox.kubectl(
        "wait", "--for=condition=Established", "crd/trafficsplits.split.smi-spec.io", "--timeout=60s"
    )
    yield


def owned_canary(
    sandbox: SandboxClient,
    namespace: str,
    name: str,
    provider: str,
    analysis: Obj | None = None,
    **service: Any,
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
            "service": {"port": 9898, **service},
            "analysis": {"interval": "15s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
        },
    }


def live_split(sandbox: SandboxClient, namespace: str, name: str, version: str) -> Obj:
    out: Obj = json.loads(
        sandbox.kubectl(
            "get", f"trafficsplits.{version}.split.smi-spec.io", name, "-n", namespace, "-o", "json"
        )
    )
    return out


def backends(split: Obj) -> dict[str, str]:
    return {b["service"]: str(b["weight"]) for b in split["spec"]["backends"]}


@pytest.mark.parametrize(
    ("provider", "version"), [("linkerd", "v1alpha1"), ("osm", "v1alpha2"), ("smi:v1alpha3", "v1alpha3")]
)
async def test_reconcile_and_walk_the_weights(
    sandbox: SandboxClient, namespace: str, smi_crd: None, provider: str, version: str
) -> None:
    name = f"app-{version}"
    canary = owned_canary(sandbox, namespace, name, provider)
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        split = live_split(sandbox, namespace, name, version)
        assert split["apiVersion"] == f"split.smi-spec.io/{version}"
        assert split["metadata"]["ownerReferences"][0]["uid"] == canary["metadata"]["uid"]
        assert split["spec"]["service"] == name
        assert backends(split) == {f"{name}-canary": "0", f"{name}-primary": "100"}
        assert await router.get_routes() == Routes(100, 0, False)
        for weight in WALK:
            await router.set_routes(100 - weight, weight, False)
            live = backends(live_split(sandbox, namespace, name, version))
            assert live == {f"{name}-canary": str(weight), f"{name}-primary": str(100 - weight)}
            assert await router.get_routes() == Routes(100 - weight, weight, False)
            if weight == 30:
                await router.reconcile()  # reconcile never resets a split in progress
                assert await router.get_routes() == Routes(70, 30, False)
        await router.finalize()
        assert await kube.get(f"split.smi-spec.io/{version}", "TrafficSplit", namespace, name) is None
    finally:
        await kube.close()


async def test_v1alpha1_quantities_written_by_others_are_read(
    sandbox: SandboxClient, namespace: str, smi_crd: None
) -> None:
    canary = owned_canary(sandbox, namespace, "quant", "linkerd", hosts=["quant.example"])
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        assert live_split(sandbox, namespace, "quant", "v1alpha1")["spec"]["service"] == "quant.example"
        patch = {
            "spec": {
                "backends": [
                    {"service": "quant-canary", "weight": "25000m"},
                    {"service": "quant-primary", "weight": 75},
                ]
            }
        }
        sandbox.kubectl(
            "patch",
            "trafficsplits.v1alpha1.split.smi-spec.io",
            "quant",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            json.dumps(patch),
        )
        assert await router.get_routes() == Routes(75, 25, False)
    finally:
        await kube.close()


async def test_unsupported_requests_write_nothing(
    sandbox: SandboxClient, namespace: str, smi_crd: None
) -> None:
    analysis = {"iterations": 5, "match": [{"headers": {"x-canary": {"exact": "1"}}}]}
    canary = owned_canary(sandbox, namespace, "refused", "linkerd", analysis)
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        with pytest.raises(UnsupportedFeature, match="A/B"):
            await router.reconcile()
        assert await kube.get("split.smi-spec.io/v1alpha1", "TrafficSplit", namespace, "refused") is None
        with pytest.raises(RouterError, match="not found"):
            await router.get_routes()
    finally:
        await kube.close()
