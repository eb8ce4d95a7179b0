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

from typing import Any

from controller.routers import appmesh_routes as build
from controller.routers.base import RouterError
from controller.routers.route_objects import (
    RouteContext,
)
from controller.routers.skeleton import SplitFunctions, SplitRouter
from controller.workloads.primary import selector_label

Obj = dict[str, Any]


class AppMeshRouter(SplitRouter):
    provider = build.PROVIDER
    route_kind = "VirtualRouter"
    route_api_version = build.API_VERSION
    functions = SplitFunctions(build.check_supported, build.routes_of, build.virtual_router)
    adopts = True

    async def _selector(self, ctx: RouteContext) -> tuple[str, str]:
        ref = ctx.canary.spec.target_ref
        target = await self.get(ref.api_version, ref.kind, ctx.namespace, ref.name)
        if target is None or ref.kind == "Service":
            return "app", ref.name
        try:
            return selector_label(target)
        except ValueError as exc:
            raise RouterError(str(exc)) from exc

    async def reconcile_dependencies(self, ctx: RouteContext) -> None:
        for node in build.virtual_nodes(ctx, await self._selector(ctx)):
            await self.apply_adopting(ctx, node)

    async def reconcile(self) -> None:
        await super().reconcile()
        ctx = self.context()
        await self.apply_adopting(ctx, build.virtual_service(ctx, ctx.names.apex))
        await self.apply_adopting(ctx, build.canary_virtual_router(ctx))
        await self.apply_adopting(ctx, build.virtual_service(ctx, ctx.names.canary))
