"""The ``keda-http`` provider: the Gateway API HTTPRoute, entering through the KEDA HTTP interceptor.

This is the Gateway API router (``gatewayapi``) composed with ``keda_http_backends``: the route is
built, read and weighted by ``GatewayAPIRouter`` exactly as for ``gatewayapi:v1``; only its
backends are swapped for the KEDA HTTP add-on's interceptor proxies on the way out, and swapped
back on the way in. The interceptor holds requests while a workload scales from zero, and the
HTTPScaledObjects (the target's, and the primary's copy made by ``controller.scalers.keda_http``)
scale the canary and the primary to and from zero on their traffic.

This is what the seed tutorial (Flagger with ``meshProvider: gatewayapi:v1`` and an
``autoscalerRef`` of kind HTTPScaledObject) needs; ``wants_interceptor`` tells the registry when a
``gatewayapi`` Canary should be served by this router.

Invariants:
- a Canary without ``autoscalerRef`` kind HTTPScaledObject is an ``UnsupportedFeature`` (there
  would be no HTTPScaledObject for the interceptor to route to), raised before any write;
- with ``primaryScalingSet``, the scaling set must exist (its interceptor's proxy port is read from
  it); a missing one is a ``RouterError``;
- cross-namespace backends (the interceptors live in the add-on's namespace) need a
  ReferenceGrant there; the router never writes outside the Canary's namespace;
- everything else (A/B, mirroring, session affinity, ``get_routes`` refusing a split its parents
  have not accepted, ``finalize``) is the Gateway API router's behaviour.
"""

from __future__ import annotations

from typing import Any

from controller.api.parsed import parsed_or_none
from controller.kube import Kube, KubeError
from controller.routers import gatewayapi_routes as build
from controller.routers import keda_http_backends as backends
from controller.routers.base import RouterError, provider_of
from controller.routers.gatewayapi import GatewayAPIRouter
from controller.routers.route_objects import RouteContext, route_context, unsupported
from controller.scalers.keda_http import KIND as HTTP_SCALED_OBJECT
from controller.scalers.keda_http import resolve_api_version

Obj = dict[str, Any]

PROVIDER = "keda-http"


def wants_interceptor(canary: Obj) -> bool:
    """A ``gatewayapi`` (or ``keda-http``) Canary whose autoscaler is an HTTPScaledObject."""
    parsed = parsed_or_none(canary)
    if parsed is None:
        # The deletion finalizer picks the router of an invalid Canary too: read the kind as
        # written, as it always did.
        kind = ((canary.get("spec") or {}).get("autoscalerRef") or {}).get("kind")
    else:
        kind = parsed.spec.autoscaler_ref.kind if parsed.spec.autoscaler_ref else None
    name = provider_of(canary).split(":", 1)[0]
    return kind == HTTP_SCALED_OBJECT and name in ("gatewayapi", PROVIDER)


class KedaHTTPRouter(GatewayAPIRouter):
    def __init__(self, kube: Kube, canary: Obj) -> None:
        super().__init__(kube, canary)
        provider = provider_of(canary)
        self.versioned_provider = (
            provider if provider in build.VERSIONS and provider != "gatewayapi" else "gatewayapi:v1"
        )

    def check_supported(self, ctx: RouteContext) -> None:
        super().check_supported(ctx)
        ref = ctx.canary.spec.autoscaler_ref
        if ref is None or ref.kind != HTTP_SCALED_OBJECT:
            raise unsupported(ctx, PROVIDER, "a Canary without spec.autoscalerRef of kind HTTPScaledObject")

    async def _interceptors(self, ctx: RouteContext) -> backends.Interceptors:
        try:
            addon = backends.default_interceptor(ctx.canary.metadata.annotations)
        except ValueError as exc:
            raise RouterError(str(exc)) from None
        ref = ctx.canary.spec.autoscaler_ref
        scaling_set = ref.primary_scaling_set if ref is not None else None
        if scaling_set is None:
            return backends.Interceptors(primary=addon, canary=addon)
        kind = scaling_set.kind or "HTTPScalingSet"
        group = resolve_api_version(ref.api_version if ref else None)[0]
        namespace = None if kind == "ClusterHTTPScalingSet" else ctx.namespace
        try:
            obj = await self.kube.get(group, kind, namespace, scaling_set.name)
        except KubeError as exc:
            raise RouterError(f"{kind} {scaling_set.name}: {exc}") from exc
        if obj is None:
            raise RouterError(f"{kind} {scaling_set.name} (autoscalerRef.primaryScalingSet) not found")
        primary = backends.scaling_set_interceptor(kind, scaling_set.name, ctx.namespace, addon, obj)
        return backends.Interceptors(primary=primary, canary=addon)

    async def live(self, ctx: RouteContext) -> Obj | None:
        live = await super().live(ctx)
        if live is None:
            return None
        interceptors = await self._interceptors(ctx)
        return backends.to_services(live, ctx.names, ctx.service.port, interceptors)

    async def apply(self, obj: Obj) -> Obj:
        ctx = route_context(self.canary, PROVIDER)
        interceptors = await self._interceptors(ctx)
        return await super().apply(backends.to_interceptors(obj, ctx.names, interceptors))
