"""Apply a Canary's pending write-back intents to its Git repository, exactly once.

Flow for one Canary (run by the per-repository task of :mod:`controller.gitops.workflow.writeback_queue`,
never inside a Canary's analysis loop, after a tick left intents pending):
1. resolve the repository, branch and path from ``spec.gitops`` and Flux (``controller.flux.correlation``);
2. read the GitRepository's credentials Secret (HTTPS basic/bearer, or SSH identity);
3. ``WriteBackRepo.apply_intents`` fetches, skips intents already in history, edits, commits one
   batch with trailers, and pushes with a bounded retry;
4. the intents move from ``status.gitops.pending`` to ``applied`` with their commit SHA, and an
   Event reports the commit; Flux is asked to reconcile at once (``spec.gitops.reconcileFlux``).

After a ``promotion`` intent is done, one ``promoteTo`` intent per ``spec.gitops.promoteTo`` entry
is queued in ``pending`` (:mod:`controller.gitops.workflow.promote_to`); a later call commits or proposes
them. :func:`open_repository` is the shared "reach this Canary's repository" step (also used by
promotion approval, :mod:`controller.gitops.workflow.approval_gate`).

A failure keeps the intents pending (so a later call retries them), records a Warning Event and
``status.gitops.lastWriteBack`` with a redacted message. A remote that does not answer before the
git deadline gets the Event reason ``WriteBackTimedOut``. Before any Git I/O, intents pending for
too long (or beyond the count) expire with a ``WriteBackExpired`` Event
(:mod:`controller.gitops.workflow.intent_expiry`). Nothing here logs credentials.
:func:`repository_key` names the repository a Canary writes to from Kubernetes objects only (no
git), so the queue can pick its task without touching the remote.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from controller.api.conditions import set_condition
from controller.api.timestamps import rfc3339
from controller.errors import FAILURES
from controller.events import record_event
from controller.flux.correlation import GitSource, request_reconcile, resolve_source
from controller.gitops.edits.apply import EditPolicy, apply_intent
from controller.gitops.edits.worktree_files import SkippedFile
from controller.gitops.plumbing.credentials import CredentialsError, GitAuth, SigningKey
from controller.gitops.plumbing.repo import WriteBackError, WriteBackRepo, WriteBackResult, default_subject
from controller.gitops.workflow import history_check
from controller.gitops.workflow.canary_status import patch_status
from controller.gitops.workflow.commit_message import CommitMessage, with_condition
from controller.gitops.workflow.intent_expiry import PendingLimits, describe, split_expired
from controller.gitops.workflow.intents import Intent
from controller.gitops.workflow.promote_to import DeliveryContext, deliver, queue_promote_to, split_intents
from controller.kube import Kube, KubeError

log = logging.getLogger(__name__)
Obj = dict[str, Any]


APPLIED_HISTORY = 20


def cache_dir() -> Path:
    base = os.environ.get("GITCANARY_GIT_CACHE") or str(Path.home() / ".cache" / "gitcanary" / "git")
    return Path(base)


def _edit_policy(gitops: Obj) -> EditPolicy:
    on_rollback, on_promotion = gitops.get("onRollback") or {}, gitops.get("onPromotion") or {}
    return EditPolicy(
        revert=on_rollback.get("revert", True),
        quarantine=on_rollback.get("quarantine", True),
        pin=on_promotion.get("pin", True),
        record=on_promotion.get("record", True),
        revert_inconclusive=(gitops.get("onInconclusive") or {}).get("revert", True),
    )


def _intent(raw: Obj, canary_key: str, source: GitSource) -> Intent:
    created = raw.get("createdAt") or ""
    try:
        created_at = dt.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        created_at = 0.0
    return Intent(
        id=raw["id"],
        kind=raw["kind"],
        canary=canary_key,
        repository=source.url,
        branch=source.branch,
        path=raw.get("path") or source.path,
        image=raw.get("image") or "",
        previous_image=raw.get("previousImage") or "",
        result=raw.get("result") or raw["kind"],
        analysis=raw.get("analysis") or "",
        source_revision=source.revision,
        created_at=created_at,
    )


async def _secret_data(kube: Kube, namespace: str, name: str) -> dict[str, str]:
    secret = await kube.get("v1", "Secret", namespace, name)
    if secret is None:
        raise CredentialsError(f"secret {namespace}/{name} not found")
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


async def _signing(kube: Kube, namespace: str, gitops: Obj) -> SigningKey | None:
    ref = ((gitops.get("commit") or {}).get("signingKey") or {}).get("secretRef") or {}
    if not ref.get("name"):
        return None
    return SigningKey.from_secret_data(await _secret_data(kube, namespace, ref["name"]))


def _author(gitops: Obj) -> tuple[str, str]:
    author = (gitops.get("commit") or {}).get("author") or {}
    return author.get("name") or "gitcanary", author.get("email") or "gitcanary@users.noreply.gitcanary.io"


def status_after(gitops_status: Obj, result: WriteBackResult, intents: list[Intent], now: float) -> Obj:
    done = {i.id: i for i in intents if i.id in result.applied}
    pending = [p for p in gitops_status.get("pending") or [] if p["id"] not in done]
    applied = [a for a in gitops_status.get("applied") or [] if a["id"] not in done]
    applied += [{"id": i, "commit": result.applied[i], "appliedAt": rfc3339(now)} for i in done]
    out: Obj = {"pending": pending, "applied": applied[-APPLIED_HISTORY:]}
    if done:
        last = list(done.values())[-1]
        out["lastWriteBack"] = {
            "id": last.id,
            "commit": result.applied[last.id],
            "result": last.result,
            "message": f"{last.result} {last.canary}: {last.previous_image or '-'} -> {last.image}",
            "time": rfc3339(now),
        }
    return out


@dataclass(frozen=True)
class CanaryRepository:
    """The Canary's Git source, resolved, with what it takes to write to it."""

    source: GitSource
    repo: WriteBackRepo
    auth: GitAuth | None
    signing: SigningKey | None


async def _resolve(kube: Kube, canary: Obj) -> GitSource:
    """The Canary's Git source (``spec.gitops`` over Flux), from Kubernetes objects only.

    The worker reads the spec as written, not through ``api.parsed``: a decision already taken
    must reach Git even when the spec became invalid after it (``spec.gitops`` is then validated
    alone, by ``flux.correlation``)."""
    meta, spec = canary["metadata"], canary["spec"]
    target_ref = spec["targetRef"]
    target = await kube.get(
        target_ref.get("apiVersion", "apps/v1"), target_ref["kind"], meta["namespace"], target_ref["name"]
    )
    return await resolve_source(
        kube, canary, target or {"kind": target_ref["kind"], "metadata": {"name": target_ref["name"]}}
    )


async def repository_key(kube: Kube, canary: Obj) -> tuple[str, str]:
    """(URL, branch) the Canary writes back to; reads no Secret and runs no git.

    Raises SourceNotFound, KubeError or ValueError, like :func:`open_repository`.
    """
    source = await _resolve(kube, canary)
    return source.url, source.branch


async def open_repository(kube: Kube, canary: Obj) -> CanaryRepository:
    """Resolve the source (``spec.gitops`` over Flux), read its credentials and signing key.

    Raises SourceNotFound, CredentialsError, WriteBackError, KubeError or ValueError.
    """
    meta, spec = canary["metadata"], canary["spec"]
    gitops = spec.get("gitops") or {}
    source = await _resolve(kube, canary)
    auth = None
    if source.secret_name:
        auth = GitAuth.from_secret_data(
            await _secret_data(kube, source.namespace, source.secret_name), source.url
        )
    repo = WriteBackRepo(source.url, source.branch, cache_dir(), auth, author=_author(gitops))
    return CanaryRepository(source, repo, auth, await _signing(kube, meta["namespace"], gitops))


def _queue_promote_to(
    new_status: Obj, pending: list[Obj], done: set[str], gitops: Obj, key: str, now: float
) -> None:
    """Queue the ``promoteTo`` intents of every promotion that is now done (see promote_to)."""
    for raw in pending:
        if raw.get("kind") == "promotion" and raw["id"] in done:
            known = [*new_status["pending"], *new_status["applied"]]
            new_status["pending"] += queue_promote_to(gitops, key, raw, known, now)


async def _expire(kube: Kube, canary: Obj, pending: list[Obj], now: float) -> list[Obj]:
    """Drop the intents pending too long or beyond the count (see intent_expiry); return the rest.

    The patch is conditional on the Canary read by this call: when a tick changed it meanwhile,
    nothing expires now (the next call sees the tick's list and tries again)."""
    kept, expired = split_expired(pending, now, PendingLimits.from_env())
    if not expired:
        return pending
    meta = canary["metadata"]
    lines = [describe(entry, now) for entry in expired]
    patch = {
        "pending": kept,
        "lastWriteBack": {"result": "expired", "message": "; ".join(lines)[:1000], "time": rfc3339(now)},
    }
    try:
        await patch_status(kube, canary, {"gitops": patch}, resource_version=meta.get("resourceVersion"))
    except KubeError as exc:
        log.info("%s/%s: pending intents not expired this time: %s", meta["namespace"], meta["name"], exc)
        return pending
    for line in lines:
        await record_event(kube, canary, "Warning", "WriteBackExpired", line)
    return kept


async def write_back(kube: Kube, canary: Obj, now: float | None = None) -> WriteBackResult | None:
    """Apply the Canary's pending intents; return the result, or None when nothing was pending.

    A failure of the whole write-back is reported in the result's ``error`` (and in an Event and
    ``status.gitops.lastWriteBack``), never raised: the intents stay pending for the next call."""
    now = time.time() if now is None else now
    meta, spec = canary["metadata"], canary["spec"]
    status = canary.get("status") or {}
    gitops_status = status.get("gitops") or {}
    pending = gitops_status.get("pending") or []
    if not pending:
        return None
    pending = await _expire(kube, canary, pending, now)
    if not pending:
        return None
    gitops_status = {**gitops_status, "pending": pending}
    gitops = spec.get("gitops") or {}
    key = f"{meta['namespace']}/{meta['name']}"
    commit_text = CommitMessage.for_gitops(gitops, default_subject)
    try:
        opened = await open_repository(kube, canary)
        source = opened.source
        intents = [_intent(raw, key, source) for raw in pending]
        local, elsewhere = split_intents(intents, gitops, source.branch)
        result = WriteBackResult(commit=None)
        notes: list[str] = []
        skipped: list[SkippedFile] = []
        history = history_check.request_for(source.url, source.branch, key, gitops_status)
        if local:
            apply = partial(_apply, policy=_edit_policy(gitops), notes=notes, skipped=skipped, source=source)
            result = await opened.repo.apply_intents(
                local,
                commit_text.collecting(apply),
                signing=opened.signing,
                subject=commit_text,
                history=history,
            )
        promoted_elsewhere = await deliver(
            DeliveryContext(
                kube,
                meta["namespace"],
                gitops,
                source.url,
                source.branch,
                cache_dir(),
                opened.auth,
                _author(gitops),
                opened.signing,
                _edit_policy(gitops),
                commit_text,
            ),
            elsewhere,
        )
        result.applied.update(promoted_elsewhere.applied)
        result.failed.update(promoted_elsewhere.failed)
    except FAILURES as exc:  # source, credentials, git, forge, Kubernetes, a malformed spec
        message = f"write-back failed: {exc}"
        timed_out = isinstance(exc, WriteBackError) and exc.timed_out
        reason = "WriteBackTimedOut" if timed_out else "WriteBackFailed"
        await record_event(kube, canary, "Warning", reason, message)
        patch = {"lastWriteBack": {"result": "error", "message": message[:1000], "time": rfc3339(now)}}
        await patch_status(kube, canary, {"gitops": patch})
        return WriteBackResult(commit=None, error=message)
    new_status = status_after(gitops_status, result, intents, now)
    if promoted_elsewhere.notes and new_status.get("lastWriteBack"):
        note = "; ".join(promoted_elsewhere.notes.values())
        new_status["lastWriteBack"]["message"] = f"{new_status['lastWriteBack']['message']} ({note})"[:1000]
    _queue_promote_to(new_status, pending, set(result.applied), gitops, key, now)
    new_status.update(source.to_status())
    await patch_status(kube, canary, {"gitops": new_status})
    if (commit_condition := commit_text.condition(now)) is not None:
        # the template's outcome; read back below when the Markers condition is written
        status = {**status, "conditions": with_condition(status.get("conditions") or [], commit_condition)}
        await patch_status(kube, canary, {"conditions": status["conditions"]})
        if commit_text.error is not None:
            await record_event(kube, canary, "Warning", "TemplateError", commit_text.error)
    if result.applied:
        conditions = markers_conditions(status.get("conditions") or [], notes, now)
        await patch_status(kube, canary, {"conditions": conditions})
        status = {**status, "conditions": conditions}
        for note in dict.fromkeys(notes):
            await record_event(kube, canary, "Warning", "NoMarkers", note)
    if history is not None and result.history is not None:
        applied_now = any(i.id in result.applied for i in local)
        reported = {**canary, "status": status}  # its resourceVersion is stale: the report reads again
        if await history_check.report(
            kube, reported, result.history, source.branch, now, applied_now=applied_now
        ):
            history_check.remember(source.url, source.branch, key, history, result.history)
    for item in skipped:
        message = f"write-back skipped {item.describe(opened.repo.worktree)}"
        await record_event(kube, canary, "Warning", "FileSkipped", message)
    for intent_id, message in result.failed.items():
        await record_event(kube, canary, "Warning", "WriteBackFailed", f"intent {intent_id}: {message}")
    if result.applied:
        last = new_status.get("lastWriteBack") or {}
        await record_event(
            kube,
            canary,
            "Normal",
            "WriteBack",
            f"Git write-back {last.get('result')} committed {str(last.get('commit'))[:12]} to {source.branch}",
        )
        if gitops.get("reconcileFlux", True) and (source.kustomization or source.helm_release):
            try:
                await request_reconcile(kube, source)
            except KubeError as exc:
                log.warning("%s: could not annotate Flux objects for reconcile: %s", key, exc)
    return result


def _apply(
    worktree: Path,
    intent: Intent,
    *,
    policy: EditPolicy,
    notes: list[str],
    skipped: list[SkippedFile],
    source: GitSource,
) -> list[Path]:
    # A HelmRelease's chart directory and values files are searched too (GitSource.also_paths),
    # for the intents written at the source's own path.
    also = source.also_paths if intent.path == source.path else ()
    return apply_intent(worktree, intent, policy, notes, skipped, also)


def markers_conditions(conditions: list[Obj], notes: list[str], now: float) -> list[Obj]:
    """``conditions`` with ``Markers``: False when a write-back found no marker to edit."""
    if not notes:
        return set_condition(
            conditions, "Markers", "True", "MarkersFound", "write-back edited the marked fields", now
        )
    return set_condition(conditions, "Markers", "False", "NoMarkers", "; ".join(dict.fromkeys(notes)), now)
