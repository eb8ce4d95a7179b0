"""Splunk Observability (SignalFx) against a contract fake of SignalFlow's HTTP execute API that
streams a Server-Sent Events answer as SignalFlow does (the cases of Flagger's splunk_test.go:
one series, no values, several series; and its IsOnline status codes)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from controller.metrics.errors import Cause, NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.registry import provider_for
from controller.metrics.providers.splunk import SplunkProvider, endpoints, sse_events
from tests.recording_http import Recorded
from tests.unit.metrics.providers.provider_fakes import SseReply, SseServer, expect, serve_sse, sse

TOKEN = "sf-SECRET-token"
PROGRAM = "data('service.request.count', filter=filter('service.name', 'myservice')).sum().publish()"
NOW = 1_700_000_000.25
NOW_MS = 1_700_000_000_250
T = 1_700_000_000_000


@pytest.fixture
def stream() -> Iterator[SseServer]:
    with serve_sse() as server:
        yield server


def provider(url: str, interval: str = "1m", timeout: float = 5.0) -> SplunkProvider:
    config = ProviderConfig(type="splunk", address=url, has_secret=True, timeout=timeout)
    return SplunkProvider(config, {"sf_token_key": TOKEN}, interval=interval, clock=lambda: NOW)


def contract(program: str, window_ms: int, answer: SseReply) -> Callable[[Recorded], SseReply]:
    def respond(request: Recorded) -> SseReply:
        problems = [
            *expect((request.method, request.path) == ("POST", "/v2/signalflow/execute"), request.path),
            *expect(request.headers.get("x-sf-token") == TOKEN, "X-SF-Token"),
            *expect(request.headers.get("content-type") == "text/plain", "Content-Type"),
            *expect(request.body.decode() == program, f"program {request.body!r}"),
            *expect(request.query.get("stop") == [str(NOW_MS)], f"stop {request.query.get('stop')}"),
            *expect(
                request.query.get("start") == [str(NOW_MS - window_ms)], f"start {request.query.get('start')}"
            ),
            *expect(request.query.get("immediate") == ["true"], "immediate"),
        ]
        if problems:
            return SseReply(
                400, [f'{{"errorType": "CONTRACT", "message": "{"; ".join(problems)}"}}'], "application/json"
            )
        return answer

    return respond


def computation(*events: str, end: bool = True) -> SseReply:
    """A SignalFlow computation's stream: start, job, resolution message, ``events``, end."""
    head = [
        sse("control-message", {"event": "STREAM_START", "timestampMs": T}),
        sse("control-message", {"event": "JOB_START", "handle": "DxNiD8iAYAA", "timestampMs": T + 3}),
        sse(
            "message",
            {
                "logicalTimestampMs": T - 60_000,
                "message": {
                    "messageCode": "JOB_RUNNING_RESOLUTION",
                    "messageLevel": "INFO",
                    "contents": {"resolutionMs": 60_000},
                },
            },
        ),
    ]
    tail = [sse("control-message", {"event": "END_OF_CHANNEL", "timestampMs": T + 90})] if end else []
    return SseReply(chunks=[*head, *events, *tail], delay=0.002)


def metadata(tsid: str) -> str:
    return sse(
        "metadata",
        {
            "tsId": tsid,
            "properties": {
                "sf_metric": "service.request.count",
                "sf_key": ["sf_originatingMetric", "sf_metric"],
                "sf_resolutionMs": 60_000,
                "sf_type": "MetricTimeSeries",
            },
        },
    )


def data(ms: int, *points: tuple[str, object]) -> str:
    return sse("data", {"data": [{"tsId": t, "value": v} for t, v in points], "logicalTimestampMs": ms})


async def test_one_series_gives_its_last_value_with_flaggers_request(stream: SseServer) -> None:
    answer = computation(
        metadata("AAAAAKyr_-w"),
        data(T - 120_000, ("AAAAAKyr_-w", 3.0)),
        data(T - 60_000, ("AAAAAKyr_-w", 1.0)),
    )
    stream.responder = contract(PROGRAM, 10 * 60_000, answer)
    assert await provider(stream.url).run_query(PROGRAM) == 1.0


async def test_the_registry_builds_it_and_the_window_is_ten_intervals(stream: SseServer) -> None:
    stream.responder = contract("p", 10 * 100_000, computation(metadata("A"), data(T, ("A", 7))))
    config = ProviderConfig(type="splunk", address=stream.url, has_secret=True)
    built = provider_for(config, {"sf_token_key": TOKEN}, interval="100s")
    assert isinstance(built, SplunkProvider)
    built._clock = lambda: NOW
    assert await built.run_query("p") == 7.0


@pytest.mark.parametrize(
    "events",
    [
        (metadata("A"), metadata("B"), metadata("C")),
        (metadata("A"), data(T, ("A", None))),
        (data(T),),
        (),
    ],
)
async def test_no_values(stream: SseServer, events: tuple[str, ...]) -> None:
    stream.responder = lambda _r: computation(*events)
    with pytest.raises(NoValuesFound):
        await provider(stream.url).run_query(PROGRAM)


async def test_several_series_are_an_error_not_a_value(stream: SseServer) -> None:
    events = (metadata("A"), metadata("B"), data(T, ("A", 1.0), ("B", 2.0)), data(T + 1, ("C", 3.0)))
    stream.responder = lambda _r: computation(*events)
    with pytest.raises(ProviderError, match="multiple time series") as failed:
        await provider(stream.url).run_query(PROGRAM)
    assert failed.value.cause is Cause.REJECTED


async def test_long_values_are_numbers(stream: SseServer) -> None:
    stream.responder = lambda _r: computation(data(T, ("A", 9_007_199_254)))
    assert await provider(stream.url).run_query(PROGRAM) == 9_007_199_254.0


@pytest.mark.parametrize("value", ["1.5", True, {"v": 1}, [1]])
async def test_a_value_that_is_not_a_number_is_an_error(stream: SseServer, value: object) -> None:
    stream.responder = lambda _r: computation(data(T, ("A", value)))
    with pytest.raises(ProviderError, match="not a number") as failed:
        await provider(stream.url).run_query(PROGRAM)
    assert not isinstance(failed.value, NoValuesFound)


async def test_non_finite_values(stream: SseServer) -> None:
    stream.responder = lambda _r: SseReply(
        chunks=['event: data\ndata: {"data": [{"tsId": "A", "value": Infinity}]}\n\n', *computation().chunks]
    )
    with pytest.raises(ProviderError, match=r"\+Inf"):
        await provider(stream.url).run_query(PROGRAM)


async def test_an_error_event_is_a_query_error(stream: SseServer) -> None:
    error = sse(
        "error",
        {"error": 400, "errorType": "ANALYTICS_PROGRAM_SYNTAX_ERROR", "message": "Expected ')' at 1:12"},
    )
    stream.responder = lambda _r: SseReply(chunks=[error])
    with pytest.raises(
        ProviderError, match="query error: ANALYTICS_PROGRAM_SYNTAX_ERROR: Expected"
    ) as failed:
        await provider(stream.url).run_query(PROGRAM)
    assert failed.value.cause is Cause.REJECTED


async def test_an_aborted_computation_is_an_error(stream: SseServer) -> None:
    abort = sse(
        "control-message",
        {"event": "CHANNEL_ABORT", "timestampMs": T, "abortInfo": {"sf_job_abortReason": "Too many MTS"}},
    )
    stream.responder = lambda _r: computation(data(T, ("A", 1.0)), abort)
    with pytest.raises(ProviderError, match="computation aborted: Too many MTS"):
        await provider(stream.url).run_query(PROGRAM)


async def test_a_stream_cut_before_end_of_channel_is_not_an_answer(stream: SseServer) -> None:
    stream.responder = lambda _r: computation(data(T, ("A", 1.0)), end=False)
    with pytest.raises(ProviderError, match="ended before END_OF_CHANNEL"):
        await provider(stream.url).run_query(PROGRAM)


async def test_a_computation_that_never_ends_fails_at_the_total_deadline(stream: SseServer) -> None:
    endless = computation(data(T, ("A", 1.0)), end=False)
    stream.responder = lambda _r: SseReply(chunks=endless.chunks, hang=True)
    started = time.monotonic()
    with pytest.raises(ProviderError, match=r"timed out after 0\.5s") as failed:
        await provider(stream.url, timeout=0.5).run_query(PROGRAM)
    assert time.monotonic() - started < 2.0
    assert failed.value.cause is Cause.TIMEOUT


async def test_a_stream_past_the_size_cap_stops(stream: SseServer) -> None:
    many = [data(T + n, ("A", float(n))) for n in range(12_000)]
    stream.responder = lambda _r: SseReply(chunks=computation(*many).chunks)
    with pytest.raises(ProviderError, match="larger than the 1048576-byte limit"):
        await provider(stream.url).run_query(PROGRAM)


async def test_an_http_error_names_the_api_error_and_never_the_token(stream: SseServer) -> None:
    body = f'{{"errorType": "UNAUTHORIZED", "message": "token {TOKEN} is not valid"}}'
    stream.responder = lambda _r: SseReply(401, [body], "application/json")
    with pytest.raises(
        ProviderError, match="error executing query: error response 401: UNAUTHORIZED"
    ) as failed:
        await provider(stream.url).run_query(PROGRAM)
    assert TOKEN not in str(failed.value)


@pytest.mark.parametrize(
    "chunks",
    [
        ["event: data\ndata: not json\n\n"],
        ["event: data\ndata: [1]\n\n"],
        ['event: data\ndata: {"data": 1}\n\n'],
        ['event: data\ndata: {"data": [{"value": 1}]}\n\n'],
    ],
)
async def test_malformed_events_are_errors(stream: SseServer, chunks: list[str]) -> None:
    stream.responder = lambda _r: SseReply(chunks=[*chunks, *computation().chunks])
    with pytest.raises(ProviderError, match="unmarshaling") as failed:
        await provider(stream.url).run_query(PROGRAM)
    assert failed.value.cause is Cause.MALFORMED


def test_sse_parsing_follows_the_event_stream_format() -> None:
    text = (
        ': comment\r\nevent: data\r\ndata: {"a":\r\ndata:  1}\r\nid: 7\r\n\r\ndata:x\n\nevent: e\ndata: tail'
    )
    events = list(sse_events(text))
    assert [(e.name, e.data) for e in events] == [("data", '{"a":\n 1}'), ("message", "x"), ("e", "tail")]


@pytest.mark.parametrize(
    ("address", "stream_url", "api_url"),
    [
        (
            "https://api.us1.signalfx.com",
            "https://stream.us1.signalfx.com/v2/signalflow/execute",
            "https://api.us1.signalfx.com/v2/metric",
        ),
        (
            "wss://stream.eu0.signalfx.com/",
            "https://stream.eu0.signalfx.com/v2/signalflow/execute",
            "https://api.eu0.signalfx.com/v2/metric",
        ),
        (
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/v2/signalflow/execute",
            "http://127.0.0.1:8080/v2/metric",
        ),
    ],
)
def test_the_stream_and_api_urls_derive_from_the_address_as_flaggers(
    address: str, stream_url: str, api_url: str
) -> None:
    assert endpoints(address) == (stream_url, api_url)


@pytest.mark.parametrize(("status", "online"), [(200, True), (401, False)])
async def test_is_online_lists_one_metric(stream: SseServer, status: int, online: bool) -> None:
    def respond(request: Recorded) -> SseReply:
        problems = [
            *expect((request.method, request.path) == ("GET", "/v2/metric"), request.path),
            *expect(request.query.get("limit") == ["1"], "limit"),
            *expect(request.headers.get("x-sf-token") == TOKEN, "X-SF-Token"),
        ]
        if problems:
            return SseReply(400, [str(problems)], "text/plain")
        return SseReply(status, [f'{{"count": 1, "results": [], "token": "{TOKEN}"}}'], "application/json")

    stream.responder = respond
    if online:
        assert await provider(stream.url).is_online() is True
    else:
        with pytest.raises(ProviderError, match="error response 401") as failed:
            await provider(stream.url).is_online()
        assert TOKEN not in str(failed.value)


def test_address_and_token_are_required() -> None:
    with pytest.raises(ProviderConfigError, match="splunk endpoint is not set"):
        provider("")
    with pytest.raises(ProviderConfigError, match="not a valid URL"):
        provider("ftp://x")
    with pytest.raises(ProviderConfigError, match="sf_token_key"):
        SplunkProvider(ProviderConfig(type="splunk", address="https://api.us1.signalfx.com"), {})
    with pytest.raises(ProviderConfigError, match="interval"):
        provider("https://api.us1.signalfx.com", interval="soon")
