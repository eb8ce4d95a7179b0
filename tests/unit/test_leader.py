"""Leader election rounds: acquisition, renewal, expiry on the candidate's own clock, release.

The apiserver side is an in-memory Lease store with the two properties the protocol relies
on (optimistic concurrency on resourceVersion, 409 on create of an existing object); the
real apiserver is exercised by tests/integration/operator/test_leader_election.py.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from controller.kube import KubeError
from controller.leader import LeaderElector, LeadershipLost, Timings, holder_of

Obj = dict[str, Any]


class LeaseStore:
    def __init__(self) -> None:
        self.lease: Obj | None = None
        self.version = 0
        self.fail = False

    def _check(self) -> None:
        if self.fail:
            raise KubeError("GET lease: connection refused")

    async def get(self, api: str, kind: str, ns: str, name: str) -> Obj | None:
        self._check()
        return copy.deepcopy(self.lease)

    async def create(self, obj: Obj) -> Obj:
        self._check()
        if self.lease is not None:
            raise KubeError("exists", 409, "AlreadyExists")
        self.version += 1
        self.lease = copy.deepcopy(obj)
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.lease)

    async def merge_patch(self, api: str, kind: str, ns: str, name: str, patch: Obj) -> Obj:
        self._check()
        assert self.lease is not None
        if patch["metadata"]["resourceVersion"] != self.lease["metadata"]["resourceVersion"]:
            raise KubeError("conflict", 409, "Conflict")
        self.version += 1
        for key, value in patch["spec"].items():
            if value is None:
                self.lease["spec"].pop(key, None)
            else:
                self.lease["spec"][key] = value
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.lease)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _elector(store: LeaseStore, clock: Clock, identity: str) -> LeaderElector:
    wall = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    return LeaderElector(store, "gitcanary-system", identity=identity, monotonic=clock, wall_clock=lambda: wall)  # type: ignore[arg-type]


async def test_the_first_candidate_creates_the_lease_and_the_second_waits() -> None:
    store, clock = LeaseStore(), Clock()
    a, b = _elector(store, clock, "a"), _elector(store, clock, "b")
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    assert holder_of(store.lease) == "a"
    spec = store.lease["spec"] if store.lease else {}
    assert spec["leaseDurationSeconds"] == 15
    assert spec["renewTime"] == "2026-12-05T00:00:00.000000Z"


async def test_a_standby_takes_over_only_after_seeing_the_same_record_for_a_lease_duration() -> None:
    store, clock = LeaseStore(), Clock()
    a, b = _elector(store, clock, "a"), _elector(store, clock, "b")
    await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()  # b observes a's record now
    clock.now += 14.9
    assert not await b.try_acquire_or_renew()
    clock.now += 0.2
    assert await b.try_acquire_or_renew()
    assert holder_of(store.lease) == "b"
    assert store.lease and store.lease["spec"]["leaseTransitions"] == 1


async def test_renewals_keep_the_standby_waiting() -> None:
    store, clock = LeaseStore(), Clock()
    a, b = _elector(store, clock, "a"), _elector(store, clock, "b")
    await a.try_acquire_or_renew()
    for _ in range(20):
        assert not await b.try_acquire_or_renew()
        clock.now += 2
        # a renews with a new renewTime: the record changes, so b restarts its count.
        a._wall_clock = lambda t=clock.now: dt.datetime.fromtimestamp(t, dt.UTC)
        assert await a.try_acquire_or_renew()
    assert holder_of(store.lease) == "a"


async def test_a_slower_writer_loses_the_round_on_conflict() -> None:
    store, clock = LeaseStore(), Clock()
    a, b = _elector(store, clock, "a"), _elector(store, clock, "b")
    await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    clock.now += 16
    stale = copy.deepcopy(store.lease)
    assert await a.try_acquire_or_renew()  # a renews first
    original_get = store.get

    async def stale_get(*args: Any) -> Obj | None:
        return copy.deepcopy(stale)

    store.get = stale_get  # type: ignore[method-assign]
    assert not await b.try_acquire_or_renew()  # b acts on the stale record: 409
    store.get = original_get  # type: ignore[method-assign]
    assert holder_of(store.lease) == "a"


async def test_a_holder_that_cannot_renew_for_the_deadline_loses_leadership() -> None:
    store = LeaseStore()
    timings = Timings(lease_duration=0.6, renew_deadline=0.3, retry_period=0.05)
    a = LeaderElector(store, "ns", identity="a", timings=timings)  # type: ignore[arg-type]
    await a.acquire()
    store.fail = True
    with pytest.raises(LeadershipLost, match="could not renew"):
        await a.hold()


async def test_release_hands_over_at_once() -> None:
    store, clock = LeaseStore(), Clock()
    a, b = _elector(store, clock, "a"), _elector(store, clock, "b")
    await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    await a.release()
    assert holder_of(store.lease) == ""
    assert await b.try_acquire_or_renew()


def test_timings_must_leave_a_margin() -> None:
    with pytest.raises(ValueError, match="lease duration > renew deadline"):
        Timings(lease_duration=10, renew_deadline=10, retry_period=2)
