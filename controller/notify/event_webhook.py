"""``--event-webhook``: every Event gitcanary records for a Canary, posted as Flagger posts it.

The body is Flagger's event-webhook payload (``CallEventWebhook`` in ``pkg/controller/webhook.go``)::

    {"name": <canary>, "namespace": <namespace>, "phase": <status.phase>,
     "checksum": <status.lastAppliedSpec>,
     "metadata": {"eventMessage": <message>, "eventType": "Normal"|"Warning",
                  "timestamp": <Unix milliseconds>, "eventReason": <reason>}}

``eventReason`` is a gitcanary addition (Flagger records every Event with reason ``Synced``);
``checksum`` is the revision under analysis, where Flagger hashes its tracked configs and last
applied spec. As in Flagger, a Canary with its own ``type: event`` webhooks does not use the
controller's (those hooks override it), and HTTP 200, 201 and 202 mean delivered.

Delivery never holds up the tick that recorded the Event: ``listener`` only starts a background
task. Each send has a total deadline (``timeout``, Flagger's default webhook timeout of 10 s),
the URL policy and the response cap of ``controller.notify.delivery``, and at most ``attempts``
tries with doubling backoff. Sends run at most ``concurrency`` at once (so Events may arrive out
of order: ``timestamp`` orders them); beyond ``max_pending`` Events waiting, new ones are
dropped and counted. A delivery that still fails (or drops) becomes one Warning Event
``EventWebhookFailed`` on the Canary, at most one per Canary per ``report_every`` seconds, with
the number of failures in between; that Event is not forwarded, so a webhook that is down
cannot feed itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from controller.events import EventType, record_event
from controller.kube import Kube
from controller.notify.background import BackgroundTasks
from controller.notify.contract import NotifyError
from controller.notify.delivery import NotifyRefused, post_json

__all__ = ["EVENT_WEBHOOK_FAILED", "EventWebhook", "event_payload"]

log = logging.getLogger(__name__)
Obj = dict[str, Any]

EVENT_WEBHOOK_FAILED: Final = "EventWebhookFailed"
ACCEPTED: Final = frozenset({200, 201, 202})
DEFAULT_EVENT_WEBHOOK_TIMEOUT: Final = 10.0


def event_payload(obj: Obj, event_type: str, message: str, reason: str, now_ms: int) -> Obj:
    """Flagger's event-webhook body for one Event of ``obj`` (see the module docstring)."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    return {
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "phase": status.get("phase") or "",
        "checksum": status.get("lastAppliedSpec") or "",
        "metadata": {
            "eventMessage": message,
            "eventType": event_type,
            "timestamp": str(now_ms),
            "eventReason": reason,
        },
    }


def _has_own_event_hooks(obj: Obj) -> bool:
    hooks = ((obj.get("spec") or {}).get("analysis") or {}).get("webhooks") or []
    return any(isinstance(h, dict) and h.get("type") == "event" for h in hooks)


@dataclass
class EventWebhook:
    """Forwards recorded Events to one URL in the background (see the module docstring)."""

    url: str
    timeout: float = DEFAULT_EVENT_WEBHOOK_TIMEOUT
    attempts: int = 3
    backoff: float = 1.0
    concurrency: int = 8
    max_pending: int = 1000
    report_every: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _tasks: BackgroundTasks = field(default_factory=BackgroundTasks, init=False, repr=False)
    _sending: asyncio.Semaphore | None = field(default=None, init=False, repr=False)
    _reported: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    _unreported: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def listener(self, kube: Kube, obj: Obj, event_type: EventType, reason: str, message: str) -> None:
        """``controller.events`` listener: start forwarding one Event, return at once."""
        if reason == EVENT_WEBHOOK_FAILED or _has_own_event_hooks(obj):
            return
        payload = event_payload(obj, event_type, message, reason, time.time_ns() // 1_000_000)
        if len(self._tasks) >= self.max_pending:
            self._failed(kube, obj, f"{len(self._tasks)} Events already waiting, this one was dropped")
            return
        self._tasks.start(self._deliver(kube, obj, payload))

    async def drain(self) -> None:
        """Wait until every delivery started so far has finished."""
        await self._tasks.drain()

    async def aclose(self) -> None:
        """Cancel the deliveries in flight (at shutdown)."""
        await self._tasks.aclose()

    async def _deliver(self, kube: Kube, obj: Obj, payload: Obj) -> None:
        if self._sending is None:
            self._sending = asyncio.Semaphore(self.concurrency)
        wait, error, attempts = self.backoff, "", max(1, self.attempts)
        async with self._sending:
            for attempt in range(1, attempts + 1):
                if attempt > 1:
                    await asyncio.sleep(wait)
                    wait *= 2
                try:
                    await post_json(self.url, payload, timeout=self.timeout, accept=ACCEPTED)
                    return
                except NotifyRefused as exc:  # no retry can fix it
                    error, attempts = str(exc), attempt
                    break
                except NotifyError as exc:
                    error = str(exc)
                    log.warning("event webhook, try %d of %d: %s", attempt, attempts, error)
        tries = f"{attempts} tries" if attempts > 1 else "1 try"
        self._failed(kube, obj, f"failed after {tries}: {error}")

    def _failed(self, kube: Kube, obj: Obj, detail: str) -> None:
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        now = self.clock()
        last = self._reported.get(key)
        if last is not None and now - last < self.report_every:
            self._unreported[key] = self._unreported.get(key, 0) + 1
            return
        self._reported[key] = now
        earlier = self._unreported.pop(key, 0)
        note = f" ({earlier} more failures since the last report)" if earlier else ""
        self._tasks.start(
            record_event(kube, obj, "Warning", EVENT_WEBHOOK_FAILED, f"event webhook {detail}{note}")
        )
