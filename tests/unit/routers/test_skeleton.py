"""The invariants the router skeleton owns hold for every route-object adapter alike.

Before the skeleton, each adapter checked weights its own way: Istio, NGINX, SMI, Gateway API and
Skipper accepted a split that sends traffic nowhere (0/0), the others refused it.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from controller.kube import Kube
from controller.routers.base import RouterError
from controller.routers.factory import ROUTERS
from controller.routers.skeleton import RouteObjectRouter, check_weights

ADAPTERS = sorted(
    {cls for cls in ROUTERS.values() if isinstance(cls, type) and issubclass(cls, RouteObjectRouter)}, key=str
)


def _canary(provider: str) -> dict[str, Any]:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "u1"},
        "spec": {
            "provider": provider,
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10},
        },
    }


def test_every_route_object_adapter_uses_the_skeleton() -> None:
    names = {cls.__name__ for cls in ADAPTERS}
    assert names >= {
        "ApisixRouter",
        "AppMeshRouter",
        "ContourRouter",
        "GatewayAPIRouter",
        "GlooRouter",
        "IstioRouter",
        "KedaHTTPRouter",
        "KumaRouter",
        "NginxRouter",
        "SkipperRouter",
        "SmiRouter",
        "TraefikRouter",
    }


@pytest.mark.parametrize("weights", [(0, 0), (-1, 101), (101, -1)])
@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda cls: cls.__name__)
async def test_invalid_weights_are_refused_before_any_api_call(
    adapter: type[RouteObjectRouter], weights: tuple[int, int]
) -> None:
    kube = Kube(client.Configuration(host="http://127.0.0.1:9"))  # nothing listens: no call may be made
    try:
        router = adapter(kube, _canary(adapter.provider or "linkerd"))
        with pytest.raises(RouterError, match="invalid weights"):
            await router.set_routes(*weights, False)
    finally:
        await kube.close()


def test_check_weights_accepts_all_to_one_side() -> None:
    check_weights(100, 0)
    check_weights(0, 100)
    with pytest.raises(RouterError):
        check_weights(0, 0)
