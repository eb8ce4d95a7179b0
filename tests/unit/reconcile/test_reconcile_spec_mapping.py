"""Canary API model -> engine spec, webhook specs and metric checks."""

from __future__ import annotations

from typing import Any

import pytest

from controller.analysis import HookType, Strategy
from controller.api import Canary
from controller.metrics.checks import TemplateSpec
from controller.metrics.providers.contract import ProviderConfig
from controller.reconcile import spec_mapping
from tests.builders import canary

Obj = dict[str, Any]


def parse(raw: Obj) -> Canary:
    return Canary.from_k8s(raw)


def with_analysis(raw: Obj, **fields: Any) -> Obj:
    raw["spec"]["analysis"].update(fields)
    return raw


# -- analysis_spec -----------------------------------------------------------------------------------
def test_canary_strategy_with_weights() -> None:
    raw = canary("test", "podinfo", step_weight=10, max_weight=40, threshold=3, interval="30s")
    spec = spec_mapping.analysis_spec(parse(raw))
    assert spec.strategy is Strategy.CANARY
    assert (spec.name, spec.namespace) == ("podinfo", "test")
    assert (spec.step_weight, spec.max_weight, spec.threshold) == (10, 40, 3)
    assert spec.interval_seconds == 30.0
    assert spec.iterations == 0 and spec.step_weights == ()
    assert spec.progress_deadline_seconds == 600.0
    assert spec.provider == "kubernetes"  # the default when spec.provider is unset
    assert (spec.target_name, spec.target_kind) == ("podinfo", "Deployment")
    assert not spec.skip_analysis and not spec.suspend and not spec.mirror


def test_blue_green_from_iterations_alone() -> None:
    spec = spec_mapping.analysis_spec(parse(canary("test", "podinfo", iterations=5, provider="istio")))
    assert spec.strategy is Strategy.BLUE_GREEN
    assert spec.iterations == 5
    assert spec.provider == "istio"


def test_ab_testing_from_iterations_and_match() -> None:
    raw = with_analysis(
        canary("test", "podinfo", iterations=10),
        match=[{"headers": {"x-canary": {"exact": "insider"}}}],
    )
    assert spec_mapping.analysis_spec(parse(raw)).strategy is Strategy.AB_TESTING


def test_step_weights_mirror_and_promotion_step() -> None:
    raw = with_analysis(
        canary("test", "podinfo"),
        stepWeights=[1, 10, 50],
        stepWeightPromotion=25,
        mirror=True,
        mirrorWeight=20,
    )
    raw["spec"]["progressDeadlineSeconds"] = 120
    raw["spec"]["skipAnalysis"] = True
    raw["spec"]["suspend"] = True
    spec = spec_mapping.analysis_spec(parse(raw), default_provider="nginx")
    assert spec.step_weights == (1, 10, 50)
    assert (spec.step_weight_promotion, spec.mirror, spec.mirror_weight) == (25, True, 20)
    assert spec.progress_deadline_seconds == 120.0
    assert spec.skip_analysis and spec.suspend
    assert spec.provider == "nginx"


@pytest.mark.parametrize(("threshold", "expected"), [(0, 1), (-3, 1), (7, 7)])
def test_threshold_below_one_counts_as_one(threshold: int, expected: int) -> None:
    raw = canary("test", "podinfo", step_weight=5, threshold=threshold)
    assert spec_mapping.analysis_spec(parse(raw)).threshold == expected


@pytest.mark.parametrize(("interval", "seconds"), [("1m", 60.0), ("5s", 10.0), ("90s", 90.0)])
def test_interval_is_parsed_with_flaggers_minimum(interval: str, seconds: float) -> None:
    raw = canary("test", "podinfo", step_weight=5, interval=interval, template=None)
    assert spec_mapping.analysis_spec(parse(raw)).interval_seconds == seconds


def test_webhook_types_are_collected_with_empty_as_rollout() -> None:
    raw = with_analysis(
        canary("test", "podinfo", step_weight=5),
        webhooks=[
            {"name": "gate", "type": "confirm-promotion", "url": "http://gate/"},
            {"name": "load", "url": "http://loadtester/"},
            {"name": "legacy", "type": "", "url": "http://x/"},
        ],
    )
    spec = spec_mapping.analysis_spec(parse(raw))
    assert spec.has_webhooks_of == frozenset({HookType.CONFIRM_PROMOTION, HookType.ROLLOUT})


# -- webhooks --------------------------------------------------------------------------------------
def test_webhook_specs_parse_timeouts_and_defaults() -> None:
    raw = with_analysis(
        canary("test", "podinfo", step_weight=5),
        webhooks=[
            {
                "name": "load",
                "url": "http://loadtester/",
                "timeout": "1m30s",
                "retries": 3,
                "muteAlert": True,
                "disableTLS": True,
                "metadata": {"cmd": "hey -z 1m http://podinfo-canary:9898/"},
            },
            {"name": "gate", "type": "confirm-rollout", "url": "http://gate/"},
            {"name": "ms", "type": "rollback", "url": "http://rb/", "timeout": "500ms"},
        ],
    )
    load, gate, ms = spec_mapping.webhooks(parse(raw))
    assert (load.name, load.url, load.type, load.timeout) == ("load", "http://loadtester/", "rollout", 90.0)
    assert (load.retries, load.mute_alert, load.disable_tls) == (3, True, True)
    assert load.metadata == {"cmd": "hey -z 1m http://podinfo-canary:9898/"}
    assert (gate.type, gate.timeout, gate.retries) == (
        "confirm-rollout",
        spec_mapping.DEFAULT_WEBHOOK_TIMEOUT_S,
        0,
    )
    assert (ms.type, ms.timeout) == ("rollback", 0.5)


def test_unknown_webhook_type_is_an_error() -> None:
    model = parse(
        with_analysis(canary("test", "podinfo", step_weight=5), webhooks=[{"name": "w", "url": "u"}])
    )
    # the CRD enum rejects unknown types; a model built another way must still not slip through
    bad = model.spec.analysis.webhooks[0].model_copy(update={"type": "pre-promotion"})
    model.spec.analysis.webhooks[0] = bad
    with pytest.raises(ValueError, match=r"webhook w: unknown type 'pre-promotion'"):
        spec_mapping.webhooks(model)


# -- metric checks ---------------------------------------------------------------------------------
TEMPLATE = TemplateSpec(
    name="error-rate",
    namespace="test",
    provider=ProviderConfig(type="prometheus", address="http://prom:9090"),
    query="sum(rate(x[{{ interval }}]))",
)


def test_template_metric_resolves_in_the_canary_namespace() -> None:
    raw = canary("test", "podinfo", step_weight=5, max_error=2.5, interval="30s")
    (check,) = spec_mapping.metric_checks(parse(raw), {("test", "error-rate"): TEMPLATE})
    assert check.template is TEMPLATE
    assert (check.threshold_min, check.threshold_max) == (None, 2.5)
    assert check.interval == "30s"


def test_template_in_another_namespace_and_missing_template() -> None:
    raw = canary("test", "podinfo", step_weight=5)
    raw["spec"]["analysis"]["metrics"][0]["templateRef"]["namespace"] = "shared"
    model = parse(raw)
    (check,) = spec_mapping.metric_checks(model, {("shared", "error-rate"): TEMPLATE})
    assert check.template is TEMPLATE
    with pytest.raises(LookupError):
        spec_mapping.metric_checks(model, {("test", "error-rate"): TEMPLATE})


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ({"name": "request-success-rate", "threshold": 99}, (99.0, None)),
        ({"name": "request-duration", "threshold": 500}, (None, 500.0)),
        ({"name": "custom", "query": "up", "threshold": 3}, (None, 3.0)),
        # thresholdRange wins over the deprecated field
        ({"name": "request-success-rate", "threshold": 99, "thresholdRange": {"max": 5}}, (None, 5.0)),
        ({"name": "request-duration", "thresholdRange": {"min": 1, "max": 9}}, (1.0, 9.0)),
        ({"name": "request-duration"}, (None, None)),
    ],
)
def test_deprecated_threshold_is_a_min_for_success_rate_else_a_max(
    metric: Obj, expected: tuple[float | None, float | None]
) -> None:
    raw = with_analysis(canary("test", "podinfo", step_weight=5, template=None), metrics=[metric])
    (check,) = spec_mapping.metric_checks(parse(raw), {})
    assert (check.threshold_min, check.threshold_max) == expected
    assert check.template is None
    assert check.interval == "1m"  # Flagger's default metric interval


def test_inline_query_and_template_variables() -> None:
    raw = with_analysis(
        canary("test", "podinfo", step_weight=5, template=None),
        metrics=[
            {
                "name": "latency",
                "query": "histogram_quantile(0.99, x)",
                "thresholdRange": {"max": 500},
                "templateVariables": {"route": "/api"},
                "interval": "2m",
            }
        ],
    )
    (check,) = spec_mapping.metric_checks(parse(raw), {})
    assert (check.name, check.query, check.interval) == ("latency", "histogram_quantile(0.99, x)", "2m")
    assert dict(check.template_variables) == {"route": "/api"}
