"""Which target and primary events wake a Canary, and kopf's diff base built without the
status (issue 15 item 2, cheaper ticks; ``controller.wakeups``).

Before: every event of a target or primary woke its Canary for a tick (every status update
of the deployment controller, every change our own tick had just written), and kopf deep-copied
every Deployment's and Canary's whole body to build a diff base no handler used.
"""

from __future__ import annotations

import copy
from typing import Any

import kopf

from controller import operator
from controller.kube.reads import WatchStore
from controller.wakeups import LeanDiffBaseStorage, Wakeups


def deployment(generation: int = 1, ready: int = 1, rv: str = "10", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "app",
            "namespace": "ns",
            "generation": generation,
            "resourceVersion": rv,
            **meta,
        },
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i:1"}]}}},
        "status": {
            "observedGeneration": generation,
            "replicas": 1,
            "readyReplicas": ready,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "MinimumReplicasAvailable",
                    "lastUpdateTime": "2026-12-05T10:00:00Z",
                    "message": "ok",
                },
            ],
        },
    }


class Memo:
    def __init__(self) -> None:
        from controller.kube import Kube  # a real client: its store answers holds()

        self.kube = Kube.__new__(Kube)
        self.kube.watched = WatchStore({("apps/v1", "Deployment")})


async def event(memo: Memo, body: dict[str, Any], type: str = "MODIFIED") -> bool:
    """Deliver one Deployment event; whether it woke ``ns/app``."""
    woken = operator.WAKEUPS.event("ns/app")
    woken.clear()
    await operator.workload_changed(
        namespace="ns",
        name=body["metadata"]["name"],
        body=body,
        type=type,
        memo=memo,
        canaries_by={("target", "ns", "app"): ["ns/app"]},
    )
    return woken.is_set()


async def test_a_status_only_update_does_not_wake_a_canary_waiting_an_interval() -> None:
    memo = Memo()
    try:
        assert await event(memo, deployment(rv="10"))  # first sight
        operator.WAKEUPS.waiting("ns/app", on_readiness=False)
        later = deployment(rv="11")
        later["status"]["conditions"][0]["lastUpdateTime"] = "2026-12-05T10:00:05Z"
        assert not await event(memo, later), "a timestamp of a condition is nothing a tick acts on"
        assert not await event(memo, deployment(ready=0, rv="12")), "readiness, but not waited on"
    finally:
        operator.WAKEUPS.forget("ns/app")
        operator.WAKEUPS.workloads.clear()


async def test_a_readiness_change_wakes_a_canary_waiting_on_readiness() -> None:
    memo = Memo()
    try:
        assert await event(memo, deployment(ready=0, rv="10"))
        operator.WAKEUPS.waiting("ns/app", on_readiness=True)
        assert await event(memo, deployment(ready=1, rv="11"))
        assert not await event(memo, deployment(ready=1, rv="12")), "nothing changed"
    finally:
        operator.WAKEUPS.forget("ns/app")
        operator.WAKEUPS.workloads.clear()


async def test_a_spec_change_wakes_unless_our_own_tick_made_it() -> None:
    memo = Memo()
    try:
        assert await event(memo, deployment(rv="10"))
        operator.WAKEUPS.waiting("ns/app", on_readiness=False)
        assert await event(memo, deployment(generation=2, rv="11")), "someone changed the template"
        ours = deployment(generation=3, rv="12")
        memo.kube.watched.put(copy.deepcopy(ours))  # what our write returned
        assert not await event(memo, ours), "the tick that wrote it has seen it"
        assert await event(memo, deployment(generation=3, rv="13", labels={"a": "b"})), "labels count"
        assert await event(memo, deployment(generation=3, rv="14"), type="DELETED")
    finally:
        operator.WAKEUPS.forget("ns/app")
        operator.WAKEUPS.workloads.clear()


def test_a_change_of_ours_wakes_every_canary_when_several_target_the_workload() -> None:
    wakeups = Wakeups()
    assert wakeups.workload_event(deployment(), False, ["ns/a", "ns/b"], already_seen=False)
    woken = wakeups.workload_event(deployment(generation=2), False, ["ns/a", "ns/b"], already_seen=True)
    assert woken == ["ns/a", "ns/b"]


CANARY: dict[str, Any] = {
    "apiVersion": "gitcanary.io/v1beta1",
    "kind": "Canary",
    "metadata": {
        "name": "app",
        "namespace": "ns",
        "uid": "u",
        "resourceVersion": "5",
        "generation": 2,
        "labels": {"team": "a"},
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "gitcanary.io/last-handled-configuration": '{"spec": {}}',
            "gitcanary.io/spec_changed": "{}",
            "note": "x",
        },
        "finalizers": ["kopf.zalando.org/KopfFinalizerMarker"],
        "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
    },
    "spec": {"targetRef": {"name": "app"}, "analysis": {"interval": "10s"}},
    "status": {"phase": "Progressing", "conditions": [{"type": "Promoted", "status": "Unknown"}]},
}


def test_the_lean_diff_base_is_kopfs_essence() -> None:
    fields = [("spec",), ("metadata", "annotations")]
    lean = LeanDiffBaseStorage(prefix="gitcanary.io", kinds={"Canary"})
    full = kopf.AnnotationsDiffBaseStorage(prefix="gitcanary.io")
    body = kopf.Body(copy.deepcopy(CANARY))  # type: ignore[arg-type]
    assert lean.build(body=body, extra_fields=fields) == full.build(body=body, extra_fields=fields)
    assert lean.build(body=body) == full.build(body=body)
    status_field = [("status", "phase")]
    assert lean.build(body=body, extra_fields=status_field) == full.build(
        body=body, extra_fields=status_field
    )


def test_no_diff_base_is_built_for_a_kind_without_change_handlers() -> None:
    lean = LeanDiffBaseStorage(prefix="gitcanary.io", kinds={"Canary"})
    assert lean.build(body=kopf.Body(deployment())) is None  # type: ignore[arg-type]


async def test_one_index_keys_a_canary_by_target_namespace_and_kustomization() -> None:
    keys = await operator.canaries_by(
        namespace="ns",
        name="app",
        spec={"targetRef": {"name": "web"}},  # type: ignore[arg-type]
        status={"gitops": {"kustomization": {"namespace": "flux", "name": "apps"}}},  # type: ignore[arg-type]
    )
    assert keys == {
        ("target", "ns", "web"): "ns/app",
        ("namespace", "ns"): "ns/app",
        ("kustomization", "flux", "apps"): "ns/app",
    }
    canaries = kopf.Resource("gitcanary.io", "v1beta1", "canaries")
    indexers = [
        h for h in kopf.get_default_registry()._indexing.get_all_handlers() if h.selector.check(canaries)
    ]
    assert len(indexers) == 1, "every Canary event runs each index: one, not three"


def test_a_readiness_change_during_a_tick_wakes_the_canary() -> None:
    """The tick that runs may end waiting on that readiness: the change must not be lost."""
    wakeups = Wakeups()
    wakeups.workload_event(deployment(ready=0), False, ["ns/app"], already_seen=False)
    wakeups.waiting("ns/app", on_readiness=False)
    assert wakeups.workload_event(deployment(ready=1, rv="11"), False, ["ns/app"], already_seen=False) == []
    wakeups.waiting("ns/app", on_readiness=True)  # what the daemon marks while its tick runs
    assert wakeups.workload_event(deployment(ready=0, rv="12"), False, ["ns/app"], already_seen=False) == [
        "ns/app"
    ]
