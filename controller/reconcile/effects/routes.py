"""Route effects: the router's objects and the weights between the primary and the canary."""

from __future__ import annotations

from dataclasses import dataclass

from controller import analysis as eng
from controller.routers import Router


@dataclass
class RouteEffects:
    router: Router

    async def reconcile(self) -> None:
        """Create or update the router's objects (Services, routes), all traffic to the primary."""
        await self.router.reconcile()

    async def set_routes(self, request: eng.SetRoutes) -> None:
        await self.router.set_routes(request.primary_weight, request.canary_weight, request.mirrored)
