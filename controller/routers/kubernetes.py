"""The ``kubernetes`` provider: plain ClusterIP Services, no traffic splitting.

Traffic cannot be split, so the engine forces blue/green: the apex Service
always selects the primary pods, and promotion switches traffic by copying the
canary's template to the primary. ``set_routes`` therefore only accepts the
all-primary split; anything else is an ``UnsupportedFeature`` rather than a
silent no-op.
"""

from __future__ import annotations

from typing import Any

from controller.kube import Kube
from controller.routers.base import Routes, UnsupportedFeature

Obj = dict[str, Any]


class KubernetesRouter:
    def __init__(self, kube: Kube, canary: Obj) -> None:
        self.kube = kube
        self.canary = canary

    async def reconcile(self) -> None:
        """Nothing beyond the Services, which the workload lifecycle owns."""
        return None

    async def set_routes(self, primary_weight: int, canary_weight: int, mirrored: bool) -> None:
        if canary_weight != 0 or mirrored:
            raise UnsupportedFeature(
                "the kubernetes provider cannot split or mirror traffic; it runs blue/green only"
            )

    async def get_routes(self) -> Routes:
        return Routes(100, 0, False)

    async def finalize(self) -> None:
        return None
