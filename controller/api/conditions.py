"""Status conditions as plain mappings: the one helper every writer of ``status.conditions`` uses.

Semantics (Kubernetes' and Flagger's): a condition is identified by its ``type``;
``lastTransitionTime`` moves only when its ``status`` changes; ``lastUpdateTime`` moves when its
status, reason or message changes. Setting a condition to what it already says returns the list
unchanged, so a tick that changes nothing writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from controller.api.timestamps import rfc3339

__all__ = ["find_condition", "set_condition", "without_conditions"]

Obj = dict[str, Any]


def find_condition(conditions: Sequence[Obj], kind: str) -> Obj | None:
    return next((c for c in conditions if c.get("type") == kind), None)


def set_condition(
    conditions: Sequence[Obj], kind: str, status: str, reason: str, message: str, now: float
) -> list[Obj]:
    """``conditions`` with the ``kind`` condition set (appended when new, replaced in place)."""
    old = find_condition(conditions, kind)
    if (
        old is not None
        and old.get("status") == status
        and old.get("reason") == reason
        and old.get("message") == message
    ):
        return list(conditions)
    stamp = rfc3339(now)
    moved = old is None or old.get("status") != status
    new = {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp if moved or old is None else old.get("lastTransitionTime", stamp),
    }
    if old is None:
        return [*conditions, new]
    return [new if c.get("type") == kind else c for c in conditions]


def without_conditions(conditions: Sequence[Obj], *kinds: str) -> list[Obj]:
    return [c for c in conditions if c.get("type") not in kinds]
