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

from controller.api.canary import AutoscalerRef, PrimaryScalerReplicas
from controller.kube import Kube
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
    if replicas is not None and replicas.min_replicas is not None:
        spec["minReplicaCount"] = replicas.min_replicas
    if replicas is not None and replicas.max_replicas is not None:
        spec["maxReplicaCount"] = replicas.max_replicas
    return {
        "apiVersion": so["apiVersion"],
        "kind": KIND,
        "metadata": base.copy_metadata(so, canary, {TRANSFER_HPA_OWNERSHIP: "true"}),
        "spec": spec,
    }


def min_replicas(so: Obj | None) -> int:
    if so is None:
        return 1
    return max(int(so.get("spec", {}).get("minReplicaCount") or 1), 1)


class ScaledObjectScaler:
    def __init__(self, kube: Kube, canary: Obj, ref: AutoscalerRef) -> None:
        self.kube = kube
        self.canary = canary
        self.ref = ref
        self.namespace: str = canary["metadata"]["namespace"]
        self.api_version = ref.api_version or DEFAULT_API_VERSION

    async def _target(self) -> Obj:
        return await base.fetch(self.kube, self.api_version, KIND, self.namespace, self.ref.name)

    async def reconcile_primary(self) -> str | None:
        desired = primary_scaled_object(
            await self._target(),
            self.canary,
            self.canary["spec"]["targetRef"]["name"],
            self.ref.primary_scaler_queries,
            self.ref.primary_scaler_replicas,
        )
        await base.apply(self.kube, desired)
        return None

    async def pause_target(self) -> None:
        await base.annotate(self.kube, await self._target(), {PAUSED_REPLICAS: "0"})

    async def resume_target(self) -> None:
        await base.annotate(self.kube, await self._target(), {PAUSED_REPLICAS: None})

    async def replicas_hint(self) -> int | None:
        so = await base.fetch_optional(self.kube, self.api_version, KIND, self.namespace, self.ref.name)
        return min_replicas(so)
