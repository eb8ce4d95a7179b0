"""The ``traefik`` provider: a weighted TraefikService ``<svc>`` (``traefik.io/v1alpha1``).

The user's IngressRoute sends traffic to the TraefikService ``<svc>`` (``kind:
TraefikService``); the TraefikService balances between ``<svc>-primary`` and, while it has
weight, ``<svc>-canary``, both on ``spec.service.port`` in the Canary's namespace, as Flagger
does. Labels and annotations come from ``spec.service.apex``.

Invariants:
- the live TraefikService is the source of truth: the primary weight is its entry's weight,
  the canary weight its entry's weight or 0 when absent; ``reconcile`` keeps them and only
  ``set_routes`` changes them; both weights 0 is a ``RouterError``;
- A/B matching, mirroring and session affinity raise ``UnsupportedFeature`` before anything is
  written (Flagger's Traefik router splits by weight only; Traefik's own ``mirroring`` service
  is not used);
- ``finalize`` points a TraefikService the Canary owns at the apex Service, so the
  IngressRoute keeps working until the TraefikService is garbage-collected with the Canary.
"""

from __future__ import annotations

from typing import Any

from controller.routers.base import RouterError, Routes
from controller.routers.route_objects import (
    RouteContext,
    object_metadata,
    refuse_features,
)
from controller.routers.skeleton import SplitFunctions, SplitRouter

Obj = dict[str, Any]

API_VERSION = "traefik.io/v1alpha1"
KIND = "TraefikService"
PROVIDER = "traefik"


def check_supported(ctx: RouteContext) -> None:
    refuse_features(ctx, PROVIDER, ab_testing=True)


def _service(ctx: RouteContext, name: str, weight: int) -> Obj:
    return {"name": name, "namespace": ctx.namespace, "port": ctx.service.port, "weight": weight}


def traefik_service(ctx: RouteContext, weights: Routes) -> Obj:
    """The TraefikService ``<svc>``; the canary is listed only while it has weight."""
    services = [_service(ctx, ctx.names.primary, weights.primary_weight)]
    if weights.canary_weight > 0:
        services.append(_service(ctx, ctx.names.canary, weights.canary_weight))
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": object_metadata(ctx, ctx.names.apex, ctx.service.apex),
        "spec": {"weighted": {"services": services}},
    }


def handover_service(ctx: RouteContext) -> Obj:
    obj = traefik_service(ctx, Routes(100, 0))
    obj["spec"] = {"weighted": {"services": [_service(ctx, ctx.names.apex, 100)]}}
    return obj


def routes_of(obj: Obj, primary: str, canary: str) -> Routes:
    name = f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"
    services = ((obj.get("spec") or {}).get("weighted") or {}).get("services") or []
    weights = {s.get("name"): int(s.get("weight", 0)) for s in services}
    if primary not in weights:
        raise RouterError(f"TraefikService {name} does not route to {primary}")
    primary_weight, canary_weight = weights[primary], weights.get(canary, 0)
    if primary_weight == 0 and canary_weight == 0:
        raise RouterError(f"TraefikService {name} gives no weight to {primary} or {canary}")
    return Routes(primary_weight, canary_weight, False)


class TraefikRouter(SplitRouter):
    provider = PROVIDER
    route_kind = KIND
    route_api_version = API_VERSION
    functions = SplitFunctions(check_supported, routes_of, traefik_service, handover_service)
