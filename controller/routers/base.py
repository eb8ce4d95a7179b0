"""The Router port and its registry.

A router owns the mesh or ingress objects that split traffic between the
primary and canary Services. The live route object is the source of truth for
weights: ``get_routes`` reads it back, the engine never trusts memory.

Every method is idempotent. ``reconcile`` creates or updates the route objects
from the Canary spec; ``set_routes`` changes only weights (and mirroring);
``finalize`` hands traffic back to the target on Canary deletion
(``revertOnDeletion``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from controller.errors import PermanentError
from controller.kube import Kube

Obj = dict[str, Any]


@dataclass(frozen=True)
class Routes:
    primary_weight: int
    canary_weight: int
    mirrored: bool = False


class RouterError(PermanentError, RuntimeError):
    """The router could not read or write its objects (permanent: a condition, see controller.errors)."""


class UnsupportedFeature(RouterError):
    """The Canary asks the router for something it cannot do (e.g. mirroring on NGINX)."""


class Router(Protocol):
    async def reconcile(self) -> None: ...

    async def set_routes(self, primary_weight: int, canary_weight: int, mirrored: bool) -> None: ...

    async def get_routes(self) -> Routes: ...

    async def finalize(self) -> None: ...


RouterFactory = Callable[[Kube, Obj], Router]
_REGISTRY: dict[str, RouterFactory] = {}


def register(*names: str) -> Callable[[RouterFactory], RouterFactory]:
    def add(factory: RouterFactory) -> RouterFactory:
        for name in names:
            _REGISTRY[name] = factory
        return factory

    return add


def provider_of(canary: Obj, default: str = "kubernetes") -> str:
    """The mesh provider: ``spec.provider``, else the controller default (``kubernetes``)."""
    return str(canary["spec"].get("provider") or default)


def router_for(kube: Kube, canary: Obj, default_provider: str = "kubernetes") -> Router:
    # Import the adapters so they register themselves.
    from controller.routers import (  # noqa: F401
        apisix,
        appmesh,
        contour,
        gatewayapi,
        gloo,
        istio,
        keda_http,
        kubernetes,
        kuma,
        nginx,
        skipper,
        smi,
        traefik,
    )

    provider = provider_of(canary, default_provider)
    name = provider.split(":", 1)[0]
    if name == "gatewayapi" and keda_http.wants_interceptor(canary):
        # The KEDA HTTP add-on flow (seed tutorial): Gateway API routes through the interceptor.
        name = keda_http.PROVIDER
    factory = _REGISTRY.get(name)
    if factory is None:
        known = ", ".join(sorted(_REGISTRY))
        raise UnsupportedFeature(f"provider {provider!r} is not supported; supported providers: {known}")
    return factory(kube, canary)
