"""Dynatrace against a contract fake of the metrics API v2 (Flagger's dynatrace_test.go shape)."""

from __future__ import annotations

import pytest

from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.dynatrace import DynatraceProvider
from tests.recording_http import Recorded, RecordingServer, Reply
from tests.unit.metrics.providers.provider_fakes import Shape, contract, expect

TOKEN = {"dynatrace_token": "dt0c01.SECRET"}
SELECTOR = "builtin:host.cpu.usage:filter(eq(Host,HOST-0990886B7D39FE29))"
NOW = 1_700_000_000.4
NOW_MS = 1_700_000_000_000


def provider(url: str, secret: dict[str, str] | None = None, interval: str = "1m") -> DynatraceProvider:
    config = ProviderConfig(type="dynatrace", address=url, has_secret=True)
    return DynatraceProvider(
        config, TOKEN if secret is None else secret, interval=interval, clock=lambda: NOW
    )


def metrics_query(selector: str, window_ms: int) -> Shape:
    def check(request: Recorded) -> list[str]:
        return [
            *expect((request.method, request.path) == ("GET", "/api/v2/metrics/query"), request.path),
            *expect(request.headers.get("authorization") == "Api-Token dt0c01.SECRET", "Authorization"),
            *expect(request.query.get("metricSelector") == [selector], "metricSelector"),
            *expect(request.query.get("resolution") == ["Inf"], "resolution"),
            *expect(request.query.get("to") == [str(NOW_MS)], f"to {request.query.get('to')}"),
            *expect(
                request.query.get("from") == [str(NOW_MS - window_ms)], f"from {request.query.get('from')}"
            ),
        ]

    return check


def documented(*values: object) -> dict[str, object]:
    """The answer shape of the metrics API v2 documentation (and Flagger's test)."""
    return {
        "totalCount": 1,
        "nextPageKey": None,
        "result": [
            {
                "metricId": "builtin:host.cpu.usage",
                "data": [
                    {
                        "dimensions": ["HOST-0990886B7D39FE29"],
                        "timestamps": [1589455320000],
                        "values": list(values),
                    }
                ],
            }
        ],
    }


async def test_a_good_value_with_flaggers_request_shape(http_server: RecordingServer) -> None:
    http_server.reply_with(contract(metrics_query(SELECTOR, 10 * 60_000), Reply(body=documented(1.11111))))
    assert await provider(http_server.url).run_query(SELECTOR) == 1.11111


async def test_the_window_is_ten_intervals(http_server: RecordingServer) -> None:
    http_server.reply_with(contract(metrics_query("m", 10 * 100_000), Reply(body=documented(3))))
    assert await provider(http_server.url, interval="100s").run_query("m") == 3.0


@pytest.mark.parametrize(
    "body",
    [
        {"series": [{"pointlist": []}]},
        {"result": []},
        {"result": [{"data": []}]},
        documented(),
        documented(None),
    ],
)
async def test_no_values(http_server: RecordingServer, body: object) -> None:
    http_server.reply_with(Reply(body=body))
    with pytest.raises(NoValuesFound):
        await provider(http_server.url).run_query(SELECTOR)


async def test_non_finite_values(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body=documented(float("nan"))))
    with pytest.raises(NoValuesFound):
        await provider(http_server.url).run_query(SELECTOR)
    http_server.reply_with(Reply(body=documented(float("-inf"))))
    with pytest.raises(ProviderError, match=r"-Inf \(not a finite number\)"):
        await provider(http_server.url).run_query(SELECTOR)


@pytest.mark.parametrize("body", [documented("high"), documented(True), [1], {"result": "x"}])
async def test_garbage_is_an_error_not_a_number(http_server: RecordingServer, body: object) -> None:
    http_server.reply_with(Reply(body=body))
    with pytest.raises(ProviderError) as failed:
        await provider(http_server.url).run_query(SELECTOR)
    assert not isinstance(failed.value, NoValuesFound)


def test_address_and_token_are_required() -> None:
    with pytest.raises(ProviderConfigError, match="endpoint is not set"):
        provider("")
    with pytest.raises(ProviderConfigError, match="dynatrace_token"):
        provider("https://env.live.dynatrace.com", secret={})
    with pytest.raises(ProviderConfigError, match="interval"):
        provider("https://env.live.dynatrace.com", interval="x")


@pytest.mark.parametrize(("status", "online"), [(200, True), (401, False)])
async def test_is_online_lists_one_metric(http_server: RecordingServer, status: int, online: bool) -> None:
    def check(request: Recorded) -> list[str]:
        return [
            *expect(request.path == "/api/v2/metrics", request.path),
            *expect(request.query.get("pageSize") == ["1"], "pageSize"),
            *expect(request.headers.get("authorization") == "Api-Token dt0c01.SECRET", "Authorization"),
        ]

    http_server.reply_with(contract(check, Reply(status=status, body=f"token dt0c01.SECRET {status}")))
    if online:
        assert await provider(http_server.url).is_online() is True
    else:
        with pytest.raises(ProviderError, match="401") as failed:
            await provider(http_server.url).is_online()
        assert "dt0c01.SECRET" not in str(failed.value)
