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
"""

import itertools
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from controller.api.alert_provider import AlertProvider
from controller.api.analysis import CanaryAnalysis
from controller.api.canary import API_VERSION, Canary, CanarySpec
from controller.api.duration import parse_duration
from controller.api.metric_template import MetricTemplate
from controller.api.model import plain

__all__ = ["validate_alert_provider", "validate_canary", "validate_metric_template"]

_STRATEGY_KEYS = ("iterations", "stepWeight", "stepWeights")
M = TypeVar("M", bound=BaseModel)


def validate_canary(obj: Any) -> list[str]:
    """Every problem that makes `obj` an invalid Canary (empty when it is valid)."""
    problems, canary = _parse(Canary, obj, "Canary")
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
    problems, _ = _parse(MetricTemplate, obj, "MetricTemplate")
    return problems


def validate_alert_provider(obj: Any) -> list[str]:
    """Every problem that makes `obj` an invalid AlertProvider (empty when it is valid)."""
    problems, provider = _parse(AlertProvider, obj, "AlertProvider")
    if provider is not None:
        spec = provider.spec
        if (spec.address is None) == (spec.secret_ref is None):
            problems.append("spec: set exactly one of address or secretRef")
    return problems


def _parse(model: type[M], obj: Any, kind: str) -> tuple[list[str], M | None]:
    if not isinstance(obj, Mapping):
        return [f"<root>: must be an object, got {type(obj).__name__}"], None
    data = plain(obj)
    problems: list[str] = []
    api_version = data.get("apiVersion")
    if api_version is not None and api_version != API_VERSION:
        problems.append(f"apiVersion: must be {API_VERSION}, got {api_version!r}")
    if data.get("kind") is not None and data.get("kind") != kind:
        problems.append(f"kind: must be {kind}, got {data.get('kind')!r}")
    problems += _unknown_fields(model, data, "")
    try:
        parsed = model.model_validate(data)
    except ValidationError as error:
        return problems + _format_errors(error, data), None
    return problems, parsed


def _format_errors(error: ValidationError, data: Any) -> list[str]:
    by_path: dict[str, list[str]] = {}
    for item in error.errors():
        path, value, found = _locate(data, item["loc"], item["type"] == "missing")
        message = "Required value" if item["type"] == "missing" else item["msg"]
        if item["type"] != "missing" and found:
            message = f"{message}, got {value!r}"
        by_path.setdefault(path, [])
        if message not in by_path[path]:
            by_path[path].append(message)
    return [f"{path}: {' or '.join(messages)}" for path, messages in by_path.items()]


def _locate(data: Any, loc: tuple[int | str, ...], missing: bool) -> tuple[str, Any, bool]:
    """Follow `loc` through the input; trailing union tags (e.g. 'int') are dropped."""
    path = ""
    value = data
    for part in loc:
        if isinstance(part, int) and isinstance(value, list) and part < len(value):
            path, value = f"{path}[{part}]", value[part]
        elif isinstance(value, dict) and part in value:
            path, value = (f"{path}.{part}" if path else str(part)), value[part]
        elif missing and isinstance(value, dict) and isinstance(part, str):
            return (f"{path}.{part}" if path else part), None, False
        else:
            break
    return path or "<root>", value, True


def _model_of(annotation: Any) -> tuple[str, type[BaseModel] | None]:
    """('model'|'list'|'dict'|'other', model class) for a field annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            shape, model = _model_of(arg)
            if model is not None:
                return shape, model
        return "other", None
    if origin is list:
        inner = _model_of(typing.get_args(annotation)[0])
        return ("list", inner[1]) if inner[0] == "model" else ("other", None)
    if origin is dict:
        inner = _model_of(typing.get_args(annotation)[1])
        return ("dict", inner[1]) if inner[0] == "model" else ("other", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    return "other", None


def _unknown_fields(model: type[BaseModel], data: Any, path: str) -> list[str]:
    if not isinstance(data, dict) or model.model_config.get("extra") == "allow":
        return []
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    problems = []
    for key, value in data.items():
        where = f"{path}.{key}" if path else key
        field = fields.get(key)
        if field is None:
            problems.append(f"{where}: unknown field (the API server drops or rejects it)")
            continue
        shape, sub = _model_of(field.annotation)
        if sub is None:
            continue
        if shape == "model":
            problems += _unknown_fields(sub, value, where)
        elif shape == "list" and isinstance(value, list):
            for index, item in enumerate(value):
                problems += _unknown_fields(sub, item, f"{where}[{index}]")
        elif shape == "dict" and isinstance(value, dict):
            for name, item in value.items():
                problems += _unknown_fields(sub, item, f"{where}.{name}")
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
    problems += _duration_problem("spec.analysis.interval", analysis.interval)
    problems += _positive("spec.analysis.threshold", analysis.threshold)
    problems += _positive("spec.analysis.iterations", analysis.iterations)
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
        problems.append(f"spec.analysis.stepWeights: must be strictly ascending, got {steps}")
    for index, metric in enumerate(analysis.metrics):
        where = f"spec.analysis.metrics[{index}]"
        problems += _duration_problem(f"{where}.interval", metric.interval)
        bounds = metric.threshold_range
        if bounds and bounds.min is not None and bounds.max is not None and bounds.min > bounds.max:
            problems.append(f"{where}.thresholdRange: min {bounds.min} is greater than max {bounds.max}")
    for index, hook in enumerate(analysis.webhooks):
        where = f"spec.analysis.webhooks[{index}]"
        problems += _duration_problem(f"{where}.timeout", hook.timeout)
        if hook.retries is not None and hook.retries < 0:
            problems.append(f"{where}.retries: must not be negative, got {hook.retries}")
    return problems


def _spec_problems(spec: CanarySpec) -> list[str]:
    problems = _positive("spec.progressDeadlineSeconds", spec.progress_deadline_seconds)
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
            problems.append(f"spec.gitops.promoteTo: duplicate paths {', '.join(duplicates)}")
    return problems


def _duration_problem(where: str, text: str | None) -> list[str]:
    if text is None:
        return []
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        return [f"{where}: {error}"]
    return [f"{where}: must be positive, got {text!r}"] if seconds <= 0 else []


def _positive(where: str, value: int | None) -> list[str]:
    if value is not None and value <= 0:
        return [f"{where}: must be greater than 0, got {value}"]
    return []


def _percent(where: str, value: int | None, *, zero_ok: bool) -> list[str]:
    if value is None:
        return []
    low_ok = value >= 0 if zero_ok else value > 0
    if not low_ok or value > 100:
        low = "0" if zero_ok else "1"
        return [f"{where}: must be between {low} and 100, got {value}"]
    return []
