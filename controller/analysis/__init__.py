"""The pure canary analysis engine: Flagger's scheduler as a generator of requests.

`tick(spec, state, now, revision)` yields `Request`s (observations and effects), receives their
results and returns a `Decision` (the next `CanaryState` and when to tick again). `drive` and
`drive_async` feed a tick from a handler.

Invariants:
- Pure: no I/O, no clock, no imports of kubernetes, kopf, httpx, git or other controller
  packages (enforced by the import-linter contract `pure-analysis`).
- The state is the only memory; every decision can be replayed from it.
- Event and alert wording follows Flagger's (see `messages`).
"""

from controller.analysis.model import (
    TOTAL_WEIGHT,
    AnalysisSpec,
    CanaryState,
    Decision,
    HookType,
    InconclusivePolicy,
    Phase,
    Strategy,
)
from controller.analysis.requests import (
    AcquireSlot,
    CheckPrimaryPromoted,
    CheckReady,
    HookOutcome,
    InitializePrimary,
    MetricsOutcome,
    Notify,
    PromotePrimary,
    ProtocolError,
    Readiness,
    Request,
    RequestWriteBack,
    RunMetricChecks,
    RunWebhooks,
    ScaleCanary,
    SetRoutes,
)
from controller.analysis.tick import Handler, TickFlow, drive, drive_async, tick
from controller.analysis.weights import effective_plan, max_weight, next_step_weight

__all__ = [
    "TOTAL_WEIGHT",
    "AcquireSlot",
    "AnalysisSpec",
    "CanaryState",
    "CheckPrimaryPromoted",
    "CheckReady",
    "Decision",
    "Handler",
    "HookOutcome",
    "HookType",
    "InconclusivePolicy",
    "InitializePrimary",
    "MetricsOutcome",
    "Notify",
    "Phase",
    "PromotePrimary",
    "ProtocolError",
    "Readiness",
    "Request",
    "RequestWriteBack",
    "RunMetricChecks",
    "RunWebhooks",
    "ScaleCanary",
    "SetRoutes",
    "Strategy",
    "TickFlow",
    "drive",
    "drive_async",
    "effective_plan",
    "max_weight",
    "next_step_weight",
    "tick",
]
