"""The workload lifecycle reads the typed Canary, and still drives the target of a Canary the
models reject (the deletion finalizer gives its replicas back)."""

import itertools
from typing import Any

from controller.workloads import services
from controller.workloads.target import TargetWorkload
from tests.unit.workloads.fake_kube import FakeKube

Obj = dict[str, Any]
UIDS = itertools.count()


def canary(threshold: Any = 5, **service: Any) -> Obj:
    """A Canary as served (uid, generation), a new uid each time."""
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": f"u-{next(UIDS)}", "generation": 1},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent"},
            "service": {"port": 9898, **service},
            "analysis": {"interval": "1m", "threshold": threshold, "stepWeight": 10},
        },
    }


def test_an_invalid_canary_still_names_its_target() -> None:
    for obj in (canary(), canary("five")):
        workload = TargetWorkload(FakeKube(), obj)  # type: ignore[arg-type]  # FakeKube stands in for Kube
        assert (workload.kind, workload.api_version, workload.name) == ("DaemonSet", "apps/v1", "agent")


def test_services_take_the_typed_service_spec() -> None:
    target = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "test"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {"spec": {"containers": []}}},
    }
    obj = canary(
        name="web", headless=True, apex={"labels": {"tier": "edge"}}, unmanagedMetadata={"labels": ["x"]}
    )
    apex, primary, canary_svc = services.services(obj, target)
    assert [s["metadata"]["name"] for s in (apex, primary, canary_svc)] == [
        "web",
        "web-primary",
        "web-canary",
    ]
    assert apex["metadata"]["labels"]["tier"] == "edge" and "tier" not in primary["metadata"]["labels"]
    assert apex["spec"]["clusterIP"] == "None"
    assert apex["spec"]["ports"] == [{"name": "http", "port": 9898, "targetPort": 9898, "protocol": "TCP"}]
    live = {"metadata": {"labels": {"x": "theirs"}}}
    assert services.keep_unmanaged(obj, apex, live)["metadata"]["labels"]["x"] == "theirs"
