"""WriteBackRepo against real bare repositories reached through file:// URLs (no mocks)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.gitops.plumbing.clone import WorkingClone
from controller.gitops.plumbing.credentials import GitAuth, SigningKey
from controller.gitops.plumbing.repo import WriteBackError, WriteBackRepo, WriteBackResult, clone_dir_for
from controller.gitops.workflow.intents import Intent, make_intent
from controller.gitops.workflow.trailers import parse_trailers
from tests.process_table import kill_leftovers

OLD = "ghcr.io/stefanprodan/podinfo:6.0.2"
NEW = "ghcr.io/stefanprodan/podinfo:6.0.1"
MARKER = '# {"$imagepolicy": "test:podinfo"}'


@pytest.fixture(autouse=True)
def hermetic_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the host's ~/.gitconfig (signing, hooks, helpers) out of these tests."""
    config = tmp_path / "global.gitconfig"
    config.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def git(cwd: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=tester", "-c", "user.email=tester@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0 or not check, f"git {args} failed: {done.stderr}"
    return done.stdout


def manifest(image: str) -> str:
    return f"apiVersion: apps/v1\nkind: Deployment\nspec:\n  image: {image} {MARKER}\n\n  # keep me\n"


@pytest.fixture
def remote(tmp_path: Path) -> str:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", bare.as_uri(), str(seed))
    for app in ("podinfo", "frontend", "backend"):
        (seed / "apps" / app).mkdir(parents=True)
        (seed / "apps" / app / "deployment.yaml").write_text(manifest(OLD))
    git(seed, "add", "-A")
    git(seed, "commit", "--quiet", "-m", "seed")
    git(seed, "push", "--quiet", "origin", "HEAD:main")
    return bare.as_uri()


def remote_file(tmp_path: Path, url: str, path: str) -> str:
    return git(tmp_path, "--git-dir", url.removeprefix("file://"), "show", f"main:{path}")


def remote_log(tmp_path: Path, url: str) -> str:
    return git(tmp_path, "--git-dir", url.removeprefix("file://"), "log", "--format=%H%n%B%x1e", "main")


def remote_head(tmp_path: Path, url: str) -> str:
    return git(tmp_path, "--git-dir", url.removeprefix("file://"), "rev-parse", "main").strip()


def intent_for(url: str, app: str = "podinfo", image: str = NEW, previous: str = OLD) -> Intent:
    return make_intent(
        kind="rollback",
        canary=f"test/{app}",
        revision="5d8f7c9b",
        repository=url,
        branch="main",
        path=f"apps/{app}",
        image=image,
        previous_image=previous,
        result="rolled-back",
        analysis="error-rate 69.17% > 1% (5/5 failed checks)",
        source_revision="main@sha1:0123456789abcdef",
        now=1_700_000_000.0,
    )


def replace_image(worktree: Path, intent: Intent) -> list[Path]:
    target = worktree / intent.path / "deployment.yaml"
    text = target.read_text()
    edited = text.replace(intent.previous_image, intent.image)
    if edited == text:
        return []
    target.write_text(edited)
    return [target]


def push_concurrent_change(tmp_path: Path, url: str, name: str, directory: str = ".") -> None:
    """Another writer (a human, image automation) pushes ``<directory>/<name>.txt`` to the branch."""
    clone = tmp_path / f"other-{name}"
    git(tmp_path, "clone", "--quiet", url, str(clone))
    (clone / directory / f"{name}.txt").write_text(f"{name}\n")
    git(clone, "add", "-A")
    git(clone, "commit", "--quiet", "-m", f"concurrent {name}")
    git(clone, "push", "--quiet", "origin", "HEAD:main")


def worker(tmp_path: Path, url: str, cache: str = "cache", **kwargs: object) -> WriteBackRepo:
    return WriteBackRepo(url, "main", tmp_path / cache, author=("gitcanary", "bot@example.com"), **kwargs)  # type: ignore[arg-type]


async def test_batch_commit_carries_one_trailer_block_per_intent(tmp_path: Path, remote: str) -> None:
    intents = [intent_for(remote, "podinfo"), intent_for(remote, "frontend")]
    result = await worker(tmp_path, remote).apply_intents(intents, replace_image)

    assert result.commit == remote_head(tmp_path, remote)
    assert result.applied == {i.id: result.commit for i in intents}
    assert result.already_applied == [] and result.failed == {} and result.attempts == 1
    assert NEW in remote_file(tmp_path, remote, "apps/podinfo/deployment.yaml")
    assert remote_file(tmp_path, remote, "apps/frontend/deployment.yaml") == manifest(NEW)
    assert remote_file(tmp_path, remote, "apps/backend/deployment.yaml") == manifest(OLD)

    message = git(tmp_path, "--git-dir", remote.removeprefix("file://"), "log", "-1", "--format=%B", "main")
    blocks = parse_trailers(message)
    assert [b.intent for b in blocks] == [i.id for i in intents]
    assert blocks[0].image == f"{OLD} -> 6.0.1"
    assert blocks[0].source == "main@sha1:0123456789abcdef"
    # git itself must see every trailer of the batch, not only the last block.
    parsed = subprocess.run(
        ["git", "interpret-trailers", "--parse"], input=message, capture_output=True, text=True, check=True
    ).stdout
    assert parsed.count("Gitcanary-Intent:") == 2 and parsed.count("Gitcanary-Canary:") == 2
    author = git(tmp_path, "--git-dir", remote.removeprefix("file://"), "log", "-1", "--format=%an <%ae>")
    assert author.strip() == "gitcanary <bot@example.com>"


async def test_second_run_finds_the_intent_by_its_trailer(tmp_path: Path, remote: str) -> None:
    intent = intent_for(remote)
    first = await worker(tmp_path, remote).apply_intents([intent], replace_image)
    head = remote_head(tmp_path, remote)
    # A different clone (another controller replica after a restart) must also find it.
    calls: list[str] = []

    def must_not_run(worktree: Path, i: Intent) -> list[Path]:
        calls.append(i.id)
        return replace_image(worktree, i)

    again = await worker(tmp_path, remote, cache="cache2").apply_intents([intent], must_not_run)
    assert again.commit is None
    assert again.already_applied == [intent.id]
    assert again.applied == {intent.id: first.commit}
    assert calls == []
    assert remote_head(tmp_path, remote) == head


async def test_content_already_in_git_counts_as_applied_without_commit(tmp_path: Path, remote: str) -> None:
    head = remote_head(tmp_path, remote)
    intent = intent_for(remote, image=OLD, previous="ghcr.io/stefanprodan/podinfo:6.0.3")
    result = await worker(tmp_path, remote).apply_intents([intent], replace_image)
    assert result.commit is None
    assert result.unchanged == [intent.id] and result.already_applied == []
    assert result.applied == {intent.id: head}
    assert remote_head(tmp_path, remote) == head


async def test_rewriting_identical_bytes_is_not_a_change(tmp_path: Path, remote: str) -> None:
    head = remote_head(tmp_path, remote)

    def rewrite_same(worktree: Path, intent: Intent) -> list[Path]:
        target = worktree / intent.path / "deployment.yaml"
        target.write_text(target.read_text())
        return [target]

    result = await worker(tmp_path, remote).apply_intents([intent_for(remote)], rewrite_same)
    assert result.commit is None and result.unchanged == [intent_for(remote).id]
    assert remote_head(tmp_path, remote) == head


async def test_concurrent_push_elsewhere_replays_the_batch_commit(tmp_path: Path, remote: str) -> None:
    intent = intent_for(remote)
    calls: list[str] = []

    def apply_while_someone_pushes(worktree: Path, i: Intent) -> list[Path]:
        calls.append(i.id)
        if len(calls) == 1:
            push_concurrent_change(tmp_path, remote, "human")
        return replace_image(worktree, i)

    result = await worker(tmp_path, remote).apply_intents([intent], apply_while_someone_pushes)
    assert result.attempts == 2 and calls == [intent.id]  # unrelated files: cherry-picked, not re-applied
    assert result.commit == remote_head(tmp_path, remote)
    assert result.applied == {intent.id: result.commit}
    assert remote_file(tmp_path, remote, "human.txt") == "human\n"
    assert NEW in remote_file(tmp_path, remote, "apps/podinfo/deployment.yaml")
    assert remote_log(tmp_path, remote).count(f"Gitcanary-Intent: {intent.id}") == 1
    replayed = git(
        tmp_path, "--git-dir", remote.removeprefix("file://"), "log", "-1", "--format=%an <%ae>%n%B"
    )
    assert replayed.startswith("gitcanary <bot@example.com>\n")
    assert [b.intent for b in parse_trailers(replayed)] == [intent.id]


async def test_concurrent_push_in_the_intent_path_re_applies(tmp_path: Path, remote: str) -> None:
    intent = intent_for(remote)
    calls: list[str] = []

    def apply_while_someone_pushes(worktree: Path, i: Intent) -> list[Path]:
        calls.append(i.id)
        if len(calls) == 1:
            push_concurrent_change(tmp_path, remote, "kustomization", directory="apps/podinfo")
        return replace_image(worktree, i)

    result = await worker(tmp_path, remote).apply_intents([intent], apply_while_someone_pushes)
    assert result.attempts == 2 and calls == [intent.id, intent.id]
    assert result.commit == remote_head(tmp_path, remote)
    assert remote_file(tmp_path, remote, "apps/podinfo/kustomization.txt") == "kustomization\n"
    assert NEW in remote_file(tmp_path, remote, "apps/podinfo/deployment.yaml")
    assert remote_log(tmp_path, remote).count(f"Gitcanary-Intent: {intent.id}") == 1


async def test_another_controller_applying_the_same_intent_is_not_duplicated(
    tmp_path: Path, remote: str
) -> None:
    intent = intent_for(remote)
    # A distinct author keeps the rival's commit from being byte-identical to ours.
    rival = WriteBackRepo(remote, "main", tmp_path / "rival-cache", author=("rival", "rival@example.com"))
    rival_results: list[WriteBackResult] = []

    def apply_while_rival_wins(worktree: Path, i: Intent) -> list[Path]:
        if not rival_results:  # runs in a worker thread: a fresh event loop is allowed here
            rival_results.append(asyncio.run(rival.apply_intents([i], replace_image)))
        return replace_image(worktree, i)

    result = await worker(tmp_path, remote).apply_intents([intent], apply_while_rival_wins)
    assert rival_results[0].commit == remote_head(tmp_path, remote)
    assert result.commit is None and result.attempts == 2
    assert result.already_applied == [intent.id]
    assert result.applied == {intent.id: rival_results[0].commit}
    assert remote_log(tmp_path, remote).count(f"Gitcanary-Intent: {intent.id}") == 1


async def test_failing_apply_fails_only_its_intent(tmp_path: Path, remote: str) -> None:
    good, bad = intent_for(remote, "podinfo"), intent_for(remote, "frontend")
    auth = GitAuth(username="bot", password="hunter2-very-secret")

    def half_apply_then_fail(worktree: Path, intent: Intent) -> list[Path]:
        if intent.id == bad.id:
            replace_image(worktree, intent)  # a partial edit that must not be committed
            (worktree / "stray.txt").write_text("left behind")
            raise RuntimeError("template broke near hunter2-very-secret")
        return replace_image(worktree, intent)

    result = await worker(tmp_path, remote, auth=auth).apply_intents([bad, good], half_apply_then_fail)
    assert set(result.failed) == {bad.id}
    assert "RuntimeError" in result.failed[bad.id] and "hunter2" not in result.failed[bad.id]
    assert result.applied == {good.id: result.commit}
    assert NEW in remote_file(tmp_path, remote, "apps/podinfo/deployment.yaml")
    assert remote_file(tmp_path, remote, "apps/frontend/deployment.yaml") == manifest(OLD)
    names = git(tmp_path, "--git-dir", remote.removeprefix("file://"), "ls-tree", "-r", "--name-only", "main")
    assert "stray.txt" not in names
    assert parse_trailers(remote_log(tmp_path, remote).split("\x1e")[0])[0].intent == good.id


async def test_paths_outside_the_worktree_fail_the_intent(tmp_path: Path, remote: str) -> None:
    def escape(worktree: Path, intent: Intent) -> list[Path]:
        return [worktree / ".." / "elsewhere.yaml"]

    intent = intent_for(remote)
    result = await worker(tmp_path, remote).apply_intents([intent], escape)
    assert result.commit is None and "outside the worktree" in result.failed[intent.id]


async def test_rejections_beyond_max_attempts_raise_a_retriable_error(tmp_path: Path, remote: str) -> None:
    pushes: list[int] = []

    def always_raced(worktree: Path, intent: Intent) -> list[Path]:
        pushes.append(1)
        push_concurrent_change(tmp_path, remote, f"race{len(pushes)}", directory="apps/podinfo")
        return replace_image(worktree, intent)

    with pytest.raises(WriteBackError) as caught:
        await worker(tmp_path, remote).apply_intents([intent_for(remote)], always_raced, max_attempts=3)
    assert caught.value.retriable and caught.value.attempts == 3 and len(pushes) == 3
    assert "Gitcanary-Intent" not in remote_log(tmp_path, remote)


async def test_hook_rejection_is_not_retried(tmp_path: Path, remote: str) -> None:
    hook = Path(remote.removeprefix("file://")) / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'branch is protected' >&2\nexit 1\n")
    hook.chmod(0o755)
    calls: list[str] = []

    def count(worktree: Path, intent: Intent) -> list[Path]:
        calls.append(intent.id)
        return replace_image(worktree, intent)

    with pytest.raises(WriteBackError, match="branch is protected") as caught:
        await worker(tmp_path, remote).apply_intents([intent_for(remote)], count)
    assert not caught.value.retriable and caught.value.attempts == 1 and len(calls) == 1


async def test_gitlab_incorrect_old_value_rejection_is_retried(tmp_path: Path, remote: str) -> None:
    bare = Path(remote.removeprefix("file://"))
    once = tmp_path / "rejected-once"
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        f"#!/bin/sh\nif [ ! -e {once} ]; then touch {once}\n"
        "echo 'GitLab: failed to update ref: incorrect old value provided' >&2; exit 1; fi\n"
    )
    hook.chmod(0o755)
    intent = intent_for(remote)
    result = await worker(tmp_path, remote).apply_intents([intent], replace_image)
    assert once.exists() and result.attempts == 2
    assert result.commit == remote_head(tmp_path, remote)
    assert remote_log(tmp_path, remote).count(f"Gitcanary-Intent: {intent.id}") == 1


async def test_missing_branch_is_a_non_retriable_error(tmp_path: Path, remote: str) -> None:
    repo = WriteBackRepo(remote, "does-not-exist", tmp_path / "cache")
    with pytest.raises(WriteBackError, match="fetch") as caught:
        await repo.apply_intents([intent_for(remote)], replace_image)
    assert not caught.value.retriable


@pytest.fixture
def silent_git_daemon() -> Iterator[int]:
    """A TCP server that accepts git:// connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()


async def test_network_operations_are_killed_after_the_timeout(
    tmp_path: Path, silent_git_daemon: int
) -> None:
    url = f"git://127.0.0.1:{silent_git_daemon}/repo.git"
    repo = WriteBackRepo(url, "main", tmp_path / "cache", timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(WriteBackError, match="timed out after 1s") as caught:
        await repo.apply_intents([intent_for(url)], replace_image)
    assert caught.value.retriable
    assert time.monotonic() - started < 15  # killed, not waiting for git's own TCP timeout


async def test_stale_lock_files_from_a_killed_git_are_cleared(tmp_path: Path, remote: str) -> None:
    repo = worker(tmp_path, remote)
    await repo.apply_intents([intent_for(remote, "podinfo")], replace_image)
    (repo.worktree / ".git" / "index.lock").write_text("")
    result = await repo.apply_intents([intent_for(remote, "frontend")], replace_image)
    assert result.commit == remote_head(tmp_path, remote)


async def test_a_broken_cached_clone_is_recloned(tmp_path: Path, remote: str) -> None:
    cached = clone_dir_for(tmp_path / "cache", remote)
    (cached / ".git").mkdir(parents=True)  # a clone killed before `git init` finished
    result = await worker(tmp_path, remote).apply_intents([intent_for(remote)], replace_image)
    assert result.commit == remote_head(tmp_path, remote)


async def test_concurrent_calls_on_one_repository_are_serialised(tmp_path: Path, remote: str) -> None:
    repo = worker(tmp_path, remote)
    first, second = await asyncio.gather(
        repo.apply_intents([intent_for(remote, "podinfo")], replace_image),
        repo.apply_intents([intent_for(remote, "frontend")], replace_image),
    )
    assert first.attempts == 1 and second.attempts == 1
    assert first.commit != second.commit
    assert remote_log(tmp_path, remote).count("Gitcanary-Intent:") == 2


async def test_url_with_a_password_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WriteBackError, match="password") as caught:
        WriteBackRepo("https://bot:s3cret@example.com/repo.git", "main", tmp_path)
    assert "s3cret" not in str(caught.value)


async def test_ssh_signed_commit_verifies(tmp_path: Path, remote: str) -> None:
    key = tmp_path / "signing"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    signing = SigningKey.from_secret_data({"signing.key": key.read_bytes()})
    calls: list[str] = []

    def apply_with_a_race(worktree: Path, intent: Intent) -> list[Path]:
        calls.append(intent.id)  # the rejected commit is replayed: the replay must be signed too
        if len(calls) == 1:
            push_concurrent_change(tmp_path, remote, "human")
        return replace_image(worktree, intent)

    result = await worker(tmp_path, remote).apply_intents(
        [intent_for(remote)], apply_with_a_race, signing=signing
    )
    assert result.commit == remote_head(tmp_path, remote) and result.attempts == 2 and len(calls) == 1
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"bot@example.com {(tmp_path / 'signing.pub').read_text()}")
    checked = subprocess.run(
        ["git", "--git-dir", remote.removeprefix("file://"), "-c", f"gpg.ssh.allowedSignersFile={allowed}",
         "verify-commit", result.commit],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "Good" in checked.stderr


async def test_gpg_signed_commit_with_passphrase_verifies(tmp_path: Path, remote: str) -> None:
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"gc-gpg-{os.getpid()}"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    gpg = ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "correct horse"]
    try:
        subprocess.run([*gpg, "--quick-gen-key", "gitcanary <bot@example.com>", "ed25519", "sign", "never"],
                       env=env, check=True, capture_output=True, timeout=60)  # fmt: skip
        armored = subprocess.run([*gpg, "--armor", "--export-secret-keys"],
                                 env=env, check=True, capture_output=True, timeout=60).stdout  # fmt: skip
        signing = SigningKey.from_secret_data({"git.asc": armored, "passphrase": b"correct horse"})
        result = await worker(tmp_path, remote).apply_intents(
            [intent_for(remote)], replace_image, signing=signing
        )
        assert result.commit is not None
        checked = subprocess.run(
            ["git", "--git-dir", remote.removeprefix("file://"), "verify-commit", result.commit],
            env=env, capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stderr
        assert "Good signature" in checked.stderr
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False, timeout=30)
        shutil.rmtree(home, ignore_errors=True)


# -- hardening (issue 9): no procps, hermetic config, plain-file symlinks, `--`, total deadline --


async def _bounded(repo: WriteBackRepo, url: str, bound_s: float) -> None:
    """``apply_intents`` that may not hang the test run: a git left behind is killed afterwards."""
    try:
        await asyncio.wait_for(repo.apply_intents([intent_for(url)], replace_image), bound_s)
    finally:
        left = kill_leftovers(url)
        assert left == [], f"git processes outlived the write-back: {left}"


async def test_a_hung_http_remote_times_out_without_procps(
    tmp_path: Path, git_only_path: Path, hung_http_remote: str
) -> None:
    """python:3.11-slim has no ``ps``/``pgrep``: the timeout must still kill git-remote-http too."""
    repo = WriteBackRepo(hung_http_remote, "main", tmp_path / "cache", timeout_s=2.0)
    started = time.monotonic()
    with pytest.raises(WriteBackError, match="timed out after 2s") as caught:
        await _bounded(repo, hung_http_remote, 20)
    assert caught.value.retriable and caught.value.timed_out
    assert time.monotonic() - started < 2.0 + 4.0


async def test_the_total_deadline_bounds_the_whole_write_back(tmp_path: Path, hung_http_remote: str) -> None:
    repo = WriteBackRepo(hung_http_remote, "main", tmp_path / "cache", timeout_s=30.0, total_timeout_s=1.5)
    started = time.monotonic()
    with pytest.raises(WriteBackError, match="timed out") as caught:
        await _bounded(repo, hung_http_remote, 20)
    assert caught.value.timed_out
    assert time.monotonic() - started < 1.5 + 4.0


async def test_home_gitconfig_cannot_redirect_the_write_back(
    tmp_path: Path, remote: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file written to ``$HOME/.gitconfig`` (say through a symlink in a repository) is ignored."""
    decoy = tmp_path / "decoy.git"
    git(tmp_path, "clone", "--quiet", "--bare", remote, str(decoy))
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(f'[url "{decoy.as_uri()}"]\n\tinsteadOf = {remote}\n')
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL")
    result = await worker(tmp_path, remote).apply_intents([intent_for(remote)], replace_image)
    assert result.commit == remote_head(tmp_path, remote)
    assert remote_head(tmp_path, decoy.as_uri()) != result.commit


async def test_committed_symlinks_are_checked_out_as_plain_files(tmp_path: Path, remote: str) -> None:
    seed = tmp_path / "symlinked"
    git(tmp_path, "clone", "--quiet", remote, str(seed))
    (seed / "apps" / "podinfo" / "escape.yaml").symlink_to("../../../../.gitconfig")
    git(seed, "add", "-A")
    git(seed, "commit", "--quiet", "-m", "a symlink out of the repository")
    git(seed, "push", "--quiet", "origin", "HEAD:main")

    repo = worker(tmp_path, remote)
    await repo.apply_intents([intent_for(remote)], replace_image)
    checked_out = repo.worktree / "apps" / "podinfo" / "escape.yaml"
    assert not checked_out.is_symlink()
    assert checked_out.read_text() == "../../../../.gitconfig"
    assert git(repo.worktree, "config", "--local", "--get", "core.symlinks").strip() == "false"


async def test_a_cached_clone_without_core_symlinks_false_is_rebuilt(tmp_path: Path, remote: str) -> None:
    repo = worker(tmp_path, remote)
    await repo.apply_intents([intent_for(remote, "podinfo")], replace_image)
    git(repo.worktree, "config", "--local", "core.symlinks", "true")  # a clone made before the fix
    await worker(tmp_path, remote).apply_intents([intent_for(remote, "frontend")], replace_image)
    assert git(repo.worktree, "config", "--local", "--get", "core.symlinks").strip() == "false"


def test_an_option_like_url_is_taken_as_a_url(tmp_path: Path) -> None:
    clone = WorkingClone("--mirror=push", "main", tmp_path / "clone", 10.0)
    with clone.locked():
        clone.ensure()
    assert git(clone.worktree, "config", "--get", "remote.origin.url").strip() == "--mirror=push"
    assert git(clone.worktree, "config", "--get-all", "remote.origin.mirror", check=False) == ""


async def test_an_edit_through_a_committed_symlink_fails_its_intent_and_commits_nothing(
    tmp_path: Path, remote: str
) -> None:
    """core.symlinks=false checks a link out as a plain file; writing into it must not retarget it."""
    seed = tmp_path / "symlinked"
    git(tmp_path, "clone", "--quiet", remote, str(seed))
    (seed / "apps" / "frontend" / "deployment.yaml").unlink()
    (seed / "apps" / "frontend" / "deployment.yaml").symlink_to("../../../../.gitconfig")
    git(seed, "add", "-A")
    git(seed, "commit", "--quiet", "-m", "frontend's manifest is a symlink")
    git(seed, "push", "--quiet", "origin", "HEAD:main")
    before = remote_head(tmp_path, remote)

    def write_through_link(worktree: Path, intent: Intent) -> list[Path]:
        target = worktree / intent.path / "deployment.yaml"
        target.write_text(manifest(NEW))
        return [target]

    good, linked = intent_for(remote, "podinfo"), intent_for(remote, "frontend")
    result = await worker(tmp_path, remote).apply_intents([linked, good], write_through_link)
    assert set(result.failed) == {linked.id}
    assert "symbolic link" in result.failed[linked.id]
    assert result.applied == {good.id: result.commit}
    tree = git(tmp_path, "--git-dir", remote.removeprefix("file://"), "ls-tree", "main", "apps/frontend/deployment.yaml")
    assert tree.startswith("120000 ")
    link_target = git(tmp_path, "--git-dir", remote.removeprefix("file://"), "cat-file", "-p", "main:apps/frontend/deployment.yaml")
    assert link_target == "../../../../.gitconfig"
    assert remote_head(tmp_path, remote) != before
