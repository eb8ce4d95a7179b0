"""externalmetrics through the controller's real Kubernetes client (``controller.kube.Kube``) and
through a template address, both against a contract fake of external.metrics.k8s.io/v1beta1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from kubernetes import client

from controller.kube import Kube
from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.externalmetrics import ExternalMetricsProvider, parse_quantity, parse_query
from tests.recording_http import Recorded, RecordingServer, Reply
from tests.unit.metrics.providers.provider_fakes import Shape, contract, expect

QUERY = "default/myMetric?labelSelector=label1%3Dvalue1"
API = "/apis/external.metrics.k8s.io/v1beta1"


def value_list(*values: object) -> dict[str, object]:
    return {
        "kind": "ExternalMetricValueList",
        "apiVersion": "external.metrics.k8s.io/v1beta1",
        "metadata": {},
        "items": [
            {"metricName": "myMetric", "timestamp": "2024-01-01T00:00:00Z", "value": v} for v in values
        ],
    }


def listing(namespace: str, metric: str, selector: str | None, token: str) -> Shape:
    def check(request: Recorded) -> list[str]:
        return [
            *expect(request.method == "GET", request.method),
            *expect(request.path == f"{API}/namespaces/{namespace}/{metric}", request.path),
            *expect(
                request.query.get("labelSelector") == ([selector] if selector else None), str(request.query)
            ),
            *expect(request.headers.get("authorization") == f"Bearer {token}", "Authorization"),
        ]

    return check


@pytest.fixture
async def kube(http_server: RecordingServer) -> AsyncIterator[Kube]:
    cfg = client.Configuration()
    cfg.host = http_server.url
    cfg.api_key = {"BearerToken": "Bearer cluster-token"}
    kube = Kube(cfg)
    yield kube
    await kube.close()


def through_kube(kube: Kube, timeout: float = 5.0) -> ExternalMetricsProvider:
    return ExternalMetricsProvider(ProviderConfig(type="externalmetrics", timeout=timeout), None, kube=kube)


async def test_the_first_item_through_the_controllers_kube_client(
    http_server: RecordingServer, kube: Kube
) -> None:
    http_server.reply_with(
        contract(
            listing("default", "myMetric", "label1=value1", "cluster-token"),
            Reply(body=value_list("11111m", "5")),
        )
    )
    assert await through_kube(kube).run_query(QUERY) == 11.111


async def test_a_template_address_gets_the_secrets_token_only(http_server: RecordingServer) -> None:
    http_server.reply_with(
        contract(listing("apps", "queue_depth", None, "tenant-token"), Reply(body=value_list("2k")))
    )
    config = ProviderConfig(type="externalmetrics", address=http_server.url, has_secret=True)
    provider = ExternalMetricsProvider(config, {"token": "tenant-token"})
    assert await provider.run_query("apps/queue_depth") == 2000.0


async def test_no_items_is_no_values(http_server: RecordingServer, kube: Kube) -> None:
    http_server.reply_with(Reply(body=value_list()))
    with pytest.raises(NoValuesFound):
        await through_kube(kube).run_query("myMetric")


@pytest.mark.parametrize(
    "body", [value_list("lots"), value_list(3), value_list("1e999"), [1], "not json", {"items": "x"}]
)
async def test_garbage_is_an_error(http_server: RecordingServer, kube: Kube, body: object) -> None:
    http_server.reply_with(Reply(body=body))
    with pytest.raises(ProviderError) as failed:
        await through_kube(kube).run_query("myMetric")
    assert not isinstance(failed.value, NoValuesFound)


async def test_api_errors_slow_and_huge_answers(http_server: RecordingServer, kube: Kube) -> None:
    http_server.reply_with(
        Reply(status=404, body={"kind": "Status", "message": 'the server could not find "x"'})
    )
    with pytest.raises(
        ProviderError, match="error querying external metrics API: 404: the server could not find"
    ):
        await through_kube(kube).run_query("x")
    http_server.reply_with(Reply(status=503, body="service unavailable"))
    with pytest.raises(ProviderError, match="503"):
        await through_kube(kube).is_online()
    http_server.reply_with(Reply(body=value_list("1"), delay=1.0))
    with pytest.raises(ProviderError, match=r"timed out after 0\.3s"):
        await through_kube(kube, timeout=0.3).run_query("x")
    http_server.reply_with(Reply(body=b" " * (2 << 20)))
    with pytest.raises(ProviderError, match="larger than"):
        await through_kube(kube).run_query("x")


async def test_is_online_lists_a_dummy_metric(http_server: RecordingServer, kube: Kube) -> None:
    http_server.reply_with(
        contract(listing("kube-system", "dummy-metric", None, "cluster-token"), Reply(body=value_list()))
    )
    assert await through_kube(kube).is_online() is True


@pytest.mark.parametrize(
    ("query", "parsed"),
    [
        (QUERY, ("default", "myMetric", "label1=value1")),
        ("default/myMetric", ("default", "myMetric", "")),
        ("/metric_only", ("default", "metric_only", "")),
        ("metric_only", ("default", "metric_only", "")),
    ],
)
def test_flaggers_query_forms(query: str, parsed: tuple[str, str, str]) -> None:
    assert parse_query(query) == parsed


@pytest.mark.parametrize("query", ["namespaceonly/", "/", "", "namespace/metric/extra"])
def test_malformed_queries(query: str) -> None:
    with pytest.raises(ProviderError, match="error parsing metric query"):
        parse_query(query)


@pytest.mark.parametrize(
    ("text", "value"),
    [("1.1111", 1.1111), ("1500m", 1.5), ("2k", 2000.0), ("1Ki", 1024.0), ("5e3", 5000.0), ("-3", -3.0)],
)
def test_quantities(text: str, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


def test_no_kube_client_and_no_address_is_a_config_error() -> None:
    with pytest.raises(ProviderConfigError, match="no Kubernetes client"):
        ExternalMetricsProvider(ProviderConfig(type="externalmetrics"))
