"""Validation stays bounded and readable on input only a YAML file (or a fuzzer) can build.

Beyond the fuzz campaign's regressions (tests/unit/fuzz_regressions/test_fuzz_validation.py):
integers too long for ``repr``, aliases that multiply a small file into millions of values, and
control characters in keys the models know (label names), echoed in a pydantic error's path.
"""

from __future__ import annotations

from typing import Any

import pytest

from controller.api import validate_canary
from controller.api.model import MAX_DEPTH, MAX_VALUES, shape_problem


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


def assert_readable(problems: list[str]) -> None:
    assert problems
    for problem in problems:
        assert problem.strip() and len(problem) < 500, problem[:200]
        assert all(ch.isprintable() for ch in problem), repr(problem[:200])


@pytest.mark.parametrize(
    "analysis",
    [
        {"threshold": -(10**5000)},
        {"threshold": 10**5000},
        {"stepWeight": 10**5000},
        {"stepWeight": None, "stepWeights": [10**5000]},
        {"webhooks": [{"name": "w", "url": "http://hooks.test/", "retries": 10**5000}]},
    ],
)
def test_an_integer_too_long_to_print_is_a_problem_not_a_crash(analysis: dict[str, Any]) -> None:
    # str() of an int past 4300 digits raises ValueError; YAML reads such a literal as an int.
    problems = validate_canary(canary(**analysis))
    assert_readable(problems)
    assert any("integer of" in problem for problem in problems), problems


def test_aliases_that_multiply_into_millions_of_values_are_one_problem() -> None:
    # A billion-laughs file: each level is a list of ten aliases to the level below.
    level: Any = ["lol"] * 10
    for _ in range(6):
        level = [level] * 10
    obj = canary()
    obj["spec"]["extra"] = level
    problems = validate_canary(obj)
    assert_readable(problems)
    assert len(problems) == 1 and problems[0].startswith("spec.extra[0]")
    assert problems[0].endswith(f": holds more than {MAX_VALUES} values")


def test_a_control_character_in_a_label_name_is_escaped_in_the_path() -> None:
    obj = canary()
    obj["metadata"]["labels"] = {"\x1b[31mred": 5}
    problems = validate_canary(obj)
    assert_readable(problems)
    assert any(problem.startswith("metadata.labels.\\x1b[31mred: ") for problem in problems), problems


def test_shared_values_that_do_not_enclose_themselves_are_fine() -> None:
    shared = {"a": [1, 2]}
    assert shape_problem({"x": shared, "y": [shared, shared]}) is None


def test_the_depth_bound_is_exact() -> None:
    def nested(depth: int) -> Any:
        value: Any = "bottom"
        for _ in range(depth):
            value = [value]
        return value

    assert shape_problem(nested(MAX_DEPTH)) is None
    found = shape_problem(nested(MAX_DEPTH + 1))
    assert found is not None and found[1] == f"nests deeper than {MAX_DEPTH} levels"
