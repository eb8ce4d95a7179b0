from __future__ import annotations

import base64

import pytest

from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers import GraphiteProvider, ProviderConfig
from tests.recording_http import RecordingServer, Reply


def cfg(url: str, has_secret: bool = False) -> ProviderConfig:
    return ProviderConfig(type="graphite", address=url, has_secret=has_secret)


async def test_render_query_returns_last_non_null_datapoint(http_server: RecordingServer) -> None:
    body = [
        {"target": "a", "datapoints": [[1.0, 100], [2.5, 160]]},
        {"target": "b", "datapoints": [[4.0, 100], [None, 160]]},
    ]
    http_server.reply_with(Reply(body=body))
    value = await GraphiteProvider(cfg(http_server.url)).run_query(
        "target=summarize(\n  app.{{x}}.count,\n  '1min')&from=-1min"
    )
    assert value == 4.0
    (request,) = http_server.requests
    assert request.path == "/render"
    assert request.query["target"] == ["summarize( app.{{x}}.count, '1min')"]
    assert request.query["from"] == ["-1min"]
    assert request.query["format"] == ["json"]


async def test_all_null_datapoints_raise_no_values(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body=[{"target": "a", "datapoints": [[None, 1]]}]))
    with pytest.raises(NoValuesFound):
        await GraphiteProvider(cfg(http_server.url)).run_query("target=a")


async def test_basic_auth_and_scrubbed_errors(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(status=500, body="boom pw=hunter2"))
    provider = GraphiteProvider(cfg(http_server.url, True), {"username": "g", "password": "hunter2"})
    with pytest.raises(ProviderError, match="error response 500") as info:
        await provider.run_query("target=a")
    assert "hunter2" not in str(info.value)
    assert (
        http_server.requests[0].headers["authorization"] == "Basic " + base64.b64encode(b"g:hunter2").decode()
    )


def test_secret_ref_requires_username_and_password() -> None:
    with pytest.raises(ProviderConfigError, match="username"):
        GraphiteProvider(cfg("http://127.0.0.1:1", True), {})


async def test_is_online_accepts_an_empty_answer(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body=[]))
    assert await GraphiteProvider(cfg(http_server.url)).is_online() is True
    assert http_server.requests[0].query["target"] == ["test"]
    http_server.reply_with(Reply(status=503, body="down"))
    with pytest.raises(ProviderError, match="503"):
        await GraphiteProvider(cfg(http_server.url)).is_online()
