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
from typing import Any, ClassVar

from controller.kube import Kube, KubeError
from controller.routers import istio_routes as build
from controller.routers.base import RouterError, Routes
from controller.routers.route_objects import (
    ORIGINAL_CONFIGURATION,
    RouteContext,
    owned_by,
    route_context,
    split_or_all_primary,
)
from controller.routers.sticky_sessions import StickyCookies, next_cookies, random_cookie_value

Obj = dict[str, Any]


class IstioRouter:
    builtin_query_provider: ClassVar[str] = "istio"
    """The query set of the builtin metrics (request-success-rate, request-duration)."""

    def __init__(self, kube: Kube, canary: Obj) -> None:
        self.kube = kube
        self.canary = canary

    def _context(self) -> RouteContext:
        ctx = route_context(self.canary, build.PROVIDER)
        build.check_supported(ctx)
        return ctx

    async def _live(self, ctx: RouteContext) -> Obj | None:
        try:
            return await self.kube.get(build.API_VERSION, "VirtualService", ctx.namespace, ctx.names.apex)
        except KubeError as exc:
            raise RouterError(f"VirtualService {ctx.namespace}/{ctx.names.apex}: {exc}") from exc

    async def _apply(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        try:
            return await self.kube.apply(obj)
        except KubeError as exc:
            raise RouterError(f"{obj['kind']} {meta['namespace']}/{meta['name']}: {exc}") from exc

    def _desired(self, ctx: RouteContext, live: Obj | None, weights: Routes) -> Obj:
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
            if not owned_by(live, ctx.uid):
                del desired["metadata"]["ownerReferences"]  # adopted, not generated: never collected
        return desired

    async def reconcile(self) -> None:
        ctx = self._context()
        for rule in build.destination_rules(ctx):
            await self._apply(rule)
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
            raise RouterError(f"VirtualService {ctx.namespace}/{ctx.names.apex} not found; reconcile first")
        await self._apply(self._desired(ctx, live, Routes(primary_weight, canary_weight, mirrored)))

    async def get_routes(self) -> Routes:
        ctx = route_context(self.canary, build.PROVIDER)
        live = await self._live(ctx)
        if live is None:
            raise RouterError(f"VirtualService {ctx.namespace}/{ctx.names.apex} not found")
        return build.routes_of(live, ctx.names.primary, ctx.names.canary)

    async def finalize(self) -> None:
        ctx = route_context(self.canary, build.PROVIDER)
        live = await self._live(ctx)
        if live is None:
            return
        original = build.original_spec(live)
        if original is None:
            await self._apply(build.handover_virtual_service(ctx))
            return
        await self._apply(
            {
                "apiVersion": build.API_VERSION,
                "kind": "VirtualService",
                "metadata": {"name": ctx.names.apex, "namespace": ctx.namespace},
                "spec": original,
            }
        )
