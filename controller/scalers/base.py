"""The PrimaryScaler port, its null object, and the helpers every scaler adapter shares.

A scaler owns the copy of the target's autoscaler that scales the primary
(``<autoscaler>-primary``), and, where the autoscaler would fight a scaled-to-zero
canary, pauses and resumes the target's own autoscaler.

Invariants:
- every method is idempotent: the primary copy is written with server-side apply of a
  fully built object, pause/resume are merge patches of one annotation;
- the primary copy is owned by the Canary (controller ownerReference), carries
  ``app.kubernetes.io/managed-by: gitcanary`` and ``kustomize.toolkit.fluxcd.io/reconcile:
  disabled``, and never inherits Flux's ownership labels;
- the target's autoscaler is read, never rewritten, except for the pause annotation;
- ``replicas_hint`` is ``None`` only when no autoscaler manages the workload (the Nop
  scaler); otherwise it is the replica count (at least 1) a canary gets when it is scaled
  up from zero, and the caller leaves ``spec.replicas`` of the primary to the autoscaler.

:mod:`controller.scalers.factory` is the only module that knows every adapter and picks one by
``spec.autoscalerRef.kind``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

from pydantic import ValidationError

from controller.api.canary import AutoscalerRef, PrimaryScalerReplicas
from controller.api.parsed import parsed_canary, parsed_or_none
from controller.errors import PermanentError
from controller.kube import Kube, KubeError
from controller.ownership import FLUX_OWNER_PREFIXES, FLUX_RECONCILE_DISABLED, MANAGED_BY, owner_reference

Obj = dict[str, Any]


class ScalerError(PermanentError, RuntimeError):
    """The autoscaler could not be read or written, or the reference is unusable (permanent)."""


class PrimaryScaler(Protocol):
    async def reconcile_primary(self) -> str | None:
        """Create or update the primary's autoscaler; returns a note for the status, if any."""
        ...

    async def pause_target(self) -> None:
        """Stop the target's autoscaler from scaling the canary back up (canary at zero)."""
        ...

    async def resume_target(self) -> None:
        """Undo ``pause_target`` (the canary is being scaled up)."""
        ...

    async def replicas_hint(self) -> int | None:
        """Replicas for a canary scaled up from zero; ``None`` when no autoscaler is used."""
        ...


class NopScaler:
    """No ``spec.autoscalerRef``: nothing to copy, pause or resume."""

    async def reconcile_primary(self) -> str | None:
        return None

    async def pause_target(self) -> None:
        return None

    async def resume_target(self) -> None:
        return None

    async def replicas_hint(self) -> int | None:
        return None


ScalerFactory = Callable[[Kube, Obj, AutoscalerRef], PrimaryScaler]
"""How a scaler adapter is built: its class, called with the API client, the Canary and its reference."""


class AutoscalerCopy(ABC):
    """The skeleton of the adapters that copy one target autoscaler object for the primary.

    Subclasses set ``kind`` and ``default_api_version``, build the copy from the target's
    autoscaler (``primary_copy``; ``reconcile_primary`` applies it) and say how many replicas the
    autoscaler starts from (``min_replicas``); pausing the target is a no-op unless they override it.
    """

    kind: ClassVar[str]
    default_api_version: ClassVar[str]

    def __init__(self, kube: Kube, canary: Obj, ref: AutoscalerRef) -> None:
        self.kube = kube
        self.canary = canary
        self.ref = ref
        self.namespace: str = canary["metadata"]["namespace"]
        self.api_version = ref.api_version or self.default_api_version

    @staticmethod
    @abstractmethod
    def min_replicas(target: Obj | None) -> int:
        """The replicas a canary scaled up from zero starts with (at least 1)."""

    @abstractmethod
    def primary_copy(self, target: Obj) -> Obj:
        """The primary's copy of ``target`` (the target's autoscaler), fully built."""

    @property
    def target_name(self) -> str:
        """The canary target's name (``spec.targetRef.name``)."""
        return parsed_canary(self.canary).spec.target_ref.name

    async def reconcile_primary(self) -> str | None:
        await apply(self.kube, self.primary_copy(await self.target()))
        return None

    async def target(self) -> Obj:
        """The target's autoscaler; ``ScalerError`` when it is missing."""
        return await fetch(self.kube, self.api_version, self.kind, self.namespace, self.ref.name)

    async def pause_target(self) -> None:
        return None

    async def resume_target(self) -> None:
        return None

    async def replicas_hint(self) -> int | None:
        found = await fetch_optional(self.kube, self.api_version, self.kind, self.namespace, self.ref.name)
        return self.min_replicas(found)


def override_bounds(
    spec: Obj, replicas: PrimaryScalerReplicas | None, min_field: str, max_field: str
) -> None:
    """Set the primary copy's replica bounds from ``autoscalerRef.primaryScalerReplicas``."""
    if replicas is not None and replicas.min_replicas is not None:
        spec[min_field] = replicas.min_replicas
    if replicas is not None and replicas.max_replicas is not None:
        spec[max_field] = replicas.max_replicas


def min_replicas_of(target: Obj | None, field: str) -> int:
    """``spec.<field>`` of an autoscaler, at least 1 (1 when there is none)."""
    if target is None:
        return 1
    return max(int(target.get("spec", {}).get(field) or 1), 1)


def autoscaler_ref(canary: Obj) -> AutoscalerRef | None:
    parsed = parsed_or_none(canary)
    if parsed is not None:
        return parsed.spec.autoscaler_ref
    # The deletion finalizer resumes the autoscaler of an invalid Canary too: the reference is
    # read as written and judged on its own, as it always was.
    raw = (canary.get("spec") or {}).get("autoscalerRef")
    if not raw:
        return None
    try:
        return AutoscalerRef.model_validate(raw)
    except ValidationError as exc:
        raise ScalerError(f"spec.autoscalerRef is invalid: {exc}") from None


# -- shared by the adapters --------------------------------------------------------------------
def copy_metadata(source: Obj, canary: Obj, annotations: Mapping[str, str] | None = None) -> Obj:
    """Metadata of ``<source>-primary``: the source's labels minus Flux's, plus ownership."""
    meta = source["metadata"]
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if not k.startswith(FLUX_OWNER_PREFIXES)}
    return {
        "name": f"{meta['name']}-primary",
        "namespace": meta["namespace"],
        "labels": {**labels, **MANAGED_BY},
        "annotations": {**(annotations or {}), **FLUX_RECONCILE_DISABLED},
        "ownerReferences": [owner_reference(canary)],
    }


async def fetch(kube: Kube, api_version: str, kind: str, namespace: str, name: str) -> Obj:
    """The target's autoscaler; ``ScalerError`` when it is missing or unreadable."""
    try:
        obj = await kube.get(api_version, kind, namespace, name)
    except KubeError as exc:
        raise ScalerError(f"{kind} {name}.{namespace}: {exc}") from exc
    if obj is None:
        raise ScalerError(f"{kind} {name}.{namespace} not found")
    return obj


async def fetch_optional(kube: Kube, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
    try:
        return await kube.get(api_version, kind, namespace, name)
    except KubeError as exc:
        if exc.status == 404:  # the API itself is not served
            return None
        raise ScalerError(f"{kind} {name}.{namespace}: {exc}") from exc


async def apply(kube: Kube, obj: Obj) -> Obj:
    meta = obj["metadata"]
    try:
        return await kube.apply(obj)
    except KubeError as exc:
        raise ScalerError(f"{obj['kind']} {meta['name']}.{meta['namespace']}: {exc}") from exc


async def annotate(kube: Kube, obj: Obj, annotations: Mapping[str, str | None]) -> None:
    """Merge-patch annotations (``None`` removes one) on a live object."""
    meta = obj["metadata"]
    current = meta.get("annotations") or {}
    if all(current.get(k) == v for k, v in annotations.items()):
        return
    try:
        await kube.merge_patch(
            obj["apiVersion"],
            obj["kind"],
            meta["namespace"],
            meta["name"],
            {"metadata": {"annotations": dict(annotations)}},
        )
    except KubeError as exc:
        raise ScalerError(f"{obj['kind']} {meta['name']}.{meta['namespace']}: {exc}") from exc
