"""``Kube(lean=True)``: the operator's verbs over one aiohttp session (issue 15, cheaper ticks).

httpx spent about four times aiohttp's CPU per request against the sandbox's API server (1.1 ms
against 0.26 ms sequential, 2.9 ms against 0.36 ms 30 at once), and the client's requests were
half of a tick's CPU. The lean transport keeps the contract of the httpx one: the token header,
404 as None, errors as ``KubeError`` with status and reason, and adds a total deadline and a cap
on the answer's size. A loopback aiohttp server plays the API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from kubernetes import client

from controller import kube as kube_module
from controller.kube import Kube, KubeError

TOKEN = "Bearer lean-token"
seen: list[tuple[str, str, str | None, bytes]] = []


async def handle(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    seen.append((request.method, request.path_qs, request.headers.get("Authorization"), body))
    if request.path == "/apis/apps/v1":
        return web.json_response(
            {"resources": [{"name": "deployments", "kind": "Deployment", "namespaced": True}]}
        )
    name = request.path.rsplit("/", 1)[1]
    if name == "missing":
        return web.json_response({"kind": "Status", "reason": "NotFound", "message": "nope"}, status=404)
    if request.method == "PATCH":
        return web.json_response({"kind": "Status", "reason": "Conflict", "message": "modified"}, status=409)
    if name == "slow":
        await asyncio.sleep(5)
    if name == "slowish":
        await asyncio.sleep(0.6)
    if name == "huge":
        return web.Response(body=b"[" + b"0," * 600 + b"0]", content_type="application/json")
    return web.json_response({"metadata": {"name": name, "resourceVersion": "3"}})


@contextlib.asynccontextmanager
async def api_server() -> AsyncIterator[Kube]:
    """The loopback API server and a lean client of it, on the test's own loop."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app)
    await server.start_server()
    cfg = client.Configuration()
    cfg.host = str(server.make_url("")).rstrip("/")
    cfg.api_key = {"BearerToken": TOKEN}
    k = Kube(cfg, lean=True)
    seen.clear()
    try:
        yield k
    finally:
        await k.close()
        await server.close()


async def test_a_get_carries_the_token_and_parses_the_answer() -> None:
    async with api_server() as lean:
        await _get_and_missing(lean)


async def _get_and_missing(lean: Kube) -> None:
    obj = await lean.get("apps/v1", "Deployment", "ns", "app")
    assert obj == {"metadata": {"name": "app", "resourceVersion": "3"}}
    assert await lean.get("apps/v1", "Deployment", "ns", "missing") is None
    assert [(m, p, a) for m, p, a, _ in seen] == [
        ("GET", "/apis/apps/v1", TOKEN),
        ("GET", "/apis/apps/v1/namespaces/ns/deployments/app", TOKEN),
        ("GET", "/apis/apps/v1/namespaces/ns/deployments/missing", TOKEN),
    ]


async def test_an_error_keeps_its_status_and_reason() -> None:
    async with api_server() as lean:
        await _conflict(lean)


async def _conflict(lean: Kube) -> None:
    with pytest.raises(KubeError) as failed:
        await lean.merge_patch("apps/v1", "Deployment", "ns", "app", {"spec": {}}, resource_version="2")
    assert (failed.value.status, failed.value.reason) == (409, "Conflict")
    assert "modified" in str(failed.value)
    method, path, _, body = seen[-1]
    assert method == "PATCH" and path.endswith("/deployments/app")
    assert json.loads(body) == {"spec": {}, "metadata": {"resourceVersion": "2"}}


async def test_a_request_has_a_total_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kube_module, "LEAN_DEADLINE_S", 0.3)
    async with api_server() as lean:
        with pytest.raises(KubeError, match="Timeout"):
            await lean.get("apps/v1", "Deployment", "ns", "slow")


async def test_an_answer_over_the_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kube_module, "LEAN_MAX_BYTES", 1000)
    async with api_server() as lean:
        with pytest.raises(KubeError, match="too large"):
            await lean.get("apps/v1", "Deployment", "ns", "huge")


async def test_a_burst_waits_for_a_free_connection_within_the_total_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by bench_peer at N=200: with ``connect=5`` aiohttp counted the wait for a pooled
    connection as connecting, and a burst of 200 first ticks failed with
    ConnectionTimeoutError, again and again (0 of 200 Canaries Initialized in 320 s)."""
    monkeypatch.setattr(kube_module, "LEAN_CONNECTIONS", 1)
    monkeypatch.setattr(kube_module, "LEAN_CONNECT_S", 0.2)
    async with api_server() as lean:
        await lean.resource("apps/v1", "Deployment")  # discovery, before the burst
        slow, quick = await asyncio.gather(
            lean.get("apps/v1", "Deployment", "ns", "slowish"), lean.get("apps/v1", "Deployment", "ns", "app")
        )
    assert slow is not None and quick is not None
