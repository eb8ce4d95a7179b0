"""Write-back acceptance: exact diffs on every remote, concurrency, outages, crashes, bad input, secrets.

Real parts: the sandbox's bare repository served as ``file://``, ``git://`` (git daemon), smart
HTTP with basic auth and SSH; the sandbox apiserver with the Flux CRDs for the worker-level
tests (``worker.write_back`` reads the GitRepository and its Secret, patches the Canary status
and records Events). Each test writes to its own orphan branch (see ``fleet_branches``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import pytest

from controller.gitops.edits.apply import apply_intent
from controller.gitops.edits.worktree_files import SkippedFile
from controller.gitops.plumbing.clone import WorkingClone
from controller.gitops.plumbing.credentials import GitAuth
from controller.gitops.plumbing.repo import WriteBackError, WriteBackRepo
from controller.gitops.workflow import worker
from controller.kube import Kube
from gitcanary_sandbox import processes
from gitcanary_sandbox.client import SandboxClient
from tests.integration.gitops.fleet_branches import (
    DEPLOYMENT_YAML,
    POLICY_YAML,
    REMOTE_KINDS,
    access,
    app_files,
    bare_git,
    dump,
    events,
    git,
    gitops_status,
    intent_counts,
    live_canary,
    new_branch,
    pending_entry,
    remote_url,
    rollback_intent,
    secret_data,
    seed_branch,
    set_repository_url,
    wire_canary,
)
from tests.integration.gitops.writeback_scenarios import (
    APPS,
    FOREIGN_COMMITS,
    assert_exact_rollback,
    land_all,
    own_git_daemon,
    push_foreign_commits,
    sandbox_bare,
    wrong_secret,
)


@asynccontextmanager
async def kube_for(sandbox: SandboxClient) -> AsyncIterator[Kube]:
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        yield kube
    finally:
        await kube.close()


@pytest.fixture
def worker_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "worker-cache"
    monkeypatch.setenv("GITCANARY_GIT_CACHE", str(cache))
    return cache


# -- 1. every remote: the exact rollback commit ------------------------------------------------


@pytest.mark.parametrize("kind", REMOTE_KINDS)
async def test_rollback_commit_is_exactly_two_scalars_and_the_record(
    sandbox: SandboxClient, tmp_path: Path, kind: str
) -> None:
    bare, branch = sandbox_bare(sandbox), new_branch()
    seed = seed_branch(bare, branch, app_files("podinfo", "2.0.1"), tmp_path)
    url, auth = access(sandbox, kind)
    intent = rollback_intent(f"acc-{kind}/podinfo", "podinfo", "./apps/podinfo", branch, url, seed)

    result = await WriteBackRepo(url, branch, tmp_path / "cache", auth).apply_intents([intent], apply_intent)

    assert result.commit is not None and result.applied == {intent.id: result.commit}
    assert not result.failed and not result.already_applied
    assert bare_git(bare, "rev-parse", branch).strip() == result.commit
    assert_exact_rollback(bare, seed, result.commit, intent, "podinfo", "apps")


# -- 2. a concurrent writer hammers the branch -------------------------------------------------


async def test_twenty_intents_land_exactly_once_while_another_writer_pushes_fifty_commits(
    sandbox: SandboxClient, tmp_path: Path
) -> None:
    bare, branch = sandbox_bare(sandbox), new_branch()
    files: dict[str, str] = {}
    for i in range(APPS):
        files.update(app_files(f"app-{i}", "2.0.1"))
    seed = seed_branch(bare, branch, files, tmp_path)
    daemon_url, (http_url, http_auth) = remote_url(sandbox, "daemon"), access(sandbox, "http")
    intents = [
        rollback_intent(f"acc/app-{i}", f"app-{i}", f"./apps/app-{i}", branch, daemon_url, seed)
        for i in range(APPS)
    ]
    batches = [intents[i : i + 4] for i in range(0, APPS, 4)]
    # Two controller instances (different URLs, so different locks and clones) race each other
    # and the foreign writer; batch 2 is submitted to both.
    first = WriteBackRepo(daemon_url, branch, tmp_path / "cache-a")
    second = WriteBackRepo(http_url, branch, tmp_path / "cache-b", http_auth)

    started = threading.Event()
    errors: list[str] = []
    writer = threading.Thread(
        target=push_foreign_commits,
        args=(sandbox.git_remotes()["file_url"], branch, tmp_path / "foreign", started, errors),
    )
    writer.start()
    try:
        assert await asyncio.to_thread(started.wait, 60)
        results_a, results_b = await asyncio.gather(
            land_all(first, batches[:3]), land_all(second, batches[2:])
        )
    finally:
        await asyncio.to_thread(writer.join, 180)
    assert not writer.is_alive() and not errors, errors

    counts = intent_counts(bare, branch)
    assert counts == {i.id: 1 for i in intents}, counts
    subjects = bare_git(bare, "log", "--format=%s", branch).splitlines()
    assert sorted(s for s in subjects if s.startswith("foreign ")) == sorted(
        f"foreign {k}" for k in range(FOREIGN_COMMITS)
    )
    for i in range(APPS):
        assert bare_git(bare, "show", f"{branch}:apps/app-{i}/deployment.yaml") == DEPLOYMENT_YAML.format(
            name=f"app-{i}", tag="2.0.0"
        )
        assert bare_git(bare, "show", f"{branch}:apps/app-{i}/policy.yaml") == POLICY_YAML.format(
            name=f"app-{i}"
        ).replace('">=2.0.0"', '">=2.0.0, != 2.0.1"')
    print("write-back attempts per batch:", [r.attempts for r in [*results_a, *results_b]])
    done: dict[str, str] = {}
    for result in [*results_a, *results_b]:
        assert not result.failed, result.failed
        done.update(result.applied)
    assert set(done) == {i.id for i in intents}
    for intent_id, commit in done.items():
        assert f"Gitcanary-Intent: {intent_id}" in bare_git(bare, "log", "-1", "--format=%B", commit)
    # A replay of a landed batch is a no-op.
    again = await first.apply_intents(batches[0], apply_intent)
    assert again.commit is None and sorted(again.already_applied) == sorted(i.id for i in batches[0])


# -- 3. the remote is down, then back ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "daemon"])
async def test_remote_down_is_retriable_and_lands_once_when_back(
    sandbox: SandboxClient, tmp_path: Path, kind: str
) -> None:
    branch = new_branch()
    if kind == "file":
        bare = tmp_path / "private" / "fleet.git"
        git("init", "--quiet", "--bare", str(bare))
        url = f"file://{bare}"
    else:
        bare = sandbox_bare(sandbox)
        port = processes.free_port()
        url = f"git://127.0.0.1:{port}/{bare.name}"
    seed = seed_branch(bare, branch, app_files("podinfo", "2.0.1"), tmp_path)
    intent = rollback_intent("acc-down/podinfo", "podinfo", "./apps", branch, url, seed)
    repo = WriteBackRepo(url, branch, tmp_path / "cache", timeout_s=10)

    async def attempt_while_down() -> None:
        with pytest.raises(WriteBackError) as down:
            await repo.apply_intents([intent], apply_intent)
        assert down.value.retriable, str(down.value)

    if kind == "file":
        hidden = bare.with_name("fleet.git.down")
        bare.rename(hidden)
        try:
            await attempt_while_down()
        finally:
            hidden.rename(bare)
        result = await repo.apply_intents([intent], apply_intent)
    else:
        await attempt_while_down()  # nothing listens on the port yet
        with own_git_daemon(bare.parent, port) as daemon:
            served = await repo.apply_intents([intent], apply_intent)
            assert daemon.poll() is None
        await attempt_while_down()  # stopped again
        with own_git_daemon(bare.parent, port):
            again = await repo.apply_intents([intent], apply_intent)
        assert again.commit is None and again.already_applied == [intent.id]
        result = served

    assert result.commit is not None and result.applied == {intent.id: result.commit}
    assert intent_counts(bare, branch) == {intent.id: 1}
    assert_exact_rollback(bare, seed, result.commit, intent, "podinfo", "apps")


async def test_worker_keeps_intents_pending_while_the_http_remote_is_down(
    sandbox: SandboxClient, namespace: str, tmp_path: Path, worker_cache: Path
) -> None:
    bare, branch = sandbox_bare(sandbox), new_branch()
    seed = seed_branch(bare, branch, {**app_files("app-a", "2.0.1"), **app_files("app-b", "2.0.1")}, tmp_path)
    http_url = remote_url(sandbox, "http")
    down_url = f"http://127.0.0.1:{processes.free_port()}/fleet.git"
    key = f"{namespace}/down"
    intents = [rollback_intent(key, n, f"./apps/{n}", branch, http_url, seed) for n in ("app-a", "app-b")]
    pending = [pending_entry(i, with_path=True) for i in intents]
    async with kube_for(sandbox) as kube:
        live = await wire_canary(
            kube,
            namespace,
            "down",
            url=down_url,
            branch=branch,
            path="./apps",
            secret=secret_data(sandbox, "http"),
            pending=pending,
        )
        for _ in range(2):  # two ticks while down: nothing lost, nothing written
            failed = await worker.write_back(kube, live)
            assert failed is not None and failed.error and not failed.ok and failed.commit is None
            live = await live_canary(kube, namespace, "down")
            status = gitops_status(live)
            assert [p["id"] for p in status["pending"]] == [i.id for i in intents]
            assert status["lastWriteBack"]["result"] == "error"
            assert "127.0.0.1" in status["lastWriteBack"]["message"]
        assert bare_git(bare, "rev-parse", branch).strip() == seed
        failures = await events(kube, namespace, "down", "WriteBackFailed")
        assert failures and all(e["type"] == "Warning" for e in failures)

        await set_repository_url(kube, namespace, "down", http_url)  # the remote is back
        result = await worker.write_back(kube, live)
        assert result is not None and result.commit is not None
        live = await live_canary(kube, namespace, "down")
        status = gitops_status(live)
        assert status["pending"] == []
        assert {a["id"]: a["commit"] for a in status["applied"]} == {i.id: result.commit for i in intents}
        assert status["lastWriteBack"]["result"] == "rolled-back"
        assert status["lastWriteBack"]["commit"] == result.commit
        assert await events(kube, namespace, "down", "WriteBack")
        assert await worker.write_back(kube, live) is None  # nothing pending any more
    assert intent_counts(bare, branch) == {i.id: 1 for i in intents}
    assert bare_git(bare, "rev-list", "--count", f"{seed}..{branch}").strip() == "1"


# -- 4. crash windows --------------------------------------------------------------------------


class SimulatedKill(Exception):
    """The process dies here."""


async def test_killed_after_local_commit_before_push_lands_once(
    sandbox: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, branch = sandbox_bare(sandbox), new_branch()
    seed = seed_branch(bare, branch, app_files("podinfo", "2.0.1"), tmp_path)
    url, auth = access(sandbox, "ssh")
    intent = rollback_intent("acc-crash/podinfo", "podinfo", "./apps", branch, url, seed)
    cache = tmp_path / "cache"

    def killed_push(self: WorkingClone, commit: str = "HEAD") -> str | None:
        raise SimulatedKill(f"killed before pushing {commit}")

    with monkeypatch.context() as patched:
        patched.setattr(WorkingClone, "push", killed_push)
        doomed = WriteBackRepo(url, branch, cache, auth)
        with pytest.raises(SimulatedKill):
            await doomed.apply_intents([intent], apply_intent)
    worktree = doomed.worktree
    del doomed
    # The dead process left a local commit that never reached the remote, and a stale lock.
    local = git("-C", str(worktree), "log", "--format=%B", f"origin/{branch}..{branch}")
    assert local.count(f"Gitcanary-Intent: {intent.id}") == 1
    assert bare_git(bare, "rev-parse", branch).strip() == seed
    (worktree / ".git" / "index.lock").write_text("")

    result = await WriteBackRepo(url, branch, cache, auth).apply_intents([intent], apply_intent)

    assert result.commit is not None and result.applied == {intent.id: result.commit}
    assert intent_counts(bare, branch) == {intent.id: 1}
    assert_exact_rollback(bare, seed, result.commit, intent, "podinfo", "apps")


async def test_killed_after_push_before_status_update_does_not_commit_twice(
    sandbox: SandboxClient, namespace: str, tmp_path: Path, worker_cache: Path
) -> None:
    bare, branch = sandbox_bare(sandbox), new_branch()
    seed = seed_branch(bare, branch, app_files("podinfo", "2.0.1"), tmp_path)
    url, auth = access(sandbox, "http")
    key = f"{namespace}/pushed"
    intent = rollback_intent(key, "podinfo", "./apps", branch, url, seed)
    async with kube_for(sandbox) as kube:
        live = await wire_canary(
            kube,
            namespace,
            "pushed",
            url=url,
            branch=branch,
            path="./apps",
            secret=secret_data(sandbox, "http"),
            pending=[pending_entry(intent)],
        )
        # The push happens in the worker's own cached clone; then the process dies before the
        # status patch, so the Canary still lists the intent as pending.
        pushed = await WriteBackRepo(url, branch, worker_cache, auth).apply_intents([intent], apply_intent)
        assert pushed.commit is not None
        tip = bare_git(bare, "rev-parse", branch).strip()
        assert tip == pushed.commit

        result = await worker.write_back(kube, live)

        assert result is not None and result.commit is None
        assert result.already_applied == [intent.id] and result.applied == {intent.id: pushed.commit}
        assert bare_git(bare, "rev-parse", branch).strip() == tip
        status = gitops_status(await live_canary(kube, namespace, "pushed"))
        assert status["pending"] == []
        assert status["applied"][-1]["id"] == intent.id and status["applied"][-1]["commit"] == pushed.commit
        assert status["lastWriteBack"]["commit"] == pushed.commit
    assert intent_counts(bare, branch) == {intent.id: 1}
    # The same restart on a fresh node (no cached clone) agrees.
    fresh = await WriteBackRepo(url, branch, tmp_path / "other-node", auth).apply_intents(
        [intent], apply_intent
    )
    assert fresh.commit is None and fresh.already_applied == [intent.id]


# -- 5. a malformed file is skipped, reported, and fails nothing -------------------------------

BROKEN_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-x
  labels: {app: app-x
spec:
  template:
    spec:
      containers:
        - name: main
          image: ghcr.io/acme/app-x:2.0.1 # {"$imagepolicy": "flux-system:app-x"}
"""


def _broken_fleet() -> dict[str, str]:
    files = app_files("app-x", "2.0.1", prefix="broken")
    files["broken/app-x/deployment.yaml"] = BROKEN_YAML
    return {**files, **app_files("app-y", "2.0.1", prefix="good")}


async def test_malformed_file_is_skipped_and_every_rollback_lands(
    sandbox: SandboxClient, tmp_path: Path
) -> None:
    """A file that cannot be parsed is skipped and reported; it fails no intent (Flux skips it too)."""
    bare, branch = sandbox_bare(sandbox), new_branch()
    seed = seed_branch(bare, branch, _broken_fleet(), tmp_path)
    url = remote_url(sandbox, "daemon")
    bad = rollback_intent("acc/app-x", "app-x", "./broken", branch, url, seed)
    good = rollback_intent("acc/app-y", "app-y", "./good", branch, url, seed)
    skipped: list[SkippedFile] = []

    apply = partial(apply_intent, skipped=skipped)
    result = await WriteBackRepo(url, branch, tmp_path / "cache").apply_intents([bad, good], apply)

    assert result.failed == {}
    assert result.commit is not None and result.applied == {bad.id: result.commit, good.id: result.commit}
    assert intent_counts(bare, branch) == {bad.id: 1, good.id: 1}
    assert [(s.path.relative_to(s.path.parents[2]).as_posix(), s.reason[:14]) for s in skipped] == [
        ("broken/app-x/deployment.yaml", "not valid YAML")
    ]
    assert bare_git(bare, "show", f"{branch}:broken/app-x/deployment.yaml") == BROKEN_YAML
    good_file = "good/app-y/deployment.yaml"
    assert bare_git(bare, "show", f"{branch}:{good_file}") == DEPLOYMENT_YAML.format(
        name="app-y", tag="2.0.0"
    )


async def test_worker_names_the_skipped_malformed_file_in_a_warning_event(
    sandbox: SandboxClient, namespace: str, tmp_path: Path, worker_cache: Path
) -> None:
    bare, branch = sandbox_bare(sandbox), new_branch()
    seed = seed_branch(bare, branch, _broken_fleet(), tmp_path)
    url = remote_url(sandbox, "http")
    key = f"{namespace}/mixed"
    bad = rollback_intent(key, "app-x", "./broken", branch, url, seed)
    good = rollback_intent(key, "app-y", "./good", branch, url, seed)
    async with kube_for(sandbox) as kube:
        live = await wire_canary(
            kube,
            namespace,
            "mixed",
            url=url,
            branch=branch,
            path="./",
            secret=secret_data(sandbox, "http"),
            pending=[pending_entry(bad, with_path=True), pending_entry(good, with_path=True)],
        )
        result = await worker.write_back(kube, live)
        assert result is not None and result.commit is not None and result.failed == {}
        status = gitops_status(await live_canary(kube, namespace, "mixed"))
        assert status["pending"] == []
        assert {a["id"] for a in status["applied"]} == {bad.id, good.id}
        assert status["lastWriteBack"]["result"] == "rolled-back"
        assert await events(kube, namespace, "mixed", "WriteBackFailed") == []
        skips = await events(kube, namespace, "mixed", "FileSkipped")
        assert len(skips) == 1 and skips[0]["type"] == "Warning"
        assert skips[0]["message"].startswith(
            "write-back skipped broken/app-x/deployment.yaml: not valid YAML"
        )
    assert intent_counts(bare, branch) == {bad.id: 1, good.id: 1}


# -- 6. wrong credentials leak nowhere ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["http", "ssh"])
async def test_wrong_credentials_fail_without_leaking_the_secret(
    sandbox: SandboxClient,
    namespace: str,
    tmp_path: Path,
    worker_cache: Path,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    bare, branch = sandbox_bare(sandbox), new_branch()
    seed = seed_branch(bare, branch, app_files("podinfo", "2.0.1"), tmp_path)
    url = remote_url(sandbox, kind)
    data, needles = wrong_secret(sandbox, kind, tmp_path)
    intent = rollback_intent(f"{namespace}/creds", "podinfo", "./apps", branch, url, seed)
    caplog.set_level(logging.DEBUG)
    async with kube_for(sandbox) as kube:
        live = await wire_canary(
            kube,
            namespace,
            "creds",
            url=url,
            branch=branch,
            path="./apps",
            secret=data,
            pending=[pending_entry(intent)],
        )
        failed = await worker.write_back(kube, live)
        assert failed is not None and failed.error and not failed.ok
        status = gitops_status(await live_canary(kube, namespace, "creds"))
        all_events = [
            e for e in await kube.list("v1", "Event", namespace) if e["involvedObject"]["name"] == "creds"
        ]
    assert status["lastWriteBack"]["result"] == "error"
    assert [p["id"] for p in status["pending"]] == [intent.id]
    failures = [e for e in all_events if e["reason"] == "WriteBackFailed"]
    assert failures and all(e["type"] == "Warning" for e in failures)
    # The controller-side exception, as the worker saw it.
    with pytest.raises(WriteBackError) as err:
        await WriteBackRepo(
            url, branch, tmp_path / "direct", GitAuth.from_secret_data(data, url)
        ).apply_intents([intent], apply_intent)
    commit_messages = bare_git(bare, "log", "--all", "--format=%B")
    exposed = {
        "events": dump([e.get("message") for e in all_events]),
        "status": dump(status),
        "exception": f"{err.value} {err.value!r} {err.value.__cause__!r}",
        "logs": caplog.text,
        "commit messages": commit_messages,
        "write-back result": str(failed.error),
    }
    for where, text in exposed.items():
        for needle in needles:
            assert needle not in text, f"the secret leaked into the {where}"
    assert bare_git(bare, "rev-parse", branch).strip() == seed
