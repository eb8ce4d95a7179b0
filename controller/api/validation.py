"""Human-readable problems with a Canary, MetricTemplate or AlertProvider manifest.

Invariants:
- `validate_*` never raise on any input: they return a list of `path: problem` strings, empty
  when the object is valid. Paths use the manifest's own (camelCase) keys, e.g.
  `spec.analysis.threshold: Input should be a valid integer, got 'five'`.
- Three layers, in order: unknown fields (the API server would drop or reject them), type and
  enum errors from the pydantic models, then the semantic rules Flagger applies or that the
  CRD's `oneOf` expresses. Semantic rules run only once the types are right.
- Values Flagger clamps rather than rejects (an analysis interval below 10s runs at 10s) are
  not problems.
- Upper bounds keep every value inside what the controller can act on in time: durations
  (``MAX_INTERVAL``, ``MAX_WEBHOOK_TIMEOUT``, ``MAX_PROGRESS_DEADLINE_SECONDS``), counts
  (``MAX_THRESHOLD``, ``MAX_ITERATIONS``, ``MAX_WEBHOOK_RETRIES``), and finite thresholds. A
  value echoed in a message is cut to ``ECHO`` characters (a 400-digit duration is not
  repeated in full), and a key or value echoed is made printable (control characters such as
  ESC, CR or NUL are written as escapes).
- Input that holds itself (YAML ``&a [*a]``), nests deeper than ``model.MAX_DEPTH`` or holds
  more than ``model.MAX_VALUES`` values is one problem, found before anything else walks it.
- URLs a tenant supplies (webhook ``url``, ``metricsServer``, MetricTemplate and AlertProvider
  ``address``) must be http(s) and never a link-local or cloud metadata address
  (``controller.outbound.static_refusal``; the allow-list and DNS are checked at call time).
- A MetricTemplate is valid only when this controller can query it: a provider type in
  ``controller.api.metric_template.SERVED_PROVIDER_TYPES``, with the address or credentials that
  provider needs. An AlertProvider's type must be one ``controller.notify`` serves (``SERVED_NOTIFIER_TYPES``). A Canary
  whose template is invalid is itself not valid (the reconcile loop reports it), so a template
  the controller cannot use never fails checks and never rolls a good release back.
"""

import itertools
import math
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from controller.api.alert_provider import SERVED_NOTIFIER_TYPES, AlertProvider
from controller.api.analysis import CanaryAnalysis
from controller.api.builtin_hooks import is_builtin_url
from controller.api.canary import Canary, CanarySpec
from controller.api.duration import parse_duration
from controller.api.gotemplate.syntax import TemplateSyntaxError
from controller.api.gotemplate.syntax import parse as parse_go_template
from controller.api.metric_template import SERVED_PROVIDER_TYPES, MetricTemplate
from controller.api.model import plain
from controller.api.problems import cut, echo, parse_manifest, printable, shape_problems, show
from controller.url_policy import static_refusal

__all__ = ["validate_alert_provider", "validate_canary", "validate_metric_template"]

MAX_INTERVAL = 24 * 3600.0
"""Longest analysis or metric interval, in seconds (24h)."""
MAX_WEBHOOK_TIMEOUT = 600.0
"""Longest webhook timeout, in seconds (10m: enough for a Helm test, short of blocking a day)."""
MAX_WEBHOOK_RETRIES = 10
"""Most webhook retries; ``controller.outbound.MAX_RETRIES`` enforces the same bound at call time."""
MAX_THRESHOLD = 100
"""Most failed checks before a rollback."""
MAX_ITERATIONS = 1000
"""Most iterations of a blue/green or A/B analysis."""
MAX_PROGRESS_DEADLINE_SECONDS = 86400
"""Longest progress deadline (a day)."""
_NEEDS_ADDRESS = frozenset({"prometheus", "graphite", "dynatrace", "influxdb", "splunk"})
"""Provider types Flagger refuses without ``address`` (no default endpoint)."""
_NEEDS_SECRET = {
    "datadog": "datadog_api_key, datadog_application_key",
    "dynatrace": "dynatrace_token",
    "newrelic": "newrelic_account_id, newrelic_query_key",
    "splunk": "sf_token_key",
    "stackdriver": "project, and serviceAccountKey unless the controller has GOOGLE_APPLICATION_CREDENTIALS",
}
"""Provider types whose credentials or settings only a ``secretRef`` can give, with its keys."""
_NEEDS_REGION = frozenset({"cloudwatch"})

_STRATEGY_KEYS = ("iterations", "stepWeight", "stepWeights")


def validate_canary(obj: Any) -> list[str]:
    """Every problem that makes `obj` an invalid Canary (empty when it is valid)."""
    if unusable := shape_problems(obj):
        return unusable
    problems, canary = parse_manifest(Canary, obj, "Canary")
    spec = obj.get("spec") if isinstance(obj, Mapping) else None
    raw = plain(spec.get("analysis")) if isinstance(spec, Mapping) else None
    if isinstance(raw, dict):
        problems += _strategy_problems(raw)
    if canary is not None:
        return problems + _analysis_problems(canary.spec.analysis) + _spec_problems(canary.spec)
    # The Canary as a whole is broken; still judge the analysis when it is well-typed on its own.
    if isinstance(raw, dict):
        try:
            analysis = CanaryAnalysis.model_validate(raw)
        except ValidationError:
            return problems
        problems += _analysis_problems(analysis)
    return problems


def validate_metric_template(obj: Any) -> list[str]:
    """Every problem that makes `obj` an invalid MetricTemplate (empty when it is valid)."""
    if unusable := shape_problems(obj):
        return unusable
    problems, template = parse_manifest(MetricTemplate, obj, "MetricTemplate")
    if template is None:
        return problems
    provider = template.spec.provider
    if provider.type not in SERVED_PROVIDER_TYPES:
        problems.append(
            f"spec.provider.type: {show(provider.type)} is not supported by this controller; "
            f"supported types: {', '.join(SERVED_PROVIDER_TYPES)}"
        )
        return problems
    if provider.type in _NEEDS_ADDRESS and not (provider.address or "").strip():
        problems.append(f"spec.provider.address: required for {provider.type}")
    problems += _url_problem("spec.provider.address", provider.address)
    if provider.type in _NEEDS_SECRET and provider.secret_ref is None:
        problems.append(
            f"spec.provider.secretRef: required for {provider.type} ({_NEEDS_SECRET[provider.type]})"
        )
    if provider.type in _NEEDS_REGION and not (provider.region or "").strip():
        problems.append(f"spec.provider.region: required for {provider.type}")
    return problems


def validate_alert_provider(obj: Any) -> list[str]:
    """Every problem that makes `obj` an invalid AlertProvider (empty when it is valid)."""
    if unusable := shape_problems(obj):
        return unusable
    problems, provider = parse_manifest(AlertProvider, obj, "AlertProvider")
    if provider is not None:
        spec = provider.spec
        if (spec.address is None) == (spec.secret_ref is None):
            problems.append("spec: set exactly one of address or secretRef")
        if spec.type not in SERVED_NOTIFIER_TYPES:
            problems.append(
                f"spec.type: {show(spec.type)} is not supported by this controller; "
                f"supported types: {', '.join(SERVED_NOTIFIER_TYPES)}"
            )
        problems += _url_problem("spec.address", spec.address)
    return problems


def _strategy_problems(raw: dict[str, Any]) -> list[str]:
    """The CRD's oneOf: exactly one of iterations, stepWeight and stepWeights."""
    strategies = [key for key in _STRATEGY_KEYS if raw.get(key) is not None]
    if not strategies:
        return [
            "spec.analysis: set one of iterations (blue/green, A/B testing), "
            "stepWeight or stepWeights (canary)"
        ]
    if len(strategies) > 1:
        return [f"spec.analysis: {' and '.join(strategies)} are mutually exclusive; set only one"]
    return []


def _analysis_problems(analysis: CanaryAnalysis) -> list[str]:
    problems: list[str] = []
    problems += _duration_problem("spec.analysis.interval", analysis.interval, MAX_INTERVAL)
    problems += _positive("spec.analysis.threshold", analysis.threshold, MAX_THRESHOLD)
    problems += _positive("spec.analysis.iterations", analysis.iterations, MAX_ITERATIONS)
    problems += _percent("spec.analysis.stepWeight", analysis.step_weight, zero_ok=False)
    problems += _percent("spec.analysis.maxWeight", analysis.max_weight, zero_ok=False)
    problems += _percent("spec.analysis.stepWeightPromotion", analysis.step_weight_promotion, zero_ok=False)
    problems += _percent("spec.analysis.mirrorWeight", analysis.mirror_weight, zero_ok=True)
    problems += _percent(
        "spec.analysis.primaryReadyThreshold", analysis.primary_ready_threshold, zero_ok=True
    )
    problems += _percent("spec.analysis.canaryReadyThreshold", analysis.canary_ready_threshold, zero_ok=True)
    steps = analysis.step_weights or []
    for index, weight in enumerate(steps):
        problems += _percent(f"spec.analysis.stepWeights[{index}]", weight, zero_ok=False)
    if any(later <= earlier for earlier, later in itertools.pairwise(steps)):
        problems.append(f"spec.analysis.stepWeights: must be strictly ascending, got {show(steps)}")
    for index, metric in enumerate(analysis.metrics):
        where = f"spec.analysis.metrics[{index}]"
        problems += _duration_problem(f"{where}.interval", metric.interval, MAX_INTERVAL)
        bounds = metric.threshold_range
        problems += _finite(f"{where}.threshold", metric.threshold)
        problems += _finite(f"{where}.thresholdRange.min", bounds.min if bounds else None)
        problems += _finite(f"{where}.thresholdRange.max", bounds.max if bounds else None)
        if bounds and bounds.min is not None and bounds.max is not None and bounds.min > bounds.max:
            problems.append(f"{where}.thresholdRange: min {bounds.min} is greater than max {bounds.max}")
    for index, hook in enumerate(analysis.webhooks):
        where = f"spec.analysis.webhooks[{index}]"
        problems += _duration_problem(f"{where}.timeout", hook.timeout, MAX_WEBHOOK_TIMEOUT)
        if not is_builtin_url(hook.url):
            problems += _url_problem(f"{where}.url", hook.url)
        retries = hook.retries
        if retries is not None and not 0 <= retries <= MAX_WEBHOOK_RETRIES:
            problems.append(
                f"{where}.retries: must be between 0 and {MAX_WEBHOOK_RETRIES}, got {show(retries)}"
            )
    return problems


def _spec_problems(spec: CanarySpec) -> list[str]:
    problems = _positive(
        "spec.progressDeadlineSeconds", spec.progress_deadline_seconds, MAX_PROGRESS_DEADLINE_SECONDS
    )
    problems += _url_problem("spec.metricsServer", spec.metrics_server)
    scaler = spec.autoscaler_ref
    if scaler is not None:
        replicas = scaler.primary_scaler_replicas
        low, high = (replicas.min_replicas, replicas.max_replicas) if replicas else (None, None)
        if low is not None and high is not None and low > high:
            problems.append(
                "spec.autoscalerRef.primaryScalerReplicas: "
                f"minReplicas {low} is greater than maxReplicas {high}"
            )
        if scaler.primary_scaling_set is not None and scaler.kind != "HTTPScaledObject":
            problems.append("spec.autoscalerRef.primaryScalingSet: only applies to kind HTTPScaledObject")
    if spec.gitops is not None:
        problems += _duration_problem("spec.gitops.approval.timeout", spec.gitops.approval.timeout)
        paths = [target.path for target in spec.gitops.promote_to]
        duplicates = sorted({p for p in paths if paths.count(p) > 1})
        if duplicates:
            problems.append(f"spec.gitops.promoteTo: duplicate paths {cut(printable(', '.join(duplicates)))}")
        template = spec.gitops.commit.message_template if spec.gitops.commit else None
        if template is not None:
            try:
                parse_go_template(template)
            except TemplateSyntaxError as exc:
                problems.append(f"spec.gitops.commit.messageTemplate: {printable(str(exc))}")
    return problems


def _duration_problem(where: str, text: str | None, most: float | None = None) -> list[str]:
    if text is None:
        return []
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        return [f"{where}: {cut(printable(str(error)))}"]
    if seconds <= 0:
        return [f"{where}: must be positive, got {echo(text)}"]
    if most is not None and seconds > most:
        return [f"{where}: must be at most {_go_duration(most)}, got {echo(text)}"]
    return []


def _positive(where: str, value: int | None, most: int | None = None) -> list[str]:
    if value is not None and value <= 0:
        return [f"{where}: must be greater than 0, got {show(value)}"]
    if value is not None and most is not None and value > most:
        return [f"{where}: must be at most {most}, got {show(value)}"]
    return []


def _finite(where: str, value: float | None) -> list[str]:
    if value is not None and not math.isfinite(value):
        return [f"{where}: must be a finite number, got {value}"]
    return []


def _url_problem(where: str, url: str | None) -> list[str]:
    if not url:
        return []
    reason = static_refusal(url)
    return [f"{where}: {cut(printable(reason))}"] if reason else []


def _go_duration(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"


def _percent(where: str, value: int | None, *, zero_ok: bool) -> list[str]:
    if value is None:
        return []
    low_ok = value >= 0 if zero_ok else value > 0
    if not low_ok or value > 100:
        low = "0" if zero_ok else "1"
        return [f"{where}: must be between {low} and 100, got {show(value)}"]
    return []
