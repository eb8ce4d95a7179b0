"""Alerts obey the controller's URL policy, directly and through a proxy (a real local proxy).

Without a proxy the target's addresses are checked; with one, the proxy is checked like a
target and the target still is, except for a name that only the proxy can resolve, which an
allow-list must name by URL prefix (controller/notify/delivery.py explains why).
"""

from __future__ import annotations

import pytest
from forwarding_proxy import forwarding_proxy

from controller.notify import MSTeamsNotifier, NotifyError, NotifyRefused, SlackNotifier
from controller.notify.delivery import post_json
from controller.url_policy import UrlPolicy
from tests.recording_http import RecordingServer

METADATA = "http://169.254.169.254/latest/meta-data/iam"


async def test_an_alert_to_a_metadata_address_is_refused_before_any_connection() -> None:
    with pytest.raises(NotifyRefused, match="link-local or a metadata address") as info:
        await post_json(METADATA, {"text": "x"}, policy=UrlPolicy())
    assert "meta-data" not in str(info.value)


async def test_the_allow_list_applies_to_alert_targets(http_server: RecordingServer) -> None:
    elsewhere = UrlPolicy.from_entries(["https://hooks.slack.com/"])
    with pytest.raises(NotifyRefused, match="not in the allowed URLs"):
        await post_json(http_server.url + "/hook/t0ken", {"text": "x"}, policy=elsewhere)
    assert http_server.requests == []
    allowed = UrlPolicy.from_entries([http_server.url + "/hook/"])
    await post_json(http_server.url + "/hook/t0ken", {"text": "x"}, policy=allowed)
    assert [r.path for r in http_server.requests] == ["/hook/t0ken"]


async def test_an_alert_provider_address_obeys_the_environment_policy(
    http_server: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITCANARY_ALLOWED_URLS", "https://hooks.slack.com/")
    notifier = SlackNotifier(http_server.url + "/services/T/B/s3cr3t", username="u", channel="c")
    with pytest.raises(NotifyRefused) as info:
        await notifier.post("podinfo", "test", "m", [], "error")
    assert "s3cr3t" not in str(info.value)
    assert http_server.requests == []


async def test_an_alert_travels_through_a_real_proxy(http_server: RecordingServer) -> None:
    with forwarding_proxy() as proxy:
        target = http_server.url + "/webhook/t0ken"
        await MSTeamsNotifier(target, proxy=proxy.url).post("podinfo", "test", "hello", [], "info")
    assert proxy.seen == [f"POST {target}"], "the proxy received the absolute-form request"
    (request,) = http_server.requests
    assert request.path == "/webhook/t0ken"
    assert request.json()["summary"] == "podinfo.test"  # type: ignore[index]


async def test_a_proxy_does_not_open_a_way_to_a_refused_target() -> None:
    with forwarding_proxy() as proxy:
        with pytest.raises(NotifyRefused, match="metadata"):
            await post_json(METADATA, {}, proxy=proxy.url, policy=UrlPolicy())
        open_to_proxy = UrlPolicy.from_entries([proxy.url])
        with pytest.raises(NotifyRefused, match="not in the allowed URLs"):
            await post_json("http://127.0.0.2:9/hook", {}, proxy=proxy.url, policy=open_to_proxy)
    assert proxy.seen == [], "nothing reached the proxy"


async def test_the_proxy_itself_is_checked_by_the_policy(http_server: RecordingServer) -> None:
    with pytest.raises(NotifyRefused, match="link-local or a metadata address") as info:
        await post_json(http_server.url, {}, proxy="http://user:pw@169.254.169.254:3128", policy=UrlPolicy())
    assert "pw" not in str(info.value)
    only_target = UrlPolicy.from_entries([http_server.url])
    with pytest.raises(NotifyRefused, match="not in the allowed URLs"), forwarding_proxy() as proxy:
        await post_json(http_server.url, {}, proxy=proxy.url, policy=only_target)
    assert http_server.requests == []


async def test_a_name_only_the_proxy_resolves_needs_a_url_prefix(http_server: RecordingServer) -> None:
    """``.invalid`` never resolves here: the proxy resolves it, so only a URL prefix can allow it."""
    target = "http://teams.invalid/webhook/abc"
    with forwarding_proxy() as proxy:
        by_cidr = UrlPolicy.from_entries([proxy.url, "10.0.0.0/8"])
        with pytest.raises(NotifyRefused, match="does not resolve here"):
            await post_json(target, {}, proxy=proxy.url, policy=by_cidr)
        assert proxy.seen == []
        by_prefix = UrlPolicy.from_entries([proxy.url, "http://teams.invalid/webhook/"])
        with pytest.raises(NotifyError, match="HTTP 502"):  # reached the proxy, which cannot resolve it
            await post_json(target, {}, proxy=proxy.url, policy=by_prefix)
        assert proxy.seen == [f"POST {target}"]


async def test_proxy_environment_variables_are_ignored(
    http_server: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with forwarding_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        await post_json(http_server.url + "/direct", {}, policy=UrlPolicy())
    assert proxy.seen == []
    assert [r.path for r in http_server.requests] == ["/direct"]
