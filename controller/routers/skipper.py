"""The ``skipper`` provider: Skipper backend weights on a generated ``<ingress>-canary``.

The Ingress of ``spec.ingressRef`` (the apex Ingress) is never modified. The canary Ingress
copies its spec; every path to ``<svc>`` is sent to ``<svc>-primary`` and a copy of it to
``<svc>-canary`` is appended to the rule, as Flagger does. Its annotations are the apex
Ingress's (without ``kubectl.kubernetes.io/last-applied-configuration``) plus:

- ``zalando.org/backend-weights``: ``{"<svc>-canary": w2, "<svc>-primary": w1}`` (JSON);
- ``zalando.org/skipper-predicate``: ``Weight(100)`` first, so the canary routes win over the
  apex Ingress's, followed by the user's own predicates; while the canary has no weight the
  first predicate is ``False()`` instead, which disables the canary routes and leaves the
  traffic to the apex Ingress.

Invariants:
- the live ``backend-weights`` annotation is the source of truth: ``get_routes`` reads it and
  ``reconcile`` keeps it; only ``set_routes`` changes it;
- A/B matching, mirroring and session affinity raise ``UnsupportedFeature`` before anything is
  written (Flagger's Skipper router splits by weight only);
- ``finalize`` deletes the canary Ingress when the Canary owns it, as Flagger does.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from controller.routers.base import RouterError, Routes
from controller.routers.nginx_routes import (
    INGRESS_API,
    canary_ingress_name,
    copied_annotations,
    ingress_copy,
    ingress_name,
    routes_to,
)
from controller.routers.route_objects import RouteContext, refuse_features
from controller.routers.skeleton import RouteObjectRouter

Obj = dict[str, Any]

PROVIDER = "skipper"
BACKEND_WEIGHTS = "zalando.org/backend-weights"
PREDICATE = "zalando.org/skipper-predicate"
ROUTE_WEIGHT = "Weight(100)"
ROUTE_DISABLED = "False()"


def check_supported(ctx: RouteContext) -> None:
    ingress_name(ctx, PROVIDER)
    refuse_features(ctx, PROVIDER, ab_testing=True)


def with_first_predicate(raw: str, first: str) -> str:
    """``first`` and then the user's predicates of ``raw`` (minus our own)."""
    kept = [p.strip() for p in raw.split("&&")]
    kept = [p for p in kept if p and p not in (ROUTE_WEIGHT, ROUTE_DISABLED)]
    return " && ".join([first, *kept])


def canary_spec(ctx: RouteContext, ingress: Obj) -> Obj:
    spec = copy.deepcopy(ingress.get("spec") or {})
    found = False
    for rule in spec.get("rules") or []:
        paths = (rule.get("http") or {}).get("paths") or []
        added = []
        for path in paths:
            if routes_to(path, ctx.names.apex):
                path["backend"]["service"]["name"] = ctx.names.primary
                canary_path = copy.deepcopy(path)
                canary_path["backend"]["service"]["name"] = ctx.names.canary
                added.append(canary_path)
                found = True
        paths.extend(added)
    if not found:
        raise RouterError(
            f"Ingress {ctx.namespace}/{ingress['metadata']['name']} has no backend {ctx.names.apex}"
        )
    return spec


def canary_ingress(ctx: RouteContext, ingress: Obj, weights: Routes) -> Obj:
    annotations = copied_annotations(ingress, None)
    backend_weights = {ctx.names.primary: weights.primary_weight, ctx.names.canary: weights.canary_weight}
    annotations[BACKEND_WEIGHTS] = json.dumps(backend_weights, sort_keys=True, separators=(",", ":"))
    first = ROUTE_DISABLED if weights.canary_weight <= 0 else ROUTE_WEIGHT
    annotations[PREDICATE] = with_first_predicate(annotations.get(PREDICATE, ""), first)
    name = canary_ingress_name(ctx, PROVIDER)
    return ingress_copy(ctx, ingress, name, canary_spec(ctx, ingress), annotations)


def routes_of(ingress: Obj, primary: str, canary: str) -> Routes:
    name = f"{ingress['metadata'].get('namespace')}/{ingress['metadata']['name']}"
    raw = (ingress["metadata"].get("annotations") or {}).get(BACKEND_WEIGHTS)
    if raw is None:
        raise RouterError(f"Ingress {name} has no {BACKEND_WEIGHTS} annotation")
    try:
        weights = json.loads(raw)
    except ValueError:
        raise RouterError(f"Ingress {name}: invalid {BACKEND_WEIGHTS} {raw!r}") from None
    if not isinstance(weights, dict) or primary not in weights or canary not in weights:
        raise RouterError(f"Ingress {name}: {BACKEND_WEIGHTS} lacks {primary} or {canary}")
    return Routes(int(weights[primary]), int(weights[canary]), False)


class SkipperRouter(RouteObjectRouter):
    provider = PROVIDER
    route_kind = "Ingress"
    route_api_version = INGRESS_API

    def check_supported(self, ctx: RouteContext) -> None:
        check_supported(ctx)

    def route_name(self, ctx: RouteContext) -> str:
        return canary_ingress_name(ctx, PROVIDER)

    def routes_of(self, ctx: RouteContext, live: Obj) -> Routes:
        return routes_of(live, ctx.names.primary, ctx.names.canary)

    async def write_routes(self, ctx: RouteContext, live: Obj | None, weights: Routes) -> None:
        source = await self.source_object(
            ctx, INGRESS_API, "Ingress", ingress_name(ctx, PROVIDER), "spec.ingressRef"
        )
        await self.apply(canary_ingress(ctx, source, Routes(weights.primary_weight, weights.canary_weight)))

    async def hand_back(self, ctx: RouteContext, live: Obj) -> None:
        await self.delete_if_owned(ctx, live)
