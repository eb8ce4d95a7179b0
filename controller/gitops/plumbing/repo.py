"""The per-repository write-back worker: apply intents, commit once, push, retry.

:meth:`WriteBackRepo.apply_intents` fetches; hard-resets the cached worktree to ``origin/<branch>``;
skips intents whose ``Gitcanary-Intent`` trailer is already in the branch history; calls ``apply``
for the rest; commits every change in ONE commit (one trailer block per intent); pushes. A push
rejected because the branch moved (non-fast-forward, "fetch first", "stale info", GitLab's
"incorrect old value", a lost ref-lock race) is retried with a bounded, jittered backoff. A retry
fetches and first tries the *replay* path: when the new remote commits carry none of our intents
and touch none of the files we changed nor any intent's ``path``, the batch commit is rebased onto
the new tip with ``merge-tree`` and ``commit-tree``. Otherwise it resets to the remote and
re-applies, and the trailer check sees whatever a concurrent writer already pushed.
:func:`controller.gitops.plumbing.proposal_branch.propose_branch` is the pull-request variant.

Invariants:
- Exactly once: an intent is committed only if no commit in the branch history carries
  its trailer, checked after the last fetch that precedes the successful push.
- A commit that was not pushed is never trusted across calls: each call starts from the
  remote branch, so a crash between commit and push loses and duplicates nothing.
- ``apply`` may read only files under its intent's ``path`` and the files it changes
  (that is what makes the replay path equivalent to re-applying).
- An ``apply`` failure fails only its intent: its edits are discarded and the others are
  committed.
- Work on a repository is serialised by an ``asyncio.Lock`` per (event loop, URL) and by
  the clone's ``flock``; blocking git calls run in ``asyncio.to_thread``. One clone per
  URL under ``cache_dir/<sha256(url)[:16]>``; each session first prunes the cache to its bound
  (:mod:`controller.gitops.plumbing.clone_cache`: idle clones, then the least recently used).
- One call has a total deadline (``total_timeout_s``, counted once the repository lock is
  held): no git command outlives it, and a command that hits it has its whole process group
  killed (:mod:`controller.gitops.plumbing.gitproc`). The error says "timed out" and is retriable.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from controller.gitops.plumbing.clone import LOCAL_TIMEOUT_FLOOR_S, Config, WorkingClone, WriteBackError
from controller.gitops.plumbing.clone_cache import CacheLimits, prune
from controller.gitops.plumbing.credentials import CommitSigning, CredentialsError, GitAuth, SigningKey
from controller.gitops.plumbing.history import HistoryCheck, HistoryRequest, run_request
from controller.gitops.workflow.intents import Intent
from controller.gitops.workflow.trailers import build_message

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


@dataclass
class WriteBackResult:
    """What one :meth:`WriteBackRepo.apply_intents` call achieved."""

    commit: str | None
    """The pushed batch commit, or None when nothing needed a commit."""
    applied: dict[str, str] = field(default_factory=dict)
    """Intent id -> SHA of a commit in the branch history that carries it (every done intent)."""
    already_applied: list[str] = field(default_factory=list)
    """Ids found by their ``Gitcanary-Intent`` trailer in the branch history."""
    unchanged: list[str] = field(default_factory=list)
    """Ids whose content Git already had: no commit, ``applied`` holds the remote head."""
    failed: dict[str, str] = field(default_factory=dict)
    """Ids whose ``apply`` raised -> redacted message. They are not done."""
    attempts: int = 0
    error: str | None = None
    """Why the whole write-back failed (source, credentials, fetch or push), redacted; all stay pending."""
    history: HistoryCheck | None = None
    """The applied decisions checked against the first fetched tip (``apply_intents(history=...)``)."""

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed


@dataclass(frozen=True)
class _Unpushed:
    """A batch commit whose push was rejected, with what the replay path needs."""

    base: str
    commit: str
    message: str
    files: frozenset[str]
    scopes: tuple[str, ...]
    committed: tuple[str, ...]
    result: WriteBackResult


class _PushRejected(Exception):
    def __init__(self, message: str, unpushed: _Unpushed) -> None:
        super().__init__(message)
        self.unpushed = unpushed


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
    """``Roll back test/podinfo to <image>``; a batch names its count and canaries."""
    if len(intents) == 1:
        intent = intents[0]
        verb = {"rollback": "Roll back", "promotion": "Promote", "promoteTo": "Propose"}[intent.kind]
        where = f" in {intent.path}" if intent.kind == "promoteTo" else ""
        return f"{verb} {intent.canary}{where} to {intent.image}"
    canaries = sorted({i.canary for i in intents})
    shown = ", ".join(canaries[:3]) + (f" and {len(canaries) - 3} more" if len(canaries) > 3 else "")
    return f"gitcanary: write back {len(intents)} decisions ({shown})"


def _has_password_userinfo(url: str) -> bool:
    _, sep, rest = url.partition("://")
    userinfo, at, _ = rest.partition("/")[0].rpartition("@")
    return bool(sep) and bool(at) and ":" in userinfo


def _scope(path: str) -> str:
    """An intent ``path`` as a repository-relative prefix ("" = the whole repository)."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


def _touches(changed: Sequence[str], files: frozenset[str], scopes: Sequence[str]) -> bool:
    if any(not scope for scope in scopes):
        return True
    return any(c in files or any(c == s or c.startswith(s + "/") for s in scopes) for c in changed)


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
        total_timeout_s: float | None = None,
        cache_limits: CacheLimits | None = None,
    ) -> None:
        if _has_password_userinfo(url):
            raise WriteBackError("the repository URL carries a password; use the GitRepository secretRef")
        if any(c in value for value in author for c in "\n\r\0<>"):
            raise WriteBackError("commit author name/email must be one line without '<' or '>'")
        if timeout_s <= 0 or (total_timeout_s is not None and total_timeout_s <= 0):
            raise ValueError("timeout_s and total_timeout_s must be positive")
        self.url = url
        self.branch = branch
        self.auth = auth
        self.author = author
        self.timeout_s = timeout_s
        self.retry_base_s = retry_base_s
        self.retry_cap_s = retry_cap_s
        self.total_timeout_s = (
            max(LOCAL_TIMEOUT_FLOOR_S, 4 * timeout_s) if total_timeout_s is None else total_timeout_s
        )
        """No call (every fetch, edit, commit and push attempt together) lasts longer."""
        self.worktree = clone_dir_for(Path(cache_dir), url)
        self.cache_limits = CacheLimits.from_env() if cache_limits is None else cache_limits
        self.clone = WorkingClone(url, branch, self.worktree, timeout_s)
        self._history: HistoryRequest | None = None
        self._history_check: HistoryCheck | None = None

    async def apply_intents(
        self,
        intents: Sequence[Intent],
        apply: ApplyIntent,
        *,
        signing: SigningKey | None = None,
        max_attempts: int = 5,
        subject: Callable[[Sequence[Intent]], str] = default_subject,
        history: HistoryRequest | None = None,
    ) -> WriteBackResult:
        """Apply ``intents`` exactly once and push them in one commit (see module doc).

        ``subject`` gives the commit text: its first line is the subject, any further lines the
        body; the ``Gitcanary-*`` trailers are always appended after it. ``history``: applied
        decisions to look for from the first fetched tip (:mod:`controller.gitops.plumbing.history`)."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        unique = list({i.id: i for i in intents}.values())
        if not unique:
            return WriteBackResult(commit=None)
        async with self.session(signing) as config:
            self._history, self._history_check = history, None
            result = await self._attempt_until_pushed(unique, apply, config, subject, max_attempts)
            result.history = self._history_check
        return result

    @asynccontextmanager
    async def session(self, signing: SigningKey | None) -> AsyncIterator[Config]:
        """Hold the repository lock with the deadline started and credentials entered; yield the
        ``-c`` settings for commits. Everything entered is left and forgotten on exit."""
        async with repository_lock(self.url):
            stack = ExitStack()
            try:
                yield await asyncio.to_thread(self._prepare, stack, signing)
            finally:
                await asyncio.to_thread(stack.close)
                self.clone.env, self.clone.secrets, self.clone.deadline = {}, (), None

    def _prepare(self, stack: ExitStack, signing: SigningKey | None) -> Config:
        """Start the deadline, enter credentials and signing; return the ``-c`` settings for commits."""
        self.clone.deadline = time.monotonic() + self.total_timeout_s
        prune(self.worktree.parent, self.worktree, self.cache_limits)
        env = {"GIT_CEILING_DIRECTORIES": str(self.worktree.parent.resolve())}
        if "GIT_SSH_COMMAND" not in os.environ:
            env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
        secrets: list[str] = []
        config: Config = (("user.name", self.author[0]), ("user.email", self.author[1]))
        if self.auth is not None:
            env.update(stack.enter_context(self.auth))
            secrets.extend(self.auth.secrets)
        if signing is None:
            config = (*config, ("commit.gpgsign", "false"))
        else:
            try:
                session = stack.enter_context(CommitSigning.prepare(signing))
            except CredentialsError as exc:
                raise WriteBackError(f"commit signing key unusable: {exc}") from exc
            env.update(session.env)
            secrets.extend(session.secrets)
            config = (*config, ("commit.gpgsign", "true"), *session.config)
        self.clone.env, self.clone.secrets = env, tuple(secrets)
        return config

    async def _attempt_until_pushed(
        self,
        intents: list[Intent],
        apply: ApplyIntent,
        config: Config,
        subject: Callable[[Sequence[Intent]], str],
        max_attempts: int,
    ) -> WriteBackResult:
        last = ""
        unpushed: _Unpushed | None = None
        for attempt in range(1, max_attempts + 1):
            try:
                result = await asyncio.to_thread(self._attempt, intents, apply, config, subject, unpushed)
            except _PushRejected as rejected:
                last, unpushed = str(rejected), rejected.unpushed
                if attempt < max_attempts:
                    await asyncio.sleep(
                        random.uniform(0, min(self.retry_cap_s, self.retry_base_s * 2**attempt))
                    )
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

    def _attempt(
        self,
        intents: list[Intent],
        apply: ApplyIntent,
        config: Config,
        subject: Callable[[Sequence[Intent]], str],
        unpushed: _Unpushed | None,
    ) -> WriteBackResult:
        clone = self.clone
        with clone.locked():
            clone.ensure()
            tip = clone.fetch()
            if self._history is not None:  # once, against the first tip fetched
                self._history_check, self._history = run_request(clone, tip, self._history), None
            if unpushed is not None:
                replayed = self._replay(unpushed, tip, config)
                if replayed is not None:
                    return self._push(replayed)
            clone.reset_to(tip)
            return self._apply_and_push(intents, apply, config, subject, tip)

    def _replay(self, unpushed: _Unpushed, tip: str, config: Config) -> _Unpushed | None:
        """Rebase the rejected batch onto ``tip`` when re-applying would change nothing."""
        clone = self.clone
        if tip == unpushed.base:
            return unpushed  # lost a ref-lock race on an unchanged branch: push the same commit
        if not clone.is_ancestor(unpushed.base, tip):
            return None  # the branch was rewritten: a 3-way merge would bring back what it dropped
        if clone.find_applied(unpushed.committed, f"{unpushed.base}..{tip}"):
            return None
        if _touches(clone.changed_between(unpushed.base, tip), unpushed.files, unpushed.scopes):
            return None
        sign = dict(config)["commit.gpgsign"] == "true"
        commit = clone.replay_onto(tip, unpushed.commit, unpushed.message, config, sign)
        if commit is None:
            return None
        result = replace(unpushed.result, commit=commit, applied=dict(unpushed.result.applied))
        result.applied.update({i: commit for i in unpushed.committed})
        return replace(unpushed, base=tip, commit=commit, result=result)

    def _apply_and_push(
        self,
        intents: list[Intent],
        apply: ApplyIntent,
        config: Config,
        subject: Callable[[Sequence[Intent]], str],
        base: str,
    ) -> WriteBackResult:
        clone = self.clone
        result = WriteBackResult(commit=None)
        found = clone.find_applied([i.id for i in intents], "HEAD")
        edits: dict[str, list[str]] = {}  # intent id -> files it changed
        kept: dict[str, bytes | None] = {}  # content of every successful edit so far
        for intent in intents:
            if intent.id in found:
                result.applied[intent.id] = found[intent.id]
                result.already_applied.append(intent.id)
                continue
            try:
                edits[intent.id] = self.apply_one(intent, apply, kept)
            except Exception as exc:
                result.failed[intent.id] = clone.redact(f"{type(exc).__name__}: {exc}")
                clone.restore(kept)
        changed = clone.stage(sorted({f for files in edits.values() for f in files}))
        to_commit = [i for i in intents if i.id in edits and changed.intersection(edits[i.id])]
        for intent in intents:
            if intent.id in edits and intent not in to_commit:
                result.applied[intent.id] = base
                result.unchanged.append(intent.id)
        if not to_commit:
            return result
        head, _, body = subject(to_commit).partition("\n")  # the subject line, then the body
        message = build_message(head, [i.trailer_block() for i in to_commit], body)
        commit = clone.commit(message, config, sign=dict(config)["commit.gpgsign"] == "true")
        result.commit = commit
        result.applied.update({i.id: commit for i in to_commit})
        return self._push(
            _Unpushed(
                base=base,
                commit=commit,
                message=message,
                files=frozenset(f for i in to_commit for f in edits[i.id]),
                scopes=tuple(_scope(i.path) for i in to_commit),
                committed=tuple(i.id for i in to_commit),
                result=result,
            )
        )

    def _push(self, unpushed: _Unpushed) -> WriteBackResult:
        rejection = self.clone.push(unpushed.commit)
        if rejection is not None:
            raise _PushRejected(rejection, unpushed)
        return unpushed.result

    def apply_one(self, intent: Intent, apply: ApplyIntent, kept: dict[str, bytes | None]) -> list[str]:
        """Run ``apply`` for one intent; remember the content it wrote (to survive a later failure)."""
        root = self.worktree.resolve()
        paths: list[str] = []
        for reported in apply(self.worktree, intent):
            full = (reported if reported.is_absolute() else root / reported).resolve()
            if not full.is_relative_to(root) or full == root or ".git" in full.relative_to(root).parts:
                raise ValueError(f"apply returned a path outside the worktree: {reported}")
            paths.append(full.relative_to(root).as_posix())
            if not full.is_dir():
                kept[paths[-1]] = full.read_bytes() if full.is_file() else None
        if links := self.clone.committed_symlinks(paths):
            raise ValueError(f"refusing to edit files Git holds as symbolic links: {', '.join(links)}")
        return paths
