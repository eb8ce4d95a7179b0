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

from typing import Any

from controller.routers import gloo_routes as build
from controller.routers.base import RouterError, Routes
from controller.routers.route_objects import (
    RouteContext,
)
from controller.routers.skeleton import RouteObjectRouter

Obj = dict[str, Any]


class GlooRouter(RouteObjectRouter):
    provider = build.PROVIDER
    route_kind = "RouteTable"
    route_api_version = build.GATEWAY_API_VERSION

    def check_supported(self, ctx: RouteContext) -> None:
        build.check_supported(ctx)

    def routes_of(self, ctx: RouteContext, live: Obj) -> Routes:
        return build.routes_of(live, *build.upstream_names(ctx))

    async def _template(self, ctx: RouteContext) -> Obj | None:
        ref = ctx.canary.spec.upstream_ref
        if ref is None:
            return None
        namespace = ref.namespace or ctx.namespace
        found = await self.get(ref.api_version, "Upstream", namespace, ref.name)
        if found is None:
            raise RouterError(f"upstreamRef {namespace}/{ref.name} not found")
        return found

    async def reconcile_dependencies(self, ctx: RouteContext) -> None:
        template = await self._template(ctx)
        for upstream_name, service_name in zip(
            build.upstream_names(ctx), (ctx.names.primary, ctx.names.canary), strict=True
        ):
            service = await self.get("v1", "Service", ctx.namespace, service_name)
            if service is None:
                raise RouterError(f"Service {ctx.namespace}/{service_name} not found; the Upstream needs it")
            await self.apply_adopting(ctx, build.upstream(ctx, upstream_name, service, template))

    async def write_routes(self, ctx: RouteContext, live: Obj | None, weights: Routes) -> None:
        table = build.route_table(ctx, Routes(weights.primary_weight, weights.canary_weight))
        await self.apply(self.adopt(ctx, table, live))
