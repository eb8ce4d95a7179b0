"""The base of every API model, and the shared small types.

Invariants:
- Models mirror the CRD openAPIV3Schema one to one: a field's alias is the CRD property name
  (camelCase), and `tests/unit/api/test_api_schema_agreement.py` checks both directions.
- Validation is strict, as the API server's is: a string is never coerced into a number or a
  boolean, and a number is never coerced into a string.
- Unknown properties are ignored (the API server prunes them), except in `ObjectMeta`, which is
  defined by Kubernetes rather than by our CRDs and is kept open.
- A field the CRD leaves without a default is `None` when absent, or the Go zero value (False,
  0, empty list or map) where Flagger treats absence and the zero value alike.
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["ApiModel", "LocalObjectRef", "ObjectMeta", "plain"]

MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences a manifest may have (ours need about ten)."""
MAX_VALUES = 100_000
"""Most values a manifest may hold, counted through shared references (YAML aliases)."""


class ApiModel(BaseModel):
    """Base class: camelCase aliases, strict types, unknown properties ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        strict=True,
        extra="ignore",
    )

    def to_k8s(self) -> dict[str, Any]:
        """The object as Kubernetes JSON: aliases, no `None` values."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class ObjectMeta(ApiModel):
    """The part of Kubernetes `metadata` the controller reads; other keys are kept."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class LocalObjectRef(ApiModel):
    """A reference to an object in the same namespace, e.g. a Secret."""

    name: str


def plain(obj: Any) -> Any:
    """Deep-convert mappings and sequences (e.g. kopf bodies) into dicts and lists.

    Recursive: call :func:`shape_problem` first on input that may hold itself or nest without
    bound (YAML a user wrote; the API server's JSON cannot do either).
    """
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, Sequence) and not isinstance(obj, str | bytes):
        return [plain(v) for v in obj]
    return obj


def _children(value: Any) -> Iterator[tuple[Any, Any]] | None:
    if isinstance(value, Mapping):
        return iter(value.items())
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return enumerate(value)
    return None


def shape_problem(obj: Any) -> tuple[tuple[Any, ...], str] | None:
    """Why :func:`plain` cannot convert ``obj``: ``(path, reason)`` when it holds itself (a YAML
    alias to an enclosing node), nests deeper than ``MAX_DEPTH`` or holds more than
    ``MAX_VALUES`` values; None when it can. Iterative, and stops at the first problem."""
    root = _children(obj)
    if root is None:
        return None
    iterators = [root]
    enclosing = [id(obj)]
    path: list[Any] = []  # the keys leading to the innermost open collection
    values = 0
    while iterators:
        step = next(iterators[-1], None)
        if step is None:
            iterators.pop()
            enclosing.pop()
            if path:
                path.pop()
            continue
        key, value = step
        values += 1
        where = (*path, key)
        if values > MAX_VALUES:
            return where, f"holds more than {MAX_VALUES} values"
        inner = _children(value)
        if inner is None:
            continue
        if id(value) in enclosing:
            return where, "holds itself (an alias to an enclosing value)"
        if len(iterators) >= MAX_DEPTH:
            return where, f"nests deeper than {MAX_DEPTH} levels"
        iterators.append(inner)
        enclosing.append(id(value))
        path.append(key)
    return None
