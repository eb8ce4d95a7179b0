"""The cached working clone behind a write-back: every git command the worker runs.

Invariants:
- Only the git CLI is used, through :func:`controller.gitops.plumbing.gitproc.run_git` (hermetic
  configuration, its own process group, killed as a whole on timeout). Every call runs with
  ``-C <clone>``: network commands (fetch, push) get ``timeout_s``, local ones at least
  :data:`LOCAL_TIMEOUT_FLOOR_S`, and no call outlives :attr:`WorkingClone.deadline` (the total
  deadline of the write-back it belongs to).
- Branch names, URLs and paths follow ``--`` or an option that takes them as its value, so a
  name that looks like an option is never parsed as one.
- The clone has ``core.symlinks=false`` in its own config (and on every command line): a
  committed symlink is checked out as a small plain file, never followed. A cached clone made
  without it is rebuilt.
- The environment is set per call: prompts are off, repository discovery never climbs above
  the cache directory, and credentials arrive only through the environment prepared by
  :class:`~controller.gitops.plumbing.credentials.GitAuth`.
- Callers hold :meth:`WorkingClone.locked` (an ``flock`` on ``<clone>.lock``) around any
  sequence of commands; while it is held, lock files left in ``.git`` by a killed git are
  stale and removed.
- Every message leaving this module went through :meth:`WorkingClone.redact`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from controller.errors import TemporaryError
from controller.gitops.plumbing.credentials import redact
from controller.gitops.plumbing.gitproc import ProcessTimeout, run_git
from controller.gitops.workflow.trailers import intent_grep_pattern, intent_ids

__all__ = ["LOCAL_TIMEOUT_FLOOR_S", "WorkingClone", "WriteBackError"]

LOCAL_TIMEOUT_FLOOR_S = 60.0
"""Local git commands get ``max(timeout_s, LOCAL_TIMEOUT_FLOOR_S)``: big repositories are slow."""

RETRIABLE_PUSH_MARKERS = (
    "non-fast-forward",
    "fetch first",
    "stale info",
    "incorrect old value",  # GitLab, when the branch moved during the push (Kargo#5286)
    "cannot lock ref",
    "failed to update ref",
)
_STALE_LOCKS = ("index.lock", "HEAD.lock", "packed-refs.lock", "config.lock", "shallow.lock")

Config = Sequence[tuple[str, str]]


class WriteBackError(TemporaryError):
    """A write-back failed (temporary: the intent stays pending). ``retriable`` says whether
    trying again soon may succeed."""

    def __init__(
        self, message: str, *, retriable: bool = False, attempts: int = 0, timed_out: bool = False
    ) -> None:
        super().__init__(message)
        self.retriable = retriable
        self.attempts = attempts
        self.timed_out = timed_out
        """A git command hit its deadline (the remote hangs or is too slow)."""


class WorkingClone:
    """One branch of one remote, checked out in ``worktree``."""

    def __init__(self, url: str, branch: str, worktree: Path, timeout_s: float) -> None:
        self.url = url
        self.branch = branch
        self.worktree = worktree
        self.timeout_s = timeout_s
        self.tracking = f"refs/remotes/origin/{branch}"
        self.env: dict[str, str] = {}
        self.secrets: tuple[str, ...] = ()
        self.deadline: float | None = None
        """``time.monotonic()`` value no git call may outlive (None: per-call timeouts only)."""
        self._validated = False

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    # -- running git --------------------------------------------------------------------

    def run(self, *args: str, config: Config = ()) -> str:
        """Run a local git command; raise a non-retriable :class:`WriteBackError` on failure."""
        status, text = self.run_status(*args, config=config)
        if status != 0:
            raise WriteBackError(self.redact(f"git {args[0]} failed: {text}"))
        return text

    def run_status(self, *args: str, network: bool = False, config: Config = ()) -> tuple[int, str]:
        """Run git; return (exit status, stdout + stderr). A timeout raises (retriable)."""
        timeout = self.timeout_s if network else max(self.timeout_s, LOCAL_TIMEOUT_FLOOR_S)
        if self.deadline is not None:
            timeout = min(timeout, round(self.deadline - time.monotonic(), 3))
        try:
            done = run_git(["-C", str(self.worktree), *args], timeout_s=timeout, env=self.env, config=config)
        except ProcessTimeout:
            raise WriteBackError(
                self.redact(f"git {args[0]} timed out after {max(timeout, 0):g}s ({self.url})"),
                retriable=True,
                timed_out=True,
            ) from None
        except OSError as exc:
            raise WriteBackError(f"git could not be started: {exc}", retriable=True) from exc
        return done.status, done.output

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive use of the clone across threads, event loops and processes."""
        self.worktree.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.worktree.with_name(self.worktree.name + ".lock")
        deadline = time.monotonic() + max(LOCAL_TIMEOUT_FLOOR_S, 4 * self.timeout_s)
        if self.deadline is not None:
            deadline = min(deadline, self.deadline)
        with open(lock_path, "a+b") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise WriteBackError(f"clone {self.worktree} stayed locked", retriable=True) from None
                    time.sleep(0.05)
            os.utime(lock_path)  # when the clone was last used: the cache bound evicts by it
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- clone lifecycle ------------------------------------------------------------------

    def ensure(self) -> None:
        """Make ``worktree`` a usable clone: reuse a valid one, rebuild a broken one."""
        git_dir = self.worktree / ".git"
        if git_dir.is_dir() and (self._validated or self._reusable()):
            self._remove_stale_locks(git_dir)
            if not self._validated:
                self.run("remote", "set-url", "--", "origin", self.url)
                self._validated = True
            return
        shutil.rmtree(self.worktree, ignore_errors=True)
        self.worktree.mkdir(parents=True)
        self.run("init", "--quiet")
        self.run("remote", "add", "--", "origin", self.url)
        no_hooks = git_dir / "gitcanary-no-hooks"
        no_hooks.mkdir()
        for key, value in (
            ("core.autocrlf", "false"),
            ("core.symlinks", "false"),
            ("gc.autoDetach", "false"),
            ("core.hooksPath", str(no_hooks)),
        ):
            self.run("config", key, value)
        self._validated = True

    def _reusable(self) -> bool:
        """A valid clone whose own config checks symlinks out as plain files."""
        if self.run_status("rev-parse", "--git-dir")[0] != 0:
            return False
        status, value = self.run_status("config", "--local", "--get", "core.symlinks")
        return status == 0 and value.strip() == "false"

    @staticmethod
    def _remove_stale_locks(git_dir: Path) -> None:
        for name in _STALE_LOCKS:
            (git_dir / name).unlink(missing_ok=True)
        for lock in (git_dir / "refs").rglob("*.lock"):
            lock.unlink(missing_ok=True)

    def fetch(self) -> str:
        """Fetch the branch into ``origin/<branch>``; return its SHA."""
        refspec = f"+refs/heads/{self.branch}:{self.tracking}"
        status, text = self.run_status("fetch", "--no-tags", "--quiet", "--", "origin", refspec, network=True)
        if status != 0:
            missing = "couldn't find remote ref" in text
            raise WriteBackError(self.redact(f"git fetch {self.url} failed: {text}"), retriable=not missing)
        return self.run("rev-parse", "--verify", "--end-of-options", self.tracking).strip()

    def fetch_branch(self, branch: str) -> str | None:
        """Fetch another branch of the remote into ``origin/<branch>``; None when it does not exist."""
        refspec = f"+refs/heads/{branch}:refs/remotes/origin/{branch}"
        status, text = self.run_status("fetch", "--no-tags", "--quiet", "--", "origin", refspec, network=True)
        if status != 0:
            if "couldn't find remote ref" in text:
                return None
            raise WriteBackError(self.redact(f"git fetch {self.url} {branch} failed: {text}"), retriable=True)
        return self.run("rev-parse", "--verify", "--end-of-options", f"refs/remotes/origin/{branch}").strip()

    def reset_to(self, commit: str) -> None:
        """Worktree, index and local branch become exactly ``commit``; untracked files go."""
        self.run("checkout", "--quiet", "--force", "-B", self.branch, commit, "--")
        self.run("clean", "-ffdxq")

    # -- history --------------------------------------------------------------------------

    def find_applied(self, ids: Sequence[str], revisions: str) -> dict[str, str]:
        """Intent id -> SHA of the oldest commit in ``revisions`` whose trailers carry it."""
        if not ids:
            return {}
        greps = [f"--grep={intent_grep_pattern(i)}" for i in ids]
        log = self.run("log", "--fixed-strings", *greps, "--format=%H%x00%B%x1e", revisions, "--")
        wanted = set(ids)
        found: dict[str, str] = {}
        for record in log.split("\x1e"):
            sha, sep, message = record.strip("\n").partition("\x00")
            if sep:
                # git log lists newest first: the last assignment is the oldest commit.
                found.update({i: sha for i in intent_ids(message) if i in wanted})
        return found

    def is_ancestor(self, commit: str, tip: str) -> bool:
        """Whether ``tip`` contains ``commit`` (False too when the clone lacks either)."""
        return self.run_status("merge-base", "--is-ancestor", commit, tip)[0] == 0

    def changed_between(self, old: str, new: str) -> list[str]:
        out = self.run("diff", "--name-only", "--no-renames", "-z", old, new, "--")
        return [name for name in out.split("\0") if name]

    # -- edits ----------------------------------------------------------------------------

    def committed_symlinks(self, paths: Sequence[str]) -> list[str]:
        """Those of ``paths`` that the index holds as symbolic links (mode 120000).

        With ``core.symlinks=false`` such a path is checked out as a small plain file holding
        the link target; an edit written into it would be committed as a new link target.
        """
        if not paths:
            return []
        out = self.run("ls-files", "--stage", "-z", "--", *paths)
        entries = (entry.split("\t", 1) for entry in out.split("\0") if "\t" in entry)
        return sorted({path for meta, path in entries if meta.startswith("120000 ")})

    def stage(self, paths: Sequence[str]) -> set[str]:
        """``git add`` the edited files; return those that really differ from HEAD."""
        if not paths:
            return set()
        self.run("add", "--all", "--", *paths)
        staged = self.run("diff", "--cached", "--name-only", "--no-renames", "-z", "--")
        return {name for name in staged.split("\0") if name}

    def restore(self, kept: Mapping[str, bytes | None]) -> None:
        """Back to HEAD, then rewrite ``kept`` (path -> content, None = deleted)."""
        self.run("checkout-index", "--all", "--force")
        self.run("clean", "-ffdxq")
        for path, content in kept.items():
            full = self.worktree / path
            if content is None:
                full.unlink(missing_ok=True)
            else:
                full.parent.mkdir(parents=True, exist_ok=True)
                full.write_bytes(content)

    def commit(self, message: str, config: Config, sign: bool) -> str:
        message_file = self.worktree / ".git" / "GITCANARY_COMMIT_MSG"
        message_file.write_text(message, encoding="utf-8")
        args = ["commit", "--quiet", "--no-verify", "--cleanup=whitespace", f"--file={message_file}"]
        self.run(*args, *(["--gpg-sign"] if sign else []), config=config)
        return self.run("rev-parse", "--verify", "HEAD").strip()

    def replay_onto(self, tip: str, commit: str, message: str, config: Config, sign: bool) -> str | None:
        """A new commit with parent ``tip`` and ``commit``'s changes (a 3-way merge of trees,
        no worktree involved); None when they conflict."""
        status, out = self.run_status(
            "merge-tree", "--write-tree", "--no-messages", "--end-of-options", tip, commit
        )
        tree = out.split("\n", 1)[0].strip()
        if status != 0 or not tree:
            return None
        message_file = self.worktree / ".git" / "GITCANARY_COMMIT_MSG"
        message_file.write_text(message, encoding="utf-8")
        args = ["commit-tree", tree, "-p", tip, "-F", str(message_file), *(["-S"] if sign else [])]
        return self.run(*args, config=config).strip()

    def push_new_branch(self, commit: str, branch: str) -> str | None:
        """Create ``branch`` on the remote at ``commit``; never moves an existing branch.

        None when created; the rejection message when the branch already exists. Any other
        failure raises.
        """
        lease = f"--force-with-lease=refs/heads/{branch}:"  # empty expectation: must not exist
        return self._push(commit, branch, (lease,), (*RETRIABLE_PUSH_MARKERS, "already exists"))

    def push(self, commit: str = "HEAD") -> str | None:
        """Push ``commit`` to the branch. None when pushed; the message when the branch moved.

        Any other rejection (hooks, permissions, protected branch) raises.
        """
        return self._push(commit, self.branch, (), RETRIABLE_PUSH_MARKERS)

    def _push(self, commit: str, branch: str, options: Sequence[str], answers: Sequence[str]) -> str | None:
        """None when pushed; the redacted rejection when it names one of ``answers``; else raise."""
        status, text = self.run_status(
            "push",
            "--porcelain",
            "--no-verify",
            *options,
            "--",
            "origin",
            f"{commit}:refs/heads/{branch}",
            network=True,
        )
        if status == 0:
            return None
        message = self.redact(text)
        if any(marker in message.lower() for marker in answers):
            return message
        raise WriteBackError(f"git push to {self.url} {branch} failed: {message}")
