"""The ``contour`` provider: a Contour HTTPProxy ``<svc>`` (``projectcontour.io/v1``) per Canary.

The HTTPProxy has no virtual host: as in Flagger, a root HTTPProxy owned by the user
``includes`` it. Labels and annotations come from ``spec.service.apex`` (the place for
``projectcontour.io/ingress.class``). Each route sends traffic to ``<svc>-primary`` and
``<svc>-canary`` on ``spec.service.port``, each with the ``l5d-dst-override`` request header
Flagger sets for Linkerd, and carries:

- the condition ``prefix`` from ``spec.service.match[0].uri.prefix``, else ``/``;
- ``timeoutPolicy`` ``{response: <spec.service.timeout>, idle: 5m}`` when a timeout is set;
- ``retryPolicy`` ``{count, perTryTimeout, retryOn}`` from ``spec.service.retries``.

Route layouts: weighted (canary, blue/green) is one route with the weights. A/B testing is
one route per ``analysis.match`` entry (the prefix plus that entry's header and query
parameter conditions, which Contour ANDs) carrying the weights, then a route that sends
everything else to the primary.

Invariants:
- the weights are read from the first route (a weighted route in every layout); ``reconcile``
  keeps them and only ``set_routes`` changes them; both weights 0 is a ``RouterError``;
- mirroring, session affinity and ``sourceLabels`` matches raise ``UnsupportedFeature`` before
  anything is written (Flagger's Contour router has neither mirroring nor affinity);
- ``finalize`` points an HTTPProxy the Canary owns at the apex Service, so the root proxy's
  include keeps working until the HTTPProxy is garbage-collected with the Canary.
"""

from __future__ import annotations

from typing import Any

from controller.api.analysis import AbMatch
from controller.routers.base import RouterError, Routes
from controller.routers.route_objects import (
    RouteContext,
    header_value_match,
    object_metadata,
    prefix_regex,
    refuse_features,
    unsupported,
)
from controller.routers.skeleton import SplitFunctions, SplitRouter

Obj = dict[str, Any]

API_VERSION = "projectcontour.io/v1"
KIND = "HTTPProxy"
PROVIDER = "contour"
LINKERD_OVERRIDE = "l5d-dst-override"
IDLE_TIMEOUT = "5m"


def check_supported(ctx: RouteContext) -> None:
    refuse_features(ctx, PROVIDER)
    analysis = ctx.analysis
    if any(m.source_labels for m in analysis.match):
        raise unsupported(ctx, PROVIDER, "source label matches (analysis.match[].sourceLabels)")


def path_prefix(ctx: RouteContext) -> str:
    match = ctx.service.match
    if match and match[0].uri is not None and match[0].uri.prefix:
        return match[0].uri.prefix
    return "/"


def _string_condition(found: tuple[str, str] | None) -> Obj:
    """A Contour header/query condition body; prefixes become anchored regexes."""
    if found is None:
        return {"present": True}
    kind, value = found
    if kind == "prefix":
        return {"regex": prefix_regex(value)}
    return {kind: value}


def match_conditions(ctx: RouteContext, match: AbMatch) -> list[Obj]:
    conditions: list[Obj] = [{"prefix": path_prefix(ctx)}]
    for name, value in match.headers.items():
        conditions.append({"header": {"name": name, **_string_condition(header_value_match(value))}})
    for name, query in match.query_params.items():
        conditions.append({"queryParameter": {"name": name, **_string_condition(header_value_match(query))}})
    return conditions


def service(ctx: RouteContext, name: str, weight: int) -> Obj:
    override = f"{name}.{ctx.namespace}.svc.cluster.local:{ctx.service.port}"
    return {
        "name": name,
        "port": ctx.service.port,
        "weight": weight,
        "requestHeadersPolicy": {"set": [{"name": LINKERD_OVERRIDE, "value": override}]},
    }


def route(ctx: RouteContext, conditions: list[Obj], primary: int, canary: int) -> Obj:
    out: Obj = {"conditions": conditions}
    svc = ctx.service
    if svc.timeout:
        out["timeoutPolicy"] = {"response": svc.timeout, "idle": IDLE_TIMEOUT}
    if svc.retries is not None:
        retry: Obj = {}
        if svc.retries.attempts is not None:
            retry["count"] = svc.retries.attempts
        if svc.retries.per_try_timeout:
            retry["perTryTimeout"] = svc.retries.per_try_timeout
        if svc.retries.retry_on:
            retry["retryOn"] = [c.strip() for c in svc.retries.retry_on.split(",") if c.strip()]
        if retry:
            out["retryPolicy"] = retry
    out["services"] = [
        service(ctx, ctx.names.primary, primary),
        service(ctx, ctx.names.canary, canary),
    ]
    return out


def http_proxy(ctx: RouteContext, weights: Routes) -> Obj:
    """The HTTPProxy ``<svc>`` with the given split."""
    p, c = weights.primary_weight, weights.canary_weight
    if ctx.analysis.match:
        routes = [route(ctx, match_conditions(ctx, m), p, c) for m in ctx.analysis.match]
        routes.append(route(ctx, [{"prefix": path_prefix(ctx)}], 100, 0))
    else:
        routes = [route(ctx, [{"prefix": path_prefix(ctx)}], p, c)]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": object_metadata(ctx, ctx.names.apex, ctx.service.apex),
        "spec": {"routes": routes},
    }


def handover_proxy(ctx: RouteContext) -> Obj:
    """The HTTPProxy that sends all traffic to the apex Service (used on finalize)."""
    proxy = http_proxy(ctx, Routes(100, 0))
    only = route(ctx, [{"prefix": path_prefix(ctx)}], 100, 0)
    only["services"] = [service(ctx, ctx.names.apex, 100)]
    proxy["spec"] = {"routes": [only]}
    return proxy


def routes_of(proxy: Obj, primary: str, canary: str) -> Routes:
    name = f"{proxy['metadata'].get('namespace')}/{proxy['metadata']['name']}"
    routes = (proxy.get("spec") or {}).get("routes") or []
    if not routes:
        raise RouterError(f"HTTPProxy {name} has no routes")
    weights = {s.get("name"): int(s.get("weight", 0)) for s in routes[0].get("services") or []}
    if primary not in weights or canary not in weights:
        raise RouterError(f"HTTPProxy {name} does not route to {primary} and {canary}")
    if weights[primary] == 0 and weights[canary] == 0:
        raise RouterError(f"HTTPProxy {name} gives no weight to {primary} or {canary}")
    return Routes(weights[primary], weights[canary], False)


class ContourRouter(SplitRouter):
    provider = PROVIDER
    route_kind = KIND
    route_api_version = API_VERSION
    functions = SplitFunctions(check_supported, routes_of, http_proxy, handover_proxy)
