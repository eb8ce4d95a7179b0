"""The operator's watch handlers and indexes are coroutines (issue 15, cheaper ticks).

kopf runs a plain function in its thread pool: every Canary status patch fed three index
functions and every Deployment event a handler through a thread hop, and the wake-up of a
daemon was an ``asyncio.Event`` set from outside its loop (not thread-safe).
"""

from __future__ import annotations

import inspect

import pytest

from controller import operator

HANDLERS = [
    "canaries_by",
    "canary_series",
    "spec_changed",
    "workload_changed",
    "kustomization_changed",
    "config_changed",
    "analyse",
]


@pytest.mark.parametrize("name", HANDLERS)
def test_the_handler_runs_on_the_event_loop(name: str) -> None:
    assert inspect.iscoroutinefunction(getattr(operator, name)), f"{name} would run in kopf's thread pool"


async def test_a_target_event_stores_the_target_before_waking_its_canary() -> None:
    class Memo:
        def __init__(self) -> None:
            self.kube = Recorder()

    class Recorder:
        def __init__(self) -> None:
            self.seen: list[tuple[str, bool]] = []

        def holds(self, obj: dict[str, object]) -> bool:
            return False

        def observe(self, obj: dict[str, object], deleted: bool = False) -> None:
            self.seen.append((str(obj["metadata"]["name"]), deleted))  # type: ignore[index]

    memo = Memo()
    woken = operator.WAKEUPS.event("ns/app")
    woken.clear()
    index = {("target", "ns", "app"): ["ns/app"]}
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app-primary", "namespace": "ns"},
    }
    await operator.workload_changed(
        namespace="ns", name="app-primary", body=body, type="MODIFIED", memo=memo, canaries_by=index
    )
    await operator.workload_changed(
        namespace="ns",
        name="other",
        body={**body, "metadata": {"name": "other"}},
        type="MODIFIED",
        memo=memo,
        canaries_by=index,
    )
    assert memo.kube.seen == [("app-primary", False)], "only targets and primaries are stored"
    assert woken.is_set()
    operator.WAKEUPS.events.pop("ns/app", None)
