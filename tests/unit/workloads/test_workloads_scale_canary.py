"""Scaling the canary to zero is idempotent and writes nothing when it is already at zero.

The engine asks for it on every tick of a Failed Canary (the rollback tick leaves the scale-down
to the next tick, once Failed is saved), so an already scaled-down canary must cost no write.
"""

from __future__ import annotations

from typing import Any, cast

from controller.kube import Kube
from controller.workloads.target import TargetWorkload
from tests.builders import canary, deployment
from tests.unit.workloads.fake_kube import FakeKube

Obj = dict[str, Any]


def _workload(replicas: int) -> tuple[FakeKube, TargetWorkload]:
    target = deployment("test", "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.1", replicas=replicas)
    kube = FakeKube(target)
    return kube, TargetWorkload(cast(Kube, kube), canary("test", "podinfo"))


async def test_scaling_a_running_canary_to_zero_patches_its_replicas() -> None:
    kube, workload = _workload(replicas=2)
    await workload.scale_canary(to_zero=True)
    assert kube.stored("Deployment", "test", "podinfo")["spec"]["replicas"] == 0
    assert len(kube.writes) == 1


async def test_a_canary_already_at_zero_is_not_written_again() -> None:
    kube, workload = _workload(replicas=0)
    await workload.scale_canary(to_zero=True)
    await workload.scale_canary(to_zero=True)
    assert kube.writes == []
