"""A router parses its Canary once per generation, not on every call (issue 10).

Before ``controller.api.parsed``, ``route_context`` called ``Canary.from_k8s`` on every
reconcile, set_routes, get_routes and finalize: a parse per router call per tick.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from controller.api import Canary
from controller.api import parsed as parsed_module
from controller.routers.factory import router_for
from tests.unit.workloads.fake_kube import FakeKube

Obj = dict[str, Any]


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    parsed_module._CACHE.clear()
    yield
    parsed_module._CACHE.clear()


def served_canary(provider: str) -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "u-once", "generation": 3},
        "spec": {
            "provider": provider,
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {
                "port": 9898,
                **({"gatewayRefs": [{"name": "public"}]} if "gateway" in provider else {}),
            },
            "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10},
        },
        "status": {"phase": "Progressing"},
    }


@pytest.mark.parametrize("provider", ["istio", "contour", "traefik", "linkerd", "gatewayapi:v1", "kuma"])
async def test_router_calls_of_one_generation_parse_the_canary_once(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Obj] = []
    real = Canary.from_k8s

    def counting(obj: Any) -> Canary:
        calls.append(obj)
        return real(obj)

    monkeypatch.setattr(Canary, "from_k8s", counting)
    kube = FakeKube()
    canary = served_canary(provider)
    for weight in (10, 20, 30):
        # every tick reads the Canary afresh from the API server: a new dict, a new status
        canary = copy.deepcopy(canary)
        canary["status"]["canaryWeight"] = weight
        router = router_for(kube, canary)  # type: ignore[arg-type]  # FakeKube stands in for Kube
        await router.reconcile()
        await router.set_routes(100 - weight, weight, False)
        routes = await router.get_routes()
        assert (routes.primary_weight, routes.canary_weight) == (100 - weight, weight)
    await router.finalize()
    assert len(calls) == 1, f"{len(calls)} parses of one Canary generation"


def test_an_invalid_canary_still_picks_its_router_and_service_names() -> None:
    """The deletion finalizer runs on Canaries the models reject: it still finds the router and
    the Services to hand back, as before the typed reads."""
    from controller.routers.istio import IstioRouter
    from controller.routers.keda_http import KedaHTTPRouter
    from controller.routers.kubernetes import service_names

    broken = served_canary("istio")
    broken["spec"]["analysis"]["threshold"] = "five"
    broken["spec"]["service"]["name"] = "web"
    assert isinstance(router_for(FakeKube(), broken), IstioRouter)  # type: ignore[arg-type]
    assert service_names(broken) == ("web", "web-primary", "web-canary")
    keda = served_canary("gatewayapi:v1")
    keda["spec"]["autoscalerRef"] = {
        "apiVersion": "http.keda.sh/v1alpha1",
        "kind": "HTTPScaledObject",
        "name": "x",
    }
    keda["spec"]["analysis"]["threshold"] = "five"
    assert isinstance(router_for(FakeKube(), keda), KedaHTTPRouter)  # type: ignore[arg-type]
    keda["spec"]["analysis"]["threshold"] = 5
    parsed_module._CACHE.clear()
    assert isinstance(router_for(FakeKube(), keda), KedaHTTPRouter)  # type: ignore[arg-type]
    assert service_names(keda) == ("podinfo", "podinfo-primary", "podinfo-canary")
