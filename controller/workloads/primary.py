"""Pure builders for the objects generated from a target workload.

Invariants:
- the primary's selector and pod labels equal the target's, with the selector
  label's value suffixed ``-primary`` (the Services are built in ``workloads.services``);
- generated objects carry ``kustomize.toolkit.fluxcd.io/reconcile: disabled``
  and never inherit Flux's ownership labels, so Flux neither prunes nor fights them;
- the revision is a sha256 over canonical JSON (sorted keys, no whitespace) of
  the pod template plus the tracked config checksums: stable across controller
  versions and processes. The node selector the controller itself sets to scale a
  DaemonSet canary to zero (``SCALE_TO_ZERO_SELECTOR``) is not part of the revision
  and is never copied to the primary (as Flagger does).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from controller.errors import PermanentError
from controller.ownership import (
    FLUX_OWNER_PREFIXES,
    FLUX_RECONCILE_DISABLED,
    MANAGED_BY,
    owner_reference,
)
from controller.workloads.configs import rename_config_refs

Obj = dict[str, Any]

SELECTOR_LABELS = ("app", "name", "app.kubernetes.io/name")
KUBECTL_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SCALE_TO_ZERO_SELECTOR = "gitcanary.io/scale-to-zero"
"""Node selector label that scales a DaemonSet canary to zero (set by ``TargetWorkload``)."""


class TargetError(PermanentError, ValueError):
    """The target workload cannot be used as a canary target (the message says why)."""


def _without_scale_to_zero(pod_spec: Mapping[str, Any]) -> Obj:
    """A shallow copy of the pod spec without the controller's scale-to-zero node selector."""
    spec = dict(pod_spec)
    selector = {k: v for k, v in (spec.get("nodeSelector") or {}).items() if k != SCALE_TO_ZERO_SELECTOR}
    if selector:
        spec["nodeSelector"] = selector
    else:
        spec.pop("nodeSelector", None)
    return spec


def revision(pod_template: Mapping[str, Any], tracked_configs: Mapping[str, str] | None = None) -> str:
    template = {**pod_template, "spec": _without_scale_to_zero(pod_template.get("spec") or {})}
    payload = {"template": template, "configs": dict(sorted((tracked_configs or {}).items()))}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def selector_label(target: Obj) -> tuple[str, str]:
    """The (label, value) that identifies the target's pods, as Flagger finds it."""
    match = target.get("spec", {}).get("selector", {}).get("matchLabels", {}) or {}
    for label in SELECTOR_LABELS:
        if label in match:
            return label, str(match[label])
    raise TargetError(
        f"{target['kind']} {target['metadata']['name']} selector must have one of the labels "
        f"{', '.join(SELECTOR_LABELS)} in spec.selector.matchLabels"
    )


def _clean_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (labels or {}).items() if not k.startswith(FLUX_OWNER_PREFIXES)}


def _clean_annotations(annotations: Mapping[str, str] | None) -> dict[str, str]:
    kept = {
        k: v
        for k, v in (annotations or {}).items()
        if not k.startswith(FLUX_OWNER_PREFIXES)
        and k != KUBECTL_LAST_APPLIED
        and not k.startswith("deployment.kubernetes.io/")
    }
    return {**kept, **FLUX_RECONCILE_DISABLED}


def primary_template(target: Obj, config_renames: Mapping[str, str]) -> Obj:
    """The target's pod template with primary labels and config references renamed."""
    label, value = selector_label(target)
    template: Obj = copy.deepcopy(target["spec"]["template"])
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**_clean_labels(meta.get("labels")), label: f"{value}-primary"}
    template["spec"] = rename_config_refs(_without_scale_to_zero(template.get("spec", {})), config_renames)
    return template


def primary_workload(
    target: Obj, canary: Obj, replicas: int | None, config_renames: Mapping[str, str]
) -> Obj:
    label, value = selector_label(target)
    name = target["metadata"]["name"]
    spec = copy.deepcopy(target["spec"])
    spec["selector"] = {"matchLabels": {label: f"{value}-primary"}}
    spec["template"] = primary_template(target, config_renames)
    if target["kind"] == "Deployment":
        spec.pop("paused", None)
        if replicas is None:
            spec.pop("replicas", None)
        else:
            spec["replicas"] = replicas
    return {
        "apiVersion": target["apiVersion"],
        "kind": target["kind"],
        "metadata": {
            "name": f"{name}-primary",
            "namespace": target["metadata"]["namespace"],
            "labels": {
                **_clean_labels(target["metadata"].get("labels")),
                label: f"{value}-primary",
                **MANAGED_BY,
            },
            "annotations": _clean_annotations(target["metadata"].get("annotations")),
            "ownerReferences": [owner_reference(canary)],
        },
        "spec": spec,
    }
