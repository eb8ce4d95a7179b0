"""Pure builders and readers of the Gateway API HTTPRoute generated for a Canary.

Generated, as Flagger does: the HTTPRoute ``<svc>`` with ``parentRefs`` from
``spec.service.gatewayRefs``, ``hostnames`` from ``spec.service.hosts``, and rules whose
``backendRefs`` are the ``<svc>-primary`` and ``<svc>-canary`` Services on ``spec.service.port``.

Rule layouts:
- canary / blue-green: one weighted rule; mirroring adds a ``RequestMirror`` filter to the canary
  Service (with ``percent`` from ``analysis.mirrorWeight``);
- A/B testing (``analysis.match``): the matching requests go to the weighted rule, the rest to a
  rule with the primary alone;
- session affinity: sticky rules (matching the ``Cookie`` header) come before the weighted rule,
  whose backends set the cookies with ``ResponseHeaderModifier`` filters.

Every rule carries the ``spec.service`` filters (request/response headers, URL rewrite, CORS,
``spec.service.mirror``) and timeouts (``timeout`` -> request, ``backendTimeout`` -> backendRequest).

Invariants:
- sticky rules are recognised by their ``Cookie`` regex header match; the weighted rule is the
  last other rule with both backends, and ``routes_of`` reads the split from it only;
- matches and filters come from ``gatewayapi_spec``, which rejects what Gateway API cannot
  express with ``UnsupportedFeature``.
"""

from __future__ import annotations

from typing import Any

from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.gatewayapi_spec import PROVIDER as PROVIDER
from controller.routers.gatewayapi_spec import (
    add_response_header,
    analysis_matches,
    merge_matches,
    rule_filters,
    service_matches,
)
from controller.routers.route_objects import RouteContext, object_metadata, unsupported
from controller.routers.sticky_sessions import (
    SET_COOKIE,
    StickyCookies,
    cookie_regex,
    expire_cookie,
    parse_set_cookie,
    set_cookie,
)

Obj = dict[str, Any]

GROUP = "gateway.networking.k8s.io"
VERSIONS = {"gatewayapi": "v1", "gatewayapi:v1": "v1", "gatewayapi:v1beta1": "v1beta1"}
COOKIE_HEADER = "Cookie"


def api_version(provider: str) -> str:
    version = VERSIONS.get(provider)
    if version is None:
        raise UnsupportedFeature(f"provider {provider!r}: use gatewayapi:v1 or gatewayapi:v1beta1")
    return f"{GROUP}/{version}"


def check_supported(ctx: RouteContext, provider: str) -> None:
    svc, analysis = ctx.service, ctx.analysis
    if provider not in VERSIONS:
        raise unsupported(ctx, PROVIDER, f"provider {provider!r}; use gatewayapi:v1 or gatewayapi:v1beta1")
    if not svc.gateway_refs:
        raise unsupported(ctx, PROVIDER, "an HTTPRoute without parents: set spec.service.gatewayRefs")
    for feature, used in (
        ("spec.service.retries (not in the Gateway API standard channel)", svc.retries is not None),
        ("spec.service.trafficPolicy (Istio DestinationRules)", svc.traffic_policy is not None),
        ("spec.service.gateways (Istio gateways); use spec.service.gatewayRefs", bool(svc.gateways)),
        ("spec.service.delegation (Istio delegate VirtualServices)", svc.delegation),
        (
            "TCP services (appProtocol: tcp); HTTPRoute is HTTP only",
            (svc.app_protocol or "").lower() == "tcp",
        ),
        ("sourceLabels in analysis.match", any(m.source_labels for m in analysis.match)),
        (
            "sessionAffinity together with A/B testing (analysis.match)",
            analysis.session_affinity is not None and bool(analysis.match),
        ),
    ):
        if used:
            raise unsupported(ctx, PROVIDER, feature)
    affinity = analysis.session_affinity
    if affinity is not None and affinity.primary_cookie_name == affinity.cookie_name:
        raise unsupported(ctx, PROVIDER, "the same cookie name for the canary and the primary")
    # Translating the matches and filters raises on anything else that cannot be expressed.
    service_matches(ctx)
    analysis_matches(ctx)
    rule_filters(ctx)


# -- rules -------------------------------------------------------------------------------------
def backend(ctx: RouteContext, name: str, weight: int) -> Obj:
    return {"group": "", "kind": "Service", "name": name, "port": ctx.service.port, "weight": weight}


def _rule(ctx: RouteContext, matches: list[Obj], backends: list[Obj]) -> Obj:
    rule: Obj = {"matches": matches}
    filters = rule_filters(ctx)
    if filters:
        rule["filters"] = filters
    rule["backendRefs"] = backends
    timeouts = {}
    if ctx.service.timeout:
        timeouts["request"] = ctx.service.timeout
    if ctx.service.backend_timeout:
        timeouts["backendRequest"] = ctx.service.backend_timeout
    if timeouts:
        rule["timeouts"] = timeouts
    return rule


def _cookie_match(cookie: str) -> Obj:
    return {"headers": [{"name": COOKIE_HEADER, "type": "RegularExpression", "value": cookie_regex(cookie)}]}


def _with_cookie(backend_ref: Obj, value: str) -> Obj:
    header = {"add": [{"name": SET_COOKIE, "value": value}]}
    return {**backend_ref, "filters": [{"type": "ResponseHeaderModifier", "responseHeaderModifier": header}]}


def _sticky_rules(ctx: RouteContext, weighted: Obj, weights: Routes, cookies: StickyCookies) -> list[Obj]:
    affinity = ctx.analysis.session_affinity
    assert affinity is not None
    names, defaults = ctx.names, service_matches(ctx)
    rules: list[Obj] = []
    if cookies.canary is not None:
        primary_ref = backend(ctx, names.primary, weights.primary_weight)
        canary_ref = _with_cookie(
            backend(ctx, names.canary, weights.canary_weight),
            set_cookie(cookies.canary, affinity, affinity.max_age),
        )
        sticky = [backend(ctx, names.primary, 0), backend(ctx, names.canary, 100)]
        rules.append(_rule(ctx, merge_matches([_cookie_match(cookies.canary)], defaults), sticky))
        if cookies.primary is not None:
            max_age = int(ctx.analysis.interval_seconds())
            primary_ref = _with_cookie(primary_ref, set_cookie(cookies.primary, affinity, max_age))
            sticky = [backend(ctx, names.primary, 100), backend(ctx, names.canary, 0)]
            rules.append(_rule(ctx, merge_matches([_cookie_match(cookies.primary)], defaults), sticky))
        weighted = {**weighted, "backendRefs": [primary_ref, canary_ref]}
    elif cookies.expiring is not None:
        backends = [
            backend(ctx, names.primary, weights.primary_weight),
            backend(ctx, names.canary, weights.canary_weight),
        ]
        expiring = _rule(ctx, merge_matches([_cookie_match(cookies.expiring)], defaults), backends)
        add_response_header(expiring, SET_COOKIE, expire_cookie(cookies.expiring))
        rules.append(expiring)
    return [*rules, weighted]


def rules(ctx: RouteContext, weights: Routes, cookies: StickyCookies) -> list[Obj]:
    names = ctx.names
    backends = [
        backend(ctx, names.primary, weights.primary_weight),
        backend(ctx, names.canary, weights.canary_weight),
    ]
    weighted = _rule(ctx, service_matches(ctx), backends)
    if weights.mirrored:
        mirror: Obj = {
            "backendRef": {"group": "", "kind": "Service", "name": names.canary, "port": ctx.service.port}
        }
        if ctx.analysis.mirror_weight and ctx.analysis.mirror_weight > 0:
            mirror["percent"] = min(ctx.analysis.mirror_weight, 100)
        weighted.setdefault("filters", []).append({"type": "RequestMirror", "requestMirror": mirror})
    if ctx.analysis.match:
        weighted["matches"] = merge_matches(analysis_matches(ctx), service_matches(ctx))
        return [weighted, _rule(ctx, service_matches(ctx), [backend(ctx, names.primary, 100)])]
    if ctx.analysis.session_affinity is not None:
        return _sticky_rules(ctx, weighted, weights, cookies)
    return [weighted]


def _parent_refs(ctx: RouteContext) -> list[Obj]:
    return [ref.model_dump(by_alias=True, exclude_none=True, mode="json") for ref in ctx.service.gateway_refs]


def _route(ctx: RouteContext, provider: str, route_rules: list[Obj]) -> Obj:
    spec: Obj = {"parentRefs": _parent_refs(ctx)}
    if ctx.service.hosts:
        spec["hostnames"] = list(ctx.service.hosts)
    spec["rules"] = route_rules
    return {
        "apiVersion": api_version(provider),
        "kind": "HTTPRoute",
        "metadata": object_metadata(ctx, ctx.names.apex, ctx.service.apex),
        "spec": spec,
    }


def http_route(ctx: RouteContext, provider: str, weights: Routes, cookies: StickyCookies) -> Obj:
    """The apex HTTPRoute with the given split."""
    return _route(ctx, provider, rules(ctx, weights, cookies))


def handover_route(ctx: RouteContext, provider: str) -> Obj:
    """The HTTPRoute that sends all traffic to the apex Service (used on finalize)."""
    return _route(ctx, provider, [_rule(ctx, service_matches(ctx), [backend(ctx, ctx.names.apex, 100)])])


# -- reading the live object -------------------------------------------------------------------
def _is_sticky(rule: Obj) -> bool:
    return any(
        h.get("name", "").lower() == "cookie" and h.get("type") == "RegularExpression"
        for m in rule.get("matches") or []
        for h in m.get("headers") or []
    )


def _weighted_rule(route: Obj, primary: str, canary: str) -> Obj | None:
    found = None
    for rule in (route.get("spec") or {}).get("rules") or []:
        names = {b.get("name") for b in rule.get("backendRefs") or []}
        if not _is_sticky(rule) and {primary, canary} <= names:
            found = rule
    return found


def routes_of(route: Obj, primary: str, canary: str) -> Routes:
    """The split of a live HTTPRoute; ``RouterError`` when it has no primary/canary rule."""
    rule = _weighted_rule(route, primary, canary)
    name = f"{route['metadata'].get('namespace')}/{route['metadata']['name']}"
    if rule is None:
        raise RouterError(f"HTTPRoute {name} has no rule with backends {primary} and {canary}")
    weights = {b.get("name"): int(b.get("weight", 1)) for b in rule["backendRefs"]}
    mirrored = any(
        f.get("type") == "RequestMirror"
        and (f.get("requestMirror") or {}).get("backendRef", {}).get("name") == canary
        for r in (route.get("spec") or {}).get("rules") or []
        for f in r.get("filters") or []
    )
    return Routes(weights[primary], weights[canary], mirrored)


def _set_cookies(filters: list[Obj]) -> list[str]:
    return [
        h["value"]
        for f in filters
        if f.get("type") == "ResponseHeaderModifier"
        for h in (f.get("responseHeaderModifier") or {}).get("add") or []
        if h.get("name", "").lower() == SET_COOKIE.lower()
    ]


def cookies_of(route: Obj, primary: str, canary: str) -> StickyCookies:
    """The session-affinity cookies a live HTTPRoute sets."""
    found: dict[str, str | None] = {"canary": None, "primary": None, "expiring": None}
    for ref in (_weighted_rule(route, primary, canary) or {}).get("backendRefs") or []:
        for value in _set_cookies(ref.get("filters") or []):
            cookie, max_age = parse_set_cookie(value)
            if max_age is not None and max_age > 0 and ref.get("name") in (primary, canary):
                found["canary" if ref.get("name") == canary else "primary"] = cookie
    for rule in (route.get("spec") or {}).get("rules") or []:
        if _is_sticky(rule):
            for value in _set_cookies(rule.get("filters") or []):
                cookie, max_age = parse_set_cookie(value)
                if max_age is not None and max_age < 0:
                    found["expiring"] = cookie
    return StickyCookies(**found)


def _parent_key(ref: Obj, namespace: str) -> tuple[Any, ...]:
    return (
        ref.get("group", GROUP) or GROUP,
        ref.get("kind", "Gateway") or "Gateway",
        ref.get("namespace") or namespace,
        ref.get("name"),
        ref.get("sectionName"),
        ref.get("port"),
    )


def parents_not_ready(route: Obj) -> str | None:
    """Why a parent has not accepted the current generation of the route, or ``None``."""
    meta = route["metadata"]
    namespace, generation = meta.get("namespace", ""), int(meta.get("generation", 0))
    wanted = {_parent_key(ref, namespace) for ref in (route.get("spec") or {}).get("parentRefs") or []}
    for parent in (route.get("status") or {}).get("parents") or []:
        ref = parent.get("parentRef") or {}
        if _parent_key(ref, namespace) not in wanted:
            continue
        for cond in parent.get("conditions") or []:
            observed = int(cond.get("observedGeneration", 0))
            if cond.get("type") == "Accepted" and (cond.get("status") != "True" or observed < generation):
                return (
                    f"HTTPRoute {namespace}/{meta['name']} parent {ref.get('name')} is not ready "
                    f"(status: {cond.get('status')}, observed generation: {observed}, generation: {generation})"
                )
    return None
