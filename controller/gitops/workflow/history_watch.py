"""Check a Canary's applied decisions against its branch when nothing is pending.

A write-back checks them after its own fetch (:func:`controller.gitops.workflow.worker.write_back`);
a Canary with nothing pending is checked by :func:`verify_history`, which the write-back queue runs
in the repository's task at most every :func:`check_interval_s` per Canary
(:meth:`controller.gitops.workflow.writeback_queue.WriteBackQueue.check_history`). Checks of
Canaries that share a branch share one fetch per interval
(:func:`controller.gitops.plumbing.branch_check.check_branch`). What is reported, and when, is
:mod:`controller.gitops.workflow.history_check`.

A failure to reach the remote is logged and left to the next check: the write-back path already
reports an unreachable remote with its own Events.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from controller.errors import FAILURES
from controller.gitops.plumbing.branch_check import check_branch
from controller.gitops.plumbing.history import HistoryCheck
from controller.gitops.workflow import history_check
from controller.gitops.workflow.worker import open_repository
from controller.kube import Kube

__all__ = ["DEFAULT_CHECK_INTERVAL_S", "check_interval_s", "verify_history"]

log = logging.getLogger(__name__)
Obj = dict[str, Any]

DEFAULT_CHECK_INTERVAL_S = 60.0


def check_interval_s() -> float:
    """``GITCANARY_HISTORY_CHECK_S`` (seconds, finite and > 0), else 60."""
    raw = os.environ.get("GITCANARY_HISTORY_CHECK_S", "")
    try:
        value = float(raw) if raw else DEFAULT_CHECK_INTERVAL_S
    except ValueError:
        value = DEFAULT_CHECK_INTERVAL_S
    return value if 0 < value < float("inf") else DEFAULT_CHECK_INTERVAL_S


async def verify_history(kube: Kube, canary: Obj, now: float | None = None) -> HistoryCheck | None:
    """Fetch (or reuse a fetch younger than the interval), check, report; None when not checked."""
    now = time.time() if now is None else now
    meta = canary["metadata"]
    key = f"{meta['namespace']}/{meta['name']}"
    gitops_status = (canary.get("status") or {}).get("gitops") or {}
    try:
        opened = await open_repository(kube, canary)
        source = opened.source
        request = history_check.request_for(source.url, source.branch, key, gitops_status)
        if request is None:
            return None
        check = await check_branch(opened.repo, request, fetched_within_s=check_interval_s())
        if check is None:
            return None
        if await history_check.report(kube, canary, check, source.branch, now):
            history_check.remember(source.url, source.branch, key, request, check)
    except FAILURES as exc:  # source, credentials, git, Kubernetes, a malformed spec
        log.info("%s: applied decisions not checked against the branch this time: %s", key, exc)
        return None
    return check
