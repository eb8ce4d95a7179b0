"""Pure builders and readers of the Gloo Edge objects generated for a Canary.

Generated, as Flagger's Gloo router does:
- Upstreams (``gloo.solo.io/v1``) ``<ns>-<svc>-primaryupstream-<port>`` and
  ``<ns>-<svc>-canaryupstream-<port>``: a ``kube`` upstream on the ``<svc>-primary`` /
  ``<svc>-canary`` Service (its selector, ``spec.service.port``). With ``spec.upstreamRef`` the
  connection settings of that Upstream (TLS, circuit breakers, connection, load balancing,
  HTTP/2, window sizes, proxy hostname) are copied into both;
- RouteTable (``gateway.solo.io/v1``) ``<svc>``: a route with ``inheritablePathMatchers: true``
  whose ``routeAction.multi`` is weighted between the two Upstreams. With A/B testing
  (``analysis.match``) that route gets one matcher per condition (Gloo ORs matchers) and a
  second route sends everything else to the primary Upstream.

Invariants:
- the weighted route is the first route with a destination on the canary Upstream;
  ``routes_of`` reads both weights from it and nothing else;
- header prefixes and suffixes become anchored regexes; ``sourceLabels``, mirroring and session
  affinity raise ``UnsupportedFeature`` before anything is written.

Pure module: no I/O.
"""

from __future__ import annotations

import copy
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

Obj = dict[str, Any]

GATEWAY_API_VERSION = "gateway.solo.io/v1"
GLOO_API_VERSION = "gloo.solo.io/v1"
PROVIDER = "gloo"
# Upstream fields copied from spec.upstreamRef, as Flagger does.
COPIED_UPSTREAM_FIELDS = (
    "sslConfig",
    "circuitBreakers",
    "connectionConfig",
    "loadBalancerConfig",
    "useHttp2",
    "initialStreamWindowSize",
    "initialConnectionWindowSize",
    "httpProxyHostname",
)


def check_supported(ctx: RouteContext) -> None:
    refuse_features(ctx, PROVIDER)
    analysis = ctx.analysis
    if ctx.service.gateway_refs or ctx.service.mirror:
        raise unsupported(ctx, PROVIDER, "spec.service.gatewayRefs / spec.service.mirror (Gateway API)")
    for ab in analysis.match:
        if ab.source_labels:
            raise unsupported(ctx, PROVIDER, "sourceLabels in analysis.match")
        if not ab.headers and not ab.query_params:
            raise unsupported(ctx, PROVIDER, "an empty analysis.match condition")


def upstream_names(ctx: RouteContext) -> tuple[str, str]:
    """(primary, canary) Upstream names."""
    base = f"{ctx.namespace}-{ctx.names.apex}"
    port = ctx.service.port
    return f"{base}-primaryupstream-{port}", f"{base}-canaryupstream-{port}"


def upstream(ctx: RouteContext, name: str, service: Obj, template: Obj | None) -> Obj:
    """The Upstream ``name`` on ``service`` (a live Service), with ``template``'s settings."""
    spec: Obj = {}
    for field in COPIED_UPSTREAM_FIELDS:
        if template and field in (template.get("spec") or {}):
            spec[field] = copy.deepcopy(template["spec"][field])
    kube: Obj = {
        "serviceName": service["metadata"]["name"],
        "serviceNamespace": ctx.namespace,
        "servicePort": ctx.service.port,
    }
    selector = (service.get("spec") or {}).get("selector")
    if selector:
        kube["selector"] = dict(selector)
    spec["kube"] = kube
    return {
        "apiVersion": GLOO_API_VERSION,
        "kind": "Upstream",
        "metadata": object_metadata(ctx, name),
        "spec": spec,
    }


def _header_matcher(name: str, kind: str, value: str) -> Obj:
    if kind == "exact":
        return {"name": name, "value": value}
    if kind == "prefix":
        return {"name": name, "value": prefix_regex(value), "regex": True}
    return {"name": name, "value": value, "regex": True}


def matcher(ab: AbMatch) -> Obj:
    out: Obj = {}
    headers = []
    for name, value in ab.headers.items():
        found = header_value_match(value)
        headers.append(_header_matcher(name, *found) if found else {"name": name})
    if headers:
        out["headers"] = headers
    params = []
    for name, param in ab.query_params.items():
        found = header_value_match(param)
        params.append(_header_matcher(name, *found) if found else {"name": name})
    if params:
        out["queryParameters"] = params
    return out


def _destination(ctx: RouteContext, name: str, weight: int) -> Obj:
    return {"destination": {"upstream": {"name": name, "namespace": ctx.namespace}}, "weight": weight}


def route_table(ctx: RouteContext, weights: Routes) -> Obj:
    primary, canary = upstream_names(ctx)
    weighted: Obj = {
        "inheritablePathMatchers": True,
        "routeAction": {
            "multi": {
                "destinations": [
                    _destination(ctx, primary, weights.primary_weight),
                    _destination(ctx, canary, weights.canary_weight),
                ]
            }
        },
    }
    routes = [weighted]
    if ctx.analysis.match:
        weighted["matchers"] = [matcher(ab) for ab in ctx.analysis.match]
        routes.append(
            {
                "inheritablePathMatchers": True,
                "routeAction": {"single": {"upstream": {"name": primary, "namespace": ctx.namespace}}},
            }
        )
    return {
        "apiVersion": GATEWAY_API_VERSION,
        "kind": "RouteTable",
        "metadata": object_metadata(ctx, ctx.names.apex),
        "spec": {"routes": routes},
    }


def routes_of(table: Obj, primary: str, canary: str) -> Routes:
    """The split of a live RouteTable; ``RouterError`` when no route reaches the canary Upstream."""
    meta = table.get("metadata", {})
    for route in (table.get("spec") or {}).get("routes") or []:
        destinations = (((route.get("routeAction") or {}).get("multi") or {}).get("destinations")) or []
        weights = {
            ((d.get("destination") or {}).get("upstream") or {}).get("name"): int(d.get("weight", 0))
            for d in destinations
        }
        if canary in weights and weights.get(primary, 0) + weights[canary] > 0:
            return Routes(weights.get(primary, 0), weights[canary], False)
    raise RouterError(
        f"RouteTable {meta.get('namespace')}/{meta.get('name')} has no weighted route to {primary} and {canary}"
    )
