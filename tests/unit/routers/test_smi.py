"""SMI router: TrafficSplit versions, builders, weight parsing and the unsupported features."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from controller.kube import Kube
from controller.routers import smi
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from controller.routers.route_objects import route_context

Obj = dict[str, Any]


def make_canary(provider: str = "linkerd", service: Obj | None = None, analysis: Obj | None = None) -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "uid-1"},
        "spec": {
            "provider": provider,
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898, **(service or {})},
            "analysis": {"interval": "30s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
        },
    }


@pytest.mark.parametrize(
    ("provider", "version"),
    [
        ("linkerd", "v1alpha1"),
        ("osm", "v1alpha2"),
        ("smi:v1alpha1", "v1alpha1"),
        ("smi:v1alpha2", "v1alpha2"),
        ("smi:v1alpha3", "v1alpha3"),
    ],
)
def test_split_version_follows_flaggers_factory(provider: str, version: str) -> None:
    assert smi.split_version(provider) == version


def test_unknown_versions_and_providers_are_errors() -> None:
    with pytest.raises(RouterError, match="v1beta9"):
        smi.split_version("smi:v1beta9")
    with pytest.raises(RouterError, match="not an SMI provider"):
        smi.split_version("istio")


def test_router_for_returns_the_smi_router_with_the_right_api_version() -> None:
    kube = Kube(client.Configuration())
    router = router_for(kube, make_canary("smi:v1alpha3"))
    assert isinstance(router, smi.SmiRouter)
    assert router.route_api_version == "split.smi-spec.io/v1alpha3"
    osm = router_for(kube, make_canary("osm"))
    assert isinstance(osm, smi.SmiRouter)
    linkerd = router_for(kube, make_canary("linkerd"))
    assert isinstance(linkerd, smi.SmiRouter)
    assert linkerd.route_api_version == "split.smi-spec.io/v1alpha1"


def test_v1alpha1_weights_are_quantity_strings_and_backends_list_the_canary_first() -> None:
    ctx = route_context(make_canary(), "linkerd")
    split = smi.traffic_split(ctx, "v1alpha1", Routes(70, 30))
    assert split["apiVersion"] == "split.smi-spec.io/v1alpha1"
    assert split["metadata"]["name"] == "podinfo"
    assert split["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert split["spec"] == {
        "service": "podinfo",
        "backends": [
            {"service": "podinfo-canary", "weight": "30"},
            {"service": "podinfo-primary", "weight": "70"},
        ],
    }


def test_later_versions_use_integer_weights_and_the_first_host_as_root_service() -> None:
    ctx = route_context(make_canary("osm", {"hosts": ["podinfo.test", "other"]}), "osm")
    split = smi.traffic_split(ctx, "v1alpha2", Routes(90, 10))
    assert split["spec"]["service"] == "podinfo.test"
    assert [b["weight"] for b in split["spec"]["backends"]] == [10, 90]


@pytest.mark.parametrize(("raw", "expected"), [(10, 10), ("10", 10), ("500m", 0), ("50000m", 50), (" 7 ", 7)])
def test_parse_weight_accepts_integers_and_quantities(raw: object, expected: int) -> None:
    assert smi.parse_weight(raw) == expected


@pytest.mark.parametrize("raw", ["ten", "10Q", True, "1.2.3"])
def test_parse_weight_rejects_garbage(raw: object) -> None:
    with pytest.raises(RouterError, match="invalid TrafficSplit weight"):
        smi.parse_weight(raw)


def test_routes_of_reads_both_backends_and_rejects_an_empty_split() -> None:
    ctx = route_context(make_canary(), "linkerd")
    split = smi.traffic_split(ctx, "v1alpha1", Routes(60, 40))
    assert smi.routes_of(split, "podinfo-primary", "podinfo-canary") == Routes(60, 40, False)
    split["spec"]["backends"] = [{"service": "other", "weight": 100}]
    with pytest.raises(RouterError, match="no weight"):
        smi.routes_of(split, "podinfo-primary", "podinfo-canary")


@pytest.mark.parametrize(
    ("analysis", "what"),
    [
        ({"iterations": 5, "match": [{"headers": {"x-canary": {"exact": "1"}}}]}, "A/B"),
        ({"iterations": 5, "stepWeight": None, "mirror": True}, "mirroring"),
        ({"sessionAffinity": {"cookieName": "c"}}, "session affinity"),
    ],
)
def test_unsupported_features_are_refused(analysis: Obj, what: str) -> None:
    ctx = route_context(make_canary(analysis=analysis), "linkerd")
    with pytest.raises(UnsupportedFeature, match=what):
        smi.check_supported(ctx, "linkerd")
