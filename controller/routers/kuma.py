"""The ``kuma`` provider: a Kuma TrafficRoute (``kuma.io/v1alpha1``) per Canary.

The TrafficRoute ``<svc>`` sends the traffic of every source (``kuma.io/service: "*"``) to the
destination ``<svc>_<ns>_svc_<port>`` and splits it between ``<svc>-primary_<ns>_svc_<port>``
and ``<svc>-canary_<ns>_svc_<port>``, in that order, as Flagger's Kuma router writes it. The
mesh is the Canary's ``kuma.io/mesh`` annotation, else ``default``.

Invariants:
- TrafficRoute is cluster-scoped, so it carries no ownerReference (Kubernetes cannot collect a
  cluster-scoped object owned by a namespaced Canary); it is marked with the annotation
  ``gitcanary.io/canary: <ns>/<name>`` instead, and a TrafficRoute marked for another Canary
  (same ``<svc>`` in another namespace) is a ``RouterError``, never overwritten;
- the live TrafficRoute is the source of truth: ``get_routes`` reads the split weights and
  ``reconcile`` keeps them; only ``set_routes`` changes them;
- a TrafficRoute that existed before the Canary took it over has its mesh and spec recorded
  once in ``gitcanary.io/original-configuration``; ``finalize`` restores them. A TrafficRoute
  the Canary created is deleted by ``finalize``, so Kuma's default route sends the traffic to
  ``<svc>`` again;
- Kuma splits by weight only here: A/B matching, mirroring and session affinity raise
  ``UnsupportedFeature`` before anything is written; API failures surface as ``RouterError``.
"""

from __future__ import annotations

import json
from typing import Any

from controller.ownership import FLUX_RECONCILE_DISABLED, MANAGED_BY
from controller.routers.base import RouterError, Routes
from controller.routers.route_objects import (
    KUBECTL_LAST_APPLIED,
    ORIGINAL_CONFIGURATION,
    RouteContext,
    refuse_features,
)
from controller.routers.skeleton import RouteObjectRouter

Obj = dict[str, Any]

PROVIDER = "kuma"
API_VERSION = "kuma.io/v1alpha1"
KIND = "TrafficRoute"
SERVICE_TAG = "kuma.io/service"
MESH_ANNOTATION = "kuma.io/mesh"
DEFAULT_MESH = "default"
CANARY_ANNOTATION = "gitcanary.io/canary"
"""``<namespace>/<name>`` of the Canary that manages a (cluster-scoped) TrafficRoute."""


def check_supported(ctx: RouteContext) -> None:
    refuse_features(ctx, PROVIDER, ab_testing="the TrafficRoute splits by weight only")


def service_tag(service: str, namespace: str, port: int) -> str:
    """The ``kuma.io/service`` tag Kuma gives a Kubernetes Service port."""
    return f"{service}_{namespace}_svc_{port}"


def mesh_of(ctx: RouteContext) -> str:
    annotations = ctx.raw["metadata"].get("annotations") or {}
    return str(annotations.get(MESH_ANNOTATION) or DEFAULT_MESH)


def canary_identity(ctx: RouteContext) -> str:
    return f"{ctx.namespace}/{ctx.canary.metadata.name}"


def managed_by_other(route: Obj, ctx: RouteContext) -> str | None:
    """The Canary (``<ns>/<name>``) marked on ``route`` when it is not this one, else ``None``."""
    marked = (route["metadata"].get("annotations") or {}).get(CANARY_ANNOTATION)
    if marked is None or marked == canary_identity(ctx):
        return None
    return str(marked)


def _annotations(ctx: RouteContext) -> dict[str, str]:
    apex = ctx.service.apex
    given = dict(apex.annotations) if apex is not None else {}
    if not given:
        # Flagger's default when the apex metadata has no annotations.
        given = {f"{ctx.service.port}.service.kuma.io": "http"}
    kept = {k: v for k, v in given.items() if k not in (KUBECTL_LAST_APPLIED, ORIGINAL_CONFIGURATION)}
    return {**kept, **FLUX_RECONCILE_DISABLED, CANARY_ANNOTATION: canary_identity(ctx)}


def traffic_route(ctx: RouteContext, weights: Routes) -> Obj:
    """The TrafficRoute ``<svc>`` with the given split (cluster-scoped: no namespace)."""
    names, port = ctx.names, ctx.service.port
    labels = dict(ctx.service.apex.labels) if ctx.service.apex is not None else {}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "mesh": mesh_of(ctx),
        "metadata": {
            "name": names.apex,
            "labels": {**labels, **MANAGED_BY},
            "annotations": _annotations(ctx),
        },
        "spec": {
            "sources": [{"match": {SERVICE_TAG: "*"}}],
            "destinations": [{"match": {SERVICE_TAG: service_tag(names.apex, ctx.namespace, port)}}],
            "conf": {
                "split": [
                    {
                        "weight": weights.primary_weight,
                        "destination": {SERVICE_TAG: service_tag(names.primary, ctx.namespace, port)},
                    },
                    {
                        "weight": weights.canary_weight,
                        "destination": {SERVICE_TAG: service_tag(names.canary, ctx.namespace, port)},
                    },
                ]
            },
        },
    }


def parse_weight(value: object) -> int:
    """A split weight (``uint32`` in Kuma): a non-negative integer, or its decimal string."""
    if isinstance(value, bool):
        raise RouterError(f"invalid TrafficRoute weight {value!r}")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise RouterError(f"invalid TrafficRoute weight {value!r}")


def routes_of(route: Obj, primary: str, canary: str) -> Routes:
    """The split of a live TrafficRoute.

    A split entry belongs to ``primary`` / ``canary`` when the service part of its
    ``kuma.io/service`` tag (before the first ``_``) is that name, as Flagger matches it, so a
    changed port does not lose the weights. ``RouterError`` when neither has weight.
    """
    split = ((route.get("spec") or {}).get("conf") or {}).get("split") or []
    weights: dict[str, int] = {}
    for entry in split:
        tag = str((entry.get("destination") or {}).get(SERVICE_TAG, ""))
        weights[tag.split("_", 1)[0]] = parse_weight(entry.get("weight", 0))
    primary_weight, canary_weight = weights.get(primary, 0), weights.get(canary, 0)
    if primary_weight == 0 and canary_weight == 0:
        raise RouterError(f"TrafficRoute {route['metadata']['name']} has no weight for {primary} or {canary}")
    return Routes(primary_weight, canary_weight, False)


def original_configuration(route: Obj) -> Obj | None:
    """The ``{"mesh", "spec"}`` recorded when the Canary took the TrafficRoute over, if any."""
    recorded = (route["metadata"].get("annotations") or {}).get(ORIGINAL_CONFIGURATION)
    if recorded is None:
        return None
    try:
        original = json.loads(recorded)
    except json.JSONDecodeError:
        raise RouterError(
            f"TrafficRoute {route['metadata']['name']}: {ORIGINAL_CONFIGURATION} is not JSON"
        ) from None
    if not isinstance(original, dict) or not isinstance(original.get("spec"), dict):
        raise RouterError(f"TrafficRoute {route['metadata']['name']}: {ORIGINAL_CONFIGURATION} has no spec")
    return original


def desired_route(ctx: RouteContext, live: Obj | None, weights: Routes) -> Obj:
    """``traffic_route`` plus the original configuration of a TrafficRoute taken over."""
    desired = traffic_route(ctx, weights)
    if live is None:
        return desired
    annotations = live["metadata"].get("annotations") or {}
    recorded = annotations.get(ORIGINAL_CONFIGURATION)
    if recorded is None and CANARY_ANNOTATION not in annotations:
        recorded = json.dumps({"mesh": live.get("mesh"), "spec": live.get("spec") or {}}, sort_keys=True)
    if recorded is not None:
        desired["metadata"]["annotations"][ORIGINAL_CONFIGURATION] = recorded
    return desired


class KumaRouter(RouteObjectRouter):
    provider = PROVIDER
    route_kind = KIND
    route_api_version = API_VERSION
    route_namespaced = False

    def check_supported(self, ctx: RouteContext) -> None:
        check_supported(ctx)

    def routes_of(self, ctx: RouteContext, live: Obj) -> Routes:
        return routes_of(live, ctx.names.primary, ctx.names.canary)

    async def write_routes(self, ctx: RouteContext, live: Obj | None, weights: Routes) -> None:
        if live is not None:
            other = managed_by_other(live, ctx)
            if other is not None:
                raise RouterError(
                    f"canary {canary_identity(ctx)}: TrafficRoute {ctx.names.apex} is managed by canary {other}"
                )
        await self.apply(desired_route(ctx, live, Routes(weights.primary_weight, weights.canary_weight)))

    async def hand_back(self, ctx: RouteContext, live: Obj) -> None:
        if managed_by_other(live, ctx) is not None:
            return
        if CANARY_ANNOTATION not in (live["metadata"].get("annotations") or {}):
            return  # never taken over by a Canary
        original = original_configuration(live)
        if original is None:
            await self.delete(API_VERSION, KIND, None, ctx.names.apex)
            return
        restored: Obj = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": ctx.names.apex},
            "spec": original["spec"],
        }
        if original.get("mesh") is not None:
            restored["mesh"] = original["mesh"]
        await self.apply(restored)
