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
  value echoed in a message is cut to ``_ECHO`` characters (a 400-digit duration is not
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
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from controller.api.alert_provider import SERVED_NOTIFIER_TYPES, AlertProvider
from controller.api.analysis import CanaryAnalysis
from controller.api.builtin_hooks import is_builtin_url
from controller.api.canary import API_VERSION, Canary, CanarySpec
from controller.api.duration import parse_duration
from controller.api.gotemplate.syntax import TemplateSyntaxError
from controller.api.gotemplate.syntax import parse as parse_go_template
from controller.api.metric_template import SERVED_PROVIDER_TYPES, MetricTemplate
from controller.api.model import plain, shape_problem
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
_ECHO = 40
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
M = TypeVar("M", bound=BaseModel)


def validate_canary(obj: Any) -> list[str]:
    """Every problem that makes `obj` an invalid Canary (empty when it is valid)."""
    if unusable := _shape_problems(obj):
        return unusable
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
    if unusable := _shape_problems(obj):
        return unusable
    problems, template = _parse(MetricTemplate, obj, "MetricTemplate")
    if template is None:
        return problems
    provider = template.spec.provider
    if provider.type not in SERVED_PROVIDER_TYPES:
        problems.append(
            f"spec.provider.type: {_show(provider.type)} is not supported by this controller; "
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
    if unusable := _shape_problems(obj):
        return unusable
    problems, provider = _parse(AlertProvider, obj, "AlertProvider")
    if provider is not None:
        spec = provider.spec
        if (spec.address is None) == (spec.secret_ref is None):
            problems.append("spec: set exactly one of address or secretRef")
        if spec.type not in SERVED_NOTIFIER_TYPES:
            problems.append(
                f"spec.type: {_show(spec.type)} is not supported by this controller; "
                f"supported types: {', '.join(SERVED_NOTIFIER_TYPES)}"
            )
        problems += _url_problem("spec.address", spec.address)
    return problems


def _shape_problems(obj: Any) -> list[str]:
    found = shape_problem(obj)
    if found is None:
        return []
    path, reason = found
    return [f"{_path(path)}: {reason}"]


def _path(parts: tuple[Any, ...]) -> str:
    """``spec.analysis.metrics[0]``: each key printable and cut, the whole path cut."""
    text = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            key = _printable(str(part))
            key = key if len(key) <= _ECHO else key[: _ECHO - 3] + "..."
            text = f"{text}.{key}" if text else key
    return _cut(text) or "<root>"


def _parse(model: type[M], obj: Any, kind: str) -> tuple[list[str], M | None]:
    if not isinstance(obj, Mapping):
        return [f"<root>: must be an object, got {type(obj).__name__}"], None
    data = plain(obj)
    problems: list[str] = []
    api_version = data.get("apiVersion")
    if api_version is not None and api_version != API_VERSION:
        problems.append(f"apiVersion: must be {API_VERSION}, got {_show(api_version)}")
    if data.get("kind") is not None and data.get("kind") != kind:
        problems.append(f"kind: must be {kind}, got {_show(data.get('kind'))}")
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
            message = f"{message}, got {_show(value)}"
        by_path.setdefault(path, [])
        if message not in by_path[path]:
            by_path[path].append(message)
    return [f"{path}: {' or '.join(messages)}" for path, messages in by_path.items()]


def _locate(data: Any, loc: tuple[int | str, ...], missing: bool) -> tuple[str, Any, bool]:
    """Follow `loc` through the input; trailing union tags (e.g. 'int') are dropped."""
    path: list[int | str] = []
    value = data
    for part in loc:
        if isinstance(part, int) and isinstance(value, list) and part < len(value):
            path.append(part)
            value = value[part]
        elif isinstance(value, dict) and part in value:
            path.append(str(part))
            value = value[part]
        elif missing and isinstance(value, dict) and isinstance(part, str):
            return _path((*path, part)), None, False
        else:
            break
    return _path(tuple(path)), value, True


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
        where = f"{path}.{_path((key,))}" if path else _path((key,))
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
                problems += _unknown_fields(sub, item, f"{where}.{_path((name,))}")
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
        problems.append(f"spec.analysis.stepWeights: must be strictly ascending, got {_show(steps)}")
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
                f"{where}.retries: must be between 0 and {MAX_WEBHOOK_RETRIES}, got {_show(retries)}"
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
            problems.append(
                f"spec.gitops.promoteTo: duplicate paths {_cut(_printable(', '.join(duplicates)))}"
            )
        template = spec.gitops.commit.message_template if spec.gitops.commit else None
        if template is not None:
            try:
                parse_go_template(template)
            except TemplateSyntaxError as exc:
                problems.append(f"spec.gitops.commit.messageTemplate: {_printable(str(exc))}")
    return problems


def _duration_problem(where: str, text: str | None, most: float | None = None) -> list[str]:
    if text is None:
        return []
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        return [f"{where}: {_cut(_printable(str(error)))}"]
    if seconds <= 0:
        return [f"{where}: must be positive, got {_echo(text)}"]
    if most is not None and seconds > most:
        return [f"{where}: must be at most {_go_duration(most)}, got {_echo(text)}"]
    return []


def _positive(where: str, value: int | None, most: int | None = None) -> list[str]:
    if value is not None and value <= 0:
        return [f"{where}: must be greater than 0, got {_show(value)}"]
    if value is not None and most is not None and value > most:
        return [f"{where}: must be at most {most}, got {_show(value)}"]
    return []


def _finite(where: str, value: float | None) -> list[str]:
    if value is not None and not math.isfinite(value):
        return [f"{where}: must be a finite number, got {value}"]
    return []


def _url_problem(where: str, url: str | None) -> list[str]:
    if not url:
        return []
    reason = static_refusal(url)
    return [f"{where}: {_cut(_printable(reason))}"] if reason else []


def _go_duration(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"


def _cut(text: str) -> str:
    return text if len(text) <= 2 * _ECHO + 100 else text[: 2 * _ECHO + 97] + "..."


def _printable(text: str) -> str:
    """``text`` with every character that is not printable written as its escape (``\\x1b``)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _show(value: Any) -> str:
    """``repr(value)``, printable and cut; an integer too long for ``repr`` by its size."""
    try:
        text = repr(value)
    except ValueError:  # an int past sys.get_int_max_str_digits()
        text = f"<an integer of {value.bit_length()} bits>"
    return _cut(_printable(text))


def _echo(text: str) -> str:
    """``repr(text)``, cut to ``_ECHO`` characters."""
    return repr(text) if len(text) <= _ECHO else repr(text[: _ECHO - 3] + "...")


def _percent(where: str, value: int | None, *, zero_ok: bool) -> list[str]:
    if value is None:
        return []
    low_ok = value >= 0 if zero_ok else value > 0
    if not low_ok or value > 100:
        low = "0" if zero_ok else "1"
        return [f"{where}: must be between {low} and 100, got {_show(value)}"]
    return []
