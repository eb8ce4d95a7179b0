"""InfluxDB 2 Flux path against a contract fake of ``/api/v2/query`` (Flagger's influxdb_test.go)."""

from __future__ import annotations

import pytest

from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.influxdb import DIALECT, InfluxdbProvider
from tests.recording_http import Recorded, RecordingServer, Reply
from tests.unit.metrics.providers.provider_fakes import Shape, contract, expect

SECRET = {"token": "influx-TOKEN", "org": "fake-org"}
FLUX = 'from(bucket: "default")  |> range(start: -2h)'
CSV_TABLE = """#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string,string
#group,false,false,true,true,false,false,true,true,true,true
#default,_result,,,,,,,,,
,result,table,_start,_stop,_time,_value,_field,_measurement,a,b
,,0,2020-02-17T22:19:49.747562847Z,2020-02-18T22:19:49.747562847Z,2020-02-18T10:34:08.135814545Z,1.4,f,test,1,adsfasdf
,,0,2020-02-17T22:19:49.747562847Z,2020-02-18T22:19:49.747562847Z,2020-02-18T22:08:44.850214724Z,6.6,f,test,1,adsfasdf
"""
"""The annotated CSV of Flagger's influxdb_test.go."""


def table(value: str, datatype: str = "double") -> str:
    return (
        f"#datatype,string,long,{datatype}\n#group,false,false,false\n#default,_result,,\n"
        f",result,table,_value\n,,0,{value}\n"
    )


def provider(url: str, secret: dict[str, str] | None = None) -> InfluxdbProvider:
    return InfluxdbProvider(
        ProviderConfig(type="influxdb", address=url, has_secret=True), SECRET if secret is None else secret
    )


def flux_query(flux: str) -> Shape:
    def check(request: Recorded) -> list[str]:
        body = request.json()
        return [
            *expect(
                (request.method, request.path) == ("POST", "/api/v2/query"),
                f"{request.method} {request.path}",
            ),
            *expect(request.query.get("org") == ["fake-org"], f"org {request.query.get('org')}"),
            *expect(request.headers.get("authorization") == "Token influx-TOKEN", "Authorization"),
            *expect(request.headers.get("content-type") == "application/json", "Content-Type"),
            *expect(body == {"query": flux, "type": "flux", "dialect": DIALECT}, f"body {body}"),
        ]

    return check


async def test_the_first_records_value_from_flaggers_csv(http_server: RecordingServer) -> None:
    http_server.reply_with(contract(flux_query(FLUX), Reply(body=CSV_TABLE)))
    assert await provider(http_server.url).run_query(FLUX) == 1.4


@pytest.mark.parametrize(("value", "datatype", "expected"), [("7", "long", 7.0), ("8", "unsignedLong", 8.0)])
async def test_integer_values(
    http_server: RecordingServer, value: str, datatype: str, expected: float
) -> None:
    http_server.reply_with(Reply(body=table(value, datatype)))
    assert await provider(http_server.url).run_query(FLUX) == expected


@pytest.mark.parametrize(
    "body", ["", "\r\n", table(""), "#datatype,string\n#group,false\n,result\n", table("NaN")]
)
async def test_no_values(http_server: RecordingServer, body: str) -> None:
    http_server.reply_with(Reply(body=body))
    with pytest.raises(NoValuesFound):
        await provider(http_server.url).run_query(FLUX)


@pytest.mark.parametrize(
    "body",
    [
        table("+Inf"),
        table("-Inf"),
        table("lots"),
        table("true", "boolean"),
        table("x", "string"),
        "<html>oops</html>",
        '{"code":"invalid","message":"bad"}',
        "#datatype,string,string\n#group,true,true\n#default,,\n,error,reference\n,failed to compile,897\n",
    ],
)
async def test_garbage_and_infinity_are_errors(http_server: RecordingServer, body: str) -> None:
    http_server.reply_with(Reply(body=body))
    with pytest.raises(ProviderError) as failed:
        await provider(http_server.url).run_query(FLUX)
    assert not isinstance(failed.value, NoValuesFound)


async def test_an_error_status_names_the_query_api_and_hides_the_token(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(status=401, body={"code": "unauthorized", "message": "token influx-TOKEN"}))
    with pytest.raises(
        ProviderError, match="error accessing influxdb query api: error response 401"
    ) as failed:
        await provider(http_server.url).run_query(FLUX)
    assert "influx-TOKEN" not in str(failed.value)


def test_secret_keys_and_address() -> None:
    with pytest.raises(ProviderConfigError, match="organisation"):
        provider("http://localhost/", {"token": "x"})
    with pytest.raises(ProviderConfigError, match="authentication token"):
        provider("http://localhost/", {"org": "test-org"})
    with pytest.raises(ProviderConfigError, match="not a valid URL"):
        provider("", SECRET)
    anonymous = InfluxdbProvider(ProviderConfig(type="influxdb", address="http://localhost/"))
    assert "Authorization" not in anonymous._headers


@pytest.mark.parametrize(("status", "online"), [(200, True), (403, False)])
async def test_is_online(http_server: RecordingServer, status: int, online: bool) -> None:
    http_server.reply_with(
        contract(flux_query('from(bucket: "default") |> range(start: -2h)'), Reply(status=status))
    )
    if online:
        assert await provider(http_server.url).is_online() is True
    else:
        with pytest.raises(ProviderError, match="403"):
            await provider(http_server.url).is_online()
