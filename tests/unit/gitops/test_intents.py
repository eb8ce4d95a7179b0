"""Intent ids, the status round trip and the pure pending/applied bookkeeping."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from controller.gitops.workflow.intents import (
    APPLIED_HISTORY,
    Intent,
    intent_id,
    make_intent,
    mark_applied,
    merge_pending,
    rfc3339,
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


def test_mark_applied_moves_intents_and_records_the_write_back() -> None:
    a, b, c = sample("r1"), sample("r2"), sample("r3")
    status = {"pending": [a.to_dict(), b.to_dict(), c.to_dict()], "other": "kept"}
    before = copy.deepcopy(status)
    updated = mark_applied(status, [a.id, b.id], "f00d", now=1_700_000_000.0)
    assert status == before
    assert [p["id"] for p in updated["pending"]] == [c.id]
    assert updated["applied"] == [
        {"id": a.id, "commit": "f00d", "appliedAt": "2023-11-14T22:13:20Z"},
        {"id": b.id, "commit": "f00d", "appliedAt": "2023-11-14T22:13:20Z"},
    ]
    assert updated["lastWriteBack"] == {
        "commit": "f00d",
        "time": "2023-11-14T22:13:20Z",
        "intents": [a.id, b.id],
    }
    assert updated["other"] == "kept"


def test_mark_applied_accepts_a_commit_per_intent() -> None:
    a, b = sample("r1"), sample("r2")
    updated = mark_applied(
        {"pending": [a.to_dict(), b.to_dict()]}, [a.id, b.id], {a.id: "old", b.id: "new"}, 0
    )
    assert [(e["id"], e["commit"]) for e in updated["applied"]] == [(a.id, "old"), (b.id, "new")]
    with pytest.raises(ValueError, match="no commit"):
        mark_applied({}, [a.id], {b.id: "x"}, 0)


def test_mark_applied_keeps_the_newest_history() -> None:
    status: dict[str, Any] = {
        "applied": [{"id": f"old{i}", "commit": "c", "appliedAt": "t"} for i in range(25)]
    }
    updated = mark_applied(status, ["old3", "fresh"], "d", now=0)
    ids = [e["id"] for e in updated["applied"]]
    assert len(ids) == APPLIED_HISTORY
    assert ids[-2:] == ["old3", "fresh"] and ids.count("old3") == 1
    assert ids[0] == "old7"


def test_mark_applied_with_nothing_leaves_history_alone() -> None:
    status = {"pending": [], "applied": [{"id": "x", "commit": "c", "appliedAt": "t"}]}
    assert mark_applied(status, [], "d", now=0) == status


def test_rfc3339() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
