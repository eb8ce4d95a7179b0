"""Every status write goes through the typed status model (``controller.api.status``).

A property the model lacks, or a value of the wrong type, is a defect of gitcanary: it is refused
before it reaches the API server (which would prune it silently, or reject the whole patch), and
the tick says so with a Warning Event instead of saving a status that drifted from the model.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from memory_kube import MemoryKube

from controller.analysis.model import CanaryState, Decision, Phase
from controller.api.status import StatusShapeError, checked_status, status_patch_problems
from controller.kube import Kube
from controller.reconcile import runner, steps
from controller.reconcile.status import patch_canary
from tests.builders import canary, deployment

Obj = dict[str, Any]
NS = "test"


def test_the_model_describes_what_the_tick_writes() -> None:
    patch = {
        "phase": "Progressing",
        "canaryWeight": 10,
        "failedChecks": 0,
        "inconclusiveChecks": 1,
        "trackedConfigs": {"secret/db": "abc"},
        "conditions": [{"type": "Valid", "status": "True", "reason": "Valid", "message": "ok"}],
        "engine": {"progressStartedAt": 12, "stableImages": {"gone": None, "app": "podinfo:6.0.1"}},
        "gitops": {"pending": [{"id": "96454e3227201784", "kind": "rollback"}], "approval": None},
    }
    assert status_patch_problems(patch) == []


@pytest.mark.parametrize(
    ("patch", "problem"),
    [
        ({"phase": "Sleeping"}, "status.phase: Input should be"),
        ({"canaryWeight": "10"}, "status.canaryWeight: Input should be a valid integer"),
        ({"engine": {"lastFailures": "x"}}, "status.engine.lastFailures: not a field of EngineStatus"),
        ({"gitops": {"pending": [{"kind": "rollback"}]}}, "status.gitops.pending: Field required"),
        ({"flaggerCompat": True}, "status.flaggerCompat: not a field of CanaryStatus"),
    ],
)
def test_a_patch_the_model_does_not_describe_is_refused(patch: Obj, problem: str) -> None:
    problems = status_patch_problems(patch)
    assert problems and problems[0].startswith(problem), problems
    with pytest.raises(StatusShapeError, match="status patch refused"):
        checked_status({"status": patch})


async def test_patch_canary_refuses_a_status_the_model_does_not_describe() -> None:
    kube = MemoryKube({**canary(NS, "podinfo"), "status": {"phase": "Progressing"}})
    raw = await kube.get("gitcanary.io/v1beta1", "Canary", NS, "podinfo")
    assert raw is not None
    with pytest.raises(StatusShapeError):
        await patch_canary(cast(Kube, kube), raw, {"status": {"unknownField": 1}})
    assert kube.patches == [], "nothing reached the API server"


async def test_a_tick_whose_status_drifted_from_the_model_reports_it_and_saves_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def decide(flow: Any, handle: Any) -> Decision:
        flow.close()
        return Decision(CanaryState(phase=Phase.PROGRESSING), requeue_after=10)

    real = steps.status_after

    async def drifted(*args: Any) -> Obj:
        return {**await real(*args), "canaryWieght": 10}

    monkeypatch.setattr(steps, "drive_async", decide)
    monkeypatch.setattr(runner, "status_after", drifted)
    kube = MemoryKube(
        {**canary(NS, "podinfo", template=None, iterations=2), "status": {"phase": "Initialized"}},
        deployment(NS, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.1"),
    )
    raw = await kube.get("gitcanary.io/v1beta1", "Canary", NS, "podinfo")
    assert raw is not None
    result = await runner.reconcile_canary(cast(Kube, kube), raw, runner.ReconcileSettings(), now=1000.0)
    assert result.delay == runner.ERROR_RETRY_S
    assert kube.reasons() == ["StatusRefused"]
    assert "status.canaryWieght: not a field of CanaryStatus" in kube.events[0]["message"]
    assert kube.objects[("Canary", NS, "podinfo")]["status"] == {"phase": "Initialized"}
