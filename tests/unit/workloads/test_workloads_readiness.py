"""Readiness of Deployments and DaemonSets: Flagger's messages and thresholds."""

from __future__ import annotations

from typing import Any

import pytest

from controller.workloads.readiness import Readiness, daemonset_readiness, deployment_readiness, readiness
from tests.builders import daemonset, deployment

Obj = dict[str, Any]


def rolled_out(count: int = 2, *, generation: int = 3, **status: Any) -> Obj:
    """A Deployment of ``count`` replicas, fully rolled out unless ``status`` overrides a field."""
    obj = deployment("test", "podinfo", "img:1", replicas=count)
    obj["metadata"]["generation"] = generation
    obj["status"] = {
        "observedGeneration": generation,
        "replicas": count,
        "updatedReplicas": count,
        "readyReplicas": count,
        "availableReplicas": count,
        **status,
    }
    return obj


def test_rolled_out_deployment_is_ready() -> None:
    assert readiness(rolled_out()) == Readiness(True, "podinfo.test is ready")


def test_generation_lag_waits() -> None:
    obj = rolled_out(observedGeneration=2)
    result = deployment_readiness(obj)
    assert not result.ready and not result.deadline_exceeded
    assert result.message == (
        "waiting for rollout to finish: observed deployment generation less than desired generation "
        "(podinfo.test)"
    )


def test_progress_deadline_exceeded_is_flagged() -> None:
    obj = rolled_out(
        updatedReplicas=1,
        conditions=[
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"},
        ],
    )
    result = deployment_readiness(obj)
    assert result == Readiness(False, "deployment podinfo.test exceeded its progress deadline", True)


def test_progressing_condition_without_deadline_is_not_exceeded() -> None:
    obj = rolled_out(
        conditions=[{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]
    )
    assert deployment_readiness(obj).ready


def test_updated_below_replicas_waits() -> None:
    result = deployment_readiness(rolled_out(3, updatedReplicas=1, availableReplicas=3))
    assert result == Readiness(
        False, "waiting for rollout to finish: 1 out of 3 new replicas have been updated"
    )


def test_replicas_default_to_one_when_unset() -> None:
    obj = rolled_out(1, updatedReplicas=0, availableReplicas=0)
    del obj["spec"]["replicas"]
    assert deployment_readiness(obj).message == (
        "waiting for rollout to finish: 0 out of 1 new replicas have been updated"
    )


@pytest.mark.parametrize(
    ("updated", "available", "threshold", "ready"),
    [
        (4, 4, 100, True),
        (4, 3, 100, False),
        (4, 2, 50, True),
        (4, 1, 50, False),
        # ceil: 3 * 50% = 1.5 needs 2 available pods
        (3, 1, 50, False),
        (3, 2, 50, True),
        # ceil: 3 * 34% = 1.02 needs 2
        (3, 1, 34, False),
        (3, 1, 33, True),
        (3, 0, 0, True),
    ],
)
def test_ready_threshold_rounds_up(updated: int, available: int, threshold: int, ready: bool) -> None:
    obj = rolled_out(updated, availableReplicas=available)
    result = deployment_readiness(obj, threshold)
    assert result.ready is ready
    if not ready:
        assert result.message == (
            f"waiting for rollout to finish: {available} of {updated} (readyThreshold {threshold}%) "
            "updated replicas are available"
        )


def test_canary_with_zero_replicas_halts_but_primary_with_zero_is_ready() -> None:
    obj = rolled_out(0)
    result = deployment_readiness(obj, canary=True)
    assert result == Readiness(False, "halt advancement no healthy pods: podinfo.test has no replicas")
    assert readiness(obj, canary=True) == result
    assert deployment_readiness(obj).ready


def test_generation_lag_is_reported_before_the_deadline() -> None:
    obj = rolled_out(
        observedGeneration=1,
        conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}],
    )
    result = deployment_readiness(obj)
    assert not result.deadline_exceeded
    assert "observed deployment generation" in result.message


def test_missing_status_waits() -> None:
    obj = deployment("test", "podinfo", "img:1", replicas=2)
    obj["metadata"]["generation"] = 1
    result = deployment_readiness(obj)
    assert not result.ready
    assert "observed deployment generation" in result.message


# -- DaemonSet ---------------------------------------------------------------------------------------
def ds(desired: int, updated: int, ready: int, *, generation: int = 2, observed: int = 2) -> Obj:
    obj = daemonset("test", "agent", "agent:1")
    obj["metadata"]["generation"] = generation
    obj["status"] = {
        "observedGeneration": observed,
        "desiredNumberScheduled": desired,
        "updatedNumberScheduled": updated,
        "numberReady": ready,
    }
    return obj


def test_daemonset_ready() -> None:
    assert readiness(ds(3, 3, 3)) == Readiness(True, "agent.test is ready")


def test_daemonset_dispatch_ignores_the_canary_zero_replicas_rule() -> None:
    assert readiness(ds(0, 0, 0), canary=True).ready


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            ds(3, 3, 3, observed=1),
            "waiting for rollout to finish: observed daemonset generation less than desired generation "
            "(agent.test)",
        ),
        (ds(3, 2, 3), "waiting for rollout to finish: 2 out of 3 new pods have been updated"),
        (ds(3, 3, 2), "waiting for rollout to finish: 2 of 3 pods are ready"),
    ],
)
def test_daemonset_waits(obj: Obj, message: str) -> None:
    assert daemonset_readiness(obj) == Readiness(False, message)


def test_daemonset_threshold_rounds_up() -> None:
    assert daemonset_readiness(ds(3, 3, 2), 50).ready
    assert not daemonset_readiness(ds(3, 3, 1), 50).ready  # 1.5 -> 2
    assert not daemonset_readiness(ds(3, 3, 1), 34).ready
    assert daemonset_readiness(ds(3, 3, 1), 33).ready


def test_old_replicas_pending_termination_wait() -> None:
    """Old pods still running (surge) would take traffic through the same Service selector."""
    result = deployment_readiness(rolled_out(2, replicas=3))
    assert result == Readiness(False, "waiting for rollout to finish: 1 old replicas are pending termination")
