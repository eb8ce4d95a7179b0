"""The Router port: what every traffic router adapter implements.

A router owns the mesh or ingress objects that split traffic between the
primary and canary Services. The live route object is the source of truth for
weights: ``get_routes`` reads it back, the engine never trusts memory.

Every method is idempotent. ``reconcile`` creates or updates the route objects
from the Canary spec; ``set_routes`` changes only weights (and mirroring);
``finalize`` hands traffic back to the target on Canary deletion
(``revertOnDeletion``).

The adapters live one per module next to this one; :mod:`controller.routers.factory` is the
only module that knows them all and picks one by provider name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from controller.api.parsed import parsed_or_none
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
"""How a router adapter is built: its class, called with the API client and the Canary."""


def provider_of(canary: Obj, default: str = "kubernetes") -> str:
    """The mesh provider: ``spec.provider``, else the controller default (``kubernetes``)."""
    parsed = parsed_or_none(canary)
    if parsed is None:
        # A Canary the models reject still names its router, as it always did: the deletion
        # finalizer picks the router by it, and the router then reports the invalid spec.
        return str((canary.get("spec") or {}).get("provider") or default)
    return parsed.spec.provider or default
