"""The per-repository write-back tasks: submit never waits, one hung repository holds only itself.

``write`` and ``resolve`` are the queue's seams; here they are small coroutines over an in-memory
Canary store (the real ``write_back`` against real remotes is covered by the integration tests,
tests/integration/gitops/test_hung_remote.py among them).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from controller.flux.correlation import SourceNotFound
from controller.gitops.plumbing.repo import WriteBackResult
from controller.gitops.workflow.writeback_queue import MAX_ROUNDS, WriteBackQueue
from controller.kube import Kube

Obj = dict[str, Any]


class Store:
    """Canaries by ``namespace/name``; ``get`` is all the queue reads."""

    def __init__(self) -> None:
        self.canaries: dict[str, Obj] = {}

    def add(self, key: str, repository: str, pending: list[str]) -> None:
        namespace, name = key.split("/")
        self.canaries[key] = {
            "metadata": {"namespace": namespace, "name": name},
            "spec": {"repository": repository},
            "status": {"gitops": {"pending": [{"id": i} for i in pending]}},
        }

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        return self.canaries.get(f"{namespace}/{name}")


class Remotes:
    """``write``: applies every pending intent, except on repositories marked hung or down."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.hung: dict[str, asyncio.Event] = {}
        self.down: set[str] = set()
        self.calls: list[str] = []
        self.follow_up: dict[str, list[str]] = {}
        """Canary key -> intents that a successful write-back queues next (promoteTo)."""

    async def resolve(self, kube: Kube, canary: Obj) -> tuple[str, str]:
        repository = canary["spec"]["repository"]
        if repository == "unresolvable":
            raise SourceNotFound("no GitRepository")
        return repository, "main"

    async def write(self, kube: Kube, canary: Obj) -> WriteBackResult | None:
        key = f"{canary['metadata']['namespace']}/{canary['metadata']['name']}"
        self.calls.append(key)
        repository = canary["spec"]["repository"]
        if repository in self.hung:
            await self.hung[repository].wait()
        if repository in self.down:
            return WriteBackResult(commit=None, error="git fetch timed out after 30s")
        if repository == "crashing":
            raise RuntimeError("a bug")
        gitops = self.store.canaries[key]["status"]["gitops"]
        done = [p["id"] for p in gitops["pending"]]
        if not done:
            return None
        gitops["pending"] = [{"id": i} for i in self.follow_up.pop(key, [])]
        return WriteBackResult(commit="c0ffee", applied=dict.fromkeys(done, "c0ffee"))


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def remotes(store: Store) -> Remotes:
    return Remotes(store)


def queue_for(store: Store, remotes: Remotes, retry_s: float = 0.05) -> WriteBackQueue:
    return WriteBackQueue(cast(Kube, store), write=remotes.write, resolve=remotes.resolve, retry_s=retry_s)


async def until(probe: Any, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not probe():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def pending(store: Store, key: str) -> list[str]:
    return [p["id"] for p in store.canaries[key]["status"]["gitops"]["pending"]]


async def test_a_hung_repository_holds_only_its_own_task(store: Store, remotes: Remotes) -> None:
    store.add("a/hung", "https://git.example/hung.git", ["i1"])
    store.add("b/fine", "https://git.example/fine.git", ["i2"])
    remotes.hung["https://git.example/hung.git"] = asyncio.Event()
    queue = queue_for(store, remotes)
    try:
        queue.submit("a", "hung")  # returns at once
        queue.submit("b", "fine")
        await until(lambda: not pending(store, "b/fine"))
        assert pending(store, "a/hung") == ["i1"], "the hung write-back leaves its intents pending"
    finally:
        await queue.close()


async def test_one_repository_is_written_one_canary_at_a_time_in_order(
    store: Store, remotes: Remotes
) -> None:
    for name in ("one", "two", "three"):
        store.add(f"ns/{name}", "https://git.example/fleet.git", [name])
    gate = remotes.hung["https://git.example/fleet.git"] = asyncio.Event()
    queue = queue_for(store, remotes)
    try:
        for name in ("one", "two", "three"):
            queue.submit("ns", name)
        await until(lambda: remotes.calls == ["ns/one"])
        queue.submit("ns", "two")  # already waiting: not queued twice
        await asyncio.sleep(0.05)
        assert remotes.calls == ["ns/one"], "the others wait for the repository"
        gate.set()
        await until(lambda: all(not pending(store, f"ns/{n}") for n in ("one", "two", "three")))
        assert remotes.calls == ["ns/one", "ns/two", "ns/three"]
    finally:
        await queue.close()


async def test_a_failed_write_back_keeps_its_intents_and_is_retried(store: Store, remotes: Remotes) -> None:
    store.add("ns/podinfo", "https://git.example/down.git", ["i1"])
    remotes.down.add("https://git.example/down.git")
    queue = queue_for(store, remotes, retry_s=0.05)
    try:
        queue.submit("ns", "podinfo")
        await until(lambda: remotes.calls.count("ns/podinfo") >= 3)
        assert pending(store, "ns/podinfo") == ["i1"]
        remotes.down.clear()  # the remote is back: the next retry applies it
        await until(lambda: not pending(store, "ns/podinfo"))
    finally:
        await queue.close()


async def test_progress_that_queues_more_intents_runs_again(store: Store, remotes: Remotes) -> None:
    store.add("ns/podinfo", "https://git.example/fleet.git", ["promotion"])
    remotes.follow_up["ns/podinfo"] = ["promote-to-production"]
    queue = queue_for(store, remotes)
    try:
        queue.submit("ns", "podinfo")
        await until(lambda: not pending(store, "ns/podinfo"))
        assert remotes.calls == ["ns/podinfo", "ns/podinfo"]
    finally:
        await queue.close()
    assert MAX_ROUNDS >= 2


async def test_an_unresolvable_repository_still_reaches_write_back(store: Store, remotes: Remotes) -> None:
    """``write_back`` is where the failure is reported (Event, lastWriteBack)."""
    store.add("ns/podinfo", "unresolvable", ["i1"])
    queue = queue_for(store, remotes)
    try:
        queue.submit("ns", "podinfo")
        await until(lambda: remotes.calls == ["ns/podinfo"])
    finally:
        await queue.close()


async def test_a_crashing_write_back_is_logged_and_retried(
    store: Store, remotes: Remotes, caplog: pytest.LogCaptureFixture
) -> None:
    store.add("ns/podinfo", "crashing", ["i1"])
    queue = queue_for(store, remotes, retry_s=0.05)
    try:
        queue.submit("ns", "podinfo")
        await until(lambda: remotes.calls.count("ns/podinfo") >= 2)
    finally:
        await queue.close()
    assert "ns/podinfo: write-back failed" in caplog.text


async def test_nothing_pending_writes_nothing(store: Store, remotes: Remotes) -> None:
    store.add("ns/podinfo", "https://git.example/fleet.git", [])
    queue = queue_for(store, remotes)
    try:
        queue.submit("ns", "podinfo")
        queue.submit("ns", "gone")
        await asyncio.sleep(0.05)
        assert remotes.calls == []
    finally:
        await queue.close()


async def test_close_cancels_a_hung_task(store: Store, remotes: Remotes) -> None:
    store.add("ns/podinfo", "https://git.example/hung.git", ["i1"])
    remotes.hung["https://git.example/hung.git"] = asyncio.Event()
    queue = queue_for(store, remotes)
    queue.submit("ns", "podinfo")
    await until(lambda: remotes.calls == ["ns/podinfo"])
    await asyncio.wait_for(queue.close(), 2)
    queue.submit("ns", "podinfo")  # after close: ignored
    await asyncio.sleep(0.05)
    assert remotes.calls == ["ns/podinfo"]
