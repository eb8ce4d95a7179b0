"""ConfigMap and Secret tracking: find what a pod spec references, checksum it,
and rename the references to the ``-primary`` copies.

A reference is tracked unless the object carries the annotation
``flagger.app/config-tracking: disabled`` (or ``gitcanary.io/config-tracking``).
Optional references to missing objects are ignored, as Kubernetes does.
Keys of ``trackedConfigs`` are ``configmap/<name>`` and ``secret/<name>``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

Obj = dict[str, Any]

TRACKING_ANNOTATIONS = ("flagger.app/config-tracking", "gitcanary.io/config-tracking")


def _containers(pod_spec: Mapping[str, Any]) -> Iterator[Obj]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from pod_spec.get(key) or []


def referenced_configs(pod_spec: Mapping[str, Any]) -> set[str]:
    """Keys like ``configmap/app-config`` for everything the pod spec mounts or reads."""
    refs: set[str] = set()
    for volume in pod_spec.get("volumes") or []:
        if "configMap" in volume:
            refs.add(f"configmap/{volume['configMap']['name']}")
        if "secret" in volume:
            refs.add(f"secret/{volume['secret']['secretName']}")
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                refs.add(f"configmap/{source['configMap']['name']}")
            if "secret" in source:
                refs.add(f"secret/{source['secret']['name']}")
    for container in _containers(pod_spec):
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") or {}
            if "configMapKeyRef" in value_from:
                refs.add(f"configmap/{value_from['configMapKeyRef']['name']}")
            if "secretKeyRef" in value_from:
                refs.add(f"secret/{value_from['secretKeyRef']['name']}")
        for env_from in container.get("envFrom") or []:
            if "configMapRef" in env_from:
                refs.add(f"configmap/{env_from['configMapRef']['name']}")
            if "secretRef" in env_from:
                refs.add(f"secret/{env_from['secretRef']['name']}")
    return refs


def is_tracked(obj: Mapping[str, Any]) -> bool:
    annotations = obj.get("metadata", {}).get("annotations") or {}
    return all(annotations.get(a) != "disabled" for a in TRACKING_ANNOTATIONS)


def checksum(obj: Mapping[str, Any]) -> str:
    payload = {"data": obj.get("data") or {}, "binaryData": obj.get("binaryData") or {}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[
        :16
    ]


def renames(tracked: Mapping[str, str]) -> dict[str, str]:
    """Map ``configmap/x`` -> ``x-primary`` for every tracked config."""
    return {key: f"{key.split('/', 1)[1]}-primary" for key in tracked}


def rename_config_refs(pod_spec: Mapping[str, Any], names: Mapping[str, str]) -> Obj:
    """A copy of the pod spec whose tracked config references point at the -primary copies."""
    spec: Obj = copy.deepcopy(dict(pod_spec))

    def new(kind: str, name: str) -> str:
        return names.get(f"{kind}/{name}", name)

    for volume in spec.get("volumes") or []:
        if "configMap" in volume:
            volume["configMap"]["name"] = new("configmap", volume["configMap"]["name"])
        if "secret" in volume:
            volume["secret"]["secretName"] = new("secret", volume["secret"]["secretName"])
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                source["configMap"]["name"] = new("configmap", source["configMap"]["name"])
            if "secret" in source:
                source["secret"]["name"] = new("secret", source["secret"]["name"])
    for container in _containers(spec):
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") or {}
            if "configMapKeyRef" in value_from:
                ref = value_from["configMapKeyRef"]
                ref["name"] = new("configmap", ref["name"])
            if "secretKeyRef" in value_from:
                ref = value_from["secretKeyRef"]
                ref["name"] = new("secret", ref["name"])
        for env_from in container.get("envFrom") or []:
            if "configMapRef" in env_from:
                env_from["configMapRef"]["name"] = new("configmap", env_from["configMapRef"]["name"])
            if "secretRef" in env_from:
                env_from["secretRef"]["name"] = new("secret", env_from["secretRef"]["name"])
    return spec


def primary_copy(obj: Obj, owner: Obj) -> Obj:
    """The ``-primary`` copy of a ConfigMap or Secret, owned by the Canary."""
    meta = obj["metadata"]
    out: Obj = {
        "apiVersion": "v1",
        "kind": obj["kind"],
        "metadata": {
            "name": f"{meta['name']}-primary",
            "namespace": meta["namespace"],
            "labels": {k: v for k, v in (meta.get("labels") or {}).items() if "fluxcd.io/" not in k},
            "annotations": {"kustomize.toolkit.fluxcd.io/reconcile": "disabled"},
            "ownerReferences": [owner],
        },
    }
    for key in ("data", "binaryData", "type", "immutable"):
        if key in obj:
            out[key] = copy.deepcopy(obj[key])
    return out
