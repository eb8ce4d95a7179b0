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
- Only files whose bytes contain ``$imagepolicy``/``$gitcanary`` (and the requested ref,
  if any) are parsed: a cheap pre-filter, so a marker spelled with JSON ``\\u`` escapes is
  not seen.
- Edits splice the scalar token in the original text (see :mod:`controller.gitops.splice`):
  every other byte of the file is unchanged, and a file is written only if it changed.
- Editing is idempotent: a marker whose value already equals the wanted one is not touched,
  so an empty result means "already applied".
- A file that cannot be parsed raises :class:`MarkerFileError` only if the requested edit
  may concern it (its text mentions the requested ref); otherwise it is skipped. All files
  are checked before any file is written, so a failing operation writes nothing.
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

from ruamel.yaml.error import YAMLError

from controller.gitops.splice import (
    ScalarSpan,
    compose_documents,
    decode_yaml,
    render_scalar,
    scalar_span,
    splice,
    trailing_comment,
    walk_scalars,
    write_if_changed,
    yaml_files,
)

MarkerKind = Literal["imagepolicy", "gitcanary"]
MarkerField = Literal["image", "tag", "name", "digest"]

MARKER_KINDS: tuple[MarkerKind, ...] = get_args(MarkerKind)
_SUFFIX_FIELDS: dict[str, MarkerField] = {"tag": "tag", "name": "name", "digest": "digest"}
_REF = re.compile(r"[^:\s]+:[^:\s]+")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")


class MarkerFileError(Exception):
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
        if self.digest is None:
            raise ImageReferenceError(f"image {self.image!r} has no digest for a ':digest' marker")
        return self.digest


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


def _locate(text: str, path: Path) -> list[_Located]:
    try:
        documents = compose_documents(text)
    except YAMLError as error:
        raise MarkerFileError(path, f"invalid YAML: {_one_line(error)}") from error
    found: list[_Located] = []
    for doc_index, document in enumerate(documents):
        for node, in_flow, node_path in walk_scalars(document):
            span = scalar_span(text, node, in_flow)
            if span is None:
                continue
            comment = trailing_comment(text, span.end, in_flow)
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
                    doc_index=doc_index,
                    node_path=node_path,
                )
                found.append(_Located(marker, span))
    return found


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def _mentions(text: str, kind: MarkerKind | None, ref: str | None) -> bool:
    """Whether an unparseable file may hold a marker the caller asked for."""
    kinds = MARKER_KINDS if kind is None else (kind,)
    if not any(f"${k}" in text for k in kinds):
        return False
    return ref is None or f'"{ref}"' in text or f'"{ref}:' in text


def _check_ref(ref: str | None) -> None:
    if ref is not None and not _REF.fullmatch(ref):
        raise ValueError(f"marker ref must be '<namespace>:<name>', got {ref!r}")


def _candidates(root: Path, kind: MarkerKind | None, ref: str | None) -> Iterable[tuple[Path, bytes]]:
    needles = [f"${k}".encode() for k in (MARKER_KINDS if kind is None else (kind,))]
    ref_needle = b"" if ref is None else ref.encode()
    for path in yaml_files(root):
        data = path.read_bytes()
        if ref_needle in data and any(needle in data for needle in needles):
            yield path, data


def _scan_file(
    path: Path, data: bytes, kind: MarkerKind | None, ref: str | None
) -> tuple[str, list[_Located]] | None:
    """Decode and scan one candidate; None when it is broken but irrelevant to the query."""
    try:
        text = decode_yaml(data)
    except UnicodeDecodeError as error:
        if _mentions(data.decode("utf-8", "replace"), kind, ref):
            raise MarkerFileError(path, f"not UTF-8: {error}") from error
        return None
    try:
        located = _locate(text, path)
    except MarkerFileError:
        if _mentions(text, kind, ref):
            raise
        return None
    wanted = [
        item
        for item in located
        if (kind is None or item.marker.kind == kind) and (ref is None or item.marker.ref == ref)
    ]
    return text, wanted


def find_markers(root: Path, *, kind: MarkerKind | None = None, ref: str | None = None) -> list[Marker]:
    """Markers under ``root`` (a directory or one file), optionally filtered."""
    _check_ref(ref)
    markers: list[Marker] = []
    for path, data in _candidates(root, kind, ref):
        scanned = _scan_file(path, data, kind, ref)
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


def _set_markers(root: Path, kind: MarkerKind, ref: str, image: str) -> list[Path]:
    _check_ref(ref)
    reference = parse_image(image)
    planned: list[tuple[Path, bytes, str]] = []
    for path, data in _candidates(root, kind, ref):
        scanned = _scan_file(path, data, kind, ref)
        if scanned is None or not scanned[1]:
            continue
        text, located = scanned
        new_text = splice(text, _edits(text, located, reference))
        if new_text != text:
            planned.append((path, data, new_text))
    return [path for path, data, new_text in planned if write_if_changed(path, data, new_text)]


def revert_image_policy(root: Path, policy_ref: str, image: str) -> list[Path]:
    """Set every ``$imagepolicy`` marker for ``policy_ref`` (``ns:name``) to ``image``.

    Returns the files changed; an empty list means Git already says so.
    """
    return _set_markers(root, "imagepolicy", policy_ref, image)


def pin_canary_image(root: Path, canary_ref: str, image: str) -> list[Path]:
    """Set every ``$gitcanary`` marker for ``canary_ref`` (``ns:name``) to ``image``.

    Returns the files changed; an empty list means Git already says so.
    """
    return _set_markers(root, "gitcanary", canary_ref, image)
