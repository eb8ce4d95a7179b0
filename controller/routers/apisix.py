"""The ``apisix`` provider: a weighted copy of an ApisixRoute (``apisix.apache.org/v2``).

``spec.routeRef`` names the ApisixRoute users already have, ``<route>``; it is never modified.
Its HTTP rule whose backend is the apex Service ``<svc>`` is copied into ``<route>-<svc>-canary``
with priority 10000 and two weighted backends, ``<svc>-primary`` (the original backend,
renamed) and ``<svc>-canary`` (same port, resolve granularity and subset), as Flagger's APISIX
router writes it. The copy keeps the labels and annotations of ``<route>``, without Flux's
``*toolkit.fluxcd.io*`` keys and ``kubectl.kubernetes.io/last-applied-configuration``.

Invariants:
- the live canary route is the source of truth: ``get_routes`` reads the two backend weights
  and ``reconcile`` keeps them; only ``set_routes`` changes them;
- every write rebuilds the canary route from the current ``<route>`` (server-side apply, field
  manager ``gitcanary``), so changes to ``<route>`` are carried over; stream (TCP/UDP) routes
  are not copied: only the HTTP rule is split;
- the rule to split must have exactly one backend; ``<route>`` without a rule for ``<svc>`` is
  a ``RouterError``;
- ``finalize`` deletes the canary route when the Canary owns it, so ``<route>`` takes all the
  traffic again;
- APISIX is split by weight only here: A/B matching, mirroring and session affinity, and a
  Canary without ``spec.routeRef``, raise ``UnsupportedFeature`` before anything is written.
"""

from __future__ import annotations

import copy
from typing import Any

from controller.api.service import ServiceMetadata
from controller.routers.base import RouterError, Routes
from controller.routers.route_objects import (
    KUBECTL_LAST_APPLIED,
    RouteContext,
    object_metadata,
    refuse_features,
    unsupported,
)
from controller.routers.skeleton import RouteObjectRouter

Obj = dict[str, Any]

PROVIDER = "apisix"
API_VERSION = "apisix.apache.org/v2"
KIND = "ApisixRoute"
MAX_PRIORITY = 10000
"""The priority of the copied rule, above the rule of ``<route>`` with the same match."""
_FLUX_MARKER = "toolkit.fluxcd.io"


def route_ref_name(ctx: RouteContext) -> str:
    ref = ctx.canary.spec.route_ref
    if ref is None or not ref.name:
        raise unsupported(ctx, PROVIDER, "a Canary without spec.routeRef (the ApisixRoute to split)")
    if ref.api_version != API_VERSION:
        raise unsupported(ctx, PROVIDER, f"spec.routeRef.apiVersion {ref.api_version!r} (use {API_VERSION})")
    return ref.name


def canary_route_name(ctx: RouteContext) -> str:
    return f"{route_ref_name(ctx)}-{ctx.names.apex}-canary"


def check_supported(ctx: RouteContext) -> None:
    route_ref_name(ctx)
    refuse_features(ctx, PROVIDER, ab_testing="the route splits by weight only")


def rule_index(route: Obj, service: str) -> int:
    """The index of the first HTTP rule of ``route`` with a backend ``service``."""
    for index, rule in enumerate((route.get("spec") or {}).get("http") or []):
        if any(b.get("serviceName") == service for b in rule.get("backends") or []):
            return index
    meta = route["metadata"]
    raise RouterError(
        f"ApisixRoute {meta.get('namespace')}/{meta['name']} has no HTTP rule with backend {service}"
    )


def _copied(values: dict[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (values or {}).items() if _FLUX_MARKER not in k and k != KUBECTL_LAST_APPLIED}


def canary_route(ctx: RouteContext, source: Obj, weights: Routes) -> Obj:
    """The ApisixRoute ``<route>-<svc>-canary`` built from ``source`` with the given split."""
    names = ctx.names
    meta = source["metadata"]
    if not (source.get("spec") or {}).get("http"):
        raise RouterError(f"ApisixRoute {meta.get('namespace')}/{meta['name']}: spec.http is empty")
    rule = copy.deepcopy(source["spec"]["http"][rule_index(source, names.apex)])
    backends = rule.get("backends") or []
    if len(backends) != 1:
        raise RouterError(
            f"ApisixRoute {meta.get('namespace')}/{meta['name']}: HTTP rule {rule.get('name')!r} "
            f"has {len(backends)} backends; only one is supported"
        )
    original = backends[0]
    canary_backend: Obj = {"serviceName": names.canary, "servicePort": original.get("servicePort")}
    for key in ("resolveGranularity", "subset"):
        if original.get(key):
            canary_backend[key] = original[key]
    canary_backend["weight"] = weights.canary_weight
    rule["priority"] = MAX_PRIORITY
    rule["backends"] = [
        {**original, "serviceName": names.primary, "weight": weights.primary_weight},
        canary_backend,
    ]
    spec = {k: copy.deepcopy(v) for k, v in source["spec"].items() if k not in ("http", "stream")}
    spec["http"] = [rule]
    extra = ServiceMetadata(labels=_copied(meta.get("labels")), annotations=_copied(meta.get("annotations")))
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": object_metadata(ctx, canary_route_name(ctx), extra),
        "spec": spec,
    }


def _weight(backend: Obj, route: Obj) -> int:
    value = backend.get("weight")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RouterError(
            f"ApisixRoute {route['metadata']['name']}: backend {backend.get('serviceName')} "
            f"has invalid weight {value!r}"
        )
    return value


def routes_of(route: Obj, primary: str, canary: str) -> Routes:
    """The split of a live canary route: the weights of the rule that has the ``primary`` backend."""
    rule = route["spec"]["http"][rule_index(route, primary)]
    weights = {b.get("serviceName"): _weight(b, route) for b in rule.get("backends") or []}
    primary_weight, canary_weight = weights.get(primary, 0), weights.get(canary, 0)
    if primary_weight == 0 and canary_weight == 0:
        raise RouterError(f"ApisixRoute {route['metadata']['name']} has no weight for {primary} or {canary}")
    return Routes(primary_weight, canary_weight, False)


class ApisixRouter(RouteObjectRouter):
    provider = PROVIDER
    route_kind = KIND
    route_api_version = API_VERSION

    def check_supported(self, ctx: RouteContext) -> None:
        check_supported(ctx)

    def route_name(self, ctx: RouteContext) -> str:
        return canary_route_name(ctx)

    def routes_of(self, ctx: RouteContext, live: Obj) -> Routes:
        return routes_of(live, ctx.names.primary, ctx.names.canary)

    async def write_routes(self, ctx: RouteContext, live: Obj | None, weights: Routes) -> None:
        source = await self.source_object(ctx, API_VERSION, KIND, route_ref_name(ctx), "spec.routeRef")
        await self.apply(canary_route(ctx, source, Routes(weights.primary_weight, weights.canary_weight)))

    async def hand_back(self, ctx: RouteContext, live: Obj) -> None:
        await self.delete_if_owned(ctx, live)
