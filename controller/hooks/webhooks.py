"""Canary webhooks: Flagger's payload, status-code semantics, retries and messages.

Contract (Flagger's):
* Each call is ``POST <url>`` with ``Content-Type: application/json`` and the body
  ``{"name", "namespace", "phase", "checksum", "metadata"}``; ``metadata`` is the
  hook's metadata and is omitted when empty.
* Success means HTTP 200, 201 or 202. Any other status, or a timeout, is a failure whose
  message is a short sanitized fragment of the response body (``body_fragment``: at most
  ``FRAGMENT_CHARS`` printable characters on one line), so Events never echo a response.
* A failure is the hook's verdict only when the hook answered. No answer (unreachable, timed
  out, refused address, answer too large) or a 502/503/504 (a gateway that could not reach it,
  or a hook that is not up) is *inconclusive*: ``HookResult.cause`` names why, and the analysis
  does not take it as "the release is bad" (Flagger's load tester answers 500 for a failed check).
* The default timeout is ``DEFAULT_WEBHOOK_TIMEOUT`` (10s, as in Flagger). It is a total
  deadline per attempt: a hook that trickles its answer fails at the timeout. An answer
  larger than ``DEFAULT_MAX_BYTES`` (1 MiB) is a failure.
* ``retries`` extra attempts (at most ``MAX_RETRIES``) are made, with exponential backoff,
  after a transport error, a timeout, a 429 or a 5xx other than 501 (the conditions under
  which Flagger's retrying HTTP client retries). Other failures are final at once.
* Every call goes through ``controller.outbound``: http and https only, link-local and
  cloud metadata addresses refused (never retried), and the controller's allow-list applied.
* Event hooks (``type: event``) carry ``eventMessage``, ``eventType`` and ``timestamp``
  (Unix milliseconds) in ``metadata``; the hook's own metadata fills in other keys.
* gitcanary adds, for a revision Flux applied, ``sourceRevision`` (``main@sha1:<sha>``) and
  ``introducedBy`` (the commit) to ``metadata`` unless the hook sets those keys itself.

Invariant: the hook URL never appears in a message (it often embeds a token).
Hooks of one type run sequentially and stop at the first failure, like Flagger; gate
state is not kept here, so nothing is lost on restart.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from controller.outbound import (
    DeadlineExceeded,
    OutboundError,
    OutboundResponse,
    ResponseTooLarge,
    TransportFailed,
    URLRefused,
    body_fragment,
    fetch_retrying,
)

__all__ = [
    "DEFAULT_RETRY_BACKOFF",
    "DEFAULT_WEBHOOK_TIMEOUT",
    "HOOK_TYPES",
    "HookOutcome",
    "HookResult",
    "HookType",
    "WebhookPayload",
    "WebhookSpec",
    "call_webhook",
    "event_metadata",
    "run_hooks",
    "send_event",
]

HookType = Literal[
    "confirm-rollout",
    "pre-rollout",
    "rollout",
    "confirm-traffic-increase",
    "confirm-promotion",
    "post-rollout",
    "rollback",
    "event",
]
HOOK_TYPES: Final[tuple[HookType, ...]] = get_args(HookType)

DEFAULT_WEBHOOK_TIMEOUT: Final = 10.0
"""Seconds; Flagger's default when ``timeout`` is unset."""
DEFAULT_RETRY_BACKOFF: Final = 1.0
"""Seconds before the first retry; doubled for each further retry."""
SUCCESS_CODES: Final = frozenset({200, 201, 202})
UNAVAILABLE_CODES: Final = frozenset({502, 503, 504})
"""Answers that say the hook was not reached (or not up): no verdict."""


@dataclass(frozen=True)
class WebhookSpec:
    """One entry of ``spec.analysis.webhooks``. An empty ``type`` means ``rollout``."""

    name: str
    url: str
    type: HookType = "rollout"
    timeout: float = DEFAULT_WEBHOOK_TIMEOUT
    metadata: Mapping[str, str] = field(default_factory=dict)
    retries: int = 0
    mute_alert: bool = False
    disable_tls: bool = False


@dataclass(frozen=True)
class WebhookPayload:
    """The canary facts sent with every hook; the metadata comes from the hook."""

    name: str
    namespace: str
    phase: str
    checksum: str = ""
    source: Mapping[str, str] = field(default_factory=dict)
    """Where the revision came from (``sourceRevision``, ``introducedBy``), added to ``metadata``;
    the hook's own keys win."""

    def body(self, metadata: Mapping[str, str]) -> dict[str, object]:
        """The JSON document Flagger posts, with ``metadata`` omitted when empty."""
        document: dict[str, object] = {
            "name": self.name,
            "namespace": self.namespace,
            "phase": self.phase,
            "checksum": self.checksum,
        }
        merged = {**{k: v for k, v in self.source.items() if v}, **metadata}
        if merged:
            document["metadata"] = merged
        return document


@dataclass(frozen=True)
class HookResult:
    """The outcome of one hook call. ``status_code`` is None when no response came."""

    ok: bool
    status_code: int | None
    message: str
    cause: str = ""
    """Why the hook gave no verdict (``timeout``, ``unreachable``, ``unavailable``,
    ``misconfigured``, ``malformed``); empty when it answered."""


@dataclass(frozen=True)
class HookOutcome:
    """The combined outcome of all hooks of one type.

    For ``rollback`` hooks, ``ok`` means a rollback was requested (some hook answered
    with success); for every other type it means all hooks succeeded.
    """

    ok: bool
    message: str
    results: tuple[HookResult, ...] = ()
    mute_alert: bool = False
    """True when the hook that decided the outcome asks for alerts to be muted."""


def event_metadata(
    hook: WebhookSpec, *, event_message: str, event_type: str, now_ms: int | None = None
) -> dict[str, str]:
    """Metadata of an event hook call: the event fields, then the hook's other keys."""
    stamp = now_ms if now_ms is not None else int(time.time() * 1000)
    metadata = {"eventMessage": event_message, "eventType": event_type, "timestamp": str(stamp)}
    for key, value in hook.metadata.items():
        metadata.setdefault(key, value)
    return metadata


async def call_webhook(
    hook: WebhookSpec,
    payload: WebhookPayload,
    *,
    metadata: Mapping[str, str] | None = None,
    backoff: float = DEFAULT_RETRY_BACKOFF,
) -> HookResult:
    """POST the payload to ``hook.url``; success only on HTTP 200-202.

    ``metadata`` replaces the hook's own metadata in the body (used for event hooks).
    """
    body = payload.body(hook.metadata if metadata is None else metadata)
    timeout = hook.timeout if hook.timeout > 0 else DEFAULT_WEBHOOK_TIMEOUT
    try:
        response = await fetch_retrying(
            "POST",
            hook.url,
            deadline=timeout,
            retries=hook.retries,
            retry_if=_retriable,
            backoff=backoff,
            json_body=body,
            headers={"Content-Type": "application/json"},
            verify=not hook.disable_tls,
        )
    except URLRefused as exc:
        return HookResult(False, None, f"refused: {exc}", "misconfigured")
    except DeadlineExceeded:
        return HookResult(False, None, f"timeout after {timeout:g}s", "timeout")
    except ResponseTooLarge as exc:
        return HookResult(False, None, str(exc), "malformed")
    except OutboundError as exc:
        return HookResult(False, None, str(exc), "unreachable")
    code = response.status_code
    fragment = body_fragment(response.content)
    if code in SUCCESS_CODES:
        return HookResult(True, code, fragment)
    cause = "unavailable" if code in UNAVAILABLE_CODES else ""
    return HookResult(False, code, fragment or f"HTTP {code}", cause)


def _retriable(outcome: OutboundResponse | OutboundError) -> bool:
    """Flagger's retry conditions: transport errors and timeouts, 429, and 5xx except 501."""
    if isinstance(outcome, OutboundResponse):
        code = outcome.status_code
        return code == 429 or (code >= 500 and code != 501)
    return isinstance(outcome, DeadlineExceeded | TransportFailed)


_GATE_WAIT = {
    "confirm-rollout": "waiting for approval",
    "confirm-promotion": "waiting for promotion approval",
    "confirm-traffic-increase": "waiting for traffic increase approval",
}
_PASSED = {
    "confirm-rollout": "Confirm-rollout check {hook} passed",
    "confirm-promotion": "Confirm-promotion check {hook} passed",
    "confirm-traffic-increase": "Confirm-traffic-increase check {hook} passed",
    "pre-rollout": "Pre-rollout check {hook} passed",
    "rollout": "Rollout check {hook} passed",
    "post-rollout": "Post-rollout check {hook} passed",
    "event": "Event hook {hook} delivered",
}


def _failure_text(hook_type: HookType, hook: str, payload: WebhookPayload, error: str) -> str:
    halt = f"Halt {payload.name}.{payload.namespace} advancement"
    if hook_type in _GATE_WAIT:
        return f"{halt} {_GATE_WAIT[hook_type]} {hook}"
    if hook_type == "pre-rollout":
        return f"{halt} pre-rollout check {hook} failed {error}"
    if hook_type == "rollout":
        return f"{halt} external check {hook} failed {error}"
    if hook_type == "post-rollout":
        return f"Post-rollout hook {hook} failed {error}"
    return f"Event hook {hook} failed {error}"


async def run_hooks(
    hooks: Sequence[WebhookSpec],
    hook_type: HookType,
    payload: WebhookPayload,
    *,
    backoff: float = DEFAULT_RETRY_BACKOFF,
) -> HookOutcome:
    """Call every hook of ``hook_type`` in order and combine the results.

    Non-rollback types stop at the first failure (``ok`` False, Flagger's halt message).
    ``rollback`` stops at the first success, which requests a rollback.
    No hooks of the type: ``ok`` True (nothing blocks), or False for ``rollback``.
    """
    selected = [hook for hook in hooks if hook.type == hook_type]
    results: list[HookResult] = []
    passed: list[str] = []
    for hook in selected:
        result = await call_webhook(hook, payload, backoff=backoff)
        results.append(result)
        if hook_type == "rollback":
            if result.ok:
                return HookOutcome(
                    True, f"Rollback check {hook.name} passed", tuple(results), hook.mute_alert
                )
            passed.append(f"Rollback hook {hook.name} not signaling a rollback")
            continue
        if not result.ok:
            message = _failure_text(hook_type, hook.name, payload, result.message)
            return HookOutcome(False, message, tuple(results), hook.mute_alert)
        passed.append(_PASSED[hook_type].format(hook=hook.name))
    return HookOutcome(hook_type != "rollback", "; ".join(passed), tuple(results))


async def send_event(
    hooks: Sequence[WebhookSpec],
    payload: WebhookPayload,
    *,
    event_message: str,
    event_type: str,
    now_ms: int | None = None,
    backoff: float = DEFAULT_RETRY_BACKOFF,
) -> list[HookResult]:
    """Deliver one canary event to every ``event`` hook; failures do not stop the others."""
    results: list[HookResult] = []
    for hook in hooks:
        if hook.type != "event":
            continue
        metadata = event_metadata(hook, event_message=event_message, event_type=event_type, now_ms=now_ms)
        results.append(await call_webhook(hook, payload, metadata=metadata, backoff=backoff))
    return results
