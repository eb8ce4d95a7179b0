"""The KEDA HTTP add-on seed tutorial (keda-http-addon-canary-tutorial.md), run by a real controller.

The tutorial's first Canary (``gatewayapi:v1``, ``autoscalerRef`` HTTPScaledObject with a
``primaryScalingSet``) is converted with ``gitcanary convert``'s own ``convert_text`` and
applied next to the tutorial's Gateway, ClusterHTTPScalingSet, Service and HTTPScaledObject.
podinfo then goes 6.0.0 -> 6.0.1 to Succeeded. After that, 6.0.2 meets HTTP 500s part way through
its analysis and is rolled back, as in the tutorial's "Automated rollback" section. The
controller is a real ``gitcanary run``, and every object is validated by the upstream CRDs.

What the sandbox lacks, and how the test stands in for it:
- no Gateway API controller: the ``gateway_stand_in`` fixture plays one. It sets
  ``status.parents[].conditions`` Accepted=True for each new generation of the HTTPRoute.
  The Gateway API router's ``get_routes`` refuses a split that the parents have not accepted;
- no KEDA or interceptor: the route's backends are the interceptors' proxy Services, which are
  checked by reading the route back. The controller scales the canary itself (to the
  HTTPScaledObject's ``replicas.min``, at least 1), and no interceptor ever scales anything;
- no load tester: the seed's ``smoke-test`` (pre-rollout) and ``load-test`` (rollout) hooks go
  to the tests' webhook receiver, which answers 200 and records them. The 5xx and latency the
  tutorial generates with curl and hey come from the sandbox's traffic exporter.

Deviations from the seed, each needed by the sandbox or by CI time:
- the seed's namespaces (``test``, ``istio-ingress``, ``flagger-system``) all become the test's
  namespace, and the cluster-scoped scaling set ``primary`` becomes ``primary-<namespace>``;
- ``provider: gatewayapi:v1`` is written in the Canary. The seed sets it with Flagger's
  ``--set meshProvider=gatewayapi:v1``, and the tests share one controller process;
- the seed's ``error-rate`` and ``latency`` MetricTemplates are not shown in it. They are
  written here over the exporter's ``istio_requests_total`` and
  ``istio_request_duration_milliseconds_bucket``, the Istio metrics the tutorial's Prometheus
  scrapes, in percent and in seconds, as the seed's thresholds (1 and 0.5) expect;
- the seed's own ``podinfo`` Service is left out of the main flow, because the controller
  generates the apex Service. When it is applied first, the controller fails to take it over
  (the last test in this file checks that the controller takes its ports over, as Flagger does);
- the analysis interval is 10s instead of 1m. The seed's shape (weights 10..50 in steps of 10,
  threshold 5, metric windows 1m and 30s, progressDeadlineSeconds 60) is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.cli.convert import convert_text
from controller.metrics.template import TemplateContext, render_query
from controller.scalers.keda_http import ROUTING_HEADER
from gitcanary_sandbox.client import SandboxClient
from tests.builders import ERROR_RATE_QUERY, deployment, metric_template
from tests.eventually import eventually
from tests.integration.seeds.conftest import (
    GatewayStandIn,
    Split,
    WebhookReceiver,
    apply,
    canary_events,
    follow_rollout,
    get,
    is_accepted,
    phase,
    seed_documents,
    wait_for,
)
from tests.upstream import SEEDS

Obj = dict[str, Any]
SEED = SEEDS / "keda-http-addon-canary-tutorial.md"
FENCE = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)
WALK = [0, 10, 20, 30, 40, 50, 0]
ROUTE = "httproutes.gateway.networking.k8s.io"
ADDON_INTERCEPTOR = ("keda-add-ons-http-interceptor-proxy", "keda", 8080)
LATENCY_QUERY = (
    "histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{"
    'reporter="destination",destination_workload_namespace="{{ namespace }}",'
    'destination_workload="{{ target }}"}[{{ interval }}])) by (le)) / 1000'
)


def seed_object(kind: str) -> Obj:
    """The seed's first object of ``kind``."""
    found = next((doc for doc in seed_documents(SEED) if doc.get("kind") == kind), None)
    assert found is not None, f"the seed has no {kind}"
    return found


def converted_seed_canary() -> Obj:
    """The seed's first Canary (the progressive one), converted by ``gitcanary convert``'s code."""
    block = next(b for b in FENCE.findall(SEED.read_text()) if "kind: Canary" in b)
    conversion = convert_text(Path("podinfo-canary.yaml"), block)
    assert conversion.api_versions == 1 and not conversion.notes, conversion.notes
    canary: Obj = yaml.safe_load(conversion.converted)
    assert canary["apiVersion"] == "gitcanary.io/v1beta1"
    return canary


def seed_service(namespace: str) -> Obj:
    """The seed's own ``podinfo`` Service (port 9898), applied before the Canary in the tutorial."""
    service = seed_object("Service")
    assert [p["port"] for p in service["spec"]["ports"]] == [9898]
    service["metadata"]["namespace"] = namespace
    return service


def tutorial_objects(
    namespace: str, scaling_set: str, receiver: WebhookReceiver, prometheus: str
) -> list[Obj]:
    """The seed's objects for one namespace, except its ``podinfo`` Service (see
    ``test_the_seeds_own_apex_service_is_taken_over``): the controller generates that one."""
    gateway = seed_object("Gateway")
    gateway["metadata"]["namespace"] = namespace
    cluster_scaling_set = seed_object("ClusterHTTPScalingSet")
    cluster_scaling_set["metadata"]["name"] = scaling_set
    httpso = seed_object("HTTPScaledObject")
    httpso["metadata"]["namespace"] = namespace

    canary = converted_seed_canary()
    spec, analysis = canary["spec"], canary["spec"]["analysis"]
    assert "sessionAffinity" not in analysis and "match" not in analysis, "the first Canary is the canary one"
    assert (analysis["stepWeight"], analysis["maxWeight"], analysis["threshold"]) == (10, 50, 5)
    assert spec["autoscalerRef"]["primaryScalingSet"] == {"name": "primary", "kind": "ClusterHTTPScalingSet"}
    canary["metadata"]["namespace"] = namespace
    spec["provider"] = "gatewayapi:v1"  # Flagger's --set meshProvider=gatewayapi:v1
    spec["autoscalerRef"]["primaryScalingSet"]["name"] = scaling_set
    for ref in spec["service"]["gatewayRefs"]:
        ref["namespace"] = namespace
    analysis["interval"] = "10s"  # CI timing; the seed's is 1m
    for metric in analysis["metrics"]:
        metric["templateRef"]["namespace"] = namespace
    for hook in analysis["webhooks"]:
        assert hook["url"] == "http://flagger-loadtester.test/"
        hook["url"] = receiver.url(hook["name"])
    return [
        gateway,
        cluster_scaling_set,
        deployment(namespace, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0"),
        httpso,
        metric_template(namespace, "error-rate", prometheus, ERROR_RATE_QUERY),
        metric_template(namespace, "latency", prometheus, LATENCY_QUERY),
        canary,
    ]


def backends(route: Obj) -> dict[str, tuple[str, str | None, int, int]]:
    """marker (primary/canary) -> (service, namespace, port, weight) of the route's one rule."""
    (rule,) = route["spec"]["rules"]
    out = {}
    for backend in rule["backendRefs"]:
        (marker,) = [
            header["value"]
            for f in backend.get("filters") or []
            if f["type"] == "RequestHeaderModifier"
            for header in f["requestHeaderModifier"]["set"]
            if header["name"] == ROUTING_HEADER
        ]
        out[marker] = (backend["name"], backend.get("namespace"), backend["port"], backend.get("weight", 1))
    return out


def route_split(sandbox: SandboxClient, namespace: str) -> Split:
    """(primary, canary) weights of the HTTPRoute, read back with kubectl."""
    found = backends(get(sandbox, ROUTE, namespace, "podinfo"))
    return found["primary"][3], found["canary"][3]


def primary_image(sandbox: SandboxClient, namespace: str) -> str:
    primary = get(sandbox, "deployment", namespace, "podinfo-primary")
    return str(primary["spec"]["template"]["spec"]["containers"][0]["image"])


def declares_scaling_set(sandbox: SandboxClient) -> bool:
    """Whether the cluster's HTTPScaledObject schema has ``spec.scalingSet``."""
    crd = get(sandbox, "crd", "default", "httpscaledobjects.http.keda.sh")
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    return "scalingSet" in version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]


def template_query(query: str, namespace: str, interval: str) -> str:
    context = TemplateContext.for_canary(
        name="podinfo", namespace=namespace, target="podinfo", interval=interval
    )
    return render_query(query, context)


@pytest.fixture
def scaling_set(sandbox: SandboxClient, namespace: str) -> Iterator[str]:
    """The name of the seed's cluster-scoped ``primary`` scaling set, made unique per test."""
    name = f"primary-{namespace}"
    try:
        yield name
    finally:
        sandbox.kubectl("delete", "clusterhttpscalingset", name, "--ignore-not-found", check=False)


def test_keda_http_tutorial_promotes_then_rolls_back(
    sandbox: SandboxClient,
    namespace: str,
    controller_process: Path,
    webhook_receiver: WebhookReceiver,
    gateway_stand_in: GatewayStandIn,
    scaling_set: str,
) -> None:
    log, ns = controller_process, namespace
    sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.0, latency_ms=50)
    apply(sandbox, *tutorial_objects(ns, scaling_set, webhook_receiver, sandbox.state.prometheus_url))
    wait_for("Initialized", lambda: phase(sandbox, ns) == "Initialized", 60, log)

    # "After a couple of seconds Flagger will create the canary objects"
    route = get(sandbox, ROUTE, ns, "podinfo")
    assert [(p["name"], p["namespace"]) for p in route["spec"]["parentRefs"]] == [("gateway", ns)]
    assert backends(route) == {
        "primary": (f"{scaling_set}-interceptor-proxy", "keda", 8080, 100),
        "canary": (*ADDON_INTERCEPTOR, 0),
    }
    wait_for(
        "the stand-in gateway to accept the route",
        lambda: is_accepted(get(sandbox, ROUTE, ns, "podinfo")),
        10,
        log,
    )
    primary_httpso = get(sandbox, "httpscaledobjects.http.keda.sh", ns, "podinfo-primary")["spec"]
    assert primary_httpso["scaleTargetRef"]["name"] == "podinfo-primary"
    assert primary_httpso["hosts"] == ["www.example.com"]
    assert {"name": ROUTING_HEADER, "value": "primary"} in primary_httpso["headers"]
    conditions = get(sandbox, "canaries.gitcanary.io", ns, "podinfo")["status"]["conditions"]
    note = next(c for c in conditions if c["type"] == "Autoscaler")["message"]
    assert "http.keda.sh/v1alpha1" in note, note  # the seed's keda.sh/v1alpha1 names the core group
    if declares_scaling_set(sandbox):  # the add-on fork the seed installs
        assert primary_httpso["scalingSet"] == {"name": scaling_set, "kind": "ClusterHTTPScalingSet"}
    else:  # the upstream CRD: the field is dropped and the status says so
        assert "scalingSet" not in primary_httpso
        assert "no spec.scalingSet" in note, note
    for svc in ("podinfo", "podinfo-primary", "podinfo-canary"):
        get(sandbox, "service", ns, svc)
    # The seed's templates, rendered as the controller renders them, see healthy traffic.
    sandbox.wait_prom_value(template_query(ERROR_RATE_QUERY, ns, "1m"), lambda v: v == 0, timeout=30)
    sandbox.wait_prom_value(template_query(LATENCY_QUERY, ns, "30s"), lambda v: 0 < v < 0.5, timeout=30)

    # "Automated canary promotion"
    sandbox.kubectl("-n", ns, "set", "image", "deployment/podinfo", "podinfod=stefanprodan/podinfo:6.0.1")
    seen = follow_rollout(
        sandbox, ns, log, lambda: route_split(sandbox, ns), until=lambda p, _: p == "Succeeded", timeout=150
    )
    # The first advance can land before the first read of the route (100/0) under load.
    assert [canary for _, canary in seen] in (WALK, WALK[1:]), seen
    assert all(primary + canary == 100 for primary, canary in seen), seen
    assert primary_image(sandbox, ns) == "stefanprodan/podinfo:6.0.1"
    # the canary is scaled down by the tick after Failed is saved
    eventually(
        "canary scaled to zero", lambda: get(sandbox, "deployment", ns, "podinfo")["spec"]["replicas"] == 0
    )
    events = canary_events(sandbox, ns)
    assert "Pre-rollout check smoke-test passed" in events
    for weight in WALK[1:-1]:
        assert f"Advance podinfo.{ns} canary weight {weight}" in events
    assert f"Promotion completed! Scaling down podinfo.{ns}" in events
    smoke, load = webhook_receiver.payloads("smoke-test"), webhook_receiver.payloads("load-test")
    assert smoke and "keda-http-add-on-interceptor-proxy" in smoke[0]["metadata"]["cmd"]
    assert len(load) >= len(WALK) - 2, "the rollout hook runs at every analysis step"
    assert all(p["name"] == "podinfo" and p["namespace"] == ns for p in smoke + load)
    # The stand-in gateway accepted each generation the router wrote, up to the last one.
    assert is_accepted(get(sandbox, ROUTE, ns, "podinfo"))
    assert len({generation for _, generation in gateway_stand_in.accepted}) >= len(WALK)

    # "Automated rollback": 6.0.2 gets HTTP 500s once it has taken some traffic.
    sandbox.kubectl("-n", ns, "set", "image", "deployment/podinfo", "podinfod=stefanprodan/podinfo:6.0.2")
    before = follow_rollout(
        sandbox,
        ns,
        log,
        lambda: route_split(sandbox, ns),
        until=lambda p, split: p == "Progressing" and split[1] >= 10,
        timeout=60,
    )
    sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.3, latency_ms=50)
    during = follow_rollout(
        sandbox, ns, log, lambda: route_split(sandbox, ns), until=lambda p, _: p == "Failed", timeout=120
    )
    assert max(canary for _, canary in before + during) < 50, "the faulty revision never reaches maxWeight"
    assert route_split(sandbox, ns) == (100, 0), "all traffic is routed back to the primary"
    assert primary_image(sandbox, ns) == "stefanprodan/podinfo:6.0.1"
    # the canary is scaled down by the tick after Failed is saved
    eventually(
        "canary scaled to zero", lambda: get(sandbox, "deployment", ns, "podinfo")["spec"]["replicas"] == 0
    )
    events = canary_events(sandbox, ns)
    assert any(e.startswith(f"Halt podinfo.{ns} advancement error-rate ") and " > 1" in e for e in events), (
        events
    )
    assert f"Rolling back podinfo.{ns} failed checks threshold reached 5" in events
    assert f"Canary failed! Scaling down podinfo.{ns}" in events


def test_the_seeds_own_apex_service_is_taken_over(
    sandbox: SandboxClient,
    namespace: str,
    controller_process: Path,
    webhook_receiver: WebhookReceiver,
    scaling_set: str,
) -> None:
    """The tutorial applies Service ``podinfo`` (port 9898) before the Canary (``service.port: 8080``)."""
    log, ns = controller_process, namespace
    apply(sandbox, seed_service(ns))
    apply(sandbox, *tutorial_objects(ns, scaling_set, webhook_receiver, sandbox.state.prometheus_url))

    def settled() -> str:
        if phase(sandbox, ns) == "Initialized":
            return "Initialized"
        rejected = [e for e in canary_events(sandbox, ns) if 'Service "podinfo" is invalid' in e]
        return rejected[0] if rejected else ""

    outcome = wait_for("Initialized or a rejected apex Service", settled, 60, log)
    assert outcome == "Initialized", outcome
    ports = get(sandbox, "service", ns, "podinfo")["spec"]["ports"]
    assert [(p["name"], p["port"]) for p in ports] == [("http", 8080)]
