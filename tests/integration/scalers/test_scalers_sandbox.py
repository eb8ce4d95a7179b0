"""The scalers against a real apiserver with the upstream KEDA CRDs (and autoscaling/v2).

Each test creates a target Deployment and its autoscaler, runs the workload lifecycle
(``TargetWorkload``, which goes through ``scaler_for``), and reads every generated object back
with kubectl.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from controller.kube import Kube
from controller.scalers import keda_http
from controller.workloads.target import TargetWorkload
from gitcanary_sandbox.client import SandboxClient
from tests.builders import deployment

Obj = dict[str, Any]


def owned_canary(sandbox: SandboxClient, namespace: str, ref: Obj, service: Obj | None = None) -> Obj:
    sandbox.kubectl("create", "configmap", "owner", "-n", namespace)
    uid = sandbox.kubectl(
        "get", "configmap", "owner", "-n", namespace, "-o", "jsonpath={.metadata.uid}"
    ).strip()
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "owner", "namespace": namespace, "uid": uid},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "autoscalerRef": ref,
            "service": service or {"port": 9898},
            "analysis": {"interval": "15s", "threshold": 5, "stepWeight": 10},
        },
    }


def apply(sandbox: SandboxClient, obj: Obj) -> None:
    sandbox.kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(obj))


def get(sandbox: SandboxClient, resource: str, namespace: str, name: str) -> Obj:
    out: Obj = json.loads(sandbox.kubectl("get", resource, name, "-n", namespace, "-o", "json"))
    return out


def target(sandbox: SandboxClient, namespace: str, replicas: int = 2) -> None:
    apply(sandbox, deployment(namespace, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0", replicas))


async def test_hpa_primary_copy(sandbox: SandboxClient, namespace: str) -> None:
    target(sandbox, namespace)
    apply(
        sandbox,
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "podinfo", "namespace": namespace},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
                "minReplicas": 2,
                "maxReplicas": 4,
            },
        },
    )
    ref = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "name": "podinfo",
        "primaryScalerReplicas": {"maxReplicas": 6},
    }
    canary = owned_canary(sandbox, namespace, ref)
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        workload = TargetWorkload(kube, canary)
        assert await workload.initialize_primary() is None
        hpa = get(sandbox, "hpa", namespace, "podinfo-primary")
        assert hpa["spec"]["scaleTargetRef"]["name"] == "podinfo-primary"
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
        assert hpa["metadata"]["ownerReferences"][0]["uid"] == canary["metadata"]["uid"]
        primary = get(sandbox, "deployment", namespace, "podinfo-primary")
        assert primary["spec"]["replicas"] == 1  # left to the HPA: not copied from the target's 2
        await workload.scale_canary(to_zero=True)
        assert get(sandbox, "deployment", namespace, "podinfo")["spec"]["replicas"] == 0
        await workload.scale_canary(to_zero=False)
        assert get(sandbox, "deployment", namespace, "podinfo")["spec"]["replicas"] == 2  # HPA minReplicas
    finally:
        await kube.close()


async def test_scaled_object_primary_copy_and_pause(sandbox: SandboxClient, namespace: str) -> None:
    target(sandbox, namespace)
    apply(
        sandbox,
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": "podinfo-so", "namespace": namespace},
            "spec": {
                "scaleTargetRef": {"name": "podinfo"},
                "minReplicaCount": 3,
                "maxReplicaCount": 5,
                "triggers": [
                    {
                        "name": "prom",
                        "type": "prometheus",
                        "metadata": {
                            "serverAddress": "http://prom:9090",
                            "query": 'up{app="podinfo"}',
                            "threshold": "5",
                        },
                    }
                ],
            },
        },
    )
    ref = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "name": "podinfo-so",
        "primaryScalerQueries": {"prom": 'sum(up{app="podinfo-primary"})'},
        "primaryScalerReplicas": {"minReplicas": 2, "maxReplicas": 8},
    }
    canary = owned_canary(sandbox, namespace, ref)
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        workload = TargetWorkload(kube, canary)
        await workload.initialize_primary()
        so = get(sandbox, "scaledobjects.keda.sh", namespace, "podinfo-so-primary")
        assert so["spec"]["scaleTargetRef"]["name"] == "podinfo-primary"
        assert so["spec"]["triggers"][0]["metadata"]["query"] == 'sum(up{app="podinfo-primary"})'
        assert (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]) == (2, 8)
        assert so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["name"] == "podinfo-primary"
        assert so["metadata"]["annotations"]["scaledobject.keda.sh/transfer-hpa-ownership"] == "true"

        await workload.scale_canary(to_zero=True)
        paused = get(sandbox, "scaledobjects.keda.sh", namespace, "podinfo-so")
        assert paused["metadata"]["annotations"]["autoscaling.keda.sh/paused-replicas"] == "0"
        assert get(sandbox, "deployment", namespace, "podinfo")["spec"]["replicas"] == 0

        await workload.scale_canary(to_zero=False)
        resumed = get(sandbox, "scaledobjects.keda.sh", namespace, "podinfo-so")
        assert "autoscaling.keda.sh/paused-replicas" not in (resumed["metadata"].get("annotations") or {})
        assert get(sandbox, "deployment", namespace, "podinfo")["spec"]["replicas"] == 3  # minReplicaCount
    finally:
        await kube.close()


async def test_http_scaled_object_primary_copy_on_the_upstream_crd(
    sandbox: SandboxClient, namespace: str
) -> None:
    target(sandbox, namespace)
    apply(
        sandbox,
        {
            "apiVersion": "http.keda.sh/v1alpha1",
            "kind": "HTTPScaledObject",
            "metadata": {"name": "podinfo", "namespace": namespace},
            "spec": {
                "hosts": ["www.example.com"],
                "pathPrefixes": ["/"],
                "replicas": {"min": 0, "max": 10},
                "scaleTargetRef": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "podinfo",
                    "port": 9898,
                    "service": "podinfo-canary",
                },
                "scalingMetric": {"concurrency": {"targetValue": 200}},
            },
        },
    )
    ref = {
        "apiVersion": "keda.sh/v1alpha1",  # the seed's spelling
        "kind": "HTTPScaledObject",
        "name": "podinfo",
        "primaryScalerReplicas": {"minReplicas": 1, "maxReplicas": 4},
        "primaryScalingSet": {"name": "primary", "kind": "ClusterHTTPScalingSet"},
    }
    canary = owned_canary(sandbox, namespace, ref)
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        workload = TargetWorkload(kube, canary)
        note = await workload.initialize_primary()
        assert note is not None
        assert "http.keda.sh/v1alpha1" in note  # the group used, reported for the status
        assert "no spec.scalingSet" in note  # the upstream schema prunes it: routed by header
        httpso = get(sandbox, "httpscaledobjects.http.keda.sh", namespace, "podinfo-primary")
        assert httpso["spec"]["scaleTargetRef"]["name"] == "podinfo-primary"
        assert httpso["spec"]["scaleTargetRef"]["service"] == "podinfo-primary"
        assert httpso["spec"]["replicas"] == {"min": 1, "max": 4}
        assert httpso["spec"]["headers"] == [{"name": keda_http.ROUTING_HEADER, "value": "primary"}]
        assert httpso["spec"]["hosts"] == ["www.example.com"]
        await workload.scale_canary(to_zero=True)
        await workload.scale_canary(to_zero=False)
        assert get(sandbox, "deployment", namespace, "podinfo")["spec"]["replicas"] == 1
    finally:
        await kube.close()
