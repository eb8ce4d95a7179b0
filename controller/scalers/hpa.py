"""HorizontalPodAutoscaler (autoscaling/v2): ``<hpa>-primary`` scales ``<target>-primary``.

As Flagger does: the primary HPA is a copy of the target's spec with ``scaleTargetRef.name``
set to the primary, and ``primaryScalerReplicas`` overriding ``minReplicas``/``maxReplicas``.
The target's HPA is never paused: scaling the canary to zero with an HPA present is
Kubernetes' own behaviour (an HPA does not scale a Deployment with zero replicas).
"""

from __future__ import annotations

import copy
from typing import Any

from controller.api.canary import AutoscalerRef, PrimaryScalerReplicas
from controller.kube import Kube
from controller.scalers import base

Obj = dict[str, Any]

KIND = "HorizontalPodAutoscaler"
DEFAULT_API_VERSION = "autoscaling/v2"


def primary_hpa(
    hpa: Obj, canary: Obj, primary_name: str, replicas: PrimaryScalerReplicas | None = None
) -> Obj:
    """A copy of the target's HorizontalPodAutoscaler that scales the primary."""
    spec = copy.deepcopy(hpa["spec"])
    spec["scaleTargetRef"] = {**spec["scaleTargetRef"], "name": primary_name}
    if replicas is not None and replicas.min_replicas is not None:
        spec["minReplicas"] = replicas.min_replicas
    if replicas is not None and replicas.max_replicas is not None:
        spec["maxReplicas"] = replicas.max_replicas
    return {
        "apiVersion": hpa["apiVersion"],
        "kind": KIND,
        "metadata": base.copy_metadata(hpa, canary),
        "spec": spec,
    }


def min_replicas(hpa: Obj | None) -> int:
    if hpa is None:
        return 1
    return max(int(hpa.get("spec", {}).get("minReplicas") or 1), 1)


class HPAScaler:
    def __init__(self, kube: Kube, canary: Obj, ref: AutoscalerRef) -> None:
        self.kube = kube
        self.canary = canary
        self.ref = ref
        self.namespace: str = canary["metadata"]["namespace"]
        self.api_version = ref.api_version or DEFAULT_API_VERSION

    async def reconcile_primary(self) -> str | None:
        hpa = await base.fetch(self.kube, self.api_version, KIND, self.namespace, self.ref.name)
        desired = primary_hpa(
            hpa, self.canary, base.primary_name(self.canary), self.ref.primary_scaler_replicas
        )
        await base.apply(self.kube, desired)
        return None

    async def pause_target(self) -> None:
        return None

    async def resume_target(self) -> None:
        return None

    async def replicas_hint(self) -> int | None:
        hpa = await base.fetch_optional(self.kube, self.api_version, KIND, self.namespace, self.ref.name)
        return min_replicas(hpa)
