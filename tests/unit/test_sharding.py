"""Label selectors for --watch-label-selector: the apiserver's grammar, Flux's sharding convention."""

from __future__ import annotations

import pytest

from controller.sharding import SHARD_KEY, parse


@pytest.mark.parametrize(
    ("selector", "labels", "owned"),
    [
        ("", {}, True),
        ("", {SHARD_KEY: "shard1"}, True),
        (f"{SHARD_KEY}=shard1", {SHARD_KEY: "shard1"}, True),
        (f"{SHARD_KEY}==shard1", {SHARD_KEY: "shard1"}, True),
        (f"{SHARD_KEY}=shard1", {SHARD_KEY: "shard2"}, False),
        (f"{SHARD_KEY}=shard1", {}, False),
        (f"!{SHARD_KEY}", {}, True),
        (f"!{SHARD_KEY}", {SHARD_KEY: "shard1"}, False),
        (f"{SHARD_KEY}!=shard1", {}, True),
        (f"{SHARD_KEY}!=shard1", {SHARD_KEY: "shard1"}, False),
        (f"{SHARD_KEY} in (shard1, shard2)", {SHARD_KEY: "shard2"}, True),
        (f"{SHARD_KEY} in (shard1,shard2)", {SHARD_KEY: "shard3"}, False),
        (f"{SHARD_KEY} notin (shard1)", {SHARD_KEY: "shard3"}, True),
        (f"{SHARD_KEY} notin (shard1)", {}, True),
        ("team=a,tier in (web),!canary", {"team": "a", "tier": "web"}, True),
        ("team=a,tier in (web),!canary", {"team": "a", "tier": "web", "canary": ""}, False),
        ("team", {"team": ""}, True),
    ],
)
def test_selector_matches_like_the_apiserver(selector: str, labels: dict[str, str], owned: bool) -> None:
    assert parse(selector).matches(labels) is owned


@pytest.mark.parametrize("bad", ["=x", "a=b=c", "a in b", "a in (", ",", "a,,b", "a in (b c)", "-a=b", "a = b c"])
def test_a_malformed_selector_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="label selector"):
        parse(bad)


def test_two_shards_and_the_main_instance_split_every_canary_exactly_once() -> None:
    shards = [parse(f"{SHARD_KEY}=shard1"), parse(f"{SHARD_KEY}=shard2"), parse(f"!{SHARD_KEY}")]
    canaries = [{SHARD_KEY: "shard1"}, {SHARD_KEY: "shard2"}, {}, {"app": "x"}]
    for labels in canaries:
        assert sum(s.matches(labels) for s in shards) == 1, labels


def test_the_canary_watch_is_filtered_server_side(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two shards filtering only client-side fight over kopf's finalizer on every Canary."""
    import kopf

    from controller import operator

    monkeypatch.setenv("GITCANARY_WATCH_LABEL_SELECTOR", f"{SHARD_KEY}=shard1")
    settings = kopf.OperatorSettings()
    operator.watch_only_own_shard(settings)
    canaries = kopf.Resource("gitcanary.io", "v1beta1", "canaries", kind="Canary")
    flagger = kopf.Resource("flagger.app", "v1beta1", "canaries", kind="Canary")
    deployments = kopf.Resource("apps", "v1", "deployments", kind="Deployment")
    assert settings.watching.label_selectors.collect(canaries) == [f"{SHARD_KEY}=shard1"]
    assert settings.watching.label_selectors.collect(flagger) == []
    assert settings.watching.label_selectors.collect(deployments) == []


def test_no_selector_watches_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    import kopf

    from controller import operator

    monkeypatch.delenv("GITCANARY_WATCH_LABEL_SELECTOR", raising=False)
    settings = kopf.OperatorSettings()
    operator.watch_only_own_shard(settings)
    assert len(settings.watching.label_selectors) == 0
