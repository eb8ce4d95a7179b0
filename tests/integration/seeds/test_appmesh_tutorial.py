"""The App Mesh seed tutorial (flux-appmesh-canary-tutorial.md), run by a real controller.

The tutorial's Canary, converted to ``gitcanary.io/v1beta1``, walks podinfo 5.0.0 -> 5.0.1 to
Succeeded. Then 5.0.3 meets HTTP 500s in the middle of its analysis and is rolled back, as in
the tutorial's "Automated rollback" section. The controller is a real ``gitcanary run``. The
App Mesh objects are checked against the upstream CRDs. The metrics come from Prometheus
scraping the sandbox's traffic exporter.

What the seed leaves out, and how it is filled in:
- the seed shows only the ``analysis`` block of ``canary.yaml``. The rest is completed the way
  tests/integration/routers/test_appmesh_sandbox.py completes it: provider ``appmesh``, target
  Deployment ``podinfo``, and podinfo's port 9898 with a timeout and retries. Since the
  tutorial ships ``hpa.yaml``, there is also ``autoscalerRef`` to podinfo's HPA;
- the seed's logs show a pre-rollout ``acceptance-test`` hook. It is pointed at the tests'
  stand-in load tester;
- the metrics are the seed's built-in ``request-success-rate`` and ``request-duration``, with
  its thresholds and 1m windows. For ``appmesh`` they query Envoy's
  ``envoy_cluster_upstream_rq`` and ``envoy_cluster_upstream_rq_time_bucket`` for the canary's
  pods. The exporter serves those families, so no MetricTemplate is needed;
- timing: the seed's strategy shape (weights 0 -> 50, threshold 5) is kept, but the analysis
  interval is 10s instead of 15s and the step is 10 instead of 5. The walk is then 10..50 in
  five steps, so a promotion and a rollback fit in about three minutes of CI.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from controller.metrics.builtin import REQUEST_DURATION, REQUEST_SUCCESS_RATE, builtin_query
from controller.metrics.template import TemplateContext
from gitcanary_sandbox.client import SandboxClient
from tests.builders import deployment
from tests.eventually import eventually
from tests.integration.seeds.conftest import (
    Split,
    WebhookReceiver,
    apply,
    canary_events,
    follow_rollout,
    get,
    phase,
    seed_documents,
    wait_for,
)
from tests.upstream import SEEDS

Obj = dict[str, Any]
SEED = SEEDS / "flux-appmesh-canary-tutorial.md"
IMAGE = "ghcr.io/stefanprodan/podinfo"
WALK = [0, 10, 20, 30, 40, 50, 0]


def seed_analysis() -> Obj:
    """The ``analysis`` block of the seed's canary.yaml (the first one; abtest.yaml follows)."""
    blocks = [doc["analysis"] for doc in seed_documents(SEED) if isinstance(doc.get("analysis"), dict)]
    assert len(blocks) == 2, f"expected the canary.yaml and abtest.yaml analysis blocks in {SEED}"
    return copy.deepcopy(blocks[0])


def tutorial_canary(namespace: str, acceptance_url: str) -> Obj:
    analysis = seed_analysis()
    assert (analysis["stepWeight"], analysis["maxWeight"], analysis["threshold"]) == (5, 50, 5)
    assert [(m["name"], m["interval"]) for m in analysis["metrics"]] == [
        ("request-success-rate", "1m"),
        ("request-duration", "1m"),
    ]
    # CI timing (see the module docstring): the same shape in fewer, shorter steps.
    analysis["interval"] = "10s"
    analysis["stepWeight"] = 10
    analysis["webhooks"] = [
        {
            "name": "acceptance-test",
            "type": "pre-rollout",
            "url": acceptance_url,
            "timeout": "15s",
            "metadata": {"type": "bash", "cmd": f"curl -s http://podinfo-canary.{namespace}:9898/token"},
        }
    ]
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": namespace},
        "spec": {
            "provider": "appmesh",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "autoscalerRef": {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "name": "podinfo",
            },
            "progressDeadlineSeconds": 60,
            "service": {
                "port": 9898,
                "timeout": "15s",
                "retries": {"attempts": 3, "perTryTimeout": "5s", "retryOn": "gateway-error,client-error"},
            },
            "analysis": analysis,
        },
    }


def podinfo_hpa(namespace: str) -> Obj:
    """podinfo's hpa.yaml (the seed lists the file but does not print it): 2 to 4 replicas on CPU."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "podinfo", "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "minReplicas": 2,
            "maxReplicas": 4,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 99}},
                }
            ],
        },
    }


def virtual_router_split(sandbox: SandboxClient, namespace: str) -> Split:
    """(primary, canary) weights of the apex VirtualRouter, read back with kubectl."""
    router = get(sandbox, "virtualrouters.appmesh.k8s.aws", namespace, "podinfo")
    (route,) = router["spec"]["routes"]
    weights = {
        t["virtualNodeRef"]["name"]: t["weight"] for t in route["httpRoute"]["action"]["weightedTargets"]
    }
    assert set(weights) == {"podinfo-primary", "podinfo-canary"}, weights
    return int(weights["podinfo-primary"]), int(weights["podinfo-canary"])


def primary_image(sandbox: SandboxClient, namespace: str) -> str:
    primary = get(sandbox, "deployment", namespace, "podinfo-primary")
    return str(primary["spec"]["template"]["spec"]["containers"][0]["image"])


def builtin(metric: str, namespace: str) -> str:
    """The exact query the controller runs for the seed's built-in metric on ``appmesh``."""
    context = TemplateContext.for_canary(name="podinfo", namespace=namespace, target="podinfo", interval="1m")
    return builtin_query(metric, "appmesh", context).query


def test_appmesh_tutorial_promotes_then_rolls_back(
    sandbox: SandboxClient, namespace: str, controller_process: Path, webhook_receiver: WebhookReceiver
) -> None:
    log, ns = controller_process, namespace
    sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.0, latency_ms=50)
    apply(
        sandbox,
        deployment(ns, "podinfo", f"{IMAGE}:5.0.0"),
        podinfo_hpa(ns),
        tutorial_canary(ns, webhook_receiver.url("acceptance-test")),
    )
    # "Wait for Flagger to initialize the canary"
    wait_for("Initialized", lambda: phase(sandbox, ns) == "Initialized", 60, log)
    assert virtual_router_split(sandbox, ns) == (100, 0)
    for name in ("podinfo-primary", "podinfo-canary"):
        get(sandbox, "virtualnodes.appmesh.k8s.aws", ns, name)
    assert get(sandbox, "deployment", ns, "podinfo")["spec"]["replicas"] == 0
    primary_hpa = get(sandbox, "hpa", ns, "podinfo-primary")
    assert primary_hpa["spec"]["scaleTargetRef"]["name"] == "podinfo-primary"
    # The built-in queries are answered by the exporter's Envoy families before the rollout.
    sandbox.wait_prom_value(builtin(REQUEST_SUCCESS_RATE, ns), lambda v: v == 100, timeout=30)
    sandbox.wait_prom_value(builtin(REQUEST_DURATION, ns), lambda v: 0 < v < 500, timeout=30)

    # "Automated canary promotion": 5.0.0 -> 5.0.1
    sandbox.kubectl("set", "image", "-n", ns, "deployment/podinfo", f"podinfod={IMAGE}:5.0.1")
    seen = follow_rollout(
        sandbox,
        ns,
        log,
        lambda: virtual_router_split(sandbox, ns),
        until=lambda p, _: p == "Succeeded",
        timeout=150,
    )
    # The first advance can land before the first read of the route (100/0) under load.
    assert [canary for _, canary in seen] in (WALK, WALK[1:]), seen
    assert all(primary + canary == 100 for primary, canary in seen), seen
    assert primary_image(sandbox, ns) == f"{IMAGE}:5.0.1"
    assert get(sandbox, "deployment", ns, "podinfo")["spec"]["replicas"] == 0
    events = canary_events(sandbox, ns)
    assert f"New revision detected! Scaling up podinfo.{ns}" in events
    assert "Pre-rollout check acceptance-test passed" in events
    for weight in WALK[1:-1]:
        assert f"Advance podinfo.{ns} canary weight {weight}" in events
    assert f"Copying podinfo.{ns} template spec to podinfo-primary.{ns}" in events
    assert f"Promotion completed! Scaling down podinfo.{ns}" in events
    acceptance = webhook_receiver.payloads("acceptance-test")
    assert acceptance and all(p["name"] == "podinfo" and p["namespace"] == ns for p in acceptance)
    assert acceptance[0]["metadata"]["type"] == "bash"

    # "Automated rollback": 5.0.3 gets HTTP 500s once it has taken some traffic.
    sandbox.kubectl("set", "image", "-n", ns, "deployment/podinfo", f"podinfod={IMAGE}:5.0.3")
    before = follow_rollout(
        sandbox,
        ns,
        log,
        lambda: virtual_router_split(sandbox, ns),
        until=lambda p, split: p == "Progressing" and split[1] >= 10,
        timeout=60,
    )
    sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.3, latency_ms=50)
    during = follow_rollout(
        sandbox,
        ns,
        log,
        lambda: virtual_router_split(sandbox, ns),
        until=lambda p, _: p == "Failed",
        timeout=120,
    )
    assert max(canary for _, canary in before + during) < 50, "the faulty revision never reaches maxWeight"
    assert virtual_router_split(sandbox, ns) == (100, 0), "all traffic is routed back to the primary"
    assert primary_image(sandbox, ns) == f"{IMAGE}:5.0.1", "the primary keeps the last promoted version"
    # the canary is scaled down by the tick after Failed is saved
    eventually(
        "canary scaled to zero", lambda: get(sandbox, "deployment", ns, "podinfo")["spec"]["replicas"] == 0
    )
    events = canary_events(sandbox, ns)
    halts = [e for e in events if e.startswith(f"Halt podinfo.{ns} advancement success rate ")]
    assert halts and all(e.endswith("< 99%") for e in halts), events
    assert f"Rolling back podinfo.{ns} failed checks threshold reached 5" in events
    assert f"Canary failed! Scaling down podinfo.{ns}" in events
