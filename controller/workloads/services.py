"""Pure builders for the apex, -primary and -canary Services, as Flagger generates them.

Invariants:
- the apex and -primary Services select the primary pods (``<label>: <value>-primary``), the
  -canary Service selects the target's pods (``<label>: <value>``);
- the first port is ``spec.service.port`` (name ``portName``, default ``http``; ``targetPort``,
  default the port; ``appProtocol`` when set); with ``portDiscovery`` every other container port
  of the target follows, sorted by name (Flagger's order is a map's, i.e. random), except the
  service mesh proxies' (``istio-proxy``, ``envoy``) and the port the first one already targets;
- ``headless`` gives ``clusterIP: None`` to a Service gitcanary creates (an existing Service's
  clusterIP is immutable), ``trafficDistribution`` is set on the Services gitcanary owns;
- a Service gitcanary did not create is never adopted: it gets no ownerReference and no label;
  only its selector and ports change, plus Flux's opt-out annotations, and its original selector,
  ports and those annotations are recorded once in ``gitcanary.io/original-configuration``
  (:func:`takeover`) so that ``revertOnDeletion`` can put them back;
- on a Service gitcanary owns, the keys listed in ``unmanagedMetadata`` keep their live values.

Pure module: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from controller.api.parsed import parsed_canary
from controller.api.service import CanaryService, ServiceMetadata
from controller.ownership import (
    FLUX_RECONCILE_DISABLED,
    HELM_DRIFT_DETECTION_DISABLED,
    MANAGED_BY,
    ORIGINAL_CONFIGURATION,
    owned_by,
    owner_reference,
    recorded_original,
)
from controller.workloads.primary import selector_label

Obj = dict[str, Any]

MESH_PROXIES = frozenset({"istio-proxy", "envoy"})
"""Containers whose ports port discovery skips (Flagger's ``sidecars``)."""
OPT_OUT = {**FLUX_RECONCILE_DISABLED, **HELM_DRIFT_DETECTION_DISABLED}
NO_METADATA = ServiceMetadata()


NO_SERVICE = CanaryService(port=80)
"""What a Canary without ``spec.service`` gets: port 80, every other field its default."""


def _primary_port(service: CanaryService) -> Obj:
    out: Obj = {
        "name": service.port_name or "http",
        "port": service.port,
        "targetPort": service.target_port or service.port,
        "protocol": "TCP",
    }
    if service.app_protocol:
        out["appProtocol"] = service.app_protocol
    return out


def discovered_ports(service: CanaryService, pod_spec: Mapping[str, Any]) -> list[Obj]:
    """The extra ports ``portDiscovery`` adds: the containers' ports, as Flagger's ``getPorts``."""
    port = service.port
    target_port = service.target_port
    found: dict[str, int] = {}
    for container in pod_spec.get("containers") or []:
        if container.get("name") in MESH_PROXIES:
            continue
        for index, p in enumerate(container.get("ports") or []):
            number = int(p["containerPort"])
            if target_port in (None, 0, "0"):
                if number == port:
                    continue
            elif isinstance(target_port, int) or str(target_port).isdigit():
                if number == int(target_port):
                    continue
            elif p.get("name") == target_port:
                continue
            found[p.get("name") or f"tcp-{container['name']}-{index}"] = number
    return [
        {"name": name, "port": number, "targetPort": number, "protocol": "TCP"}
        for name, number in sorted(found.items())
    ]


def _service_of(canary: Obj) -> CanaryService:
    return parsed_canary(canary).spec.service or NO_SERVICE


def service_ports(canary: Obj, target: Obj) -> list[Obj]:
    service = _service_of(canary)
    ports = [_primary_port(service)]
    if service.port_discovery:
        ports += discovered_ports(service, target["spec"]["template"].get("spec") or {})
    return ports


def services(canary: Obj, target: Obj) -> list[Obj]:
    """The apex, -primary and -canary Services gitcanary creates (ClusterIP or headless)."""
    label, value = selector_label(target)
    service = _service_of(canary)
    name = service.name or target["metadata"]["name"]
    ports = service_ports(canary, target)
    out = []
    for suffix, selected, extra in (
        ("", f"{value}-primary", service.apex or NO_METADATA),
        ("-primary", f"{value}-primary", service.primary or NO_METADATA),
        ("-canary", value, service.canary or NO_METADATA),
    ):
        spec: Obj = {"type": "ClusterIP", "selector": {label: selected}, "ports": [dict(p) for p in ports]}
        if service.headless:
            spec["clusterIP"] = "None"
        if service.traffic_distribution:
            spec["trafficDistribution"] = service.traffic_distribution
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": f"{name}{suffix}",
                    "namespace": canary["metadata"]["namespace"],
                    "labels": {**extra.labels, label: f"{name}{suffix}", **MANAGED_BY},
                    "annotations": {**extra.annotations, **OPT_OUT},
                    "ownerReferences": [owner_reference(canary)],
                },
                "spec": spec,
            }
        )
    return out


def keep_unmanaged(canary: Obj, desired: Obj, live: Obj) -> Obj:
    """``desired`` with the live values of the keys ``unmanagedMetadata`` lists, as Flagger."""
    unmanaged = _service_of(canary).unmanaged_metadata
    if unmanaged is None:
        return desired
    meta, live_meta = desired["metadata"], live.get("metadata") or {}
    for field, keys in (("annotations", unmanaged.annotations), ("labels", unmanaged.labels)):
        theirs = live_meta.get(field) or {}
        for key in keys:
            if key in theirs:
                meta.setdefault(field, {})[key] = theirs[key]
    return desired


def takeover(desired: Obj, live: Obj) -> Obj:
    """The apply body for a Service gitcanary did not create: selector, ports and Flux's opt-out,
    no ownerReference and no label, with the original configuration recorded once."""
    meta = live["metadata"]
    annotations = dict(OPT_OUT)
    recorded = recorded_original(live)
    if recorded is None:
        theirs = meta.get("annotations") or {}
        recorded = {
            "spec": {"selector": live["spec"].get("selector"), "ports": live["spec"].get("ports") or []},
            "annotations": {key: theirs.get(key) for key in OPT_OUT},
        }
    annotations[ORIGINAL_CONFIGURATION] = json.dumps(recorded, sort_keys=True, separators=(",", ":"))
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "annotations": annotations},
        "spec": {"selector": desired["spec"]["selector"], "ports": desired["spec"]["ports"]},
    }


def is_ours(live: Obj, canary: Obj) -> bool:
    """Whether gitcanary created ``live`` for this Canary (its controller ownerReference)."""
    return owned_by(live, str(canary["metadata"].get("uid", "")))
