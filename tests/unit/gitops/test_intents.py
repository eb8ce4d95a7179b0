"""Intent ids, the status round trip and the pure pending/applied bookkeeping."""

from __future__ import annotations

import re
from typing import Any

import pytest

from controller.api.timestamps import rfc3339
from controller.gitops.workflow.intents import (
    Intent,
    intent_id,
    make_intent,
    merge_pending,
)

BASE = ("test/podinfo", "rollback", "5d8f7c9b", "ghcr.io/stefanprodan/podinfo:6.0.1", "apps/podinfo")


def sample(revision: str = "5d8f7c9b", canary: str = "test/podinfo") -> Intent:
    return make_intent(
        kind="rollback",
        canary=canary,
        revision=revision,
        repository="ssh://git@github.com/org/fleet.git",
        branch="main",
        path="apps/podinfo",
        image="ghcr.io/stefanprodan/podinfo:6.0.1",
        previous_image="ghcr.io/stefanprodan/podinfo:6.0.2",
        result="rolled-back",
        analysis="error-rate 69.17% > 1%",
        source_revision="main@sha1:4f2b0c1",
        now=1_700_000_000.5,
    )


def test_intent_id_is_deterministic_hex16() -> None:
    first = intent_id(*BASE)
    assert first == intent_id(*BASE)
    assert re.fullmatch(r"[0-9a-f]{16}", first)


@pytest.mark.parametrize("position", range(len(BASE)))
def test_intent_id_depends_on_every_input(position: int) -> None:
    changed = list(BASE)
    changed[position] = changed[position] + "x"
    assert intent_id(*changed) != intent_id(*BASE)


def test_intent_id_fields_cannot_bleed_into_each_other() -> None:
    assert intent_id("a", "b", "c", "d", "e") != intent_id("a", "b", "cd", "", "e")


def test_make_intent_uses_the_canary_revision_for_its_id() -> None:
    assert sample().id == intent_id(*BASE)
    assert sample("other-rev").id != sample().id


def test_to_dict_is_camel_case_and_round_trips() -> None:
    intent = sample()
    data = intent.to_dict()
    assert set(data) == {
        "id", "kind", "canary", "repository", "branch", "path", "image", "previousImage",
        "result", "analysis", "sourceRevision", "createdAt",
    }  # fmt: skip
    assert data["previousImage"] == "ghcr.io/stefanprodan/podinfo:6.0.2"
    assert Intent.from_dict(data) == intent


def test_from_dict_tolerates_missing_optional_fields_and_int_timestamps() -> None:
    data = sample().to_dict()
    del data["analysis"], data["sourceRevision"]
    data["createdAt"] = 1_700_000_000
    restored = Intent.from_dict(data)
    assert restored.analysis == "" and restored.created_at == 1_700_000_000.0


@pytest.mark.parametrize(
    "mutation",
    [
        {"kind": "delete-everything"},
        {"id": ""},
        {"createdAt": "yesterday"},
        {"image": 42},
    ],
)
def test_from_dict_rejects_bad_input(mutation: dict[str, Any]) -> None:
    data = {**sample().to_dict(), **mutation}
    with pytest.raises(ValueError):
        Intent.from_dict(data)


def test_from_dict_requires_the_id() -> None:
    data = sample().to_dict()
    del data["id"]
    with pytest.raises(ValueError, match="id"):
        Intent.from_dict(data)


def test_trailer_block_describes_the_decision() -> None:
    trailer = sample().trailer_block()
    assert trailer.intent == sample().id
    assert trailer.image == "ghcr.io/stefanprodan/podinfo:6.0.2 -> 6.0.1"
    assert trailer.result == "rolled-back" and trailer.source == "main@sha1:4f2b0c1"


def test_merge_pending_drops_duplicates_and_keeps_the_first_entry() -> None:
    a, b = sample("r1"), sample("r2")
    pending = [a.to_dict()]
    later_a = {**a.to_dict(), "createdAt": 9.0}
    merged = merge_pending(pending, [later_a, b, b])
    assert [m["id"] for m in merged] == [a.id, b.id]
    assert merged[0]["createdAt"] == a.created_at
    assert pending == [a.to_dict()]


def test_merge_pending_does_not_requeue_applied_intents() -> None:
    a = sample()
    assert merge_pending([], [a], applied=[{"id": a.id, "commit": "c0ffee"}]) == []


def test_rfc3339() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"


def test_intent_ids_keep_their_meaning_across_upgrades() -> None:
    # Persisted in status.gitops and in Gitcanary-Intent trailers: these values must never change.
    assert (
        intent_id(
            "test/podinfo", "rollback", "7d9f8c6b5", "ghcr.io/stefanprodan/podinfo:6.0.0", "main@sha1:abc"
        )
        == "96454e3227201784"
    )
    assert (
        intent_id("test/podinfo", "promotion", "7d9f8c6b5", "ghcr.io/stefanprodan/podinfo:6.0.1")
        == "9360e3395b4743e2"
    )
