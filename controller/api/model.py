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

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["ApiModel", "LocalObjectRef", "ObjectMeta", "plain"]


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
    """Deep-convert mappings and sequences (e.g. kopf bodies) into dicts and lists."""
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, Sequence) and not isinstance(obj, str | bytes):
        return [plain(v) for v in obj]
    return obj
