"""Leader election on a ``coordination.k8s.io/v1`` Lease, with controller-runtime's timings.

Several replicas of ``gitcanary run --leader-elect`` share one Lease; only its holder
runs the handlers, the others wait as standbys and take over when the holder stops
renewing. The protocol is client-go's ``leaderelection`` package, reimplemented:

- the holder renews ``spec.renewTime`` every ``retry_period``; each write carries the
  Lease's ``resourceVersion``, so two candidates can never both win a round (the
  apiserver answers 409 to the slower one);
- a candidate considers the Lease expired only after it has seen the *same* record
  unchanged for ``lease_duration`` on its own monotonic clock (the holder's
  ``renewTime`` is never compared with the local wall clock, so clock skew between
  nodes cannot shorten a lease);
- a holder that could not renew for ``renew_deadline`` stops leading: the caller must
  stop all work at once (``gitcanary run`` exits, as controller-runtime does, and the
  Deployment restarts it as a standby). ``renew_deadline < lease_duration`` leaves a
  margin in which the old leader has stopped before anyone else may start;
- a holder that stops cleanly releases the Lease (empty holder, ``leaseDurationSeconds: 1``),
  so a rolling update hands over in about one retry period instead of a lease duration.

Defaults are controller-runtime's: lease 15 s, renew deadline 10 s, retry period 2 s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller.kube import Kube, KubeError

log = logging.getLogger(__name__)

LEASE_API = "coordination.k8s.io/v1"
LEASE_DURATION_S = 15.0
RENEW_DEADLINE_S = 10.0
RETRY_PERIOD_S = 2.0
DEFAULT_LEASE_NAME = "gitcanary-leader-election"

Obj = dict[str, Any]


class LeadershipLost(RuntimeError):
    """The holder could not renew its Lease within the renew deadline."""


@dataclass(frozen=True)
class Timings:
    lease_duration: float = LEASE_DURATION_S
    renew_deadline: float = RENEW_DEADLINE_S
    retry_period: float = RETRY_PERIOD_S

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError("leader election needs lease duration > renew deadline > retry period > 0")


def default_identity() -> str:
    """``<hostname>_<uuid>``, as controller-runtime names its candidates."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def micro_time(now: dt.datetime) -> str:
    """A Kubernetes ``MicroTime``: RFC 3339 with microseconds, in UTC."""
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def holder_of(lease: Obj | None) -> str:
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def _record(lease: Obj | None) -> tuple[str, str, int]:
    """What changes when a holder renews: who holds it, when it renewed, how long it lasts."""
    spec = (lease or {}).get("spec") or {}
    return (
        str(spec.get("holderIdentity") or ""),
        str(spec.get("renewTime") or ""),
        int(spec.get("leaseDurationSeconds") or 0),
    )


class LeaderElector:
    """One candidate for one Lease. Not thread-safe; one asyncio task drives it."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str = DEFAULT_LEASE_NAME,
        identity: str | None = None,
        timings: Timings = Timings(),
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity or default_identity()
        self.timings = timings
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._observed: tuple[str, str, int] | None = None
        self._observed_at = 0.0
        self._last_renew = 0.0
        self.transitions = 0

    # -- one round ------------------------------------------------------------------------
    def _expired(self, lease: Obj) -> bool:
        record = _record(lease)
        now = self._monotonic()
        if record != self._observed:
            self._observed, self._observed_at = record, now
        holder, _, duration = record
        if not holder:
            return True
        return now - self._observed_at >= (duration or self.timings.lease_duration)

    def _spec(self, lease: Obj | None, acquiring: bool) -> Obj:
        now = micro_time(self._wall_clock())
        spec: Obj = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.timings.lease_duration),
            "renewTime": now,
        }
        old = (lease or {}).get("spec") or {}
        if acquiring:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0) + (1 if old else 0)
        return spec

    async def try_acquire_or_renew(self) -> bool:
        """One round: True when this candidate holds the Lease afterwards."""
        lease = await self.kube.get(LEASE_API, "Lease", self.namespace, self.name)
        if lease is None:
            body = {
                "apiVersion": LEASE_API,
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(None, acquiring=True),
            }
            try:
                await self.kube.create(body)
            except KubeError as exc:
                if exc.status == 409:
                    return False
                raise
            self._won()
            return True
        mine = holder_of(lease) == self.identity
        if not mine and not self._expired(lease):
            return False
        patch = {
            "metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]},
            "spec": self._spec(lease, acquiring=not mine),
        }
        try:
            await self.kube.merge_patch(LEASE_API, "Lease", self.namespace, self.name, patch)
        except KubeError as exc:
            if exc.status == 409:
                return False
            raise
        if not mine:
            self.transitions += 1
        self._won()
        return True

    def _won(self) -> None:
        self._last_renew = self._monotonic()

    # -- the loops ------------------------------------------------------------------------
    async def _round(self) -> bool:
        try:
            return await self.try_acquire_or_renew()
        except KubeError as exc:
            log.warning("leader election: %s", exc)
            return False

    async def acquire(self) -> None:
        """Block until this candidate holds the Lease (jittered retries, like client-go)."""
        log.info("leader election: %s waits for Lease %s/%s", self.identity, self.namespace, self.name)
        while not await self._round():
            await asyncio.sleep(self.timings.retry_period * (1 + 0.2 * random.random()))
        log.info("leader election: %s leads", self.identity)

    async def hold(self) -> None:
        """Renew until a renewal misses the deadline; then raise :class:`LeadershipLost`."""
        while True:
            await asyncio.sleep(self.timings.retry_period)
            if await self._round():
                continue
            if self._monotonic() - self._last_renew >= self.timings.renew_deadline:
                raise LeadershipLost(
                    f"{self.identity} could not renew Lease {self.namespace}/{self.name} "
                    f"for {self.timings.renew_deadline:g}s"
                )

    async def release(self) -> None:
        """Give the Lease up (only if still ours), so a standby takes over at once."""
        lease = await self.kube.get(LEASE_API, "Lease", self.namespace, self.name)
        if lease is None or holder_of(lease) != self.identity:
            return
        patch = {
            "metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]},
            "spec": {"holderIdentity": None, "leaseDurationSeconds": 1, "renewTime": micro_time(self._wall_clock())},
        }
        try:
            await self.kube.merge_patch(LEASE_API, "Lease", self.namespace, self.name, patch)
        except KubeError as exc:
            log.warning("leader election: could not release the Lease: %s", exc)
