"""Workload effects: the primary, readiness, the canary's replicas and the promotion."""

from __future__ import annotations

from dataclasses import dataclass

from controller import analysis as eng
from controller.api.analysis import CanaryAnalysis
from controller.workloads.target import TargetWorkload


@dataclass
class WorkloadEffects:
    workload: TargetWorkload
    analysis: CanaryAnalysis
    autoscaler_note: str = ""
    """What the primary's autoscaler copy noted (e.g. the KEDA API group), for a condition."""

    async def initialize_primary(self) -> None:
        note = await self.workload.initialize_primary()
        if note:
            self.autoscaler_note = note

    def ready_threshold(self, target: str) -> int:
        if target == "primary":
            return self.analysis.effective_primary_ready_threshold()
        return self.analysis.effective_canary_ready_threshold()

    async def readiness(self, target: str) -> eng.Readiness:
        """``target`` is ``"canary"`` or ``"primary"``."""
        r = await self.workload.readiness(target, self.ready_threshold(target))
        return eng.Readiness(r.ready, r.message, r.deadline_exceeded)

    async def scale_canary(self, to_zero: bool) -> None:
        await self.workload.scale_canary(to_zero)

    async def promote(self) -> None:
        await self.workload.promote()
