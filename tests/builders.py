"""Fixture builders for Kubernetes objects used across tests (no copy-pasted YAML blobs)."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def deployment(namespace: str, name: str, image: str, replicas: int = 2) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "podinfod", "image": image}]},
            },
        },
    }


ERROR_RATE_QUERY = (
    '100 - sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",'
    'destination_workload="{{ target }}",response_code!~"5.*"}[{{ interval }}])) / '
    'sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",'
    'destination_workload="{{ target }}"}[{{ interval }}])) * 100'
)


def metric_template(namespace: str, name: str, prometheus_url: str, query: str = ERROR_RATE_QUERY) -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "MetricTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"provider": {"type": "prometheus", "address": prometheus_url}, "query": query},
    }


def canary(
    namespace: str,
    name: str,
    *,
    iterations: int | None = None,
    step_weight: int | None = None,
    max_weight: int | None = None,
    threshold: int = 2,
    template: str | None = "error-rate",
    max_error: float = 1,
    provider: str | None = None,
    interval: str = "10s",
) -> Obj:
    analysis: Obj = {"interval": interval, "threshold": threshold}
    if iterations is not None:
        analysis["iterations"] = iterations
    if step_weight is not None:
        analysis["stepWeight"] = step_weight
        analysis["maxWeight"] = max_weight or 50
    if template:
        analysis["metrics"] = [
            {
                "name": template,
                "templateRef": {"name": template},
                "thresholdRange": {"max": max_error},
                "interval": interval,
            }
        ]
    spec: Obj = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "service": {"port": 9898},
        "analysis": analysis,
    }
    if provider:
        spec["provider"] = provider
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def daemonset(namespace: str, name: str, image: str) -> Obj:
    """A DaemonSet with the same selector/template layout as :func:`deployment`."""
    obj = deployment(namespace, name, image)
    obj["kind"] = "DaemonSet"
    del obj["spec"]["replicas"]
    return obj


def config_map(
    namespace: str, name: str, data: dict[str, str], annotations: dict[str, str] | None = None
) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def secret(namespace: str, name: str, data: dict[str, str], annotations: dict[str, str] | None = None) -> Obj:
    """A Secret; ``data`` values are taken as already base64-encoded."""
    obj = config_map(namespace, name, data, annotations)
    obj["kind"] = "Secret"
    obj["type"] = "Opaque"
    return obj


def owned(obj: Obj, uid: str) -> Obj:
    """``obj`` with ``metadata.uid`` set, as the API server returns it (for ownerReferences)."""
    obj["metadata"]["uid"] = uid
    return obj


def flux_applied(obj: Obj, kustomization: str = "apps", kustomization_namespace: str = "flux-system") -> Obj:
    """``obj`` labelled the way Flux's kustomize-controller labels what it applies."""
    labels = obj["metadata"].setdefault("labels", {})
    labels["kustomize.toolkit.fluxcd.io/name"] = kustomization
    labels["kustomize.toolkit.fluxcd.io/namespace"] = kustomization_namespace
    return obj


def git_repository(
    namespace: str,
    name: str,
    url: str,
    *,
    branch: str = "main",
    secret: str | None = None,
    allowed_namespaces: str | None = None,
) -> Obj:
    """A Flux GitRepository; ``allowed_namespaces`` sets ``gitcanary.io/allowed-namespaces``."""
    spec: Obj = {"interval": "1m", "url": url, "ref": {"branch": branch}}
    if secret:
        spec["secretRef"] = {"name": secret}
    meta: Obj = {"name": name, "namespace": namespace}
    if allowed_namespaces is not None:
        meta["annotations"] = {"gitcanary.io/allowed-namespaces": allowed_namespaces}
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": meta,
        "spec": spec,
    }


def kustomization(namespace: str, name: str, source: str, path: str, applied: tuple[Obj, ...] = ()) -> Obj:
    """A Flux Kustomization of GitRepository ``source`` (same namespace) whose status lists the
    ``applied`` objects in its inventory, as kustomize-controller records them."""
    entries = [
        {
            "id": "{}_{}_{}_{}".format(
                o["metadata"].get("namespace", ""),
                o["metadata"]["name"],
                o["apiVersion"].split("/")[0] if "/" in o["apiVersion"] else "",
                o["kind"],
            ),
            "v": o["apiVersion"].split("/")[-1],
        }
        for o in applied
    ]
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "10m",
            "prune": True,
            "path": path,
            "sourceRef": {"kind": "GitRepository", "name": source},
        },
        "status": {"inventory": {"entries": entries}},
    }
