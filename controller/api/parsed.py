"""The Canary parsed once per generation: the one typed view every module reads.

Invariants:
- ``parsed_canary(raw)`` is ``Canary.from_k8s`` of ``raw`` without its ``status``, kept per
  ``(uid, metadata.generation, labels and annotations)``: the spec moves the generation, the
  labels and annotations (which the model carries) do not, and the status is never part of the
  parsed object (read it from ``raw``). A status update therefore never re-parses.
- A Canary without a uid or an integer generation (never one the API server served: a test's
  dict, a manifest from a file) is parsed every time.
- The cache is a least-recently-used map of at most ``PARSED_CACHE_SIZE`` Canaries.
- An invalid spec raises pydantic's ``ValidationError`` every time it is asked for (failures
  are not kept); ``checked_canary`` gives the validation problems instead, kept the same way.
- Callers must not mutate the returned model: it is shared by every reader of that generation.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from controller.api.canary import Canary
from controller.api.validation import validate_canary

__all__ = ["PARSED_CACHE_SIZE", "checked_canary", "parsed_canary", "parsed_or_none"]

PARSED_CACHE_SIZE = 4096
"""Canaries whose parsed spec is kept (one entry per Canary and generation, least recent out)."""

_Key = tuple[str, int, str]


@dataclass
class _Entry:
    canary: Canary | None = None
    problems: tuple[str, ...] | None = None


_CACHE: OrderedDict[_Key, _Entry] = OrderedDict()


def _key(raw: Mapping[str, Any]) -> _Key | None:
    meta = raw.get("metadata") or {}
    uid, generation = meta.get("uid"), meta.get("generation")
    if not isinstance(uid, str) or not isinstance(generation, int) or isinstance(generation, bool):
        return None
    marks = json.dumps([meta.get("labels"), meta.get("annotations")], sort_keys=True, default=str)
    return uid, generation, marks


def _entry(key: _Key) -> _Entry:
    """The cache entry of ``key`` (created when missing), marked most recently used."""
    entry = _CACHE.get(key)
    if entry is None:
        entry = _CACHE[key] = _Entry()
        while len(_CACHE) > PARSED_CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return entry


def _parse(raw: Mapping[str, Any]) -> Canary:
    return Canary.from_k8s({k: v for k, v in raw.items() if k != "status"})


def parsed_canary(raw: Mapping[str, Any]) -> Canary:
    """The Canary ``raw`` parsed (status left out); raises pydantic.ValidationError."""
    key = _key(raw)
    if key is None:
        return _parse(raw)
    entry = _entry(key)
    if entry.canary is None:
        entry.canary = _parse(raw)
    return entry.canary


def parsed_or_none(raw: Mapping[str, Any]) -> Canary | None:
    """:func:`parsed_canary`, or None for a Canary the models reject: for the few readers that
    must still work on a broken Canary (the deletion finalizer, ``gitcanary`` commands, the
    Canary metrics), which then read the fields they need as written."""
    try:
        return parsed_canary(raw)
    except ValidationError:
        return None


def checked_canary(raw: Mapping[str, Any]) -> tuple[list[str], Canary | None]:
    """The spec's problems (``validate_canary``), or ``[]`` and the parsed Canary when there are
    none; kept like :func:`parsed_canary`, whose cache it shares."""
    key = _key(raw)
    if key is None:
        problems = validate_canary(raw)
        return problems, None if problems else _parse(raw)
    entry = _entry(key)
    if entry.problems is None:
        entry.problems = tuple(validate_canary(raw))
    if entry.problems:
        return list(entry.problems), None
    if entry.canary is None:
        entry.canary = _parse(raw)
    return [], entry.canary
