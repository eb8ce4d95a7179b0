"""The ``istio`` provider: DestinationRules and a VirtualService per Canary.

The objects are built by the pure functions of ``istio_routes``; this class only reads the live
VirtualService and writes with server-side apply (field manager ``gitcanary``).

Invariants:
- the live VirtualService is the source of truth: ``reconcile`` keeps its current split,
  mirroring and session cookies, and only ``set_routes`` changes them;
- a VirtualService that existed before the Canary adopted it (not owned by the Canary) gets no
  ownerReference, so deleting the Canary never deletes it, and its spec is recorded once in
  ``gitcanary.io/original-configuration``; ``finalize`` restores that spec (or the one in
  ``kubectl.kubernetes.io/last-applied-configuration``, or Flagger's
  ``flagger.kubernetes.app/original-configuration``), as Flagger does. A VirtualService the
  Canary created is instead pointed at the apex Service on ``finalize``, so traffic keeps
  flowing until it is garbage-collected with the Canary;
- API failures surface as ``RouterError``; unsupported requests as ``UnsupportedFeature``
  before anything is written.
"""

from __future__ import annotations

import json
from typing import Any

from controller.routers import istio_routes as build
from controller.routers.base import Routes
from controller.routers.route_objects import (
    ORIGINAL_CONFIGURATION,
    RouteContext,
    owned_by,
)
from controller.routers.skeleton import RouteObjectRouter
from controller.routers.sticky_sessions import StickyCookies, next_cookies, random_cookie_value

Obj = dict[str, Any]


class IstioRouter(RouteObjectRouter):
    provider = build.PROVIDER
    route_kind = "VirtualService"
    route_api_version = build.API_VERSION
    mirroring = True

    def check_supported(self, ctx: RouteContext) -> None:
        build.check_supported(ctx)

    def routes_of(self, ctx: RouteContext, live: Obj) -> Routes:
        return build.routes_of(live, ctx.names.primary, ctx.names.canary)

    async def reconcile_dependencies(self, ctx: RouteContext) -> None:
        for rule in build.destination_rules(ctx):
            await self.apply(rule)

    async def write_routes(self, ctx: RouteContext, live: Obj | None, weights: Routes) -> None:
        cookies = StickyCookies()
        affinity = ctx.analysis.session_affinity
        if affinity is not None and not build.is_tcp(ctx):
            found = build.cookies_of(live, ctx.names.primary, ctx.names.canary) if live else StickyCookies()
            cookies = next_cookies(affinity, found, weights.canary_weight, random_cookie_value(), ctx.uid)
        desired = build.virtual_service(ctx, weights, cookies)
        if live is not None:
            live_annotations = live["metadata"].get("annotations") or {}
            recorded = live_annotations.get(ORIGINAL_CONFIGURATION)
            if recorded is None and not owned_by(live, ctx.uid) and build.original_spec(live) is None:
                recorded = json.dumps(live.get("spec") or {}, sort_keys=True)
            if recorded is not None:
                desired["metadata"]["annotations"][ORIGINAL_CONFIGURATION] = recorded
        await self.apply(self.adopt(ctx, desired, live))

    async def hand_back(self, ctx: RouteContext, live: Obj) -> None:
        original = build.original_spec(live)
        if original is None:
            await self.apply(build.handover_virtual_service(ctx))
            return
        await self.apply(
            {
                "apiVersion": build.API_VERSION,
                "kind": "VirtualService",
                "metadata": {"name": ctx.names.apex, "namespace": ctx.namespace},
                "spec": original,
            }
        )
