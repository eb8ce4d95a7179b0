"""NaN and +/-Inf from a metrics backend are failed checks with a clear message, never a crash."""

from __future__ import annotations

import pytest

from controller.metrics.checks import MetricCheck, TemplateSpec, evaluate
from controller.metrics.providers import PrometheusProvider, ProviderConfig
from controller.metrics.template import TemplateContext
from tests.recording_http import RecordingServer, Reply

CTX = TemplateContext.for_canary(name="podinfo", namespace="test", target="podinfo")


def answer(value: str) -> Reply:
    return Reply(
        body={
            "status": "success",
            "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, value]}]},
        }
    )


def server(url: str) -> PrometheusProvider:
    return PrometheusProvider(ProviderConfig(type="prometheus", address=url))


@pytest.mark.parametrize(
    ("router", "raw", "shown"),
    [
        ("kubernetes", "+Inf", "+Inf"),
        ("kubernetes", "1e308", "+Inf"),  # seconds scaled to milliseconds overflow
        ("istio", "+Inf", "+Inf"),
        ("istio", "-Inf", "-Inf"),
        ("nginx", "+Inf", "+Inf"),
    ],
)
async def test_request_duration_infinity_fails_instead_of_crashing(
    http_server: RecordingServer, router: str, raw: str, shown: str
) -> None:
    http_server.reply_with(answer(raw))
    checks = [MetricCheck(name="request-duration", threshold_max=500)]
    (result,) = await evaluate(checks, CTX, metrics_server=server(http_server.url), router=router)
    assert (result.ok, result.value) == (False, None)
    assert (
        result.message
        == f"Halt podinfo.test advancement request-duration returned {shown} (not a finite number)"
    )


async def test_success_rate_infinity_fails(http_server: RecordingServer) -> None:
    http_server.reply_with(answer("+Inf"))
    checks = [MetricCheck(name="request-success-rate", threshold_min=99)]
    (result,) = await evaluate(checks, CTX, metrics_server=server(http_server.url), router="istio")
    assert result.ok is False
    assert result.message.endswith("request-success-rate returned +Inf (not a finite number)")


@pytest.mark.parametrize("raw", ["+Inf", "-Inf"])
async def test_custom_metric_infinity_never_passes_a_one_sided_threshold(
    http_server: RecordingServer, raw: str
) -> None:
    http_server.reply_with(answer(raw))
    template = TemplateSpec(
        name="throughput",
        namespace="test",
        provider=ProviderConfig(type="prometheus", address=http_server.url),
        query="sum(rate(x[1m]))",
    )
    checks = [
        MetricCheck(name="throughput", template=template, threshold_min=10),
        MetricCheck(name="latency", template=template, threshold_max=10),
        MetricCheck(name="inline", query="sum(x)", threshold_min=10),
    ]
    results = await evaluate(checks, CTX, metrics_server=server(http_server.url))
    assert [r.ok for r in results] == [False, False, False]
    for result in results:
        assert result.message.endswith(f"returned {raw} (not a finite number)")
        assert result.value is None


async def test_nan_is_a_failed_check_that_says_no_values(http_server: RecordingServer) -> None:
    http_server.reply_with(answer("NaN"))
    checks = [MetricCheck(name="request-success-rate", threshold_min=99)]
    (result,) = await evaluate(checks, CTX, metrics_server=server(http_server.url), router="istio")
    assert (result.ok, result.value) == (False, None)
    assert "no values found" in result.message
