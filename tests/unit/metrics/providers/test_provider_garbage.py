"""Every HTTP provider added after the first three, under hostile and garbage answers: a 5xx, a
slow answer, an oversize answer and bodies no API documents all raise, never give a number."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.metrics.errors import MetricsError, ProviderError
from controller.metrics.providers import ProviderConfig, provider_for
from controller.metrics.providers.contract import MetricProvider
from tests.hostile_http import HostileServer, serve_hostile
from tests.recording_http import RecordingServer, Reply, serve_recording
from tests.unit.metrics.providers.provider_fakes import GARBAGE_BODIES, service_account_json

SECRETS = {
    "newrelic": {"newrelic_account_id": "1", "newrelic_query_key": "hunter2"},
    "dynatrace": {"dynatrace_token": "hunter2"},
    "influxdb": {"token": "hunter2", "org": "o"},
    "cloudwatch": {"aws_access_key_id": "AKID", "aws_secret_access_key": "hunter2"},
    "externalmetrics": {"token": "hunter2"},
    "splunk": {"sf_token_key": "hunter2"},
    "stackdriver": {"project": "p"},  # serviceAccountKey: see _google_token_endpoint
}
QUERIES = {"cloudwatch": '[{"Id": "m1", "Expression": "m1"}]', "externalmetrics": "default/m"}
TYPES = sorted(SECRETS)


@pytest.fixture(scope="module", autouse=True)
def _google_token_endpoint() -> Iterator[None]:
    """Stackdriver's token endpoint answers well: the hostile answers come from the monitoring API."""
    with serve_recording() as tokens:
        tokens.reply_with(Reply(body={"access_token": "hunter2", "expires_in": 3599}))
        SECRETS["stackdriver"]["serviceAccountKey"] = service_account_json(tokens.url + "/token")
        yield
        del SECRETS["stackdriver"]["serviceAccountKey"]


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with serve_hostile() as server:
        yield server


def provider(kind: str, address: str, timeout: float = 5.0) -> MetricProvider:
    config = ProviderConfig(
        type=kind,
        address=address,
        timeout=timeout,
        has_secret=True,
        region="eu-west-1" if kind == "cloudwatch" else "",
    )
    return provider_for(config, SECRETS[kind])


def query(kind: str) -> str:
    return QUERIES.get(kind, "q")


@pytest.mark.parametrize("kind", TYPES)
async def test_a_trickling_backend_fails_at_the_total_deadline(hostile: HostileServer, kind: str) -> None:
    started = time.monotonic()
    with pytest.raises(ProviderError, match=r"timed out after 0\.5s"):
        await provider(kind, hostile.url + "/trickle", timeout=0.5).run_query(query(kind))
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("kind", TYPES)
async def test_a_100_mb_answer_stops_at_the_cap(hostile: HostileServer, kind: str) -> None:
    with pytest.raises(ProviderError, match="larger than the 1048576-byte limit"):
        await provider(kind, hostile.url + "/huge").run_query(query(kind))


@pytest.mark.parametrize("kind", TYPES)
async def test_a_5xx_is_an_error_with_a_short_sanitized_fragment(hostile: HostileServer, kind: str) -> None:
    with pytest.raises(ProviderError) as failed:
        await provider(kind, hostile.url + "/status-500").run_query(query(kind))
    message = str(failed.value)
    assert "error response 500" in message
    assert len(message) <= 200 and message.isprintable()
    assert "hunter2" not in message


@pytest.mark.parametrize("kind", TYPES)
async def test_is_online_on_a_5xx_is_an_error(hostile: HostileServer, kind: str) -> None:
    with pytest.raises(ProviderError):
        await provider(kind, hostile.url + "/status-502").is_online()


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize("body", GARBAGE_BODIES, ids=range(len(GARBAGE_BODIES)))
async def test_garbage_bodies_never_become_a_number(
    http_server: RecordingServer, kind: str, body: bytes
) -> None:
    http_server.reply_with(Reply(body=body))
    with pytest.raises(MetricsError):
        await provider(kind, http_server.url).run_query(query(kind))


_json = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(TYPES), answer=_json)
async def test_random_json_gives_an_error_or_a_finite_value_taken_from_it(
    http_server: RecordingServer, kind: str, answer: object
) -> None:
    text = json.dumps(answer)
    http_server.reply_with(Reply(body=text))
    try:
        value = await provider(kind, http_server.url).run_query(query(kind))
    except MetricsError:
        return
    assert math.isfinite(value)
    assert (
        repr(value) in text
        or str(int(value)) in text
        or any(str(n) in text for n in (value, int(value) if value.is_integer() else value))
    )
