"""Primary workload, Services and revision: the pure builders of controller.workloads.primary."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from controller.scalers import hpa
from controller.workloads import primary, services, target
from tests.builders import canary, daemonset, deployment, flux_applied, owned

Obj = dict[str, Any]

FLUX_RECONCILE = "kustomize.toolkit.fluxcd.io/reconcile"


def podinfo() -> Obj:
    return flux_applied(deployment("test", "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.1", replicas=3))


def podinfo_canary() -> Obj:
    return owned(canary("test", "podinfo"), "uid-123")


# -- selector label -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("match", "expected"),
    [
        ({"app": "podinfo"}, ("app", "podinfo")),
        ({"name": "podinfo"}, ("name", "podinfo")),
        ({"app.kubernetes.io/name": "podinfo", "tier": "web"}, ("app.kubernetes.io/name", "podinfo")),
        # `app` wins over the others, as in Flagger's default -selector-labels order
        ({"app.kubernetes.io/name": "x", "name": "y", "app": "z"}, ("app", "z")),
    ],
)
def test_selector_label_is_discovered(match: dict[str, str], expected: tuple[str, str]) -> None:
    obj = deployment("test", "podinfo", "img:1")
    obj["spec"]["selector"]["matchLabels"] = match
    assert primary.selector_label(obj) == expected


def test_missing_selector_label_names_the_workload_and_the_accepted_labels() -> None:
    obj = deployment("test", "podinfo", "img:1")
    obj["spec"]["selector"]["matchLabels"] = {"tier": "web"}
    with pytest.raises(primary.TargetError) as info:
        primary.selector_label(obj)
    message = str(info.value)
    assert "Deployment podinfo" in message
    for label in primary.SELECTOR_LABELS:
        assert label in message


def test_selector_without_match_labels_is_a_target_error() -> None:
    obj = deployment("test", "podinfo", "img:1")
    obj["spec"]["selector"] = {"matchExpressions": [{"key": "app", "operator": "Exists"}]}
    with pytest.raises(primary.TargetError):
        primary.primary_workload(obj, podinfo_canary(), 1, {})


# -- primary workload ------------------------------------------------------------------------------
def test_primary_selector_and_pod_labels_are_suffixed() -> None:
    target_obj = podinfo()
    target_obj["spec"]["selector"]["matchLabels"]["tier"] = "web"
    target_obj["spec"]["template"]["metadata"]["labels"]["tier"] = "web"
    out = primary.primary_workload(target_obj, podinfo_canary(), 3, {})
    assert out["metadata"]["name"] == "podinfo-primary"
    assert out["metadata"]["namespace"] == "test"
    assert out["spec"]["selector"] == {"matchLabels": {"app": "podinfo-primary"}}
    pod_labels = out["spec"]["template"]["metadata"]["labels"]
    assert pod_labels == {"app": "podinfo-primary", "tier": "web"}
    # the selector must select the primary's own pods
    assert out["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    # the target is untouched
    assert target_obj["spec"]["template"]["metadata"]["labels"]["app"] == "podinfo"
    assert target_obj["metadata"]["name"] == "podinfo"


def test_flux_ownership_is_stripped_and_reconcile_disabled() -> None:
    target_obj = podinfo()
    target_obj["metadata"]["labels"]["team"] = "a"
    target_obj["metadata"]["annotations"] = {
        "kustomize.toolkit.fluxcd.io/checksum": "abc",
        "helm.toolkit.fluxcd.io/driftDetection": "enabled",
        primary.KUBECTL_LAST_APPLIED: "{}",
        "deployment.kubernetes.io/revision": "4",
        "owner": "team-a",
    }
    target_obj["spec"]["template"]["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] = "apps"
    out = primary.primary_workload(target_obj, podinfo_canary(), 3, {})
    labels = out["metadata"]["labels"]
    assert labels == {"app": "podinfo-primary", "team": "a", "app.kubernetes.io/managed-by": "gitcanary"}
    assert out["metadata"]["annotations"] == {"owner": "team-a", FLUX_RECONCILE: "disabled"}
    assert "kustomize.toolkit.fluxcd.io/name" not in out["spec"]["template"]["metadata"]["labels"]


def test_owner_reference_points_at_the_canary() -> None:
    out = primary.primary_workload(podinfo(), podinfo_canary(), 3, {})
    assert out["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "gitcanary.io/v1beta1",
            "kind": "Canary",
            "name": "podinfo",
            "uid": "uid-123",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


@pytest.mark.parametrize(("replicas", "expected"), [(5, 5), (0, 0)])
def test_deployment_replicas_are_set(replicas: int, expected: int) -> None:
    target_obj = podinfo()
    target_obj["spec"]["paused"] = True
    out = primary.primary_workload(target_obj, podinfo_canary(), replicas, {})
    assert out["spec"]["replicas"] == expected
    assert "paused" not in out["spec"]


def test_autoscaled_primary_leaves_replicas_to_its_hpa_copy() -> None:
    """replicas=None (an autoscaler manages the primary): no replicas field, and the HPA copy
    scales exactly the object the primary builder names."""
    target_obj = podinfo()
    out = primary.primary_workload(target_obj, podinfo_canary(), None, {})
    assert "replicas" not in out["spec"]
    source_hpa: Obj = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "minReplicas": 2,
            "maxReplicas": 4,
        },
    }
    copy_ = hpa.primary_hpa(source_hpa, podinfo_canary(), out["metadata"]["name"])
    assert copy_["spec"]["scaleTargetRef"]["name"] == out["metadata"]["name"]
    assert copy_["spec"]["scaleTargetRef"]["kind"] == out["kind"]
    assert copy_["metadata"]["ownerReferences"] == out["metadata"]["ownerReferences"]


def test_daemonset_primary_has_no_replicas() -> None:
    out = primary.primary_workload(daemonset("test", "agent", "agent:1"), podinfo_canary(), 4, {})
    assert out["kind"] == "DaemonSet"
    assert out["metadata"]["name"] == "agent-primary"
    assert "replicas" not in out["spec"]
    assert out["spec"]["selector"] == {"matchLabels": {"app": "agent-primary"}}


def test_primary_template_renames_tracked_config_references() -> None:
    target_obj = podinfo()
    target_obj["spec"]["template"]["spec"]["volumes"] = [
        {"name": "cfg", "configMap": {"name": "podinfo-config"}},
        {"name": "other", "configMap": {"name": "untracked"}},
    ]
    out = primary.primary_workload(
        target_obj, podinfo_canary(), 1, {"configmap/podinfo-config": "podinfo-config-primary"}
    )
    volumes = out["spec"]["template"]["spec"]["volumes"]
    assert [v["configMap"]["name"] for v in volumes] == ["podinfo-config-primary", "untracked"]
    assert target_obj["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == "podinfo-config"


def test_daemonset_scale_to_zero_selector_is_not_copied_to_the_primary() -> None:
    target_obj = daemonset("test", "agent", "agent:1")
    target_obj["spec"]["template"]["spec"]["nodeSelector"] = {
        primary.SCALE_TO_ZERO_SELECTOR: "true",
        "disk": "ssd",
    }
    out = primary.primary_workload(target_obj, podinfo_canary(), None, {})
    assert out["spec"]["template"]["spec"]["nodeSelector"] == {"disk": "ssd"}


def test_scale_to_zero_selector_is_the_one_the_target_lifecycle_sets() -> None:
    assert primary.SCALE_TO_ZERO_SELECTOR == target.SCALE_TO_ZERO_SELECTOR


# -- services --------------------------------------------------------------------------------------
def test_services_select_primary_and_canary_pods() -> None:
    out = services.services(podinfo_canary(), podinfo())
    by_name = {s["metadata"]["name"]: s for s in out}
    assert list(by_name) == ["podinfo", "podinfo-primary", "podinfo-canary"]
    assert by_name["podinfo"]["spec"]["selector"] == {"app": "podinfo-primary"}
    assert by_name["podinfo-primary"]["spec"]["selector"] == {"app": "podinfo-primary"}
    assert by_name["podinfo-canary"]["spec"]["selector"] == {"app": "podinfo"}
    for svc in out:
        assert svc["spec"]["type"] == "ClusterIP"
        assert svc["metadata"]["namespace"] == "test"
        assert svc["metadata"]["annotations"][FLUX_RECONCILE] == "disabled"
        assert svc["metadata"]["ownerReferences"][0]["uid"] == "uid-123"
        assert svc["metadata"]["labels"]["app"] == svc["metadata"]["name"]


def test_service_port_defaults_target_port_to_port_and_name_to_http() -> None:
    out = services.services(podinfo_canary(), podinfo())  # the builder sets service.port 9898
    for svc in out:
        assert svc["spec"]["ports"] == [{"name": "http", "port": 9898, "targetPort": 9898, "protocol": "TCP"}]


def test_service_port_name_and_target_port() -> None:
    cd = podinfo_canary()
    cd["spec"]["service"] = {"port": 80, "targetPort": "http-web", "portName": "web"}
    out = services.services(cd, podinfo())
    assert {json.dumps(s["spec"]["ports"]) for s in out} == {
        json.dumps([{"name": "web", "port": 80, "targetPort": "http-web", "protocol": "TCP"}])
    }


def test_service_name_override_and_per_service_metadata() -> None:
    cd = podinfo_canary()
    cd["spec"]["service"] = {
        "port": 9898,
        "name": "frontend",
        "apex": {"labels": {"expose": "true"}, "annotations": {"a": "1"}},
        "canary": {"annotations": {"c": "3"}},
    }
    apex, prim, can = services.services(cd, podinfo())
    assert (apex["metadata"]["name"], prim["metadata"]["name"], can["metadata"]["name"]) == (
        "frontend",
        "frontend-primary",
        "frontend-canary",
    )
    assert apex["metadata"]["labels"]["expose"] == "true"
    drift = "helm.toolkit.fluxcd.io/driftDetection"  # as Flagger's router.filterMetadata
    assert apex["metadata"]["annotations"] == {"a": "1", FLUX_RECONCILE: "disabled", drift: "disabled"}
    assert can["metadata"]["annotations"] == {"c": "3", FLUX_RECONCILE: "disabled", drift: "disabled"}
    assert "expose" not in prim["metadata"]["labels"]


# -- revision --------------------------------------------------------------------------------------
def _reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed_keys(v) for v in value]
    return value


def test_revision_is_stable_across_key_order() -> None:
    template = podinfo()["spec"]["template"]
    template["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    configs = {"configmap/a": "111", "secret/b": "222"}
    shuffled = _reversed_keys(copy.deepcopy(template))
    assert list(shuffled) != list(template)  # the key order really differs
    assert primary.revision(template, configs) == primary.revision(
        shuffled, dict(reversed(list(configs.items())))
    )
    assert len(primary.revision(template)) == 16


def test_revision_changes_with_the_template_and_the_config_checksums() -> None:
    template = podinfo()["spec"]["template"]
    base = primary.revision(template, {"configmap/a": "111"})
    assert primary.revision(template, {"configmap/a": "112"}) != base
    assert primary.revision(template, {"configmap/a": "111", "secret/b": "1"}) != base
    assert primary.revision(template) != base
    changed = copy.deepcopy(template)
    changed["spec"]["containers"][0]["image"] = "ghcr.io/stefanprodan/podinfo:6.0.2"
    assert primary.revision(changed, {"configmap/a": "111"}) != base


def test_revision_ignores_the_daemonset_scale_to_zero_selector() -> None:
    """Scaling a DaemonSet canary to zero edits its template; that is not a new revision."""
    template = daemonset("test", "agent", "agent:1")["spec"]["template"]
    base = primary.revision(template)
    scaled_down = copy.deepcopy(template)
    scaled_down["spec"]["nodeSelector"] = {primary.SCALE_TO_ZERO_SELECTOR: "true"}
    assert primary.revision(scaled_down) == base
    with_selector = copy.deepcopy(template)
    with_selector["spec"]["nodeSelector"] = {"disk": "ssd"}
    both = copy.deepcopy(with_selector)
    both["spec"]["nodeSelector"][primary.SCALE_TO_ZERO_SELECTOR] = "true"
    assert primary.revision(both) == primary.revision(with_selector) != base
    assert scaled_down["spec"]["nodeSelector"] == {primary.SCALE_TO_ZERO_SELECTOR: "true"}  # not mutated
