"""Pure builders and readers of the Istio objects generated for a Canary.

Generated, as Flagger does: DestinationRules ``<svc>-primary`` and ``<svc>-canary`` (host and
``spec.service.trafficPolicy``), and the VirtualService ``<svc>`` whose hosts are
``spec.service.hosts`` plus ``<svc>`` and whose gateways default to ``mesh``.

Route layouts of the VirtualService (``http``):
- canary / blue-green: one route ``primary=w1, canary=w2``; mirroring adds ``mirror`` (and
  ``mirrorPercentage`` from ``analysis.mirrorWeight``) to it;
- A/B testing (``analysis.match``): the matching requests go to a route with the weights, the
  rest to a route with the primary alone;
- session affinity: sticky routes (named ``sticky-route*``) come before the weighted route;
- ``appProtocol: tcp``: one ``tcp`` route with the weights (no matching, mirroring or cookies).

Invariants:
- the weighted route is the last route without a ``sticky-route`` name that has a destination
  ``<svc>-canary``; ``routes_of`` reads weights and mirroring from it and from nothing else;
- the unmatched-traffic route of A/B testing has the primary as its only destination, with
  weight 100 (Istio sends all traffic to a sole destination whatever its weight);
- a Canary asking for what Istio cannot express raises ``UnsupportedFeature`` in
  ``check_supported``, before anything is written.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from controller.routers.base import RouterError, Routes
from controller.routers.route_objects import (
    FLAGGER_ORIGINAL_CONFIGURATION,
    KUBECTL_LAST_APPLIED,
    ORIGINAL_CONFIGURATION,
    RouteContext,
    dump,
    header_value_match,
    object_metadata,
    unsupported,
)
from controller.routers.sticky_sessions import (
    CANARY_STICKY_ROUTE,
    PRIMARY_STICKY_ROUTE,
    SET_COOKIE,
    StickyCookies,
    cookie_regex,
    expire_cookie,
    parse_set_cookie,
    set_cookie,
)

Obj = dict[str, Any]

API_VERSION = "networking.istio.io/v1beta1"
PROVIDER = "istio"
COOKIE_HEADER = "cookie"  # Istio requires lowercase header keys in matches
_REWRITE_TYPES = (None, "ReplacePrefixMatch", "ReplaceFullPath")


def is_tcp(ctx: RouteContext) -> bool:
    return (ctx.service.app_protocol or "").lower() == "tcp"


def check_supported(ctx: RouteContext) -> None:
    svc, analysis = ctx.service, ctx.analysis
    if svc.gateway_refs:
        raise unsupported(ctx, PROVIDER, "spec.service.gatewayRefs (Gateway API); use spec.service.gateways")
    if svc.mirror:
        raise unsupported(ctx, PROVIDER, "spec.service.mirror (Gateway API RequestMirror filters)")
    if svc.backend_timeout:
        raise unsupported(
            ctx, PROVIDER, "spec.service.backendTimeout (Gateway API); use spec.service.timeout"
        )
    if svc.delegation and (svc.hosts or svc.gateways):
        raise unsupported(ctx, PROVIDER, "hosts or gateways on a delegate VirtualService (delegation: true)")
    if svc.rewrite is not None and svc.rewrite.type not in _REWRITE_TYPES:
        raise unsupported(ctx, PROVIDER, f"rewrite type {svc.rewrite.type!r}")
    affinity = analysis.session_affinity
    if affinity is not None and analysis.match:
        raise unsupported(ctx, PROVIDER, "sessionAffinity together with A/B testing (analysis.match)")
    if affinity is not None and affinity.primary_cookie_name == affinity.cookie_name:
        raise unsupported(ctx, PROVIDER, "the same cookie name for the canary and the primary")
    if is_tcp(ctx):
        for feature, used in (
            ("A/B matching (analysis.match)", bool(analysis.match)),
            ("session affinity", affinity is not None),
            ("mirroring", analysis.mirror),
        ):
            if used:
                raise unsupported(ctx, PROVIDER, f"{feature} on a TCP service (appProtocol: tcp)")


# -- DestinationRules --------------------------------------------------------------------------
def destination_rules(ctx: RouteContext) -> list[Obj]:
    rules = []
    for host in (ctx.names.canary, ctx.names.primary):
        spec: Obj = {"host": host}
        if ctx.service.traffic_policy is not None:
            spec["trafficPolicy"] = dump(ctx.service.traffic_policy)
        rules.append(
            {
                "apiVersion": API_VERSION,
                "kind": "DestinationRule",
                "metadata": object_metadata(ctx, host),
                "spec": spec,
            }
        )
    return rules


# -- VirtualService ----------------------------------------------------------------------------
def _hosts_and_gateways(ctx: RouteContext) -> Obj:
    if ctx.service.delegation:
        return {}
    hosts = list(ctx.service.hosts)
    if not any(h in (ctx.names.apex, "*") for h in hosts):
        hosts.append(ctx.names.apex)
    gateways = list(ctx.service.gateways) or ["mesh"]
    return {"hosts": hosts, "gateways": gateways}


def destination(ctx: RouteContext, host: str, weight: int) -> Obj:
    """A weighted destination; the port is set when ports are discovered behind a gateway."""
    svc = ctx.service
    behind_gateway = bool(svc.gateways) and svc.gateways[0] != "mesh"
    dest: Obj = {"host": host}
    if svc.port_discovery and (behind_gateway or svc.delegation):
        dest["port"] = {"number": svc.port}
    return {"destination": dest, "weight": weight}


def _rewrite(ctx: RouteContext) -> Obj | None:
    rewrite = ctx.service.rewrite
    if rewrite is None:
        return None
    out: Obj = {}
    if rewrite.authority:
        out["authority"] = rewrite.authority
    if rewrite.uri:
        if rewrite.type == "ReplaceFullPath":
            out["uriRegexRewrite"] = {"match": "^.*$", "rewrite": rewrite.uri}
        else:
            out["uri"] = rewrite.uri
    return out or None


def service_matches(ctx: RouteContext) -> list[Obj]:
    return [dump(m) for m in ctx.service.match]


def base_route(ctx: RouteContext) -> Obj:
    """The fields every generated HTTP route shares (all from ``spec.service``)."""
    svc = ctx.service
    route: Obj = {}
    if svc.match:
        route["match"] = service_matches(ctx)
    rewrite = _rewrite(ctx)
    if rewrite:
        route["rewrite"] = rewrite
    if svc.timeout:
        route["timeout"] = svc.timeout
    if svc.retries is not None:
        route["retries"] = dump(svc.retries)
    if svc.cors_policy is not None:
        route["corsPolicy"] = dump(svc.cors_policy)
    if svc.headers is not None:
        route["headers"] = dump(svc.headers)
    return route


def analysis_matches(ctx: RouteContext) -> list[Obj]:
    """``analysis.match`` as Istio HTTPMatchRequests (header suffixes become regexes)."""
    out = []
    for ab in ctx.analysis.match:
        match: Obj = {}
        if ab.headers:
            headers = {}
            for name, value in ab.headers.items():
                found = header_value_match(value)
                headers[name] = {found[0]: found[1]} if found else {}
            match["headers"] = headers
        if ab.query_params:
            match["queryParams"] = {k: dump(v) for k, v in ab.query_params.items()}
        if ab.source_labels:
            match["sourceLabels"] = dict(ab.source_labels)
        out.append(match)
    return out


def merge_matches(overrides: list[Obj], defaults: list[Obj]) -> list[Obj]:
    """Every override combined with every default match (the override's conditions win)."""
    if not defaults:
        return [copy.deepcopy(o) for o in overrides]
    merged = []
    for override in overrides:
        for default in defaults:
            merged.append({**copy.deepcopy(default), **copy.deepcopy(override)})
    return merged


def _with_response_cookie(dest: Obj, value: str) -> Obj:
    return {**dest, "headers": {"response": {"add": {SET_COOKIE: value}}}}


def _add_response_header(route: Obj, name: str, value: str) -> None:
    headers = route.setdefault("headers", {})
    response = headers.setdefault("response", {})
    response.setdefault("add", {})[name] = value


def _sticky_routes(ctx: RouteContext, weighted: Obj, weights: Routes, cookies: StickyCookies) -> list[Obj]:
    """Sticky routes plus the weighted route (whose destinations may set cookies)."""
    affinity = ctx.analysis.session_affinity
    assert affinity is not None
    names = ctx.names
    defaults = service_matches(ctx)
    routes: list[Obj] = []
    shared = {k: v for k, v in weighted.items() if k not in ("route", "mirror", "mirrorPercentage")}

    def cookie_match(cookie: str) -> list[Obj]:
        return merge_matches([{"headers": {COOKIE_HEADER: {"regex": cookie_regex(cookie)}}}], defaults)

    if cookies.canary is not None:
        canary_dest = _with_response_cookie(
            destination(ctx, names.canary, weights.canary_weight),
            set_cookie(cookies.canary, affinity, affinity.max_age),
        )
        primary_dest = destination(ctx, names.primary, weights.primary_weight)
        routes.append(
            {
                **copy.deepcopy(shared),
                "name": CANARY_STICKY_ROUTE,
                "match": cookie_match(cookies.canary),
                "route": [destination(ctx, names.primary, 0), destination(ctx, names.canary, 100)],
            }
        )
        if cookies.primary is not None:
            max_age = int(ctx.analysis.interval_seconds())
            primary_dest = _with_response_cookie(primary_dest, set_cookie(cookies.primary, affinity, max_age))
            routes.append(
                {
                    **copy.deepcopy(shared),
                    "name": PRIMARY_STICKY_ROUTE,
                    "match": cookie_match(cookies.primary),
                    "route": [destination(ctx, names.primary, 100), destination(ctx, names.canary, 0)],
                }
            )
        weighted = {**weighted, "route": [primary_dest, canary_dest]}
    elif cookies.expiring is not None:
        sticky = {
            **copy.deepcopy(shared),
            "name": CANARY_STICKY_ROUTE,
            "match": cookie_match(cookies.expiring),
            "route": copy.deepcopy(weighted["route"]),
        }
        _add_response_header(sticky, SET_COOKIE, expire_cookie(cookies.expiring))
        routes.append(sticky)
    return [*routes, weighted]


def http_routes(ctx: RouteContext, weights: Routes, cookies: StickyCookies) -> list[Obj]:
    names = ctx.names
    weighted: Obj = {
        **base_route(ctx),
        "route": [
            destination(ctx, names.primary, weights.primary_weight),
            destination(ctx, names.canary, weights.canary_weight),
        ],
    }
    if weights.mirrored:
        weighted["mirror"] = {"host": names.canary}
        if ctx.analysis.mirror_weight and ctx.analysis.mirror_weight > 0:
            weighted["mirrorPercentage"] = {"value": float(ctx.analysis.mirror_weight)}
    if ctx.analysis.match:
        weighted["match"] = merge_matches(analysis_matches(ctx), service_matches(ctx))
        rest = {**base_route(ctx), "route": [destination(ctx, names.primary, 100)]}
        return [weighted, rest]
    if ctx.analysis.session_affinity is not None:
        return _sticky_routes(ctx, weighted, weights, cookies)
    return [weighted]


def virtual_service(ctx: RouteContext, weights: Routes, cookies: StickyCookies) -> Obj:
    """The apex VirtualService with the given split."""
    spec: Obj = _hosts_and_gateways(ctx)
    names = ctx.names
    if is_tcp(ctx):
        if weights.mirrored:
            raise unsupported(ctx, PROVIDER, "mirroring on a TCP service (appProtocol: tcp)")
        tcp: Obj = {
            "route": [
                destination(ctx, names.primary, weights.primary_weight),
                destination(ctx, names.canary, weights.canary_weight),
            ]
        }
        ports = [{"port": m.port} for m in ctx.service.match if m.port]
        if ports:
            tcp["match"] = ports
        spec["tcp"] = [tcp]
    else:
        spec["http"] = http_routes(ctx, weights, cookies)
    return {
        "apiVersion": API_VERSION,
        "kind": "VirtualService",
        "metadata": object_metadata(ctx, names.apex, ctx.service.apex),
        "spec": spec,
    }


def handover_virtual_service(ctx: RouteContext) -> Obj:
    """The VirtualService that sends all traffic to the apex Service (used on finalize)."""
    spec: Obj = _hosts_and_gateways(ctx)
    to_apex = [destination(ctx, ctx.names.apex, 100)]
    if is_tcp(ctx):
        spec["tcp"] = [{"route": to_apex}]
    else:
        spec["http"] = [{**base_route(ctx), "route": to_apex}]
    return {
        "apiVersion": API_VERSION,
        "kind": "VirtualService",
        "metadata": object_metadata(ctx, ctx.names.apex, ctx.service.apex),
        "spec": spec,
    }


# -- reading the live object -------------------------------------------------------------------
def _weighted_route(vs: Obj, canary_host: str) -> Obj | None:
    spec = vs.get("spec") or {}
    found = None
    for route in [*(spec.get("http") or []), *(spec.get("tcp") or [])]:
        if str(route.get("name", "")).startswith(CANARY_STICKY_ROUTE):
            continue
        hosts = [d.get("destination", {}).get("host") for d in route.get("route") or []]
        if canary_host in hosts:
            found = route
    return found


def routes_of(vs: Obj, primary_host: str, canary_host: str) -> Routes:
    """The split of a live VirtualService; ``RouterError`` when it has no primary/canary route."""
    route = _weighted_route(vs, canary_host)
    name = f"{vs['metadata'].get('namespace')}/{vs['metadata']['name']}"
    if route is None:
        raise RouterError(f"VirtualService {name} has no route to {canary_host}")
    weights = {d.get("destination", {}).get("host"): int(d.get("weight", 0)) for d in route["route"]}
    primary, canary = weights.get(primary_host, 0), weights.get(canary_host, 0)
    if primary == 0 and canary == 0:
        raise RouterError(f"VirtualService {name} does not route to {primary_host} or {canary_host}")
    mirrors = [route.get("mirror") or {}, *[m.get("destination", {}) for m in route.get("mirrors") or []]]
    mirrored = any(m.get("host") == canary_host for m in mirrors)
    return Routes(primary, canary, mirrored)


def cookies_of(vs: Obj, primary_host: str, canary_host: str) -> StickyCookies:
    """The session-affinity cookies a live VirtualService sets."""
    canary = primary = expiring = None
    route = _weighted_route(vs, canary_host)
    for dest in (route or {}).get("route") or []:
        value = (((dest.get("headers") or {}).get("response") or {}).get("add") or {}).get(SET_COOKIE)
        if not value:
            continue
        cookie, max_age = parse_set_cookie(value)
        if max_age is not None and max_age > 0:
            host = dest.get("destination", {}).get("host")
            if host == canary_host:
                canary = cookie
            elif host == primary_host:
                primary = cookie
    for sticky in (vs.get("spec") or {}).get("http") or []:
        if sticky.get("name") != CANARY_STICKY_ROUTE:
            continue
        value = (((sticky.get("headers") or {}).get("response") or {}).get("add") or {}).get(SET_COOKIE)
        if value:
            cookie, max_age = parse_set_cookie(value)
            if max_age is not None and max_age < 0:
                expiring = cookie
    return StickyCookies(canary=canary, primary=primary, expiring=expiring)


def original_spec(vs: Obj) -> Obj | None:
    """The spec the VirtualService had before the canary adopted it, if one was recorded."""
    annotations = vs.get("metadata", {}).get("annotations") or {}
    if KUBECTL_LAST_APPLIED in annotations:
        try:
            applied = json.loads(annotations[KUBECTL_LAST_APPLIED])
        except ValueError as exc:
            raise RouterError(f"VirtualService {vs['metadata']['name']}: bad {KUBECTL_LAST_APPLIED}") from exc
        spec = applied.get("spec") if isinstance(applied, dict) else None
        return spec if isinstance(spec, dict) else None
    for key in (ORIGINAL_CONFIGURATION, FLAGGER_ORIGINAL_CONFIGURATION):
        if key in annotations:
            try:
                stored = json.loads(annotations[key])
            except ValueError as exc:
                raise RouterError(f"VirtualService {vs['metadata']['name']}: bad {key}") from exc
            return stored if isinstance(stored, dict) else None
    return None
