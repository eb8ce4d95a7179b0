"""The table of tests/integration/routers/test_every_router_controller.py: one row per provider.

A row says what the provider needs beside the Deployment (a source Ingress, an ApisixRoute, a
Gateway reference...), which live object carries its split, and how to read ``(primary, canary)``
weights out of it. The readers are written from the upstream object shapes, not from the
router modules, so a router that writes the wrong field fails here.

Left out of the table, with the reason:
- ``knative``: the controller refuses a Knative Service as ``targetRef``
  (controller/workloads/target.py ``unsupported_kind``: promotion copies a pod template to a
  ``-primary`` workload, which a Knative Service does not have), and the knative router needs a
  Knative Service target, so no Canary can reach the router through ``gitcanary run``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.scalers.keda_http import ROUTING_HEADER

Obj = dict[str, Any]
Split = tuple[int, int]
CRDS = Path(__file__).resolve().parents[2] / "crds"
# The test CRDs the session sandbox already installs from tests/crds; applied again (server-side,
# idempotent) so the module does not depend on another router test having run first.
CRD_FILES = (
    "apisix-route.yaml",
    "gloo.yaml",
    "kuma-trafficroute.yaml",
    "smi-trafficsplit.yaml",
    "keda-http-scalingsets.yaml",
)
CRD_NAMES = (
    "apisixroutes.apisix.apache.org",
    "upstreams.gloo.solo.io",
    "routetables.gateway.solo.io",
    "trafficroutes.kuma.io",
    "trafficsplits.split.smi-spec.io",
    "clusterhttpscalingsets.http.keda.sh",
)


def by_name(weights: list[tuple[str, int]]) -> Split:
    """(primary, canary) from ``(backend name, weight)`` pairs; a backend that is neither fails."""
    primary = canary = 0
    for name, weight in weights:
        if "podinfo-primary" in name:
            primary += weight
        elif "podinfo-canary" in name:
            canary += weight
        else:
            raise AssertionError(f"backend {name!r} is neither podinfo-primary nor podinfo-canary")
    return primary, canary


def quantity(value: Any) -> int:
    """An SMI v1alpha1 weight: an int, or a quantity string such as ``"25"`` or ``"25000m"``."""
    text = str(value)
    return int(text[:-1]) // 1000 if text.endswith("m") else int(text)


def istio_split(vs: Obj) -> Split:
    return by_name([(d["destination"]["host"], d.get("weight", 0)) for d in vs["spec"]["http"][0]["route"]])


def gatewayapi_split(route: Obj) -> Split:
    (rule,) = route["spec"]["rules"]
    return by_name([(b["name"], b.get("weight", 1)) for b in rule["backendRefs"]])


def nginx_split(ingress: Obj) -> Split:
    notes = ingress["metadata"].get("annotations") or {}
    if notes.get("nginx.ingress.kubernetes.io/canary") != "true":
        return 100, 0
    weight = int(notes["nginx.ingress.kubernetes.io/canary-weight"])
    return 100 - weight, weight


def skipper_split(ingress: Obj) -> Split:
    weights = json.loads(ingress["metadata"]["annotations"]["zalando.org/backend-weights"])
    return by_name(list(weights.items()))


def contour_split(proxy: Obj) -> Split:
    return by_name([(s["name"], s.get("weight", 0)) for s in proxy["spec"]["routes"][0]["services"]])


def traefik_split(service: Obj) -> Split:
    return by_name([(s["name"], s.get("weight", 0)) for s in service["spec"]["weighted"]["services"]])


def apisix_split(route: Obj) -> Split:
    return by_name([(b["serviceName"], b.get("weight", 0)) for b in route["spec"]["http"][0]["backends"]])


def gloo_split(table: Obj) -> Split:
    dests = table["spec"]["routes"][0]["routeAction"]["multi"]["destinations"]
    return by_name([(d["destination"]["upstream"]["name"], d.get("weight", 0)) for d in dests])


def kuma_split(route: Obj) -> Split:
    return by_name(
        [(s["destination"]["kuma.io/service"], s["weight"]) for s in route["spec"]["conf"]["split"]]
    )


def smi_split(split: Obj) -> Split:
    return by_name([(b["service"], quantity(b["weight"])) for b in split["spec"]["backends"]])


def appmesh_split(router: Obj) -> Split:
    (route,) = router["spec"]["routes"]
    targets = route["httpRoute"]["action"]["weightedTargets"]
    return by_name([(t["virtualNodeRef"]["name"], t["weight"]) for t in targets])


def kubernetes_split(service: Obj) -> Split:
    """The Kubernetes provider (blue/green) switches the apex Service's selector."""
    selector = service["spec"]["selector"]["app"]
    assert selector in ("podinfo-primary", "podinfo"), selector
    return (100, 0) if selector == "podinfo-primary" else (0, 100)


def keda_http_split(route: Obj) -> Split:
    """The interceptor route: each backend carries the routing header naming its side."""
    (rule,) = route["spec"]["rules"]
    weights = {"primary": 0, "canary": 0}
    for backend in rule["backendRefs"]:
        (side,) = [
            h["value"]
            for f in backend.get("filters") or []
            if f["type"] == "RequestHeaderModifier"
            for h in f["requestHeaderModifier"]["set"]
            if h["name"] == ROUTING_HEADER
        ]
        weights[side] += backend.get("weight", 1)
    return weights["primary"], weights["canary"]


def keda_http_objects(ns: str) -> list[Obj]:
    """The KEDA HTTP add-on flow of the seed tutorial: a cluster scaling set for the primary's
    interceptor and the app's HTTPScaledObject (its replicas.min raised to 1 so the canary runs)."""
    scaling_set = {
        "apiVersion": "http.keda.sh/v1alpha1",
        "kind": "ClusterHTTPScalingSet",
        "metadata": {"name": f"primary-{ns}"},
        "spec": {"interceptor": {"config": {"proxyPort": 8080}}, "scaler": {}},
    }
    target = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "podinfo",
        "service": "podinfo",
        "port": 9898,
    }
    scaled = {
        "apiVersion": "http.keda.sh/v1alpha1",
        "kind": "HTTPScaledObject",
        "metadata": {"name": "podinfo", "namespace": ns, "labels": {"app": "podinfo"}},
        "spec": {
            "hosts": ["www.example.com"],
            "pathPrefixes": ["/"],
            "replicas": {"min": 1, "max": 10},
            "scaleTargetRef": target,
            "scalingMetric": {"concurrency": {"targetValue": 200}},
        },
    }
    return [scaling_set, scaled]


def keda_http_ref(ns: str) -> Obj:
    return {
        "apiVersion": "http.keda.sh/v1alpha1",
        "kind": "HTTPScaledObject",
        "name": "podinfo",
        "primaryScalingSet": {"name": f"primary-{ns}", "kind": "ClusterHTTPScalingSet"},
    }


def ingress(ns: str, name: str, ingress_class: str, port: int) -> Obj:
    backend = {"service": {"name": "podinfo", "port": {"number": port}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "ingressClassName": ingress_class,
            "rules": [
                {
                    "host": f"{name}.example.com",
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
            ],
        },
    }


def apisix_source(ns: str) -> Obj:
    backend = {"serviceName": "podinfo", "servicePort": 9898, "resolveGranularity": "service"}
    return {
        "apiVersion": "apisix.apache.org/v2",
        "kind": "ApisixRoute",
        "metadata": {"name": "gateway", "namespace": ns},
        "spec": {
            "http": [
                {
                    "name": "main",
                    "match": {"hosts": ["app.example.com"], "paths": ["/*"]},
                    "backends": [backend],
                }
            ]
        },
    }


@dataclass(frozen=True)
class Case:
    """One provider: the Canary's ``spec.provider`` and the live object that carries its split."""

    provider: str
    api_version: str
    kind: str
    route_name: str
    split: Callable[[Obj], Split]
    rollback: bool = False
    cluster_scoped: bool = False
    spec: Obj = field(default_factory=dict)  # merged into the Canary's spec
    spec_for: Callable[[str], Obj] = lambda ns: {}  # merged into the Canary's spec, per namespace
    service: Obj = field(default_factory=dict)  # merged into spec.service
    prerequisites: Callable[[str], list[Obj]] = lambda ns: []
    accept_httproutes: bool = False  # plays the Gateway API controller (status.parents Accepted)
    blue_green: bool = False  # iterations, no weights
    name: str = ""  # the row's name when the provider alone does not pick the router

    @property
    def slug(self) -> str:
        return (self.name or self.provider).replace(":", "-").replace(".", "-")


GW = "gateway.networking.k8s.io/v1"
CASES: tuple[Case, ...] = (
    Case("kubernetes", "v1", "Service", "podinfo", kubernetes_split, rollback=True, blue_green=True),
    Case("istio", "networking.istio.io/v1", "VirtualService", "podinfo", istio_split, rollback=True),
    Case(
        "gatewayapi:v1",
        GW,
        "HTTPRoute",
        "podinfo",
        gatewayapi_split,
        rollback=True,
        service={"gatewayRefs": [{"name": "public", "namespace": "gateways"}]},
        accept_httproutes=True,
    ),
    # provider gatewayapi:v1 with an HTTPScaledObject autoscalerRef: the keda-http router.
    Case(
        "gatewayapi:v1",
        GW,
        "HTTPRoute",
        "podinfo",
        keda_http_split,
        rollback=True,
        name="keda-http",
        spec_for=lambda ns: {"autoscalerRef": keda_http_ref(ns)},
        service={"gatewayRefs": [{"name": "gateway", "namespace": "istio-ingress"}]},
        prerequisites=keda_http_objects,
        accept_httproutes=True,
    ),
    Case(
        "nginx",
        "networking.k8s.io/v1",
        "Ingress",
        "podinfo-web-canary",
        nginx_split,
        rollback=True,
        spec={"ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "podinfo-web"}},
        prerequisites=lambda ns: [ingress(ns, "podinfo-web", "nginx", 9898)],
    ),
    Case("contour", "projectcontour.io/v1", "HTTPProxy", "podinfo", contour_split, rollback=True),
    Case("traefik", "traefik.io/v1alpha1", "TraefikService", "podinfo", traefik_split, rollback=True),
    Case(
        "skipper",
        "networking.k8s.io/v1",
        "Ingress",
        "podinfo-ingress-canary",
        skipper_split,
        rollback=True,
        spec={
            "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "podinfo-ingress"}
        },
        prerequisites=lambda ns: [ingress(ns, "podinfo-ingress", "skipper", 9898)],
    ),
    Case(
        "apisix",
        "apisix.apache.org/v2",
        "ApisixRoute",
        "gateway-podinfo-canary",
        apisix_split,
        rollback=True,
        spec={"routeRef": {"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute", "name": "gateway"}},
        prerequisites=lambda ns: [apisix_source(ns)],
    ),
    Case("gloo", "gateway.solo.io/v1", "RouteTable", "podinfo", gloo_split, rollback=True),
    Case(
        "kuma", "kuma.io/v1alpha1", "TrafficRoute", "podinfo", kuma_split, rollback=True, cluster_scoped=True
    ),
    Case("linkerd", "split.smi-spec.io/v1alpha1", "TrafficSplit", "podinfo", smi_split, rollback=True),
    Case("osm", "split.smi-spec.io/v1alpha2", "TrafficSplit", "podinfo", smi_split, rollback=True),
    Case("smi:v1alpha3", "split.smi-spec.io/v1alpha3", "TrafficSplit", "podinfo", smi_split, rollback=True),
    Case("appmesh", "appmesh.k8s.aws/v1beta2", "VirtualRouter", "podinfo", appmesh_split, rollback=True),
)
