"""Which watch events wake a Canary's analysis daemon, and kopf's diff base built cheaply
(issue 15, cheaper ticks).

- ``Wakeups``: one ``asyncio.Event`` per Canary (``namespace/name``). A Deployment or DaemonSet
  event (a target or a primary) wakes its Canaries when the workload is new or deleted, when
  its spec or its own labels and annotations changed (``metadata.generation`` counts every spec
  change), or, for the Canaries whose last tick ended waiting on a readiness (``waiting``), when
  its readiness (status counts and conditions) changed. Any other status update (a condition's
  timestamp, a message) wakes nobody: the daemon ticks at its requeue time as before. A change
  a tick of ours made itself (the client's store already holds that resourceVersion: our write
  or our GET brought it) wakes nobody either, when one Canary targets the workload.
- ``LeanDiffBaseStorage``: kopf builds an object's essence (its diff base) for every event of
  every watched kind, a deep copy of the whole body (status and managedFields too) of which it
  keeps the spec, labels and annotations. This builds the same essence from the fields kept,
  and none for the kinds that have no change handler (Deployments, ConfigMaps, Kustomizations).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import kopf

WorkloadKey = tuple[str, str | None, str]
"""(kind, namespace, name)"""

IGNORED_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",  # changes with the spec
        "deployment.kubernetes.io/revision",  # the deployment controller's, after a spec change
        "deprecated.daemonset.template.generation",
    }
)


def _spec_signature(body: Mapping[str, Any]) -> str:
    """``repr`` keeps the API server's key order, which is stable: a reordering could only wake
    a Canary once too often, never miss a change."""
    meta = body.get("metadata") or {}
    annotations = [(k, v) for k, v in (meta.get("annotations") or {}).items() if k not in IGNORED_ANNOTATIONS]
    return repr((meta.get("generation"), meta.get("deletionTimestamp"), meta.get("labels"), annotations))


def _readiness_signature(body: Mapping[str, Any]) -> str:
    status = body.get("status") or {}
    counts = [(k, v) for k, v in status.items() if k != "conditions"]
    conditions = [(c.get("type"), c.get("status"), c.get("reason")) for c in status.get("conditions") or []]
    return repr((counts, conditions))


@dataclass
class Wakeups:
    events: dict[str, asyncio.Event] = field(default_factory=dict)
    polling: set[str] = field(default_factory=set)
    """Canaries whose last tick ended waiting on a readiness (a short requeue)."""
    workloads: dict[WorkloadKey, tuple[str, str]] = field(default_factory=dict)
    """Each target's and primary's last (spec, readiness) signatures."""

    def event(self, key: str) -> asyncio.Event:
        return self.events.setdefault(key, asyncio.Event())

    def wake(self, keys: Iterable[str]) -> None:
        for key in keys:
            if key in self.events:
                self.events[key].set()

    def waiting(self, key: str, on_readiness: bool) -> None:
        """After a tick: whether it ended waiting on a readiness."""
        if on_readiness:
            self.polling.add(key)
        else:
            self.polling.discard(key)

    def forget(self, key: str) -> None:
        self.events.pop(key, None)
        self.polling.discard(key)

    def workload_event(
        self, body: Mapping[str, Any], deleted: bool, canaries: Collection[str], already_seen: bool
    ) -> list[str]:
        """The Canaries an event of their target or primary wakes (see the module).
        ``already_seen``: the client's store holds this version (a tick of ours brought it)."""
        meta = body.get("metadata") or {}
        key = (str(body.get("kind")), meta.get("namespace"), str(meta.get("name")))
        if deleted:
            self.workloads.pop(key, None)
            return list(canaries)
        if not canaries:
            self.workloads.pop(key, None)
            return []
        signatures = (_spec_signature(body), _readiness_signature(body))
        last = self.workloads.get(key)
        self.workloads[key] = signatures
        if last is None:
            return list(canaries)
        if last[0] != signatures[0] and not (already_seen and len(canaries) == 1):
            return list(canaries)
        if last[1] != signatures[1]:
            return [c for c in canaries if c in self.polling]
        return []


class LeanDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's annotation diff base; ``build`` as kopf's, from the fields it keeps (see the module)."""

    def __init__(self, prefix: str, kinds: Collection[str]) -> None:
        super().__init__(prefix=prefix)
        self.kinds = frozenset(kinds)
        """The kinds with change handlers (on.create, on.update, on.delete...)."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        if body.get("kind") not in self.kinds:
            return None  # type: ignore[return-value]  # kopf: no essence, no diff (nothing handles one)
        fields = list(extra_fields or [])
        if not all(_kept(f) for f in fields):
            return super().build(body=body, extra_fields=fields)  # a handler reads other fields
        meta = body.get("metadata") or {}
        slim: dict[str, Any] = {k: v for k, v in body.items() if k not in ("status", "metadata")}
        slim["metadata"] = {k: meta[k] for k in ("labels", "annotations", "ownerReferences") if k in meta}
        return super().build(body=kopf.Body(cast(kopf.RawBody, slim)), extra_fields=fields)


def _kept(field: Any) -> bool:
    """A handler's field (``spec``, ``("metadata", "annotations")``...) among those kopf keeps."""
    path = tuple(field.split(".")) if isinstance(field, str) else tuple(field)
    return path[:1] == ("spec",) or path[:2] in {("metadata", "labels"), ("metadata", "annotations")}
