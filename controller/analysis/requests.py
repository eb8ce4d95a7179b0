"""What a tick asks of the world, and what the world answers.

A tick is a generator (the pattern of httpx's `auth_flow`): it yields one request at a time and
receives the result the driver sends back. Requests are frozen dataclasses; the result type for
each is documented on the class. Requests whose result is `None` are effects; the driver may send
anything back for them and the engine ignores it.

Invariants:
- Every effect is idempotent (creating the primary, setting routes, scaling, promoting), so a tick
  abandoned half-way can simply be replayed from the last persisted state.
- `RequestWriteBack` is yielded in the tick that makes the decision, before that tick's state is
  persisted; the driver de-duplicates it by a deterministic intent id.
- The typed `ask_*` flows raise `ProtocolError` when the driver sends back the wrong type, rather
  than letting a bad result steer a decision.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypeVar

from controller.analysis.model import HookType, Phase

__all__ = [
    "AcquireSlot",
    "CheckPrimaryPromoted",
    "CheckReady",
    "HookOutcome",
    "InitializePrimary",
    "MetricsOutcome",
    "Notify",
    "PromotePrimary",
    "ProtocolError",
    "Readiness",
    "Request",
    "RequestWriteBack",
    "RunMetricChecks",
    "RunWebhooks",
    "ScaleCanary",
    "SetRoutes",
    "ask_hooks",
    "ask_metrics",
    "ask_readiness",
    "ask_slot",
    "perform",
]

_Result = TypeVar("_Result")
Severity = Literal["info", "warn", "error"]
WriteBackResult = Literal["promoted", "rolled-back", "inconclusive"]
"""`rolled-back` is a verdict (the tag may be quarantined); `inconclusive` gave up without one."""


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether a workload has finished rolling out.

    `message` is the detail without the object's name, e.g.
    "waiting for rollout to finish: 1 of 2 (readyThreshold 100%) updated replicas are available";
    the engine prefixes it as Flagger does ("Halt advancement podinfo-primary.test ...").
    `deadline_exceeded` is the driver's view of the workload's own progress deadline.
    """

    ready: bool
    message: str = ""
    deadline_exceeded: bool = False


@dataclass(frozen=True, slots=True)
class HookOutcome:
    """The result of running every webhook of one type, in spec order.

    The driver stops at the first failing hook (for `rollback`: at the first hook that asks for
    a rollback). `webhook` names the deciding hook (or all of them, comma-separated, when all
    passed) and `message` carries the error text of a failure. For `rollback` hooks `ok=True`
    means "rollback requested".

    `inconclusive` names the cause when the deciding hook gave no answer (e.g. "timeout",
    "unreachable", "unavailable"): the hook is not passed, but that is no verdict on the release.
    Empty means the hook answered (`ok` is its verdict).
    """

    ok: bool
    message: str = ""
    webhook: str = ""
    inconclusive: str = ""


@dataclass(frozen=True, slots=True)
class MetricsOutcome:
    """The result of the metric checks, e.g. failures=("error rate 69.17% > 1%",).

    `failures` are measured values out of range; `inconclusive` the checks that could not measure,
    each naming its cause (e.g. "request-success-rate inconclusive (timeout): ..."). `ok` means
    every check passed. A not-ok outcome with neither list counts as one failure.
    """

    ok: bool
    failures: tuple[str, ...] = ()
    inconclusive: tuple[str, ...] = ()


# --- requests ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InitializePrimary:
    """Create or refresh `<target>-primary` and the apex/primary/canary services. Result: None."""


@dataclass(frozen=True, slots=True)
class CheckReady:
    """Has the primary or canary workload finished rolling out? Result: `Readiness`."""

    target: Literal["primary", "canary"]


@dataclass(frozen=True, slots=True)
class ScaleCanary:
    """Scale the target (canary) workload to zero, or back up from zero. Result: None."""

    to_zero: bool


@dataclass(frozen=True, slots=True)
class SetRoutes:
    """Route traffic. With A/B testing the weights apply to the matched traffic only (the router
    applies `match`); with `mirrored` the router mirrors `mirrorWeight`% to the canary.
    Result: None."""

    primary_weight: int
    canary_weight: int
    mirrored: bool


@dataclass(frozen=True, slots=True)
class RunWebhooks:
    """Run every webhook of `hook_type`; `phase` is the phase reported in the payload.
    Result: `HookOutcome`."""

    hook_type: HookType
    phase: Phase = Phase.PROGRESSING


@dataclass(frozen=True, slots=True)
class RunMetricChecks:
    """Run every metric check of the analysis. Result: `MetricsOutcome`."""


@dataclass(frozen=True, slots=True)
class PromotePrimary:
    """Copy the canary's template spec and configs to the primary. Result: None."""


@dataclass(frozen=True, slots=True)
class CheckPrimaryPromoted:
    """Has the primary finished rolling out the promoted spec? Result: `Readiness`."""


@dataclass(frozen=True, slots=True)
class Notify:
    """Record a Kubernetes Event (`severity` info -> Normal, warn/error -> Warning) and, when
    `alert` is not empty, send `alert` to the alert providers with `severity`. Result: None."""

    message: str
    severity: Severity = "info"
    reason: str = "Synced"
    alert: str = ""


@dataclass(frozen=True, slots=True)
class AcquireSlot:
    """May this canary start an analysis now (``--max-concurrent-canaries``)? A canary that
    already holds a slot keeps it. Result: bool."""


@dataclass(frozen=True, slots=True)
class RequestWriteBack:
    """Persist a Git write-back intent for `revision`. Result: None."""

    result: WriteBackResult
    revision: str
    summary: str


Request: TypeAlias = (
    InitializePrimary
    | CheckReady
    | ScaleCanary
    | SetRoutes
    | RunWebhooks
    | RunMetricChecks
    | PromotePrimary
    | CheckPrimaryPromoted
    | Notify
    | RequestWriteBack
    | AcquireSlot
)


class ProtocolError(TypeError):
    """The driver answered a request with a result of the wrong type."""

    def __init__(self, request: Request, result: object) -> None:
        super().__init__(f"{type(request).__name__} expects a different result, got {result!r}")
        self.request = request
        self.result = result


# --- typed flows ---------------------------------------------------------------------------


def perform(request: Request) -> Generator[Request, object, None]:
    """Yield an effect and ignore its result."""
    yield request


def _ask(request: Request, kind: type[_Result]) -> Generator[Request, object, _Result]:
    """Yield ``request`` and return its result, which must be a ``kind``."""
    result = yield request
    if not isinstance(result, kind):
        raise ProtocolError(request, result)
    return result


def ask_readiness(request: CheckReady | CheckPrimaryPromoted) -> Generator[Request, object, Readiness]:
    return (yield from _ask(request, Readiness))


def ask_hooks(hook_type: HookType, phase: Phase) -> Generator[Request, object, HookOutcome]:
    return (yield from _ask(RunWebhooks(hook_type, phase), HookOutcome))


def ask_slot() -> Generator[Request, object, bool]:
    return (yield from _ask(AcquireSlot(), bool))


def ask_metrics() -> Generator[Request, object, MetricsOutcome]:
    return (yield from _ask(RunMetricChecks(), MetricsOutcome))
