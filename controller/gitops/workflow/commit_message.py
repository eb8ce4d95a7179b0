"""``spec.gitops.commit.messageTemplate``: the user's text for write-back commits.

The template is Go ``text/template`` syntax (the subset of :mod:`controller.api.gotemplate.syntax`),
with the field names of Flux image automation's commit templates where they make sense. It is
rendered once per commit; the first line of the result is the subject, the rest the body. The
``Gitcanary-*`` trailers are never part of the template: :func:`~controller.gitops.workflow.trailers.build_message`
always appends them after the rendered text, and neutralises body lines shaped like them, so a
template cannot remove or forge the record that makes write-back exactly-once.

The data (``.`` in the template), see :class:`MessageData`::

    .AutomationObject        the Canary (prints namespace/name); .Name, .Namespace  (also .Canary)
    .Result                  promoted, rolled-back, inconclusive or proposed
    .Kind                    promotion, rollback or promoteTo
    .Image / .PreviousImage  the image written, the image Git held before
    .Revision                the Flux source revision that introduced the change (main@sha1:...)
    .Analysis                the one-line analysis summary
    .Path                    where the markers were looked up
    .Intent                  the intent id
    .Changed.FileChanges     file -> [Change]; .Changed.Changes: every Change; .Changed.Files
    Change: .OldValue .NewValue .Setter   (a marker this commit set: the value before and after,
                                           and the marker's ref, e.g. flux-system:podinfo:tag)
    .Decisions               every decision in the commit (a batch holds several Canaries), each
                             with the fields above; the top-level fields are the first one's

Every value is one line with credentials redacted (:func:`~controller.gitops.workflow.trailers.sanitize_value`);
control characters the template's own text holds are dropped.

Failure: a template that does not parse or fails on the data never blocks a write-back. The
default message is used and :attr:`CommitMessage.error` says why; the worker turns that into the
``CommitMessage`` condition (False, reason ``TemplateError``) and a Warning Event.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.api.gotemplate.evaluate import TemplateRenderError, render
from controller.api.gotemplate.syntax import Template, TemplateSyntaxError, parse
from controller.api.gotemplate.values import Struct
from controller.gitops.edits.markers import MarkerFileError, MarkerKind, find_markers, parse_image
from controller.gitops.workflow.intents import Intent
from controller.gitops.workflow.trailers import sanitize_value

__all__ = [
    "CONDITION",
    "Change",
    "Changed",
    "CommitMessage",
    "Decision",
    "MessageData",
    "NamespacedName",
    "message_data",
    "render_text",
    "with_condition",
]

CONDITION = "CommitMessage"
TEMPLATE_ERROR = "TemplateError"
RECORD_PREFIX = ".gitcanary/"
Apply = Callable[[Path, Intent], list[Path]]
Subject = Callable[[Sequence[Intent]], str]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u0085\u2028\u2029]")
_MARKER_KIND: dict[str, MarkerKind] = {
    "rollback": "imagepolicy",
    "promotion": "gitcanary",
    "promoteTo": "gitcanary",
}


@dataclass(frozen=True)
class NamespacedName(Struct):
    Namespace: str
    Name: str

    def template_fields(self) -> Mapping[str, Any]:
        return {"Namespace": self.Namespace, "Name": self.Name}

    def __str__(self) -> str:
        return f"{self.Namespace}/{self.Name}"


@dataclass(frozen=True)
class Change(Struct):
    OldValue: str
    NewValue: str
    Setter: str

    def template_fields(self) -> Mapping[str, Any]:
        return {"OldValue": self.OldValue, "NewValue": self.NewValue, "Setter": self.Setter}


@dataclass(frozen=True)
class Changed(Struct):
    FileChanges: dict[str, list[Change]] = field(default_factory=dict)

    def template_fields(self) -> Mapping[str, Any]:
        changes = [c for name in sorted(self.FileChanges) for c in self.FileChanges[name]]
        return {"FileChanges": self.FileChanges, "Changes": changes, "Files": sorted(self.FileChanges)}


@dataclass(frozen=True)
class Decision(Struct):
    AutomationObject: NamespacedName
    Kind: str
    Result: str
    Image: str
    PreviousImage: str
    Revision: str
    Analysis: str
    Path: str
    Intent: str
    Changed: Changed

    def template_fields(self) -> Mapping[str, Any]:
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return {**fields, "Canary": self.AutomationObject}


@dataclass(frozen=True)
class MessageData(Struct):
    """``.``: the first decision's fields, plus ``.Decisions`` and the commit's ``.Changed``."""

    Decisions: list[Decision]
    Changed: Changed

    def template_fields(self) -> Mapping[str, Any]:
        first = dict(self.Decisions[0].template_fields())
        return {**first, "Changed": self.Changed, "Decisions": self.Decisions}


def _one_line(value: str) -> str:
    return sanitize_value(value)


def message_data(intents: Sequence[Intent], changes: Mapping[str, Mapping[str, list[Change]]]) -> MessageData:
    """The template's data for a commit of ``intents``; ``changes``: intent id -> file -> changes."""
    if not intents:
        raise ValueError("a commit message needs at least one intent")
    decisions: list[Decision] = []
    merged: dict[str, list[Change]] = {}
    for intent in intents:
        namespace, _, name = intent.canary.partition("/")
        files = {_one_line(f): list(c) for f, c in (changes.get(intent.id) or {}).items()}
        for name_, listed in files.items():
            merged.setdefault(name_, []).extend(c for c in listed if c not in merged.get(name_, []))
        decisions.append(
            Decision(
                AutomationObject=NamespacedName(_one_line(namespace), _one_line(name)),
                Kind=intent.kind,
                Result=_one_line(intent.result),
                Image=_one_line(intent.image),
                PreviousImage=_one_line(intent.previous_image),
                Revision=_one_line(intent.source_revision),
                Analysis=_one_line(intent.analysis),
                Path=_one_line(intent.path),
                Intent=_one_line(intent.id),
                Changed=Changed(files),
            )
        )
    return MessageData(decisions, Changed(merged))


def render_text(template: Template, data: MessageData) -> str:
    """The rendered commit text (subject line, then body); raises TemplateRenderError."""
    text = _CONTROL.sub("", render(template, data).replace("\r\n", "\n"))
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise TemplateRenderError("the template rendered an empty message")
    body = "\n".join(lines[1:]).strip("\n")
    return lines[0].strip() + ("\n" + body if body else "")


def marker_changes(worktree: Path, intent: Intent, paths: Sequence[Path]) -> dict[str, list[Change]]:
    """Repository-relative file -> the markers of ``intent``'s kind that now hold its image
    and held another value for the previous image (what this intent set)."""
    root = worktree.resolve()
    out: dict[str, list[Change]] = {}
    try:
        new, old = (
            parse_image(intent.image),
            parse_image(intent.previous_image) if intent.previous_image else None,
        )
    except ValueError:
        new, old = None, None
    for reported in paths:
        full = (reported if reported.is_absolute() else root / reported).resolve()
        relative = full.relative_to(root).as_posix() if full.is_relative_to(root) else str(reported)
        listed = out.setdefault(relative, [])
        if new is None or relative.startswith(RECORD_PREFIX) or not full.is_file():
            continue
        try:
            markers = find_markers(full, kind=_MARKER_KIND[intent.kind])
        except (MarkerFileError, OSError, ValueError) as exc:
            listed.append(Change("", "", f"(markers unreadable: {type(exc).__name__})"))
            continue
        for marker in markers:
            try:
                now = new.value_for(marker.field)
                before = old.value_for(marker.field) if old is not None else ""
            except ValueError:
                continue
            setter = marker.ref if marker.field == "image" else f"{marker.ref}:{marker.field}"
            if marker.current_value == now and before != now:
                listed.append(Change(_one_line(before), _one_line(now), _one_line(setter)))
    return out


class CommitMessage:
    """The ``subject`` callable for :meth:`WriteBackRepo.apply_intents` (and proposals) that
    renders the template, falling back to ``default`` (and noting :attr:`error`) on failure.

    Wrap the ``apply`` callable with :meth:`collecting` so the data lists the changed files."""

    def __init__(self, template: str | None, default: Subject) -> None:
        self.source = template or None
        self.default = default
        self.error: str | None = None
        self.rendered = 0
        self.changes: dict[str, dict[str, list[Change]]] = {}
        self.template: Template | None = None
        self.parse_error: str | None = None
        if self.source is not None:
            try:
                self.template = parse(self.source)
            except TemplateSyntaxError as exc:
                self.parse_error = str(exc)

    @classmethod
    def for_gitops(cls, gitops: Mapping[str, Any], default: Subject) -> CommitMessage:
        template = (gitops.get("commit") or {}).get("messageTemplate")
        return cls(template if isinstance(template, str) else None, default)

    def collecting(self, apply: Apply) -> Apply:
        """``apply`` that also records, per intent, the files it changed and the markers set."""
        if self.source is None:
            return apply

        def wrapped(worktree: Path, intent: Intent) -> list[Path]:
            paths = apply(worktree, intent)
            self.changes[intent.id] = marker_changes(worktree, intent, paths)
            return paths

        return wrapped

    def __call__(self, intents: Sequence[Intent]) -> str:
        if self.source is None:
            return self.default(intents)
        try:
            if self.template is None:
                raise TemplateSyntaxError(self.parse_error or "the template does not parse")
            text = render_text(self.template, message_data(intents, self.changes))
        except (TemplateSyntaxError, TemplateRenderError) as exc:
            self.error = f"spec.gitops.commit.messageTemplate: {exc}; the default message was used"
            return self.default(intents)
        self.rendered += 1
        return text

    def condition(self, now: float) -> dict[str, str] | None:
        """The ``CommitMessage`` condition once a commit was built, or None (no template, unused)."""
        if self.source is None or (self.error is None and not self.rendered):
            return None
        ok = self.error is None
        return {
            "type": CONDITION,
            "status": "True" if ok else "False",
            "reason": "TemplateRendered" if ok else TEMPLATE_ERROR,
            "message": "the write-back commit message was rendered from the template"
            if ok
            else self.error or "",
            "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        }


def with_condition(
    conditions: Sequence[Mapping[str, Any]], condition: Mapping[str, str]
) -> list[dict[str, Any]]:
    """``conditions`` with ``condition`` set by type; its ``lastTransitionTime`` moves only when
    its status changes."""
    old = next((c for c in conditions if c.get("type") == condition["type"]), None)
    new = dict(condition)
    if old is not None and old.get("status") == new["status"]:
        new["lastTransitionTime"] = old.get("lastTransitionTime", new["lastTransitionTime"])
    return [*(dict(c) for c in conditions if c.get("type") != condition["type"]), new]
