"""Manifests the spec fuzz campaign (bench/chaos/fuzz_specs.py) found, kept as regressions.

The contract (controller.api.validation): ``validate_*`` never raise on any input and return
``path: problem`` strings; a value echoed in a message is cut short. ``gitcanary check`` feeds
them YAML, where ``&a [*a]`` is a list that holds itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from controller.api import validate_alert_provider, validate_canary, validate_metric_template

VALIDATORS: dict[str, Callable[[Any], list[str]]] = {
    "Canary": validate_canary,
    "MetricTemplate": validate_metric_template,
    "AlertProvider": validate_alert_provider,
}


def canary(**analysis: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 80},
            "analysis": {"interval": "1m", "threshold": 5, "stepWeight": 10, **analysis},
        },
    }


def self_referencing() -> list[Any]:
    loop: list[Any] = [1]
    loop.append(loop)
    return loop


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"k": [value]}
    return value


def assert_readable(problems: list[str]) -> None:
    assert problems
    for problem in problems:
        assert problem.strip() and len(problem) < 500, problem[:200]
        assert all(ch in "\t\n" or ch.isprintable() for ch in problem), repr(problem[:200])


@pytest.mark.parametrize("kind", sorted(VALIDATORS))
@pytest.mark.parametrize("field", ["metadata", "spec"])
def test_a_self_referencing_field_is_a_problem_not_a_crash(kind: str, field: str) -> None:
    # Found: {'metadata': [7529, [...]]} raised RecursionError in controller.api.model.plain.
    obj = {"apiVersion": "gitcanary.io/v1beta1", "kind": kind, field: self_referencing()}
    assert_readable(VALIDATORS[kind](obj))


@pytest.mark.parametrize("kind", sorted(VALIDATORS))
def test_a_field_nested_thousands_deep_is_a_problem_not_a_crash(kind: str) -> None:
    obj = {"apiVersion": "gitcanary.io/v1beta1", "kind": kind, "spec": nested(3_000)}
    assert_readable(VALIDATORS[kind](obj))


@pytest.mark.parametrize("kind", sorted(VALIDATORS))
def test_an_unknown_field_with_terminal_escapes_is_echoed_printable(kind: str) -> None:
    # Found: '\x06òT\x86ù: unknown field ...' (a key of control characters reached the message raw).
    obj = {"apiVersion": "gitcanary.io/v1beta1", "kind": kind, "\x1b[2J\rfake": 1}
    assert_readable(VALIDATORS[kind](obj))


def test_a_huge_value_of_the_wrong_type_is_echoed_cut() -> None:
    # The module promises values echoed in messages are cut; a 100 kB threshold came back whole.
    assert_readable(validate_canary(canary(threshold="x" * 100_000)))


def test_a_huge_bound_of_the_wrong_type_is_echoed_cut() -> None:
    problems = validate_canary(canary(metrics=[{"name": "m", "thresholdRange": {"max": "y" * 50_000}}]))
    assert_readable(problems)
