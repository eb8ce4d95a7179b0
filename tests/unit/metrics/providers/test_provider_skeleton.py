"""The pieces the HTTP metric providers share (metrics/providers/skeleton.py)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.skeleton import (
    WindowedProvider,
    basic_auth,
    first_item,
    http_address,
    query_text,
    required_key,
    url_parts,
)

PATH = (("result", 0), ("data", -1), ("values", 0))


def test_first_item_walks_the_path_and_returns_the_last_item_as_it_is() -> None:
    body = {"result": [{"data": [{"values": [1]}, {"values": [None, 3]}]}]}
    assert first_item(body, "q", PATH) is None
    assert first_item({"result": [{"data": [{"values": ["2.5"]}]}]}, "q", PATH) == "2.5"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"result": None},
        {"result": []},
        {"result": ["not an object"]},
        {"result": [{"data": []}]},
        {"result": [{"data": [{"values": []}]}]},
    ],
)
def test_first_item_reads_a_missing_or_empty_answer_as_no_values(body: object) -> None:
    with pytest.raises(NoValuesFound, match="no values found for query q"):
        first_item(body, "q", PATH)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "not a JSON object"),
        ({"result": {"data": 1}}, "result is not a list"),
        ({"result": [{"data": "x"}]}, "data is not a list"),
    ],
)
def test_first_item_refuses_a_body_of_the_wrong_shape(body: object, message: str) -> None:
    with pytest.raises(ProviderError, match=message) as caught:
        first_item(body, "q", PATH)
    assert not isinstance(caught.value, NoValuesFound)


def test_http_address_strips_and_refuses_other_schemes_without_userinfo() -> None:
    assert http_address("  https://prom.example:9090/  ", "prometheus") == "https://prom.example:9090"
    with pytest.raises(ProviderConfigError, match=r"prometheus address 'ftp://host/' is not a valid URL"):
        http_address("ftp://user:pw@host/", "prometheus")


def test_url_parts_wants_an_allowed_scheme_and_a_host() -> None:
    assert url_parts("wss://stream.us1.signalfx.com", "splunk", ("https", "wss")).hostname == (
        "stream.us1.signalfx.com"
    )
    for address in ("https://", "ws://host"):
        with pytest.raises(ProviderConfigError, match="is not a valid URL"):
            url_parts(address, "splunk", ("https", "wss"))


def test_required_key_names_the_key_never_a_value() -> None:
    assert required_key({"k": "v"}, "k", "datadog") == "v"
    with pytest.raises(ProviderConfigError, match=r"^datadog credentials does not contain k$"):
        required_key({"k": ""}, "k", "datadog")
    with pytest.raises(ProviderConfigError, match=r"does not contain the key 'k'$"):
        required_key({}, "k", "newrelic", "the key 'k'")


def test_basic_auth_accepts_an_empty_password_but_not_a_missing_one() -> None:
    header, secrets = basic_auth("graphite", {"username": "u", "password": ""})
    assert header == {"Authorization": "Basic dTo="}
    assert secrets == ("u", "", "dTo=")
    with pytest.raises(ProviderConfigError, match="does not contain a password"):
        basic_auth("graphite", {"username": "u"})


def test_query_text_collapses_whitespace_runs() -> None:
    assert query_text("  sum(rate(x[1m]))\n\t by (le) ") == "sum(rate(x[1m])) by (le)"


class _Windowed(WindowedProvider):
    def _setup(self, secret: Mapping[str, str]) -> None:
        self._secrets = (required_key(secret, "token", "fake"),)

    async def run_query(self, query: str) -> float:
        return self._window

    async def is_online(self) -> bool:
        return True


async def test_a_windowed_provider_checks_credentials_before_the_interval() -> None:
    config = ProviderConfig(type="fake")
    with pytest.raises(ProviderConfigError, match="credentials does not contain token"):
        _Windowed(config, None, interval="not a duration")
    with pytest.raises(ProviderConfigError, match="error parsing metric interval"):
        _Windowed(config, {"token": "t"}, interval="not a duration")
    assert await _Windowed(config, {"token": "t"}, interval="90s").run_query("") == 900.0
