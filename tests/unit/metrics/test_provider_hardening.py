"""Metric providers under hostile answers: total deadline, 1 MiB cap, short sanitized errors,
and no calls to link-local or metadata addresses."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from controller.metrics.errors import MetricsError, ProviderError
from controller.metrics.providers import ProviderConfig, provider_for
from controller.metrics.providers.contract import MetricProvider
from tests.hostile_http import HostileServer, serve_hostile

SECRETS = {
    "prometheus": {"token": "hunter2"},
    "datadog": {"datadog_api_key": "hunter2", "datadog_application_key": "app-key"},
    "graphite": {"username": "graphite-reader", "password": "hunter2"},
}
TYPES = sorted(SECRETS)


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with serve_hostile() as server:
        yield server


def provider(kind: str, address: str, timeout: float = 5.0) -> MetricProvider:
    config = ProviderConfig(type=kind, address=address, timeout=timeout, has_secret=True)
    return provider_for(config, SECRETS[kind])


@pytest.mark.parametrize("kind", TYPES)
async def test_a_trickling_backend_fails_at_the_total_deadline(hostile: HostileServer, kind: str) -> None:
    started = time.monotonic()
    with pytest.raises(ProviderError, match=r"timed out after 0\.5s"):
        await provider(kind, hostile.url + "/trickle", timeout=0.5).run_query("q")
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("kind", TYPES)
async def test_a_100_mb_answer_stops_at_the_cap(hostile: HostileServer, kind: str) -> None:
    started = time.monotonic()
    with pytest.raises(ProviderError, match="larger than the 1048576-byte limit"):
        await provider(kind, hostile.url + "/huge").run_query("q")
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize("kind", TYPES)
async def test_error_answers_show_only_a_short_sanitized_fragment(hostile: HostileServer, kind: str) -> None:
    with pytest.raises(ProviderError) as failed:
        await provider(kind, hostile.url + "/status-500").run_query("q")
    message = str(failed.value)
    assert message.startswith("error response 500: ")
    assert len(message) <= len("error response 500: ") + 120
    assert message.isprintable()
    assert "hunter2" not in message


@pytest.mark.parametrize("kind", TYPES)
async def test_malformed_json_is_a_provider_error(hostile: HostileServer, kind: str) -> None:
    with pytest.raises(ProviderError, match="error unmarshaling result"):
        await provider(kind, hostile.url + "/malformed").run_query("q")


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize(
    "address",
    ["http://169.254.169.254/latest/meta-data", "http://metadata.google.internal", "http://[fe80::1]:9090"],
)
async def test_metadata_and_link_local_backends_are_refused(kind: str, address: str) -> None:
    with pytest.raises(MetricsError, match="refused"):
        await provider(kind, address, timeout=2.0).run_query("q")
