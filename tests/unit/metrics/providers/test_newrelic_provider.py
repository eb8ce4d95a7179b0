"""New Relic against a contract fake of the Insights query API (Flagger's newrelic_test.go shape)."""

from __future__ import annotations

import pytest

from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.newrelic import NewRelicProvider
from tests.recording_http import Recorded, RecordingServer, Reply
from tests.unit.metrics.providers.provider_fakes import Shape, contract, expect

KEYS = {"newrelic_account_id": "51312", "newrelic_query_key": "query-KEY-1"}
QUERY = "SELECT sum(nginx_ingress_controller_requests) / 1 FROM Metric WHERE status = '200'"


def provider(url: str, secret: dict[str, str] | None = None, interval: str = "1m") -> NewRelicProvider:
    config = ProviderConfig(type="newrelic", address=url, has_secret=True)
    return NewRelicProvider(config, KEYS if secret is None else secret, interval=interval)


def insights(nrql: str) -> Shape:
    def check(request: Recorded) -> list[str]:
        return [
            *expect(request.method == "GET", f"method {request.method}"),
            *expect(request.path == "/v1/accounts/51312/query", f"path {request.path}"),
            *expect(request.headers.get("x-query-key") == "query-KEY-1", "X-Query-Key header"),
            *expect(request.query.get("nrql") == [nrql], f"nrql {request.query.get('nrql')}"),
        ]

    return check


async def test_a_good_value_with_flaggers_request_shape(http_server: RecordingServer) -> None:
    http_server.reply_with(
        contract(insights(QUERY + " SINCE 60 seconds ago"), Reply(body='{"results":[{"result": 1.111110}]}'))
    )
    assert await provider(http_server.url).run_query(QUERY) == 1.11111


async def test_the_window_is_the_metric_interval_in_seconds(http_server: RecordingServer) -> None:
    http_server.reply_with(
        contract(insights("q SINCE 300 seconds ago"), Reply(body={"results": [{"result": 2}]}))
    )
    assert await provider(http_server.url, interval="5m").run_query("q") == 2.0


@pytest.mark.parametrize(
    "body",
    [
        {"results": []},
        {"results": [{"result": None}]},
        {"results": [{}]},
        {},
        {"results": [{"result": 1}] * 2},
    ],
)
async def test_no_values(http_server: RecordingServer, body: object) -> None:
    http_server.reply_with(Reply(body=body))
    with pytest.raises(NoValuesFound):
        await provider(http_server.url).run_query(QUERY)


async def test_nan_is_no_values_and_infinity_an_error(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body='{"results":[{"result": NaN}]}'))
    with pytest.raises(NoValuesFound):
        await provider(http_server.url).run_query(QUERY)
    http_server.reply_with(Reply(body='{"results":[{"result": Infinity}]}'))
    with pytest.raises(ProviderError, match=r"\+Inf \(not a finite number\)"):
        await provider(http_server.url).run_query(QUERY)
    http_server.reply_with(Reply(body='{"results":[{"result": 1e999}]}'))
    with pytest.raises(ProviderError, match="not a finite number"):
        await provider(http_server.url).run_query(QUERY)


@pytest.mark.parametrize("body", ['{"results":[{"result": "many"}]}', "[1]", '{"results": 3}'])
async def test_a_result_that_is_not_a_number_is_an_error(http_server: RecordingServer, body: str) -> None:
    http_server.reply_with(Reply(body=body))
    with pytest.raises(ProviderError) as failed:
        await provider(http_server.url).run_query(QUERY)
    assert not isinstance(failed.value, NoValuesFound)


async def test_error_status_never_shows_the_key(http_server: RecordingServer) -> None:
    http_server.reply_with(lambda r: Reply(status=401, body=f"bad key {r.headers['x-query-key']}"))
    with pytest.raises(ProviderError, match="error response 401") as failed:
        await provider(http_server.url).run_query(QUERY)
    assert "query-KEY-1" not in str(failed.value)


def test_missing_secret_keys_and_bad_interval_are_config_errors() -> None:
    with pytest.raises(ProviderConfigError, match="newrelic_account_id"):
        provider("http://127.0.0.1:1", secret={"newrelic_query_key": "k"})
    with pytest.raises(ProviderConfigError, match="newrelic_query_key"):
        provider("http://127.0.0.1:1", secret={"newrelic_account_id": "1"})
    with pytest.raises(ProviderConfigError, match="interval"):
        provider("http://127.0.0.1:1", interval="often")


def test_the_default_address_is_the_insights_api() -> None:
    built = NewRelicProvider(ProviderConfig(type="newrelic", has_secret=True), KEYS)
    assert built._endpoint == "https://insights-api.newrelic.com/v1/accounts/51312/query"


@pytest.mark.parametrize(("status", "online"), [(200, True), (401, False)])
async def test_is_online(http_server: RecordingServer, status: int, online: bool) -> None:
    answer = Reply(status=status, body={"results": []})
    http_server.reply_with(contract(insights("SELECT * FROM Metric SINCE 60 seconds ago"), answer))
    if online:
        assert await provider(http_server.url).is_online() is True
    else:
        with pytest.raises(ProviderError, match="401"):
            await provider(http_server.url).is_online()
