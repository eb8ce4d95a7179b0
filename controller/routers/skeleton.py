"""The skeleton every route-object adapter shares: read, validate, write, hand back.

An adapter that splits traffic with one live route object (a VirtualService, an HTTPProxy, a
TrafficSplit, a canary Ingress...) subclasses :class:`RouteObjectRouter` and implements only what
differs:

- ``route_kind`` / ``route_api_version`` (or :meth:`route_name`): where the live object is;
- :meth:`routes_of`: the split the live object describes (``RouterError`` when it describes none);
- :meth:`write_routes`: build and apply the desired objects for a split;
- :meth:`check_supported`: refuse what the mesh cannot do, before anything is written;
- optionally :meth:`reconcile_dependencies` (objects the route needs first) and
  :meth:`hand_back` (what ``finalize`` does with a live route object).

The skeleton owns the invariants, so they cannot drift between adapters:

- the live route object is the source of truth: ``reconcile`` keeps the split it describes (or
  sends everything to the primary when there is none) and only ``set_routes`` changes it;
- ``set_routes`` refuses negative weights and a split that sends no traffic anywhere, mirroring on
  a router that cannot mirror, and a route object that ``reconcile`` has not created yet;
- API failures surface as ``RouterError`` naming the object, never as a raw API error;
- an object that existed before the Canary and is not owned by it is written without an
  ownerReference (:meth:`adopt`), so deleting the Canary never deletes it.

An adapter whose route object is one pure function of the Canary and the split subclasses
:class:`SplitRouter` and only names its module's functions (:class:`SplitFunctions`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from controller.kube import Kube, KubeError
from controller.routers.base import RouterError, Routes
from controller.routers.route_objects import (
    RouteContext,
    owned_by,
    route_context,
    split_or_all_primary,
    unsupported,
)

Obj = dict[str, Any]


def check_weights(primary_weight: int, canary_weight: int) -> None:
    """``RouterError`` unless both weights are non-negative and at least one is positive."""
    if primary_weight < 0 or canary_weight < 0 or primary_weight + canary_weight == 0:
        raise RouterError(
            f"invalid weights: primary={primary_weight} canary={canary_weight} "
            "(weights must not be negative, and some traffic must go somewhere)"
        )


class RouteObjectRouter(ABC):
    """Base of the adapters whose split lives in one route object (see the module docstring)."""

    provider: str = ""
    """The provider name used in messages and to read the Canary (``spec.provider``'s family)."""
    route_kind: str = ""
    route_api_version: str = ""
    route_namespaced: bool = True
    mirroring: bool = False
    """Whether ``set_routes`` may mirror traffic to the canary."""

    def __init__(self, kube: Kube, canary: Obj) -> None:
        self.kube = kube
        self.canary = canary

    # what an adapter implements -----------------------------------------------------------------
    @abstractmethod
    def routes_of(self, ctx: RouteContext, live: Obj) -> Routes:
        """The split the live route object describes; ``RouterError`` when it describes none."""

    @abstractmethod
    async def write_routes(self, ctx: RouteContext, live: Obj | None, weights: Routes) -> None:
        """Build the desired objects for ``weights`` and apply them (``live`` may be None)."""

    def check_supported(self, ctx: RouteContext) -> None:
        """Raise ``UnsupportedFeature`` for a Canary the mesh cannot serve (default: all served)."""
        return None

    def route_name(self, ctx: RouteContext) -> str:
        """The live route object's name (default: the apex Service's name)."""
        return ctx.names.apex

    async def reconcile_dependencies(self, ctx: RouteContext) -> None:
        """Objects the route object needs, written before it on every reconcile (default: none)."""
        return None

    async def hand_back(self, ctx: RouteContext, live: Obj) -> None:
        """What ``finalize`` does with the live route object (default: nothing; the generated
        objects are garbage-collected with the Canary, as in Flagger)."""
        return None

    # the Router port ---------------------------------------------------------------------------
    async def reconcile(self) -> None:
        ctx = self.context()
        await self.reconcile_dependencies(ctx)
        live = await self.live(ctx)
        await self.write_routes(ctx, live, split_or_all_primary(live, lambda obj: self.routes_of(ctx, obj)))

    async def set_routes(self, primary_weight: int, canary_weight: int, mirrored: bool) -> None:
        check_weights(primary_weight, canary_weight)
        ctx = self.context()
        if mirrored and not self.mirroring:
            raise unsupported(ctx, self.provider, "traffic mirroring")
        live = await self.live(ctx)
        if live is None:
            raise RouterError(f"{self.describe(ctx)} not found; reconcile first")
        await self.write_routes(ctx, live, Routes(primary_weight, canary_weight, mirrored))

    async def get_routes(self) -> Routes:
        ctx = self.read_context()
        live = await self.live(ctx)
        if live is None:
            raise RouterError(f"{self.describe(ctx)} not found")
        return self.routes_of(ctx, live)

    async def finalize(self) -> None:
        ctx = self.read_context()
        live = await self.live(ctx)
        if live is not None:
            await self.hand_back(ctx, live)

    # helpers for adapters ----------------------------------------------------------------------
    def read_context(self) -> RouteContext:
        """The Canary read for routing (an adapter whose mesh needs no ``spec.service`` overrides it)."""
        return route_context(self.canary, self.provider)

    def context(self) -> RouteContext:
        """The Canary read for routing, after :meth:`check_supported`."""
        ctx = self.read_context()
        self.check_supported(ctx)
        return ctx

    def describe(self, ctx: RouteContext) -> str:
        """``Kind namespace/name`` (``Kind name`` when cluster-scoped) of the live route object."""
        name = self.route_name(ctx)
        return (
            f"{self.route_kind} {ctx.namespace}/{name}"
            if self.route_namespaced
            else f"{self.route_kind} {name}"
        )

    async def live(self, ctx: RouteContext) -> Obj | None:
        namespace = ctx.namespace if self.route_namespaced else None
        return await self.get(self.route_api_version, self.route_kind, namespace, self.route_name(ctx))

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj | None:
        try:
            return await self.kube.get(api_version, kind, namespace, name)
        except KubeError as exc:
            raise RouterError(f"{kind} {_where(namespace, name)}: {exc}") from exc

    async def apply(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        try:
            return await self.kube.apply(obj)
        except KubeError as exc:
            raise RouterError(f"{obj['kind']} {_where(meta.get('namespace'), meta['name'])}: {exc}") from exc

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> None:
        try:
            await self.kube.delete(api_version, kind, namespace, name)
        except KubeError as exc:
            raise RouterError(f"{kind} {_where(namespace, name)}: {exc}") from exc

    @staticmethod
    def adopt(ctx: RouteContext, desired: Obj, live: Obj | None) -> Obj:
        """``desired`` without its ownerReferences when ``live`` exists and is not the Canary's:
        an adopted object is never garbage-collected with the Canary."""
        if live is not None and not owned_by(live, ctx.uid):
            desired["metadata"].pop("ownerReferences", None)
        return desired

    async def apply_adopting(self, ctx: RouteContext, desired: Obj, live: Obj | None = None) -> Obj:
        """Apply ``desired``, reading its live copy first unless given, keeping adopted objects
        free of ownerReferences."""
        meta = desired["metadata"]
        if live is None:
            live = await self.get(desired["apiVersion"], desired["kind"], meta.get("namespace"), meta["name"])
        return await self.apply(self.adopt(ctx, desired, live))

    async def source_object(
        self, ctx: RouteContext, api_version: str, kind: str, name: str, field: str
    ) -> Obj:
        """The object in the Canary's namespace a route is built from (e.g. the Ingress named by
        ``spec.ingressRef``); ``RouterError`` naming ``field`` when it is missing."""
        source = await self.get(api_version, kind, ctx.namespace, name)
        if source is None:
            raise RouterError(f"{kind} {ctx.namespace}/{name} ({field}) not found")
        return source

    async def delete_if_owned(self, ctx: RouteContext, live: Obj) -> None:
        """Delete the live route object when the Canary created it (a hand-back by deletion)."""
        if owned_by(live, ctx.uid):
            namespace = ctx.namespace if self.route_namespaced else None
            await self.delete(self.route_api_version, self.route_kind, namespace, self.route_name(ctx))


@dataclass(frozen=True)
class SplitFunctions:
    """The pure functions of an adapter's module that :class:`SplitRouter` calls."""

    check: Callable[[RouteContext], None]
    """Raise ``UnsupportedFeature`` for a Canary the mesh cannot serve."""
    read: Callable[[Obj, str, str], Routes]
    """The split a live object gives to (primary, canary) Services; ``RouterError`` when none."""
    build: Callable[[RouteContext, Routes], Obj]
    """The desired route object for a split (never mirrored)."""
    handover: Callable[[RouteContext], Obj] | None = None
    """What a route object the Canary owns becomes on ``finalize`` (None: it is left as it is)."""


class SplitRouter(RouteObjectRouter):
    """A route-object adapter made of its module's pure functions (``functions``)."""

    functions: ClassVar[SplitFunctions]
    adopts: ClassVar[bool] = False
    """Whether a route object that existed before the Canary is written without ownerReferences."""

    def check_supported(self, ctx: RouteContext) -> None:
        self.functions.check(ctx)

    def routes_of(self, ctx: RouteContext, live: Obj) -> Routes:
        return self.functions.read(live, ctx.names.primary, ctx.names.canary)

    async def write_routes(self, ctx: RouteContext, live: Obj | None, weights: Routes) -> None:
        desired = self.functions.build(ctx, Routes(weights.primary_weight, weights.canary_weight))
        await self.apply(self.adopt(ctx, desired, live) if self.adopts else desired)

    async def hand_back(self, ctx: RouteContext, live: Obj) -> None:
        if self.functions.handover is not None and owned_by(live, ctx.uid):
            await self.apply(self.functions.handover(ctx))


def _where(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name
