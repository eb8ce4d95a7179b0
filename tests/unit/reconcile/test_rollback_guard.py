"""The rollback guard's pure decisions: when a Failed Canary's Flux revision asks for another revert."""

from __future__ import annotations

from typing import Any

from controller.reconcile.rollback_guard import needs_watch, reapplied_revision
from controller.reconcile.status import intent_id

BAD, GOOD = "ghcr.io/stefanprodan/podinfo:6.0.1", "ghcr.io/stefanprodan/podinfo:6.0.0"


def failed_status(**gitops: Any) -> dict[str, Any]:
    return {
        "phase": "Failed",
        "lastAppliedSpec": "rev-bad",
        "engine": {"lastFailure": "error-rate 40 > 1"},
        "gitops": {
            "introducedBy": "b" * 40,
            "applied": [{"id": "x", "commit": "r" * 40}],
            **gitops,
        },
    }


def test_watch_only_a_failed_canary_whose_target_differs_from_its_primary() -> None:
    assert needs_watch(failed_status(), BAD, GOOD)
    assert not needs_watch(failed_status(), GOOD, GOOD), "Flux applied the revert: nothing to watch"
    assert not needs_watch({**failed_status(), "phase": "Succeeded"}, BAD, GOOD)
    assert not needs_watch(failed_status(pending=[{"id": "y"}]), BAD, GOOD), "the rollback is not written yet"
    assert not needs_watch(failed_status(applied=[]), BAD, GOOD), "nothing was ever written back"
    assert not needs_watch(failed_status(), "", GOOD)


def test_the_revision_the_rollback_answered_and_our_own_commits_ask_for_nothing() -> None:
    assert reapplied_revision(failed_status(), f"main@sha1:{'b' * 40}") is None
    assert reapplied_revision(failed_status(), f"main@sha1:{'r' * 40}") is None
    assert reapplied_revision(failed_status(), "") is None


def test_a_foreign_revision_queues_a_rollback_of_the_failed_revision() -> None:
    again = reapplied_revision(failed_status(), f"main@sha1:{'c' * 40}")
    assert again is not None
    assert again.sha == "c" * 40
    assert again.write_back.result == "rolled-back"
    assert again.write_back.revision == "rev-bad"
    assert "error-rate 40 > 1" in again.write_back.summary
    assert f"main@sha1:{'c' * 40}" in again.write_back.summary
    assert BAD in again.message(BAD, GOOD) and GOOD in again.message(BAD, GOOD)


def test_each_reapplied_revision_gets_its_own_intent_id() -> None:
    first = intent_id("ns/podinfo", "rollback", "rev-bad", GOOD, "b" * 40)
    again = intent_id("ns/podinfo", "rollback", "rev-bad", GOOD, "c" * 40)
    assert first != again
