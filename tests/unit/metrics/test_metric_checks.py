from __future__ import annotations

import pytest

from controller.metrics.checks import MetricCheck, TemplateSpec, evaluate
from controller.metrics.providers import PrometheusProvider, ProviderConfig
from controller.metrics.template import TemplateContext
from tests.recording_http import Recorded, RecordingServer, Reply

CTX = TemplateContext.for_canary(name="podinfo", namespace="test", target="podinfo")


def vector(value: str | None) -> dict[str, object]:
    result = [] if value is None else [{"metric": {}, "value": [1, value]}]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def answer_by_metric(values: dict[str, str | None]) -> object:
    def respond(request: Recorded) -> Reply:
        query = request.query["query"][0]
        for needle, value in values.items():
            if needle in query:
                return Reply(body=vector(value))
        return Reply(status=400, body={"status": "error", "errorType": "bad_data", "error": "unexpected"})

    return respond


def server(url: str) -> PrometheusProvider:
    return PrometheusProvider(ProviderConfig(type="prometheus", address=url))


async def test_builtin_success_rate_below_min_fails_with_flagger_wording(
    http_server: RecordingServer,
) -> None:
    http_server.reply_with(answer_by_metric({"istio_requests_total": "69.1666"}))  # type: ignore[arg-type]
    checks = [MetricCheck(name="request-success-rate", interval="1m", threshold_min=99)]
    (result,) = await evaluate(checks, CTX, metrics_server=server(http_server.url), router="istio")
    assert result.ok is False
    assert result.value == pytest.approx(69.1666)
    assert result.message == "Halt podinfo.test advancement success rate 69.17% < 99%"


async def test_builtin_duration_over_max_uses_go_durations(http_server: RecordingServer) -> None:
    http_server.reply_with(answer_by_metric({"istio_request_duration": "1200.7"}))  # type: ignore[arg-type]
    checks = [MetricCheck(name="request-duration", interval="30s", threshold_max=500)]
    (result,) = await evaluate(checks, CTX, metrics_server=server(http_server.url), router="istio")
    assert (result.ok, result.value) == (False, 1200.0)
    assert result.message == "Halt podinfo.test advancement request duration 1.2s > 500ms"
    assert "[30s]" in http_server.requests[0].query["query"][0]


async def test_kubernetes_duration_seconds_become_milliseconds(http_server: RecordingServer) -> None:
    http_server.reply_with(answer_by_metric({"http_request_duration_seconds_bucket": "0.25"}))  # type: ignore[arg-type]
    checks = [MetricCheck(name="request-duration", threshold_max=500)]
    (result,) = await evaluate(checks, CTX, metrics_server=server(http_server.url), router="kubernetes")
    assert (result.ok, result.value) == (True, 250.0)
    assert result.message == "request-duration 250ms within range"


async def test_no_traffic_is_a_failure_that_says_so(http_server: RecordingServer) -> None:
    http_server.reply_with(answer_by_metric({"istio_requests_total": None}))  # type: ignore[arg-type]
    checks = [MetricCheck(name="request-success-rate", threshold_min=99)]
    (result,) = await evaluate(checks, CTX, metrics_server=server(http_server.url), router="istio")
    assert (result.ok, result.value) == (False, None)
    assert result.message == (
        "Halt advancement no values found for istio metric request-success-rate "
        "probably podinfo.test is not receiving traffic"
    )


async def test_template_metric_renders_variables_and_compares_range(http_server: RecordingServer) -> None:
    http_server.reply_with(answer_by_metric({'d="inbound"': "5.254"}))  # type: ignore[arg-type]
    template = TemplateSpec(
        name="error-rate",
        namespace="flagger",
        provider=ProviderConfig(type="prometheus", address=http_server.url, has_secret=True),
        query='sum(rate(x{ns="{{ namespace }}",d="{{ variables.direction }}"}[{{ interval }}]))',
        secret={"token": "very-secret"},
    )
    check = MetricCheck(
        name="error-rate",
        interval="2m",
        template=template,
        threshold_max=1,
        template_variables={"direction": "inbound"},
    )
    (result,) = await evaluate([check], CTX, metrics_server=None)
    assert result.message == "Halt podinfo.test advancement error-rate 5.25 > 1"
    request = http_server.requests[0]
    assert request.query["query"] == ['sum(rate(x{ns="test",d="inbound"}[2m]))']
    assert request.headers["authorization"] == "Bearer very-secret"
    assert "very-secret" not in repr(template)


async def test_inline_query_runs_verbatim_on_the_metrics_server(http_server: RecordingServer) -> None:
    http_server.reply_with(answer_by_metric({"custom_metric": "3"}))  # type: ignore[arg-type]
    checks = [
        MetricCheck(name="in-range", query="custom_metric", threshold_min=1, threshold_max=5),
        MetricCheck(name="too-low", query="custom_metric > 0", threshold_min=10),
    ]
    ok, low = await evaluate(checks, CTX, metrics_server=server(http_server.url))
    assert (ok.ok, ok.value, ok.message) == (True, 3.0, "in-range 3.00 within range")
    assert (low.ok, low.message) == (False, "Halt podinfo.test advancement too-low 3.00 < 10")


async def test_provider_and_template_errors_fail_the_check(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(status=500, body="internal"))
    bad_template = TemplateSpec(
        name="t",
        namespace="ns",
        provider=ProviderConfig(type="prometheus", address=http_server.url),
        query="{{ nope }}",
    )
    unknown = TemplateSpec(
        name="t2", namespace="ns", provider=ProviderConfig(type="cloudwatch"), query="x", secret=None
    )
    checks = [
        MetricCheck(name="render", template=bad_template),
        MetricCheck(name="unknown", template=unknown),
        MetricCheck(name="inline", query="up"),
        MetricCheck(name="request-success-rate", threshold_min=99),
        MetricCheck(name="empty"),
    ]
    results = await evaluate(checks, CTX, metrics_server=server(http_server.url), router="linkerd")
    assert [r.ok for r in results] == [False] * 5
    assert results[0].message.startswith("Metric template t.ns query render error: unknown template variable")
    assert results[1].message.startswith("Metric template t2.ns provider cloudwatch error:")
    assert results[2].message == "Prometheus query failed for inline: error response 500: internal"
    assert results[3].message == "Prometheus query failed: error response 500: internal"
    assert results[4].message == "Metric empty has neither a query nor a templateRef"


async def test_missing_metrics_server_fails_builtin_checks() -> None:
    (result,) = await evaluate(
        [MetricCheck(name="request-duration", threshold_max=1)], CTX, metrics_server=None
    )
    assert result.ok is False and "not configured" in result.message


async def test_no_threshold_means_any_value_passes(http_server: RecordingServer) -> None:
    http_server.reply_with(answer_by_metric({"q": "-42"}))  # type: ignore[arg-type]
    (result,) = await evaluate(
        [MetricCheck(name="free", query="q")], CTX, metrics_server=server(http_server.url)
    )
    assert (result.ok, result.value) == (True, -42.0)
