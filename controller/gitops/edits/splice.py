"""Text-level YAML editing: locate nodes with ruamel.yaml, then splice the original text.

This module never re-dumps a document. ruamel.yaml's round-trip composer is used only to
find nodes and their character spans; every edit replaces an exact span of the original
text (or inserts at an exact offset), so every byte outside the edit is kept: comments,
blank lines, block scalars, flow style, anchors, key order, CRLF line endings, a BOM and a
missing final newline.

Invariants:
- Offsets are indices into the decoded ``str`` (a UTF-8 BOM is kept as U+FEFF at index 0,
  which is also how ruamel.yaml counts it), and ``\\r\\n`` counts as two characters.
- :func:`render_scalar` keeps the original quoting style when the new value can be written
  in it and still load back as the same string under both YAML 1.1 (PyYAML, Kubernetes
  tooling) and YAML 1.2 (ruamel.yaml); otherwise it falls back to double quotes.
- :func:`splice` refuses overlapping edits instead of guessing an order.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver

_STR_TAG = "tag:yaml.org,2002:str"
_PLAIN_FORBIDDEN_START = set("-?:,[]{}#&*!|>'\"%@` \t")
_FLOW_INDICATORS = set(",[]{}")
_PROPERTY = re.compile(r"[&!][^\s]*[ \t]+")


@dataclass(frozen=True)
class ScalarSpan:
    """The exact location of a single-line scalar token in the text.

    ``start``/``end`` delimit the token itself (quotes included, anchor and tag excluded).
    ``style`` is ``None`` (plain), ``"'"`` or ``'"'``. ``line`` and ``column`` are 0-based.
    """

    start: int
    end: int
    style: str | None
    value: str
    line: int
    column: int
    in_flow: bool


def decode_yaml(data: bytes) -> str:
    """Decode file bytes as UTF-8, keeping a BOM as U+FEFF so it survives re-encoding."""
    return data.decode("utf-8")


def encode_yaml(text: str) -> bytes:
    """Inverse of :func:`decode_yaml`."""
    return text.encode("utf-8")


def newline_of(text: str) -> str:
    """The newline style of the text: the first line ending found, ``\\n`` by default."""
    index = text.find("\n")
    if index > 0 and text[index - 1] == "\r":
        return "\r\n"
    return "\n"


def compose_documents(text: str) -> list[Node]:
    """Compose every document of the stream (raises ruamel.yaml errors on bad YAML)."""
    loader = YAML(typ="rt")
    return [doc for doc in loader.compose_all(text) if doc is not None]


def child(node: Node | None, key: str) -> Node | None:
    """The value for ``key`` in a mapping node, or None (also when ``node`` is no mapping)."""
    if not isinstance(node, MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return value_node  # type: ignore[no-any-return]
    return None


def child_key(node: Node | None, key: str) -> Node | None:
    """The key node for ``key`` in a mapping node, or None."""
    if not isinstance(node, MappingNode):
        return None
    for key_node, _ in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return key_node
    return None


def scalar_text(node: Node | None) -> str | None:
    """The string value of a scalar node, or None for anything else."""
    if isinstance(node, ScalarNode):
        return str(node.value)
    return None


def walk_scalars(root: Node) -> Iterator[tuple[ScalarNode, bool, tuple[str | int, ...]]]:
    """Yield every value scalar once: ``(node, in_flow, path)``.

    Mapping keys are not yielded. A node reached again through an alias is skipped, so each
    scalar is reported at its definition only (and recursive aliases terminate).
    """
    seen: set[int] = set()
    stack: list[tuple[Node, bool, tuple[str | int, ...]]] = [(root, False, ())]
    out: list[tuple[ScalarNode, bool, tuple[str | int, ...]]] = []
    while stack:
        node, in_flow, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ScalarNode):
            out.append((node, in_flow, path))
        elif isinstance(node, MappingNode):
            flow = in_flow or bool(node.flow_style)
            for key_node, value_node in reversed(node.value):
                key = str(key_node.value) if isinstance(key_node, ScalarNode) else "?"
                stack.append((value_node, flow, (*path, key)))
        elif isinstance(node, SequenceNode):
            flow = in_flow or bool(node.flow_style)
            for index in range(len(node.value) - 1, -1, -1):
                stack.append((node.value[index], flow, (*path, index)))
    yield from out


def scalar_span(text: str, node: ScalarNode, in_flow: bool) -> ScalarSpan | None:
    """Locate a single-line plain or quoted scalar token; None for block/multi-line/empty."""
    mark = node.start_mark
    return token_span(
        text,
        node.style,
        int(mark.index),
        int(node.end_mark.index),
        str(node.value),
        (int(mark.line), int(mark.column)),
        in_flow,
    )


def token_span(
    text: str,
    style: str | None,
    start: int,
    end: int,
    value: str,
    position: tuple[int, int],
    in_flow: bool,
) -> ScalarSpan | None:
    """The :class:`ScalarSpan` of a parsed scalar from its parser marks: ``start``/``end`` are
    indices (``start`` may include an anchor or tag), ``position`` the 0-based line and column
    of ``start``. None for block, multi-line or empty scalars. Constant time in the text size."""
    if style not in (None, "'", '"'):
        return None
    token_start = start
    while True:
        match = _PROPERTY.match(text, token_start, end)
        if match is None:
            break
        token_start = match.end()
    if token_start >= end:
        return None
    token = text[token_start:end]
    if "\n" in token or "\r" in token:
        return None
    if style is None and token[0] in "'\"":
        return None
    line, column = position
    return ScalarSpan(token_start, end, style, value, line, column + token_start - start, in_flow)


def trailing_comment(text: str, end: int, in_flow: bool) -> str | None:
    """The comment that follows a scalar token on its line (from its ``#``), if any.

    In flow collections one ``,`` may sit between the scalar and the comment.
    """
    rest = text[end : _line_end(text, end)]
    index = 0
    while index < len(rest) and rest[index] in " \t":
        index += 1
    if in_flow and rest[index : index + 1] == ",":
        index += 1
        while index < len(rest) and rest[index] in " \t":
            index += 1
    if index == 0 or rest[index : index + 1] != "#" or rest[index - 1] not in " \t":
        return None
    return rest[index:]


def _line_end(text: str, index: int) -> int:
    """Index of the first line break at or after ``index`` (or the end of the text)."""
    newline = text.find("\n", index)
    end = len(text) if newline < 0 else newline
    carriage = text.find("\r", index, end)
    return end if carriage < 0 else carriage


def line_start(text: str, index: int) -> int:
    """Index of the first character of the line holding ``index``."""
    return text.rfind("\n", 0, index) + 1


def next_line_start(text: str, index: int) -> int | None:
    """Index just after the line break ending the line holding ``index``; None at EOF."""
    newline = text.find("\n", index)
    return None if newline < 0 else newline + 1


@functools.lru_cache(maxsize=4096)
def _resolves_to_str(value: str) -> bool:
    resolver_11: Any = pyyaml.resolver.Resolver()
    tag_11 = resolver_11.resolve(pyyaml.ScalarNode, value, (True, False))
    resolver_12: Any = VersionedResolver(version=(1, 2))
    tag_12 = resolver_12.resolve(ScalarNode, value, (True, False))
    return bool(tag_11 == _STR_TAG and str(tag_12) == _STR_TAG)


def plain_safe(value: str, in_flow: bool) -> bool:
    """True when ``value`` written as a plain scalar loads back as that same string."""
    if not value or value != value.strip() or value[0] in _PLAIN_FORBIDDEN_START:
        return False
    if any(not ch.isprintable() for ch in value):
        return False
    if ": " in value or " #" in value or value.endswith(":") or value.startswith("---"):
        return False
    if in_flow and (any(ch in _FLOW_INDICATORS for ch in value) or value.endswith(":")):
        return False
    return _resolves_to_str(value)


def double_quote(value: str) -> str:
    """A YAML double-quoted scalar for ``value`` (JSON-compatible escapes)."""
    out = ['"']
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif not ch.isprintable():
            code = ord(ch)
            out.append(
                f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
            )
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def render_scalar(value: str, style: str | None, in_flow: bool) -> str:
    """Render ``value`` as a scalar token, keeping ``style`` when it can hold the value."""
    if style is None and plain_safe(value, in_flow):
        return value
    if style == "'" and all(ch.isprintable() for ch in value):
        return "'" + value.replace("'", "''") + "'"
    return double_quote(value)


def splice(text: str, edits: Iterable[tuple[int, int, str]]) -> str:
    """Replace each ``(start, end)`` span with its text; spans must not overlap."""
    ordered = sorted(set(edits), key=lambda edit: (edit[0], edit[1]))
    for previous, current in itertools.pairwise(ordered):
        if current[0] < previous[1] or (current[0] == previous[0] and current[1] == previous[1]):
            raise ValueError(f"overlapping edits at offsets {previous[:2]} and {current[:2]}")
    pieces: list[str] = []
    cursor = 0
    for start, end, replacement in ordered:
        pieces.append(text[cursor:start])
        pieces.append(replacement)
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


def yaml_files(root: Path) -> Iterator[Path]:
    """Every ``*.yaml``/``*.yml`` file under ``root`` in a stable order, skipping ``.git``."""
    if root.is_file():
        yield root
        return
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(name for name in subdirs if name != ".git")
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")):
                yield Path(directory) / name
