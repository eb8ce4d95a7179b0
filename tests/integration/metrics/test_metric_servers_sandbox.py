"""The graphite, influxdb and externalmetrics providers against real servers the sandbox starts
on demand: Debian's Graphite (carbon-cache + graphite-web), Debian's InfluxDB 1.x, and an
external metrics API aggregated into the sandbox's kube-apiserver by an APIService.

Each test writes its metric into the server through the server's own ingestion path and reads it
back through the provider, as the controller would."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from controller.kube import Kube
from controller.metrics.errors import NoValuesFound, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.registry import provider_for
from gitcanary_sandbox import external_metrics, graphite, influx, optional
from gitcanary_sandbox.client import SandboxClient
from gitcanary_sandbox.environment import SandboxState


def _base(sandbox: SandboxClient) -> Path:
    return Path(sandbox.state.dir)


def _port(sandbox: SandboxClient, name: str) -> int:
    state = SandboxState.load(_base(sandbox))
    assert state is not None
    return state.ports[name]


def test_graphite_render_value_written_through_carbon(sandbox: SandboxClient) -> None:
    url = optional.ensure(_base(sandbox), "graphite")
    line_port = _port(sandbox, "carbon_line")
    metric = f"gitcanary.t{uuid.uuid4().hex[:8]}"
    now = time.time()
    graphite.send(
        line_port,
        [(f"{metric}.podinfo.requests", 100.0 + i, now - 5 + i) for i in range(5)]
        + [(f"{metric}.podinfo.errors", 2.0, now - 5 + i) for i in range(5)],
    )
    provider = provider_for(ProviderConfig(type="graphite", address=url))
    query = (
        f"target=asPercent(\n  sumSeries({metric}.podinfo.errors),\n  sumSeries({metric}.podinfo.requests)\n)"
        "&from=-1min"
    )

    async def read() -> float:
        deadline = time.monotonic() + 20
        while True:
            try:
                return await provider.run_query(query)
            except NoValuesFound:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)

    value = asyncio.run(read())
    # The last point: 2 errors of 104 requests, as graphite-web's asPercent computes it.
    assert value == pytest.approx(200.0 / 104.0)
    assert asyncio.run(provider.is_online()) is True
    with pytest.raises(NoValuesFound):
        asyncio.run(provider.run_query(f"target={metric}.nothing.here&from=-1min"))


def test_influxdb_1x_stores_line_protocol_but_serves_no_flux_query_api(sandbox: SandboxClient) -> None:
    """Debian bookworm's InfluxDB is 1.6.7: InfluxQL on /query works, but Flux (1.7+) and its
    /api/v2/query endpoint (1.8+) do not exist, so the provider's Flux path (Flagger's) gets 404,
    which must be an error, never a number."""
    url = optional.ensure(_base(sandbox), "influxdb")
    database = f"t{uuid.uuid4().hex[:8]}"
    influx.influxql(url, f'CREATE DATABASE "{database}"')
    now_ns = time.time_ns()
    influx.write_lines(
        url,
        database,
        [
            f"http_requests,app=podinfo,code={code} value={n} {now_ns - i * 10**9}"
            for i, (code, n) in enumerate((("200", 98), ("500", 2)))
        ],
    )
    answer = influx.influxql(
        url, "SELECT sum(value) FROM http_requests WHERE app='podinfo' AND code='500'", database
    )
    series = answer["results"][0]["series"][0]  # type: ignore[index]
    assert series["values"][0][1] == 2  # the 1.x server stores and answers the written points

    provider = provider_for(ProviderConfig(type="influxdb", address=url))
    flux = f'from(bucket: "{database}") |> range(start: -5m) |> filter(fn: (r) => r.code == "500") |> sum()'
    with pytest.raises(ProviderError, match="404"):
        asyncio.run(provider.run_query(flux))
    with pytest.raises(ProviderError, match="404"):
        asyncio.run(provider.is_online())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(f"{url}/api/v2/query", data=b"{}"), timeout=5)
    assert refused.value.code == 404


def test_externalmetrics_through_the_aggregated_apiservice(sandbox: SandboxClient) -> None:
    base = _base(sandbox)
    optional.ensure(base, "external-metrics")
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    external_metrics.set_values(
        base,
        namespace,
        "podinfo-error-rate",
        [
            {"labels": {"app": "other"}, "value": "9"},
            {"labels": {"app": "podinfo", "track": "canary"}, "value": "1500m"},
        ],
    )
    # Through kube-apiserver itself: discovery lists the group, and the proxied GET answers.
    groups = sandbox.kubectl("get", "--raw", "/apis/external.metrics.k8s.io/v1beta1")
    assert '"ExternalMetricValueList"' in groups

    async def through_provider() -> tuple[float, bool]:
        kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
        try:
            provider = provider_for(ProviderConfig(type="externalmetrics"), kube=kube)
            value = await provider.run_query(
                f"{namespace}/podinfo-error-rate?labelSelector=app%3Dpodinfo%2Ctrack%3Dcanary"
            )
            online = await provider.is_online()
            with pytest.raises(NoValuesFound):
                await provider.run_query(f"{namespace}/podinfo-error-rate?labelSelector=app%3Dnone")
            return value, online
        finally:
            await kube.close()

    value, online = asyncio.run(through_provider())
    assert value == 1.5
    assert online is True
