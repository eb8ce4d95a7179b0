"""The core/v1 Event built for a Canary."""

from __future__ import annotations

import datetime as dt
import socket

from controller.events import COMPONENT, event_manifest
from tests.builders import canary, owned

NOW = dt.datetime(2024, 5, 1, 12, 30, 45, 123456, tzinfo=dt.UTC)


def test_event_manifest_for_a_canary() -> None:
    obj = owned(canary("test", "podinfo"), "uid-1")
    event = event_manifest(obj, "Warning", "Synced", "Rolling back podinfo.test", NOW)
    assert event == {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "podinfo.", "namespace": "test"},
        "involvedObject": {
            "apiVersion": "gitcanary.io/v1beta1",
            "kind": "Canary",
            "name": "podinfo",
            "namespace": "test",
            "uid": "uid-1",
        },
        "type": "Warning",
        "reason": "Synced",
        "message": "Rolling back podinfo.test",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": socket.gethostname(),
        "firstTimestamp": "2024-05-01T12:30:45Z",
        "lastTimestamp": "2024-05-01T12:30:45Z",
        "count": 1,
    }


def test_event_without_uid_and_long_message() -> None:
    obj = canary("test", "podinfo")
    event = event_manifest(obj, "Normal", "Synced", "x" * 5000, NOW)
    assert event["involvedObject"]["uid"] == ""
    assert event["message"] == "x" * 1024
    assert obj["metadata"] == {"name": "podinfo", "namespace": "test"}  # the object is not modified
