"""A tick that changes nothing writes nothing, and the spec is validated once per generation.

Issue 15 (cheaper ticks): every tick merge-patched the Canary's status and validated its spec,
even when the decision and the spec were those of the tick before. A status patch that would
leave the live status as it is is not sent; validation is cached by uid and generation.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from memory_kube import MemoryKube

from controller.analysis.model import CanaryState, Decision, Phase
from controller.api import parsed
from controller.kube import Kube
from controller.reconcile import runner, steps
from controller.reconcile.status import merge_changes
from tests.builders import deployment

Obj = dict[str, Any]
NS = "test"


def canary(generation: int = 1) -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": NS, "uid": "u-1", "generation": generation},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {"interval": "10s", "threshold": 2, "iterations": 2},
        },
        "status": {"phase": "Succeeded"},
    }


def steady(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine decides Succeeded again, with no request: a quiet tick."""

    async def decide(flow: Any, handle: Any) -> Decision:
        flow.close()
        return Decision(CanaryState(phase=Phase.SUCCEEDED, last_transition_time=1000.0), requeue_after=10)

    monkeypatch.setattr(steps, "drive_async", decide)


async def tick(kube: MemoryKube, now: float) -> None:
    raw = await kube.get("gitcanary.io/v1beta1", "Canary", NS, "podinfo")
    assert raw is not None
    await runner.reconcile_canary(cast(Kube, kube), raw, runner.ReconcileSettings(), now=now)


def status_patches(kube: MemoryKube) -> list[Obj]:
    return [patch for _, sub, patch in kube.patches if sub == "status"]


async def test_a_tick_that_changes_nothing_sends_no_status_patch(monkeypatch: pytest.MonkeyPatch) -> None:
    steady(monkeypatch)
    kube = MemoryKube(canary(), deployment(NS, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.1"))
    await tick(kube, 1000.0)
    assert len(status_patches(kube)) == 1, "the first tick writes its status"
    await tick(kube, 1010.0)
    await tick(kube, 1020.0)
    assert len(status_patches(kube)) == 1, status_patches(kube)[1:]


async def test_a_tick_that_changes_the_status_still_patches_it(monkeypatch: pytest.MonkeyPatch) -> None:
    steady(monkeypatch)
    kube = MemoryKube(canary(), deployment(NS, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.1"))
    await tick(kube, 1000.0)
    kube.bump("Canary", NS, "podinfo", {"status": {"failedChecks": 3}})  # e.g. a status edited by hand
    await tick(kube, 1010.0)
    assert len(status_patches(kube)) == 2
    assert kube.objects[("Canary", NS, "podinfo")]["status"]["failedChecks"] == 0


async def test_the_spec_is_validated_once_per_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    steady(monkeypatch)
    parsed._CACHE.clear()
    calls: list[int] = []
    real = parsed.validate_canary

    def counting(raw: Obj) -> list[str]:
        calls.append(raw["metadata"]["generation"])
        return real(raw)

    monkeypatch.setattr(parsed, "validate_canary", counting)
    kube = MemoryKube(canary(), deployment(NS, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.1"))
    for second in range(3):
        await tick(kube, 1000.0 + 10 * second)
    assert calls == [1]
    kube.bump(
        "Canary", NS, "podinfo", {"metadata": {"generation": 2}, "spec": {"analysis": {"threshold": 3}}}
    )
    await tick(kube, 1030.0)
    await tick(kube, 1040.0)
    assert calls == [1, 2]


async def test_an_invalid_generation_is_reported_from_the_cache_too(monkeypatch: pytest.MonkeyPatch) -> None:
    steady(monkeypatch)
    parsed._CACHE.clear()
    bad = canary(generation=4)
    bad["spec"]["analysis"]["threshold"] = "many"
    kube = MemoryKube(bad)
    await tick(kube, 1000.0)
    await tick(kube, 1010.0)
    valid = [
        c for c in kube.objects[("Canary", NS, "podinfo")]["status"]["conditions"] if c["type"] == "Valid"
    ]
    assert valid and valid[0]["status"] == "False", valid
    assert [e["reason"] for e in kube.events] == ["InvalidSpec"], "one Event for one problem"
    assert len(status_patches(kube)) == 1, "the second tick's condition is already there"


def test_the_spec_cache_is_bounded() -> None:
    parsed._CACHE.clear()
    for i in range(parsed.PARSED_CACHE_SIZE + 50):
        obj = canary(generation=1)
        obj["metadata"]["uid"] = f"u-{i}"
        parsed.checked_canary(obj)
    assert len(parsed._CACHE) == parsed.PARSED_CACHE_SIZE


@pytest.mark.parametrize(
    ("live", "patch", "changes"),
    [
        ({"a": 1}, {"a": 1}, False),
        ({"a": 1}, {"a": 2}, True),
        ({"a": 1}, {"b": None}, False),
        ({"a": 1}, {"a": None}, True),
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": 1}}, False),
        ({"a": {"b": 1}}, {"a": {"b": 1, "c": None}}, False),
        ({"a": {"b": 1}}, {"a": {"c": 1}}, True),
        ({}, {"a": {}}, False),
        ({}, {"a": {"b": None}}, False),
        ({"a": [1, 2]}, {"a": [1, 2]}, False),
        ({"a": [1, 2]}, {"a": [2, 1]}, True),
        ({"a": 1}, {"a": True}, True),
        ({"a": False}, {"a": 0}, True),
        ({"a": 1}, {"a": 1.0}, False),
        ({"a": "x"}, {"a": {"b": 1}}, True),
    ],
)
def test_merge_changes(live: Obj, patch: Obj, changes: bool) -> None:
    assert merge_changes(live, patch) is changes
