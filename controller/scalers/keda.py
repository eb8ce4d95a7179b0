"""KEDA ScaledObject (keda.sh/v1alpha1): ``<so>-primary`` scales ``<target>-primary``.

As Flagger does:
- the primary copy keeps the target's spec, with ``scaleTargetRef.name`` set to the primary,
  ``advanced.horizontalPodAutoscalerConfig.name`` set to the primary's name and the annotation
  ``scaledobject.keda.sh/transfer-hpa-ownership: "true"``, so KEDA adopts an existing HPA;
- ``primaryScalerQueries`` replaces ``metadata.query`` of the triggers named in it; without it,
  every trigger query has ``<target>`` and ``<target>-canary`` rewritten to ``<target>-primary``
  (best effort, as in Flagger: check the generated query, or set ``primaryScalerQueries``);
- ``primaryScalerReplicas`` overrides ``minReplicaCount``/``maxReplicaCount``;
- while the canary is scaled to zero the target's ScaledObject carries
  ``autoscaling.keda.sh/paused-replicas: "0"``, so KEDA holds it at zero; resuming removes it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from controller.api.canary import PrimaryScalerReplicas
from controller.scalers import base

Obj = dict[str, Any]

KIND = "ScaledObject"
DEFAULT_API_VERSION = "keda.sh/v1alpha1"
PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"
TRANSFER_HPA_OWNERSHIP = "scaledobject.keda.sh/transfer-hpa-ownership"
_PLACEHOLDER = "\x00gitcanary-primary\x00"


def primary_query(query: str, target: str) -> str:
    """``<target>`` and ``<target>-canary`` rewritten to ``<target>-primary`` (never doubled)."""
    primary = f"{target}-primary"
    for name in (primary, f"{target}-canary", target):
        query = query.replace(name, _PLACEHOLDER)
    return query.replace(_PLACEHOLDER, primary)


def primary_triggers(triggers: list[Obj], target: str, queries: Mapping[str, str]) -> list[Obj]:
    out = copy.deepcopy(triggers)
    for trigger in out:
        metadata = trigger.setdefault("metadata", {})
        if queries:
            name = trigger.get("name")
            if isinstance(name, str) and name in queries:
                metadata["query"] = queries[name]
        elif "query" in metadata:
            metadata["query"] = primary_query(str(metadata["query"]), target)
    return out


def primary_scaled_object(
    so: Obj,
    canary: Obj,
    target: str,
    queries: Mapping[str, str],
    replicas: PrimaryScalerReplicas | None = None,
) -> Obj:
    primary = f"{target}-primary"
    spec = copy.deepcopy(so["spec"])
    spec["scaleTargetRef"] = {**spec["scaleTargetRef"], "name": primary}
    spec["triggers"] = primary_triggers(spec.get("triggers") or [], target, queries)
    advanced = spec.setdefault("advanced", {})
    advanced["horizontalPodAutoscalerConfig"] = {
        **(advanced.get("horizontalPodAutoscalerConfig") or {}),
        "name": primary,
    }
    base.override_bounds(spec, replicas, "minReplicaCount", "maxReplicaCount")
    return {
        "apiVersion": so["apiVersion"],
        "kind": KIND,
        "metadata": base.copy_metadata(so, canary, {TRANSFER_HPA_OWNERSHIP: "true"}),
        "spec": spec,
    }


def min_replicas(target: Obj | None) -> int:
    return base.min_replicas_of(target, "minReplicaCount")


class ScaledObjectScaler(base.AutoscalerCopy):
    kind = KIND
    default_api_version = DEFAULT_API_VERSION
    min_replicas = staticmethod(min_replicas)

    def primary_copy(self, target: Obj) -> Obj:
        return primary_scaled_object(
            target,
            self.canary,
            self.target_name,
            self.ref.primary_scaler_queries,
            self.ref.primary_scaler_replicas,
        )

    async def pause_target(self) -> None:
        await base.annotate(self.kube, await self.target(), {PAUSED_REPLICAS: "0"})

    async def resume_target(self) -> None:
        await base.annotate(self.kube, await self.target(), {PAUSED_REPLICAS: None})
