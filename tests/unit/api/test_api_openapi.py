"""The offline openAPIV3Schema validator and structural-schema checker."""

from collections.abc import Callable
from typing import Any

import pytest

from controller.api.openapi import schema_problems, structural_problems

MATCH = {
    "type": "object",
    "oneOf": [{"required": ["exact"]}, {"required": ["prefix"]}],
    "properties": {"exact": {"type": "string"}, "prefix": {"type": "string"}},
}


@pytest.mark.parametrize(
    ("value", "schema", "expected"),
    [
        ("x", {"type": "integer"}, ["<root>: must be of type integer, got string"]),
        (True, {"type": "number"}, ["<root>: must be of type number, got boolean"]),
        (1.5, {"type": "integer"}, ["<root>: must be of type integer, got number"]),
        (3, {"type": "number"}, []),
        ("http", {"x-kubernetes-int-or-string": True}, []),
        ([1], {"x-kubernetes-int-or-string": True}, ["<root>: must be an integer or a string, got array"]),
        (
            "c",
            {"type": "string", "enum": ["a", "b"]},
            ["<root>: unsupported value 'c', must be one of 'a', 'b'"],
        ),
        (
            "1h",
            {"type": "string", "pattern": "^[0-9]+(m|s)"},
            ["<root>: '1h' does not match pattern '^[0-9]+(m|s)'"],
        ),
        (0, {"type": "integer", "minimum": 1}, ["<root>: must be greater than or equal to 1"]),
        ("", {"type": "string", "minLength": 1}, ["<root>: must be at least 1 characters long"]),
        (
            [1, 2],
            {"type": "array", "maxItems": 1, "items": {"type": "integer"}},
            ["<root>: must have at most 1 items"],
        ),
        (
            ["a"],
            {"type": "array", "items": {"type": "integer"}},
            ["[0]: must be of type integer, got string"],
        ),
        ({"exact": "a"}, MATCH, []),
        (
            {"exact": "a", "prefix": "b"},
            MATCH,
            ["<root>: must match exactly one of {exact} | {prefix}; matches 2"],
        ),
        ({}, MATCH, ["<root>: must match exactly one of {exact} | {prefix}; matches none"]),
        (
            {"a": None},
            {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}},
            ["a: Required value"],
        ),
        ({"b": 1}, {"type": "object", "properties": {"a": {"type": "string"}}}, ["b: unknown field"]),
        (
            {"k": 1},
            {"type": "object", "additionalProperties": {"type": "string"}},
            ["k: must be of type string, got integer"],
        ),
        ({"anything": {"goes": 1}}, {"type": "object"}, []),
    ],
)
def test_schema_problems(value: Any, schema: dict[str, Any], expected: list[str]) -> None:
    assert schema_problems(value, schema) == expected


def test_unknown_fields_can_be_allowed() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert schema_problems({"b": 1}, schema, reject_unknown=False) == []


def test_a_wrong_analysis_threshold_against_the_real_crd(
    crd_schema: Callable[[str], dict[str, Any]], canary_manifest: Callable[..., dict[str, Any]]
) -> None:
    problems = schema_problems(canary_manifest(analysis={"threshold": "five"}), crd_schema("Canary"))
    assert "spec.analysis.threshold: must be of type number, got string" in problems


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (
            {"type": "object", "properties": {"a": {"description": "no type"}}},
            ["properties[a]: missing type"],
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}, "oneOf": [{"type": "object"}]},
            ["<root>.oneOf[0]: type is not allowed here"],
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}, "anyOf": [{"properties": {"b": {}}}]},
            ["<root>.anyOf[0]: property b is not declared outside the value validation"],
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "additionalProperties": {"type": "string"},
            },
            ["<root>: properties and additionalProperties are mutually exclusive"],
        ),
        (
            {"type": "object", "properties": {"a": {"type": "integer", "default": "x"}}},
            ["properties[a]: default does not validate: <root>: must be of type integer, got string"],
        ),
        ({"type": "object", "properties": {"a": {"x-kubernetes-int-or-string": True}}}, []),
    ],
)
def test_structural_problems(schema: dict[str, Any], expected: list[str]) -> None:
    assert structural_problems(schema) == expected
