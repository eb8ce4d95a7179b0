"""The rollback guard's pure decisions: when a Failed Canary's Flux revision asks for another revert."""

from __future__ import annotations

from typing import Any

from controller.flux.correlation import GitSource
from controller.gitops.workflow.intents import intent_id
from controller.reconcile.rollback_guard import needs_watch, reapplied_revision

BAD, GOOD = "ghcr.io/stefanprodan/podinfo:6.0.1", "ghcr.io/stefanprodan/podinfo:6.0.0"
PUSHED = "2026-11-25T12:00:00Z"


def failed_status(**gitops: Any) -> dict[str, Any]:
    return {
        "phase": "Failed",
        "lastAppliedSpec": "rev-bad",
        "engine": {"lastFailure": "error-rate 40 > 1"},
        "conditions": [{"type": "Markers", "status": "True"}],
        "gitops": {
            "introducedBy": "b" * 40,
            "applied": [{"id": "x", "commit": "r" * 40}],
            "lastWriteBack": {"id": "x", "commit": "r" * 40, "result": "rolled-back", "time": PUSHED},
            **gitops,
        },
    }


def failed_canary(status: dict[str, Any] | None = None, **gitops_spec: Any) -> dict[str, Any]:
    return {"spec": {"gitops": gitops_spec}, "status": status or failed_status()}


def source(sha: str, fetched: str = "", artifact: str | None = None) -> GitSource:
    revision = f"main@sha1:{sha}"
    return GitSource(
        url="https://git.example.com/fleet.git",
        branch="main",
        path="./apps",
        secret_name=None,
        namespace="flux-system",
        source_name="fleet",
        kustomization=("flux-system", "apps"),
        revision=revision,
        artifact_revision=revision if artifact is None else artifact,
        artifact_time=fetched,
    )


def test_watch_only_a_failed_canary_whose_target_differs_from_its_primary() -> None:
    assert needs_watch(failed_canary(), BAD, GOOD)
    assert not needs_watch(failed_canary(), GOOD, GOOD), "Flux applied the revert: nothing to watch"
    assert not needs_watch(failed_canary({**failed_status(), "phase": "Succeeded"}), BAD, GOOD)
    assert not needs_watch(failed_canary(failed_status(pending=[{"id": "y"}])), BAD, GOOD), "not written yet"
    error = failed_status(lastWriteBack={"result": "error"})
    assert not needs_watch(failed_canary(error), BAD, GOOD), "the rollback did not land"
    assert not needs_watch(failed_canary(), "", GOOD)


def test_no_watch_when_git_was_never_reverted() -> None:
    assert not needs_watch(failed_canary(onRollback={"revert": False}), BAD, GOOD)
    no_markers = {**failed_status(), "conditions": [{"type": "Markers", "status": "False"}]}
    assert not needs_watch(failed_canary(no_markers), BAD, GOOD)


def test_the_revision_the_rollback_answered_and_our_own_commits_ask_for_nothing() -> None:
    assert reapplied_revision(failed_status(), source("b" * 40)) is None
    assert reapplied_revision(failed_status(), source("r" * 40)) is None
    assert reapplied_revision(failed_status(), source("")) is None


def test_a_revision_fetched_before_the_revert_was_pushed_asks_for_nothing() -> None:
    """An unrelated commit Flux fetched before our push: the revert is still on its way."""
    assert reapplied_revision(failed_status(), source("c" * 40, fetched="2026-11-25T11:59:58Z")) is None
    assert reapplied_revision(failed_status(), source("c" * 40, fetched="2026-11-25T12:00:03Z")) is not None


def test_nothing_is_decided_while_flux_is_between_a_fetch_and_its_apply() -> None:
    assert reapplied_revision(failed_status(), source("c" * 40, artifact=f"main@sha1:{'d' * 40}")) is None


def test_a_foreign_revision_queues_a_rollback_of_the_failed_revision() -> None:
    again = reapplied_revision(failed_status(), source("c" * 40))
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


def test_the_revision_flux_had_applied_when_the_rollback_was_written_asks_for_nothing() -> None:
    """The Canary may have recorded introducedBy before Flux wrote its status (stale); the worker's
    source.revision, read when it wrote the rollback, is the revision the rollback answered."""
    status = failed_status(introducedBy="a" * 40, source={"revision": f"main@sha1:{'c' * 40}"})
    assert reapplied_revision(status, source("c" * 40)) is None
    assert reapplied_revision(status, source("d" * 40)) is not None


def test_a_valid_canary_is_read_typed_and_an_invalid_one_as_written() -> None:
    """``onRollback.revert`` from the parsed Canary; the minimal dicts above are Canaries the models
    reject (no targetRef, no analysis), which ``gitcanary retry`` may also meet: read as written."""
    valid = {
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "analysis": {"interval": "1m", "threshold": 5, "stepWeight": 10},
            "gitops": {"onRollback": {"revert": False}},
        },
        "status": failed_status(),
    }
    assert not needs_watch(valid, BAD, GOOD)
    valid["spec"]["gitops"] = {}
    assert needs_watch(valid, BAD, GOOD)
    del valid["spec"]["gitops"]
    assert needs_watch(valid, BAD, GOOD), "no spec.gitops: the default, revert"
