"""HorizontalPodAutoscaler (autoscaling/v2): ``<hpa>-primary`` scales ``<target>-primary``.

As Flagger does: the primary HPA is a copy of the target's spec with ``scaleTargetRef.name``
set to the primary, and ``primaryScalerReplicas`` overriding ``minReplicas``/``maxReplicas``.
The target's HPA is never paused: scaling the canary to zero with an HPA present is
Kubernetes' own behaviour (an HPA does not scale a Deployment with zero replicas).
"""

from __future__ import annotations

import copy
from typing import Any

from controller.api.canary import PrimaryScalerReplicas
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
    base.override_bounds(spec, replicas, "minReplicas", "maxReplicas")
    return {
        "apiVersion": hpa["apiVersion"],
        "kind": KIND,
        "metadata": base.copy_metadata(hpa, canary),
        "spec": spec,
    }


def min_replicas(target: Obj | None) -> int:
    return base.min_replicas_of(target, "minReplicas")


class HPAScaler(base.AutoscalerCopy):
    kind = KIND
    default_api_version = DEFAULT_API_VERSION
    min_replicas = staticmethod(min_replicas)

    def primary_copy(self, target: Obj) -> Obj:
        return primary_hpa(
            target, self.canary, f"{self.target_name}-primary", self.ref.primary_scaler_replicas
        )
