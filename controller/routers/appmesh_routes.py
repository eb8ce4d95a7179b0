"""Pure builders and readers of the App Mesh (``appmesh.k8s.aws/v1beta2``) objects of a Canary.

Generated, as Flagger's v1beta2 router does:
- VirtualNodes ``<svc>-primary`` and ``<svc>-canary``: one listener on the container port
  (``targetPort`` if numeric, else ``port``; protocol ``grpc`` when ``portName`` contains
  ``grpc``, else ``http``; the listener timeout from ``spec.service.timeout``), DNS discovery
  ``<svc>-primary.<ns>.svc.cluster.local.`` / ``<svc>-canary...``, a pod selector on the
  primary's / target's selector label, and ``spec.service.backends`` as backends (an
  ``arn:aws...`` backend is a ``virtualServiceARN``; ``<name>.<namespace>`` is a reference to
  that VirtualService in that namespace; a bare name one in the Canary's namespace);
- VirtualRouter + VirtualService ``<svc>`` (``awsName: <svc>.<ns>``): HTTP route ``<svc>`` on the
  ``spec.service.match[0].uri.prefix`` (default ``/``) with the retry policy and per-request
  timeout, weighted between the two VirtualNodes. With A/B testing (``analysis.match``) the
  routes are ``<svc>-a`` (one per match condition, priorities 10, 11, ...) carrying the weights
  and ``<svc>-b`` (priority 20) sending the rest to the primary. When ``spec.service.hosts`` is
  set the VirtualService carries the App Mesh Gateway ``expose``/``domain`` annotations;
- VirtualRouter + VirtualService ``<svc>-canary``: 100% to the canary VirtualNode, so the
  canary can be tested directly.

Invariants:
- the weighted route is the first route targeting ``<svc>-canary``; every weighted route has
  the same split; ``routes_of`` reads it and nothing else;
- mirroring, session affinity, ``sourceLabels`` and non-exact query matches, and route
  conditions other than one URI prefix raise ``UnsupportedFeature`` before anything is written.

Pure module: no I/O.
"""

from __future__ import annotations

from typing import Any

from controller.api.analysis import AbMatch
from controller.api.duration import parse_duration
from controller.routers.base import RouterError, Routes
from controller.routers.route_objects import RouteContext, dump, object_metadata, refuse_features, unsupported

Obj = dict[str, Any]

API_VERSION = "appmesh.k8s.aws/v1beta2"
PROVIDER = "appmesh"
SVC_SUFFIX = "svc.cluster.local."
HTTP_RETRY_EVENTS = ("server-error", "gateway-error", "client-error", "stream-error")
TCP_RETRY_EVENTS = ("connection-error",)
GATEWAY_EXPOSE = "gateway.appmesh.k8s.aws/expose"
GATEWAY_DOMAIN = "gateway.appmesh.k8s.aws/domain"
GATEWAY_TIMEOUT = "gateway.appmesh.k8s.aws/timeout"
GATEWAY_RETRIES = "gateway.appmesh.k8s.aws/retries"
A_PRIORITY = 10
B_PRIORITY = 20


def check_supported(ctx: RouteContext) -> None:
    refuse_features(ctx, PROVIDER)
    svc, analysis = ctx.service, ctx.analysis
    if svc.gateway_refs or svc.mirror:
        raise unsupported(ctx, PROVIDER, "spec.service.gatewayRefs / spec.service.mirror (Gateway API)")
    if len(analysis.match) > B_PRIORITY - A_PRIORITY:
        raise unsupported(ctx, PROVIDER, f"more than {B_PRIORITY - A_PRIORITY} A/B match conditions")
    for ab in analysis.match:
        if ab.source_labels:
            raise unsupported(ctx, PROVIDER, "sourceLabels in analysis.match")
        if any(m.exact is None for m in ab.query_params.values()):
            raise unsupported(ctx, PROVIDER, "query parameter matches other than exact")
        if not ab.headers and not ab.query_params:
            raise unsupported(ctx, PROVIDER, "an empty analysis.match condition")
    if len(svc.match) > 1:
        raise unsupported(
            ctx, PROVIDER, "more than one spec.service.match (App Mesh routes match one prefix)"
        )
    for match in svc.match:
        conditions = set(dump(match)) - {"uri"}
        if conditions or (match.uri is not None and match.uri.prefix is None):
            raise unsupported(ctx, PROVIDER, "spec.service.match conditions other than uri.prefix")
    retries = svc.retries
    if retries is not None and retries.retry_on:
        for event in retry_events(retries.retry_on):
            if event not in HTTP_RETRY_EVENTS + TCP_RETRY_EVENTS:
                known = ", ".join(HTTP_RETRY_EVENTS + TCP_RETRY_EVENTS)
                raise unsupported(ctx, PROVIDER, f"retry event {event!r} (App Mesh knows {known})")
    for name, value in (
        ("timeout", svc.timeout),
        ("retries.perTryTimeout", retries and retries.per_try_timeout),
    ):
        if value:
            try:
                parse_duration(value)
            except ValueError as exc:
                raise unsupported(ctx, PROVIDER, f"spec.service.{name}: {exc}") from None


def retry_events(retry_on: str) -> list[str]:
    return [e.strip() for e in retry_on.split(",") if e.strip()]


def protocol(ctx: RouteContext) -> str:
    return "grpc" if "grpc" in (ctx.service.port_name or "") else "http"


def container_port(ctx: RouteContext) -> int:
    target = ctx.service.target_port
    if isinstance(target, int) and target > 0:
        return target
    return ctx.service.port


def _millis(text: str) -> Obj:
    return {"unit": "ms", "value": round(parse_duration(text) * 1000)}


def route_timeout(ctx: RouteContext) -> Obj | None:
    return {"perRequest": _millis(ctx.service.timeout)} if ctx.service.timeout else None


def retry_policy(ctx: RouteContext) -> Obj | None:
    """Flagger's policy: ``attempts`` (default 1), ``perTryTimeout`` (default 250ms), ``retryOn``
    split on commas (default ``gateway-error``); ``connection-error`` is a TCP event."""
    retries = ctx.service.retries
    if retries is None:
        return None
    per_try = _millis(retries.per_try_timeout) if retries.per_try_timeout else {"unit": "ms", "value": 250}
    events = retry_events(retries.retry_on or "") or ["gateway-error"]
    policy: Obj = {"maxRetries": retries.attempts if retries.attempts else 1, "perRetryTimeout": per_try}
    http_events = [e for e in events if e in HTTP_RETRY_EVENTS]
    tcp_events = [e for e in events if e in TCP_RETRY_EVENTS]
    if http_events:
        policy["httpRetryEvents"] = http_events
    if tcp_events:
        policy["tcpRetryEvents"] = tcp_events
    return policy


def route_prefix(ctx: RouteContext) -> str:
    for match in ctx.service.match[:1]:
        if match.uri is not None and match.uri.prefix:
            return match.uri.prefix
    return "/"


def backend(name: str) -> Obj:
    if name.startswith("arn:aws"):
        return {"virtualService": {"virtualServiceARN": name}}
    ref: Obj = {"name": name}
    if "." in name:
        vs_name, vs_namespace = name.split(".", 1)
        ref = {"name": vs_name, "namespace": vs_namespace}
    return {"virtualService": {"virtualServiceRef": ref}}


def virtual_node(ctx: RouteContext, name: str, selector: tuple[str, str], host: str) -> Obj:
    listener: Obj = {"portMapping": {"port": container_port(ctx), "protocol": protocol(ctx)}}
    timeout = route_timeout(ctx)
    if timeout is not None:
        listener["timeout"] = {protocol(ctx): timeout}
    spec: Obj = {
        "listeners": [listener],
        "serviceDiscovery": {"dns": {"hostname": host}},
        "podSelector": {"matchLabels": {selector[0]: selector[1]}},
    }
    if ctx.service.backends:
        spec["backends"] = [backend(b) for b in ctx.service.backends]
    return {
        "apiVersion": API_VERSION,
        "kind": "VirtualNode",
        "metadata": object_metadata(ctx, name),
        "spec": spec,
    }


def virtual_nodes(ctx: RouteContext, selector: tuple[str, str]) -> list[Obj]:
    """The primary and canary VirtualNodes; ``selector`` is the target's (label, value)."""
    label, value = selector
    names = ctx.names
    return [
        virtual_node(ctx, names.primary, (label, f"{value}-primary"), host(ctx, names.primary)),
        virtual_node(ctx, names.canary, (label, value), host(ctx, names.canary)),
    ]


def host(ctx: RouteContext, service: str) -> str:
    return f"{service}.{ctx.namespace}.{SVC_SUFFIX}"


def _targets(ctx: RouteContext, weights: Routes) -> list[Obj]:
    return [
        {"virtualNodeRef": {"name": ctx.names.canary}, "weight": weights.canary_weight},
        {"virtualNodeRef": {"name": ctx.names.primary}, "weight": weights.primary_weight},
    ]


def _http_route(ctx: RouteContext, match: Obj, targets: list[Obj]) -> Obj:
    route: Obj = {"match": match, "action": {"weightedTargets": targets}}
    timeout = route_timeout(ctx)
    if timeout is not None:
        route["timeout"] = timeout
    policy = retry_policy(ctx)
    if policy is not None:
        route["retryPolicy"] = policy
    return route


def _header_match(ab: AbMatch) -> Obj:
    match: Obj = {}
    headers = []
    for name, value in ab.headers.items():
        method = {k: v for k, v in dump(value).items() if k in ("exact", "prefix", "regex", "suffix")}
        headers.append({"name": name, "match": method} if method else {"name": name})
    if headers:
        match["headers"] = headers
    if ab.query_params:
        match["queryParameters"] = [
            {"name": name, "match": {"exact": value.exact}} for name, value in ab.query_params.items()
        ]
    return match


def routes(ctx: RouteContext, weights: Routes) -> list[Obj]:
    prefix = route_prefix(ctx)
    apex = ctx.names.apex
    if not ctx.analysis.match:
        return [{"name": apex, "httpRoute": _http_route(ctx, {"prefix": prefix}, _targets(ctx, weights))}]
    out = []
    for i, ab in enumerate(ctx.analysis.match):
        out.append(
            {
                "name": f"{apex}-a" if i == 0 else f"{apex}-a{i + 1}",
                "priority": A_PRIORITY + i,
                "httpRoute": _http_route(
                    ctx, {"prefix": prefix, **_header_match(ab)}, _targets(ctx, weights)
                ),
            }
        )
    rest = [{"virtualNodeRef": {"name": ctx.names.primary}, "weight": 100}]
    out.append(
        {"name": f"{apex}-b", "priority": B_PRIORITY, "httpRoute": _http_route(ctx, {"prefix": prefix}, rest)}
    )
    return out


def virtual_router(ctx: RouteContext, weights: Routes) -> Obj:
    """The apex VirtualRouter ``<svc>`` with the given split."""
    return _router(ctx, ctx.names.apex, routes(ctx, weights))


def canary_virtual_router(ctx: RouteContext) -> Obj:
    """The VirtualRouter ``<svc>-canary``: everything to the canary VirtualNode."""
    route = _http_route(ctx, {"prefix": route_prefix(ctx)}, _targets(ctx, Routes(0, 100)))
    return _router(ctx, ctx.names.canary, [{"name": ctx.names.canary, "httpRoute": route}])


def _router(ctx: RouteContext, name: str, route_list: list[Obj]) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": "VirtualRouter",
        "metadata": object_metadata(ctx, name),
        "spec": {
            "listeners": [{"portMapping": {"port": container_port(ctx), "protocol": protocol(ctx)}}],
            "routes": route_list,
        },
    }


def gateway_annotations(ctx: RouteContext) -> dict[str, str]:
    svc = ctx.service
    if not svc.hosts:
        return {}
    annotations = {GATEWAY_EXPOSE: "true", GATEWAY_DOMAIN: "".join(f"{h}," for h in svc.hosts)}
    if svc.timeout:
        annotations[GATEWAY_TIMEOUT] = svc.timeout
    if svc.retries is not None and svc.retries.attempts:
        annotations[GATEWAY_RETRIES] = str(svc.retries.attempts)
    return annotations


def virtual_service(ctx: RouteContext, name: str) -> Obj:
    """The VirtualService ``name`` (``awsName: <name>.<ns>``) served by the VirtualRouter ``name``."""
    metadata = object_metadata(ctx, name)
    if name == ctx.names.apex:
        metadata["annotations"].update(gateway_annotations(ctx))
    return {
        "apiVersion": API_VERSION,
        "kind": "VirtualService",
        "metadata": metadata,
        "spec": {
            "awsName": f"{name}.{ctx.namespace}",
            "provider": {"virtualRouter": {"virtualRouterRef": {"name": name}}},
        },
    }


# -- reading the live object -------------------------------------------------------------------
def routes_of(router: Obj, primary: str, canary: str) -> Routes:
    """The split of a live VirtualRouter; ``RouterError`` when no route targets the VirtualNodes."""
    meta = router.get("metadata", {})
    name = f"{meta.get('namespace')}/{meta.get('name')}"
    for route in (router.get("spec") or {}).get("routes") or []:
        targets = ((route.get("httpRoute") or {}).get("action") or {}).get("weightedTargets") or []
        weights = {(t.get("virtualNodeRef") or {}).get("name"): int(t.get("weight", 0)) for t in targets}
        if canary in weights:
            primary_weight, canary_weight = weights.get(primary, 0), weights[canary]
            if primary_weight == 0 and canary_weight == 0:
                break
            return Routes(primary_weight, canary_weight, False)
    raise RouterError(f"VirtualRouter {name} has no weighted route to {primary} and {canary}")
