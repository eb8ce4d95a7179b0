"""Check applied decisions against the branch outside a write-back (nothing pending).

:func:`check_branch` holds the repository lock and the clone's ``flock`` like a write-back,
fetches the branch (or, when any check fetched it less than ``fetched_within_s`` ago, reads the
remote-tracking ref: many Canaries on one branch cost one fetch per interval), and runs
:func:`~controller.gitops.plumbing.history.run_request`. The worktree is not touched.
"""

from __future__ import annotations

import asyncio
import time

from controller.gitops.plumbing.history import HistoryCheck, HistoryRequest, run_request
from controller.gitops.plumbing.repo import WriteBackRepo

__all__ = ["check_branch"]

_FETCHED: dict[tuple[str, str], float] = {}
"""(URL, branch) -> ``time.monotonic()`` of the last fetch made by a check."""


def _tip(repo: WriteBackRepo, fetched_within_s: float) -> str:
    clone = repo.clone
    clone.ensure()
    key = (repo.url, repo.branch)
    last = _FETCHED.get(key)
    if last is not None and time.monotonic() - last < fetched_within_s:
        status, out = clone.run_status("rev-parse", "--verify", "--quiet", "--end-of-options", clone.tracking)
        if status == 0 and out.strip():
            return out.strip()
    tip = clone.fetch()
    _FETCHED[key] = time.monotonic()
    return tip


def _check(repo: WriteBackRepo, request: HistoryRequest, fetched_within_s: float) -> HistoryCheck | None:
    with repo.clone.locked():
        return run_request(repo.clone, _tip(repo, fetched_within_s), request)


async def check_branch(
    repo: WriteBackRepo, request: HistoryRequest, *, fetched_within_s: float = 0.0
) -> HistoryCheck | None:
    """The check of ``request`` against the branch tip; None when the tip did not move.

    Raises :class:`~controller.gitops.plumbing.clone.WriteBackError` (fetch failed or timed out)."""
    async with repo.session(None):
        return await asyncio.to_thread(_check, repo, request, fetched_within_s)
