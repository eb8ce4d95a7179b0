"""Setter markers: find the YAML fields Flux and gitcanary may edit, and set images in them.

A marker is a line comment in Flux's setter grammar on a scalar field::

    image: ghcr.io/stefanprodan/podinfo:6.0.1 # {"$imagepolicy": "flux-system:podinfo"}
    newTag: 6.0.1  # {"$imagepolicy": "flux-system:podinfo:tag"}
    tag: 6.0.1     # {"$gitcanary": "test:podinfo:tag"}

The grammar is Flux's (kyaml ``fieldmeta``): strip every leading ``#`` of the comment and the
rest must be a JSON object whose values are all strings; JSON whitespace is free. The value
is ``<namespace>:<name>`` with an optional ``:tag``, ``:name`` or ``:digest`` suffix. One
comment may carry both keys. Markers work anywhere in a document: plain manifests,
multi-document files, ``kustomization.yaml`` ``images:`` entries, HelmRelease values.

Invariants:
- Files are those Flux's setters read: ``*.yaml``, ``*.yml`` and ``Kustomization``; symlinks are
  never followed (see :mod:`controller.gitops.edits.worktree_files`).
- Only files whose bytes contain ``$imagepolicy``/``$gitcanary`` and the requested ref (or the
  requested values) are parsed: a cheap filter on the bytes, so a marker spelled with JSON
  ``\\u`` escapes is not seen, and a broken file about another policy is never even parsed.
- A candidate that cannot be used (binary, not UTF-8, not YAML as libyaml and so Flux reads it,
  contradictory markers) is skipped and reported in ``skipped``; it never fails the others.
- YAML is read by libyaml (:mod:`controller.gitops.edits.scalar_scan`), as Flux's go-yaml reads it:
  a tab is whitespace between tokens, never indentation.
- Edits splice the scalar token in the original text (see :mod:`controller.gitops.edits.splice`):
  every other byte of the file is unchanged, and a file is written only if it changed.
- Editing is idempotent: a marker whose value already equals the wanted one is not touched,
  so an empty result means "already applied".
- All candidates are planned before any file is written.
- Markers on block scalars, multi-line scalars, empty values and alias nodes are ignored,
  as are head comments (a marker on the line above a field).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from controller.errors import PermanentError
from controller.gitops.edits.scalar_scan import YAMLSyntaxError, lines_holding, scan_value_scalars
from controller.gitops.edits.splice import (
    ScalarSpan,
    decode_yaml,
    encode_yaml,
    render_scalar,
    splice,
    token_span,
    trailing_comment,
)
from controller.gitops.edits.worktree_files import SkippedFile, manifest_files, read_regular, rewrite_regular

MarkerKind = Literal["imagepolicy", "gitcanary"]
MarkerField = Literal["image", "tag", "name", "digest"]

MARKER_KINDS: tuple[MarkerKind, ...] = get_args(MarkerKind)
_SUFFIX_FIELDS: dict[str, MarkerField] = {"tag": "tag", "name": "name", "digest": "digest"}
_REF = re.compile(r"[^:\s]+:[^:\s]+")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")


class MarkerFileError(PermanentError):
    """A file holding a requested marker cannot be read, parsed or edited."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class ImageReferenceError(ValueError):
    """An image reference is malformed or lacks the part a marker needs."""


@dataclass(frozen=True)
class Marker:
    """One marked field. ``line``/``column`` are 1-based and point at the scalar token."""

    path: Path
    kind: MarkerKind
    ref: str
    field: MarkerField
    line: int
    column: int
    current_value: str
    doc_index: int
    node_path: tuple[str | int, ...] = ()

    @property
    def setter(self) -> str:
        """The marker value as written: ``ns:name`` plus the suffix, if any."""
        return self.ref if self.field == "image" else f"{self.ref}:{self.field}"


@dataclass(frozen=True)
class ImageReference:
    """An image reference split as Flux's setters split it."""

    image: str
    name: str
    tag: str | None
    digest: str | None

    def value_for(self, field: MarkerField) -> str:
        """The value a marker with ``field`` receives."""
        if field == "image":
            return self.image
        if field == "name":
            return self.name
        if field == "tag":
            if self.tag is None:
                raise ImageReferenceError(f"image {self.image!r} has no tag for a ':tag' marker")
            return self.tag
        # Flux writes the empty string when the image has no digest (kustomize then uses none).
        return self.digest or ""


@dataclass(frozen=True)
class _Located:
    marker: Marker
    span: ScalarSpan


def parse_image(image: str) -> ImageReference:
    """Split ``repo[:tag][@digest]``; a registry port (``host:5000/x``) is not a tag."""
    if not image or image != image.strip() or any(ch.isspace() for ch in image):
        raise ImageReferenceError(f"invalid image reference {image!r}")
    rest, _, digest = image.partition("@")
    if "@" in image and not _DIGEST.fullmatch(digest):
        raise ImageReferenceError(f"invalid digest in image reference {image!r}")
    colon = rest.rfind(":")
    tag: str | None = None
    name = rest
    if colon > rest.rfind("/"):
        name, tag = rest[:colon], rest[colon + 1 :]
        if not tag:
            raise ImageReferenceError(f"empty tag in image reference {image!r}")
    if not name or name.endswith("/") or name.startswith("/"):
        raise ImageReferenceError(f"invalid repository in image reference {image!r}")
    return ImageReference(image, name, tag, digest or None)


def parse_marker_comment(comment: str) -> list[tuple[MarkerKind, str, MarkerField]]:
    """The markers in one comment as ``(kind, ns:name, field)``; [] if it is no marker."""
    try:
        payload = json.loads(comment.lstrip("#"))
    except ValueError:
        return []
    if not isinstance(payload, dict) or not all(isinstance(v, str) for v in payload.values()):
        return []
    found: list[tuple[MarkerKind, str, MarkerField]] = []
    for kind in MARKER_KINDS:
        setter = payload.get(f"${kind}")
        if not setter:
            continue
        parts = setter.split(":")
        field: MarkerField = "image"
        if len(parts) == 3 and parts[2] in _SUFFIX_FIELDS:
            field = _SUFFIX_FIELDS[parts[2]]
        elif len(parts) != 2:
            continue
        ref = f"{parts[0]}:{parts[1]}"
        if _REF.fullmatch(ref):
            found.append((kind, ref, field))
    return found


def scan_text(text: str, path: Path) -> list[Marker]:
    """Every marker in ``text`` (raises :class:`MarkerFileError` if it is not valid YAML)."""
    return [located.marker for located in _locate(text, path)]


_NEEDLES = tuple(f"${kind}" for kind in MARKER_KINDS)


def _locate(text: str, path: Path) -> list[_Located]:
    lines = lines_holding(text, _NEEDLES)
    if not lines:
        return []
    try:
        scalars = scan_value_scalars(text, lines)
    except YAMLSyntaxError as error:
        raise MarkerFileError(path, f"not valid YAML: {error}") from error
    found: list[_Located] = []
    for scalar in scalars:
        span = token_span(
            text,
            scalar.style,
            scalar.start,
            scalar.end,
            scalar.value,
            (scalar.line, scalar.column),
            scalar.in_flow,
        )
        if span is None:
            continue
        comment = trailing_comment(text, span.end, span.in_flow)
        if comment is None or "$" not in comment:
            continue
        for kind, ref, field in parse_marker_comment(comment):
            marker = Marker(
                path=path,
                kind=kind,
                ref=ref,
                field=field,
                line=span.line + 1,
                column=span.column + 1,
                current_value=span.value,
                doc_index=scalar.doc_index,
                node_path=scalar.path,
            )
            found.append(_Located(marker, span))
    return found


def _check_ref(ref: str | None) -> None:
    if ref is not None and not _REF.fullmatch(ref):
        raise ValueError(f"marker ref must be '<namespace>:<name>', got {ref!r}")


@dataclass(frozen=True)
class _Query:
    """Which markers a scan wants; ``mentions``: the file must contain one of these strings."""

    kind: MarkerKind | None = None
    ref: str | None = None
    mentions: tuple[str, ...] = ()

    def wants(self, marker: Marker) -> bool:
        return (self.kind is None or marker.kind == self.kind) and (
            self.ref is None or marker.ref == self.ref
        )


def _candidates(root: Path, query: _Query, skipped: list[SkippedFile] | None) -> Iterable[tuple[Path, bytes]]:
    needles = [f"${k}".encode() for k in (MARKER_KINDS if query.kind is None else (query.kind,))]
    ref_needle = b"" if query.ref is None else query.ref.encode()
    mentions = [value.encode() for value in query.mentions if value]
    for path in manifest_files(root, skipped):
        data = read_regular(path)
        if (
            ref_needle in data
            and any(needle in data for needle in needles)
            and (not mentions or any(value in data for value in mentions))
        ):
            yield path, data


def _skip(skipped: list[SkippedFile] | None, path: Path, reason: str) -> None:
    if skipped is not None:
        skipped.append(SkippedFile(path, reason[:300]))


def _scan_file(
    path: Path, data: bytes, query: _Query, skipped: list[SkippedFile] | None
) -> tuple[str, list[_Located]] | None:
    """Decode and scan one candidate; None (and a report in ``skipped``) when it is unusable."""
    if b"\x00" in data:
        _skip(skipped, path, "binary file (NUL bytes), not scanned for markers")
        return None
    try:
        text = decode_yaml(data)
    except UnicodeDecodeError as error:
        _skip(
            skipped, path, f"not UTF-8 text ({error.reason} at byte {error.start}), not scanned for markers"
        )
        return None
    try:
        located = _locate(text, path)
    except MarkerFileError as error:
        _skip(skipped, path, f"{error.message}; skipped, as Flux skips it")
        return None
    return text, [item for item in located if query.wants(item.marker)]


def find_markers(
    root: Path,
    *,
    kind: MarkerKind | None = None,
    ref: str | None = None,
    mentions: Sequence[str] = (),
    skipped: list[SkippedFile] | None = None,
) -> list[Marker]:
    """Markers under ``root`` (a directory or one file), optionally filtered.

    ``mentions`` limits the scan to files containing one of those strings (checked on the bytes,
    before parsing). Files that cannot be scanned are reported in ``skipped``.
    """
    _check_ref(ref)
    query = _Query(kind, ref, tuple(mentions))
    markers: list[Marker] = []
    for path, data in _candidates(root, query, skipped):
        scanned = _scan_file(path, data, query, skipped)
        if scanned is not None:
            markers.extend(item.marker for item in scanned[1])
    return markers


def _edits(text: str, located: Sequence[_Located], image: ImageReference) -> list[tuple[int, int, str]]:
    by_span: dict[tuple[int, int], tuple[str, _Located]] = {}
    for item in located:
        value = image.value_for(item.marker.field)
        key = (item.span.start, item.span.end)
        previous = by_span.get(key)
        if previous is not None and previous[0] != value:
            raise MarkerFileError(
                item.marker.path,
                f"line {item.marker.line}: markers {previous[1].marker.setter!r} and "
                f"{item.marker.setter!r} want different values on one field",
            )
        by_span[key] = (value, item)
    edits: list[tuple[int, int, str]] = []
    for (start, end), (value, item) in by_span.items():
        if value == item.span.value:
            continue
        edits.append((start, end, render_scalar(value, item.span.style, item.span.in_flow)))
    return edits


def set_image(text: str, markers: Sequence[Marker], image: str) -> str:
    """Set ``image`` (or its name/tag/digest part) into the given markers of one file's text.

    ``markers`` must come from this text (e.g. :func:`find_markers` or :func:`scan_text`);
    a marker that is no longer there raises :class:`MarkerFileError`.
    """
    if not markers:
        return text
    reference = parse_image(image)
    path = markers[0].path
    located = _locate(text, path)
    index = {_identity(item.marker): item for item in located}
    chosen: list[_Located] = []
    for marker in markers:
        item = index.get(_identity(marker))
        if item is None:
            raise MarkerFileError(
                marker.path,
                f"marker {marker.setter!r} not found at line {marker.line}, column {marker.column}",
            )
        chosen.append(item)
    return splice(text, _edits(text, chosen, reference))


def _identity(marker: Marker) -> tuple[str, str, str, int, int, int]:
    return (marker.kind, marker.ref, marker.field, marker.doc_index, marker.line, marker.column)


def _set_markers(
    root: Path, kind: MarkerKind, ref: str, image: str, skipped: list[SkippedFile] | None
) -> list[Path]:
    _check_ref(ref)
    reference = parse_image(image)
    query = _Query(kind, ref)
    planned: list[tuple[Path, bytes, str]] = []
    for path, data in _candidates(root, query, skipped):
        scanned = _scan_file(path, data, query, skipped)
        if scanned is None or not scanned[1]:
            continue
        text, located = scanned
        try:
            new_text = splice(text, _edits(text, located, reference))
        except MarkerFileError as error:
            _skip(skipped, path, error.message)
            continue
        except ImageReferenceError as error:  # e.g. a ':tag' marker for a digest-only image
            _skip(skipped, path, str(error))
            continue
        if new_text != text:
            planned.append((path, data, new_text))
    changed: list[Path] = []
    for path, data, new_text in planned:
        new_data = encode_yaml(new_text)
        if new_data != data:
            rewrite_regular(path, new_data)
            changed.append(path)
    return changed


def revert_image_policy(
    root: Path, policy_ref: str, image: str, skipped: list[SkippedFile] | None = None
) -> list[Path]:
    """Set every ``$imagepolicy`` marker for ``policy_ref`` (``ns:name``) to ``image``; return the
    files changed ([]: Git already says so). Files that cannot be edited go to ``skipped``."""
    return _set_markers(root, "imagepolicy", policy_ref, image, skipped)


def pin_canary_image(
    root: Path, canary_ref: str, image: str, skipped: list[SkippedFile] | None = None
) -> list[Path]:
    """Set every ``$gitcanary`` marker for ``canary_ref`` (``ns:name``) to ``image``; as
    :func:`revert_image_policy`."""
    return _set_markers(root, "gitcanary", canary_ref, image, skipped)
