"""Kubernetes Events for Canaries (core/v1), with Flagger's reasons and messages.

Recording an Event is best effort by design: a failure to record one is logged
and never fails a reconcile, because Events are an audit aid, not state.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
from typing import Any, Literal

from controller.kube import Kube, KubeError

log = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]
COMPONENT = "gitcanary"


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
