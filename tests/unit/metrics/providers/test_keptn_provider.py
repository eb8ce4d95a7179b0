"""Keptn through the controller's real Kubernetes client against a contract fake of the
metrics.keptn.sh/v1beta1 API that plays Keptn (Flagger's keptn_test.go cases)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from kubernetes import client

from controller.kube import Kube
from controller.metrics.errors import ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.keptn import KeptnProvider, parse_query
from tests.recording_http import Recorded, RecordingServer, Reply
from tests.unit.metrics.providers.provider_fakes import serve_contract

BASE = "/apis/metrics.keptn.sh/v1beta1/namespaces/default"


class FakeKeptn:
    """KeptnMetrics by name; Analyses created by the provider, completed with ``outcome``."""

    def __init__(self, metrics: dict[str, Any], outcome: bool | None) -> None:
        self.metrics = metrics
        self.outcome = outcome
        self.analyses: dict[str, Any] = {}
        self.created: list[Any] = []

    def __call__(self, request: Recorded) -> Reply:
        if request.headers.get("authorization") != "Bearer cluster-token":
            return Reply(status=401, body={"kind": "Status", "message": "Unauthorized"})
        path = request.path.removeprefix(BASE)
        if path.startswith("/keptnmetrics/") and request.method == "GET":
            name = path.rsplit("/", 1)[1]
            if name not in self.metrics:
                return Reply(
                    status=404, body={"kind": "Status", "message": f'keptnmetrics "{name}" not found'}
                )
            return Reply(body=self.metrics[name])
        if path == "/analyses" and request.method == "POST":
            obj = json.loads(request.body)
            self.created.append(obj)
            self.analyses[obj["metadata"]["name"]] = obj
            return Reply(status=201, body=obj)
        if path.startswith("/analyses/"):
            name = path.rsplit("/", 1)[1]
            if name not in self.analyses:
                return Reply(status=404, body={"kind": "Status", "message": "not found"})
            if request.method == "DELETE":
                del self.analyses[name]
                return Reply(body={"kind": "Status", "status": "Success"})
            obj = dict(self.analyses[name])
            if self.outcome is not None:
                obj["status"] = {"state": "Completed", "pass": self.outcome}
            return Reply(body=obj)
        return Reply(status=404, body={"kind": "Status", "message": "no route"})


def keptn_metric(value: str | None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "metrics.keptn.sh/v1beta1",
        "kind": "KeptnMetric",
        "metadata": {"name": "my-metric", "namespace": "default"},
        "spec": {"fetchIntervalSeconds": 2, "provider": {"name": "my-provider"}, "query": "my-query"},
    }
    if value is not None:
        obj["status"] = {"value": value}
    return obj


@pytest.fixture
def http_server() -> Iterator[RecordingServer]:
    with serve_contract() as server:
        yield server


@pytest.fixture
async def kube(http_server: RecordingServer) -> AsyncIterator[Kube]:
    cfg = client.Configuration()
    cfg.host = http_server.url
    cfg.api_key = {"BearerToken": "Bearer cluster-token"}
    kube = Kube(cfg)
    yield kube
    await kube.close()


def provider(kube: Kube) -> KeptnProvider:
    return KeptnProvider(ProviderConfig(type="keptn"), kube=kube, analysis_timeout=0.5, poll_interval=0.01)


async def test_a_keptn_metrics_value(http_server: RecordingServer, kube: Kube) -> None:
    http_server.reply_with(FakeKeptn({"my-metric": keptn_metric("3.0")}, None))
    assert await provider(kube).run_query("keptnmetric/default/my-metric") == 3.0
    assert await provider(kube).run_query("  KeptnMetrics/Default/My-Metric\n") == 3.0


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ({}, "could not retrieve KeptnMetric default/my-metric: 404"),
        ({"my-metric": keptn_metric("invalid")}, "could not parse value of KeptnMetric default/my-metric"),
        ({"my-metric": keptn_metric(None)}, "no value found in resource default/my-metric"),
        ({"my-metric": keptn_metric("+Inf")}, "could not parse value"),
    ],
)
async def test_keptn_metric_failures(
    http_server: RecordingServer, kube: Kube, metrics: dict[str, Any], message: str
) -> None:
    http_server.reply_with(FakeKeptn(metrics, None))
    with pytest.raises(ProviderError, match=message):
        await provider(kube).run_query("keptnmetric/default/my-metric")


@pytest.mark.parametrize(
    ("query", "outcome", "expected", "spec"),
    [
        (
            "analysis/default/my-analysis/5m/foo=bar;bar=foo",
            True,
            1.0,
            {
                "analysisDefinition": {"name": "my-analysis"},
                "args": {"foo": "bar", "bar": "foo"},
                "timeframe": {"recent": "5m"},
            },
        ),
        (
            "analysis/default/my-analysis",
            False,
            0.0,
            {"analysisDefinition": {"name": "my-analysis"}, "args": {}, "timeframe": {"recent": "1m"}},
        ),
    ],
)
async def test_an_analysis_is_created_awaited_and_deleted(
    http_server: RecordingServer, kube: Kube, query: str, outcome: bool, expected: float, spec: dict[str, Any]
) -> None:
    fake = FakeKeptn({}, outcome)
    http_server.reply_with(fake)
    assert await provider(kube).run_query(query) == expected
    (created,) = fake.created
    assert created["spec"] == spec
    assert created["metadata"]["name"].startswith("my-analysis-")
    assert fake.analyses == {}


async def test_an_analysis_that_never_finishes_times_out_and_is_deleted(
    http_server: RecordingServer, kube: Kube
) -> None:
    fake = FakeKeptn({}, None)
    http_server.reply_with(fake)
    with pytest.raises(ProviderError, match="timeout while waiting for Keptn Analysis default/my-analysis"):
        await provider(kube).run_query("analysis/default/my-analysis")
    assert len(fake.created) == 1
    assert fake.analyses == {}


@pytest.mark.parametrize("query", ["invalid/default", "invalid/default/my-metric", ""])
def test_malformed_queries(query: str) -> None:
    with pytest.raises(ProviderError, match="unexpected"):
        parse_query(query)


async def test_is_online_and_the_kube_client_requirement(kube: Kube) -> None:
    assert await provider(kube).is_online() is True
    with pytest.raises(ProviderConfigError, match="no Kubernetes client"):
        KeptnProvider(ProviderConfig(type="keptn"), kube=None)
