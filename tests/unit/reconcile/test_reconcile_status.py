"""Canary status <-> engine state, the Promoted condition, and write-back intents in the status."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from controller.analysis import CanaryState, Phase, RequestWriteBack
from controller.api.timestamps import rfc3339
from controller.reconcile import status as st

Obj = dict[str, Any]

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def test_rfc3339_and_epoch_round_trip() -> None:
    assert rfc3339(T0) == "2023-11-14T22:13:20Z"
    assert st.epoch("2023-11-14T22:13:20Z") == T0
    assert st.epoch(None) == 0.0
    assert st.epoch("") == 0.0


def test_empty_status_reads_as_a_fresh_initializing_state() -> None:
    assert st.state_from_status(None) == CanaryState()
    assert st.state_from_status({}) == CanaryState()
    assert st.state_from_status({"phase": ""}).phase is Phase.INITIALIZING


def test_flagger_status_without_engine_fields() -> None:
    state = st.state_from_status(
        {
            "phase": "Succeeded",
            "canaryWeight": 0,
            "failedChecks": 1,
            "iterations": 2,
            "lastAppliedSpec": "abc",
            "lastPromotedSpec": "abc",
            "lastTransitionTime": "2023-11-14T22:13:20Z",
        }
    )
    assert state == CanaryState(
        phase=Phase.SUCCEEDED,
        failed_checks=1,
        iterations=2,
        last_applied_spec="abc",
        last_promoted_spec="abc",
        last_transition_time=T0,
    )


STATES = [
    CanaryState(),
    CanaryState(
        phase=Phase.PROGRESSING,
        canary_weight=30,
        failed_checks=2,
        iterations=0,
        last_applied_spec="rev-b",
        last_promoted_spec="rev-a",
        last_transition_time=T0,
        progress_started_at=T0 + 1.5,
        primary_route_weight=70,
        canary_route_weight=30,
        mirrored=False,
        last_failure="error-rate 5 > 1",
        halt_notified_at=T0 + 2,
        last_analysis_at=T0 + 60,
    ),
    CanaryState(
        phase=Phase.WAITING_PROMOTION,
        iterations=10,
        last_applied_spec="rev-c",
        last_promoted_spec="rev-b",
        last_transition_time=T0 + 3600,
        primary_route_weight=0,
        canary_route_weight=100,
        mirrored=True,
    ),
    CanaryState(phase=Phase.FAILED, last_failure="progress deadline exceeded", last_transition_time=T0),
]


@pytest.mark.parametrize("state", STATES, ids=lambda s: s.phase.value)
def test_status_round_trip(state: CanaryState) -> None:
    """state -> patch -> (JSON, as the API stores it) -> state is the identity."""
    patch = st.status_patch(
        state, kind="Deployment", old_status=None, revision="rev-x", tracked={}, new_intents=[], now=T0 + 99
    )
    stored = json.loads(json.dumps(patch))
    again = st.state_from_status(stored)
    if state.last_transition_time == 0.0:
        # an unset transition time is stamped with `now` on the first write
        assert again == replace(state, last_transition_time=T0 + 99)
    else:
        assert again == state


def test_patch_carries_revision_tracked_configs_and_no_gitops_without_intents() -> None:
    old = {"gitops": {"pending": [{"id": "keep"}]}, "conditions": [{"type": "Valid", "status": "True"}]}
    patch = st.status_patch(
        STATES[1],
        kind="Deployment",
        old_status=old,
        revision="rev-b",
        tracked={"configmap/app": "123"},
        new_intents=[],
        now=T0,
    )
    assert patch["engine"]["revision"] == "rev-b"
    assert patch["trackedConfigs"] == {"configmap/app": "123"}
    assert "gitops" not in patch  # a merge patch: the pending intents stay as they are
    assert [c["type"] for c in patch["conditions"]] == ["Valid", "Promoted"]


# -- the Promoted condition -------------------------------------------------------------------------
EXPECTED_CONDITION = {
    Phase.INITIALIZING: ("Unknown", "Initializing", "New Deployment detected, starting initialization."),
    Phase.INITIALIZED: ("True", "Initialized", "Deployment initialization completed."),
    Phase.WAITING: ("Unknown", "Waiting", "Waiting for approval."),
    Phase.PROGRESSING: ("Unknown", "Progressing", "New revision detected, progressing canary analysis."),
    Phase.WAITING_PROMOTION: ("Unknown", "WaitingPromotion", "Waiting for approval."),
    Phase.PROMOTING: ("Unknown", "Promoting", "Canary analysis completed, starting primary rolling update."),
    Phase.FINALISING: ("Unknown", "Finalising", "Canary analysis completed, routing all traffic to primary."),
    Phase.SUCCEEDED: ("True", "Succeeded", "Canary analysis completed successfully, promotion finished."),
    Phase.FAILED: ("False", "Failed", "Canary analysis failed, Deployment scaled to zero."),
    Phase.TERMINATING: ("Unknown", "Terminating", "Canary is being deleted."),
    Phase.TERMINATED: ("Unknown", "Terminated", "Canary deleted."),
}


@pytest.mark.parametrize("phase", list(Phase))
def test_promoted_condition_per_phase(phase: Phase) -> None:
    [cond] = st.promoted_conditions(phase, "Deployment", [], T0)
    assert (cond["status"], cond["reason"], cond["message"]) == EXPECTED_CONDITION[phase]
    assert cond["type"] == "Promoted"
    assert cond["lastTransitionTime"] == cond["lastUpdateTime"] == rfc3339(T0)


def test_failed_condition_names_the_target_kind() -> None:
    assert (
        "DaemonSet scaled to zero" in st.promoted_conditions(Phase.FAILED, "DaemonSet", [], T0)[0]["message"]
    )


def test_transition_time_moves_only_when_the_status_changes() -> None:
    progressing = st.promoted_conditions(Phase.PROGRESSING, "Deployment", [], T0)
    # Unknown -> Unknown, new reason: update time moves, transition time stays
    [waiting] = st.promoted_conditions(Phase.WAITING_PROMOTION, "Deployment", progressing, T0 + 60)
    assert waiting["lastTransitionTime"] == rfc3339(T0)
    assert waiting["lastUpdateTime"] == rfc3339(T0 + 60)
    # same phase again: nothing moves
    [again] = st.promoted_conditions(Phase.WAITING_PROMOTION, "Deployment", [waiting], T0 + 120)
    assert again == waiting
    # Unknown -> True: both move
    [succeeded] = st.promoted_conditions(Phase.SUCCEEDED, "Deployment", [again], T0 + 180)
    assert succeeded["lastTransitionTime"] == succeeded["lastUpdateTime"] == rfc3339(T0 + 180)


def test_status_patch_keeps_the_condition_transition_time_across_ticks() -> None:
    state = replace(STATES[1], phase=Phase.PROGRESSING)
    first = st.status_patch(
        state, kind="Deployment", old_status=None, revision="r", tracked={}, new_intents=[], now=T0
    )
    second = st.status_patch(
        state, kind="Deployment", old_status=first, revision="r", tracked={}, new_intents=[], now=T0 + 30
    )
    (promoted,) = [c for c in second["conditions"] if c["type"] == "Promoted"]
    assert promoted["lastTransitionTime"] == rfc3339(T0)
    assert len(second["conditions"]) == 1


# -- intents ---------------------------------------------------------------------------------------
def test_intent_id_is_deterministic_and_distinct_per_input() -> None:
    base = st.intent_id("test/podinfo", "rollback", "rev-b", "podinfo:6.0.1")
    assert base == st.intent_id("test/podinfo", "rollback", "rev-b", "podinfo:6.0.1")
    assert len(base) == 16 and int(base, 16) >= 0
    others = {
        st.intent_id("test/podinfo", "rollback", "rev-c", "podinfo:6.0.1"),
        st.intent_id("test/podinfo", "promotion", "rev-b", "podinfo:6.0.1"),
        st.intent_id("test/podinfo", "rollback", "rev-b", "podinfo:6.0.2"),
        st.intent_id("prod/podinfo", "rollback", "rev-b", "podinfo:6.0.1"),
        st.intent_id("test/podinfo", "rollback", "rev-b", "podinfo:6.0.1", "./apps"),
    }
    assert base not in others and len(others) == 5


def test_intents_for_rollback_writes_the_primary_image() -> None:
    (intent,) = st.intents_for(
        "test/podinfo",
        [RequestWriteBack("rolled-back", "rev-b", "error-rate 69% > 1% (5/5 failed checks)")],
        target_image="podinfo:6.0.2",
        primary_image="podinfo:6.0.1",
        now=T0,
    )
    assert intent == {
        "id": st.intent_id("test/podinfo", "rollback", "rev-b", "podinfo:6.0.1"),
        "kind": "rollback",
        "canaryRevision": "rev-b",
        "image": "podinfo:6.0.1",
        "previousImage": "podinfo:6.0.2",
        "result": "rolled-back",
        "analysis": "error-rate 69% > 1% (5/5 failed checks)",
        "createdAt": "2023-11-14T22:13:20Z",
    }


def test_intents_for_promotion_writes_the_canary_image() -> None:
    (intent,) = st.intents_for(
        "test/podinfo",
        [RequestWriteBack("promoted", "rev-b", "canary analysis passed")],
        target_image="podinfo:6.0.2",
        primary_image="podinfo:6.0.1",
        now=T0,
    )
    assert (intent["kind"], intent["image"], intent["previousImage"]) == (
        "promotion",
        "podinfo:6.0.2",
        "podinfo:6.0.1",
    )


def test_intent_ids_differ_per_revision() -> None:
    wbs = [RequestWriteBack("rolled-back", "rev-b", "x"), RequestWriteBack("rolled-back", "rev-c", "x")]
    a, b = st.intents_for("test/podinfo", wbs, "podinfo:6.0.2", "podinfo:6.0.1", T0)
    assert a["id"] != b["id"]
    # a replayed tick (later clock) produces the same ids
    replayed = st.intents_for("test/podinfo", wbs, "podinfo:6.0.2", "podinfo:6.0.1", T0 + 10)
    assert [i["id"] for i in replayed] == [a["id"], b["id"]]


def test_new_intents_skip_pending_and_applied_ids() -> None:
    gitops = {
        "pending": [{"id": "a", "createdAt": "old"}],
        "applied": [{"id": "b", "commit": "c0ffee"}],
        "lastWriteBack": {"commit": "c0ffee"},
    }
    merged = st.with_new_intents(
        gitops,
        [{"id": "a", "createdAt": "new"}, {"id": "b"}, {"id": "c"}, {"id": "c", "createdAt": "dup"}],
    )
    assert merged["pending"] == [{"id": "a", "createdAt": "old"}, {"id": "c"}]
    assert merged["applied"] == gitops["applied"]
    assert merged["lastWriteBack"] == {"commit": "c0ffee"}
    assert gitops["pending"] == [{"id": "a", "createdAt": "old"}]  # input not mutated
    assert st.with_new_intents(None, [{"id": "x"}]) == {"pending": [{"id": "x"}]}


def test_status_patch_queues_new_intents_once() -> None:
    intents = st.intents_for(
        "test/podinfo", [RequestWriteBack("rolled-back", "rev-b", "x")], "p:2", "p:1", T0
    )
    state = CanaryState(phase=Phase.FAILED)
    first = st.status_patch(
        state, kind="Deployment", old_status=None, revision="r", tracked={}, new_intents=intents, now=T0
    )
    assert [i["id"] for i in first["gitops"]["pending"]] == [intents[0]["id"]]
    replay = st.status_patch(
        state, kind="Deployment", old_status=first, revision="r", tracked={}, new_intents=intents, now=T0
    )
    assert replay["gitops"]["pending"] == first["gitops"]["pending"]


def _pod(**images: str) -> dict[str, Any]:
    containers = [{"name": name, "image": image} for name, image in images.items()]
    return {"spec": {"template": {"spec": {"containers": containers}}}}


def test_a_rollback_reverts_every_changed_image_and_a_promotion_pins_the_first() -> None:
    """Image automation bumped the app and its sidecar in one commit."""
    target = _pod(app="app:2", proxy="proxy:2", tools="tools:1")
    primary = _pod(app="app:1", proxy="proxy:1", tools="tools:1")
    rollback = st.decision_intents(
        "test/podinfo", [RequestWriteBack("rolled-back", "rev-b", "x")], target, primary, {}, T0, "abc"
    )
    assert [(i["kind"], i["previousImage"], i["image"]) for i in rollback] == [
        ("rollback", "app:2", "app:1"),
        ("rollback", "proxy:2", "proxy:1"),
    ]
    assert len({i["id"] for i in rollback}) == 2
    promoted = _pod(app="app:2", proxy="proxy:2", tools="tools:1")
    stable = {"app": "app:1", "proxy": "proxy:1", "tools": "tools:1"}
    (promotion,) = st.decision_intents(
        "test/podinfo", [RequestWriteBack("promoted", "rev-b", "ok")], promoted, promoted, stable, T0, "abc"
    )
    assert (promotion["kind"], promotion["previousImage"], promotion["image"]) == (
        "promotion",
        "app:1",
        "app:2",
    )


def test_a_rollback_of_a_config_change_keeps_the_image_on_both_sides() -> None:
    pod = _pod(app="app:1")
    (intent,) = st.decision_intents(
        "test/podinfo", [RequestWriteBack("rolled-back", "rev-c", "x")], pod, pod, {"app": "app:1"}, T0, ""
    )
    assert intent["image"] == intent["previousImage"] == "app:1"
