"""The generated Services: Flagger's options, and never adopting a Service gitcanary did not create.

Before this, a user's own apex Service got the Canary's ownerReference by server-side apply, so
deleting the Canary deleted the user's Service; portDiscovery, headless, appProtocol,
trafficDistribution and unmanagedMetadata were accepted by the CRD and ignored.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.kube import Kube
from controller.ownership import ORIGINAL_CONFIGURATION
from controller.workloads import services
from controller.workloads.primary import TargetError
from controller.workloads.target import TargetWorkload
from tests.builders import canary, deployment, owned
from tests.unit.workloads.fake_kube import FakeKube

Obj = dict[str, Any]


def podinfo(ports: list[Obj] | None = None, sidecar: bool = False) -> Obj:
    obj = deployment("test", "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.1", replicas=3)
    containers = obj["spec"]["template"]["spec"]["containers"]
    containers[0]["ports"] = ports or []
    if sidecar:
        containers.append({"name": "istio-proxy", "image": "proxy", "ports": [{"containerPort": 15090}]})
    return obj


def podinfo_canary(**service: Any) -> Obj:
    cd = owned(canary("test", "podinfo"), "uid-123")
    cd["spec"]["service"] = {"port": 9898, **service}
    return cd


def user_service(name: str = "podinfo") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "test", "labels": {"team": "web"}, "annotations": {"a": "1"}},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.0.0.7",
            "selector": {"app": "podinfo"},
            "ports": [{"name": "web", "port": 80, "targetPort": 9898, "protocol": "TCP"}],
        },
    }


def _as_kube(fake: FakeKube) -> Kube:
    return fake  # type: ignore[return-value]


# -- Flagger's Service options ------------------------------------------------------------------
def test_port_discovery_adds_the_containers_other_ports_but_no_proxy_port() -> None:
    target = podinfo(
        [
            {"name": "http", "containerPort": 9898},
            {"name": "grpc", "containerPort": 9999},
            {"containerPort": 8080},
        ],
        sidecar=True,
    )
    apex, prim, can = services.services(podinfo_canary(portDiscovery=True), target)
    expected = [
        {"name": "http", "port": 9898, "targetPort": 9898, "protocol": "TCP"},
        {"name": "grpc", "port": 9999, "targetPort": 9999, "protocol": "TCP"},
        {"name": "tcp-podinfod-2", "port": 8080, "targetPort": 8080, "protocol": "TCP"},
    ]
    for svc in (apex, prim, can):
        assert svc["spec"]["ports"] == expected


def test_port_discovery_skips_the_port_the_target_port_names_or_numbers() -> None:
    target = podinfo([{"name": "http", "containerPort": 9898}, {"name": "metrics", "containerPort": 9797}])
    by_name = services.services(podinfo_canary(port=80, targetPort="http", portDiscovery=True), target)[0]
    assert [p["name"] for p in by_name["spec"]["ports"]] == ["http", "metrics"]
    by_number = services.services(podinfo_canary(port=80, targetPort=9797, portDiscovery=True), target)[0]
    assert [(p["name"], p["port"]) for p in by_number["spec"]["ports"]] == [("http", 80), ("http", 9898)]


def test_without_port_discovery_only_the_service_port() -> None:
    target = podinfo([{"name": "grpc", "containerPort": 9999}])
    assert len(services.services(podinfo_canary(), target)[0]["spec"]["ports"]) == 1


def test_headless_app_protocol_and_traffic_distribution() -> None:
    cd = podinfo_canary(headless=True, appProtocol="http", trafficDistribution="PreferClose")
    for svc in services.services(cd, podinfo()):
        assert svc["spec"]["clusterIP"] == "None"
        assert svc["spec"]["trafficDistribution"] == "PreferClose"
        assert svc["spec"]["ports"][0]["appProtocol"] == "http"


# -- the lifecycle against the API ---------------------------------------------------------------
async def test_a_users_apex_service_is_taken_over_without_an_owner_reference() -> None:
    kube = FakeKube(podinfo(), user_service())
    await TargetWorkload(_as_kube(kube), podinfo_canary()).initialize_primary()
    apex = kube.stored("Service", "test", "podinfo")
    assert "ownerReferences" not in apex["metadata"], "deleting the Canary must not delete it"
    assert apex["metadata"]["labels"] == {"team": "web"}, "its labels are the user's"
    assert apex["spec"]["selector"] == {"app": "podinfo-primary"}
    assert apex["spec"]["ports"] == [{"name": "http", "port": 9898, "targetPort": 9898, "protocol": "TCP"}]
    assert apex["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/reconcile"] == "disabled"
    recorded = json.loads(apex["metadata"]["annotations"][ORIGINAL_CONFIGURATION])
    assert recorded["spec"] == {
        "selector": {"app": "podinfo"},
        "ports": [{"name": "web", "port": 80, "targetPort": 9898, "protocol": "TCP"}],
    }
    assert recorded["annotations"] == {
        "kustomize.toolkit.fluxcd.io/reconcile": None,
        "helm.toolkit.fluxcd.io/driftDetection": None,
    }
    # the generated -primary and -canary Services are the Canary's
    for name in ("podinfo-primary", "podinfo-canary"):
        assert kube.stored("Service", "test", name)["metadata"]["ownerReferences"][0]["uid"] == "uid-123"


async def test_the_original_configuration_is_recorded_once() -> None:
    kube = FakeKube(podinfo(), user_service())
    workload = TargetWorkload(_as_kube(kube), podinfo_canary())
    await workload.initialize_primary()
    first = kube.stored("Service", "test", "podinfo")["metadata"]["annotations"][ORIGINAL_CONFIGURATION]
    await workload.initialize_primary()  # the next tick sees the taken-over Service
    assert (
        kube.stored("Service", "test", "podinfo")["metadata"]["annotations"][ORIGINAL_CONFIGURATION] == first
    )


async def test_an_owned_service_keeps_its_unmanaged_metadata_and_its_cluster_ip() -> None:
    cd = podinfo_canary(headless=True, unmanagedMetadata={"annotations": ["ext/a"], "labels": ["ext/l"]})
    generated = services.services(podinfo_canary(), podinfo())[0]  # created before headless was set
    generated["metadata"]["annotations"]["ext/a"] = "kept"
    generated["metadata"]["labels"]["ext/l"] = "kept"
    generated["spec"]["clusterIP"] = "10.0.0.9"
    kube = FakeKube(podinfo(), generated)
    await TargetWorkload(_as_kube(kube), cd).initialize_primary()
    applied = [body for verb, what, body in kube.writes if verb == "apply" and what == "Service/podinfo"]
    assert applied[-1]["metadata"]["annotations"]["ext/a"] == "kept"
    assert applied[-1]["metadata"]["labels"]["ext/l"] == "kept"
    assert "clusterIP" not in applied[-1]["spec"], "an existing Service's clusterIP is immutable"
    assert applied[-1]["metadata"]["ownerReferences"][0]["uid"] == "uid-123"


# -- targetRef kinds Flagger accepts that gitcanary cannot drive ---------------------------------
def test_a_knative_or_plain_service_target_is_refused_with_the_reason() -> None:
    cd = podinfo_canary()
    cd["spec"]["targetRef"] = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "podinfo"}
    with pytest.raises(TargetError, match=r"Knative Service.*pins a revision"):
        TargetWorkload(_as_kube(FakeKube()), cd)
    cd["spec"]["targetRef"] = {"apiVersion": "v1", "kind": "Service", "name": "podinfo"}
    with pytest.raises(TargetError, match=r"Service canary.*Deployment or DaemonSet"):
        TargetWorkload(_as_kube(FakeKube()), cd)
