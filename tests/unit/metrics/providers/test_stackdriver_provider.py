"""Stackdriver (Google Cloud Monitoring) against contract fakes of Google's token endpoint and of
``projects.timeSeries.query`` (the REST form of the QueryTimeSeries call Flagger's
stackdriver_test.go fakes over gRPC, answered with the same QueryTimeSeriesResponse)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers import google_auth
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.google_auth import TokenSource, clear_token_cache, service_account_key
from controller.metrics.providers.registry import provider_for
from controller.metrics.providers.stackdriver import SCOPE, StackdriverProvider
from tests.recording_http import Recorded, RecordingServer, Reply
from tests.unit.metrics.providers.provider_fakes import (
    GOOGLE_ACCESS_TOKEN,
    RSA_PEM,
    expect,
    jwt_bearer_problems,
    service_account_json,
    token_answer,
)

MQL = """
    fetch k8s_container
    | metric 'istio.io/service/server/response_latencies'
    | filter (metric.destination_service_name == 'podinfo-canary' && metric.destination_service_namespace == 'test')
    | align delta(1m)
    | every 1m
    | group_by [], [value_response_latencies_percentile: percentile(value.response_latencies, 99)]
"""
QUERY_PATH = "/v3/projects/my-project/timeSeries:query"


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    clear_token_cache()
    yield
    clear_token_cache()


def secret(
    server: RecordingServer, email: str = "canary@my-project.iam.gserviceaccount.com"
) -> dict[str, str]:
    return {"project": "my-project", "serviceAccountKey": service_account_json(server.url + "/token", email)}


def provider(server: RecordingServer, **kwargs: object) -> StackdriverProvider:
    config = ProviderConfig(type="stackdriver", address=server.url, has_secret=True)
    return StackdriverProvider(config, secret(server), **kwargs)  # type: ignore[arg-type]


def series(*values: dict[str, object]) -> dict[str, object]:
    """A QueryTimeSeriesResponse as the REST API returns it (Flagger's expected response)."""
    return {
        "timeSeriesDescriptor": {
            "pointDescriptors": [{"key": "value_response_latencies_percentile", "valueType": "DOUBLE"}]
        },
        "timeSeriesData": [
            {
                "labelValues": [],
                "pointData": [
                    {
                        "values": list(values),
                        "timeInterval": {
                            "startTime": "2024-01-01T00:00:00Z",
                            "endTime": "2024-01-01T00:01:00Z",
                        },
                    }
                ],
            }
        ],
    }


def google(server: RecordingServer, query: str, answer: Reply, token: Reply | None = None) -> None:
    """Both Google endpoints on one server: each answers 400 naming how a request is wrong."""

    def respond(request: Recorded) -> Reply:
        if request.path == "/token":
            problems = jwt_bearer_problems(request, server.url + "/token", SCOPE)
            return Reply(400, {"contract": problems}) if problems else (token or token_answer())
        problems = [
            *expect(
                (request.method, request.path) == ("POST", QUERY_PATH), f"{request.method} {request.path}"
            ),
            *expect(request.headers.get("authorization") == f"Bearer {GOOGLE_ACCESS_TOKEN}", "Authorization"),
            *expect(request.headers.get("content-type") == "application/json", "Content-Type"),
            *expect(request.json() == {"query": query}, f"body {request.body!r}"),
        ]
        return Reply(400, {"contract": problems}) if problems else answer

    server.reply_with(respond)


def token_requests(server: RecordingServer) -> int:
    return sum(1 for r in server.requests if r.path == "/token")


async def test_a_good_value_with_flaggers_request_shape(http_server: RecordingServer) -> None:
    google(http_server, MQL, Reply(body=series({"doubleValue": 100})))
    assert await provider(http_server).run_query(MQL) == 100.0


async def test_the_registry_builds_it_from_the_secret(http_server: RecordingServer) -> None:
    google(http_server, MQL, Reply(body=series({"doubleValue": 0.25})))
    config = ProviderConfig(type="stackdriver", address=http_server.url, has_secret=True)
    assert await provider_for(config, secret(http_server)).run_query(MQL) == 0.25


async def test_the_token_is_cached_across_providers_until_shortly_before_it_expires(
    http_server: RecordingServer,
) -> None:
    google(http_server, "q", Reply(body=series({"doubleValue": 1})))
    now = [1000.0]
    for _ in range(3):
        assert await provider(http_server, token_source=None).run_query("q") == 1.0
    assert token_requests(http_server) == 1

    config = ProviderConfig(type="stackdriver", address=http_server.url, has_secret=True)
    key = service_account_key(secret(http_server)["serviceAccountKey"])
    source = TokenSource(config, key, SCOPE, monotonic=lambda: now[0])
    clear_token_cache()
    sd = StackdriverProvider(config, secret(http_server), token_source=source)
    await sd.run_query("q")
    now[0] += 3599 - 61
    await sd.run_query("q")
    assert token_requests(http_server) == 2
    now[0] += 2
    await sd.run_query("q")
    assert token_requests(http_server) == 3


async def test_a_token_that_expires_within_the_margin_is_not_cached(http_server: RecordingServer) -> None:
    google(http_server, "q", Reply(body=series({"doubleValue": 1})), token=token_answer(expires_in=30))
    await provider(http_server).run_query("q")
    await provider(http_server).run_query("q")
    assert token_requests(http_server) == 2


async def test_the_cache_is_bounded(http_server: RecordingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(google_auth, "CACHE_SIZE", 2)
    http_server.reply_with(
        lambda r: token_answer() if r.path == "/token" else Reply(body=series({"doubleValue": 1}))
    )
    config = ProviderConfig(type="stackdriver", address=http_server.url, has_secret=True)
    for n in range(5):
        await StackdriverProvider(config, secret(http_server, email=f"sa{n}@p.iam")).run_query("q")
    assert len(google_auth._CACHE) == 2
    assert all(GOOGLE_ACCESS_TOKEN not in key for key in google_auth._CACHE)


async def test_a_refused_token_is_forgotten(http_server: RecordingServer) -> None:
    google(
        http_server, "q", Reply(401, {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "bad"}})
    )
    with pytest.raises(ProviderError, match="401 UNAUTHENTICATED: bad"):
        await provider(http_server).run_query("q")
    with pytest.raises(ProviderError):
        await provider(http_server).run_query("q")
    assert token_requests(http_server) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"timeSeriesData": []},
        {},
        {"timeSeriesData": [{"labelValues": [], "pointData": []}]},
        series(),
        series({"doubleValue": "NaN"}),
    ],
)
async def test_no_values(http_server: RecordingServer, body: object) -> None:
    google(http_server, MQL, Reply(body=body))
    with pytest.raises(NoValuesFound):
        await provider(http_server).run_query(MQL)


async def test_an_int64_value_is_its_number(http_server: RecordingServer) -> None:
    google(http_server, MQL, Reply(body=series({"int64Value": "42"})))
    assert await provider(http_server).run_query(MQL) == 42.0


@pytest.mark.parametrize(
    "value",
    [
        {"boolValue": True},
        {"stringValue": "1"},
        {"distributionValue": {"count": "3"}},
        {"doubleValue": "Infinity"},
        {"doubleValue": True},
        {"int64Value": "4e2"},
        {},
    ],
)
async def test_values_that_are_not_finite_numbers_are_errors(
    http_server: RecordingServer, value: dict[str, object]
) -> None:
    google(http_server, MQL, Reply(body=series(value)))
    with pytest.raises(ProviderError) as failed:
        await provider(http_server).run_query(MQL)
    assert not isinstance(failed.value, NoValuesFound)


async def test_an_api_error_names_the_status_and_never_the_token(http_server: RecordingServer) -> None:
    body = {
        "error": {
            "code": 400,
            "status": "INVALID_ARGUMENT",
            "message": f"Line 2: unknown table 'k8s_contaner' (token {GOOGLE_ACCESS_TOKEN})",
        }
    }
    google(http_server, MQL, Reply(400, body))
    with pytest.raises(
        ProviderError, match="error requesting stackdriver: error response 400 INVALID_ARGUMENT: Line 2"
    ) as failed:
        await provider(http_server).run_query(MQL)
    assert GOOGLE_ACCESS_TOKEN not in str(failed.value)


async def test_a_refused_token_request_is_an_error_without_key_or_assertion(
    http_server: RecordingServer,
) -> None:
    def respond(request: Recorded) -> Reply:
        echoed = request.body.decode()
        return Reply(400, {"error": "invalid_grant", "error_description": f"Invalid JWT Signature. {echoed}"})

    http_server.reply_with(respond)
    with pytest.raises(
        ProviderError, match="error response 400: invalid_grant: Invalid JWT Signature"
    ) as failed:
        await provider(http_server).run_query(MQL)
    message = str(failed.value)
    assert "BEGIN PRIVATE KEY" not in message and "eyJ" not in message
    assert [r.path for r in http_server.requests] == ["/token"]


@pytest.mark.parametrize(
    "answer",
    [
        Reply(body={"token_type": "Bearer"}),
        Reply(body={"access_token": "t", "expires_in": "soon"}),
        Reply(body="x"),
    ],
)
async def test_a_token_answer_without_a_token_is_an_error(
    http_server: RecordingServer, answer: Reply
) -> None:
    http_server.reply_with(answer)
    with pytest.raises(ProviderError, match="unmarshaling"):
        await provider(http_server).run_query(MQL)


@pytest.mark.parametrize(
    ("status", "body", "online"),
    [
        (400, {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "Query is empty"}}, True),
        (200, {}, True),
        (403, {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "insufficient"}}, False),
        (400, {"error": {"code": 400, "status": "FAILED_PRECONDITION", "message": "x"}}, False),
    ],
)
async def test_is_online_sends_an_empty_query(
    http_server: RecordingServer, status: int, body: object, online: bool
) -> None:
    google(http_server, "", Reply(status, body))
    if online:
        assert await provider(http_server).is_online() is True
    else:
        with pytest.raises(ProviderError, match=f"unexpected status code: {status}"):
            await provider(http_server).is_online()


def test_the_project_is_required() -> None:
    config = ProviderConfig(type="stackdriver", has_secret=True)
    with pytest.raises(ProviderConfigError, match="does not contain a project id"):
        StackdriverProvider(config, {"serviceAccountKey": service_account_json("https://t")})
    with pytest.raises(ProviderConfigError, match="does not contain a project id"):
        StackdriverProvider(ProviderConfig(type="stackdriver"), None)


def test_without_a_key_the_controllers_key_file_is_used(tmp_path: Path) -> None:
    config = ProviderConfig(type="stackdriver", has_secret=True)
    with pytest.raises(ProviderConfigError, match="GOOGLE_APPLICATION_CREDENTIALS is not set"):
        StackdriverProvider(config, {"project": "p"}, environ={})
    with pytest.raises(ProviderConfigError, match="cannot read GOOGLE_APPLICATION_CREDENTIALS"):
        StackdriverProvider(
            config, {"project": "p"}, environ={"GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent"}
        )
    key_file = tmp_path / "key.json"
    key_file.write_text(service_account_json("https://oauth2.googleapis.com/token"))
    StackdriverProvider(config, {"project": "p"}, environ={"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)})


def _ec_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("not json", "not a JSON service account key file"),
        ("[]", "not a JSON service account key file"),
        (json.dumps({"type": "authorized_user"}), "type must be 'service_account'"),
        (json.dumps({"type": "service_account", "private_key": RSA_PEM}), "no client_email"),
        (json.dumps({"type": "service_account", "client_email": "a@b"}), "no private_key"),
        (json.dumps({"type": "service_account", "client_email": "a@b", "private_key": "x"}), "not a PEM"),
        (
            json.dumps({"type": "service_account", "client_email": "a@b", "private_key": _ec_pem()}),
            "not an RSA",
        ),
        (
            json.dumps(
                {
                    "type": "service_account",
                    "client_email": "a",
                    "private_key": RSA_PEM,
                    "token_uri": "file:/x",
                }
            ),
            "token_uri is not an http",
        ),
        ("x" * 70_000, "larger than"),
    ],
)
def test_an_unusable_key_is_a_config_error_that_never_shows_it(key: str, reason: str) -> None:
    config = ProviderConfig(type="stackdriver", has_secret=True)
    with pytest.raises(ProviderConfigError, match=reason) as refused:
        StackdriverProvider(config, {"project": "p", "serviceAccountKey": key})
    assert "PRIVATE KEY" not in str(refused.value)


def test_the_address_must_be_a_url() -> None:
    config = ProviderConfig(type="stackdriver", address="ftp://x", has_secret=True)
    with pytest.raises(ProviderConfigError, match="not a valid URL"):
        StackdriverProvider(config, {"project": "p", "serviceAccountKey": service_account_json("https://t")})
