"""The per-repository write-back worker: apply intents, commit once, push, retry.

:meth:`WriteBackRepo.apply_intents` runs, per attempt: fetch; hard-reset the cached
worktree to ``origin/<branch>``; skip intents whose ``Gitcanary-Intent`` trailer is already
in the branch history; call the ``apply`` callback for the rest; commit every change in
one batch commit (one trailer block per intent); push. A push rejected because the branch
moved (non-fast-forward, "fetch first", "stale info", GitLab's "incorrect old value", a
lost ref-lock race) starts a new attempt after a jittered backoff; the trailer check then
sees whatever a concurrent writer already pushed, so nothing is applied twice.

Invariants:
- Only the git CLI is used, through GitPython's ``Git.execute`` (never the index API).
  Every call has ``kill_after_timeout``; network calls use ``timeout_s``. Prompts are off
  (``GIT_TERMINAL_PROMPT=0``); credentials come from :class:`GitAuth`'s environment only.
- One clone per URL under ``cache_dir/<sha256(url)[:16]>``. Work on a repository is
  serialised by an ``asyncio.Lock`` per (event loop, URL) and, across loops and processes,
  by an ``flock`` on ``<clone>.lock``. Blocking git calls run in ``asyncio.to_thread``.
- A commit that was not pushed is never trusted: every attempt starts from the remote
  branch, so a crash between commit and push loses nothing and duplicates nothing.
- An ``apply`` failure fails only its intent: its edits are discarded (worktree restored
  from the index holding the other intents' staged edits) and the others are committed.
- Error messages are passed through :func:`redact`.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import random
import shutil
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import git

from controller.gitops.credentials import CommitSigning, GitAuth, SigningKey, redact
from controller.gitops.intents import Intent
from controller.gitops.trailers import build_message, intent_grep_pattern, intent_ids

__all__ = [
    "ApplyIntent",
    "WriteBackError",
    "WriteBackRepo",
    "WriteBackResult",
    "clone_dir_for",
    "default_subject",
    "repository_lock",
]

ApplyIntent = Callable[[Path, Intent], list[Path]]
"""Edit the worktree for one intent; return the changed files ([] = already so in Git)."""

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_AUTHOR = ("gitcanary", "gitcanary@users.noreply.gitcanary.io")
LOCAL_TIMEOUT_FLOOR_S = 60.0
"""Local git commands get ``max(timeout_s, LOCAL_TIMEOUT_FLOOR_S)``: they can be slow on big repos."""

_RETRIABLE_PUSH = (
    "non-fast-forward",
    "fetch first",
    "stale info",
    "incorrect old value",
    "cannot lock ref",
    "failed to update ref",
)
_STALE_LOCKS = ("index.lock", "HEAD.lock", "packed-refs.lock", "config.lock", "shallow.lock")


class WriteBackError(Exception):
    """A write-back failed. ``retriable`` says whether trying later may succeed."""

    def __init__(self, message: str, *, retriable: bool = False, attempts: int = 0) -> None:
        super().__init__(message)
        self.retriable = retriable
        self.attempts = attempts


class _PushRejected(Exception):
    """The remote branch moved under us; fetch, reset and re-apply."""


@dataclass
class WriteBackResult:
    """What one :meth:`WriteBackRepo.apply_intents` call achieved."""

    commit: str | None
    """The pushed batch commit, or None when nothing needed a commit."""
    applied: dict[str, str] = field(default_factory=dict)
    """Intent id -> SHA of the commit that carries it (every intent that is done)."""
    already_applied: list[str] = field(default_factory=list)
    """Ids found by their ``Gitcanary-Intent`` trailer in the branch history."""
    unchanged: list[str] = field(default_factory=list)
    """Ids whose content Git already had (no commit; ``applied`` holds the remote HEAD)."""
    failed: dict[str, str] = field(default_factory=dict)
    """Ids whose ``apply`` raised -> redacted message. They stay pending."""
    attempts: int = 0


_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def repository_lock(url: str) -> asyncio.Lock:
    """The lock serialising write-backs to ``url`` in the running event loop."""
    per_loop = _LOCKS.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(url, asyncio.Lock())


def clone_dir_for(cache_dir: Path, url: str) -> Path:
    return cache_dir / hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def default_subject(intents: Sequence[Intent]) -> str:
    """``Roll back test/podinfo to 6.0.1``; a batch names its count and canaries."""
    if len(intents) == 1:
        intent = intents[0]
        verb = {"rollback": "Roll back", "promotion": "Promote", "promoteTo": "Propose"}[intent.kind]
        target = f" in {intent.path}" if intent.kind == "promoteTo" else ""
        return f"{verb} {intent.canary}{target} to {intent.image}"
    canaries = sorted({i.canary for i in intents})
    shown = ", ".join(canaries[:3]) + (f" and {len(canaries) - 3} more" if len(canaries) > 3 else "")
    return f"gitcanary: write back {len(intents)} decisions ({shown})"


def _has_password_userinfo(url: str) -> bool:
    _scheme, sep, rest = url.partition("://")
    if not sep:
        return False
    userinfo, at, _ = rest.partition("/")[0].rpartition("@")
    return bool(at) and ":" in userinfo


class WriteBackRepo:
    """A cached clone of one branch of one repository, and the write-back loop over it."""

    def __init__(
        self,
        url: str,
        branch: str,
        cache_dir: Path,
        auth: GitAuth | None = None,
        author: tuple[str, str] = DEFAULT_AUTHOR,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        *,
        retry_base_s: float = 0.05,
        retry_cap_s: float = 2.0,
    ) -> None:
        if _has_password_userinfo(url):
            raise WriteBackError("the repository URL carries a password; use the GitRepository secretRef")
        if any(c in value for value in author for c in "\n\r\0<>"):
            raise WriteBackError("commit author name/email must be one line without '<' or '>'")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.url = url
        self.branch = branch
        self.auth = auth
        self.author = author
        self.timeout_s = timeout_s
        self.retry_base_s = retry_base_s
        self.retry_cap_s = retry_cap_s
        self.worktree = clone_dir_for(Path(cache_dir), url)
        self._git = git.Git(str(self.worktree))
        self._env: dict[str, str] = {}
        self._secrets: tuple[str, ...] = ()

    # -- public API ---------------------------------------------------------------------

    async def apply_intents(
        self,
        intents: Sequence[Intent],
        apply: ApplyIntent,
        *,
        signing: SigningKey | None = None,
        max_attempts: int = 5,
        subject: Callable[[Sequence[Intent]], str] = default_subject,
    ) -> WriteBackResult:
        """Apply ``intents`` exactly once and push them in one commit (see module doc)."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        unique = list({i.id: i for i in intents}.values())
        if not unique:
            return WriteBackResult(commit=None)
        async with repository_lock(self.url):
            stack = ExitStack()
            try:
                config = await asyncio.to_thread(self._prepare, stack, signing)
                return await self._attempt_until_pushed(unique, apply, config, subject, max_attempts)
            finally:
                await asyncio.to_thread(stack.close)
                self._env, self._secrets = {}, ()

    def redact(self, text: str) -> str:
        secrets = self._secrets or (self.auth.secrets if self.auth else ())
        return redact(text, secrets)

    # -- orchestration --------------------------------------------------------------------

    def _prepare(self, stack: ExitStack, signing: SigningKey | None) -> tuple[tuple[str, str], ...]:
        env = {
            "GIT_TERMINAL_PROMPT": "0",
            "GCM_INTERACTIVE": "never",
            # Never let git discover a repository above the cache (e.g. a half-created clone).
            "GIT_CEILING_DIRECTORIES": str(self.worktree.parent.resolve()),
        }
        if "GIT_SSH_COMMAND" not in os.environ:
            env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
        secrets: list[str] = []
        config: tuple[tuple[str, str], ...] = (("commit.gpgsign", "false"),)
        if self.auth is not None:
            env.update(stack.enter_context(self.auth))
            secrets.extend(self.auth.secrets)
        if signing is not None:
            session = stack.enter_context(CommitSigning.prepare(signing))
            env.update(session.env)
            secrets.extend(session.secrets)
            config = (("commit.gpgsign", "true"), *session.config)
        self._env, self._secrets = env, tuple(secrets)
        return config

    async def _attempt_until_pushed(
        self,
        intents: list[Intent],
        apply: ApplyIntent,
        config: tuple[tuple[str, str], ...],
        subject: Callable[[Sequence[Intent]], str],
        max_attempts: int,
    ) -> WriteBackResult:
        last = ""
        for attempt in range(1, max_attempts + 1):
            try:
                result = await asyncio.to_thread(self._attempt, intents, apply, config, subject)
            except _PushRejected as rejected:
                last = str(rejected)
                if attempt < max_attempts:
                    await asyncio.sleep(self._backoff(attempt))
                continue
            except WriteBackError as error:
                error.attempts = attempt
                raise
            result.attempts = attempt
            return result
        raise WriteBackError(
            f"push to {self.url} {self.branch} still rejected after {max_attempts} attempts: {last}",
            retriable=True,
            attempts=max_attempts,
        )

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.retry_cap_s, self.retry_base_s * 2 ** (attempt - 1)))

    def _attempt(
        self,
        intents: list[Intent],
        apply: ApplyIntent,
        config: tuple[tuple[str, str], ...],
        subject: Callable[[Sequence[Intent]], str],
    ) -> WriteBackResult:
        with self._clone_lock():
            base = self._sync_to_remote()
            result = WriteBackResult(commit=None)
            found = self._find_applied([i.id for i in intents])
            to_commit: list[Intent] = []
            for intent in intents:
                if intent.id in found:
                    result.applied[intent.id] = found[intent.id]
                    result.already_applied.append(intent.id)
                    continue
                outcome = self._apply_one(intent, apply)
                if outcome is None:
                    to_commit.append(intent)
                elif outcome == "":
                    result.applied[intent.id] = base
                    result.unchanged.append(intent.id)
                else:
                    result.failed[intent.id] = outcome
            if to_commit:
                commit = self._commit(to_commit, config, subject)
                self._push()
                result.commit = commit
                result.applied.update({i.id: commit for i in to_commit})
            return result

    # -- git steps ------------------------------------------------------------------------

    def _run(self, *args: str, network: bool = False, config: Sequence[tuple[str, str]] = ()) -> str:
        status, stdout = self._run_status(*args, network=network, config=config)
        if status != 0:
            raise WriteBackError(self.redact(f"git {args[0]} failed: {stdout}"), retriable=network)
        return stdout

    def _run_status(
        self, *args: str, network: bool = False, config: Sequence[tuple[str, str]] = ()
    ) -> tuple[int, str]:
        """Run git; return (status, stdout+stderr). Raises WriteBackError on timeout."""
        argv = ["git", "-C", str(self.worktree)]
        for key, value in config:
            argv += ["-c", f"{key}={value}"]
        argv += args
        timeout = self.timeout_s if network else max(self.timeout_s, LOCAL_TIMEOUT_FLOOR_S)
        status, out, err = self._git.execute(
            argv,
            with_extended_output=True,
            with_exceptions=False,
            kill_after_timeout=timeout,
            env=self._env,
        )
        text = "\n".join(part for part in (out, err) if part)
        if "did not complete in" in err and err.startswith("Timeout"):
            raise WriteBackError(
                self.redact(f"git {args[0]} timed out after {timeout:g}s ({self.url})"), retriable=True
            )
        return status, text

    @contextmanager
    def _clone_lock(self) -> Iterator[None]:
        self.worktree.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.worktree.with_name(self.worktree.name + ".lock")
        deadline = time.monotonic() + max(LOCAL_TIMEOUT_FLOOR_S, 4 * self.timeout_s)
        with open(lock_path, "a+b") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise WriteBackError(f"clone {self.worktree} stayed locked", retriable=True) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _ensure_clone(self) -> None:
        git_dir = self.worktree / ".git"
        if git_dir.is_dir() and self._run_status("rev-parse", "--git-dir")[0] == 0:
            self._remove_stale_locks(git_dir)
            self._run("remote", "set-url", "origin", self.url)
            return
        shutil.rmtree(self.worktree, ignore_errors=True)
        self.worktree.mkdir(parents=True)
        self._run("init", "--quiet")
        self._run("remote", "add", "origin", self.url)
        no_hooks = git_dir / "gitcanary-no-hooks"
        no_hooks.mkdir()
        settings = (("core.autocrlf", "false"), ("gc.autoDetach", "false"), ("core.hooksPath", str(no_hooks)))
        for key, value in settings:
            self._run("config", key, value)

    @staticmethod
    def _remove_stale_locks(git_dir: Path) -> None:
        """We hold the clone's flock, so any git lock file left is from a killed process."""
        for name in _STALE_LOCKS:
            (git_dir / name).unlink(missing_ok=True)
        for lock in (git_dir / "refs").rglob("*.lock"):
            lock.unlink(missing_ok=True)

    def _sync_to_remote(self) -> str:
        """Fetch the branch and make the worktree exactly ``origin/<branch>``; return its SHA."""
        self._ensure_clone()
        tracking = f"refs/remotes/origin/{self.branch}"
        status, text = self._run_status(
            "fetch", "--no-tags", "--quiet", "origin", f"+refs/heads/{self.branch}:{tracking}", network=True
        )
        if status != 0:
            missing = "couldn't find remote ref" in text
            raise WriteBackError(self.redact(f"git fetch {self.url} failed: {text}"), retriable=not missing)
        self._run("checkout", "--quiet", "--force", "-B", self.branch, tracking)
        self._run("clean", "-ffdxq")
        return self._run("rev-parse", "HEAD").strip()

    def _find_applied(self, ids: Sequence[str]) -> dict[str, str]:
        """Intent id -> SHA of the oldest commit in the branch history whose trailers carry it."""
        if not ids:
            return {}
        greps = [f"--grep={intent_grep_pattern(i)}" for i in ids]
        log = self._run("log", "--fixed-strings", *greps, "--format=%H%x00%B%x1e", "HEAD")
        wanted = set(ids)
        found: dict[str, str] = {}
        for record in log.split("\x1e"):
            sha, sep, message = record.strip("\n").partition("\x00")
            if not sep:
                continue
            for recorded in intent_ids(message):
                if recorded in wanted:
                    found[recorded] = sha  # newest first in the log: the last write is the oldest
        return found

    def _apply_one(self, intent: Intent, apply: ApplyIntent) -> str | None:
        """Stage the edits of one intent: None = staged changes, "" = no change, else error."""
        before = self._run("write-tree").strip()
        try:
            files = apply(self.worktree, intent)
            paths = [self._inside_worktree(Path(f)) for f in files]
            if paths:
                self._run("add", "--", *paths)
        except Exception as exc:
            self._discard_unstaged()
            return self.redact(f"{type(exc).__name__}: {exc}") or type(exc).__name__
        return None if self._run("write-tree").strip() != before else ""

    def _inside_worktree(self, path: Path) -> str:
        root = self.worktree.resolve()
        full = (path if path.is_absolute() else root / path).resolve()
        if not full.is_relative_to(root) or full == root or ".git" in full.relative_to(root).parts:
            raise ValueError(f"apply returned a path outside the worktree: {path}")
        return str(full.relative_to(root))

    def _discard_unstaged(self) -> None:
        self._run("checkout-index", "--all", "--force")
        self._run("clean", "-ffdxq")

    def _commit(
        self,
        intents: Sequence[Intent],
        config: tuple[tuple[str, str], ...],
        subject: Callable[[Sequence[Intent]], str],
    ) -> str:
        message = build_message(subject(intents), [i.trailer_block() for i in intents])
        message_file = self.worktree / ".git" / "GITCANARY_COMMIT_MSG"
        message_file.write_text(message, encoding="utf-8")
        name, email = self.author
        identity = (("user.name", name), ("user.email", email))
        args = ["commit", "--quiet", "--no-verify", "--cleanup=whitespace", f"--file={message_file}"]
        if dict(config).get("commit.gpgsign") == "true":
            args.append("--gpg-sign")
        self._run(*args, config=(*identity, *config))
        return self._run("rev-parse", "HEAD").strip()

    def _push(self) -> None:
        status, text = self._run_status(
            "push", "--porcelain", "--no-verify", "origin", f"HEAD:refs/heads/{self.branch}", network=True
        )
        if status == 0:
            return
        message = self.redact(text)
        lowered = message.lower()
        if any(marker in lowered for marker in _RETRIABLE_PUSH):
            raise _PushRejected(message)
        raise WriteBackError(f"git push to {self.url} {self.branch} failed: {message}")

    def environment(self) -> Mapping[str, str]:
        """The git environment of the running write-back (empty outside one)."""
        return dict(self._env)
