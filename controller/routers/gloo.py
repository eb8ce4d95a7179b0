"""The ``gloo`` provider (Gloo Edge): two Upstreams and a RouteTable per Canary.

The objects are built by ``gloo_routes``; this class reads the primary and canary Services (for
their selectors), the ``spec.upstreamRef`` template and the live RouteTable, and writes with
server-side apply (field manager ``gitcanary``).

Invariants:
- the live RouteTable ``<svc>`` is the source of truth: ``reconcile`` keeps its split and only
  ``set_routes`` changes it;
- the Upstreams need the ``<svc>-primary`` and ``<svc>-canary`` Services: ``reconcile`` fails
  with ``RouterError`` until they exist (as in Flagger), and so does a missing upstreamRef;
- an object that existed before and is not owned by the Canary is updated without an
  ownerReference (adopted, never garbage-collected with the Canary);
- ``finalize`` writes nothing, as in Flagger: the generated objects are owned by the Canary and
  are garbage-collected with it;
- a split with both weights 0 is a ``RouterError``; mirroring is an ``UnsupportedFeature``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from controller.kube import Kube, KubeError
from controller.routers import gloo_routes as build
from controller.routers.base import RouterError, Routes
from controller.routers.route_objects import (
    RouteContext,
    owned_by,
    route_context,
    split_or_all_primary,
    unsupported,
)

Obj = dict[str, Any]


class GlooRouter:
    builtin_query_provider: ClassVar[str] = "gloo"

    def __init__(self, kube: Kube, canary: Obj) -> None:
        self.kube = kube
        self.canary = canary

    def _context(self) -> RouteContext:
        ctx = route_context(self.canary, build.PROVIDER)
        build.check_supported(ctx)
        return ctx

    async def _get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        try:
            return await self.kube.get(api_version, kind, namespace, name)
        except KubeError as exc:
            raise RouterError(f"{kind} {namespace}/{name}: {exc}") from exc

    async def _apply(self, ctx: RouteContext, obj: Obj, live: Obj | None = None) -> None:
        meta = obj["metadata"]
        if live is None:
            live = await self._get(obj["apiVersion"], obj["kind"], ctx.namespace, meta["name"])
        if live is not None and not owned_by(live, ctx.uid):
            del meta["ownerReferences"]  # adopted, not generated: never collected with the Canary
        try:
            await self.kube.apply(obj)
        except KubeError as exc:
            raise RouterError(f"{obj['kind']} {meta['namespace']}/{meta['name']}: {exc}") from exc

    async def _template(self, ctx: RouteContext) -> Obj | None:
        ref = ctx.canary.spec.upstream_ref
        if ref is None:
            return None
        namespace = ref.namespace or ctx.namespace
        found = await self._get(ref.api_version, "Upstream", namespace, ref.name)
        if found is None:
            raise RouterError(f"upstreamRef {namespace}/{ref.name} not found")
        return found

    async def _live_table(self, ctx: RouteContext) -> Obj | None:
        return await self._get(build.GATEWAY_API_VERSION, "RouteTable", ctx.namespace, ctx.names.apex)

    async def reconcile(self) -> None:
        ctx = self._context()
        template = await self._template(ctx)
        for upstream_name, service_name in zip(
            build.upstream_names(ctx), (ctx.names.primary, ctx.names.canary), strict=True
        ):
            service = await self._get("v1", "Service", ctx.namespace, service_name)
            if service is None:
                raise RouterError(f"Service {ctx.namespace}/{service_name} not found; the Upstream needs it")
            await self._apply(ctx, build.upstream(ctx, upstream_name, service, template))
        live = await self._live_table(ctx)
        primary, canary = build.upstream_names(ctx)
        weights = split_or_all_primary(live, lambda obj: build.routes_of(obj, primary, canary))
        await self._apply(ctx, build.route_table(ctx, weights), live)

    async def set_routes(self, primary_weight: int, canary_weight: int, mirrored: bool) -> None:
        ctx = self._context()
        if mirrored:
            raise unsupported(ctx, build.PROVIDER, "traffic mirroring")
        if primary_weight < 0 or canary_weight < 0 or primary_weight + canary_weight == 0:
            raise RouterError(f"invalid weights: primary={primary_weight} canary={canary_weight}")
        live = await self._live_table(ctx)
        if live is None:
            raise RouterError(f"RouteTable {ctx.namespace}/{ctx.names.apex} not found; reconcile first")
        await self._apply(ctx, build.route_table(ctx, Routes(primary_weight, canary_weight, False)), live)

    async def get_routes(self) -> Routes:
        ctx = route_context(self.canary, build.PROVIDER)
        live = await self._live_table(ctx)
        if live is None:
            raise RouterError(f"RouteTable {ctx.namespace}/{ctx.names.apex} not found")
        return build.routes_of(live, *build.upstream_names(ctx))

    async def finalize(self) -> None:
        """Nothing to hand back: the generated objects are collected with the Canary (as Flagger)."""
        route_context(self.canary, build.PROVIDER)
