"""Pure builders of the primary autoscaler copies: HPA, ScaledObject, HTTPScaledObject."""

from __future__ import annotations

from typing import Any

import pytest

from controller.api.canary import PrimaryScalerReplicas, ScalingSetRef
from controller.scalers import hpa, keda, keda_http

Obj = dict[str, Any]


def canary(service: Obj | None = None) -> Obj:
    spec: Obj = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "analysis": {"interval": "1m", "threshold": 5, "stepWeight": 10},
    }
    if service is not None:
        spec["service"] = service
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "uid-1"},
        "spec": spec,
    }


def meta(name: str) -> Obj:
    return {
        "name": name,
        "namespace": "test",
        "labels": {"app": "podinfo", "kustomize.toolkit.fluxcd.io/name": "apps"},
    }


def assert_owned_copy(obj: Obj, name: str) -> None:
    m = obj["metadata"]
    assert m["name"] == name
    assert m["ownerReferences"][0]["uid"] == "uid-1"
    assert m["labels"] == {"app": "podinfo", "app.kubernetes.io/managed-by": "gitcanary"}
    assert m["annotations"]["kustomize.toolkit.fluxcd.io/reconcile"] == "disabled"


# -- HPA -----------------------------------------------------------------------------------------
HPA: Obj = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": meta("podinfo"),
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "minReplicas": 2,
        "maxReplicas": 4,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}}],
    },
}


def test_primary_hpa_targets_the_primary_and_keeps_the_spec() -> None:
    out = hpa.primary_hpa(HPA, canary(), "podinfo-primary")
    assert_owned_copy(out, "podinfo-primary")
    assert out["spec"]["scaleTargetRef"]["name"] == "podinfo-primary"
    assert (out["spec"]["minReplicas"], out["spec"]["maxReplicas"]) == (2, 4)
    assert out["spec"]["metrics"] == HPA["spec"]["metrics"]
    assert HPA["spec"]["scaleTargetRef"]["name"] == "podinfo"  # the source is not modified


def test_primary_hpa_replicas_override() -> None:
    out = hpa.primary_hpa(HPA, canary(), "podinfo-primary", PrimaryScalerReplicas(max_replicas=9))
    assert (out["spec"]["minReplicas"], out["spec"]["maxReplicas"]) == (2, 9)
    assert hpa.min_replicas(HPA) == 2
    assert hpa.min_replicas(None) == 1


# -- ScaledObject ---------------------------------------------------------------------------------
SO: Obj = {
    "apiVersion": "keda.sh/v1alpha1",
    "kind": "ScaledObject",
    "metadata": meta("podinfo-so"),
    "spec": {
        "scaleTargetRef": {"name": "podinfo"},
        "pollingInterval": 10,
        "minReplicaCount": 1,
        "maxReplicaCount": 3,
        "triggers": [
            {"name": "prom", "type": "prometheus", "metadata": {"query": 'sum(rate(x{app="podinfo"}[1m]))'}},
            {"name": "cpu", "type": "cpu", "metadata": {"value": "50"}},
        ],
    },
}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('x{app="podinfo"}', 'x{app="podinfo-primary"}'),
        ('x{app="podinfo-canary"}', 'x{app="podinfo-primary"}'),
        ('x{app="podinfo-canary", svc="podinfo"}', 'x{app="podinfo-primary", svc="podinfo-primary"}'),
        ('x{app="podinfo-primary"}', 'x{app="podinfo-primary"}'),
    ],
)
def test_default_primary_query_rewrites_target_names(query: str, expected: str) -> None:
    assert keda.primary_query(query, "podinfo") == expected


def test_primary_scaled_object_with_default_queries() -> None:
    out = keda.primary_scaled_object(SO, canary(), "podinfo", {})
    assert_owned_copy(out, "podinfo-so-primary")
    assert out["metadata"]["annotations"][keda.TRANSFER_HPA_OWNERSHIP] == "true"
    spec = out["spec"]
    assert spec["scaleTargetRef"]["name"] == "podinfo-primary"
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["name"] == "podinfo-primary"
    assert spec["triggers"][0]["metadata"]["query"] == 'sum(rate(x{app="podinfo-primary"}[1m]))'
    assert spec["triggers"][1] == SO["spec"]["triggers"][1]
    assert (spec["pollingInterval"], spec["minReplicaCount"], spec["maxReplicaCount"]) == (10, 1, 3)
    assert SO["spec"]["triggers"][0]["metadata"]["query"] == 'sum(rate(x{app="podinfo"}[1m]))'


def test_primary_scaler_queries_replace_by_trigger_name_and_replicas_override() -> None:
    queries = {"prom": "sum(up)", "absent": "ignored"}
    out = keda.primary_scaled_object(SO, canary(), "podinfo", queries, PrimaryScalerReplicas(min_replicas=2))
    assert out["spec"]["triggers"][0]["metadata"]["query"] == "sum(up)"
    assert "query" not in out["spec"]["triggers"][1]["metadata"]
    assert (out["spec"]["minReplicaCount"], out["spec"]["maxReplicaCount"]) == (2, 3)


# -- HTTPScaledObject -----------------------------------------------------------------------------
HTTPSO: Obj = {
    "apiVersion": "http.keda.sh/v1alpha1",
    "kind": "HTTPScaledObject",
    "metadata": meta("podinfo"),
    "spec": {
        "hosts": ["www.example.com"],
        "pathPrefixes": ["/"],
        "replicas": {"min": 0, "max": 10},
        "scaleTargetRef": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "podinfo",
            "port": 9898,
            "service": "podinfo",
        },
        "scalingMetric": {"concurrency": {"targetValue": 200}},
    },
}


@pytest.mark.parametrize(
    ("given", "used", "noted"),
    [
        ("keda.sh/v1alpha1", "http.keda.sh/v1alpha1", True),
        ("http.keda.sh/v1alpha1", "http.keda.sh/v1alpha1", False),
        ("", "http.keda.sh/v1alpha1", False),
    ],
)
def test_the_seed_group_is_corrected_with_a_note(given: str, used: str, noted: bool) -> None:
    api_version, note = keda_http.resolve_api_version(given)
    assert api_version == used
    assert (note is not None) == noted
    if note:
        assert "http.keda.sh/v1alpha1" in note and given in note


def test_primary_http_scaled_object_points_at_the_generated_primary_service() -> None:
    c = canary({"port": 8080, "name": "web"})
    out = keda_http.primary_http_scaled_object(
        HTTPSO,
        c,
        PrimaryScalerReplicas(min_replicas=1),
        ScalingSetRef(name="primary", kind="ClusterHTTPScalingSet"),
    )
    assert_owned_copy(out, "podinfo-primary")
    spec = out["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "podinfo-primary",
        "port": 8080,
        "service": "web-primary",
    }
    assert spec["replicas"] == {"min": 1, "max": 10}
    assert spec["scalingSet"] == {"name": "primary", "kind": "ClusterHTTPScalingSet"}
    assert spec["headers"] == [{"name": keda_http.ROUTING_HEADER, "value": keda_http.PRIMARY_BACKEND}]
    assert spec["hosts"] == ["www.example.com"] and spec["scalingMetric"] == HTTPSO["spec"]["scalingMetric"]
    assert HTTPSO["spec"]["scaleTargetRef"]["name"] == "podinfo"


def test_primary_http_scaled_object_without_service_uses_flagger_naming() -> None:
    out = keda_http.primary_http_scaled_object(HTTPSO, canary(), None, ScalingSetRef(name="p"))
    assert out["spec"]["scaleTargetRef"]["service"] == "podinfo-primary"
    assert out["spec"]["scaleTargetRef"]["port"] == 9898
    assert out["spec"]["scalingSet"] == {"name": "p", "kind": "HTTPScalingSet"}
    assert out["spec"]["replicas"] == {"min": 0, "max": 10}


def test_notes_about_the_target_and_pruned_fields() -> None:
    c = canary({"port": 9898})
    (warning,) = keda_http.target_notes(HTTPSO, c)
    assert "podinfo-canary" in warning
    assert keda_http.target_notes(HTTPSO, canary({"port": 9898, "name": "other"})) == []
    desired = keda_http.primary_http_scaled_object(HTTPSO, c, None, ScalingSetRef(name="p"))
    pruned = {"spec": {k: v for k, v in desired["spec"].items() if k != "scalingSet"}}
    (note,) = keda_http.applied_notes(desired, pruned)
    assert "scalingSet" in note and keda_http.ROUTING_HEADER in note
    assert keda_http.applied_notes(desired, desired) == []
    bare = {"spec": {k: v for k, v in pruned["spec"].items() if k != "headers"}}
    assert len(keda_http.applied_notes(desired, bare)) == 2


def test_canary_scaled_up_from_zero_gets_at_least_one_replica() -> None:
    assert keda_http.min_replicas(HTTPSO) == 1
    assert keda_http.min_replicas({"spec": {"replicas": {"min": 3}}}) == 3
    assert keda.min_replicas(SO) == 1


def test_only_optional_undeclared_fields_are_dropped() -> None:
    message = "failed to create typed patch object (...): .spec.scalingSet: field not declared in schema"
    assert keda_http.undeclared_field(message) == "scalingSet"
    assert keda_http.undeclared_field(message.replace("scalingSet", "headers")) == "headers"
    assert keda_http.undeclared_field(message.replace("scalingSet", "hosts")) is None
    assert keda_http.undeclared_field("conflict") is None
