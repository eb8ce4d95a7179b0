"""Loopback stand-ins for the SaaS metric APIs, for a real ``gitcanary run`` to query.

Each is a contract server (``provider_fakes.serve_contract`` / ``serve_sse``): it answers the
provider's documented response body only when the request has the shape Flagger's provider
tests pin (method, path, credentials, query parameters, the window of ten metric intervals),
and 400 naming the mismatch otherwise, so a Canary whose controller sends a wrong request
never reaches promotion. CloudWatch is moto's server mode, which checks SigV4 signatures
against a key it issued. Each backend yields the MetricTemplate ``provider`` block, the Secret
data and the query a Canary uses, and answers ``value`` for every metric query.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.recording_http import Recorded, Reply
from tests.unit.metrics.providers.provider_fakes import (
    GOOGLE_ACCESS_TOKEN,
    SseReply,
    expect,
    jwt_bearer_problems,
    serve_contract,
    serve_sse,
    service_account_json,
    sse,
    token_answer,
)

INTERVAL_S = 10
"""The Canaries' metric interval; every windowed provider asks for ten of them."""
WINDOW_S = 10 * INTERVAL_S


@dataclass
class Backend:
    provider: dict[str, Any]
    query: str
    secret: dict[str, str] = field(default_factory=dict)


def _window(request: Recorded, start: str, stop: str, span: int) -> list[str]:
    try:
        got = int(request.query[stop][0]) - int(request.query[start][0])
    except (KeyError, ValueError, IndexError):
        return [f"{start}/{stop} missing"]
    return expect(got == span, f"window {got}, not {span}")


def _answer(problems: list[str], reply: Reply) -> Reply:
    return Reply(400, {"contract": problems}) if problems else reply


@contextmanager
def datadog(value: float) -> Iterator[Backend]:
    keys = {"datadog_api_key": "dd-api-SECRET", "datadog_application_key": "dd-app-SECRET"}

    def respond(request: Recorded) -> Reply:
        problems = expect(request.headers.get("dd-api-key") == keys["datadog_api_key"], "DD-API-KEY")
        if request.path == "/api/v1/validate":
            return _answer(problems, Reply(body={"valid": True}))
        problems += expect((request.method, request.path) == ("GET", "/api/v1/query"), request.path)
        problems += expect(
            request.headers.get("dd-application-key") == keys["datadog_application_key"], "DD-APPLICATION-KEY"
        )
        problems += expect(request.query.get("query") == ["sum:requests.error.rate{*}"], "query")
        problems += _window(request, "from", "to", WINDOW_S)
        now = int(request.query.get("to", ["0"])[0]) * 1000
        return _answer(problems, Reply(body={"series": [{"pointlist": [[now - 1000, 9.0], [now, value]]}]}))

    with serve_contract() as server:
        server.reply_with(respond)
        yield Backend({"type": "datadog", "address": server.url}, "sum:requests.error.rate{*}", keys)


@contextmanager
def newrelic(value: float) -> Iterator[Backend]:
    keys = {"newrelic_account_id": "51312", "newrelic_query_key": "nr-query-SECRET"}
    nrql = "SELECT percentage(count(*), WHERE httpResponseCode >= 500) FROM Transaction"

    def respond(request: Recorded) -> Reply:
        problems = [
            *expect((request.method, request.path) == ("GET", "/v1/accounts/51312/query"), request.path),
            *expect(request.headers.get("x-query-key") == keys["newrelic_query_key"], "X-Query-Key"),
        ]
        got = request.query.get("nrql", [""])[0]
        if got.startswith("SELECT * FROM Metric"):
            return _answer(problems, Reply(body={"results": [{"events": []}]}))
        problems += expect(got == f"{nrql} SINCE {INTERVAL_S} seconds ago", f"nrql {got!r}")
        return _answer(problems, Reply(body={"results": [{"result": value}]}))

    with serve_contract() as server:
        server.reply_with(respond)
        yield Backend({"type": "newrelic", "address": server.url}, nrql, keys)


@contextmanager
def dynatrace(value: float) -> Iterator[Backend]:
    token = {"dynatrace_token": "dt0c01.SECRET"}
    selector = "builtin:service.errors.total.rate:filter(eq(dt.entity.service,SERVICE-1))"

    def respond(request: Recorded) -> Reply:
        problems = expect(request.headers.get("authorization") == "Api-Token dt0c01.SECRET", "Authorization")
        if request.path == "/api/v2/metrics":
            problems += expect(request.query.get("pageSize") == ["1"], "pageSize")
            return _answer(problems, Reply(body={"totalCount": 1, "metrics": [{"metricId": "x"}]}))
        problems += expect(request.path == "/api/v2/metrics/query", request.path)
        problems += expect(request.query.get("metricSelector") == [selector], "metricSelector")
        problems += expect(request.query.get("resolution") == ["Inf"], "resolution")
        problems += _window(request, "from", "to", WINDOW_S * 1000)
        series = {"dimensions": [], "timestamps": [1], "values": [value]}
        body = {"totalCount": 1, "resolution": "Inf", "result": [{"metricId": selector, "data": [series]}]}
        return _answer(problems, Reply(body=body))

    with serve_contract() as server:
        server.reply_with(respond)
        yield Backend({"type": "dynatrace", "address": server.url}, selector, token)


@contextmanager
def stackdriver(value: float) -> Iterator[Backend]:
    mql = "fetch k8s_container | metric 'istio.io/service/server/request_count' | within 1m"
    scope = "https://www.googleapis.com/auth/monitoring.read"
    path = "/v3/projects/my-project/timeSeries:query"

    with serve_contract() as server:

        def respond(request: Recorded) -> Reply:
            if request.path == "/token":
                return _answer(jwt_bearer_problems(request, server.url + "/token", scope), token_answer())
            problems = [
                *expect((request.method, request.path) == ("POST", path), request.path),
                *expect(
                    request.headers.get("authorization") == f"Bearer {GOOGLE_ACCESS_TOKEN}", "Authorization"
                ),
            ]
            query = json.loads(request.body or b"{}").get("query")
            if query == "":
                return _answer(problems, Reply(body={}))
            problems += expect(query == mql, f"query {query!r}")
            point = {"values": [{"doubleValue": value}], "timeInterval": {"endTime": "2024-01-01T00:01:00Z"}}
            body = {
                "timeSeriesDescriptor": {"pointDescriptors": [{"key": "v", "valueType": "DOUBLE"}]},
                "timeSeriesData": [{"labelValues": [], "pointData": [point]}],
            }
            return _answer(problems, Reply(body=body))

        server.reply_with(respond)
        secret = {"project": "my-project", "serviceAccountKey": service_account_json(server.url + "/token")}
        yield Backend({"type": "stackdriver", "address": server.url}, mql, secret)


@contextmanager
def splunk(value: float) -> Iterator[Backend]:
    token = {"sf_token_key": "sf-SECRET-token"}
    program = "data('service.request.errors').sum().publish()"

    def respond(request: Recorded) -> SseReply:
        problems = expect(request.headers.get("x-sf-token") == token["sf_token_key"], "X-SF-Token")
        if request.path == "/v2/metric":
            body = json.dumps({"count": 1, "results": [{"name": "x"}]}) if not problems else "{}"
            return SseReply(200 if not problems else 400, [body], "application/json")
        problems += expect((request.method, request.path) == ("POST", "/v2/signalflow/execute"), request.path)
        problems += expect(request.body.decode() == program, f"program {request.body!r}")
        problems += expect(request.query.get("immediate") == ["true"], "immediate")
        problems += _window(request, "start", "stop", WINDOW_S * 1000)
        if problems:
            return SseReply(
                400,
                [json.dumps({"errorType": "CONTRACT", "message": "; ".join(problems)})],
                "application/json",
            )
        stop = int(request.query["stop"][0])
        chunks = [
            sse("control-message", {"event": "STREAM_START", "timestampMs": stop}),
            sse("control-message", {"event": "JOB_START", "handle": "Dx1", "timestampMs": stop}),
            sse("metadata", {"tsId": "AAA", "properties": {"sf_metric": "service.request.errors"}}),
            sse("data", {"data": [{"tsId": "AAA", "value": value}], "logicalTimestampMs": stop - 1000}),
            sse("control-message", {"event": "END_OF_CHANNEL", "timestampMs": stop}),
        ]
        return SseReply(chunks=chunks)

    with serve_sse() as server:
        server.responder = respond
        yield Backend({"type": "splunk", "address": server.url}, program, token)


@contextmanager
def influxdb_flux(value: float) -> Iterator[Backend]:
    """InfluxDB 2's Flux query API (Debian's InfluxDB 1.6 has none: see test_metric_servers_sandbox)."""
    secret = {"token": "influx-SECRET", "org": "sandbox"}
    flux = 'from(bucket: "canary") |> range(start: -1m) |> filter(fn: (r) => r._measurement == "errors") |> last()'
    csv = (
        "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string\r\n"
        "#group,false,false,true,true,false,false,true,true\r\n#default,_result,,,,,,,\r\n"
        ",result,table,_start,_stop,_time,_value,_field,_measurement\r\n"
        f",,0,2024-01-01T00:00:00Z,2024-01-01T00:01:00Z,2024-01-01T00:00:30Z,{value},value,errors\r\n\r\n"
    )

    def respond(request: Recorded) -> Reply:
        body = json.loads(request.body or b"{}")
        problems = [
            *expect((request.method, request.path) == ("POST", "/api/v2/query"), request.path),
            *expect(request.query.get("org") == ["sandbox"], "org"),
            *expect(request.headers.get("authorization") == "Token influx-SECRET", "Authorization"),
            *expect(body.get("type") == "flux", "type"),
        ]
        if body.get("query") != flux:
            problems += expect(body.get("query") == 'from(bucket: "default") |> range(start: -2h)', "query")
        return _answer(problems, Reply(body=csv))

    with serve_contract() as server:
        server.reply_with(respond)
        yield Backend({"type": "influxdb", "address": server.url}, flux, secret)


@contextmanager
def cloudwatch(value: float) -> Iterator[Backend]:
    """moto's server mode: a signed PutMetricData writes the value, the provider reads it back."""
    import boto3
    from moto import server as moto_server

    region = "eu-west-1"
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        admin = {"aws_access_key_id": "AKIAADMIN", "aws_secret_access_key": "admin"}
        iam = boto3.client("iam", region_name="us-east-1", endpoint_url=url, **admin)
        iam.create_user(UserName="gitcanary")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["cloudwatch:*", "monitoring:*"], "Resource": "*"}],
        }
        iam.put_user_policy(UserName="gitcanary", PolicyName="cw", PolicyDocument=json.dumps(policy))
        created = iam.create_access_key(UserName="gitcanary")["AccessKey"]
        key = {
            "aws_access_key_id": created["AccessKeyId"],
            "aws_secret_access_key": created["SecretAccessKey"],
        }
        cw = boto3.client("cloudwatch", region_name=region, endpoint_url=url, **key)
        stamps = [datetime.now(UTC) - timedelta(seconds=s) for s in range(0, 600, 5)]
        cw.put_metric_data(
            Namespace="Canary",
            MetricData=[{"MetricName": "ErrorRate", "Timestamp": t, "Value": value} for t in stamps[:20]],
        )
        reset = urllib.request.Request(
            url + "/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
        )
        urllib.request.urlopen(reset, timeout=5).read()  # from now on every request must be signed
        query = json.dumps(
            [
                {
                    "Id": "e1",
                    "MetricStat": {
                        "Metric": {"Namespace": "Canary", "MetricName": "ErrorRate"},
                        "Period": 60,
                        "Stat": "Maximum",
                    },
                }
            ]
        )
        yield Backend({"type": "cloudwatch", "address": url, "region": region}, query, key)
    finally:
        server.stop()


SAAS = {
    "datadog": datadog,
    "newrelic": newrelic,
    "dynatrace": dynatrace,
    "stackdriver": stackdriver,
    "splunk": splunk,
    "influxdb": influxdb_flux,
    "cloudwatch": cloudwatch,
}


@contextmanager
def all_backends(value: float) -> Iterator[dict[str, Backend]]:
    with ExitStack() as stack:
        yield {name: stack.enter_context(make(value)) for name, make in SAAS.items()}
