from __future__ import annotations

import pytest

from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers import DatadogProvider, ProviderConfig
from tests.recording_http import Recorded, RecordingServer, Reply

KEYS = {"datadog_api_key": "api-KEY-1", "datadog_application_key": "app-KEY-2"}
NOW = 1_700_000_000.7


def provider(url: str, interval: str = "1m", secret: dict[str, str] | None = None) -> DatadogProvider:
    cfg = ProviderConfig(type="datadog", address=url, has_secret=True)
    return DatadogProvider(cfg, KEYS if secret is None else secret, interval=interval, clock=lambda: NOW)


def series(*points: list[float | None]) -> dict[str, object]:
    return {"status": "ok", "series": [{"pointlist": list(points)}]}


async def test_query_sends_keys_and_a_window_of_ten_intervals(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body=series([1.0, 5.0], [2.0, 7.25])))
    value = await provider(http_server.url, interval="2m").run_query("sum:istio.mesh.request.count{*}")
    assert value == 7.25
    (request,) = http_server.requests
    assert (request.method, request.path) == ("GET", "/api/v1/query")
    assert request.headers["dd-api-key"] == "api-KEY-1"
    assert request.headers["dd-application-key"] == "app-KEY-2"
    assert request.query["query"] == ["sum:istio.mesh.request.count{*}"]
    assert request.query["to"] == ["1700000000"]
    assert request.query["from"] == [str(1_700_000_000 - 10 * 120)]


@pytest.mark.parametrize(
    "body",
    [{"series": []}, {"series": [{"pointlist": []}]}, series([1.0, None]), series([1.0, float("nan")]), {}],
)
async def test_missing_points_raise_no_values(http_server: RecordingServer, body: object) -> None:
    http_server.reply_with(Reply(body=body))
    with pytest.raises(NoValuesFound):
        await provider(http_server.url).run_query("q")


async def test_error_status_is_reported_without_keys(http_server: RecordingServer) -> None:
    def echo(request: Recorded) -> Reply:
        return Reply(status=403, body=f"forbidden for {request.headers['dd-api-key']}")

    http_server.reply_with(echo)
    with pytest.raises(ProviderError, match="error response 403") as info:
        await provider(http_server.url).run_query("q")
    assert "api-KEY-1" not in str(info.value)


def test_missing_keys_are_config_errors() -> None:
    with pytest.raises(ProviderConfigError, match="datadog_api_key"):
        provider("http://127.0.0.1:1", secret={"datadog_application_key": "x"})
    with pytest.raises(ProviderConfigError, match="datadog_application_key"):
        provider("http://127.0.0.1:1", secret={"datadog_api_key": "x"})
    with pytest.raises(ProviderConfigError, match="metric interval"):
        provider("http://127.0.0.1:1", interval="soon")


async def test_is_online_validates_the_keys(http_server: RecordingServer) -> None:
    http_server.reply_with(
        lambda r: Reply(status=200 if r.path == "/api/v1/validate" else 404, body={"valid": True})
    )
    assert await provider(http_server.url).is_online() is True
    assert http_server.requests[0].headers["dd-api-key"] == "api-KEY-1"
    http_server.reply_with(Reply(status=403, body={"errors": ["Forbidden"]}))
    with pytest.raises(ProviderError, match="403"):
        await provider(http_server.url).is_online()
