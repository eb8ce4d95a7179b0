"""The write-back queue checks applied decisions against the branch (issue 14) when nothing is
pending: in the repository's task, at most once per interval per Canary, and a write-back queued
meanwhile takes the check's place (the write-back checks too)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from controller.gitops.plumbing.history import HistoryCheck
from controller.gitops.workflow.writeback_queue import WriteBackQueue
from controller.kube import Kube
from tests.unit.gitops.test_writeback_queue import Remotes, Store, remotes, store, until

__all__ = ["remotes", "store"]  # fixtures

FLEET = "https://git.example/fleet.git"


class Verifier:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def verify(self, kube: Kube, canary: dict[str, Any]) -> HistoryCheck | None:
        self.calls.append(f"{canary['metadata']['namespace']}/{canary['metadata']['name']}")
        return HistoryCheck(tip="c0ffee")


def with_applied(store: Store, key: str, repository: str = FLEET) -> None:
    store.add(key, repository, [])
    store.canaries[key]["status"]["gitops"]["applied"] = [{"id": "i0", "commit": "c0ffee"}]


def queue_for(store: Store, remotes: Remotes, verifier: Verifier, every_s: float) -> WriteBackQueue:
    return WriteBackQueue(
        cast(Kube, store),
        write=remotes.write,
        resolve=remotes.resolve,
        retry_s=0.05,
        verify=verifier.verify,
        check_every_s=every_s,
    )


async def test_a_canary_with_applied_decisions_is_checked_once_per_interval(
    store: Store, remotes: Remotes
) -> None:
    with_applied(store, "ns/podinfo")
    store.add("ns/never-decided", FLEET, [])
    verifier = Verifier()
    queue = queue_for(store, remotes, verifier, every_s=0.3)
    try:
        queue.check_history("ns", "podinfo")
        queue.check_history("ns", "never-decided")
        await until(lambda: verifier.calls == ["ns/podinfo"])
        queue.check_history("ns", "podinfo")  # within the interval: nothing
        await asyncio.sleep(0.1)
        assert verifier.calls == ["ns/podinfo"] and remotes.calls == []
        await asyncio.sleep(0.25)
        queue.check_history("ns", "podinfo")
        await until(lambda: verifier.calls == ["ns/podinfo", "ns/podinfo"])
    finally:
        await queue.close()


async def test_a_check_waits_behind_the_repositorys_write_backs_and_a_write_back_replaces_it(
    store: Store, remotes: Remotes
) -> None:
    store.add("ns/writer", FLEET, ["i1"])
    with_applied(store, "ns/podinfo")
    gate = remotes.hung[FLEET] = asyncio.Event()
    verifier = Verifier()
    queue = queue_for(store, remotes, verifier, every_s=60)
    try:
        queue.submit("ns", "writer")
        await until(lambda: remotes.calls == ["ns/writer"])
        queue.check_history("ns", "podinfo")
        await asyncio.sleep(0.05)
        assert verifier.calls == [], "the check waits for the repository's task"
        store.canaries["ns/podinfo"]["status"]["gitops"]["pending"] = [{"id": "i2"}]
        queue.submit("ns", "podinfo")  # a decision came: the waiting check becomes a write-back
        gate.set()
        await until(lambda: remotes.calls == ["ns/writer", "ns/podinfo"])
        assert verifier.calls == []
    finally:
        await queue.close()
