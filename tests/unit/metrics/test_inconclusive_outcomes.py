"""Three outcomes per metric check (issue 16): passed, failed (measured out of range) and
inconclusive (could not measure), with the cause named."""

from __future__ import annotations

import socket

import pytest

from controller.metrics.checks import MetricCheck, describe, evaluate
from controller.metrics.errors import (
    Cause,
    NoValuesFound,
    Outcome,
    ProviderConfigError,
    ProviderError,
    cause_of,
)
from controller.metrics.providers import PrometheusProvider, ProviderConfig
from controller.metrics.template import TemplateContext
from tests.recording_http import RecordingServer, Reply

CTX = TemplateContext.for_canary(name="podinfo", namespace="test", target="podinfo")
CHECK = MetricCheck(name="error-rate", query="sum(errors)", threshold_max=1)


def vector(value: str | None) -> dict[str, object]:
    result = [] if value is None else [{"metric": {}, "value": [1, value]}]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def prometheus(url: str, timeout: float = 5.0) -> PrometheusProvider:
    return PrometheusProvider(ProviderConfig(type="prometheus", address=url, timeout=timeout))


@pytest.mark.parametrize(
    ("message", "cause"),
    [
        ("error response 500: internal", Cause.SERVER_ERROR),
        ("error response 503: ", Cause.SERVER_ERROR),
        ("error response 429: slow down", Cause.SERVER_ERROR),
        ("unexpected status code: 502", Cause.SERVER_ERROR),
        ("error response 400: bad_data", Cause.REJECTED),
        ("query error bad_data: parse error", Cause.REJECTED),
        ("request timed out after 5s", Cause.TIMEOUT),
        ("request failed: ConnectError", Cause.UNREACHABLE),
        ("error unmarshaling result: not JSON", Cause.MALFORMED),
        ("query up returned +Inf (not a finite number)", Cause.MALFORMED),
        ("response is larger than the 1048576-byte limit", Cause.MALFORMED),
    ],
)
def test_provider_errors_name_their_cause(message: str, cause: Cause) -> None:
    assert cause_of(ProviderError(message)) is cause


def test_error_types_name_their_cause() -> None:
    assert cause_of(NoValuesFound("up")) is Cause.NO_VALUES
    assert cause_of(ProviderConfigError("no address")) is Cause.MISCONFIGURED
    assert cause_of(ProviderError("anything", Cause.TIMEOUT)) is Cause.TIMEOUT


async def test_out_of_range_is_failed_and_in_range_passed(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body=vector("5")))
    (result,) = await evaluate([CHECK], CTX, metrics_server=prometheus(http_server.url))
    assert (result.outcome, result.cause, result.ok) == (Outcome.FAILED, None, False)
    http_server.reply_with(Reply(body=vector("0.5")))
    (result,) = await evaluate([CHECK], CTX, metrics_server=prometheus(http_server.url))
    assert (result.outcome, result.ok) == (Outcome.PASSED, True)


@pytest.mark.parametrize(
    ("reply", "cause"),
    [
        (Reply(status=500, body="internal"), Cause.SERVER_ERROR),
        (Reply(status=503, body="unavailable"), Cause.SERVER_ERROR),
        (Reply(body="<html>not json</html>"), Cause.MALFORMED),
        (Reply(body=vector(None)), Cause.NO_VALUES),
        (Reply(body=vector("NaN")), Cause.NO_VALUES),
        (Reply(status=400, body={"status": "error", "errorType": "bad_data", "error": "x"}), Cause.REJECTED),
    ],
)
async def test_unmeasured_answers_are_inconclusive(
    http_server: RecordingServer, reply: Reply, cause: Cause
) -> None:
    http_server.reply_with(reply)
    (result,) = await evaluate([CHECK], CTX, metrics_server=prometheus(http_server.url))
    assert (result.outcome, result.cause, result.ok, result.value) == (
        Outcome.INCONCLUSIVE,
        cause,
        False,
        None,
    )
    assert describe(result).startswith(f"error-rate inconclusive ({cause}): ")


async def test_timeout_is_inconclusive(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body=vector("0.5"), delay=2.0))
    (result,) = await evaluate([CHECK], CTX, metrics_server=prometheus(http_server.url, timeout=0.3))
    assert (result.outcome, result.cause) == (Outcome.INCONCLUSIVE, Cause.TIMEOUT)


async def test_unreachable_backend_is_inconclusive() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the query: nothing listens there
    (result,) = await evaluate([CHECK], CTX, metrics_server=prometheus(f"http://127.0.0.1:{port}"))
    assert (result.outcome, result.cause) == (Outcome.INCONCLUSIVE, Cause.UNREACHABLE)


async def test_missing_metrics_server_is_inconclusive_misconfigured() -> None:
    (result,) = await evaluate([CHECK], CTX, metrics_server=None)
    assert (result.outcome, result.cause) == (Outcome.INCONCLUSIVE, Cause.MISCONFIGURED)
