"""Pending intents expire (issue 14): by age and beyond a count, never silently, before any Git I/O."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from controller.api.timestamps import rfc3339
from controller.gitops.workflow import worker
from controller.gitops.workflow.intent_expiry import PendingLimits, created_at, split_expired
from controller.kube import KubeError
from tests.unit.gitops.test_commit_message import cluster, events, rollback, seed_failed_image
from tests.unit.gitops.test_repo import hermetic_git, remote, remote_log

__all__ = ["events", "hermetic_git", "remote"]  # fixtures

NOW = 1_800_000_000.0
HOUR = 3600.0


def entry(ident: str, age_s: float) -> dict[str, Any]:
    return {"id": ident, "kind": "rollback", "result": "rolled-back", "createdAt": rfc3339(NOW - age_s)}


def test_intents_older_than_the_ttl_expire() -> None:
    pending = [entry("a", 30 * HOUR), entry("b", 2 * HOUR), entry("c", 25 * HOUR)]
    kept, expired = split_expired(pending, NOW, PendingLimits(ttl_s=24 * HOUR, max_pending=50))
    assert [e["id"] for e in kept] == ["b"]
    assert [e["id"] for e in expired] == ["a", "c"]


def test_beyond_the_count_the_oldest_expire() -> None:
    pending = [entry(str(i), (10 - i) * 60) for i in range(10)]
    kept, expired = split_expired(pending, NOW, PendingLimits(ttl_s=24 * HOUR, max_pending=4))
    assert [e["id"] for e in kept] == ["6", "7", "8", "9"]
    assert [e["id"] for e in expired] == ["0", "1", "2", "3", "4", "5"]


def test_an_unreadable_creation_time_never_expires_by_age() -> None:
    pending = [{"id": "x", "createdAt": "yesterday"}, {"id": "y"}, {"id": "z", "createdAt": float("nan")}]
    kept, expired = split_expired(pending, NOW, PendingLimits(ttl_s=1.0, max_pending=5))
    assert [e["id"] for e in kept] == ["x", "y", "z"] and expired == []
    assert created_at({"createdAt": rfc3339(NOW)}) == NOW


@pytest.mark.parametrize(("raw", "ttl"), [("3600", 3600.0), ("0", 86400.0), ("inf", 86400.0), ("x", 86400.0)])
def test_limits_from_the_environment(raw: str, ttl: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITCANARY_PENDING_INTENT_TTL", raw)
    monkeypatch.setenv("GITCANARY_MAX_PENDING_INTENTS", "7")
    assert PendingLimits.from_env() == PendingLimits(ttl_s=ttl, max_pending=7)


def canary_with(url: str, pending: list[dict[str, Any]]) -> tuple[Any, dict[str, Any]]:
    kube, canary = cluster(url, "")
    canary["spec"]["gitops"].pop("commit")
    canary["status"]["gitops"]["pending"] = pending
    kube.objects[("Canary", "test", "podinfo")]["status"]["gitops"]["pending"] = pending
    return kube, canary


def test_the_worker_expires_old_intents_and_writes_back_the_others(
    tmp_path: Path, remote: str, monkeypatch: pytest.MonkeyPatch, events: list[tuple[str, str, str]]
) -> None:
    monkeypatch.setenv("GITCANARY_GIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GITCANARY_ALLOW_FILE_REMOTES", "1")
    seed_failed_image(tmp_path, remote)
    fresh = {**rollback().to_dict(), "createdAt": rfc3339(NOW - HOUR)}
    stale = {**rollback(path="apps/frontend").to_dict(), "id": "0123456789abcdef"}
    stale["createdAt"] = rfc3339(NOW - 25 * HOUR)
    kube, canary = canary_with(remote, [stale, fresh])
    result = asyncio.run(worker.write_back(kube, canary, now=NOW))  # type: ignore[arg-type]
    assert result is not None and result.commit and set(result.applied) == {fresh["id"]}
    log = remote_log(tmp_path, remote)
    assert fresh["id"] in log and stale["id"] not in log
    expired = [e for e in events if e[1] == "WriteBackExpired"]
    assert len(expired) == 1 and expired[0][0] == "Warning", events
    assert "intent 0123456789abcdef (rolled-back" in expired[0][2] and "25.0 h" in expired[0][2]
    gitops = kube.stored("Canary", "test", "podinfo")["status"]["gitops"]
    assert gitops["pending"] == [] and [a["id"] for a in gitops["applied"]] == [fresh["id"]]


def test_intents_expire_even_when_the_remote_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, events: list[tuple[str, str, str]]
) -> None:
    monkeypatch.setenv("GITCANARY_GIT_CACHE", str(tmp_path / "cache"))
    stale = {**rollback().to_dict(), "createdAt": rfc3339(NOW - 48 * HOUR)}
    kube, canary = canary_with("https://127.0.0.1:9/gone.git", [stale])
    assert asyncio.run(worker.write_back(kube, canary, now=NOW)) is None  # type: ignore[arg-type]
    gitops = kube.stored("Canary", "test", "podinfo")["status"]["gitops"]
    assert gitops["pending"] == [] and gitops["lastWriteBack"]["result"] == "expired"
    assert [e[1] for e in events] == ["WriteBackExpired"]
    patch = next(w for w in kube.writes if w[0] == "merge_patch")
    assert patch[2]["status"]["gitops"]["pending"] == []


def test_nothing_expires_when_a_tick_changed_the_canary_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, events: list[tuple[str, str, str]]
) -> None:
    monkeypatch.setenv("GITCANARY_GIT_CACHE", str(tmp_path / "cache"))
    stale = {**rollback().to_dict(), "createdAt": rfc3339(NOW - 48 * HOUR)}
    kube, canary = canary_with("https://127.0.0.1:9/gone.git", [stale])
    canary["metadata"]["resourceVersion"] = "41"
    seen: list[str | None] = []

    async def conflict(*args: Any, resource_version: str | None = None, **kwargs: Any) -> Any:
        seen.append(resource_version)
        raise KubeError("the object has been modified", status=409)

    monkeypatch.setattr(kube, "merge_patch", conflict)
    asyncio.run(worker._expire(kube, canary, [stale], NOW))  # type: ignore[arg-type]
    assert seen == ["41"], "the expiry is conditional on the Canary it read"
    assert events == []
