"""Pick the Router for a Canary: the one module that knows every router adapter.

Adding a router is one module in this package (a class built from ``(kube, canary)`` that
implements :class:`controller.routers.base.Router`), one line in ``ROUTERS``, and its test.
Adapters never import this module; the callers that need a router (the reconcile runner, the
operator's finalizer) do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.kube import Kube
from controller.routers import apisix, keda_http, kuma
from controller.routers.apisix import ApisixRouter
from controller.routers.appmesh import AppMeshRouter
from controller.routers.base import Router, RouterFactory, UnsupportedFeature, provider_of
from controller.routers.contour import ContourRouter
from controller.routers.gatewayapi import GatewayAPIRouter
from controller.routers.gloo import GlooRouter
from controller.routers.istio import IstioRouter
from controller.routers.keda_http import KedaHTTPRouter
from controller.routers.knative import KnativeRouter
from controller.routers.kubernetes import KubernetesRouter
from controller.routers.kuma import KumaRouter
from controller.routers.nginx import NginxRouter
from controller.routers.skipper import SkipperRouter
from controller.routers.smi import SmiRouter
from controller.routers.traefik import TraefikRouter

__all__ = ["ROUTERS", "router_for"]

Obj = dict[str, Any]

ROUTERS: Mapping[str, RouterFactory] = {
    apisix.PROVIDER: ApisixRouter,
    "appmesh": AppMeshRouter,
    "contour": ContourRouter,
    "gatewayapi": GatewayAPIRouter,
    "gloo": GlooRouter,
    "istio": IstioRouter,
    keda_http.PROVIDER: KedaHTTPRouter,
    "knative": KnativeRouter,
    "kubernetes": KubernetesRouter,
    kuma.PROVIDER: KumaRouter,
    "linkerd": SmiRouter,
    "nginx": NginxRouter,
    "osm": SmiRouter,
    "skipper": SkipperRouter,
    "smi": SmiRouter,
    "traefik": TraefikRouter,
}
"""Provider name (``spec.provider`` before any ``:version``) to router adapter."""


def router_for(kube: Kube, canary: Obj, default_provider: str = "kubernetes") -> Router:
    """The router for ``spec.provider`` (else ``default_provider``); ``UnsupportedFeature`` if none."""
    provider = provider_of(canary, default_provider)
    name = provider.split(":", 1)[0]
    if name == "gatewayapi" and keda_http.wants_interceptor(canary):
        # The KEDA HTTP add-on flow (seed tutorial): Gateway API routes through the interceptor.
        name = keda_http.PROVIDER
    factory = ROUTERS.get(name)
    if factory is None:
        known = ", ".join(sorted(ROUTERS))
        raise UnsupportedFeature(f"provider {provider!r} is not supported; supported providers: {known}")
    return factory(kube, canary)
