from __future__ import annotations

import base64

import pytest

from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers import PrometheusProvider, ProviderConfig
from tests.recording_http import Recorded, RecordingServer, Reply


def vector(*values: str) -> dict[str, object]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"pod": f"p{i}"}, "value": [1700000000.1, v]} for i, v in enumerate(values)
            ],
        },
    }


def config(url: str, **kw: object) -> ProviderConfig:
    return ProviderConfig(type="prometheus", address=url, **kw)  # type: ignore[arg-type]


async def test_instant_query_hits_api_v1_query_with_collapsed_whitespace(
    http_server: RecordingServer,
) -> None:
    http_server.reply_with(Reply(body=vector("99.5")))
    provider = PrometheusProvider(config(http_server.url))
    value = await provider.run_query("sum(\n\t rate(x[1m])\n)  * 100")
    assert value == 99.5
    (request,) = http_server.requests
    assert (request.method, request.path) == ("GET", "/api/v1/query")
    assert request.query["query"] == ["sum( rate(x[1m]) ) * 100"]
    assert "authorization" not in request.headers


async def test_first_sample_of_several_series_is_returned(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body=vector("1.5", "7")))
    assert await PrometheusProvider(config(http_server.url)).run_query("q") == 1.5


async def test_scalar_result_is_supported(http_server: RecordingServer) -> None:
    http_server.reply_with(
        Reply(body={"status": "success", "data": {"resultType": "scalar", "result": [1, "3"]}})
    )
    assert await PrometheusProvider(config(http_server.url)).run_query("scalar(x)") == 3.0


async def test_address_path_prefix_is_kept(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body=vector("1")))
    await PrometheusProvider(config(http_server.url + "/prom/")).run_query("q")
    assert http_server.requests[0].path == "/prom/api/v1/query"


async def test_empty_result_raises_no_values_found(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body={"status": "success", "data": {"resultType": "vector", "result": []}}))
    with pytest.raises(NoValuesFound, match="no values found for query up"):
        await PrometheusProvider(config(http_server.url)).run_query("up")


async def test_nan_counts_as_no_values(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body=vector("NaN")))
    with pytest.raises(NoValuesFound):
        await PrometheusProvider(config(http_server.url)).run_query("x / 0")


async def test_infinity_is_a_value(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body=vector("+Inf")))
    assert await PrometheusProvider(config(http_server.url)).run_query("q") == float("inf")


async def test_basic_auth_from_secret(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body=vector("1")))
    provider = PrometheusProvider(
        config(http_server.url, has_secret=True), {"username": "u", "password": "p@ss"}
    )
    await provider.run_query("q")
    expected = "Basic " + base64.b64encode(b"u:p@ss").decode()
    assert http_server.requests[0].headers["authorization"] == expected


async def test_bearer_token_wins_over_basic_auth(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body=vector("1")))
    secret = {"token": "tok-123", "username": "u", "password": "p"}
    await PrometheusProvider(config(http_server.url, has_secret=True), secret).run_query("q")
    assert http_server.requests[0].headers["authorization"] == "Bearer tok-123"


async def test_custom_headers_are_sent(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body=vector("1")))
    cfg = config(http_server.url, headers={"X-Scope-OrgID": ("tenant-a",)})
    await PrometheusProvider(cfg).run_query("q")
    assert http_server.requests[0].headers["x-scope-orgid"] == "tenant-a"


def test_secret_ref_without_credentials_is_a_config_error() -> None:
    with pytest.raises(ProviderConfigError, match="does not contain a username"):
        PrometheusProvider(config("http://127.0.0.1:1", has_secret=True), {})
    with pytest.raises(ProviderConfigError, match="does not contain a password"):
        PrometheusProvider(config("http://127.0.0.1:1", has_secret=True), {"username": "u"})


def test_invalid_address_is_rejected_without_userinfo() -> None:
    with pytest.raises(ProviderConfigError, match="not a valid URL") as info:
        PrometheusProvider(config("ftp://admin:hunter2@prom"))
    assert "hunter2" not in str(info.value)


async def test_http_error_carries_body_but_never_credentials(http_server: RecordingServer) -> None:
    def echo_auth(request: Recorded) -> Reply:
        return Reply(status=401, body=f"bad credentials {request.headers.get('authorization')}")

    http_server.reply_with(echo_auth)
    provider = PrometheusProvider(
        config(http_server.url, has_secret=True), {"username": "bob", "password": "s3cret"}
    )
    with pytest.raises(ProviderError, match="error response 401") as info:
        await provider.run_query("q")
    text = str(info.value)
    assert "s3cret" not in text and "bob" not in text
    assert base64.b64encode(b"bob:s3cret").decode() not in text


async def test_prometheus_error_status_is_reported(http_server: RecordingServer) -> None:
    body = {"status": "error", "errorType": "bad_data", "error": "parse error at char 3"}
    http_server.reply_with(Reply(status=200, body=body))
    with pytest.raises(ProviderError, match="bad_data: parse error"):
        await PrometheusProvider(config(http_server.url)).run_query("q((")


async def test_timeout_is_a_provider_error(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body=vector("1"), delay=0.5))
    with pytest.raises(ProviderError, match=r"timed out after 0\.1s"):
        await PrometheusProvider(config(http_server.url, timeout=0.1)).run_query("q")


async def test_connection_refused_is_a_provider_error() -> None:
    provider = PrometheusProvider(config("http://127.0.0.1:9", timeout=1.0))
    with pytest.raises(ProviderError, match="request failed"):
        await provider.run_query("q")


async def test_is_online_runs_vector_one(http_server: RecordingServer) -> None:
    http_server.reply_with(lambda r: Reply(body=vector("1" if r.query["query"] == ["vector(1)"] else "0")))
    assert await PrometheusProvider(config(http_server.url)).is_online() is True
    http_server.reply_with(Reply(body=vector("2")))
    assert await PrometheusProvider(config(http_server.url)).is_online() is False
