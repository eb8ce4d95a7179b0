"""Built-in manual gates: confirm-* and rollback webhooks answered from the Canary's annotations.

Flagger's load tester keeps gate state (``/gate/approve``, ``/gate/halt``, ``/rollback/*``)
in memory, so a restart closes every gate it had opened. gitcanary keeps that state on the
Canary itself, as annotations, so it survives controller restarts and is visible with
``kubectl get canary -o yaml``:

=====================================  ==========================  ===========================
annotation                             answers hooks of type       values
=====================================  ==========================  ===========================
``gitcanary.io/gate-rollout``          confirm-rollout             ``open``, ``open:<rev>``,
``gitcanary.io/gate-traffic``          confirm-traffic-increase    ``closed``
``gitcanary.io/gate-promotion``        confirm-promotion
``gitcanary.io/rollback``              rollback                    ``requested``
=====================================  ==========================  ===========================

A webhook whose ``url`` is ``gitcanary:gate`` (for the three confirm types) or
``gitcanary:rollback`` (for ``type: rollback``) is answered here, in-process, instead of
over HTTP. The CRD's ``url`` is a plain string (no ``format: uri``), so these URLs pass the
schema. Every other webhook is called over HTTP as before.

Invariants:
* ``builtin_gate_outcome`` is pure: the decision depends only on its arguments, and the
  controller passes the annotations of the Canary it fetched at the start of the tick, so a
  gate decision is read fresh every tick and nothing is cached between ticks or processes.
* A confirm gate is closed unless its annotation says ``open`` (Flagger's load-tester
  default); ``open:<rev>`` opens it for revision ``<rev>`` only (the webhook ``checksum``,
  shown in ``status.lastAppliedSpec``); any unrecognised value counts as closed.
* A rollback is requested only by the exact value ``requested``. The controller removes the
  annotation (``ROLLBACK_CONSUMED_PATCH``) when it acts on it, so one request causes at most
  one rollback and a later revision is not rolled back by a stale request.
* A builtin URL used with a hook type it does not serve is a closed gate (or, for rollback,
  no request) with a message naming the mistake; it is never sent over HTTP.
* ``answer_hooks`` keeps Flagger's combination rules across builtin and HTTP hooks of one
  type, in spec order: confirm/pre/post/rollout hooks stop at the first failure, rollback
  hooks stop at the first one that requests a rollback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from controller.api.builtin_hooks import GATE_URL, ROLLBACK_URL, is_builtin_url
from controller.hooks.webhooks import (
    DEFAULT_RETRY_BACKOFF,
    HookOutcome,
    HookType,
    WebhookPayload,
    WebhookSpec,
    run_hooks,
)

__all__ = [
    "GATE_ANNOTATIONS",
    "GATE_KINDS",
    "GATE_URL",
    "ROLLBACK_ANNOTATION",
    "ROLLBACK_CONSUMED_PATCH",
    "ROLLBACK_REQUESTED",
    "ROLLBACK_URL",
    "GateKind",
    "HooksAnswer",
    "answer_hooks",
    "builtin_gate_outcome",
    "gate_value",
    "is_builtin_url",
]


GateKind = Literal["rollout", "traffic", "promotion"]
GATE_KINDS: Final[dict[GateKind, HookType]] = {
    "rollout": "confirm-rollout",
    "traffic": "confirm-traffic-increase",
    "promotion": "confirm-promotion",
}
GATE_ANNOTATIONS: Final[dict[HookType, str]] = {
    "confirm-rollout": "gitcanary.io/gate-rollout",
    "confirm-traffic-increase": "gitcanary.io/gate-traffic",
    "confirm-promotion": "gitcanary.io/gate-promotion",
}
ROLLBACK_ANNOTATION: Final = "gitcanary.io/rollback"
ROLLBACK_REQUESTED: Final = "requested"
ROLLBACK_CONSUMED_PATCH: Final[dict[str, object]] = {"metadata": {"annotations": {ROLLBACK_ANNOTATION: None}}}
"""The merge patch that removes a consumed rollback request (a no-op when already gone)."""

OPEN: Final = "open"
CLOSED: Final = "closed"


def gate_value(open_: bool, revision: str | None = None) -> str:
    """The annotation value for a gate: ``open``, ``open:<revision>`` or ``closed``."""
    if not open_:
        return CLOSED
    return f"{OPEN}:{revision}" if revision else OPEN


def builtin_gate_outcome(
    hook_type: HookType, url: str, annotations: Mapping[str, str], revision: str
) -> HookOutcome | None:
    """Answer a hook with a builtin URL from the Canary's annotations; None for any other URL.

    For confirm types ``ok`` means the gate is open for ``revision``; for ``rollback`` it
    means a rollback is requested (the meaning ``run_hooks`` gives it).
    """
    target = url.strip()
    if target == GATE_URL:
        annotation = GATE_ANNOTATIONS.get(hook_type)
        if annotation is None:
            return _misused(hook_type, target)
        return _confirm_gate(annotation, annotations.get(annotation), revision)
    if target == ROLLBACK_URL:
        if hook_type != "rollback":
            return _misused(hook_type, target)
        value = (annotations.get(ROLLBACK_ANNOTATION) or "").strip()
        if value == ROLLBACK_REQUESTED:
            return HookOutcome(True, f"rollback requested by annotation {ROLLBACK_ANNOTATION}")
        return HookOutcome(False, f"no rollback requested ({ROLLBACK_ANNOTATION} not {ROLLBACK_REQUESTED!r})")
    return None


def _confirm_gate(annotation: str, raw: str | None, revision: str) -> HookOutcome:
    if raw is None:
        return HookOutcome(False, f"gate closed ({annotation} not set)")
    value = raw.strip()
    if value == OPEN:
        return HookOutcome(True, f"gate open ({annotation}={value})")
    if value == CLOSED:
        return HookOutcome(False, f"gate closed ({annotation}={value})")
    state, sep, approved = value.partition(":")
    if state == OPEN and sep and approved:
        if approved == revision:
            return HookOutcome(True, f"gate open for revision {revision} ({annotation})")
        return HookOutcome(False, f"gate open for revision {approved}, not {revision} ({annotation})")
    return HookOutcome(False, f"gate closed ({annotation}={value!r} is not open, open:<rev> or closed)")


def _misused(hook_type: HookType, url: str) -> HookOutcome:
    served = "confirm-rollout, confirm-traffic-increase, confirm-promotion" if url == GATE_URL else "rollback"
    return HookOutcome(False, f"{url} does not answer {hook_type} hooks (only {served})")


@dataclass(frozen=True)
class HooksAnswer:
    """All hooks of one type, combined. ``webhook`` names the deciding hook, or every hook
    (comma-separated) when none decided; ``message`` is the deciding hook's own detail.
    ``consumes_rollback`` is True when a builtin rollback hook requested the rollback, so
    the caller must remove the annotation (``ROLLBACK_CONSUMED_PATCH``)."""

    ok: bool
    message: str = ""
    webhook: str = ""
    consumes_rollback: bool = False
    inconclusive: str = ""
    """Why the deciding hook gave no verdict (see ``HookResult.cause``); empty: it answered."""


async def answer_hooks(
    hooks: Sequence[WebhookSpec],
    hook_type: HookType,
    payload: WebhookPayload,
    *,
    annotations: Mapping[str, str],
    revision: str,
    backoff: float = DEFAULT_RETRY_BACKOFF,
) -> HooksAnswer:
    """Run every hook of ``hook_type`` in spec order: builtin URLs in-process, others over HTTP."""
    selected = [hook for hook in hooks if hook.type == hook_type]
    names = ",".join(hook.name for hook in selected)
    passed: list[str] = []
    for hook in selected:
        builtin = builtin_gate_outcome(hook_type, hook.url, annotations, revision)
        outcome = (
            builtin if builtin is not None else await run_hooks([hook], hook_type, payload, backoff=backoff)
        )
        detail = outcome.results[-1].message if outcome.results and not outcome.ok else outcome.message
        if hook_type == "rollback":
            if outcome.ok:
                return HooksAnswer(True, detail, hook.name, consumes_rollback=builtin is not None)
            continue
        if not outcome.ok:
            cause = outcome.results[-1].cause if outcome.results else ""
            return HooksAnswer(False, detail, hook.name, inconclusive=cause)
        passed.append(detail)
    if hook_type == "rollback":
        return HooksAnswer(False, "no rollback requested", names)
    return HooksAnswer(True, "; ".join(m for m in passed if m), names)
