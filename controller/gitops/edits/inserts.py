"""Insertions the manifest edits share, on top of :mod:`controller.gitops.edits.splice`.

Each one inserts text at an offset it works out from the composed node, in the file's own
newline style, and keeps every other byte; where the layout does not allow the insertion it
returns ``None`` and the caller raises its own error (which names the manifest and the field).
"""

from __future__ import annotations

from typing import TypeGuard

from ruamel.yaml.nodes import Node, ScalarNode, SequenceNode

from controller.gitops.edits.splice import line_start, newline_of, next_line_start, splice

__all__ = ["NULL_SCALARS", "block_indent", "insert_after_opening", "insert_line_after", "is_null"]

NULL_SCALARS = ("", "~", "null", "Null", "NULL")
"""The plain scalars YAML reads as null (an empty value included)."""


def is_null(node: Node | None) -> TypeGuard[ScalarNode]:
    """Whether ``node`` is a null scalar (``key:``, ``key: ~``, ``key: null``)."""
    return isinstance(node, ScalarNode) and node.value in NULL_SCALARS


def insert_after_opening(text: str, node: Node, entry: str) -> str | None:
    """``entry`` inserted just after the ``[`` or ``{`` of the flow collection ``node``, followed
    by ``, `` when the collection already holds items; ``None`` if the bracket is not found."""
    bracket = "[" if isinstance(node, SequenceNode) else "{"
    opening = text.find(bracket, node.start_mark.index, node.end_mark.index)
    if opening < 0:
        return None
    separator = ", " if node.value else ""
    return splice(text, [(opening + 1, opening + 1, entry + separator)])


def insert_line_after(text: str, offset: int, line: str) -> str:
    """``line`` inserted as a whole line after the line holding ``offset`` (appended after a
    newline at the end of a text without a final newline)."""
    at = next_line_start(text, offset)
    newline = newline_of(text)
    if at is None:
        return text + newline + line
    return splice(text, [(at, at, line + newline)])


def block_indent(text: str, node: Node) -> str | None:
    """The spaces before ``node`` on its line; ``None`` when anything else stands there."""
    start = int(node.start_mark.index)
    indent = text[line_start(text, start) : start]
    return None if indent.strip(" ") else indent
