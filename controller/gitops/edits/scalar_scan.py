"""Find the value scalars of a YAML stream with libyaml, the parser Flux's own YAML derives from.

Flux reads manifests with go-yaml v3, a port of libyaml; PyYAML's C parser is libyaml itself,
so both accept and refuse the same text. Notably a tab is whitespace between tokens
(``image:\\tapp:1``, ``app:1\\t# marker``) but never indentation. ruamel.yaml refuses every
one of those tabs, and composing a whole node graph in pure Python takes tens of seconds for
a few megabytes; this scanner reads parser events only (about 1 s for 5 MB) and keeps the
ones the caller asks for.

Invariants:
- Offsets are indices into the caller's ``str`` (libyaml counts characters and ``\\r\\n`` as
  two, as :mod:`controller.gitops.edits.splice` does; a leading BOM, which libyaml does not count,
  is added back).
- Mapping keys are never yielded, nor anything inside a complex key; an alias yields nothing
  (its anchor's scalar is yielded once, where it is defined).
- ``lines`` restricts the result to scalars that end on those 0-based lines (line breaks as
  libyaml counts them: ``\\r\\n``, ``\\r``, ``\\n``, NEL, LS, PS); :func:`lines_holding` computes them.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


class YAMLSyntaxError(ValueError):
    """The text is not a YAML stream libyaml (and so Flux) can parse."""


@dataclass(frozen=True)
class EventScalar:
    """One value scalar as the parser saw it; ``start`` includes an anchor or tag, if any."""

    style: str | None
    value: str
    start: int
    end: int
    line: int
    column: int
    in_flow: bool
    doc_index: int
    path: tuple[str | int, ...]


@dataclass
class _Frame:
    kind: str  # "doc", "map" or "seq"
    flow: bool
    path: tuple[str | int, ...]
    in_key: bool
    key_expected: bool = True
    key: str | int = "?"
    index: int = 0


def lines_holding(text: str, needles: Iterable[str]) -> set[int]:
    """The 0-based line numbers (libyaml's line breaks) of every occurrence of each needle."""
    positions = sorted(match.start() for needle in needles for match in re.finditer(re.escape(needle), text))
    if not positions:
        return set()
    breaks = [match.start() for match in _BREAK.finditer(text)]
    return {bisect.bisect_left(breaks, position) for position in positions}


def _child(top: _Frame) -> tuple[tuple[str | int, ...], bool]:
    """The path of the next node under ``top`` and whether it is (inside) a mapping key."""
    if top.kind == "map":
        if top.key_expected:
            return top.path, True
        return (*top.path, top.key), top.in_key
    if top.kind == "seq":
        return (*top.path, top.index), top.in_key
    return top.path, top.in_key


def _done(top: _Frame, key: str | None) -> None:
    """A node under ``top`` is complete: flip key/value, or count a sequence item."""
    if top.kind == "map":
        if top.key_expected:
            top.key = "?" if key is None else key
        top.key_expected = not top.key_expected
    elif top.kind == "seq":
        top.index += 1


def scan_value_scalars(text: str, lines: Collection[int] | None = None) -> list[EventScalar]:
    """Every value scalar of every document (see the module invariants); raises
    :class:`YAMLSyntaxError` if libyaml refuses the text.

    The loop is the hot path (a 5 MB file is about a million events): events are dispatched on
    their exact type, and a scalar's path is built only when it is kept.
    """
    offset = 1 if text.startswith("\ufeff") else 0
    found: list[EventScalar] = []
    stack: list[_Frame] = []
    doc_index = -1
    parser = yaml.CSafeLoader(text[offset:])
    try:
        get_event = parser.get_event
        while True:
            event: Any = get_event()
            cls = type(event)
            if cls is ScalarEvent:
                top = stack[-1]
                key: str | int | None = None
                if top.kind == "map":
                    if top.key_expected:
                        top.key, top.key_expected = event.value, False
                        continue
                    top.key_expected = True
                    key = top.key
                elif top.kind == "seq":
                    key = top.index
                    top.index += 1
                end_mark = event.end_mark
                if top.in_key or (lines is not None and end_mark.line not in lines):
                    continue
                mark = event.start_mark
                found.append(
                    EventScalar(
                        style=event.style or None,
                        value=event.value,
                        start=mark.index + offset,
                        end=end_mark.index + offset,
                        line=mark.line,
                        column=mark.column + (offset if mark.line == 0 else 0),
                        in_flow=top.flow,
                        doc_index=doc_index,
                        path=top.path if key is None else (*top.path, key),
                    )
                )
            elif cls is MappingEndEvent or cls is SequenceEndEvent:
                stack.pop()
                _done(stack[-1], None)
            elif cls is MappingStartEvent or cls is SequenceStartEvent:
                top = stack[-1]
                path, in_key = _child(top)
                kind = "map" if cls is MappingStartEvent else "seq"
                stack.append(_Frame(kind, top.flow or bool(event.flow_style), path, in_key))
            elif cls is AliasEvent:
                _done(stack[-1], None)
            elif cls is DocumentStartEvent:
                doc_index += 1
                stack = [_Frame("doc", False, (), False)]
            elif cls is StreamEndEvent:
                break
    except yaml.YAMLError as error:
        raise YAMLSyntaxError(" ".join(str(error).split())) from error
    finally:
        parser.dispose()
    return found
