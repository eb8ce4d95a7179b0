"""Pure readiness checks over a Deployment's or DaemonSet's status, with Flagger's messages.

A Deployment is ready when the controller observed its generation, every desired replica runs
the new template, no old replica is left (the canary Service selects old and new pods alike),
and at least ``ceil(updated * threshold%)`` updated replicas are available.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Readiness:
    ready: bool
    message: str
    deadline_exceeded: bool = False


def _deadline_exceeded(status: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
        for c in status.get("conditions") or []
    )


def deployment_readiness(
    obj: Mapping[str, Any], threshold_percent: int = 100, *, canary: bool = False
) -> Readiness:
    meta, spec, status = obj["metadata"], obj.get("spec", {}), obj.get("status", {}) or {}
    name = f"{meta['name']}.{meta['namespace']}"
    if int(meta.get("generation", 0)) > int(status.get("observedGeneration", 0)):
        return Readiness(
            False,
            f"waiting for rollout to finish: observed deployment generation less than desired generation ({name})",
        )
    if _deadline_exceeded(status):
        return Readiness(False, f"deployment {name} exceeded its progress deadline", deadline_exceeded=True)
    replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    if canary and replicas == 0:
        return Readiness(False, f"halt advancement no healthy pods: {name} has no replicas")
    updated = int(status.get("updatedReplicas", 0))
    available = int(status.get("availableReplicas", 0))
    if updated < replicas:
        return Readiness(
            False,
            f"waiting for rollout to finish: {updated} out of {replicas} new replicas have been updated",
        )
    old_pods = int(status.get("replicas", 0)) - updated
    if old_pods > 0:
        return Readiness(
            False, f"waiting for rollout to finish: {old_pods} old replicas are pending termination"
        )
    needed = math.ceil(updated * threshold_percent / 100)
    if available < needed:
        return Readiness(
            False,
            f"waiting for rollout to finish: {available} of {updated} (readyThreshold {threshold_percent}%) "
            "updated replicas are available",
        )
    return Readiness(True, f"{name} is ready")


def daemonset_readiness(obj: Mapping[str, Any], threshold_percent: int = 100) -> Readiness:
    meta, status = obj["metadata"], obj.get("status", {}) or {}
    name = f"{meta['name']}.{meta['namespace']}"
    if int(meta.get("generation", 0)) > int(status.get("observedGeneration", 0)):
        return Readiness(
            False,
            f"waiting for rollout to finish: observed daemonset generation less than desired generation ({name})",
        )
    desired = int(status.get("desiredNumberScheduled", 0))
    updated = int(status.get("updatedNumberScheduled", 0))
    ready = int(status.get("numberReady", 0))
    if updated < desired:
        return Readiness(
            False, f"waiting for rollout to finish: {updated} out of {desired} new pods have been updated"
        )
    if ready < math.ceil(desired * threshold_percent / 100):
        return Readiness(False, f"waiting for rollout to finish: {ready} of {desired} pods are ready")
    return Readiness(True, f"{name} is ready")


def readiness(obj: Mapping[str, Any], threshold_percent: int = 100, *, canary: bool = False) -> Readiness:
    if obj["kind"] == "DaemonSet":
        return daemonset_readiness(obj, threshold_percent)
    return deployment_readiness(obj, threshold_percent, canary=canary)
