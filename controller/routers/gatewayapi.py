"""The ``gatewayapi`` provider: one HTTPRoute per Canary (``gatewayapi:v1`` or ``gatewayapi:v1beta1``).

The object is built by the pure functions of ``gatewayapi_routes``; this class only reads the
live HTTPRoute and writes with server-side apply (field manager ``gitcanary``).

Invariants:
- the live HTTPRoute is the source of truth: ``reconcile`` keeps its current split, mirroring
  and session cookies, and only ``set_routes`` changes them;
- ``get_routes`` fails (``RouterError``) while a parent Gateway reports the route not Accepted
  or has not observed its current generation, as Flagger does, so the engine never acts on a
  split the data plane has not taken;
- an HTTPRoute that existed before the Canary adopted it gets no ownerReference, so deleting
  the Canary never deletes it;
- ``finalize`` points the route at the apex Service, so traffic keeps flowing until the route is
  garbage-collected with the Canary (Flagger leaves it pointing at the primary);
- API failures surface as ``RouterError``; unsupported requests as ``UnsupportedFeature``
  before anything is written.
"""

from __future__ import annotations

from typing import Any, ClassVar

from controller.kube import Kube, KubeError
from controller.routers import gatewayapi_routes as build
from controller.routers.base import RouterError, Routes, provider_of
from controller.routers.route_objects import RouteContext, owned_by, route_context, split_or_all_primary
from controller.routers.sticky_sessions import StickyCookies, next_cookies, random_cookie_value

Obj = dict[str, Any]


class GatewayAPIRouter:
    builtin_query_provider: ClassVar[str] = "istio"
    """The query set of the builtin metrics; Flagger uses the Istio queries for Gateway API."""

    def __init__(self, kube: Kube, canary: Obj) -> None:
        self.kube = kube
        self.canary = canary
        provider = provider_of(canary)
        self.provider = "gatewayapi:v1" if provider == "gatewayapi" else provider

    def _context(self) -> RouteContext:
        ctx = route_context(self.canary, build.PROVIDER)
        build.check_supported(ctx, self.provider)
        return ctx

    @property
    def api_version(self) -> str:
        return build.api_version(self.provider)

    async def _live(self, ctx: RouteContext) -> Obj | None:
        try:
            return await self.kube.get(self.api_version, "HTTPRoute", ctx.namespace, ctx.names.apex)
        except KubeError as exc:
            raise RouterError(f"HTTPRoute {ctx.namespace}/{ctx.names.apex}: {exc}") from exc

    async def _apply(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        try:
            return await self.kube.apply(obj)
        except KubeError as exc:
            raise RouterError(f"HTTPRoute {meta['namespace']}/{meta['name']}: {exc}") from exc

    def _desired(self, ctx: RouteContext, live: Obj | None, weights: Routes) -> Obj:
        cookies = StickyCookies()
        affinity = ctx.analysis.session_affinity
        if affinity is not None:
            names = ctx.names
            found = build.cookies_of(live, names.primary, names.canary) if live else StickyCookies()
            cookies = next_cookies(affinity, found, weights.canary_weight, random_cookie_value(), ctx.uid)
        desired = build.http_route(ctx, self.provider, weights, cookies)
        if live is not None and not owned_by(live, ctx.uid):
            del desired["metadata"]["ownerReferences"]  # adopted, not generated: never collected
        return desired

    async def reconcile(self) -> None:
        ctx = self._context()
        live = await self._live(ctx)
        weights = split_or_all_primary(
            live, lambda obj: build.routes_of(obj, ctx.names.primary, ctx.names.canary)
        )
        await self._apply(self._desired(ctx, live, weights))

    async def set_routes(self, primary_weight: int, canary_weight: int, mirrored: bool) -> None:
        if primary_weight < 0 or canary_weight < 0:
            raise RouterError(
                f"weights must not be negative: primary={primary_weight} canary={canary_weight}"
            )
        ctx = self._context()
        live = await self._live(ctx)
        if live is None:
            raise RouterError(f"HTTPRoute {ctx.namespace}/{ctx.names.apex} not found; reconcile first")
        await self._apply(self._desired(ctx, live, Routes(primary_weight, canary_weight, mirrored)))

    async def get_routes(self) -> Routes:
        ctx = route_context(self.canary, build.PROVIDER)
        live = await self._live(ctx)
        if live is None:
            raise RouterError(f"HTTPRoute {ctx.namespace}/{ctx.names.apex} not found")
        reason = build.parents_not_ready(live)
        if reason is not None:
            raise RouterError(reason)
        return build.routes_of(live, ctx.names.primary, ctx.names.canary)

    async def finalize(self) -> None:
        ctx = route_context(self.canary, build.PROVIDER)
        if await self._live(ctx) is None:
            return
        await self._apply(build.handover_route(ctx, self.provider))
