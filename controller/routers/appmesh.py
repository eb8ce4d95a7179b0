"""The ``appmesh`` provider (App Mesh controller CRDs ``appmesh.k8s.aws/v1beta2``).

The objects are built by ``appmesh_routes``; this class reads the target's selector label and
the live VirtualRouter, and writes with server-side apply (field manager ``gitcanary``), so the
``meshRef`` and ``awsName`` the App Mesh webhook fills in are never taken away.

Invariants:
- the live VirtualRouter ``<svc>`` is the source of truth: ``reconcile`` keeps its split and only
  ``set_routes`` changes it;
- VirtualNodes select the primary's pods by ``<label>: <value>-primary`` and the canary's by
  ``<label>: <value>``, where ``<label>`` is the target's selector label (``app``, ``name`` or
  ``app.kubernetes.io/name``, as the primary workload uses); when the target cannot be read
  yet, Flagger's default ``app: <targetRef.name>`` is used;
- an object that existed before and is not owned by the Canary is updated without an
  ownerReference (it is adopted, never garbage-collected with the Canary);
- ``finalize`` writes nothing, as in Flagger: every generated object is owned by the Canary and
  is garbage-collected with it; there is no pre-existing route to hand back;
- API failures surface as ``RouterError``; unsupported requests (mirroring, session affinity...)
  as ``UnsupportedFeature`` before anything is written.
"""

from __future__ import annotations

from typing import Any, ClassVar

from controller.kube import Kube, KubeError
from controller.routers import appmesh_routes as build
from controller.routers.base import RouterError, Routes
from controller.routers.route_objects import (
    RouteContext,
    owned_by,
    route_context,
    split_or_all_primary,
    unsupported,
)
from controller.workloads.primary import selector_label

Obj = dict[str, Any]


class AppMeshRouter:
    builtin_query_provider: ClassVar[str] = "appmesh"

    def __init__(self, kube: Kube, canary: Obj) -> None:
        self.kube = kube
        self.canary = canary

    def _context(self) -> RouteContext:
        ctx = route_context(self.canary, build.PROVIDER)
        build.check_supported(ctx)
        return ctx

    async def _get(self, kind: str, ctx: RouteContext, name: str) -> Obj | None:
        try:
            return await self.kube.get(build.API_VERSION, kind, ctx.namespace, name)
        except KubeError as exc:
            raise RouterError(f"{kind} {ctx.namespace}/{name}: {exc}") from exc

    async def _apply(self, ctx: RouteContext, obj: Obj, live: Obj | None = None) -> Obj:
        meta = obj["metadata"]
        if live is None:
            live = await self._get(obj["kind"], ctx, meta["name"])
        if live is not None and not owned_by(live, ctx.uid):
            del meta["ownerReferences"]  # adopted, not generated: never collected with the Canary
        try:
            return await self.kube.apply(obj)
        except KubeError as exc:
            raise RouterError(f"{obj['kind']} {meta['namespace']}/{meta['name']}: {exc}") from exc

    async def _selector(self, ctx: RouteContext) -> tuple[str, str]:
        ref = ctx.canary.spec.target_ref
        try:
            target = await self.kube.get(ref.api_version, ref.kind, ctx.namespace, ref.name)
        except KubeError as exc:
            raise RouterError(f"{ref.kind} {ctx.namespace}/{ref.name}: {exc}") from exc
        if target is None or ref.kind == "Service":
            return "app", ref.name
        try:
            return selector_label(target)
        except ValueError as exc:
            raise RouterError(str(exc)) from exc

    async def reconcile(self) -> None:
        ctx = self._context()
        for node in build.virtual_nodes(ctx, await self._selector(ctx)):
            await self._apply(ctx, node)
        live = await self._get("VirtualRouter", ctx, ctx.names.apex)
        weights = split_or_all_primary(
            live, lambda obj: build.routes_of(obj, ctx.names.primary, ctx.names.canary)
        )
        await self._apply(ctx, build.virtual_router(ctx, weights), live)
        await self._apply(ctx, build.virtual_service(ctx, ctx.names.apex))
        await self._apply(ctx, build.canary_virtual_router(ctx))
        await self._apply(ctx, build.virtual_service(ctx, ctx.names.canary))

    async def set_routes(self, primary_weight: int, canary_weight: int, mirrored: bool) -> None:
        ctx = self._context()
        if mirrored:
            raise unsupported(ctx, build.PROVIDER, "traffic mirroring")
        if primary_weight < 0 or canary_weight < 0 or primary_weight + canary_weight == 0:
            raise RouterError(f"invalid weights: primary={primary_weight} canary={canary_weight}")
        live = await self._get("VirtualRouter", ctx, ctx.names.apex)
        if live is None:
            raise RouterError(f"VirtualRouter {ctx.namespace}/{ctx.names.apex} not found; reconcile first")
        await self._apply(ctx, build.virtual_router(ctx, Routes(primary_weight, canary_weight, False)), live)

    async def get_routes(self) -> Routes:
        ctx = route_context(self.canary, build.PROVIDER)
        live = await self._get("VirtualRouter", ctx, ctx.names.apex)
        if live is None:
            raise RouterError(f"VirtualRouter {ctx.namespace}/{ctx.names.apex} not found")
        return build.routes_of(live, ctx.names.primary, ctx.names.canary)

    async def finalize(self) -> None:
        """Nothing to hand back: the generated objects are collected with the Canary (as Flagger)."""
        route_context(self.canary, build.PROVIDER)
