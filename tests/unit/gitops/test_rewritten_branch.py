"""Issue 14: a force-push rewrites the branch and drops an applied decision commit.

The Canary gets ``WriteBackLost=True`` (``DecisionCommitMissing``) naming the intent, its result,
its image and the branch, and one Warning Event per distinct message; the decision is never pushed
again, and a write-back never replays its batch onto a rewritten base."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from controller.gitops.plumbing import branch_check
from controller.gitops.plumbing.history import AppliedEntry, check_decisions
from controller.gitops.plumbing.repo import WriteBackRepo
from controller.gitops.workflow import history_check, history_watch, worker
from controller.gitops.workflow.intents import Intent
from controller.gitops.workflow.trailers import describe_image_change, intent_ids
from controller.kube import KubeError
from tests.unit.gitops.test_commit_message import rollback, seed_failed_image
from tests.unit.gitops.test_repo import (
    NEW,
    OLD,
    git,
    hermetic_git,
    intent_for,
    remote,
    remote_file,
    remote_head,
    remote_log,
    replace_image,
)
from tests.unit.workloads.fake_kube import FakeKube

__all__ = ["hermetic_git", "remote"]  # fixtures

Events = list[tuple[str, str, str]]


def cluster(url: str, pending: list[Intent]) -> tuple[FakeKube, dict[str, Any]]:
    canary = {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"namespace": "test", "name": "podinfo"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "gitops": {
                "sourceRef": {"name": "fleet"},
                "path": "./apps",
                "reconcileFlux": False,
                "onRollback": {"quarantine": False},
            },
        },
        "status": {
            "gitops": {"pending": [{**i.to_dict(), "createdAt": "2023-11-14T22:13:20Z"} for i in pending]}
        },
    }
    repository = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"namespace": "test", "name": "fleet"},
        "spec": {"url": url, "ref": {"branch": "main"}},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"namespace": "test", "name": "podinfo"},
    }
    return FakeKube(canary, repository, deployment), canary


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Events:
    recorded: Events = []

    async def record(kube: Any, obj: Any, kind: str, reason: str, message: str) -> None:
        recorded.append((kind, reason, message))

    monkeypatch.setattr(worker, "record_event", record)
    monkeypatch.setattr(history_check, "record_event", record)
    return recorded


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITCANARY_GIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GITCANARY_ALLOW_FILE_REMOTES", "1")
    monkeypatch.setenv("GITCANARY_HISTORY_CHECK_S", "0.001")  # every check fetches
    monkeypatch.setattr(history_check, "_CHECKED", {})
    monkeypatch.setattr(branch_check, "_FETCHED", {})


def force_push_without_head(tmp_path: Path, url: str, name: str) -> str:
    """A person drops the branch's newest commit, commits ``<name>.txt`` instead, force-pushes."""
    work = tmp_path / f"rewrite-{name}"
    git(tmp_path, "clone", "--quiet", url, str(work))
    git(work, "reset", "--quiet", "--hard", "HEAD~1")
    (work / f"{name}.txt").write_text(f"{name}\n")
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", f"rewrite: {name}")
    git(work, "push", "--quiet", "--force", "origin", "HEAD:main")
    return git(work, "rev-parse", "HEAD").strip()


def push_commit(tmp_path: Path, url: str, name: str, cherry_pick: str | None = None) -> None:
    work = tmp_path / f"push-{name}"
    git(tmp_path, "clone", "--quiet", url, str(work))
    if cherry_pick is not None:  # the bare remote still has the dropped object
        bare = url.removeprefix("file://")
        git(tmp_path, "--git-dir", bare, "config", "uploadpack.allowAnySHA1InWant", "true")
        git(work, "fetch", "--quiet", "origin", cherry_pick)
        git(work, "cherry-pick", cherry_pick)
    else:
        (work / f"{name}.txt").write_text(f"{name}\n")
        git(work, "add", "-A")
        git(work, "commit", "--quiet", "-m", name)
    git(work, "push", "--quiet", "origin", "HEAD:main")


def logged_ids(tmp_path: Path, url: str) -> list[str]:
    """Every ``Gitcanary-Intent`` in the remote branch's history."""
    records = remote_log(tmp_path, url).split("\x1e")
    return [i for record in records for i in intent_ids(record.strip("\n").partition("\n")[2])]


def stored(kube: FakeKube) -> dict[str, Any]:
    return kube.stored("Canary", "test", "podinfo")


def lost_condition(kube: FakeKube) -> dict[str, Any] | None:
    conditions = stored(kube)["status"].get("conditions") or []
    return next((c for c in conditions if c["type"] == "WriteBackLost"), None)


def missing(events: Events) -> Events:
    return [e for e in events if e[1] == "DecisionCommitMissing"]


def apply_first_decision(tmp_path: Path, url: str) -> tuple[FakeKube, str]:
    seed_failed_image(tmp_path, url)
    kube, canary = cluster(url, [rollback()])
    result = asyncio.run(worker.write_back(kube, canary, now=1_700_000_100))  # type: ignore[arg-type]
    assert result is not None and result.commit, result
    (applied,) = stored(kube)["status"]["gitops"]["applied"]
    assert applied["id"] == rollback().id
    return kube, result.commit


def verify(kube: FakeKube) -> object:
    return asyncio.run(history_watch.verify_history(kube, stored(kube), now=1_700_000_200))  # type: ignore[arg-type]


@pytest.mark.usefixtures("env")
def test_a_rewrite_that_drops_the_decision_sets_the_condition_and_one_event(
    tmp_path: Path, remote: str, events: Events
) -> None:
    kube, commit = apply_first_decision(tmp_path, remote)
    assert lost_condition(kube) is None, "a Canary that never lost a decision gets no condition"
    force_push_without_head(tmp_path, remote, "hotfix")

    assert verify(kube) is not None
    condition = lost_condition(kube)
    assert condition is not None and (condition["status"], condition["reason"]) == (
        "True",
        "DecisionCommitMissing",
    )
    for part in (rollback().id, "rolled-back", describe_image_change(NEW, OLD), "branch main", commit[:12]):
        assert part in condition["message"], part
    assert missing(events) == [("Warning", "DecisionCommitMissing", condition["message"])]

    assert verify(kube) is None, "the tip did not move: no second check"
    push_commit(tmp_path, remote, "unrelated")
    assert verify(kube) is not None
    assert len(missing(events)) == 1, "one Event per distinct message"
    assert lost_condition(kube)["status"] == "True"  # type: ignore[index]
    assert rollback().id not in logged_ids(tmp_path, remote), "never pushed again"
    assert NEW in remote_file(tmp_path, remote, "apps/podinfo/deployment.yaml")

    push_commit(tmp_path, remote, "restore", cherry_pick=commit)  # a person puts the decision back
    verify(kube)
    condition = lost_condition(kube)
    assert condition is not None and (condition["status"], condition["reason"]) == (
        "False",
        "DecisionCommitFound",
    )
    assert len(missing(events)) == 1


@pytest.mark.usefixtures("env")
def test_the_next_write_back_reports_the_lost_decision_then_supersedes_it(
    tmp_path: Path, remote: str, events: Events
) -> None:
    kube, _ = apply_first_decision(tmp_path, remote)
    force_push_without_head(tmp_path, remote, "hotfix")
    frontend = rollback(canary="test/podinfo", path="apps/frontend")
    canary = stored(kube)
    canary["status"]["gitops"]["pending"] = [{**frontend.to_dict(), "createdAt": "2023-11-14T22:15:00Z"}]
    result = asyncio.run(worker.write_back(kube, canary, now=1_700_000_300))  # type: ignore[arg-type]
    assert result is not None and result.ok and result.history is not None
    (event,) = missing(events)
    assert rollback().id in event[2] and "rolled-back" in event[2] and "branch main" in event[2]
    condition = lost_condition(kube)
    assert condition is not None and (condition["status"], condition["reason"]) == (
        "False",
        "DecisionApplied",
    )
    log = logged_ids(tmp_path, remote)
    assert frontend.id in log and rollback().id not in log, "the lost one is not re-pushed"

    push_commit(tmp_path, remote, "later")
    verify(kube)
    assert len(missing(events)) == 1, "superseded by the newer decision: not reported again"


@pytest.mark.usefixtures("env")
def test_a_lost_commit_the_cache_never_saw_is_named_from_last_write_back(
    tmp_path: Path, remote: str, events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube, commit = apply_first_decision(tmp_path, remote)
    force_push_without_head(tmp_path, remote, "hotfix")
    monkeypatch.setenv("GITCANARY_GIT_CACHE", str(tmp_path / "fresh-cache"))  # a restarted controller
    verify(kube)
    condition = lost_condition(kube)
    assert condition is not None and condition["status"] == "True"
    assert rollback().id in condition["message"] and "rolled-back" in condition["message"]
    assert OLD in condition["message"] and commit[:12] in condition["message"]
    assert len(missing(events)) == 1


def test_a_rejected_batch_is_not_replayed_onto_a_rewritten_base(tmp_path: Path, remote: str) -> None:
    """The push was rejected because the branch was rewritten meanwhile: a 3-way merge onto the new
    tip would bring back the commits the rewrite dropped; the batch is re-applied instead."""
    push_commit(tmp_path, remote, "dropped-later")
    rewritten: list[str] = []

    def apply_while_someone_rewrites(worktree: Path, intent: Intent) -> list[Path]:
        if not rewritten:
            rewritten.append(force_push_without_head(tmp_path, remote, "rewrite"))
        return replace_image(worktree, intent)

    repo = WriteBackRepo(remote, "main", tmp_path / "cache", author=("gitcanary", "bot@example.com"))
    result = asyncio.run(repo.apply_intents([intent_for(remote)], apply_while_someone_rewrites))
    assert result.ok and result.attempts == 2
    files = git(tmp_path, "--git-dir", remote.removeprefix("file://"), "ls-tree", "-r", "--name-only", "main")
    assert "rewrite.txt" in files
    assert "dropped-later.txt" not in files, "the rewrite's dropped commit came back"
    assert (
        git(tmp_path, "--git-dir", remote.removeprefix("file://"), "rev-parse", "main~1").strip()
        == rewritten[0]
    )
    assert remote_head(tmp_path, remote) == result.commit


@pytest.mark.usefixtures("env")
def test_checks_within_the_interval_share_one_fetch(
    tmp_path: Path, remote: str, events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube, _ = apply_first_decision(tmp_path, remote)
    monkeypatch.setenv("GITCANARY_HISTORY_CHECK_S", "3600")
    assert verify(kube) is not None  # first check: fetches
    force_push_without_head(tmp_path, remote, "hotfix")
    monkeypatch.setattr(history_check, "_CHECKED", {})
    verify(kube)  # reads the remote-tracking ref fetched a moment ago: the rewrite is not seen yet
    assert lost_condition(kube) is None and not missing(events)
    monkeypatch.setattr(branch_check, "_FETCHED", {})  # the interval passed
    verify(kube)
    assert lost_condition(kube)["status"] == "True"  # type: ignore[index]


def test_history_check_interval_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, expected in (("5", 5.0), ("0", 60.0), ("nan", 60.0), ("inf", 60.0), ("x", 60.0), ("", 60.0)):
        monkeypatch.setenv("GITCANARY_HISTORY_CHECK_S", raw)
        assert history_watch.check_interval_s() == expected


@pytest.mark.usefixtures("env")
def test_a_rewrite_that_keeps_the_trailer_is_not_a_loss(tmp_path: Path, remote: str, events: Events) -> None:
    """Amended (new commit id, same message): the decision is found by its trailer."""
    kube, commit = apply_first_decision(tmp_path, remote)
    work = tmp_path / "amend"
    git(tmp_path, "clone", "--quiet", remote, str(work))
    (work / "note.txt").write_text("squashed in\n")
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "--amend", "--no-edit")
    git(work, "push", "--quiet", "--force", "origin", "HEAD:main")
    assert remote_head(tmp_path, remote) != commit
    check = verify(kube)
    assert check is not None and rollback().id in check.present  # type: ignore[attr-defined]
    assert lost_condition(kube) is None and not missing(events)


def test_a_decision_held_by_another_branch_is_not_this_branchs_loss(tmp_path: Path, remote: str) -> None:
    """A ``promoteTo`` commit on ``production``, fetched into the same clone, is not lost from ``main``."""
    work = tmp_path / "production"
    git(tmp_path, "clone", "--quiet", remote, str(work))
    (work / "pin.txt").write_text("6.0.1\n")
    git(work, "add", "-A")
    git(
        work,
        "commit",
        "--quiet",
        "-m",
        "Propose\n\nGitcanary-Canary: test/podinfo\nGitcanary-Intent: 00000000000000aa",
    )
    git(work, "push", "--quiet", "origin", "HEAD:production")
    elsewhere = git(work, "rev-parse", "HEAD").strip()
    repo = WriteBackRepo(remote, "main", tmp_path / "cache")
    clone = repo.clone
    clone.ensure()
    tip = clone.fetch()
    assert clone.fetch_branch("production") == elsewhere
    found = check_decisions(clone, tip, [AppliedEntry("00000000000000aa", elsewhere)])
    assert (found.present, found.lost, found.unknown) == ((), (), ())
    git(tmp_path, "--git-dir", remote.removeprefix("file://"), "branch", "-D", "production")
    clone.run("update-ref", "-d", "refs/remotes/origin/production")
    (lost,) = check_decisions(clone, tip, [AppliedEntry("00000000000000aa", elsewhere)]).lost
    assert (lost.id, lost.commit) == ("00000000000000aa", elsewhere)


class RacingKube(FakeKube):
    """A tick changes the Canary's conditions between the check's read and its patch (409 once)."""

    raced = False

    async def merge_patch(self, *args: Any, resource_version: str | None = None, **kwargs: Any) -> Any:
        if resource_version is not None and not self.raced:
            self.raced = True
            live = self.objects[("Canary", "test", "podinfo")]
            live["status"]["conditions"] = [{"type": "Promoted", "status": "True", "reason": "Succeeded"}]
            raise KubeError("the object has been modified", status=409)
        return await super().merge_patch(*args, resource_version=resource_version, **kwargs)


@pytest.mark.usefixtures("env")
def test_the_condition_never_undoes_a_ticks_conditions(tmp_path: Path, remote: str, events: Events) -> None:
    plain, _ = apply_first_decision(tmp_path, remote)
    kube = RacingKube(*plain.objects.values())
    canary = stored(kube)
    canary["metadata"]["resourceVersion"] = "1"
    force_push_without_head(tmp_path, remote, "hotfix")
    asyncio.run(history_watch.verify_history(kube, canary, now=1_700_000_200))  # type: ignore[arg-type]
    conditions = {c["type"]: c for c in stored(kube)["status"]["conditions"]}
    assert kube.raced and conditions["Promoted"]["reason"] == "Succeeded", "the tick's condition is kept"
    assert conditions["WriteBackLost"]["status"] == "True"
    assert len(missing(events)) == 1
