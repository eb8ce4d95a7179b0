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
