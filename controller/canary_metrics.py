"""Flagger-compatible series, derived from each Canary's status as the controller persisted it.

Flagger v1.44.0 (``pkg/metrics/recorder.go``) is the reference; the names carry ``gitcanary_``
where Flagger's carry ``flagger_``, with the same labels, units and values:

- ``gitcanary_canary_status{name, namespace}``: 0 while Progressing, 2 when Failed, 1 in every
  other phase (Flagger's ``SetStatus``);
- ``gitcanary_canary_weight{workload, namespace}``: the routed weights, one series for
  ``<target>-primary`` and one for ``<target>``;
- ``gitcanary_canary_total{namespace}``: a gauge, the number of Canaries in the namespace;
- ``gitcanary_canary_successes_total`` / ``_failures_total{name, namespace, deployment_strategy,
  analysis_status}``: terminal transitions (Succeeded, Failed), each counted once;
- ``gitcanary_canary_duration_seconds{name, namespace}``: the time of one analysis step (a tick
  that starts Progressing or WaitingPromotion, not suspended, not skipped, below the failed-checks
  threshold: where Flagger's ``advanceCanary`` defers ``SetDuration``);
- ``gitcanary_canary_metric_analysis{name, namespace, metric}``: the last value of each metric
  check (request-duration in seconds, request-success-rate in percent, others as queried).

Ours, from ``status.gitops``: ``gitcanary_write_back_pending_intents{name, namespace}``,
``gitcanary_write_back_failing{name, namespace}`` (1 while the last write-back failed) and
``gitcanary_write_back_latency_seconds{kind}`` (from a decision to its pushed commit).

``name`` is the target's name (``spec.targetRef.name``), as in Flagger's series.

Invariants and caveats:
- Everything but the step duration and the metric values comes from the persisted status, fed
  by one watch handler (:func:`observe`), so a status written by any path (a tick, a write-back,
  the CLI) is seen, and an update is seen once whatever the tick rate.
- A terminal transition is a change of ``(phase, lastTransitionTime)`` into Succeeded or Failed.
  After a restart, a Canary first seen already terminal counts only if its ``lastTransitionTime``
  is not before the process start, so a restart neither recounts nor loses one.
- A deleted Canary (or one this instance stops owning) loses every series that names it.
- Metric values and step durations for a Canary this module does not know are dropped, so a tick
  that finishes after a deletion cannot bring the deleted series back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from controller.api.analysis import strategy_of
from controller.api.gitops import IntentKind
from controller.api.parsed import parsed_or_none
from controller.api.timestamps import epoch_or_none

Obj = Mapping[str, Any]

# Go's prometheus.DefBuckets, which Flagger's duration histogram uses.
GO_DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WRITE_BACK_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
TERMINAL = ("Succeeded", "Failed")
ANALYSING = ("Progressing", "WaitingPromotion")
TOTAL_WEIGHT = 100  # Flagger's totalWeight


def status_value(phase: str | None) -> int:
    """Flagger's ``canary_status`` value: 0 Progressing, 2 Failed, 1 otherwise."""
    if phase == "Progressing":
        return 0
    if phase == "Failed":
        return 2
    return 1


@dataclass(frozen=True)
class _Spec:
    """What the series need of a Canary's spec."""

    target: str
    strategy: str
    suspend: bool
    skip_analysis: bool
    threshold: int


def _spec(canary: Obj) -> _Spec:
    """The parsed Canary's; a Canary the models reject (or Flagger's older ``canaryAnalysis``)
    still has its series, from the spec as written, as it always had."""
    parsed = parsed_or_none(canary)
    if parsed is not None:
        spec = parsed.spec
        return _Spec(
            spec.target_ref.name,
            strategy_of(spec.analysis),
            spec.suspend,
            spec.skip_analysis,
            spec.analysis.effective_threshold(),
        )
    raw: Obj = canary.get("spec") or {}
    return _Spec(
        str((raw.get("targetRef") or {}).get("name") or ""),
        deployment_strategy(raw),
        bool(raw.get("suspend")),
        bool(raw.get("skipAnalysis")),
        int(_analysis(raw).get("threshold") or 0) or 1,
    )


def _analysis(spec: Obj) -> Obj:
    analysis: Obj = spec.get("analysis") or spec.get("canaryAnalysis") or {}
    return analysis


def deployment_strategy(spec: Obj) -> str:
    """Flagger's ``Canary.DeploymentStrategy``: ab-testing, blue-green or canary."""
    analysis = _analysis(spec)
    if analysis.get("match") and (analysis.get("iterations") or 0) > 0:
        return "ab-testing"
    if (analysis.get("iterations") or 0) > 0:
        return "blue-green"
    return "canary"


def routed_weights(status: Obj) -> tuple[int, int]:
    """(primary, canary): the routes the engine recorded, else what ``canaryWeight`` implies."""
    engine = status.get("engine") or {}
    primary, canary = engine.get("primaryRouteWeight"), engine.get("canaryRouteWeight")
    if primary is not None and canary is not None:
        return int(primary), int(canary)
    weight = int(status.get("canaryWeight") or 0)
    return TOTAL_WEIGHT - weight, weight


def runs_analysis_step(canary: Obj) -> bool:
    """Whether a tick that starts from this Canary reaches Flagger's analysis step (and its
    ``SetDuration``): phase Progressing or WaitingPromotion, not suspended, analysis not skipped,
    and failed checks below the threshold (else the tick rolls back instead)."""
    status = canary.get("status") or {}
    if status.get("phase") not in ANALYSING:
        return False
    spec = _spec(canary)
    if spec.suspend or spec.skip_analysis:
        return False
    return int(status.get("failedChecks") or 0) < spec.threshold


@dataclass(frozen=True)
class Families:
    """The metric families, registered in one registry (the process's, or a test's)."""

    status: Gauge
    weight: Gauge
    total: Gauge
    successes: Counter
    failures: Counter
    duration: Histogram
    analysis: Gauge
    pending_intents: Gauge
    write_back_failing: Gauge
    write_back_latency: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> Families:
        """Register the families; the write-back latency starts at zero for every intent kind, so
        that ``rate()`` sees even the first write-back after a start."""
        families = cls._register(registry)
        for kind in get_args(IntentKind):
            families.write_back_latency.labels(kind)
        return families

    @classmethod
    def _register(cls, registry: CollectorRegistry) -> Families:
        canary = ["name", "namespace"]
        outcome = [*canary, "deployment_strategy", "analysis_status"]
        return cls(
            status=Gauge("gitcanary_canary_status", "Last canary analysis result", canary, registry=registry),
            weight=Gauge(
                "gitcanary_canary_weight",
                "The virtual service destination weight current value",
                ["workload", "namespace"],
                registry=registry,
            ),
            total=Gauge(
                "gitcanary_canary_total", "Total number of canary object", ["namespace"], registry=registry
            ),
            successes=Counter(
                "gitcanary_canary_successes_total",
                "Total number of canary successes",
                outcome,
                registry=registry,
            ),
            failures=Counter(
                "gitcanary_canary_failures_total",
                "Total number of canary failures",
                outcome,
                registry=registry,
            ),
            duration=Histogram(
                "gitcanary_canary_duration_seconds",
                "Seconds spent performing canary analysis.",
                canary,
                buckets=GO_DEFAULT_BUCKETS,
                registry=registry,
            ),
            analysis=Gauge(
                "gitcanary_canary_metric_analysis",
                "Last canary analysis result per metric",
                [*canary, "metric"],
                registry=registry,
            ),
            pending_intents=Gauge(
                "gitcanary_write_back_pending_intents",
                "Write-back intents waiting in status.gitops.pending.",
                canary,
                registry=registry,
            ),
            write_back_failing=Gauge(
                "gitcanary_write_back_failing",
                "1 while the Canary's last write-back failed (status.gitops.lastWriteBack).",
                canary,
                registry=registry,
            ),
            write_back_latency=Histogram(
                "gitcanary_write_back_latency_seconds",
                "Time from a write-back decision (intent created) to its pushed commit.",
                ["kind"],
                buckets=WRITE_BACK_BUCKETS,
                registry=registry,
            ),
        )


@dataclass
class _Seen:
    """What the last observed status of one Canary said."""

    namespace: str
    target: str
    phase: str | None = None
    transition: str | None = None
    outcomes: set[tuple[str, str, str]] = field(default_factory=set)  # counter label tails
    metrics: set[str] = field(default_factory=set)
    created: dict[str, tuple[str, float]] = field(default_factory=dict)  # intent id -> (kind, epoch)
    applied: set[str] = field(default_factory=set)


class CanarySeries:
    """Keeps the Flagger-compatible series in step with the Canaries' persisted status."""

    def __init__(self, families: Families, started_at: float) -> None:
        self.families = families
        self.started_at = math.floor(started_at)
        self.seen: dict[str, _Seen] = {}
        self.by_target: dict[tuple[str, str], dict[str, _Seen]] = {}  # (namespace, target) -> key -> seen
        self.in_namespace: dict[str, int] = {}

    # -- the watch: one status as persisted --------------------------------------------------

    def observe(self, canary: Obj, *, deleted: bool = False) -> None:
        meta = canary.get("metadata") or {}
        namespace, key = meta.get("namespace") or "", f"{meta.get('namespace')}/{meta.get('name')}"
        previous = self.seen.get(key)
        if deleted:
            if previous is not None:
                self._forget(key)
            return
        spec = _spec(canary)
        target = spec.target
        if previous is not None and previous.target != target:  # the targetRef was changed
            self._forget(key)
            previous = None
        first = previous is None
        seen = previous or _Seen(namespace, target)
        self.seen[key] = seen
        self.by_target.setdefault((namespace, target), {})[key] = seen
        if first:
            self._count_namespace(namespace, +1)
        status: Obj = canary.get("status") or {}
        self._set_gauges(seen, status)
        self._start_at_zero(seen, spec)
        self._count_transition(seen, spec, status, first)
        self._write_backs(seen, status.get("gitops") or {}, first)

    def _set_gauges(self, seen: _Seen, status: Obj) -> None:
        f = self.families
        f.status.labels(seen.target, seen.namespace).set(status_value(status.get("phase")))
        primary, canary = routed_weights(status)
        f.weight.labels(f"{seen.target}-primary", seen.namespace).set(primary)
        f.weight.labels(seen.target, seen.namespace).set(canary)

    def _start_at_zero(self, seen: _Seen, spec: _Spec) -> None:
        """The outcome counters and the step histogram exist from a Canary's first sight, so
        ``increase()`` and ``rate()`` see its first promotion, rollback and analysis step."""
        f, strategy = self.families, spec.strategy
        success = "skipped" if spec.skip_analysis else "completed"
        for phase, analysis_status in (("Succeeded", success), ("Failed", "completed")):
            counter = f.successes if phase == "Succeeded" else f.failures
            counter.labels(seen.target, seen.namespace, strategy, analysis_status)
            seen.outcomes.add((phase, strategy, analysis_status))
        f.duration.labels(seen.target, seen.namespace)

    def _count_transition(self, seen: _Seen, spec: _Spec, status: Obj, first: bool) -> None:
        phase, transition = status.get("phase"), status.get("lastTransitionTime")
        moved = (phase, transition) != (seen.phase, seen.transition)
        seen.phase, seen.transition = phase, transition
        if phase not in TERMINAL or not moved:
            return
        if first and (epoch_or_none(transition) or 0.0) < self.started_at:
            return  # decided before this process started: counted by the one that saw it
        analysis_status = "skipped" if phase == "Succeeded" and spec.skip_analysis else "completed"
        outcome = (spec.strategy, analysis_status)
        counter = self.families.successes if phase == "Succeeded" else self.families.failures
        counter.labels(seen.target, seen.namespace, *outcome).inc()

    def _write_backs(self, seen: _Seen, gitops: Obj, first: bool) -> None:
        f = self.families
        pending = gitops.get("pending") or []
        f.pending_intents.labels(seen.target, seen.namespace).set(len(pending))
        failing = (gitops.get("lastWriteBack") or {}).get("result") == "error"
        f.write_back_failing.labels(seen.target, seen.namespace).set(1 if failing else 0)
        for intent in pending:
            created = epoch_or_none(intent.get("createdAt"))
            if intent.get("id") and created is not None:
                seen.created[intent["id"]] = (str(intent.get("kind") or ""), created)
        applied = {a["id"]: a for a in gitops.get("applied") or [] if a.get("id")}
        for intent_id in applied.keys() - seen.applied:
            kind, created = seen.created.pop(intent_id, ("", None))
            pushed = epoch_or_none(applied[intent_id].get("appliedAt"))
            if first or created is None or pushed is None:
                continue  # not seen pending by this process: its decision time is unknown here
            f.write_back_latency.labels(kind).observe(max(0.0, pushed - created))
        seen.applied = set(applied)

    def _count_namespace(self, namespace: str, change: int) -> None:
        count = self.in_namespace.get(namespace, 0) + change
        self.in_namespace[namespace] = count
        if count:
            self.families.total.labels(namespace).set(count)
        else:
            self.families.total.remove(namespace)
            del self.in_namespace[namespace]

    def _forget(self, key: str) -> None:
        seen = self.seen.pop(key)
        f, labels = self.families, (seen.target, seen.namespace)
        sharing = self.by_target.get((seen.namespace, seen.target), {})
        sharing.pop(key, None)
        if sharing:  # another Canary has the same target (Flagger warns of it): it keeps the series
            survivor = next(iter(sharing.values()))
            survivor.metrics |= seen.metrics
            survivor.outcomes |= seen.outcomes
            self._count_namespace(seen.namespace, -1)
            return
        self.by_target.pop((seen.namespace, seen.target), None)
        for family in (f.status, f.duration, f.pending_intents, f.write_back_failing):
            family.remove(*labels)
        f.weight.remove(f"{seen.target}-primary", seen.namespace)
        f.weight.remove(*labels)
        for metric in seen.metrics:
            f.analysis.remove(*labels, metric)
        for phase, strategy, analysis_status in seen.outcomes:
            counter = f.successes if phase == "Succeeded" else f.failures
            counter.remove(*labels, strategy, analysis_status)
        self._count_namespace(seen.namespace, -1)

    def _by_target(self, namespace: str, target: str) -> _Seen | None:
        return next(iter(self.by_target.get((namespace, target), {}).values()), None)

    # -- what a tick measured ---------------------------------------------------------------

    def observe_analysis_step(self, canary: Obj, seconds: float) -> None:
        """A tick of ``canary`` (as read at the tick's start) took ``seconds``."""
        meta = canary.get("metadata") or {}
        seen = self._by_target(meta.get("namespace") or "", _spec(canary).target)
        if seen is not None and runs_analysis_step(canary):
            self.families.duration.labels(seen.target, seen.namespace).observe(seconds)

    def record_metric_values(self, namespace: str, target: str, values: Iterable[tuple[str, float]]) -> None:
        """The values the metric checks of one analysis step obtained (Flagger's ``SetAnalysis``)."""
        seen = self._by_target(namespace, target)
        if seen is None:
            return
        for metric, value in values:
            self.families.analysis.labels(target, namespace, metric).set(value)
            seen.metrics.add(metric)


SERIES = CanarySeries(Families.create(), time.time())


def observe(canary: Obj, *, deleted: bool = False) -> None:
    """Feed one Canary as persisted (a watch event); ``deleted`` drops its series."""
    SERIES.observe(canary, deleted=deleted)


def observe_analysis_step(canary: Obj, seconds: float) -> None:
    SERIES.observe_analysis_step(canary, seconds)


def record_metric_values(namespace: str, target: str, values: Iterable[tuple[str, float]]) -> None:
    SERIES.record_metric_values(namespace, target, values)
