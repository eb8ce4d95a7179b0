"""Metric checks report their values as Flagger's ``canary_metric_analysis`` does."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from controller import canary_metrics
from controller.metrics.checks import MetricCheck, evaluate
from controller.metrics.template import TemplateContext
from tests.builders import canary
from tests.recording_http import RecordingServer
from tests.unit.metrics.test_metric_checks import answer_by_metric, server

NS = "metric-analysis-series"


async def test_values_are_recorded_per_metric_with_durations_in_seconds(http_server: RecordingServer) -> None:
    known = canary(NS, "podinfo")
    known["spec"]["targetRef"]["name"] = "podinfo-app"
    canary_metrics.observe(known)
    http_server.reply_with(
        answer_by_metric({"istio_request_duration": "1200.7", "istio_requests_total": "69.1666"})  # type: ignore[arg-type]
    )
    checks = [
        MetricCheck(name="request-duration", threshold_max=500),
        MetricCheck(name="request-success-rate", threshold_min=99),
    ]
    context = TemplateContext.for_canary(name="podinfo", namespace=NS, target="podinfo-app")
    try:
        await evaluate(checks, context, metrics_server=server(http_server.url), router="istio")
        labels = {"name": "podinfo-app", "namespace": NS}
        series = "gitcanary_canary_metric_analysis"
        assert REGISTRY.get_sample_value(series, {**labels, "metric": "request-duration"}) == 1.2
        assert REGISTRY.get_sample_value(
            series, {**labels, "metric": "request-success-rate"}
        ) == pytest.approx(69.1666)
    finally:
        canary_metrics.observe(known, deleted=True)
