"""The analysis daemon survives an API server that is away (found by bench/chaos/cluster_faults.py).

``controller.operator.analyse`` reads its Canary at the top of every loop, outside the tick's
error handling. While kube-apiserver restarts (connection refused) or etcd is away (read
timeout), that read raises ``KubeError``; the exception ends the kopf daemon, and kopf starts it
again only after its default backoff of 60 seconds. With a 10 s interval the cluster-fault
campaign measured analyses resuming 60-70 s after the apiserver was back, instead of within one
interval. The daemon must treat the failed read as the temporary error it is (``KubeError`` is a
``TemporaryError``): retry soon, keep its slot, and go on ticking.
"""

from __future__ import annotations

from typing import Any

import kopf
import pytest
from memory_kube import MemoryKube

from controller import operator
from controller.kube import KubeError
from controller.reconcile.runner import ReconcileSettings
from controller.reconcile.slots import AnalysisSlots


class Running:
    """A ``kopf.DaemonStopped`` that never says stop (the daemon ends when its Canary is gone)."""

    def __bool__(self) -> bool:
        return False


class AwayThenGone(MemoryKube):
    """The API server refuses the first ``failures`` reads; then the Canary is gone."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.reads = 0

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Any:
        self.reads += 1
        if self.reads <= self.failures:
            raise KubeError(f"GET {kind}/{name}: ClientConnectorError: connection refused")
        return await super().get(api_version, kind, namespace, name)


async def test_the_daemon_retries_a_failed_read_and_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fix's retry delay, kept short here (the daemon should retry well within one interval).
    monkeypatch.setattr(operator, "READ_RETRY_S", 0.01)
    kube = AwayThenGone(failures=3)
    slots = AnalysisSlots(limit=1)
    assert slots.acquire("test/podinfo")
    memo = kopf.Memo(kube=kube, settings=ReconcileSettings(slots=slots))
    await operator.analyse(namespace="test", name="podinfo", stopped=Running(), memo=memo)  # type: ignore[arg-type]
    assert kube.reads == 4, "three refused reads, then the read that finds the Canary gone"
    assert slots.holders == set()
