"""The write-back worker against every authenticated sandbox remote, with real credentials.

HTTPS basic auth, HTTPS bearer token and SSH (identity + known_hosts) as a Flux GitRepository
secret holds them; a wrong password or an unknown key fails with a message that carries no secret.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from controller.gitops.plumbing.credentials import GitAuth
from controller.gitops.plumbing.repo import WriteBackError, WriteBackRepo
from controller.gitops.workflow.intents import Intent
from gitcanary_sandbox.client import SandboxClient


def _intent(marker: str) -> Intent:
    return Intent(
        id=f"test-{marker}",
        kind="promotion",
        canary="test/podinfo",
        repository="",
        branch="main",
        path="./",
        image="ghcr.io/stefanprodan/podinfo:6.0.1",
        previous_image="ghcr.io/stefanprodan/podinfo:6.0.0",
        result="promoted",
        analysis="ok",
        source_revision="",
        created_at=time.time(),
    )


def _write(marker: str) -> object:
    def apply(worktree: Path, intent: Intent) -> list[Path]:
        path = worktree / "writeback-tests" / f"{marker}.txt"
        path.parent.mkdir(exist_ok=True)
        if path.exists():
            return []
        path.write_text(intent.id + "\n")
        return [path]

    return apply


def _auth(sandbox: SandboxClient, kind: str, tmp: Path) -> tuple[str, GitAuth]:
    git = sandbox.git_remotes()
    if kind == "basic":
        return git["http_url"], GitAuth.from_secret_data(
            {"username": git["http_username"], "password": git["http_password"]}, git["http_url"]
        )
    if kind == "bearer":
        return git["http_url"], GitAuth.from_secret_data({"bearerToken": git["http_token"]}, git["http_url"])
    data = {
        "identity": Path(git["ssh_identity"]).read_text(),
        "known_hosts": Path(git["ssh_known_hosts"]).read_text(),
    }
    return git["ssh_url"], GitAuth.from_secret_data(data, git["ssh_url"])


@pytest.mark.parametrize("kind", ["basic", "bearer", "ssh"])
async def test_write_back_through_authenticated_remote(
    sandbox: SandboxClient, tmp_path: Path, kind: str
) -> None:
    url, auth = _auth(sandbox, kind, tmp_path)
    marker = f"{kind}-{time.time_ns()}"
    repo = WriteBackRepo(url, "main", tmp_path / "cache", auth)
    result = await repo.apply_intents([_intent(marker)], _write(marker))  # type: ignore[arg-type]
    assert result.commit and result.applied[f"test-{marker}"] == result.commit
    log = subprocess.run(
        ["git", "--git-dir", sandbox.git_remotes()["bare"], "log", "-1", "--format=%B", result.commit],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"Gitcanary-Intent: test-{marker}" in log
    again = await WriteBackRepo(url, "main", tmp_path / "cache2", auth).apply_intents(
        [_intent(marker)], _write(marker)
    )  # type: ignore[arg-type]
    assert again.commit is None and f"test-{marker}" in again.already_applied


async def test_wrong_password_fails_without_leaking_it(sandbox: SandboxClient, tmp_path: Path) -> None:
    git = sandbox.git_remotes()
    auth = GitAuth.from_secret_data(
        {"username": git["http_username"], "password": "hunter2-wrong"}, git["http_url"]
    )
    repo = WriteBackRepo(git["http_url"], "main", tmp_path / "cache", auth, timeout_s=20)
    with pytest.raises(WriteBackError) as err:
        await repo.apply_intents([_intent("nope")], _write("nope"))  # type: ignore[arg-type]
    assert "hunter2-wrong" not in str(err.value)


async def test_unknown_ssh_key_fails(sandbox: SandboxClient, tmp_path: Path) -> None:
    git = sandbox.git_remotes()
    key = tmp_path / "intruder"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    auth = GitAuth.from_secret_data(
        {"identity": key.read_text(), "known_hosts": Path(git["ssh_known_hosts"]).read_text()}, git["ssh_url"]
    )
    repo = WriteBackRepo(git["ssh_url"], "main", tmp_path / "cache", auth, timeout_s=20)
    with pytest.raises(WriteBackError) as err:
        await repo.apply_intents([_intent("nope")], _write("nope"))  # type: ignore[arg-type]
    assert "PRIVATE KEY" not in str(err.value)
