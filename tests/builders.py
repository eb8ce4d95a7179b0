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
