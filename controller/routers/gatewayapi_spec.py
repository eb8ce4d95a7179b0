"""``spec.service`` and ``analysis.match`` translated into Gateway API matches and filters.

Invariants:
- Istio-style match conditions are translated exactly or rejected: a header or query prefix or
  suffix becomes an anchored regular expression; anything Gateway API cannot express
  (authority, scheme, port, sourceLabels, a non-exact method, ...) raises ``UnsupportedFeature``;
- the generated filters never repeat a filter type that the HTTPRoute schema allows only once.

Pure module: no I/O.
"""

from __future__ import annotations

import copy
from typing import Any

from controller.api.duration import parse_duration
from controller.api.service import HeaderOperation, HttpMatchRequest, StringMatch
from controller.routers.route_objects import (
    RouteContext,
    header_value_match,
    prefix_regex,
    unsupported,
)

Obj = dict[str, Any]

PROVIDER = "gatewayapi"
_MATCH_FIELDS_SUPPORTED = {"uri", "method", "headers", "query_params", "name"}


# -- matches -----------------------------------------------------------------------------------
def _value_match(ctx: RouteContext, what: str, name: str, value: Any) -> Obj:
    found = header_value_match(value)
    if found is None:
        raise unsupported(ctx, PROVIDER, f"a {what} match on {name!r} without exact, prefix or regex")
    kind, text = found
    if kind == "exact":
        return {"name": name, "type": "Exact", "value": text}
    if kind == "prefix":
        text = prefix_regex(text)
    return {"name": name, "type": "RegularExpression", "value": text}


def _path_match(ctx: RouteContext, uri: StringMatch) -> Obj:
    if uri.regex is not None:
        return {"type": "RegularExpression", "value": uri.regex}
    if uri.exact is not None:
        return {"type": "Exact", "value": uri.exact}
    if uri.prefix is not None:
        return {"type": "PathPrefix", "value": uri.prefix}
    raise unsupported(ctx, PROVIDER, "a uri match without exact, prefix or regex")


def _route_match(ctx: RouteContext, request: HttpMatchRequest) -> Obj:
    extra = sorted(f for f in request.model_fields_set - _MATCH_FIELDS_SUPPORTED if getattr(request, f))
    if extra:
        raise unsupported(ctx, PROVIDER, f"spec.service.match fields {', '.join(extra)}")
    match: Obj = {}
    if request.uri is not None:
        match["path"] = _path_match(ctx, request.uri)
    if request.method is not None:
        if request.method.exact is None:
            raise unsupported(ctx, PROVIDER, "a method match other than exact")
        match["method"] = request.method.exact
    if request.headers:
        match["headers"] = [_value_match(ctx, "header", k, v) for k, v in request.headers.items()]
    if request.query_params:
        match["queryParams"] = [_value_match(ctx, "query", k, v) for k, v in request.query_params.items()]
    return match


def service_matches(ctx: RouteContext) -> list[Obj]:
    """``spec.service.match`` as HTTPRouteMatches; ``PathPrefix /`` when there is none."""
    matches = [m for m in (_route_match(ctx, r) for r in ctx.service.match) if m]
    return matches or [{"path": {"type": "PathPrefix", "value": "/"}}]


def analysis_matches(ctx: RouteContext) -> list[Obj]:
    out = []
    for ab in ctx.analysis.match:
        match: Obj = {}
        if ab.headers:
            match["headers"] = [_value_match(ctx, "header", k, v) for k, v in ab.headers.items()]
        if ab.query_params:
            match["queryParams"] = [_value_match(ctx, "query", k, v) for k, v in ab.query_params.items()]
        if match:
            out.append(match)
    return out


def merge_matches(overrides: list[Obj], defaults: list[Obj]) -> list[Obj]:
    """Every override combined with every default match (the override's headers/query win)."""
    if not overrides:
        return copy.deepcopy(defaults)
    if not defaults:
        return copy.deepcopy(overrides)
    return [{**copy.deepcopy(d), **copy.deepcopy(o)} for o in overrides for d in defaults]


# -- filters -----------------------------------------------------------------------------------
def _header_modifier(op: HeaderOperation) -> Obj:
    modifier: Obj = {}
    if op.add:
        modifier["add"] = [{"name": k, "value": v} for k, v in sorted(op.add.items())]
    if op.set:
        modifier["set"] = [{"name": k, "value": v} for k, v in sorted(op.set.items())]
    if op.remove:
        modifier["remove"] = list(op.remove)
    return modifier


def _cors_filter(ctx: RouteContext) -> Obj:
    cors = ctx.service.cors_policy
    assert cors is not None
    origins = list(cors.allow_origin)
    for origin in cors.allow_origins:
        if origin.exact is None:
            raise unsupported(ctx, PROVIDER, "corsPolicy.allowOrigins other than exact")
        origins.append(origin.exact)
    out: Obj = {}
    if origins:
        out["allowOrigins"] = origins
    if cors.allow_credentials is not None:
        out["allowCredentials"] = cors.allow_credentials
    for key, values in (
        ("allowMethods", cors.allow_methods),
        ("allowHeaders", cors.allow_headers),
        ("exposeHeaders", cors.expose_headers),
    ):
        if values:
            out[key] = list(values)
    if cors.max_age:
        try:
            seconds = int(parse_duration(cors.max_age))
        except ValueError as exc:
            raise unsupported(ctx, PROVIDER, f"corsPolicy.maxAge {cors.max_age!r}: {exc}") from None
        if seconds < 1:
            raise unsupported(ctx, PROVIDER, f"corsPolicy.maxAge {cors.max_age!r} below one second")
        out["maxAge"] = seconds
    return {"type": "CORS", "cors": out}


def _rewrite_filter(ctx: RouteContext) -> Obj | None:
    rewrite = ctx.service.rewrite
    if rewrite is None:
        return None
    url: Obj = {}
    if rewrite.authority:
        url["hostname"] = rewrite.authority
    if rewrite.uri:
        kind = rewrite.type or "ReplacePrefixMatch"
        if kind == "ReplaceFullPath":
            url["path"] = {"type": kind, "replaceFullPath": rewrite.uri}
        elif kind == "ReplacePrefixMatch":
            url["path"] = {"type": kind, "replacePrefixMatch": rewrite.uri}
        else:
            raise unsupported(ctx, PROVIDER, f"rewrite type {kind!r}")
    return {"type": "URLRewrite", "urlRewrite": url} if url else None


def rule_filters(ctx: RouteContext) -> list[Obj]:
    """The ``spec.service`` filters every generated rule carries."""
    svc = ctx.service
    filters: list[Obj] = []
    if svc.headers is not None and svc.headers.request is not None:
        filters.append(
            {"type": "RequestHeaderModifier", "requestHeaderModifier": _header_modifier(svc.headers.request)}
        )
    if svc.headers is not None and svc.headers.response is not None:
        filters.append(
            {
                "type": "ResponseHeaderModifier",
                "responseHeaderModifier": _header_modifier(svc.headers.response),
            }
        )
    rewrite = _rewrite_filter(ctx)
    if rewrite is not None:
        filters.append(rewrite)
    if svc.cors_policy is not None:
        filters.append(_cors_filter(ctx))
    for mirror in svc.mirror:
        if mirror.backend_ref is None:
            raise unsupported(ctx, PROVIDER, "a spec.service.mirror entry without backendRef")
        ref = mirror.backend_ref.model_dump(by_alias=True, exclude_none=True, mode="json")
        filters.append({"type": "RequestMirror", "requestMirror": {"backendRef": ref}})
    return filters


def add_response_header(rule: Obj, name: str, value: str) -> None:
    """Add a response header, reusing the rule's ResponseHeaderModifier (it may not repeat)."""
    filters = rule.setdefault("filters", [])
    for existing in filters:
        if existing.get("type") == "ResponseHeaderModifier":
            existing["responseHeaderModifier"].setdefault("add", []).append({"name": name, "value": value})
            return
    filters.append(
        {
            "type": "ResponseHeaderModifier",
            "responseHeaderModifier": {"add": [{"name": name, "value": value}]},
        }
    )
