"""Evaluate a canary's ``analysis.metrics`` into pass/fail results with Flagger's wording.

Each ``MetricCheck`` is one of:
* a built-in metric (``request-success-rate`` / ``request-duration``) queried on the
  canary's metrics server with the router's query set;
* a ``templateRef`` metric, rendered from its MetricTemplate and run on that template's
  provider;
* an inline ``query``, run verbatim on the metrics server (Flagger does not template
  inline queries either).

A value outside ``thresholdRange`` fails with Flagger's event text, for example
``Halt podinfo.test advancement success rate 69.17% < 99%``,
``Halt podinfo.test advancement request duration 1.2s > 500ms`` and, for custom
metrics, ``Halt podinfo.test advancement error-rate 5.25 > 1``.

Every result has one of three outcomes (``controller.metrics.errors.Outcome``): *passed* and
*failed* are verdicts on a measured value; a check that could not measure (no values, a render
error, a provider error, a misconfigured check, a non-finite value) is *inconclusive* and names
its ``Cause``. ``ok`` is False for both failed and inconclusive results, and ``message`` keeps
Flagger's wording; ``describe`` is the one-line detail with the outcome and cause.
Checks run concurrently; results come back in the order of ``checks``.
Messages never contain credentials: provider errors are already scrubbed.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from controller import canary_metrics
from controller.metrics.builtin import REQUEST_DURATION, REQUEST_SUCCESS_RATE, builtin_query, is_builtin
from controller.metrics.durations import format_go_duration_ms, format_go_float
from controller.metrics.errors import Cause, MetricsError, NoValuesFound, Outcome
from controller.metrics.providers.contract import MetricProvider, ProviderConfig
from controller.metrics.providers.registry import provider_for
from controller.metrics.template import DEFAULT_METRIC_INTERVAL, TemplateContext, render_promql, render_query

__all__ = ["MetricCheck", "MetricResult", "ProviderFactory", "TemplateSpec", "describe", "evaluate"]


@dataclass(frozen=True)
class TemplateSpec:
    """A resolved MetricTemplate: its query, provider and (already read) secret data."""

    name: str
    namespace: str
    provider: ProviderConfig
    query: str
    secret: Mapping[str, str] | None = field(default=None, repr=False)
    """Data of the provider's ``secretRef``; never printed."""


@dataclass(frozen=True)
class MetricCheck:
    """One entry of ``spec.analysis.metrics``."""

    name: str
    interval: str = DEFAULT_METRIC_INTERVAL
    query: str | None = None
    template: TemplateSpec | None = None
    threshold_min: float | None = None
    threshold_max: float | None = None
    template_variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricResult:
    """The outcome of one check. ``value`` is None when no value could be obtained.

    ``outcome`` is passed, failed (measured, out of range) or inconclusive (not measured, for
    ``cause``); ``ok`` is ``outcome is Outcome.PASSED``."""

    name: str
    value: float | None
    ok: bool
    message: str
    outcome: Outcome = Outcome.FAILED
    cause: Cause | None = None

    def __post_init__(self) -> None:
        if self.ok and self.outcome is not Outcome.PASSED:
            object.__setattr__(self, "outcome", Outcome.PASSED)
        if self.outcome is Outcome.INCONCLUSIVE and self.cause is None:
            object.__setattr__(self, "cause", Cause.MISCONFIGURED)


def inconclusive(name: str, cause: Cause, message: str) -> MetricResult:
    """A check that could not measure."""
    return MetricResult(name, None, False, message, Outcome.INCONCLUSIVE, cause)


def describe(result: MetricResult, halt_prefix: str = "") -> str:
    """One line for Events and status: Flagger's message for a verdict (without ``halt_prefix``),
    ``<metric> inconclusive (<cause>): <message>`` for a check that could not measure."""
    message = result.message.removeprefix(halt_prefix) if halt_prefix else result.message
    if result.outcome is Outcome.INCONCLUSIVE:
        return f"{result.name} inconclusive ({result.cause}): {message}"
    return message


ProviderFactory = Callable[[TemplateSpec, str], MetricProvider]
"""Builds the provider for a template and a metric interval."""


def _default_factory(template: TemplateSpec, interval: str) -> MetricProvider:
    return provider_for(template.provider, template.secret, interval=interval)


async def evaluate(
    checks: Sequence[MetricCheck],
    context: TemplateContext,
    *,
    metrics_server: MetricProvider | None,
    router: str = "kubernetes",
    provider_factory: ProviderFactory = _default_factory,
) -> list[MetricResult]:
    """Evaluate every check concurrently; one result per check, in order.

    ``metrics_server`` runs built-in and inline queries (None when the canary has none,
    in which case those checks fail with a clear message). ``router`` is the canary's
    ``spec.provider`` (or the controller's default), which selects the built-in queries.
    """
    results = list(
        await asyncio.gather(
            *(_evaluate_one(check, context, metrics_server, router, provider_factory) for check in checks)
        )
    )
    canary_metrics.record_metric_values(
        context.namespace,
        context.target,
        [
            (r.name, _reported_value(c, r.value))
            for c, r in zip(checks, results, strict=True)
            if r.value is not None
        ],
    )
    return results


def _reported_value(check: MetricCheck, value: float) -> float:
    """The value as Flagger's ``canary_metric_analysis`` reports it: the built-in request duration
    in seconds (our checks judge it in milliseconds), every other value as queried."""
    builtin_duration = check.template is None and check.name == REQUEST_DURATION
    return value / 1000 if builtin_duration else value


async def _evaluate_one(
    check: MetricCheck,
    base: TemplateContext,
    metrics_server: MetricProvider | None,
    router: str,
    provider_factory: ProviderFactory,
) -> MetricResult:
    interval = check.interval or DEFAULT_METRIC_INTERVAL
    # The controller's variables (e.g. the APISIX route name) under the Canary's templateVariables.
    context = replace(base, interval=interval, variables={**base.variables, **check.template_variables})
    if check.template is not None:
        return await _template_check(check, context, interval, provider_factory)
    if is_builtin(check.name):
        return await _builtin_check(check, context, metrics_server, router)
    if check.query:
        return await _inline_check(check, context, metrics_server)
    return inconclusive(
        check.name, Cause.MISCONFIGURED, f"Metric {check.name} has neither a query nor a templateRef"
    )


async def _builtin_check(
    check: MetricCheck, context: TemplateContext, server: MetricProvider | None, router: str
) -> MetricResult:
    if server is None:
        return inconclusive(
            check.name, Cause.MISCONFIGURED, "Metrics server is not configured for built-in metrics"
        )
    built = builtin_query(check.name, router, context)
    try:
        raw = await server.run_query(built.query)
    except NoValuesFound:
        return inconclusive(
            check.name,
            Cause.NO_VALUES,
            f"Halt advancement no values found for {router} metric {check.name} "
            f"probably {context.target}.{context.namespace} is not receiving traffic",
        )
    except MetricsError as exc:
        return inconclusive(check.name, exc.cause, f"Prometheus query failed: {exc}")
    halt = _halt(context)
    value = raw * 1000 if built.seconds_to_ms else raw
    if not math.isfinite(value):
        return _not_finite(check, value, halt)
    if check.name == REQUEST_SUCCESS_RATE:
        return _judge(check, raw, _success_rate_text(halt))
    return _judge(check, float(int(value)), _duration_text(halt))


async def _inline_check(
    check: MetricCheck, context: TemplateContext, server: MetricProvider | None
) -> MetricResult:
    if server is None:
        return inconclusive(
            check.name, Cause.MISCONFIGURED, f"Metrics server is not configured for {check.name}"
        )
    no_values = f"Halt advancement no values found for metric: {check.name}"
    return await _query_and_judge(
        check, context, server, check.query or "", lambda _: no_values, "Prometheus query"
    )


async def _template_check(
    check: MetricCheck, context: TemplateContext, interval: str, provider_factory: ProviderFactory
) -> MetricResult:
    template = check.template
    assert template is not None
    where = f"{template.name}.{template.namespace}"
    render = render_promql if template.provider.type == "prometheus" else render_query
    try:
        query = render(template.query, context)
    except MetricsError as exc:
        return inconclusive(check.name, exc.cause, f"Metric template {where} query render error: {exc}")
    try:
        provider = provider_factory(template, interval)
    except MetricsError as exc:
        return inconclusive(
            check.name, exc.cause, f"Metric template {where} provider {template.provider.type} error: {exc}"
        )
    return await _query_and_judge(
        check,
        context,
        provider,
        query,
        lambda exc: f"Halt advancement no values found for custom metric: {check.name}: {exc}",
        "Metric query",
    )


async def _query_and_judge(
    check: MetricCheck,
    context: TemplateContext,
    provider: MetricProvider,
    query: str,
    no_values: Callable[[NoValuesFound], str],
    what: str,
) -> MetricResult:
    """Run the custom query and judge its value against the check's range; ``no_values`` words
    an empty answer, ``what`` names the query in other failures."""
    try:
        value = await provider.run_query(query)
    except NoValuesFound as exc:
        return inconclusive(check.name, Cause.NO_VALUES, no_values(exc))
    except MetricsError as exc:
        return inconclusive(check.name, exc.cause, f"{what} failed for {check.name}: {exc}")
    halt = _halt(context)
    if not math.isfinite(value):
        return _not_finite(check, value, halt)
    return _judge(check, value, _custom_text(halt, check.name))


_Describe = Callable[[float, str, float], str]


def _halt(context: TemplateContext) -> str:
    return f"Halt {context.name}.{context.namespace} advancement"


def _not_finite(check: MetricCheck, value: float, halt: str) -> MetricResult:
    shown = format_go_float(value)
    return inconclusive(
        check.name, Cause.MALFORMED, f"{halt} {check.name} returned {shown} (not a finite number)"
    )


def _judge(check: MetricCheck, value: float, describe: _Describe) -> MetricResult:
    if check.threshold_min is not None and value < check.threshold_min:
        return MetricResult(check.name, value, False, describe(value, "<", check.threshold_min))
    if check.threshold_max is not None and value > check.threshold_max:
        return MetricResult(check.name, value, False, describe(value, ">", check.threshold_max))
    return MetricResult(check.name, value, True, _passed_text(check.name, value), Outcome.PASSED)


def _success_rate_text(halt: str) -> _Describe:
    return lambda value, op, bound: f"{halt} success rate {value:.2f}% {op} {format_go_float(bound)}%"


def _duration_text(halt: str) -> _Describe:
    def describe(value: float, op: str, bound: float) -> str:
        shown, limit = format_go_duration_ms(int(value)), format_go_duration_ms(int(bound))
        return f"{halt} request duration {shown} {op} {limit}"

    return describe


def _custom_text(halt: str, name: str) -> _Describe:
    return lambda value, op, bound: f"{halt} {name} {value:.2f} {op} {format_go_float(bound)}"


def _passed_text(name: str, value: float) -> str:
    if name == REQUEST_DURATION:
        return f"{name} {format_go_duration_ms(int(value))} within range"
    if name == REQUEST_SUCCESS_RATE:
        return f"{name} {value:.2f}% within range"
    return f"{name} {value:.2f} within range"
