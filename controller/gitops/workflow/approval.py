"""Promotion approval by pull request: names, texts, the decision and the annotation edit.

Pure: no I/O, no clock (``now`` is an argument). The flow (DESIGN.md section 4): at the
promotion gate the controller pushes :func:`branch_name` carrying the promotion edits plus
:data:`APPROVED_REVISION_ANNOTATION` on the Canary manifest (:func:`approval_annotation_patch`),
opens a PR titled :func:`pr_title` with :func:`pr_body`, and waits. Merging is the approval:
Flux applies the annotation and :func:`is_approved` turns true for that revision.

Invariants:
- :func:`approval_decision` is total over its inputs: merged wins over everything (a merge is
  an explicit human decision), closed-unmerged is a rejection, and an open PR times out only
  with ``on_timeout="rollback"``.
- :func:`approval_annotation_patch` changes only the annotation: it replaces the value scalar,
  or inserts one entry (or an ``annotations`` map) in the file's own newline style and
  indentation; every other byte, comments, CRLF, flow style and a missing final newline
  included, is kept. The result is re-parsed and checked before it is returned.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode

from controller.errors import PermanentError
from controller.gitops.edits.inserts import block_indent, insert_after_opening, insert_line_after, is_null
from controller.gitops.edits.splice import (
    child,
    child_key,
    compose_documents,
    line_start,
    newline_of,
    render_scalar,
    scalar_span,
    scalar_text,
    splice,
)

APPROVED_REVISION_ANNOTATION = "gitcanary.io/approved-revision"
BRANCH_PREFIX = "gitcanary/promote"
CANARY_API_GROUP = "gitcanary.io/"

PullRequestState = Literal["open", "merged", "closed"]
OnTimeout = Literal["rollback", "wait"]
ApprovalDecision = Literal["waiting", "approved", "rejected", "timed-out"]

_REF_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class ApprovalEditError(PermanentError):
    """The Canary manifest cannot be found or annotated with a minimal edit."""


@dataclass(frozen=True)
class MetricRow:
    """One metric of the analysis for the PR body; a bound of None is open."""

    name: str
    value: float | None
    min: float | None = None
    max: float | None = None

    @property
    def passed(self) -> bool | None:
        """None when there is no value."""
        if self.value is None or math.isnan(self.value):
            return None
        return (self.min is None or self.value >= self.min) and (self.max is None or self.value <= self.max)


def branch_name(namespace: str, canary: str, revision: str) -> str:
    """``gitcanary/promote/<ns>/<canary>/<revision>``; each part must be a safe ref component."""
    for label, part in (("namespace", namespace), ("canary", canary), ("revision", revision)):
        if not _REF_COMPONENT.fullmatch(part) or ".." in part or part.endswith((".", ".lock")):
            raise ValueError(f"{label} {part!r} cannot be used in a Git branch name")
    return f"{BRANCH_PREFIX}/{namespace}/{canary}/{revision}"


def pr_title(canary: str, image: str) -> str:
    """The PR title; ``canary`` is ``<namespace>/<name>``."""
    return f"gitcanary: promote {canary} to {image}"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|") or " "


def _number(value: float) -> str:
    return f"{value:.6g}"


def _threshold(row: MetricRow) -> str:
    if row.min is not None and row.max is not None:
        return f"{_number(row.min)} to {_number(row.max)}"
    if row.min is not None:
        return f">= {_number(row.min)}"
    if row.max is not None:
        return f"<= {_number(row.max)}"
    return "none"


def pr_body(
    canary: str, revision: str, image: str, analysis_summary: str, metrics: Sequence[MetricRow]
) -> str:
    """The PR description: what is promoted, the analysis, a metrics table and what to do."""
    lines = [
        f"gitcanary analysed **{_cell(canary)}** and the canary is ready for promotion.",
        "",
        "| | |",
        "|---|---|",
        f"| Canary | {_cell(canary)} |",
        f"| Image | {_cell(image)} |",
        f"| Revision | {_cell(revision)} |",
        "",
        f"**Analysis:** {' '.join(analysis_summary.split()) or 'no summary'}",
        "",
    ]
    if metrics:
        lines += ["| Metric | Value | Threshold | Result |", "|---|---|---|---|"]
        for row in metrics:
            value = "no data" if row.value is None else _number(row.value)
            result = {True: "pass", False: "fail", None: "no data"}[row.passed]
            lines.append(f"| {_cell(row.name)} | {value} | {_threshold(row)} | {result} |")
        lines.append("")
    lines += [
        "Merge this pull request to approve the promotion; close it without merging to reject it "
        "(the canary is then rolled back).",
        f"Merging sets the annotation `{APPROVED_REVISION_ANNOTATION}: {_cell(revision)}` on the Canary.",
        "",
        f"<!-- gitcanary:approval canary={_cell(canary)} revision={_cell(revision)} -->",
        "",
    ]
    return "\n".join(lines)


def approval_decision(
    pr_state: PullRequestState,
    opened_at: datetime,
    timeout_s: float,
    now: datetime,
    on_timeout: OnTimeout,
) -> ApprovalDecision:
    """What the PR means now. ``timeout_s`` must be positive (``math.inf`` never times out)."""
    if math.isnan(timeout_s) or timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
    if on_timeout not in ("rollback", "wait"):
        raise ValueError(f"on_timeout must be 'rollback' or 'wait', got {on_timeout!r}")
    if pr_state == "merged":
        return "approved"
    if pr_state == "closed":
        return "rejected"
    if pr_state != "open":
        raise ValueError(f"unknown pull request state {pr_state!r}")
    if on_timeout == "rollback" and (now - opened_at).total_seconds() >= timeout_s:
        return "timed-out"
    return "waiting"


def is_approved(canary_annotations: Mapping[str, str] | None, revision: str) -> bool:
    """True when the Canary carries the approval annotation for exactly ``revision``."""
    if not revision or canary_annotations is None:
        return False
    value = canary_annotations.get(APPROVED_REVISION_ANNOTATION)
    return isinstance(value, str) and value.strip() == revision


def _is_canary(doc: Node, name: str | None, namespace: str | None) -> bool:
    api_version = scalar_text(child(doc, "apiVersion")) or ""
    if scalar_text(child(doc, "kind")) != "Canary" or not api_version.startswith(CANARY_API_GROUP):
        return False
    metadata = child(doc, "metadata")
    if name is not None and scalar_text(child(metadata, "name")) != name:
        return False
    found_namespace = scalar_text(child(metadata, "namespace"))
    return namespace is None or found_namespace in (None, namespace)


def _entry(revision: str, in_flow: bool) -> str:
    return f"{APPROVED_REVISION_ANNOTATION}: {render_scalar(revision, None, in_flow)}"


def _insert_after_brace(text: str, node: MappingNode, entry: str, what: str) -> str:
    edited = insert_after_opening(text, node, entry)
    if edited is None:
        raise ApprovalEditError(f"cannot find the '{{' of {what}")
    return edited


def _block_indent(text: str, node: Node, what: str) -> str:
    indent = block_indent(text, node)
    if indent is None:
        raise ApprovalEditError(f"{what} must be a block mapping with one key per line")
    return indent


def _set_value(text: str, value: Node, revision: str, in_flow: bool) -> str:
    span = scalar_span(text, value, in_flow) if isinstance(value, ScalarNode) else None
    if span is None:
        raise ApprovalEditError(f"annotation {APPROVED_REVISION_ANNOTATION} must be a one-line string")
    if span.value == revision:
        return text
    return splice(text, [(span.start, span.end, render_scalar(revision, span.style, in_flow))])


def _fill_null(
    text: str, metadata: MappingNode, annotations: ScalarNode, revision: str, in_flow: bool
) -> str:
    replacement = "{" + _entry(revision, True) + "}"
    span = scalar_span(text, annotations, in_flow)
    if span is not None:
        return splice(text, [(span.start, span.end, replacement)])
    key = child_key(metadata, "annotations")
    colon = text.find(":", int(key.end_mark.index)) if key is not None else -1
    if key is None or colon < 0 or text[int(key.end_mark.index) : colon].strip(" \t"):
        raise ApprovalEditError("cannot find the ':' of metadata.annotations")
    return splice(text, [(colon + 1, colon + 1, " " + replacement)])


def _add_annotations_key(text: str, doc: Node, metadata: MappingNode, revision: str) -> str:
    if metadata.flow_style:
        entry = "annotations: {" + _entry(revision, True) + "}"
        return _insert_after_brace(text, metadata, entry, "metadata")
    if not metadata.value:
        raise ApprovalEditError("metadata is empty")
    indent = _block_indent(text, metadata.value[0][0], "metadata")
    metadata_key = child_key(doc, "metadata")
    parent_column = int(metadata_key.start_mark.column) if metadata_key is not None else 0
    step = " " * (len(indent) - parent_column if len(indent) > parent_column else 2)
    newline = newline_of(text)
    block = f"{indent}annotations:{newline}{indent}{step}{_entry(revision, False)}"
    spans = [
        scalar_span(text, node, False)
        for node in (child(metadata, "name"), child(metadata, "namespace"))
        if isinstance(node, ScalarNode)
    ]
    anchors = [span.end for span in spans if span is not None]
    if anchors:
        return insert_line_after(text, max(anchors), block)
    at = line_start(text, int(metadata.value[0][0].start_mark.index))
    return splice(text, [(at, at, block + newline)])


def _annotate(text: str, doc: Node, revision: str) -> str:
    metadata = child(doc, "metadata")
    if not isinstance(metadata, MappingNode):
        raise ApprovalEditError("the Canary has no metadata mapping")
    annotations = child(metadata, "annotations")
    if annotations is None:
        return _add_annotations_key(text, doc, metadata, revision)
    in_flow = bool(getattr(doc, "flow_style", False) or metadata.flow_style)
    if is_null(annotations):
        return _fill_null(text, metadata, annotations, revision, in_flow)
    if not isinstance(annotations, MappingNode):
        raise ApprovalEditError("metadata.annotations is not a mapping")
    in_flow = in_flow or bool(annotations.flow_style)
    existing = child(annotations, APPROVED_REVISION_ANNOTATION)
    if existing is not None:
        return _set_value(text, existing, revision, in_flow)
    if in_flow:
        return _insert_after_brace(text, annotations, _entry(revision, True), "metadata.annotations")
    first_key = annotations.value[0][0]
    indent = _block_indent(text, first_key, "metadata.annotations")
    at = line_start(text, int(first_key.start_mark.index))
    return splice(text, [(at, at, f"{indent}{_entry(revision, False)}{newline_of(text)}")])


def _approved_revision(doc: Node) -> str | None:
    return scalar_text(child(child(child(doc, "metadata"), "annotations"), APPROVED_REVISION_ANNOTATION))


def approval_annotation_patch(
    text: str, revision: str, *, name: str | None = None, namespace: str | None = None
) -> str:
    """The manifest text with ``metadata.annotations["gitcanary.io/approved-revision"]`` set.

    ``text`` may hold several documents; exactly one must be a ``gitcanary.io`` Canary
    (matching ``name``/``namespace`` when given; a manifest without a namespace matches any).
    Returns ``text`` itself when the annotation already says ``revision``.
    """
    if not revision or revision != revision.strip() or any(ch in revision for ch in "\r\n"):
        raise ValueError("revision must be a non-empty one-line string without surrounding spaces")
    try:
        documents = compose_documents(text)
    except YAMLError as error:
        raise ApprovalEditError(f"the manifest is not valid YAML: {error}") from error
    matches = [index for index, doc in enumerate(documents) if _is_canary(doc, name, namespace)]
    if len(matches) != 1:
        found = "no" if not matches else str(len(matches))
        raise ApprovalEditError(f"{found} matching gitcanary.io Canary documents in the manifest")
    edited = _annotate(text, documents[matches[0]], revision)
    if edited == text:
        return text
    try:
        check = compose_documents(edited)
    except YAMLError as error:
        raise ApprovalEditError(f"the edit would break the manifest: {error}") from error
    if len(check) != len(documents) or _approved_revision(check[matches[0]]) != revision:
        raise ApprovalEditError("the edit did not yield the wanted annotation")
    return edited
