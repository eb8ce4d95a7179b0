"""replicas_conflict: Flux owning spec.replicas while an autoscaler is in use is reported."""

from __future__ import annotations

from typing import Any

from controller.reconcile.correlation import replicas_conflict
from tests.builders import canary, deployment


def _managed(manager: str, fields: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"manager": manager, "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": fields}]


def test_flux_owning_replicas_with_an_hpa_is_a_conflict() -> None:
    c = canary("test", "podinfo", iterations=2, template=None)
    c["spec"]["autoscalerRef"] = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "name": "podinfo",
    }
    target = deployment("test", "podinfo", "img:1")
    target["metadata"]["managedFields"] = _managed("kustomize-controller", {"f:spec": {"f:replicas": {}}})
    message = replicas_conflict(c, target)
    assert message is not None and "HorizontalPodAutoscaler podinfo" in message and "spec.replicas" in message


def test_no_conflict_without_autoscaler_or_when_another_manager_owns_replicas() -> None:
    c = canary("test", "podinfo", iterations=2, template=None)
    target = deployment("test", "podinfo", "img:1")
    target["metadata"]["managedFields"] = _managed("kustomize-controller", {"f:spec": {"f:replicas": {}}})
    assert replicas_conflict(c, target) is None
    c["spec"]["autoscalerRef"] = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "name": "podinfo",
    }
    target["metadata"]["managedFields"] = _managed("kube-controller-manager", {"f:spec": {"f:replicas": {}}})
    assert replicas_conflict(c, target) is None
    target["metadata"]["managedFields"] = _managed("kustomize-controller", {"f:spec": {"f:template": {}}})
    assert replicas_conflict(c, target) is None


def test_a_rollback_of_a_revision_reintroduced_by_a_new_commit_is_a_new_intent() -> None:
    from controller.analysis import RequestWriteBack
    from controller.reconcile.status import intents_for

    rollback = [RequestWriteBack("rolled-back", "rev-bad", "error rate")]
    first = intents_for("t/podinfo", rollback, "img:bad", "img:good", 1.0, introduced_by="aaa")
    again = intents_for("t/podinfo", rollback, "img:bad", "img:good", 2.0, introduced_by="aaa")
    raced = intents_for("t/podinfo", rollback, "img:bad", "img:good", 3.0, introduced_by="bbb")
    assert first[0]["id"] == again[0]["id"], "a replayed decision keeps its id"
    assert first[0]["id"] != raced[0]["id"], "the bad image re-committed by automation is reverted again"
    promotion = [RequestWriteBack("promoted", "rev-ok", "passed")]
    p1 = intents_for("t/podinfo", promotion, "img:ok", "img:ok", 1.0, "img:old", introduced_by="aaa")
    p2 = intents_for("t/podinfo", promotion, "img:ok", "img:ok", 1.0, "img:old", introduced_by="bbb")
    assert p1[0]["id"] == p2[0]["id"], "promotion ids match the approval branch's trailer"
