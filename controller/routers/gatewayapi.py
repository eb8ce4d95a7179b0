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

from typing import Any

from controller.kube import Kube
from controller.routers import gatewayapi_routes as build
from controller.routers.base import RouterError, Routes, provider_of
from controller.routers.route_objects import RouteContext, route_context
from controller.routers.skeleton import RouteObjectRouter
from controller.routers.sticky_sessions import StickyCookies, next_cookies, random_cookie_value

Obj = dict[str, Any]


class GatewayAPIRouter(RouteObjectRouter):
    provider = build.PROVIDER
    route_kind = "HTTPRoute"
    mirroring = True

    def __init__(self, kube: Kube, canary: Obj) -> None:
        super().__init__(kube, canary)
        provider = provider_of(canary)
        self.versioned_provider = "gatewayapi:v1" if provider == "gatewayapi" else provider
        """``gatewayapi:<version>``: which Gateway API version the HTTPRoute is written in."""

    @property
    def route_api_version(self) -> str:  # type: ignore[override]
        return build.api_version(self.versioned_provider)

    def check_supported(self, ctx: RouteContext) -> None:
        build.check_supported(ctx, self.versioned_provider)

    def routes_of(self, ctx: RouteContext, live: Obj) -> Routes:
        return build.routes_of(live, ctx.names.primary, ctx.names.canary)

    async def write_routes(self, ctx: RouteContext, live: Obj | None, weights: Routes) -> None:
        cookies = StickyCookies()
        affinity = ctx.analysis.session_affinity
        if affinity is not None:
            names = ctx.names
            found = build.cookies_of(live, names.primary, names.canary) if live else StickyCookies()
            cookies = next_cookies(affinity, found, weights.canary_weight, random_cookie_value(), ctx.uid)
        desired = build.http_route(ctx, self.versioned_provider, weights, cookies)
        await self.apply(self.adopt(ctx, desired, live))

    async def get_routes(self) -> Routes:
        ctx = route_context(self.canary, self.provider)
        live = await self.live(ctx)
        if live is None:
            raise RouterError(f"{self.describe(ctx)} not found")
        reason = build.parents_not_ready(live)
        if reason is not None:
            raise RouterError(reason)
        return self.routes_of(ctx, live)

    async def hand_back(self, ctx: RouteContext, live: Obj) -> None:
        await self.apply(build.handover_route(ctx, self.versioned_provider))
