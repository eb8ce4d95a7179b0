"""``controller.kube.shared_reads``: one tick reads each object once, and again after a write.

Issue 15 (cheaper ticks): a tick read the target Deployment two or three times (its revision,
its Flux source, its readiness) and the primary twice, each a fresh GET. Inside
``shared_reads`` a GET answers from an earlier GET of the same object until the block writes
anything but an Event; outside it (and in tasks that outlive it) every GET reaches the server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from kubernetes import client

from controller.kube import Kube, KubeError, shared_reads
from controller.kube import reads as kube_reads

RESOURCES = {
    "/api/v1": [{"name": "configmaps", "kind": "ConfigMap", "namespaced": True}],
    "/apis/apps/v1": [{"name": "deployments", "kind": "Deployment", "namespaced": True}],
}


class FakeServer:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.version = 1

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path in RESOURCES:
            return httpx.Response(200, json={"resources": RESOURCES[path]})
        self.calls.append(f"{request.method} {path}")
        if path.endswith("/missing"):
            return httpx.Response(404, json={"kind": "Status", "reason": "NotFound", "message": "gone"})
        if request.method in ("PATCH", "POST", "DELETE"):
            self.version += 1
            return httpx.Response(200, json=json.loads(request.content or b"{}") or {"kind": "Status"})
        name = path.rsplit("/", 1)[1]
        return httpx.Response(
            200, json={"metadata": {"name": name, "resourceVersion": str(self.version)}, "spec": {"x": [1]}}
        )


@pytest.fixture
async def kube() -> AsyncIterator[tuple[Kube, FakeServer]]:
    cfg = client.Configuration()
    cfg.host = "https://api.test"
    k = Kube(cfg)
    server = FakeServer()
    await k.http.aclose()
    k.http = httpx.AsyncClient(base_url=cfg.host, transport=httpx.MockTransport(server.handle))
    yield k, server
    await k.close()


def gets(server: FakeServer) -> list[str]:
    return [c for c in server.calls if c.startswith("GET")]


async def test_outside_a_block_every_get_reaches_the_server(kube: tuple[Kube, FakeServer]) -> None:
    k, server = kube
    await k.get("apps/v1", "Deployment", "ns", "app")
    await k.get("apps/v1", "Deployment", "ns", "app")
    assert len(gets(server)) == 2


async def test_inside_a_block_an_object_is_read_once_as_a_private_copy(kube: tuple[Kube, FakeServer]) -> None:
    k, server = kube
    with shared_reads():
        first = await k.get("apps/v1", "Deployment", "ns", "app")
        assert first is not None
        first["spec"]["x"].append(2)  # a caller's edit never reaches the next reader
        second = await k.get("apps/v1", "Deployment", "ns", "app")
        assert await k.get("v1", "ConfigMap", "ns", "missing") is None
        assert await k.get("v1", "ConfigMap", "ns", "missing") is None
        await k.get("apps/v1", "Deployment", "ns", "other")
    assert second == {"metadata": {"name": "app", "resourceVersion": "1"}, "spec": {"x": [1]}}
    assert gets(server) == [
        "GET /apis/apps/v1/namespaces/ns/deployments/app",
        "GET /api/v1/namespaces/ns/configmaps/missing",
        "GET /apis/apps/v1/namespaces/ns/deployments/other",
    ]
    await k.get("apps/v1", "Deployment", "ns", "app")
    assert len(gets(server)) == 4, "the block is over: the server answers again"


@pytest.mark.parametrize("write", ["merge_patch", "apply", "delete", "create"])
async def test_a_write_makes_the_block_read_again(kube: tuple[Kube, FakeServer], write: str) -> None:
    k, server = kube
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}}
    with shared_reads():
        before = await k.get("apps/v1", "Deployment", "ns", "app")
        if write == "merge_patch":
            await k.merge_patch("apps/v1", "Deployment", "ns", "app", {"spec": {"replicas": 0}})
        elif write == "apply":
            await k.apply(obj)
        elif write == "delete":
            await k.delete("v1", "ConfigMap", "ns", "c")
        else:
            await k.create(obj)
        after = await k.get("apps/v1", "Deployment", "ns", "app")
    assert before is not None and after is not None
    assert after["metadata"]["resourceVersion"] == "2", "read again after the write"
    assert len(gets(server)) == 2


async def test_recording_an_event_keeps_the_reads(kube: tuple[Kube, FakeServer]) -> None:
    k, server = kube
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"generateName": "x.", "namespace": "ns"}}
    RESOURCES["/api/v1"].append({"name": "events", "kind": "Event", "namespaced": True})
    with shared_reads():
        await k.get("apps/v1", "Deployment", "ns", "app")
        await k.create(event)
        await k.get("apps/v1", "Deployment", "ns", "app")
    assert len(gets(server)) == 1


async def test_a_task_that_outlives_the_block_reads_from_the_server(kube: tuple[Kube, FakeServer]) -> None:
    k, server = kube
    go = asyncio.Event()

    async def later() -> None:
        await go.wait()
        await k.get("apps/v1", "Deployment", "ns", "app")

    with shared_reads():
        await k.get("apps/v1", "Deployment", "ns", "app")
        task = asyncio.create_task(later())  # inherits the block's context
    go.set()
    await task
    assert len(gets(server)) == 2


# -- the store the operator's Deployment/DaemonSet watch feeds ------------------------------------


def deployment(name: str, version: int, replicas: int = 1) -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": str(version)},
        "spec": {"replicas": replicas},
    }


async def test_a_watched_object_is_read_from_the_store(kube: tuple[Kube, FakeServer]) -> None:
    k, server = kube
    k.watch_kinds({("apps/v1", "Deployment")})
    k.observe(deployment("app", 7))
    got = await k.get("apps/v1", "Deployment", "ns", "app")
    assert got == deployment("app", 7) and gets(server) == []
    got["spec"]["replicas"] = 9  # type: ignore[index]
    assert await k.get("apps/v1", "Deployment", "ns", "app") == deployment("app", 7), "a private copy"
    await k.get("v1", "ConfigMap", "ns", "c")  # not a watched kind
    await k.get("apps/v1", "Deployment", "ns", "unseen")
    assert gets(server) == [
        "GET /api/v1/namespaces/ns/configmaps/c",
        "GET /apis/apps/v1/namespaces/ns/deployments/unseen",
    ]


async def test_a_late_watch_event_never_replaces_a_newer_object(kube: tuple[Kube, FakeServer]) -> None:
    k, server = kube
    k.watch_kinds({("apps/v1", "Deployment")})
    k.observe(deployment("app", 7))
    server.version = 8
    live = await k.merge_patch("apps/v1", "Deployment", "ns", "app", deployment("app", 9, replicas=0))
    assert live["metadata"]["resourceVersion"] == "9"
    k.observe(deployment("app", 8, replicas=3))  # an event older than our own write
    got = await k.get("apps/v1", "Deployment", "ns", "app")
    assert got is not None and got["spec"] == {"replicas": 0}, "our own write, not the late event"
    k.observe(deployment("app", 10, replicas=2))
    got = await k.get("apps/v1", "Deployment", "ns", "app")
    assert got is not None and got["spec"] == {"replicas": 2}
    assert gets(server) == []


async def test_after_a_write_the_tick_reads_from_the_server(kube: tuple[Kube, FakeServer]) -> None:
    k, server = kube
    k.watch_kinds({("apps/v1", "Deployment")})
    k.observe(deployment("app", 1))
    k.observe(deployment("app-primary", 1))
    with shared_reads():
        await k.get("apps/v1", "Deployment", "ns", "app")
        await k.apply(deployment("app-primary", 1))
        await k.get("apps/v1", "Deployment", "ns", "app")
    assert gets(server) == ["GET /apis/apps/v1/namespaces/ns/deployments/app"]


async def test_a_stale_or_deleted_entry_is_read_from_the_server(
    kube: tuple[Kube, FakeServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    k, server = kube
    k.watch_kinds({("apps/v1", "Deployment")})
    k.observe(deployment("app", 1))
    k.observe(deployment("gone", 1))
    k.observe(deployment("gone", 2), deleted=True)
    monkeypatch.setattr(kube_reads, "WATCH_FRESH_S", 0.0)
    await k.get("apps/v1", "Deployment", "ns", "app")
    monkeypatch.setattr(kube_reads, "WATCH_FRESH_S", 60.0)
    await k.get("apps/v1", "Deployment", "ns", "gone")
    await k.get("apps/v1", "Deployment", "ns", "app")  # refreshed by the GET above
    assert gets(server) == [
        "GET /apis/apps/v1/namespaces/ns/deployments/app",
        "GET /apis/apps/v1/namespaces/ns/deployments/gone",
    ]


def test_the_store_is_bounded() -> None:
    from controller.kube import WatchStore

    store = WatchStore({("apps/v1", "Deployment")}, limit=3)
    for i in range(5):
        store.put(deployment(f"d{i}", 1))
    assert [key[3] for key in store.objects] == ["d2", "d3", "d4"]


async def test_a_write_that_fails_makes_the_next_read_go_to_the_server(kube: tuple[Kube, FakeServer]) -> None:
    k, server = kube
    k.watch_kinds({("apps/v1", "Deployment")})
    k.observe(deployment("app", 1))
    conflict = server.handle

    def refuse_patches(request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            return httpx.Response(409, json={"kind": "Status", "reason": "Conflict", "message": "modified"})
        return conflict(request)

    k.http = httpx.AsyncClient(base_url="https://api.test", transport=httpx.MockTransport(refuse_patches))
    with pytest.raises(KubeError) as failed:
        await k.merge_patch("apps/v1", "Deployment", "ns", "app", {"spec": {}}, resource_version="1")
    assert failed.value.status == 409
    await k.get("apps/v1", "Deployment", "ns", "app")
    assert gets(server) == ["GET /apis/apps/v1/namespaces/ns/deployments/app"]
