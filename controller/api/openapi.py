"""A small validator for CRD openAPIV3Schemas, offline (no API server needed).

Two checks:
- `schema_problems(value, schema)`: does an object satisfy a schema, as the API server would
  judge it? Covers type, x-kubernetes-int-or-string, properties, required, additionalProperties,
  items, enum, pattern, minimum/maximum, min/maxLength, min/maxItems, oneOf/anyOf/allOf/not.
  Unknown fields are reported (kubectl's default strict field validation rejects them).
  `null` values count as absent, as the API server prunes them before validating.
- `structural_problems(schema)`: is a schema structural in the apiextensions.k8s.io/v1 sense?
  Every node has a type (unless int-or-string or preserve-unknown-fields), value validations
  (oneOf/anyOf/allOf/not) carry no type/description/default/additionalProperties/nullable and
  only mention properties that are declared beside them, properties and additionalProperties
  are not combined, and every default validates against its own schema.

Caveats: `format` and CEL `x-kubernetes-validations` are not evaluated; patterns use Python's
`re.search`, which agrees with Go's RE2 on the patterns in our CRDs. An object schema with
neither properties nor additionalProperties (e.g. `metadata`) is treated as opaque.
"""

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["schema_problems", "structural_problems"]

_VALUE_VALIDATIONS = ("oneOf", "anyOf", "allOf", "not")
_FORBIDDEN_IN_VALUE_VALIDATION = ("type", "description", "default", "additionalProperties", "nullable")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _type_ok(value: Any, expected: str) -> bool:
    actual = _type_name(value)
    if expected == "number":
        return actual in ("integer", "number")
    return actual == expected


def schema_problems(
    value: Any, schema: Mapping[str, Any], path: str = "", *, reject_unknown: bool = True
) -> list[str]:
    """Every way `value` breaks `schema`, as `path: problem` strings (empty when valid)."""
    problems: list[str] = []
    where = path or "<root>"
    if schema.get("x-kubernetes-int-or-string"):
        if _type_name(value) not in ("integer", "string"):
            return [f"{where}: must be an integer or a string, got {_type_name(value)}"]
    elif "type" in schema and not _type_ok(value, schema["type"]):
        return [f"{where}: must be of type {schema['type']}, got {_type_name(value)}"]
    problems += _scalar_problems(value, schema, where)
    if isinstance(value, dict):
        problems += _object_problems(value, schema, path, reject_unknown)
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            problems += schema_problems(
                item, schema["items"], f"{path}[{index}]", reject_unknown=reject_unknown
            )
    problems += _combinator_problems(value, schema, where, path)
    return problems


def _scalar_problems(value: Any, schema: Mapping[str, Any], where: str) -> list[str]:
    problems: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        problems.append(f"{where}: unsupported value {value!r}, must be one of {allowed}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{where}: {value!r} does not match pattern {schema['pattern']!r}")
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append(f"{where}: must be at least {schema['minLength']} characters long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{where}: must be at most {schema['maxLength']} characters long")
    if _type_name(value) in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{where}: must be greater than or equal to {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{where}: must be less than or equal to {schema['maximum']}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            problems.append(f"{where}: must have at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{where}: must have at most {schema['maxItems']} items")
    return problems


def _object_problems(
    value: dict[str, Any], schema: Mapping[str, Any], path: str, reject_unknown: bool
) -> list[str]:
    problems: list[str] = []
    properties: Mapping[str, Any] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    for name in schema.get("required", []):
        if value.get(name) is None:
            problems.append(f"{_join(path, name)}: Required value")
    for key, item in value.items():
        if item is None:
            continue
        if key in properties:
            problems += schema_problems(
                item, properties[key], _join(path, key), reject_unknown=reject_unknown
            )
        elif isinstance(additional, Mapping):
            problems += schema_problems(item, additional, _join(path, key), reject_unknown=reject_unknown)
        elif additional is False or (reject_unknown and properties):
            problems.append(f"{_join(path, key)}: unknown field")
    return problems


def _matches(value: Any, schema: Mapping[str, Any], path: str) -> bool:
    return not schema_problems(value, schema, path, reject_unknown=False)


def _combinator_problems(value: Any, schema: Mapping[str, Any], where: str, path: str) -> list[str]:
    problems: list[str] = []
    if "oneOf" in schema:
        passing = sum(_matches(value, branch, path) for branch in schema["oneOf"])
        if passing != 1:
            summary = _describe_branches(schema["oneOf"])
            count = "none" if passing == 0 else f"{passing}"
            problems.append(f"{where}: must match exactly one of {summary}; matches {count}")
    if "anyOf" in schema and not any(_matches(value, branch, path) for branch in schema["anyOf"]):
        problems.append(f"{where}: must match at least one of {_describe_branches(schema['anyOf'])}")
    for branch in schema.get("allOf", []):
        problems += schema_problems(value, branch, path, reject_unknown=False)
    if "not" in schema and _matches(value, schema["not"], path):
        problems.append(f"{where}: must not match {_describe_branches([schema['not']])}")
    return problems


def _describe_branches(branches: list[Mapping[str, Any]]) -> str:
    parts = []
    for branch in branches:
        if "required" in branch and len(branch) == 1:
            parts.append("{" + ", ".join(branch["required"]) + "}")
        else:
            parts.append("{" + ", ".join(sorted(branch)) + "}")
    return " | ".join(parts)


def structural_problems(schema: Mapping[str, Any], path: str = "") -> list[str]:
    """Every way `schema` falls short of a structural schema (empty when structural)."""
    problems: list[str] = []
    where = path or "<root>"
    opaque = schema.get("x-kubernetes-int-or-string") or schema.get("x-kubernetes-preserve-unknown-fields")
    if not schema.get("type") and not opaque:
        problems.append(f"{where}: missing type")
    if "properties" in schema and "additionalProperties" in schema:
        problems.append(f"{where}: properties and additionalProperties are mutually exclusive")
    if "items" in schema and not isinstance(schema["items"], Mapping):
        problems.append(f"{where}: items must be a single schema")
    for name, sub in (schema.get("properties") or {}).items():
        problems += structural_problems(sub, _join(path, f"properties[{name}]"))
    if isinstance(schema.get("additionalProperties"), Mapping):
        problems += structural_problems(schema["additionalProperties"], _join(path, "additionalProperties"))
    if isinstance(schema.get("items"), Mapping):
        problems += structural_problems(schema["items"], _join(path, "items"))
    for keyword in _VALUE_VALIDATIONS:
        branches = schema.get(keyword)
        if branches is None:
            continue
        for index, branch in enumerate(branches if isinstance(branches, list) else [branches]):
            problems += _value_validation_problems(branch, schema, f"{where}.{keyword}[{index}]")
    if "default" in schema:
        for problem in schema_problems(schema["default"], schema, reject_unknown=True):
            problems.append(f"{where}: default does not validate: {problem}")
    return problems


def _value_validation_problems(branch: Mapping[str, Any], outer: Mapping[str, Any], where: str) -> list[str]:
    problems = [
        f"{where}: {key} is not allowed here" for key in _FORBIDDEN_IN_VALUE_VALIDATION if key in branch
    ]
    declared: Mapping[str, Any] = outer.get("properties") or {}
    for name, sub in (branch.get("properties") or {}).items():
        if name not in declared:
            problems.append(f"{where}: property {name} is not declared outside the value validation")
        else:
            problems += _value_validation_problems(sub, declared[name], f"{where}.properties[{name}]")
    for keyword in _VALUE_VALIDATIONS:
        nested = branch.get(keyword)
        if nested is None:
            continue
        for index, sub in enumerate(nested if isinstance(nested, list) else [nested]):
            problems += _value_validation_problems(sub, outer, f"{where}.{keyword}[{index}]")
    return problems
