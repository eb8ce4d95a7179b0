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

from controller.kube import Kube, KubeError
from controller.routers import nginx_routes as build
from controller.routers.base import RouterError, Routes
from controller.routers.route_objects import RouteContext, owned_by, route_context, unsupported

Obj = dict[str, Any]


class NginxRouter:
    builtin_query_provider: ClassVar[str] = "nginx"
    annotation_prefix: ClassVar[str] = build.ANNOTATION_PREFIX
    """Flagger's ``-ingress-annotations-prefix`` (the NGINX controller's ``--annotations-prefix``)."""

    def __init__(self, kube: Kube, canary: Obj) -> None:
        self.kube = kube
        self.canary = canary

    def _context(self) -> RouteContext:
        ctx = route_context(self.canary, build.PROVIDER)
        build.check_supported(ctx)
        return ctx

    async def _get(self, ctx: RouteContext, name: str) -> Obj | None:
        try:
            return await self.kube.get(build.INGRESS_API, "Ingress", ctx.namespace, name)
        except KubeError as exc:
            raise RouterError(f"Ingress {ctx.namespace}/{name}: {exc}") from exc

    async def _write(self, ctx: RouteContext, weights: Routes) -> None:
        source_name = build.ingress_name(ctx, build.PROVIDER)
        source = await self._get(ctx, source_name)
        if source is None:
            raise RouterError(f"Ingress {ctx.namespace}/{source_name} (spec.ingressRef) not found")
        desired = build.canary_ingress(ctx, source, weights, self.annotation_prefix)
        try:
            await self.kube.apply(desired)
        except KubeError as exc:
            raise RouterError(f"Ingress {ctx.namespace}/{desired['metadata']['name']}: {exc}") from exc

    async def reconcile(self) -> None:
        ctx = self._context()
        live = await self._get(ctx, build.canary_ingress_name(ctx, build.PROVIDER))
        weights = build.routes_of(live, self.annotation_prefix) if live is not None else Routes(100, 0)
        await self._write(ctx, weights)

    async def set_routes(self, primary_weight: int, canary_weight: int, mirrored: bool) -> None:
        if primary_weight < 0 or canary_weight < 0:
            raise RouterError(
                f"weights must not be negative: primary={primary_weight} canary={canary_weight}"
            )
        ctx = self._context()
        if mirrored:
            raise unsupported(ctx, build.PROVIDER, "traffic mirroring")
        name = build.canary_ingress_name(ctx, build.PROVIDER)
        if await self._get(ctx, name) is None:
            raise RouterError(f"Ingress {ctx.namespace}/{name} not found; reconcile first")
        await self._write(ctx, Routes(primary_weight, canary_weight, False))

    async def get_routes(self) -> Routes:
        ctx = route_context(self.canary, build.PROVIDER)
        name = build.canary_ingress_name(ctx, build.PROVIDER)
        live = await self._get(ctx, name)
        if live is None:
            raise RouterError(f"Ingress {ctx.namespace}/{name} not found")
        return build.routes_of(live, self.annotation_prefix)

    async def finalize(self) -> None:
        ctx = route_context(self.canary, build.PROVIDER)
        name = build.canary_ingress_name(ctx, build.PROVIDER)
        live = await self._get(ctx, name)
        if live is None or not owned_by(live, ctx.uid):
            return
        try:
            await self.kube.delete(build.INGRESS_API, "Ingress", ctx.namespace, name)
        except KubeError as exc:
            raise RouterError(f"Ingress {ctx.namespace}/{name}: {exc}") from exc
