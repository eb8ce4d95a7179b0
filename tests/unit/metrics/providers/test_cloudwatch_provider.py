"""CloudWatch against moto's server mode (a real AWS API emulator) with IAM signature checks on,
and the SigV4 signer against AWS's published test vectors and botocore's signer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import server as moto_server

from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers.cloudwatch import CloudWatchProvider, credentials_from
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.sigv4 import AwsCredentials, sign
from tests.recording_http import RecordingServer, Reply

REGION = "eu-west-1"
VECTOR_KEY = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
VECTOR_TIME = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)


def error_rate_query(function: str, expression: str = "m1 / m2") -> str:
    """The query of Flagger's cloudwatch_test.go (AWS's GetMetricData knowledge-center example)."""

    def stat(query_id: str, metric: str) -> dict[str, Any]:
        return {
            "Id": query_id,
            "MetricStat": {
                "Metric": {
                    "Namespace": "MyApplication",
                    "MetricName": metric,
                    "Dimensions": [{"Name": "FunctionName", "Value": function}],
                },
                "Period": 60,
                "Stat": "Sum",
                "Unit": "Count",
            },
            "ReturnData": False,
        }

    return json.dumps(
        [
            {"Id": "e1", "Expression": expression, "Label": "ErrorRate"},
            stat("m1", "Errors"),
            stat("m2", "Invocations"),
        ]
    )


def sum_query(function: str, metric: str = "Errors") -> str:
    return json.dumps(
        [
            {
                "Id": "m1",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "MyApplication",
                        "MetricName": metric,
                        "Dimensions": [{"Name": "FunctionName", "Value": function}],
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ]
    )


class Moto:
    def __init__(self, url: str, key: dict[str, str]) -> None:
        self.url = url
        self.key = key
        self.cloudwatch = boto3.client(
            "cloudwatch",
            region_name=REGION,
            endpoint_url=url,
            aws_access_key_id=key["aws_access_key_id"],
            aws_secret_access_key=key["aws_secret_access_key"],
        )

    def put(self, function: str, metric: str, value: float) -> None:
        self.cloudwatch.put_metric_data(
            Namespace="MyApplication",
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "FunctionName", "Value": function}],
                    "Timestamp": datetime.now(UTC) - timedelta(seconds=30),
                    "Value": value,
                    "Unit": "Count",
                }
            ],
        )

    def provider(self, secret: dict[str, str] | None = None, interval: str = "1m") -> CloudWatchProvider:
        config = ProviderConfig(type="cloudwatch", address=self.url, region=REGION, has_secret=True)
        return CloudWatchProvider(
            config, self.key if secret is None else secret, interval=interval, environ={}
        )


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    import urllib.request

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"

    def reset_auth(count: str) -> None:
        request = urllib.request.Request(
            url + "/moto-api/reset-auth",
            data=count.encode(),
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        urllib.request.urlopen(request, timeout=5).read()

    # moto's backends and its auth switch are global to the process: another test's emulator in
    # this same process (tests/integration/metrics) may have left authentication on, which
    # refused the unsigned set-up below with InvalidClientTokenId in a full run.
    reset_auth("inf")
    urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset", method="POST"), timeout=5).read()
    admin = {"aws_access_key_id": "AKIAADMIN", "aws_secret_access_key": "admin"}
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=url, **admin)
    iam.create_user(UserName="gitcanary")
    iam.put_user_policy(
        UserName="gitcanary",
        PolicyName="cloudwatch",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["cloudwatch:*", "monitoring:*"], "Resource": "*"}
                ],
            }
        ),
    )
    created = iam.create_access_key(UserName="gitcanary")["AccessKey"]
    key = {"aws_access_key_id": created["AccessKeyId"], "aws_secret_access_key": created["SecretAccessKey"]}
    reset_auth("0")  # from now on every request must carry a valid signature of a known key
    try:
        yield Moto(url, key)
    finally:
        reset_auth("inf")
        server.stop()


async def test_metric_data_put_in_moto_is_read_back_through_the_signed_provider(moto: Moto) -> None:
    moto.put("checkout", "Errors", 3)
    moto.put("checkout", "Errors", 4)
    assert await moto.provider().run_query(sum_query("checkout")) == 7.0


async def test_flaggers_expression_query_shape(moto: Moto) -> None:
    # moto's metric math evaluates an expression that names one query, not "m1 / m2": the shape
    # (an expression over ReturnData=false stats) is Flagger's, the arithmetic is CloudWatch's.
    moto.put("payments", "Errors", 5)
    moto.put("payments", "Invocations", 20)
    assert await moto.provider().run_query(error_rate_query("payments", expression="m2")) == 20.0


async def test_no_data_is_no_values(moto: Moto) -> None:
    with pytest.raises(NoValuesFound):
        await moto.provider().run_query(sum_query("nobody-calls-this"))


async def test_a_wrong_secret_key_is_refused_by_moto_and_never_shown(moto: Moto) -> None:
    wrong = {**moto.key, "aws_secret_access_key": "not-the-key-0123456789"}
    with pytest.raises(ProviderError, match=r"403: .*SignatureDoesNotMatch") as failed:
        await moto.provider(wrong).run_query(sum_query("checkout"))
    assert "not-the-key-0123456789" not in str(failed.value)


async def test_is_online_against_moto(moto: Moto) -> None:
    assert await moto.provider().is_online() is True
    unknown = {"aws_access_key_id": "AKIAUNKNOWN000000000", "aws_secret_access_key": "unknown-secret"}
    with pytest.raises(
        ProviderError, match=r"unexpected status code: error response 403: .*InvalidClientTokenId"
    ):
        await moto.provider(unknown).is_online()


async def test_a_query_that_is_not_a_metric_data_query_list_is_an_error(moto: Moto) -> None:
    for query in ("not json", '{"Id": "m1"}', "[1, 2]"):
        with pytest.raises(ProviderError, match="error unmarshaling query"):
            await moto.provider().run_query(query)


async def test_request_shape_and_answers_on_a_contract_fake(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body={"MetricDataResults": [{"Id": "e1", "Values": [100.0]}]}))
    config = ProviderConfig(type="cloudwatch", address=http_server.url, region=REGION)
    env = {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SESSION_TOKEN": "tok"}
    provider = CloudWatchProvider(config, None, interval="5m", environ=env, clock=lambda: 1_700_000_000.5)
    assert await provider.run_query(error_rate_query("f")) == 100.0
    (request,) = http_server.requests
    assert (request.method, request.path) == ("POST", "/")
    assert request.headers["x-amz-target"] == "GraniteServiceVersion20100801.GetMetricData"
    assert request.headers["content-type"] == "application/x-amz-json-1.0"
    assert request.headers["x-amz-security-token"] == "tok"
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDENV/")
    assert f"/{REGION}/monitoring/aws4_request" in request.headers["authorization"]
    body = request.json()
    assert isinstance(body, dict)
    assert (body["StartTime"], body["EndTime"]) == (1_700_000_000.5 - 3000, 1_700_000_000.5)
    assert body["MaxDatapoints"] == 20
    assert body["MetricDataQueries"] == json.loads(error_rate_query("f"))

    for answer, error in [
        ({"MetricDataResults": [{"Values": [float("nan")]}]}, NoValuesFound),
        ({"MetricDataResults": [{"Values": []}]}, NoValuesFound),
        ({}, NoValuesFound),
        ({"MetricDataResults": [{"Values": [float("inf")]}]}, ProviderError),
        ({"MetricDataResults": [{"Values": ["3"]}], "x": 1}, None),
    ]:
        http_server.reply_with(Reply(body=json.dumps(answer)))
        if error is None:
            assert await provider.run_query("[]") == 3.0
        else:
            with pytest.raises(error):
                await provider.run_query("[]")


async def test_is_online_takes_400_as_online_and_retries_5xx(http_server: RecordingServer) -> None:
    config = ProviderConfig(type="cloudwatch", address=http_server.url, region=REGION)
    env = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    provider = CloudWatchProvider(config, None, environ=env)
    http_server.reply_with(Reply(status=400, body={"__type": "InvalidParameterValue", "message": "empty"}))
    assert await provider.is_online() is True
    http_server.requests.clear()
    http_server.reply_with(Reply(status=503, body={"message": "slow down"}))
    with pytest.raises(ProviderError, match="503"):
        await provider.run_query("[]")
    assert len(http_server.requests) == 4  # one attempt and Flagger's 3 retries


def test_region_and_credentials_are_required() -> None:
    with pytest.raises(ProviderConfigError, match="region not specified"):
        CloudWatchProvider(ProviderConfig(type="cloudwatch"), None, environ={"AWS_ACCESS_KEY_ID": "a"})
    with pytest.raises(ProviderConfigError, match="controller environment"):
        CloudWatchProvider(ProviderConfig(type="cloudwatch", region=REGION), None, environ={})
    with pytest.raises(ProviderConfigError, match="secretRef"):
        credentials_from({"aws_access_key_id": "a"}, {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"})
    with pytest.raises(ProviderConfigError, match="interval"):
        CloudWatchProvider(ProviderConfig(type="cloudwatch", region=REGION), None, interval="x", environ={})


def test_the_default_endpoint_follows_the_region() -> None:
    env = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    assert CloudWatchProvider(
        ProviderConfig(type="cloudwatch", region="ap-east-1"), None, environ=env
    )._url == ("https://monitoring.ap-east-1.amazonaws.com/")
    assert CloudWatchProvider(
        ProviderConfig(type="cloudwatch", region="cn-north-1"), None, environ=env
    )._url == ("https://monitoring.cn-north-1.amazonaws.com.cn/")


@pytest.mark.parametrize(
    ("params", "signature"),
    [
        ((), "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),  # get-vanilla
        (
            (("Param2", "value2"), ("Param1", "value1")),  # get-vanilla-query-order-key-case
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
    ],
)
def test_sigv4_matches_awss_published_test_vectors(
    params: tuple[tuple[str, str], ...], signature: str
) -> None:
    headers = sign(
        VECTOR_KEY,
        method="GET",
        host="example.amazonaws.com",
        path="/",
        region="us-east-1",
        service="service",
        headers={},
        body=b"",
        params=params,
        now=VECTOR_TIME,
    )
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}"
    )


def test_sigv4_matches_botocore_for_a_signed_json_post() -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = b'{"MetricDataQueries":[],"StartTime":1,"EndTime":2}'
    own = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "GraniteServiceVersion20100801.GetMetricData",
    }
    moment = datetime.now(UTC).replace(microsecond=0)
    mine = sign(
        AwsCredentials("AKID", "secret/key+1", "session"),
        method="POST",
        host="monitoring.eu-west-1.amazonaws.com",
        path="/",
        region="eu-west-1",
        service="monitoring",
        headers=own,
        body=body,
        now=moment,
    )
    request = AWSRequest(
        method="POST", url="https://monitoring.eu-west-1.amazonaws.com/", data=body, headers=own
    )
    request.context["timestamp"] = moment.strftime("%Y%m%dT%H%M%SZ")
    SigV4Auth(Credentials("AKID", "secret/key+1", "session"), "monitoring", "eu-west-1").add_auth(request)
    assert mine["Authorization"] == request.headers["Authorization"]
    assert mine["X-Amz-Security-Token"] == "session"
