from __future__ import annotations

import pytest

from controller.metrics.builtin import (
    BUILTIN_METRICS,
    REQUEST_DURATION,
    REQUEST_SUCCESS_RATE,
    builtin_query,
    is_builtin,
    query_set_for,
)
from controller.metrics.template import TemplateContext

CTX = TemplateContext.for_canary(
    name="podinfo", namespace="test", target="podinfo", ingress="podinfo-ing", interval="1m"
)
ROUTERS = [
    "istio",
    "kubernetes",
    "appmesh",
    "linkerd",
    "nginx",
    "contour",
    "gloo",
    "traefik",
    "osm",
    "kuma",
    "apisix",
    "skipper",
    "knative",
    "gatewayapi:v1",
]


@pytest.mark.parametrize("router", ROUTERS)
@pytest.mark.parametrize("metric", BUILTIN_METRICS)
def test_every_builtin_query_renders_completely(router: str, metric: str) -> None:
    built = builtin_query(metric, router, CTX)
    assert "{{" not in built.query and "}}" not in built.query
    assert "[1m]" in built.query
    assert built.query.count("(") == built.query.count(")")


def test_istio_success_rate_is_the_percentage_of_non_5xx() -> None:
    query = builtin_query(REQUEST_SUCCESS_RATE, "istio", CTX).query
    assert query.startswith("sum(rate(istio_requests_total{")
    assert 'reporter="destination"' in query
    assert 'destination_workload_namespace="test"' in query
    assert 'destination_workload=~"podinfo"' in query
    assert query.count('response_code!~"5.*"') == 1
    assert query.endswith("* 100")


def test_istio_duration_is_p99_of_the_millisecond_histogram() -> None:
    built = builtin_query(REQUEST_DURATION, "istio", CTX)
    assert built.query.startswith(
        "histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{"
    )
    assert built.query.endswith("by (le))")
    assert built.seconds_to_ms is False


def test_kubernetes_duration_is_in_seconds() -> None:
    built = builtin_query(REQUEST_DURATION, "kubernetes", CTX)
    assert "http_request_duration_seconds_bucket" in built.query
    assert 'kubernetes_pod_name=~"podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"' in built.query
    assert built.seconds_to_ms is True


def test_nginx_uses_the_ingress_name_and_mean_latency() -> None:
    rate = builtin_query(REQUEST_SUCCESS_RATE, "nginx", CTX).query
    duration = builtin_query(REQUEST_DURATION, "nginx", CTX).query
    assert 'ingress="podinfo-ing"' in rate and 'status!~"5.*"' in rate
    # Flagger counts only the canary ingress's requests, and times whole responses.
    assert rate.count('canary!=""') == 2
    assert "nginx_ingress_controller_response_duration_seconds_sum" in duration
    assert duration.endswith("* 1000")


def test_envoy_based_routers_select_the_canary_cluster() -> None:
    assert (
        'envoy_cluster_name=~"test_podinfo-canary_[0-9a-zA-Z-]+"'
        in builtin_query(REQUEST_SUCCESS_RATE, "contour", CTX).query
    )
    assert (
        'envoy_cluster_name=~"test-podinfo-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+"'
        in builtin_query(REQUEST_SUCCESS_RATE, "gloo", CTX).query
    )
    assert (
        'service=~"podinfo-canary_test_svc_[0-9a-zA-Z-]+"'
        in builtin_query(REQUEST_DURATION, "kuma", CTX).query
    )


def test_contour_selects_the_service_name_not_the_target() -> None:
    ctx = TemplateContext.for_canary(name="p", namespace="test", target="web", service="web-svc")
    query = builtin_query(REQUEST_DURATION, "contour", ctx).query
    assert 'envoy_cluster_name=~"test_web-svc-canary_[0-9a-zA-Z-]+"' in query


def test_traefik_duration_is_scaled_from_seconds_in_the_query() -> None:
    built = builtin_query(REQUEST_DURATION, "traefik", CTX)
    assert built.query.endswith("by (le)) * 1000") and built.seconds_to_ms is False


def test_gatewayapi_uses_the_http_queries_in_seconds() -> None:
    built = builtin_query(REQUEST_DURATION, "gatewayapi:v1", CTX)
    assert built.query_set == "kubernetes" and built.seconds_to_ms is True
    assert "http_request_duration_seconds_bucket" in built.query


def test_knative_selects_the_route_cluster() -> None:
    ctx = TemplateContext.for_canary(name="p", namespace="test", target="web", variables={"apisixRoute": "r"})
    assert 'envoy_cluster_name=~"test/r"' in builtin_query(REQUEST_SUCCESS_RATE, "knative", ctx).query
    assert 'envoy_cluster_name=~"test/podinfo"' in builtin_query(REQUEST_DURATION, "knative", CTX).query


def test_linkerd_counts_failures_by_classification() -> None:
    query = builtin_query(REQUEST_SUCCESS_RATE, "linkerd", CTX).query
    assert 'classification!="failure"' in query and 'direction="inbound"' in query


def test_traefik_and_skipper_use_the_inf_bucket_for_counts() -> None:
    assert 'le="+Inf"' in builtin_query(REQUEST_SUCCESS_RATE, "traefik", CTX).query
    assert 'le="+Inf"' in builtin_query(REQUEST_SUCCESS_RATE, "skipper", CTX).query


def test_skipper_route_encodes_non_word_characters() -> None:
    ctx = TemplateContext.for_canary(name="p", namespace="my-ns", target="web.app", ingress="web-ing")
    query = builtin_query(REQUEST_DURATION, "skipper", ctx).query
    assert 'route=~"kube(ew)?_my_ns__web_ing_canary__.*__web_app_canary(_[0-9]+)?"' in query


@pytest.mark.parametrize(
    ("router", "query_set"),
    [
        ("appmesh:v1beta2", "appmesh"),
        ("gloo", "gloo"),
        ("linkerd", "linkerd"),
        # Flagger 1.44's observer factory: gatewayapi* -> its HTTP observer (the kubernetes set).
        ("gatewayapi", "kubernetes"),
        ("gatewayapi:v1", "kubernetes"),
        ("gatewayapi:v1beta1", "kubernetes"),
        ("knative", "knative"),
        ("smi:v1alpha3", "istio"),
        ("unknown-mesh", "istio"),
        ("kubernetes", "kubernetes"),
    ],
)
def test_router_names_map_to_query_sets_like_flagger(router: str, query_set: str) -> None:
    assert query_set_for(router) == query_set


def test_non_builtin_metric_is_rejected() -> None:
    assert is_builtin("request-success-rate") and not is_builtin("error-rate")
    with pytest.raises(KeyError, match="not a built-in metric"):
        builtin_query("error-rate", "istio", CTX)
