"""The clone cache is bounded (issue 14): idle clones go, then the least recently used ones;
a clone in use, or used a moment ago, stays."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import pytest

from controller.gitops.plumbing.clone_cache import MIN_IDLE_S, CacheLimits, prune
from controller.gitops.plumbing.repo import clone_dir_for
from tests.unit.gitops.test_repo import git, hermetic_git, intent_for, remote, replace_image, worker

__all__ = ["hermetic_git", "remote"]  # fixtures

HOUR = 3600.0


def fake_clone(cache: Path, url: str, used: float) -> Path:
    """A clone directory of ``url`` last used at ``used`` (its lock file's mtime)."""
    clone = clone_dir_for(cache, url)
    (clone / ".git").mkdir(parents=True)
    lock = clone.with_name(clone.name + ".lock")
    lock.touch()
    os.utime(lock, (used, used))
    return clone


def test_clones_beyond_the_count_go_least_recently_used_first(tmp_path: Path) -> None:
    now = time.time()
    cache = tmp_path / "cache"
    clones = [fake_clone(cache, f"https://git.example/{i}.git", now - (i + 1) * HOUR) for i in range(5)]
    keep = clone_dir_for(cache, "https://git.example/current.git")
    removed = prune(cache, keep, CacheLimits(max_clones=3, max_idle_s=30 * 24 * HOUR), now)
    assert sorted(removed) == sorted(clones[2:])
    assert [c.exists() for c in clones] == [True, True, False, False, False]
    assert all(c.with_name(c.name + ".lock").exists() for c in clones), "lock files stay"


def test_idle_clones_go_whatever_the_count(tmp_path: Path) -> None:
    now = time.time()
    cache = tmp_path / "cache"
    fresh = fake_clone(cache, "https://git.example/fresh.git", now - HOUR)
    stale = fake_clone(cache, "https://git.example/stale.git", now - 3 * 24 * HOUR)
    removed = prune(cache, cache / "none", CacheLimits(max_clones=10, max_idle_s=24 * HOUR), now)
    assert removed == [stale] and fresh.exists()


def test_a_clone_used_a_moment_ago_or_locked_stays(tmp_path: Path) -> None:
    now = time.time()
    cache = tmp_path / "cache"
    recent = fake_clone(cache, "https://git.example/recent.git", now - MIN_IDLE_S / 2)
    busy = fake_clone(cache, "https://git.example/busy.git", now - 2 * 24 * HOUR)
    other = fake_clone(cache, "https://git.example/other.git", now - 2 * 24 * HOUR)
    with open(busy.with_name(busy.name + ".lock"), "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        removed = prune(cache, cache / "none", CacheLimits(max_clones=1, max_idle_s=HOUR), now)
    assert removed == [other]
    assert recent.exists() and busy.exists()


def test_only_clone_directories_are_considered(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "notes").mkdir(parents=True)
    (cache / "0123456789abcdef.lock").touch()
    assert prune(cache, cache / "none", CacheLimits(max_clones=1, max_idle_s=1.0), time.time() + 1e6) == []
    assert (cache / "notes").exists()
    assert prune(tmp_path / "missing", tmp_path / "none", CacheLimits(), time.time()) == []


@pytest.mark.parametrize(("raw", "expected"), [("4", 4), ("0", 32), ("-1", 32), ("nan", 32), ("x", 32)])
def test_limits_from_the_environment(raw: str, expected: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITCANARY_GIT_CACHE_MAX_CLONES", raw)
    monkeypatch.setenv("GITCANARY_GIT_CACHE_MAX_IDLE", "inf")
    limits = CacheLimits.from_env()
    assert limits.max_clones == expected and limits.max_idle_s == 7 * 24 * HOUR


async def test_a_write_back_prunes_the_cache_and_marks_its_clone_used(tmp_path: Path, remote: str) -> None:
    cache = tmp_path / "cache"
    now = time.time()
    old = [fake_clone(cache, f"https://git.example/{i}.git", now - (i + 2) * HOUR) for i in range(3)]
    repo = worker(tmp_path, remote, cache_limits=CacheLimits(max_clones=2, max_idle_s=24 * HOUR))
    result = await repo.apply_intents([intent_for(remote)], replace_image)
    assert result.commit
    assert [c.exists() for c in old] == [True, False, False]
    lock = repo.worktree.with_name(repo.worktree.name + ".lock")
    assert now - 5 <= lock.stat().st_mtime, "taking the lock marks the clone used"
    assert git(repo.worktree, "rev-parse", "HEAD").strip() == result.commit
