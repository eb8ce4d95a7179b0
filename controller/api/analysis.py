"""`spec.analysis` of a Canary: schedule, strategy, metrics, webhooks and alerts.

Invariants:
- `interval` and `threshold` are required (every branch of the CRD's `oneOf` requires them),
  with exactly one of `iterations`, `stepWeight` or `stepWeights` (checked by validate_canary).
- Other fields are `None` when absent; the `effective_*` methods apply Flagger's runtime
  defaults (interval never below 10s and 60s if unparsable, threshold 1 if not positive, max
  weight 100, readiness 100%, metric interval 1m) so that every consumer agrees on them.
- `onInconclusive` (`count`, Flagger's behaviour, by default, or `hold`) and
  `inconclusiveThreshold` (default `threshold`) are gitcanary's: what a check that could not
  measure does to the analysis (see `controller.analysis.model.InconclusivePolicy`).
- The strategy is derived, never stored: `match` with `iterations` is A/B testing,
  `iterations` alone is blue/green, anything else shifts weights. `mirror` adds shadow traffic.
"""

import typing
from typing import Literal

from pydantic import Field

from controller.api.duration import parse_duration
from controller.api.model import ApiModel
from controller.api.service import StringMatch

__all__ = [
    "ANALYSIS_INTERVAL_SECONDS",
    "DEFAULT_MAX_WEIGHT",
    "DEFAULT_METRIC_INTERVAL",
    "INCONCLUSIVE_POLICIES",
    "MIN_ANALYSIS_INTERVAL_SECONDS",
    "WEBHOOK_TYPES",
    "AbMatch",
    "AlertProviderRef",
    "CanaryAlert",
    "CanaryAnalysis",
    "CanaryMetric",
    "CanaryWebhook",
    "HeaderMatch",
    "MetricTemplateRef",
    "SessionAffinity",
    "Strategy",
    "ThresholdRange",
    "WebhookType",
    "is_mirroring",
    "strategy_of",
]

ANALYSIS_INTERVAL_SECONDS = 60.0
MIN_ANALYSIS_INTERVAL_SECONDS = 10.0
DEFAULT_MAX_WEIGHT = 100
DEFAULT_METRIC_INTERVAL = "1m"
DEFAULT_READY_THRESHOLD = 100

WebhookType = Literal[
    "",
    "confirm-rollout",
    "pre-rollout",
    "rollout",
    "confirm-promotion",
    "post-rollout",
    "event",
    "rollback",
    "confirm-traffic-increase",
]
WEBHOOK_TYPES: tuple[str, ...] = typing.get_args(WebhookType)

Strategy = Literal["canary", "ab-testing", "blue-green"]

InconclusivePolicy = Literal["count", "hold"]
INCONCLUSIVE_POLICIES: tuple[str, ...] = typing.get_args(InconclusivePolicy)


class HeaderMatch(ApiModel):
    """A header match for A/B testing (adds `suffix` to the route match)."""

    exact: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    regex: str | None = None


class AbMatch(ApiModel):
    """One A/B testing match condition; any matching request goes to the canary."""

    headers: dict[str, HeaderMatch] = {}
    query_params: dict[str, StringMatch] = {}
    source_labels: dict[str, str] = {}


class ThresholdRange(ApiModel):
    min: float | None = None
    max: float | None = None


class MetricTemplateRef(ApiModel):
    name: str
    namespace: str | None = None


class CanaryMetric(ApiModel):
    """A metric check: a builtin name, a MetricTemplate reference, or an inline query."""

    name: str
    interval: str | None = Field(default=None, pattern=r"^[0-9]+(m|s)")
    threshold: float | None = None
    threshold_range: ThresholdRange | None = None
    query: str | None = None
    template_ref: MetricTemplateRef | None = None
    template_variables: dict[str, str] = {}

    def effective_interval(self) -> str:
        """The query range, "1m" when unset (Flagger's default)."""
        return self.interval or DEFAULT_METRIC_INTERVAL


class AlertProviderRef(ApiModel):
    name: str
    namespace: str | None = None


class CanaryAlert(ApiModel):
    name: str
    severity: Literal["", "info", "warn", "error"] | None = None
    provider_ref: AlertProviderRef


class CanaryWebhook(ApiModel):
    """A webhook called at one point of the analysis (`type` "" means `rollout`)."""

    name: str
    type: WebhookType | None = None
    mute_alert: bool = False
    url: str
    timeout: str | None = Field(default=None, pattern=r"^[0-9]+(m|s)")
    retries: int | None = None
    disable_tls: bool = Field(default=False, alias="disableTLS")
    metadata: dict[str, str] = {}


class SessionAffinity(ApiModel):
    """Sticky sessions during a canary run, through cookies set by the router."""

    cookie_name: str
    primary_cookie_name: str | None = None
    domain: str | None = None
    http_only: bool | None = None
    max_age: int = 86400
    partitioned: bool | None = None
    path: str | None = None
    same_site: Literal["Strict", "Lax", "None"] | None = None
    secure: bool | None = None


class CanaryAnalysis(ApiModel):
    """When and how the canary is analysed, and the strategy's parameters."""

    # interval and threshold are in every branch of the CRD's oneOf, so they are required.
    interval: str = Field(pattern=r"^[0-9]+(m|s)")
    iterations: int | None = None
    threshold: int
    on_inconclusive: InconclusivePolicy | None = None
    inconclusive_threshold: int | None = Field(default=None, ge=1)
    max_weight: int | None = None
    step_weight: int | None = None
    # None rather than []: an empty list would count as set for the CRD's oneOf.
    step_weights: list[int] | None = None
    step_weight_promotion: int | None = None
    mirror: bool = False
    mirror_weight: int | None = None
    primary_ready_threshold: int | None = None
    canary_ready_threshold: int | None = None
    match: list[AbMatch] = []
    metrics: list[CanaryMetric] = []
    alerts: list[CanaryAlert] = []
    webhooks: list[CanaryWebhook] = []
    session_affinity: SessionAffinity | None = None

    def interval_seconds(self) -> float:
        """The analysis interval: 60s when unparsable, and never below 10s (as Flagger)."""
        try:
            seconds = parse_duration(self.interval)
        except ValueError:
            return ANALYSIS_INTERVAL_SECONDS
        return max(seconds, MIN_ANALYSIS_INTERVAL_SECONDS)

    def effective_threshold(self) -> int:
        """Failed checks that trigger a rollback: 1 when unset or not positive."""
        return self.threshold if self.threshold > 0 else 1

    def effective_on_inconclusive(self) -> InconclusivePolicy:
        """`count` (Flagger's behaviour) unless the Canary opts in to `hold`."""
        return self.on_inconclusive or "count"

    def effective_inconclusive_threshold(self) -> int:
        """Inconclusive intervals in a row that end a hold: `threshold` when unset."""
        if self.inconclusive_threshold is not None and self.inconclusive_threshold > 0:
            return self.inconclusive_threshold
        return self.effective_threshold()

    def effective_max_weight(self) -> int:
        """The last step of `stepWeights`, else `maxWeight`, else 100."""
        if self.step_weights:
            return self.step_weights[-1]
        if self.max_weight and self.max_weight > 0:
            return self.max_weight
        return DEFAULT_MAX_WEIGHT

    def effective_primary_ready_threshold(self) -> int:
        """Percentage of primary pods that must be ready (default 100; 0 is honoured)."""
        if self.primary_ready_threshold is None:
            return DEFAULT_READY_THRESHOLD
        return self.primary_ready_threshold

    def effective_canary_ready_threshold(self) -> int:
        """Percentage of canary pods that must be ready (default 100; 0 is honoured)."""
        if self.canary_ready_threshold is None:
            return DEFAULT_READY_THRESHOLD
        return self.canary_ready_threshold


def strategy_of(analysis: CanaryAnalysis) -> Strategy:
    """A/B testing for `match` + `iterations`, blue/green for `iterations` alone, else canary."""
    iterating = analysis.iterations is not None and analysis.iterations > 0
    if iterating and analysis.match:
        return "ab-testing"
    if iterating:
        return "blue-green"
    return "canary"


def is_mirroring(analysis: CanaryAnalysis) -> bool:
    """True when the canary receives a shadow copy of the traffic."""
    return analysis.mirror
