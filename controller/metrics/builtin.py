"""Flagger's built-in metrics, ``request-success-rate`` and ``request-duration``, per router.

The queries are PromQL templates rendered with ``render_promql`` (values escaped) and run against the
canary's metrics server. ``request-success-rate`` is the percentage (0-100) of non-5xx
responses; ``request-duration`` is milliseconds: P99 from a latency histogram for most
routers, and the mean (sum / count) for NGINX and Skipper, as in Flagger.

Router names map to query sets as in Flagger's observer factory: ``appmesh*`` and
``gloo*`` by prefix, ``kubernetes`` to the plain ``http_request_duration_seconds``
queries, and every name without its own set (including ``gatewayapi`` and
``gatewayapi:v1``) to the Istio queries, which is Flagger's default.
Pure module: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from controller.metrics.template import TemplateContext, render_promql

__all__ = [
    "BUILTIN_METRICS",
    "REQUEST_DURATION",
    "REQUEST_SUCCESS_RATE",
    "BuiltinQuery",
    "builtin_query",
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


def _ratio(metric: str, selector: str, failure: str, extra: str = "") -> str:
    """Success-rate template: non-failed rate over total rate, times 100."""
    tail = f",{extra}" if extra else ""
    return (
        f"sum(rate({metric}{{{selector},{failure}{tail}}}[{{{{ interval }}}}])) / "
        f"sum(rate({metric}{{{selector}{tail}}}[{{{{ interval }}}}])) * 100"
    )


def _p99(bucket: str, selector: str) -> str:
    return f"histogram_quantile(0.99, sum(rate({bucket}{{{selector}}}[{{{{ interval }}}}])) by (le))"


def _mean_ms(prefix: str, selector: str) -> str:
    return (
        f"sum(rate({prefix}_sum{{{selector}}}[{{{{ interval }}}}])) / "
        f"sum(rate({prefix}_count{{{selector}}}[{{{{ interval }}}}])) * 1000"
    )


_POD = (
    'kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"'
)
_ISTIO = (
    'reporter="destination",'
    'destination_workload_namespace="{{ namespace }}",'
    'destination_workload=~"{{ target }}"'
)
_LINKERD = 'namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"'
_NGINX = 'namespace="{{ namespace }}",ingress="{{ ingress }}"'
_CONTOUR = 'envoy_cluster_name=~"{{ namespace }}_{{ target }}-canary_[0-9a-zA-Z-]+"'
_GLOO = 'envoy_cluster_name=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+"'
_TRAEFIK = 'service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd"'
_OSM = 'destination_namespace="{{ namespace }}",destination_kind="Deployment",destination_name="{{ target }}"'
_KUMA = 'service=~"{{ target }}-canary_{{ namespace }}_svc_[0-9a-zA-Z-]+"'
# APISIX names the canary copy's routes <ns>_<routeRef>-<target>-canary_<rule> (see routers/apisix.py).
_APISIX = 'route=~"{{ namespace }}_{{ variables.apisixRoute }}-{{ target }}-canary_.+"'
_SKIPPER = 'route=~"{{ variables.route }}"'

_QUERIES: dict[str, dict[str, str]] = {
    "istio": {
        REQUEST_SUCCESS_RATE: _ratio("istio_requests_total", _ISTIO, 'response_code!~"5.*"'),
        REQUEST_DURATION: _p99("istio_request_duration_milliseconds_bucket", _ISTIO),
    },
    "kubernetes": {
        REQUEST_SUCCESS_RATE: _ratio("http_request_duration_seconds_count", _POD, 'status!~"5.*"'),
        REQUEST_DURATION: _p99("http_request_duration_seconds_bucket", _POD),
    },
    "appmesh": {
        REQUEST_SUCCESS_RATE: _ratio("envoy_cluster_upstream_rq", _POD, 'envoy_response_code!~"5.*"'),
        REQUEST_DURATION: _p99("envoy_cluster_upstream_rq_time_bucket", _POD),
    },
    "linkerd": {
        REQUEST_SUCCESS_RATE: _ratio("response_total", _LINKERD, 'classification!="failure"'),
        REQUEST_DURATION: _p99("response_latency_ms_bucket", _LINKERD),
    },
    "nginx": {
        REQUEST_SUCCESS_RATE: _ratio("nginx_ingress_controller_requests", _NGINX, 'status!~"5.*"'),
        REQUEST_DURATION: _mean_ms("nginx_ingress_controller_ingress_upstream_latency_seconds", _NGINX),
    },
    "contour": {
        REQUEST_SUCCESS_RATE: _ratio("envoy_cluster_upstream_rq", _CONTOUR, 'envoy_response_code!~"5.*"'),
        REQUEST_DURATION: _p99("envoy_cluster_upstream_rq_time_bucket", _CONTOUR),
    },
    "gloo": {
        REQUEST_SUCCESS_RATE: _ratio("envoy_cluster_upstream_rq", _GLOO, 'envoy_response_code!~"5.*"'),
        REQUEST_DURATION: _p99("envoy_cluster_upstream_rq_time_bucket", _GLOO),
    },
    "traefik": {
        REQUEST_SUCCESS_RATE: _ratio(
            "traefik_service_request_duration_seconds_bucket", _TRAEFIK, 'code!~"5.."', 'le="+Inf"'
        ),
        REQUEST_DURATION: _p99("traefik_service_request_duration_seconds_bucket", _TRAEFIK),
    },
    "osm": {
        REQUEST_SUCCESS_RATE: _ratio("osm_request_total", _OSM, 'response_code!~"5.*"'),
        REQUEST_DURATION: _p99("osm_request_duration_ms_bucket", _OSM),
    },
    "kuma": {
        REQUEST_SUCCESS_RATE: _ratio("envoy_cluster_upstream_rq", _KUMA, 'envoy_response_code!~"5.*"'),
        REQUEST_DURATION: _p99("envoy_cluster_upstream_rq_time_bucket", _KUMA),
    },
    "apisix": {
        REQUEST_SUCCESS_RATE: _ratio("apisix_http_status", _APISIX, 'code!~"5.."'),
        REQUEST_DURATION: _p99("apisix_http_latency_bucket", 'type=~"request",' + _APISIX),
    },
    "skipper": {
        REQUEST_SUCCESS_RATE: _ratio(
            "skipper_response_duration_seconds_bucket", _SKIPPER, 'code!~"5.."', 'le="+Inf"'
        ),
        REQUEST_DURATION: _mean_ms("skipper_serve_route_duration_seconds", _SKIPPER),
    },
}

_PREFIXED = ("appmesh", "gloo")
_NON_WORD = re.compile(r"\W")


def is_builtin(metric_name: str) -> bool:
    """True for Flagger's built-in metric names."""
    return metric_name in BUILTIN_METRICS


def query_set_for(router: str) -> str:
    """The query set used for a canary's ``spec.provider`` (or the global mesh provider)."""
    for prefix in _PREFIXED:
        if router.startswith(prefix):
            return prefix
    if router in _QUERIES:
        return router
    return "istio"


def builtin_query(metric_name: str, router: str, context: TemplateContext) -> BuiltinQuery:
    """Render the built-in ``metric_name`` query for ``router``.

    Raises ``KeyError`` naming the metric when it is not a built-in metric.
    """
    if metric_name not in BUILTIN_METRICS:
        raise KeyError(f"{metric_name!r} is not a built-in metric; built-ins: {', '.join(BUILTIN_METRICS)}")
    query_set = query_set_for(router)
    if query_set == "skipper":
        context = _skipper_context(context)
    if query_set == "apisix":
        route = context.variables.get("apisixRoute") or context.target
        context = replace(context, variables={**context.variables, "apisixRoute": route})
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
