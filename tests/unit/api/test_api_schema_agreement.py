"""The pydantic models and the CRD openAPIV3Schemas agree, property by property.

Walks each CRD schema and the matching model together and checks, at every object: the same
property names (model aliases), the same required set, compatible types, identical enums and
identical defaults. The only exceptions are listed in ROOT_EXCEPTIONS and explained there.
"""

import enum
import types
import typing
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from controller.api import AlertProvider, Canary, MetricTemplate, ObjectMeta

# Top-level fields whose model default is deliberately not the CRD's (the CRD has none):
# - apiVersion/kind default to ours, so models built in code serialise to a valid object;
# - metadata is defined by Kubernetes, not by our CRD (the CRD declares it as a bare object);
# - status defaults to an empty status, so a fresh Canary reads as "never analysed";
# - spec is required by the models: the API server accepts an object without one, but it means
#   nothing, and validate_* reports it ("spec: Required value").
ROOT_EXCEPTIONS = {"apiVersion", "kind", "metadata", "spec", "status"}
# CRD enums that include "" where the model reads "" as unset (None) instead of listing it.
EMPTY_MEANS_UNSET = {"status.phase"}


def _strip_none(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else typing.Union[tuple(args)]  # noqa: UP007
    return annotation


def _literal_values(annotation: Any) -> set[Any] | None:
    if typing.get_origin(annotation) is typing.Literal:
        return set(typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {member.value for member in annotation}
    return None


def _is_zero(value: Any) -> bool:
    return (
        value is None or (value in (False, 0, "") and not isinstance(value, BaseModel)) or value in ([], {})
    )


def _check_default(sub: dict[str, Any], field: FieldInfo, annotation: Any, path: str) -> list[str]:
    if field.is_required():
        return (
            [] if "default" not in sub else [f"{path}: CRD default {sub['default']!r} but model requires it"]
        )
    model_default = field.get_default(call_default_factory=True)
    if "default" not in sub:
        return [] if _is_zero(model_default) else [f"{path}: model default {model_default!r}, CRD has none"]
    expected = sub["default"]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        expected = annotation.model_validate(expected)
    if model_default != expected:
        return [f"{path}: model default {model_default!r} != CRD default {sub['default']!r}"]
    return []


def _check_type(sub: dict[str, Any], annotation: Any, path: str) -> list[str]:
    annotation = _strip_none(annotation)
    if sub.get("x-kubernetes-int-or-string"):
        ok = set(typing.get_args(annotation)) == {int, str}
        return [] if ok else [f"{path}: int-or-string in CRD, {annotation} in model"]
    crd_type = sub.get("type")
    origin = typing.get_origin(annotation)
    if crd_type == "object":
        if "properties" in sub:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return [f"{path}: object with properties in CRD, {annotation} in model"]
            return walk(sub, annotation, path)
        if isinstance(sub.get("additionalProperties"), dict):
            if origin is not dict:
                return [f"{path}: map in CRD, {annotation} in model"]
            return _check_type(sub["additionalProperties"], typing.get_args(annotation)[1], f"{path}.*")
        return [f"{path}: opaque object in CRD, {annotation} in model"]
    if crd_type == "array":
        if origin is not list:
            return [f"{path}: array in CRD, {annotation} in model"]
        return _check_type(sub["items"], typing.get_args(annotation)[0], f"{path}[]")
    problems = _check_enum(sub, annotation, path)
    values = _literal_values(annotation)
    base = type(next(iter(values))) if values else annotation
    allowed = {"string": (str,), "boolean": (bool,), "integer": (int,), "number": (int, float)}[str(crd_type)]
    if base not in allowed:
        problems.append(f"{path}: {crd_type} in CRD, {annotation} in model")
    return problems


def _check_enum(sub: dict[str, Any], annotation: Any, path: str) -> list[str]:
    values = _literal_values(annotation)
    crd_enum = set(sub["enum"]) if "enum" in sub else None
    if crd_enum is not None and path in EMPTY_MEANS_UNSET:
        crd_enum.discard("")
    if values != crd_enum:
        return [f"{path}: enum {sorted(crd_enum or [])} in CRD, {sorted(values or [])} in model"]
    return []


def walk(schema: dict[str, Any], model: type[BaseModel], path: str = "") -> list[str]:
    """Every disagreement between an object schema and a model, recursively."""
    problems: list[str] = []
    properties: dict[str, Any] = schema.get("properties", {})
    fields = {(info.alias or name): info for name, info in model.model_fields.items()}
    for key in sorted(properties.keys() - fields.keys()):
        problems.append(f"{path}.{key}: in the CRD, missing from {model.__name__}")
    for key in sorted(fields.keys() - properties.keys()):
        problems.append(f"{path}.{key}: in {model.__name__}, missing from the CRD")
    required = set(schema.get("required", []))
    branches = [set(branch.get("required", [])) for branch in schema.get("oneOf", [])]
    if branches:  # a property every oneOf branch requires is required
        required |= set.intersection(*branches)
    for key in sorted(properties.keys() & fields.keys()):
        where = f"{path}.{key}" if path else key
        info = fields[key]
        if not path and key in ROOT_EXCEPTIONS:
            if key == "spec":
                problems += _check_type(properties[key], info.annotation, where)
            continue
        if (key in required) != info.is_required():
            problems.append(f"{where}: required in CRD={key in required}, in model={info.is_required()}")
        annotation = _strip_none(info.annotation)
        problems += _check_default(properties[key], info, annotation, where)
        problems += _check_type(properties[key], info.annotation, where)
    return problems


@pytest.mark.parametrize(
    ("kind", "model"),
    [("Canary", Canary), ("MetricTemplate", MetricTemplate), ("AlertProvider", AlertProvider)],
)
def test_models_and_crd_agree(
    kind: str, model: type[BaseModel], crd_schema: Callable[[str], dict[str, Any]]
) -> None:
    assert walk(crd_schema(kind), model) == []


@pytest.mark.parametrize("kind", ["Canary", "MetricTemplate", "AlertProvider"])
def test_root_exceptions_are_the_only_ones(kind: str, crd_schema: Callable[[str], dict[str, Any]]) -> None:
    schema = crd_schema(kind)
    assert set(schema["properties"]) >= ROOT_EXCEPTIONS - {"status"}
    assert schema["properties"]["metadata"] == {"type": "object"}
    assert issubclass(_strip_none(Canary.model_fields["metadata"].annotation), ObjectMeta)


class _Drifted(BaseModel):
    """A model that disagrees with a schema in every way the walk checks."""

    name: int
    extra_field: str | None = None
    mode: typing.Literal["a"] = "a"
    flag: bool = True


def test_walk_reports_every_kind_of_disagreement() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "mode": {"type": "string", "enum": ["a", "b"]},
            "flag": {"type": "boolean"},
            "missing": {"type": "string"},
        },
    }
    problems = walk(schema, _Drifted)
    assert ".missing: in the CRD, missing from _Drifted" in problems
    assert ".extraField: in _Drifted, missing from the CRD" not in problems  # no alias generator here
    assert ".extra_field: in _Drifted, missing from the CRD" in problems
    assert "name: required in CRD=False, in model=True" in problems
    assert "name: string in CRD, <class 'int'> in model" in problems
    assert "mode: enum ['a', 'b'] in CRD, ['a'] in model" in problems
    assert "flag: model default True, CRD has none" in problems
