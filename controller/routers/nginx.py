"""The ``nginx`` provider: NGINX ingress canary annotations on a generated ``<ingress>-canary``.

The objects are built by the pure functions of ``nginx_routes``; this class reads the Ingress
of ``spec.ingressRef`` (never modified) and the live canary Ingress, and writes with
server-side apply (field manager ``gitcanary``), so annotations it stops writing disappear.

Invariants:
- the live canary Ingress is the source of truth: ``get_routes`` reads its annotations and
  ``reconcile`` keeps the split they describe; only ``set_routes`` changes it;
- the canary Ingress always mirrors the current spec of the referenced Ingress (every write
  rebuilds it from there), with ``<svc>`` backends sent to ``<svc>-canary``;
- ``finalize`` deletes the canary Ingress when the Canary owns it, so all traffic goes through
  the referenced Ingress again;
- API failures surface as ``RouterError``; unsupported requests as ``UnsupportedFeature``
  before anything is written.
"""

from __future__ import annotations

from typing import Any, ClassVar

from controller.routers import nginx_routes as build
from controller.routers.base import Routes
from controller.routers.route_objects import RouteContext
from controller.routers.skeleton import RouteObjectRouter

Obj = dict[str, Any]


class NginxRouter(RouteObjectRouter):
    provider = build.PROVIDER
    route_kind = "Ingress"
    route_api_version = build.INGRESS_API
    annotation_prefix: ClassVar[str] = build.ANNOTATION_PREFIX
    """Flagger's ``-ingress-annotations-prefix`` (the NGINX controller's ``--annotations-prefix``)."""

    def check_supported(self, ctx: RouteContext) -> None:
        build.check_supported(ctx)

    def route_name(self, ctx: RouteContext) -> str:
        return build.canary_ingress_name(ctx, build.PROVIDER)

    def routes_of(self, ctx: RouteContext, live: Obj) -> Routes:
        return build.routes_of(live, self.annotation_prefix)

    async def write_routes(self, ctx: RouteContext, live: Obj | None, weights: Routes) -> None:
        source_name = build.ingress_name(ctx, build.PROVIDER)
        source = await self.source_object(ctx, build.INGRESS_API, "Ingress", source_name, "spec.ingressRef")
        weights = Routes(weights.primary_weight, weights.canary_weight)
        await self.apply(build.canary_ingress(ctx, source, weights, self.annotation_prefix))

    async def hand_back(self, ctx: RouteContext, live: Obj) -> None:
        await self.delete_if_owned(ctx, live)
