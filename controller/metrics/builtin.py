"""Flagger's built-in metrics, ``request-success-rate`` and ``request-duration``, per router.

The queries are PromQL templates rendered with ``render_promql`` (values escaped) and run against the
canary's metrics server. ``request-success-rate`` is the percentage (0-100) of non-5xx
responses; ``request-duration`` is milliseconds: P99 from a latency histogram for most
routers, and the mean (sum / count) for NGINX and Skipper, as in Flagger.

Router names map to query sets as in Flagger v1.44's observer factory
(``pkg/metrics/observers/factory.go``): ``appmesh*`` and ``gloo*`` by prefix, ``kubernetes`` and
every ``gatewayapi*`` name to the plain ``http_request_duration_seconds`` queries (Flagger's
HTTP observer), the other meshes by exact name, and every name without its own set (such as
``smi:v1alpha3``) to the Istio queries, which is Flagger's default. The rendered queries equal
Flagger's up to whitespace (``tests/unit/metrics/test_builtin_parity.py`` reads Flagger's own
templates from its Go module and compares). ``canary_context`` gives the template values Flagger's
``toMetricModel`` gives: ``service``, ``ingress`` and ``route`` from their refs, else the target.
Pure module: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from controller.api.canary import CanarySpec
from controller.metrics.template import TemplateContext, render_promql

__all__ = [
    "BUILTIN_METRICS",
    "REQUEST_DURATION",
    "REQUEST_SUCCESS_RATE",
    "BuiltinQuery",
    "builtin_query",
    "canary_context",
    "is_builtin",
    "query_set_for",
]

REQUEST_SUCCESS_RATE = "request-success-rate"
REQUEST_DURATION = "request-duration"
BUILTIN_METRICS: tuple[str, ...] = (REQUEST_SUCCESS_RATE, REQUEST_DURATION)


@dataclass(frozen=True)
class BuiltinQuery:
    """A rendered built-in query and how to turn its value into milliseconds."""

    metric: str
    query_set: str
    query: str
    seconds_to_ms: bool = False
    """True when the query yields seconds (the ``kubernetes`` set); scale by 1000."""


def _join(*matchers: str) -> str:
    return ",".join(m for m in matchers if m)


def _success_rate(metric: str, selector: str, failure: str, shared: str = "") -> str:
    """Success-rate template: rate of the ``metric`` series that do not match ``failure`` over
    rate of all of them, times 100; ``shared`` is a matcher both sides end with."""
    success, total = _join(selector, failure, shared), _join(selector, shared)
    return (
        f"sum(rate({metric}{{{success}}}[{{{{ interval }}}}])) / "
        f"sum(rate({metric}{{{total}}}[{{{{ interval }}}}])) * 100"
    )


def _p99(bucket: str, selector: str, scale: str = "") -> str:
    query = f"histogram_quantile(0.99, sum(rate({bucket}{{{selector}}}[{{{{ interval }}}}])) by (le))"
    return f"{query} {scale}" if scale else query


def _mean_ms(prefix: str, selector: str) -> str:
    return (
        f"sum(rate({prefix}_sum{{{selector}}}[{{{{ interval }}}}])) / "
        f"sum(rate({prefix}_count{{{selector}}}[{{{{ interval }}}}])) * 1000"
    )


def _plain(metric: str, bucket: str, selector: str, failure: str) -> dict[str, str]:
    """The common shape: non-failed over all requests, and P99 of ``bucket``, same selector."""
    return {
        REQUEST_SUCCESS_RATE: _success_rate(metric, selector, failure),
        REQUEST_DURATION: _p99(bucket, selector),
    }


# Label matchers, in the order Flagger v1.44's observers (pkg/metrics/observers) write them; the
# parity test (tests/unit/metrics/test_builtin_parity.py) renders both and compares.
_POD = (
    'kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"'
)
_ISTIO = (
    'reporter="destination",'
    'destination_workload_namespace="{{ namespace }}",'
    'destination_workload=~"{{ target }}"'
)
_LINKERD = 'namespace="{{ namespace }}",deployment=~"{{ target }}"'
_INBOUND = 'direction="inbound"'
_NGINX = 'namespace="{{ namespace }}",ingress="{{ ingress }}",canary!=""'
_CONTOUR = 'envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9a-zA-Z-]+"'
# The Gloo router's canary Upstream is <ns>-<apex>-canaryupstream-<port> (routers/gloo_routes.py).
_GLOO = 'envoy_cluster_name=~"{{ namespace }}-{{ target }}-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+"'
_TRAEFIK = 'service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd"'
_OSM = 'destination_namespace="{{ namespace }}",destination_kind="Deployment",destination_name="{{ target }}"'
_KUMA = 'service=~"{{ target }}-canary_{{ namespace }}_svc_[0-9a-zA-Z-]+"'
# Flagger's {{ route }} (spec.routeRef.name, else the target) travels as the ROUTE_VARIABLE variable.
_ROUTE = "{{ variables.apisixRoute }}"
# APISIX names the canary copy's routes <ns>_<routeRef>-<target>-canary_<rule> (see routers/apisix.py).
_APISIX = f'route=~"{{{{ namespace }}}}_{_ROUTE}-{{{{ target }}}}-canary_.+"'
_KNATIVE = f'envoy_cluster_name=~"{{{{ namespace }}}}/{_ROUTE}"'
_SKIPPER = 'route=~"{{ variables.route }}"'
_INF = 'le="+Inf"'
_ENVOY_5XX = 'envoy_response_code!~"5.*"'
_ENVOY = ("envoy_cluster_upstream_rq", "envoy_cluster_upstream_rq_time_bucket")

_QUERIES: dict[str, dict[str, str]] = {
    "istio": _plain(
        "istio_requests_total", "istio_request_duration_milliseconds_bucket", _ISTIO, 'response_code!~"5.*"'
    ),
    # Flagger's HttpObserver: the kubernetes provider and every gatewayapi* provider.
    "kubernetes": _plain(
        "http_request_duration_seconds_count", "http_request_duration_seconds_bucket", _POD, 'status!~"5.*"'
    ),
    "appmesh": _plain(*_ENVOY, _POD, _ENVOY_5XX),
    "linkerd": {
        REQUEST_SUCCESS_RATE: _success_rate(
            "response_total", _LINKERD, 'classification!="failure"', _INBOUND
        ),
        REQUEST_DURATION: _p99("response_latency_ms_bucket", _join(_LINKERD, _INBOUND)),
    },
    "nginx": {
        REQUEST_SUCCESS_RATE: _success_rate("nginx_ingress_controller_requests", _NGINX, 'status!~"5.*"'),
        REQUEST_DURATION: _mean_ms("nginx_ingress_controller_response_duration_seconds", _NGINX),
    },
    "contour": _plain(*_ENVOY, _CONTOUR, _ENVOY_5XX),
    "gloo": _plain(*_ENVOY, _GLOO, _ENVOY_5XX),
    "traefik": {
        REQUEST_SUCCESS_RATE: _success_rate(
            "traefik_service_request_duration_seconds_bucket", _TRAEFIK, 'code!~"5.."', _INF
        ),
        # Seconds, scaled to milliseconds in the query as Flagger does.
        REQUEST_DURATION: _p99("traefik_service_request_duration_seconds_bucket", _TRAEFIK, "* 1000"),
    },
    "osm": _plain("osm_request_total", "osm_request_duration_ms_bucket", _OSM, 'response_code!~"5.*"'),
    "kuma": _plain(*_ENVOY, _KUMA, _ENVOY_5XX),
    "apisix": {
        REQUEST_SUCCESS_RATE: _success_rate("apisix_http_status", _APISIX, 'code!~"5.."'),
        REQUEST_DURATION: _p99("apisix_http_latency_bucket", _join('type=~"request"', _APISIX)),
    },
    "knative": _plain(*_ENVOY, _KNATIVE, _ENVOY_5XX),
    "skipper": {
        REQUEST_SUCCESS_RATE: _success_rate(
            "skipper_response_duration_seconds_bucket", _SKIPPER, 'code!~"5.."', _INF
        ),
        REQUEST_DURATION: _mean_ms("skipper_serve_route_duration_seconds", _SKIPPER),
    },
}

# Flagger's observer factory matches these by prefix (gatewayapi, gatewayapi:v1, ... -> HTTP).
_PREFIXED = {"appmesh": "appmesh", "gloo": "gloo", "gatewayapi": "kubernetes"}
ROUTE_VARIABLE = "apisixRoute"
"""The template variable carrying Flagger's ``{{ route }}``: ``spec.routeRef.name``, else the target."""
_NON_WORD = re.compile(r"\W", re.ASCII)  # Go's \W, as Flagger's encodeModelForSkipper uses


def is_builtin(metric_name: str) -> bool:
    """True for Flagger's built-in metric names."""
    return metric_name in BUILTIN_METRICS


def query_set_for(router: str) -> str:
    """The query set used for a canary's ``spec.provider`` (or the global mesh provider)."""
    for prefix, query_set in _PREFIXED.items():
        if router.startswith(prefix):
            return query_set
    if router in _QUERIES:
        return router
    return "istio"


def canary_context(name: str, namespace: str, spec: CanarySpec, interval: str) -> TemplateContext:
    """The template values of a Canary's metrics, as Flagger's ``toMetricModel`` derives them."""
    return TemplateContext.for_canary(
        name=name,
        namespace=namespace,
        target=spec.target_ref.name,
        service=spec.service.name if spec.service else None,
        ingress=spec.ingress_ref.name if spec.ingress_ref else None,
        interval=interval,
        variables={ROUTE_VARIABLE: spec.route_ref.name} if spec.route_ref else None,
    )


def builtin_query(metric_name: str, router: str, context: TemplateContext) -> BuiltinQuery:
    """Render the built-in ``metric_name`` query for ``router``.

    Raises ``KeyError`` naming the metric when it is not a built-in metric.
    """
    if metric_name not in BUILTIN_METRICS:
        raise KeyError(f"{metric_name!r} is not a built-in metric; built-ins: {', '.join(BUILTIN_METRICS)}")
    query_set = query_set_for(router)
    if query_set == "skipper":
        context = _skipper_context(context)
    if query_set in ("apisix", "knative"):
        route = context.variables.get(ROUTE_VARIABLE) or context.target
        context = replace(context, variables={**context.variables, ROUTE_VARIABLE: route})
    query = render_promql(_QUERIES[query_set][metric_name], context)
    return BuiltinQuery(
        metric=metric_name,
        query_set=query_set,
        query=query,
        seconds_to_ms=query_set == "kubernetes" and metric_name == REQUEST_DURATION,
    )


def _skipper_context(context: TemplateContext) -> TemplateContext:
    """Skipper route names replace non-word characters with ``_`` (as Flagger does)."""

    def encode(value: str) -> str:
        return _NON_WORD.sub("_", value)

    route = (
        f"kube(ew)?_{encode(context.namespace)}__{encode(context.ingress)}_canary__.*__"
        f"{encode(context.service)}_canary(_[0-9]+)?"
    )
    return replace(context, variables={"route": route})
