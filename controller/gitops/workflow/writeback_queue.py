"""Write-back beside the analysis: one asyncio task per repository, fed by the analysis ticks.

A tick that leaves intents in ``status.gitops.pending`` calls :meth:`WriteBackQueue.submit`,
which returns at once: the analysis loop never awaits Git. The queue names the Canary's
repository (URL + branch, from Kubernetes objects only: :func:`~controller.gitops.workflow.worker.repository_key`)
and hands the Canary to that repository's task, which runs
:func:`~controller.gitops.workflow.worker.write_back` for one Canary at a time.

Invariants:
- The queue holds Canary keys only, in memory. Intents stay in ``status.gitops.pending`` until
  ``write_back`` moved them to ``applied``, so crash-safety and exactly-once are those of
  ``write_back``: after a restart, the first tick of each Canary submits it again.
- Write-backs to one repository run one at a time, in submission order; different repositories
  run concurrently. A remote that hangs holds only its own task, and only until the git deadline
  (:mod:`controller.gitops.plumbing.gitproc` kills git's process group): then its intents stay pending,
  ``write_back`` records a ``WriteBackTimedOut`` Event, and the Canary is tried again after
  ``retry_s`` (each tick also submits it again while intents are pending).
- A Canary is queued at most once per repository; a submit while it is being written back queues
  one more run (``write_back`` is idempotent: it fetches and skips what Git already holds).
- A write-back that made progress and left new intents (``promoteTo`` after a promotion) runs
  again at once, up to :data:`MAX_ROUNDS` times.
- A Canary whose repository cannot be named gets a task of its own, where ``write_back``
  reports why in an Event and ``status.gitops.lastWriteBack``.
- A Canary with nothing pending and applied decisions is checked against its branch
  (:meth:`WriteBackQueue.check_history`, issue 14) in its repository's task, at most once per
  ``check_interval_s``; a write-back queued for it meanwhile replaces the check (it checks too).
- A repository's task ends when its queue is empty; :meth:`WriteBackQueue.close` cancels every
  task (a git command already running still ends at its deadline, in its worker thread).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from controller import telemetry
from controller.gitops.plumbing.history import HistoryCheck
from controller.gitops.plumbing.repo import WriteBackResult
from controller.gitops.workflow.canary_status import CANARY_API
from controller.gitops.workflow.history_watch import check_interval_s, verify_history
from controller.gitops.workflow.worker import repository_key, write_back
from controller.kube import Kube, KubeError

__all__ = ["MAX_ROUNDS", "RETRY_S", "RepositoryKey", "WriteBackQueue"]

log = logging.getLogger(__name__)
Obj = dict[str, Any]
RepositoryKey = tuple[str, str]
"""(URL, branch); ("", "<namespace>/<name>") for a Canary whose repository cannot be named."""

RETRY_S = 15.0
"""A failed write-back is tried again after this long (sooner when a tick submits it)."""
MAX_ROUNDS = 5
"""Successive write-backs of one Canary while each one makes progress."""

WriteBack = Callable[[Kube, Obj], Awaitable[WriteBackResult | None]]
ResolveRepository = Callable[[Kube, Obj], Awaitable[RepositoryKey]]
Verify = Callable[[Kube, Obj], Awaitable[HistoryCheck | None]]


@dataclass
class _Lane:
    """The Canaries waiting for one repository, and the task writing them back."""

    waiting: dict[str, bool] = field(default_factory=dict)
    """Canary keys in submission order -> only a history check (False: a write-back)."""
    task: asyncio.Task[None] | None = None


class WriteBackQueue:
    """Per-repository write-back tasks; see the module docstring."""

    def __init__(
        self,
        kube: Kube,
        *,
        write: WriteBack = write_back,
        resolve: ResolveRepository = repository_key,
        retry_s: float = RETRY_S,
        verify: Verify = verify_history,
        check_every_s: float | None = None,
    ) -> None:
        self.kube = kube
        self._write = write
        self._resolve = resolve
        self._verify = verify
        self.retry_s = retry_s
        self.check_every_s = check_interval_s() if check_every_s is None else check_every_s
        self._checked_at: dict[str, float] = {}
        self._lanes: dict[RepositoryKey, _Lane] = {}
        self._routing: set[str] = set()
        self._retrying: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- the analysis side ----------------------------------------------------------------------

    def submit(self, namespace: str, name: str) -> None:
        """Queue the Canary's pending intents for write-back; never waits."""
        key = f"{namespace}/{name}"
        if self._closed or key in self._routing or self._queued(key, check=False):
            return
        self._routing.add(key)
        self._spawn(self._route(namespace, name, key), f"write-back route {key}")

    def check_history(self, namespace: str, name: str) -> None:
        """Check the Canary's applied decisions against its branch, at most every ``check_every_s``."""
        key = f"{namespace}/{name}"
        now = asyncio.get_running_loop().time()
        if self._closed or now - self._checked_at.get(key, -float("inf")) < self.check_every_s:
            return
        if key in self._routing or self._queued(key, check=True):
            return
        self._checked_at[key] = now
        self._routing.add(key)
        self._spawn(self._route(namespace, name, key, check=True), f"history check route {key}")

    def _queued(self, key: str, *, check: bool) -> bool:
        """Whether ``key`` waits in a lane; a write-back turns a waiting check into a write-back."""
        for lane in self._lanes.values():
            if key in lane.waiting:
                lane.waiting[key] = lane.waiting[key] and check
                return True
        return False

    async def close(self) -> None:
        """Cancel every task and wait for them to stop."""
        self._closed = True
        tasks = [*self._tasks, *(lane.task for lane in self._lanes.values() if lane.task is not None)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._lanes.clear()

    # -- routing --------------------------------------------------------------------------------

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s crashed", task.get_name(), exc_info=task.exception())

    async def _route(self, namespace: str, name: str, key: str, check: bool = False) -> None:
        try:
            canary = await self.kube.get(CANARY_API, "Canary", namespace, name)
            if canary is None or not (_pending(canary) or (check and _applied(canary))):
                return
            check = check and not _pending(canary)
            try:
                repository = await self._resolve(self.kube, canary)
            except Exception as exc:  # SourceNotFound, SourceRefused, a malformed spec...
                log.info("%s: write-back repository unknown (%s: %s)", key, type(exc).__name__, exc)
                repository = ("", key)  # its own task: write_back reports why (Event, lastWriteBack)
            self._enqueue(repository, key, check)
        except KubeError as exc:
            log.warning("%s: could not read the Canary to queue its write-back: %s", key, exc)
            self._retry_later(namespace, name)
        finally:
            self._routing.discard(key)

    def _enqueue(self, repository: RepositoryKey, key: str, check: bool = False) -> None:
        lane = self._lanes.setdefault(repository, _Lane())
        lane.waiting[key] = lane.waiting.get(key, True) and check
        if lane.task is None or lane.task.done():
            lane.task = asyncio.ensure_future(self._drain(repository, lane))
            lane.task.set_name(f"write-back {repository[0] or repository[1]} {repository[1]}")

    async def _drain(self, repository: RepositoryKey, lane: _Lane) -> None:
        try:
            while lane.waiting:
                key = next(iter(lane.waiting))
                check = lane.waiting.pop(key)
                await (self._check_canary(key) if check else self._write_canary(key))
        finally:
            if self._lanes.get(repository) is lane and not lane.waiting:
                del self._lanes[repository]

    # -- writing one Canary ---------------------------------------------------------------------

    async def _write_canary(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        try:
            for _ in range(MAX_ROUNDS):
                canary = await self.kube.get(CANARY_API, "Canary", namespace, name)
                if canary is None or not _pending(canary):
                    return
                result = await self._write(self.kube, canary)
                if result is None:  # nothing was pending any more
                    return
                if not result.ok:
                    telemetry.WRITE_BACKS.labels("error").inc()
                    self._retry_later(namespace, name)
                    return
                telemetry.WRITE_BACKS.labels("committed").inc()
                if not result.applied:  # no progress: the next tick or retry tries again
                    return
        except Exception:  # the task must survive anything; the Canary is tried again
            log.exception("%s: write-back failed", key)
            telemetry.WRITE_BACKS.labels("error").inc()
            self._retry_later(namespace, name)

    async def _check_canary(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        try:
            canary = await self.kube.get(CANARY_API, "Canary", namespace, name)
            if canary is None:
                return
            if _pending(canary):  # a decision came meanwhile: its write-back checks too
                await self._write_canary(key)
                return
            await self._verify(self.kube, canary)
        except Exception:  # the task must survive anything; the next interval checks again
            log.exception("%s: history check failed", key)

    def _retry_later(self, namespace: str, name: str) -> None:
        key = f"{namespace}/{name}"
        if self._closed or key in self._retrying:
            return
        self._retrying.add(key)

        async def later() -> None:
            try:
                await asyncio.sleep(self.retry_s)
            finally:
                self._retrying.discard(key)
            self.submit(namespace, name)

        self._spawn(later(), f"write-back retry {key}")


def _pending(canary: Obj) -> bool:
    return bool(((canary.get("status") or {}).get("gitops") or {}).get("pending"))


def _applied(canary: Obj) -> bool:
    return bool(((canary.get("status") or {}).get("gitops") or {}).get("applied"))
