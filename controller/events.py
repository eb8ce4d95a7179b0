"""Kubernetes Events for Canaries (core/v1), with Flagger's reasons and messages.

Recording an Event is best effort by design: a failure to record one is logged
and never fails a reconcile, because Events are an audit aid, not state.

Listeners (``add_listener``) see every Event recorded here, whether or not the API server
took it; ``gitcanary run --event-webhook`` forwards them (``controller.notify.event_webhook``).
A listener must return at once (it schedules its own I/O) and never raise.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
from collections.abc import Callable
from typing import Any, Literal

from controller.kube import Kube, KubeError

log = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]
COMPONENT = "gitcanary"

EventListener = Callable[[Kube, dict[str, Any], EventType, str, str], None]
"""Called as ``listener(kube, obj, event_type, reason, message)`` for every recorded Event."""
_LISTENERS: list[EventListener] = []


def add_listener(listener: EventListener) -> None:
    """Call ``listener`` for every Event recorded from now on."""
    _LISTENERS.append(listener)


def remove_listener(listener: EventListener) -> None:
    """Stop calling ``listener`` (no error when it was not added)."""
    if listener in _LISTENERS:
        _LISTENERS.remove(listener)


def event_manifest(
    obj: dict[str, Any], event_type: EventType, reason: str, message: str, now: dt.datetime
) -> dict[str, Any]:
    meta = obj["metadata"]
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid", ""),
        },
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": socket.gethostname(),
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


async def record_event(
    kube: Kube, obj: dict[str, Any], event_type: EventType, reason: str, message: str
) -> None:
    manifest = event_manifest(obj, event_type, reason, message, dt.datetime.now(dt.UTC))
    try:
        await kube.create(manifest)
    except KubeError as exc:
        log.warning(
            "could not record event %s for %s/%s: %s",
            reason,
            obj["metadata"]["namespace"],
            obj["metadata"]["name"],
            exc,
        )
    for listener in tuple(_LISTENERS):
        listener(kube, obj, event_type, reason, message)
