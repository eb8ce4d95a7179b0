"""Scenario pieces for the write-back acceptance tests: exact-diff checks, a concurrent writer,
retrying like the worker's later ticks, a git daemon the test owns, and wrong credentials.

Nothing here fakes git: every check reads the sandbox's bare repository, the writer pushes
through a real clone, and the daemon is a real ``git daemon`` process stopped by its test.
"""

from __future__ import annotations

import secrets
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from controller.gitops.edits.apply import apply_intent, record_file
from controller.gitops.plumbing.repo import WriteBackError, WriteBackRepo, WriteBackResult
from controller.gitops.workflow.intents import Intent
from gitcanary_sandbox import processes
from gitcanary_sandbox.client import SandboxClient
from tests.integration.gitops.fleet_branches import ANALYSIS, DEPLOYMENT_YAML, bare_git, git, image


def sandbox_bare(sandbox: SandboxClient) -> Path:
    return Path(sandbox.git_remotes()["bare"])


def changed_lines(bare: Path, old: str, new: str, path: str) -> list[str]:
    diff = bare_git(bare, "diff", "-U0", "--no-color", old, new, "--", path)
    return [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def record_text(intent: Intent) -> str:
    return (
        f"canary: {intent.canary}\nresult: rolled-back\nimage: {intent.image}\n"
        f"previous-image: {intent.previous_image}\nanalysis: {ANALYSIS}\n"
        f"source: {intent.source_revision}\nintent: {intent.id}\n"
    )


def trailer_lines(intent: Intent, name: str) -> list[str]:
    return [
        f"Gitcanary-Canary: {intent.canary}",
        "Gitcanary-Result: rolled-back",
        f"Gitcanary-Image: {image(name, '2.0.1')} -> 2.0.0",
        f"Gitcanary-Source: {intent.source_revision}",
        f"Gitcanary-Analysis: {ANALYSIS}",
        f"Gitcanary-Intent: {intent.id}",
    ]


def assert_exact_rollback(bare: Path, seed: str, commit: str, intent: Intent, name: str, prefix: str) -> None:
    """``commit`` (child of ``seed``) changes the image scalar, the range and the record, nothing else."""
    assert bare_git(bare, "rev-parse", f"{commit}^").strip() == seed
    deployment, policy = f"{prefix}/{name}/deployment.yaml", f"{prefix}/{name}/policy.yaml"
    record = record_file(Path("."), intent.canary).as_posix()
    numstat = {
        line.split("\t")[2]: tuple(line.split("\t")[:2])
        for line in bare_git(bare, "diff", "--numstat", seed, commit).splitlines()
    }
    assert numstat == {deployment: ("1", "1"), policy: ("1", "1"), record: ("7", "0")}, numstat
    marker = f'# {{"$imagepolicy": "flux-system:{name}"}}'
    assert changed_lines(bare, seed, commit, deployment) == [
        f"-          image: {image(name, '2.0.1')} {marker}",
        f"+          image: {image(name, '2.0.0')} {marker}",
    ]
    assert changed_lines(bare, seed, commit, policy) == [
        '-      range: ">=2.0.0"',
        '+      range: ">=2.0.0, != 2.0.1"',
    ]
    assert bare_git(bare, "show", f"{commit}:{deployment}") == DEPLOYMENT_YAML.format(name=name, tag="2.0.0")
    assert bare_git(bare, "show", f"{commit}:{record}") == record_text(intent)
    message = bare_git(bare, "log", "-1", "--format=%B", commit).strip()
    subject, *_, trailers = message.split("\n\n")
    assert subject == f"Roll back {intent.canary} to {image(name, '2.0.0')}"
    assert trailers.splitlines() == trailer_lines(intent, name)


FOREIGN_COMMITS = 50
APPS = 20


def push_foreign_commits(
    url: str, branch: str, work: Path, started: threading.Event, errors: list[str]
) -> None:
    """Push FOREIGN_COMMITS commits as fast as possible; every 7th one touches an intent's path."""
    ident = ("-c", "user.name=someone", "-c", "user.email=someone@example.com")
    try:
        git("clone", "--quiet", "--branch", branch, url, str(work))
        for k in range(FOREIGN_COMMITS):
            in_scope = k % 7 == 3
            target = (
                work / "apps" / f"app-{k % APPS}" / "NOTES.txt" if in_scope else work / "foreign" / f"{k}.txt"
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f"foreign {k}\n")
            git("add", "--all", cwd=work)
            git(*ident, "commit", "--quiet", "-m", f"foreign {k}", cwd=work)
            for _ in range(200):
                push = subprocess.run(
                    ["git", "push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"],
                    cwd=work,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                if push.returncode == 0:
                    break
                git(*ident, "pull", "--quiet", "--rebase", "origin", branch, cwd=work)
            else:
                errors.append(f"foreign commit {k} never pushed")
                return
            started.set()
    except Exception as exc:  # reported to the test, which fails on it
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        started.set()


async def land(repo: WriteBackRepo, batch: Sequence[Intent]) -> WriteBackResult:
    """Apply ``batch`` as the worker's later ticks would: again after each retriable failure."""
    last: WriteBackError | None = None
    for _ in range(15):
        try:
            return await repo.apply_intents(batch, apply_intent, max_attempts=8)
        except WriteBackError as exc:
            assert exc.retriable, str(exc)
            last = exc
    raise AssertionError(f"batch never landed: {last}")


async def land_all(repo: WriteBackRepo, batches: Sequence[Sequence[Intent]]) -> list[WriteBackResult]:
    return [await land(repo, batch) for batch in batches]


@contextmanager
def own_git_daemon(root: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A git daemon serving ``root`` on ``port`` (started and stopped by this test only)."""
    proc = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            f"--base-path={root}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(root),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not processes.port_open(port):
            assert proc.poll() is None and time.monotonic() < deadline, "the test git daemon did not start"
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def wrong_secret(sandbox: SandboxClient, kind: str, tmp: Path) -> tuple[dict[str, str], list[str]]:
    """A GitRepository secret with a wrong password / unknown key, and the strings that must not leak."""
    remotes = sandbox.git_remotes()
    if kind == "http":
        password = f"wrong-{secrets.token_urlsafe(18)}"
        return {"username": remotes["http_username"], "password": password}, [password]
    key = tmp / "intruder"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    identity = key.read_text()
    body = [line for line in identity.splitlines() if len(line) >= 16 and "PRIVATE KEY" not in line]
    assert body
    return {"identity": identity, "known_hosts": Path(remotes["ssh_known_hosts"]).read_text()}, [
        identity,
        *body,
    ]
