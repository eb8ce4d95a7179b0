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

from typing import Any, ClassVar

from controller.kube import Kube, KubeError
from controller.routers.base import RouterError, Routes
from controller.routers.route_objects import (
    RouteContext,
    object_metadata,
    owned_by,
    route_context,
    split_or_all_primary,
    unsupported,
)

Obj = dict[str, Any]

API_VERSION = "traefik.io/v1alpha1"
KIND = "TraefikService"
PROVIDER = "traefik"


def check_supported(ctx: RouteContext) -> None:
    analysis = ctx.analysis
    if analysis.match:
        raise unsupported(ctx, PROVIDER, "A/B testing (analysis.match)")
    if analysis.mirror:
        raise unsupported(ctx, PROVIDER, "traffic mirroring (analysis.mirror)")
    if analysis.session_affinity is not None:
        raise unsupported(ctx, PROVIDER, "session affinity (analysis.sessionAffinity)")


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


class TraefikRouter:
    builtin_query_provider: ClassVar[str] = "traefik"

    def __init__(self, kube: Kube, canary: Obj) -> None:
        self.kube = kube
        self.canary = canary

    def _context(self) -> RouteContext:
        ctx = route_context(self.canary, PROVIDER)
        check_supported(ctx)
        return ctx

    async def _live(self, ctx: RouteContext) -> Obj | None:
        try:
            return await self.kube.get(API_VERSION, KIND, ctx.namespace, ctx.names.apex)
        except KubeError as exc:
            raise RouterError(f"TraefikService {ctx.namespace}/{ctx.names.apex}: {exc}") from exc

    async def _apply(self, obj: Obj) -> None:
        try:
            await self.kube.apply(obj)
        except KubeError as exc:
            meta = obj["metadata"]
            raise RouterError(f"TraefikService {meta['namespace']}/{meta['name']}: {exc}") from exc

    async def reconcile(self) -> None:
        ctx = self._context()
        live = await self._live(ctx)
        weights = split_or_all_primary(live, lambda obj: routes_of(obj, ctx.names.primary, ctx.names.canary))
        await self._apply(traefik_service(ctx, weights))

    async def set_routes(self, primary_weight: int, canary_weight: int, mirrored: bool) -> None:
        if primary_weight < 0 or canary_weight < 0 or primary_weight + canary_weight == 0:
            raise RouterError(f"invalid weights: primary={primary_weight} canary={canary_weight}")
        ctx = self._context()
        if mirrored:
            raise unsupported(ctx, PROVIDER, "traffic mirroring")
        if await self._live(ctx) is None:
            raise RouterError(f"TraefikService {ctx.namespace}/{ctx.names.apex} not found; reconcile first")
        await self._apply(traefik_service(ctx, Routes(primary_weight, canary_weight)))

    async def get_routes(self) -> Routes:
        ctx = route_context(self.canary, PROVIDER)
        live = await self._live(ctx)
        if live is None:
            raise RouterError(f"TraefikService {ctx.namespace}/{ctx.names.apex} not found")
        return routes_of(live, ctx.names.primary, ctx.names.canary)

    async def finalize(self) -> None:
        ctx = route_context(self.canary, PROVIDER)
        live = await self._live(ctx)
        if live is None or not owned_by(live, ctx.uid):
            return
        await self._apply(handover_service(ctx))
