"""KEDA HTTP add-on HTTPScaledObject (http.keda.sh/v1alpha1): the primary's copy.

The primary copy ``<httpso>-primary`` keeps the target's spec (hosts, pathPrefixes, scaling
metric, timeouts...) with:
- ``scaleTargetRef.name`` -> ``<target>-primary`` and ``scaleTargetRef.service``/``port`` -> the
  ``<svc>-primary`` Service gitcanary generates on ``spec.service.port`` (without
  ``spec.service``: Flagger's ``<scaleTargetRef.service>-primary`` and the target's port);
- ``replicas.min``/``replicas.max`` overridden by ``primaryScalerReplicas``;
- ``scalingSet`` set from ``primaryScalingSet`` (kind ClusterHTTPScalingSet or HTTPScalingSet,
  default HTTPScalingSet), so the primary is served by its own interceptor;
- ``headers: [{name: x-gitcanary-backend, value: primary}]``: the interceptor prefers the most
  specific header match, so requests the route marks as primary reach the primary even when both
  HTTPScaledObjects (same hosts) are served by one interceptor.

Notes returned by ``reconcile_primary`` (for the Canary status):
- the seed tutorial writes ``autoscalerRef.apiVersion: keda.sh/v1alpha1``; HTTPScaledObject is
  served by ``http.keda.sh``, which is used instead, and the note says so;
- when the cluster's HTTPScaledObject schema has no ``scalingSet`` (the upstream add-on) the
  apiserver rejects (or prunes) it, so it is dropped and the note says the primary is routed by header on the shared interceptor;
- when the target's HTTPScaledObject sends traffic to the apex Service (which selects the primary
  pods) the note says canary traffic would not reach the canary.

The target's HTTPScaledObject is never paused: the add-on scales the canary to and from zero
itself (Flagger's pause/resume are no-ops for it too).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from controller.api.canary import AutoscalerRef, PrimaryScalerReplicas, ScalingSetRef
from controller.api.parsed import parsed_canary
from controller.kube import Kube
from controller.scalers import base

Obj = dict[str, Any]

KIND = "HTTPScaledObject"
GROUP = "http.keda.sh"
DEFAULT_API_VERSION = f"{GROUP}/v1alpha1"
KEDA_CORE_GROUP = "keda.sh"
DEFAULT_SCALING_SET_KIND = "HTTPScalingSet"
ROUTING_HEADER = "x-gitcanary-backend"
PRIMARY_BACKEND = "primary"
CANARY_BACKEND = "canary"
OPTIONAL_FIELDS = ("scalingSet", "headers")
"""Fields of the primary copy that only some add-on versions declare (dropped when rejected)."""
_UNDECLARED = re.compile(r"\.spec\.(\w+): field not declared in schema")


def resolve_api_version(ref_api_version: str | None) -> tuple[str, str | None]:
    """(apiVersion to use, note): ``keda.sh/<v>`` (the seed's spelling) becomes ``http.keda.sh/<v>``."""
    if not ref_api_version:
        return DEFAULT_API_VERSION, None
    group, _, version = ref_api_version.rpartition("/")
    if group == KEDA_CORE_GROUP:
        used = f"{GROUP}/{version}"
        return used, (
            f"autoscalerRef.apiVersion {ref_api_version} names the KEDA core group; "
            f"HTTPScaledObject is served by {used}, which was used"
        )
    return ref_api_version, None


def apex_service(canary: Obj) -> str | None:
    spec = parsed_canary(canary).spec
    if spec.service is None:
        return None
    return spec.service.name or spec.target_ref.name


def scaling_set_ref(ref: ScalingSetRef) -> Obj:
    return {"name": ref.name, "kind": ref.kind or DEFAULT_SCALING_SET_KIND}


def primary_http_scaled_object(
    httpso: Obj,
    canary: Obj,
    replicas: PrimaryScalerReplicas | None = None,
    scaling_set: ScalingSetRef | None = None,
) -> Obj:
    parsed = parsed_canary(canary).spec
    target = parsed.target_ref.name
    spec = copy.deepcopy(httpso["spec"])
    scale_ref = dict(spec["scaleTargetRef"])
    scale_ref["name"] = f"{target}-primary"
    if parsed.service is not None:
        scale_ref["service"] = f"{parsed.service.name or target}-primary"
        scale_ref["port"] = parsed.service.port
        scale_ref.pop("portName", None)
    else:
        scale_ref["service"] = f"{scale_ref['service']}-primary"
    spec["scaleTargetRef"] = scale_ref
    headers = [h for h in spec.get("headers") or [] if h.get("name") != ROUTING_HEADER]
    spec["headers"] = [*headers, {"name": ROUTING_HEADER, "value": PRIMARY_BACKEND}]
    if replicas is not None and (replicas.min_replicas is not None or replicas.max_replicas is not None):
        bounds = dict(spec.get("replicas") or {})
        if replicas.min_replicas is not None:
            bounds["min"] = replicas.min_replicas
        if replicas.max_replicas is not None:
            bounds["max"] = replicas.max_replicas
        spec["replicas"] = bounds
    if scaling_set is not None:
        spec["scalingSet"] = scaling_set_ref(scaling_set)
    return {
        "apiVersion": httpso["apiVersion"],
        "kind": KIND,
        "metadata": base.copy_metadata(httpso, canary),
        "spec": spec,
    }


def undeclared_field(message: str) -> str | None:
    """The optional spec field server-side apply rejected as not declared in the schema."""
    match = _UNDECLARED.search(message)
    if match is None or match.group(1) not in OPTIONAL_FIELDS:
        return None
    return match.group(1)


def target_notes(httpso: Obj, canary: Obj) -> list[str]:
    """Warnings about the target's HTTPScaledObject (pure)."""
    apex = apex_service(canary)
    service = (httpso.get("spec") or {}).get("scaleTargetRef", {}).get("service")
    if apex is not None and service == apex:
        return [
            f"HTTPScaledObject {httpso['metadata']['name']} routes to Service {apex}, which selects the "
            f"primary pods; set its scaleTargetRef.service to {apex}-canary so canary traffic reaches the canary"
        ]
    return []


def applied_notes(desired: Obj, live: Obj) -> list[str]:
    """What the apiserver dropped from the primary copy (pure)."""
    spec = live.get("spec") or {}
    notes = []
    if "scalingSet" in desired["spec"] and "scalingSet" not in spec:
        notes.append(
            "this cluster's HTTPScaledObject schema has no spec.scalingSet: the primary shares the "
            f"default interceptor and is routed by the {ROUTING_HEADER} header"
        )
    if "headers" not in spec and "scalingSet" not in spec:
        notes.append(
            "this cluster's HTTPScaledObject schema has neither spec.scalingSet nor spec.headers: "
            "the interceptor cannot tell the primary from the canary HTTPScaledObject"
        )
    return notes


def min_replicas(target: Obj | None) -> int:
    """A canary scaled up from zero gets at least one replica (``replicas.min`` may be 0)."""
    if target is None:
        return 1
    return max(int((target.get("spec", {}).get("replicas") or {}).get("min") or 0), 1)


class HTTPScaledObjectScaler(base.AutoscalerCopy):
    kind = KIND
    default_api_version = DEFAULT_API_VERSION
    min_replicas = staticmethod(min_replicas)

    def __init__(self, kube: Kube, canary: Obj, ref: AutoscalerRef) -> None:
        super().__init__(kube, canary, ref)
        self.api_version, self.group_note = resolve_api_version(ref.api_version)

    def primary_copy(self, target: Obj) -> Obj:
        return primary_http_scaled_object(
            target, self.canary, self.ref.primary_scaler_replicas, self.ref.primary_scaling_set
        )

    async def reconcile_primary(self) -> str | None:
        httpso = await self.target()
        desired = self.primary_copy(httpso)
        live = await self._apply_declared(desired)
        notes = [self.group_note] if self.group_note else []
        notes += target_notes(httpso, self.canary) + applied_notes(desired, live)
        return "; ".join(notes) or None

    async def _apply_declared(self, desired: Obj) -> Obj:
        """Apply, dropping the optional fields this cluster's schema does not declare."""
        obj = copy.deepcopy(desired)
        while True:
            try:
                return await base.apply(self.kube, obj)
            except base.ScalerError as exc:
                field = undeclared_field(str(exc))
                if field is None or field not in obj["spec"]:
                    raise
                del obj["spec"][field]
