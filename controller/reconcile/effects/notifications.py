"""Notification effects, all best-effort: Events, event webhooks and alerts.

Neither Events nor alerts leave while the tick decides: ``notify`` collects the Event in
``events`` and the alert in ``alerts``; once the status is saved, the runner records the Events
and hands the alerts to ``controller.reconcile.alerts.AlertOutbox`` (a tick decided again after a
conflict must not announce its decision twice, and an alert endpoint can never delay it). Event
webhooks (``type: event``) are sent at once: ``send_event`` has its own deadline and never raises.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from controller import analysis as eng
from controller.api import Canary
from controller.events import EventType
from controller.hooks.webhooks import WebhookSpec, send_event
from controller.reconcile.alerts import PendingAlert
from controller.reconcile.effects.payload import webhook_payload

log = logging.getLogger(__name__)
Obj = dict[str, Any]


@dataclass
class NotificationEffects:
    canary: Canary
    status: Obj | None
    """The status the tick read (the event webhooks' Flux source)."""
    revision: str
    hooks: list[WebhookSpec]
    phase: str = ""
    events: list[tuple[EventType, str, str]] = field(default_factory=list)
    """(type, reason, message) of this tick's Events, recorded once the status is saved."""
    alerts: list[PendingAlert] = field(default_factory=list)
    """Alerts this tick's decision asks for, sent once the status is saved."""

    async def notify(self, request: eng.Notify) -> None:
        event_type: EventType = "Normal" if request.severity == "info" else "Warning"
        self.events.append((event_type, request.reason, request.message))
        log.info("%s: %s", self.canary.key, request.message)
        if any(h.type == "event" for h in self.hooks):
            payload = webhook_payload(self.canary, self.status, self.revision, self.phase)
            await send_event(self.hooks, payload, event_message=request.message, event_type=event_type)
        if request.alert:
            self.alerts.append(PendingAlert(request.alert, request.severity))
