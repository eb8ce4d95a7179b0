"""The KEDA HTTP router against a real apiserver: upstream Gateway API and KEDA HTTP add-on CRDs,
plus the ScalingSet CRDs written for the tests (tests/crds/keda-http-scalingsets.yaml).

Every HTTPRoute the router writes is validated by the upstream schema (CEL rules included) and
read back independently with kubectl. The last test takes the objects of the seed tutorial
(Canary converted to gitcanary.io/v1beta1) and checks that everything generated for it applies.
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
from controller.routers.keda_http import KedaHTTPRouter
from controller.scalers.keda_http import ROUTING_HEADER
from controller.workloads.target import TargetWorkload
from gitcanary_sandbox.client import SandboxClient
from tests.builders import deployment
from tests.upstream import SEEDS

Obj = dict[str, Any]
WALK = [0, 10, 20, 30, 40, 50, 0]
SCALING_SETS_CRD = Path(__file__).parents[2] / "crds" / "keda-http-scalingsets.yaml"
SEED = SEEDS / "keda-http-addon-canary-tutorial.md"
ADDON = ("keda-add-ons-http-interceptor-proxy", "keda", 8080)


@pytest.fixture(scope="module")
def scaling_sets(sandbox: SandboxClient) -> SandboxClient:
    sandbox.kubectl("apply", "--server-side", "-f", str(SCALING_SETS_CRD))
    for crd in ("clusterhttpscalingsets.http.keda.sh", "httpscalingsets.http.keda.sh"):
        sandbox.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")
    return sandbox


def apply(sandbox: SandboxClient, obj: Obj) -> None:
    sandbox.kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(obj))


def live_route(sandbox: SandboxClient, namespace: str, name: str) -> Obj:
    out: Obj = json.loads(
        sandbox.kubectl("get", "httproutes.gateway.networking.k8s.io", name, "-n", namespace, "-o", "json")
    )
    return out


def backends(rule: Obj) -> dict[str, tuple[str, str | None, int, int]]:
    """marker -> (service, namespace, port, weight) of the weighted rule's backends."""
    out = {}
    for b in rule["backendRefs"]:
        (header,) = [
            h
            for f in b.get("filters") or []
            if f["type"] == "RequestHeaderModifier"
            for h in f["requestHeaderModifier"]["set"]
        ]
        assert header["name"] == ROUTING_HEADER
        out[header["value"]] = (b["name"], b.get("namespace"), b["port"], b.get("weight", 1))
    return out


def canary(namespace: str, uid: str, scaling_set: Obj | None, analysis: Obj | None = None) -> Obj:
    ref: Obj = {"apiVersion": "keda.sh/v1alpha1", "kind": "HTTPScaledObject", "name": "podinfo"}
    if scaling_set is not None:
        ref["primaryScalingSet"] = scaling_set
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "owner", "namespace": namespace, "uid": uid},
        "spec": {
            "provider": "gatewayapi:v1",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "autoscalerRef": ref,
            "service": {"port": 9898, "gatewayRefs": [{"name": "gateway", "namespace": "istio-ingress"}]},
            "analysis": {"interval": "15s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
        },
    }


def owner_uid(sandbox: SandboxClient, namespace: str) -> str:
    sandbox.kubectl("create", "configmap", "owner", "-n", namespace)
    return sandbox.kubectl(
        "get", "configmap", "owner", "-n", namespace, "-o", "jsonpath={.metadata.uid}"
    ).strip()


async def walk(
    sandbox: SandboxClient, router: KedaHTTPRouter, namespace: str, primary: tuple[str, str | None, int]
) -> None:
    canary_ref = (ADDON[0], ADDON[1], ADDON[2])
    for weight in WALK:
        await router.set_routes(100 - weight, weight, False)
        (rule,) = live_route(sandbox, namespace, "podinfo")["spec"]["rules"]
        assert backends(rule) == {"primary": (*primary, 100 - weight), "canary": (*canary_ref, weight)}
        assert await router.get_routes() == Routes(100 - weight, weight, False)
        if weight == 30:
            await router.reconcile()  # never resets a split in progress
            assert await router.get_routes() == Routes(70, 30, False)


async def test_walk_with_a_cluster_scaling_set(scaling_sets: SandboxClient, namespace: str) -> None:
    sandbox = scaling_sets
    name = f"primary-{namespace}"
    apply(
        sandbox,
        {
            "apiVersion": "http.keda.sh/v1alpha1",
            "kind": "ClusterHTTPScalingSet",
            "metadata": {"name": name},
            "spec": {"interceptor": {"config": {"proxyPort": 8181}}, "scaler": {}},
        },
    )
    raw = canary(namespace, owner_uid(sandbox, namespace), {"name": name, "kind": "ClusterHTTPScalingSet"})
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = KedaHTTPRouter(kube, raw)
        await router.reconcile()
        route = live_route(sandbox, namespace, "podinfo")
        assert route["metadata"]["ownerReferences"][0]["uid"] == raw["metadata"]["uid"]
        assert route["spec"]["parentRefs"][0]["name"] == "gateway"
        assert await router.get_routes() == Routes(100, 0, False)
        await walk(sandbox, router, namespace, (f"{name}-interceptor-proxy", "keda", 8181))
        await router.finalize()
        (rule,) = live_route(sandbox, namespace, "podinfo")["spec"]["rules"]
        assert backends(rule) == {"canary": (*ADDON, 100)}
    finally:
        await kube.close()
        sandbox.kubectl("delete", "clusterhttpscalingset", name, check=False)


async def test_walk_on_the_shared_interceptor_with_mirroring_and_affinity(
    scaling_sets: SandboxClient, namespace: str
) -> None:
    sandbox = scaling_sets
    uid = owner_uid(sandbox, namespace)
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = KedaHTTPRouter(kube, canary(namespace, uid, None))
        await router.reconcile()
        await walk(sandbox, router, namespace, ADDON)

        mirrored = KedaHTTPRouter(kube, canary(namespace, uid, None, {"iterations": 5, "mirror": True}))
        await mirrored.set_routes(100, 0, True)
        (rule,) = live_route(sandbox, namespace, "podinfo")["spec"]["rules"]
        (mirror,) = [f for f in rule["filters"] if f["type"] == "RequestMirror"]
        assert mirror["requestMirror"]["backendRef"]["name"] == ADDON[0]
        assert await mirrored.get_routes() == Routes(100, 0, True)

        sticky = KedaHTTPRouter(kube, canary(namespace, uid, None, {"sessionAffinity": {"cookieName": "c"}}))
        await sticky.set_routes(90, 10, False)
        rules = live_route(sandbox, namespace, "podinfo")["spec"]["rules"]
        assert len(rules) == 2  # the sticky rule, then the weighted rule
        assert backends(rules[0]) == {"primary": (*ADDON, 0), "canary": (*ADDON, 100)}
        assert await sticky.get_routes() == Routes(90, 10, False)
    finally:
        await kube.close()


async def test_a_missing_scaling_set_and_a_missing_autoscaler_are_refused(
    scaling_sets: SandboxClient, namespace: str
) -> None:
    sandbox = scaling_sets
    uid = owner_uid(sandbox, namespace)
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = KedaHTTPRouter(kube, canary(namespace, uid, {"name": "absent", "kind": "HTTPScalingSet"}))
        with pytest.raises(RouterError, match="absent"):
            await router.reconcile()
        bare = canary(namespace, uid, None)
        del bare["spec"]["autoscalerRef"]
        with pytest.raises(UnsupportedFeature):
            await KedaHTTPRouter(kube, bare).reconcile()
        out = sandbox.kubectl("get", "httproutes.gateway.networking.k8s.io", "-n", namespace, "-o", "name")
        assert out.strip() == ""  # nothing written
    finally:
        await kube.close()


# -- the seed tutorial -----------------------------------------------------------------------------
def seed_documents() -> list[Obj]:
    blocks = re.findall(r"```yaml\n(.*?)```", SEED.read_text(), flags=re.S)
    return [doc for block in blocks for doc in yaml.safe_load_all(block) if isinstance(doc, dict)]


def seed_object(kind: str, contains: str = "") -> Obj:
    for doc in seed_documents():
        if doc.get("kind") == kind and contains in json.dumps(doc):
            return doc
    raise AssertionError(f"the seed has no {kind} containing {contains!r}")


async def test_the_seed_tutorial_objects_apply(scaling_sets: SandboxClient, namespace: str) -> None:
    sandbox = scaling_sets
    scaling_set = seed_object("ClusterHTTPScalingSet")
    scaling_set["metadata"]["name"] = f"primary-{namespace}"
    apply(sandbox, scaling_set)
    httpso = seed_object("HTTPScaledObject")
    httpso["metadata"]["namespace"] = namespace
    apply(sandbox, httpso)
    apply(sandbox, deployment(namespace, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0"))
    seed_canary = seed_object("Canary", "primaryScalingSet")
    assert seed_canary["apiVersion"] == "flagger.app/v1beta1"
    seed_canary["apiVersion"] = "gitcanary.io/v1beta1"
    seed_canary["metadata"]["namespace"] = namespace
    seed_canary["spec"]["autoscalerRef"]["primaryScalingSet"]["name"] = f"primary-{namespace}"
    apply(sandbox, seed_canary)  # our CRD accepts the converted seed Canary
    live: Obj = json.loads(
        sandbox.kubectl("get", "canaries.gitcanary.io", "podinfo", "-n", namespace, "-o", "json")
    )
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        note = await TargetWorkload(kube, live).initialize_primary()
        assert note is not None and "http.keda.sh/v1alpha1" in note
        router = KedaHTTPRouter(kube, live)  # the seed runs Flagger with meshProvider gatewayapi:v1
        await router.reconcile()
        await router.set_routes(90, 10, False)
        assert await router.get_routes() == Routes(90, 10, False)
        for resource, name in (
            ("deployment", "podinfo-primary"),
            ("service", "podinfo"),
            ("service", "podinfo-primary"),
            ("service", "podinfo-canary"),
            ("httpscaledobjects.http.keda.sh", "podinfo-primary"),
            ("httproutes.gateway.networking.k8s.io", "podinfo"),
        ):
            obj = json.loads(sandbox.kubectl("get", resource, name, "-n", namespace, "-o", "json"))
            assert obj["metadata"]["ownerReferences"][0]["uid"] == live["metadata"]["uid"], (resource, name)
        (rule,) = live_route(sandbox, namespace, "podinfo")["spec"]["rules"]
        assert backends(rule)["primary"] == (f"primary-{namespace}-interceptor-proxy", "keda", 8080, 90)
    finally:
        await kube.close()
        sandbox.kubectl("delete", "clusterhttpscalingset", f"primary-{namespace}", check=False)
