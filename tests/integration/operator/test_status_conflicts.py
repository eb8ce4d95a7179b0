"""Canary status writes are conditional on the resourceVersion the tick read (real kube-apiserver).

Another writer's change between a tick's read and its write must be noticed (409) instead of
being overwritten: the write is refused, and a tick that meets it decides again from a fresh
read. The namespace is outside the session controller's ``t-*`` pattern, so only this test
writes to its Canary.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from controller.kube import Kube
from controller.reconcile.runner import ReconcileSettings, _patch_status, reconcile_canary
from controller.reconcile.status import CANARY_API, StatusConflict
from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary, deployment
from tests.integration.operator.test_canary_lifecycle import _apply

OTHER = {
    "type": "Other",
    "status": "True",
    "reason": "SomeoneElse",
    "message": "written by another writer",
    "lastUpdateTime": "2026-01-01T00:00:00Z",
    "lastTransitionTime": "2026-01-01T00:00:00Z",
}


@pytest.fixture
def own_namespace(sandbox: SandboxClient) -> Iterator[str]:
    name = f"c-{uuid.uuid4().hex[:8]}"
    sandbox.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        sandbox.kubectl("delete", "namespace", name, "--wait=false", check=False)


@asynccontextmanager
async def connected(sandbox: SandboxClient) -> AsyncIterator[Kube]:
    """A Kube client opened and closed on the test's own event loop."""
    client = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        yield client
    finally:
        await client.close()


async def _read(kube: Kube, ns: str) -> dict[str, Any]:
    raw = await kube.get(CANARY_API, "Canary", ns, "podinfo")
    assert raw is not None
    return raw


async def _other_writer(kube: Kube, ns: str) -> None:
    await kube.merge_patch(CANARY_API, "Canary", ns, "podinfo", {"status": {"conditions": [OTHER]}}, "status")


async def test_a_stale_status_write_is_refused(sandbox: SandboxClient, own_namespace: str) -> None:
    _apply(sandbox, canary(own_namespace, "podinfo", iterations=1, template=None))
    async with connected(sandbox) as kube:
        stale = await _read(kube, own_namespace)
        await _other_writer(kube, own_namespace)
        with pytest.raises(StatusConflict):
            await _patch_status(kube, stale, {"phase": "Failed", "conditions": []})
        status = (await _read(kube, own_namespace))["status"]
    assert status["conditions"] == [OTHER] and status.get("phase") != "Failed"


async def test_a_tick_that_meets_another_writer_decides_again(
    sandbox: SandboxClient, own_namespace: str
) -> None:
    _apply(
        sandbox,
        deployment(own_namespace, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0"),
        canary(own_namespace, "podinfo", iterations=1, template=None),
    )
    async with connected(sandbox) as kube:
        stale = await _read(kube, own_namespace)
        await _other_writer(kube, own_namespace)
        await reconcile_canary(kube, stale, ReconcileSettings())
        status = (await _read(kube, own_namespace))["status"]
    kinds = {c["type"]: c for c in status["conditions"]}
    assert kinds.get("Other") == OTHER, "the other writer's condition survives the tick"
    assert kinds["Valid"]["status"] == "True" and status["phase"], "the tick's own decision is saved"
