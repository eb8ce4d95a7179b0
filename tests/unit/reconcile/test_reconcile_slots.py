"""``--max-concurrent-canaries``: a deleted Canary gives its analysis slot back.

Drives the kopf daemon handler itself (``controller.operator.analyse``) with the in-memory API:
the daemon ends when its Canary is gone or being deleted, and must release the slot then.
"""

from __future__ import annotations

from typing import Any

import kopf
from memory_kube import MemoryKube

from controller import operator
from controller.reconcile.runner import ReconcileSettings
from controller.reconcile.slots import AnalysisSlots


class Running:
    """A ``kopf.DaemonStopped`` that never says stop (the daemon ends by itself)."""

    def __bool__(self) -> bool:
        return False


def deleting(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": name, "namespace": "test", "deletionTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {},
    }


async def _run_daemon(kube: MemoryKube, slots: AnalysisSlots, name: str) -> None:
    memo = kopf.Memo(kube=kube, settings=ReconcileSettings(slots=slots))
    await operator.analyse(namespace="test", name=name, stopped=Running(), memo=memo)  # type: ignore[arg-type]


async def test_a_deleted_canary_gives_its_slot_to_a_waiting_one() -> None:
    slots = AnalysisSlots(limit=1)
    assert slots.acquire("test/alpha")
    assert not slots.acquire("test/beta"), "beta waits for alpha's slot"
    await _run_daemon(MemoryKube(), slots, "alpha")  # alpha is gone
    assert slots.acquire("test/beta")


async def test_a_canary_being_deleted_gives_its_slot_back() -> None:
    slots = AnalysisSlots(limit=1)
    assert slots.acquire("test/alpha")
    await _run_daemon(MemoryKube(deleting("alpha")), slots, "alpha")
    assert slots.holders == set()


def test_release_is_idempotent_and_leaves_other_holders() -> None:
    slots = AnalysisSlots(limit=2)
    assert slots.acquire("test/alpha") and slots.acquire("test/beta")
    slots.release("test/alpha")
    slots.release("test/alpha")
    assert slots.holders == {"test/beta"}
