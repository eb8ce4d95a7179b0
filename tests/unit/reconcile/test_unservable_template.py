"""A MetricTemplate the controller cannot query stops the Canary as invalid (a permanent error,
so Valid=False), instead of failing every check and rolling a good release back."""

from __future__ import annotations

import pytest

from controller.api import Canary
from controller.errors import PERMANENT
from controller.reconcile.world import load_templates
from tests.builders import canary, metric_template
from tests.unit.reconcile.memory_kube import MemoryKube


@pytest.mark.parametrize(
    ("provider", "reason"),
    [
        ({"type": "opentsdb", "address": "http://tsdb:4242"}, "spec.provider.type: Input should be 'prometheus'"),
        ({"type": "prometheus"}, "spec.provider.address: required for prometheus"),
        ({"type": "prometheus", "address": "http://169.254.169.254"}, "link-local or a metadata address"),
    ],
)
async def test_an_unservable_template_is_a_permanent_error_naming_it(
    provider: dict[str, str], reason: str
) -> None:
    template = metric_template("test", "error-rate", "http://unused")
    template["spec"]["provider"] = provider
    kube = MemoryKube(template)
    with pytest.raises(PERMANENT) as refused:
        await load_templates(kube, Canary.from_k8s(canary("test", "podinfo", step_weight=10)))  # type: ignore[arg-type]
    assert str(refused.value).startswith("MetricTemplate test/error-rate is invalid: ")
    assert reason in str(refused.value)


async def test_a_servable_template_loads() -> None:
    kube = MemoryKube(metric_template("test", "error-rate", "http://prometheus:9090"))
    loaded = await load_templates(kube, Canary.from_k8s(canary("test", "podinfo", step_weight=10)))  # type: ignore[arg-type]
    assert loaded[("test", "error-rate")].provider.type == "prometheus"
