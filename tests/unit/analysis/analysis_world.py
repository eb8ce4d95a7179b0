"""A scripted fake world for the pure analysis engine (fine here: the engine is pure logic).

`World` answers every request the engine yields, records them, and keeps the few facts a real
driver would change (routes, canary scale, promoted spec), so tests can assert on both the
request sequence and the resulting world.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

from controller.analysis import (
    AcquireSlot,
    AnalysisSpec,
    CanaryState,
    CheckPrimaryPromoted,
    CheckReady,
    Decision,
    HookOutcome,
    HookType,
    InitializePrimary,
    MetricsOutcome,
    Notify,
    Phase,
    PromotePrimary,
    Readiness,
    Request,
    RequestWriteBack,
    RunMetricChecks,
    RunWebhooks,
    ScaleCanary,
    SetRoutes,
    drive,
    tick,
)

READY = Readiness(True)
PASS = MetricsOutcome(True)


def spec_of(**overrides: object) -> AnalysisSpec:
    """The seed's podinfo canary: stepWeight 5, maxWeight 50, threshold 5, 1m interval."""
    base = AnalysisSpec(
        name="podinfo",
        namespace="test",
        interval_seconds=60.0,
        threshold=5,
        max_weight=50,
        step_weight=5,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def fail(*failures: str) -> MetricsOutcome:
    return MetricsOutcome(False, tuple(failures))


@dataclass
class World:
    primary: deque[Readiness] = field(default_factory=deque)
    canary: deque[Readiness] = field(default_factory=deque)
    promoted: deque[Readiness] = field(default_factory=deque)
    metrics: deque[MetricsOutcome] = field(default_factory=deque)
    hooks: dict[HookType, deque[HookOutcome]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    routes: tuple[int, int, bool] = (100, 0, False)
    canary_scaled_to_zero: bool | None = None
    promotions: int = 0
    write_backs: list[RequestWriteBack] = field(default_factory=list)
    slots: deque[bool] = field(default_factory=deque)

    def script_hook(self, hook_type: HookType, *outcomes: HookOutcome) -> None:
        self.hooks.setdefault(hook_type, deque()).extend(outcomes)

    def __call__(self, request: Request) -> object:
        self.requests.append(request)
        if isinstance(request, CheckReady):
            queue = self.primary if request.target == "primary" else self.canary
            return queue.popleft() if queue else READY
        if isinstance(request, CheckPrimaryPromoted):
            return self.promoted.popleft() if self.promoted else READY
        if isinstance(request, RunMetricChecks):
            return self.metrics.popleft() if self.metrics else PASS
        if isinstance(request, AcquireSlot):
            return self.slots.popleft() if self.slots else True
        if isinstance(request, RunWebhooks):
            scripted = self.hooks.get(request.hook_type)
            if scripted:
                return scripted.popleft()
            default_ok = request.hook_type is not HookType.ROLLBACK
            return HookOutcome(default_ok, "", f"{request.hook_type.value}-hook")
        if isinstance(request, SetRoutes):
            self.routes = (request.primary_weight, request.canary_weight, request.mirrored)
        elif isinstance(request, ScaleCanary):
            self.canary_scaled_to_zero = request.to_zero
        elif isinstance(request, PromotePrimary):
            self.promotions += 1
        elif isinstance(request, RequestWriteBack):
            self.write_backs.append(request)
        elif not isinstance(request, InitializePrimary | Notify):
            raise AssertionError(f"unexpected request {request!r}")
        return None

    def take(self) -> list[Request]:
        """The requests since the last call."""
        taken, self.requests = self.requests, []
        return taken


def messages(requests: list[Request]) -> list[str]:
    return [r.message for r in requests if isinstance(r, Notify)]


def effects(requests: list[Request]) -> list[Request]:
    """The requests other than notifications."""
    return [r for r in requests if not isinstance(r, Notify)]


@dataclass
class Run:
    """Drives successive ticks of one canary, advancing the clock by each requeue delay."""

    spec: AnalysisSpec
    world: World = field(default_factory=World)
    state: CanaryState = field(default_factory=CanaryState)
    now: float = 1_000.0
    revision: str = "rev-a"
    last: Decision | None = None

    def tick(self, revision: str | None = None, now: float | None = None) -> list[Request]:
        if revision is not None:
            self.revision = revision
        if now is not None:
            self.now = now
        self.world.take()
        decision = drive(tick(self.spec, self.state, self.now, self.revision), self.world)
        self.last = decision
        self.state = decision.state
        self.now += decision.requeue_after
        return self.world.take()

    def phase(self) -> Phase:
        return self.state.phase

    def initialized(self) -> Run:
        """Tick through initialisation so the primary runs `rev-a`."""
        self.tick()
        assert self.phase() == Phase.INITIALIZED
        return self

    def progressing(self, revision: str = "rev-b") -> Run:
        """Initialise, then detect `revision` so the analysis is Progressing at weight 0."""
        self.initialized()
        self.tick(revision)
        assert self.phase() == Phase.PROGRESSING
        return self
