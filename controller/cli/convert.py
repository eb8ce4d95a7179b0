"""``gitcanary convert``: move Flagger manifests to gitcanary.io by editing only their text.

Invariants:
- ``convert`` edits text, never re-dumps YAML: each change replaces the exact span of one scalar
  (see :mod:`controller.gitops.edits.splice`), so comments, quoting, CRLF, a BOM, other documents and a
  missing final newline are kept byte for byte. It changes only the ``apiVersion`` of top-level (or
  ``kind: List`` item) Canary, MetricTemplate and AlertProvider documents, the ``group`` of kustomize
  and Flux Kustomization patch targets aimed at those kinds, and ``apiVersion:`` lines inside literal
  (``|``) inline patches once re-parsing proves only those lines changed. Anything else that still
  names Flagger is reported as a note, never edited. Converting converted text changes nothing.
- Only files whose text mentions ``flagger.app`` are parsed, so unrelated templated files (Helm,
  Jinja) are never judged.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click
import yaml as pyyaml
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from controller.api import API_VERSION, GROUP
from controller.gitops.edits.splice import (
    child,
    compose_documents,
    decode_yaml,
    render_scalar,
    scalar_span,
    scalar_text,
    splice,
    yaml_files,
)

FLAGGER_GROUP = "flagger.app"
FLAGGER_API_VERSION = f"{FLAGGER_GROUP}/v1beta1"
CONVERTED_KINDS = ("Canary", "MetricTemplate", "AlertProvider")
#: Flagger annotation/label prefixes, and the keys gitcanary honours under their Flagger name.
FLAGGER_KEY_PREFIXES = ("flagger.app/", "flagger.kubernetes.app/", "flagger.kubernetes.io/")
HONOURED_FLAGGER_KEYS = frozenset({"flagger.app/config-tracking"})
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml")

_INLINE_API_VERSION = re.compile(
    r"^([ \t]*apiVersion:[ \t]*)(['\"]?)flagger\.app/v1beta1\2([ \t]*(?:#[^\r\n]*)?)(?=\r?\n|\Z)",
    re.MULTILINE,
)
Edit = tuple[int, int, str]
Path_ = tuple[str | int, ...]


@dataclass
class Conversion:
    """The result of converting one file: the new text, what changed, what could not be."""

    path: Path
    original: str
    converted: str
    api_versions: int = 0
    patch_targets: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.converted != self.original


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _describe(doc: Node) -> str:
    meta = child(doc, "metadata")
    namespace = scalar_text(child(meta, "namespace")) or "-"
    return f"{scalar_text(child(doc, 'kind')) or '?'} {namespace}/{scalar_text(child(meta, 'name')) or '?'}"


def _resources(doc: Node) -> Iterator[Node]:
    """The document itself, or the items of a ``kind: List`` document."""
    items = child(doc, "items")
    if scalar_text(child(doc, "kind")) == "List" and isinstance(items, SequenceNode):
        yield from items.value
    else:
        yield doc


def _scalar_edit(text: str, node: Node | None, value: str, in_flow: bool) -> Edit | None:
    if not isinstance(node, ScalarNode):
        return None
    span = scalar_span(text, node, in_flow)
    if span is None:
        return None
    return span.start, span.end, render_scalar(value, span.style, in_flow)


def _flagger_keys(text: str, where: str, doc: Node) -> Iterator[str]:
    for section in ("annotations", "labels"):
        mapping = child(child(doc, "metadata"), section)
        if not isinstance(mapping, MappingNode):
            continue
        for key_node, _ in mapping.value:
            key = scalar_text(key_node) or ""
            if key.startswith(FLAGGER_KEY_PREFIXES) and key not in HONOURED_FLAGGER_KEYS:
                yield (
                    f"{where}:{_line(key_node)}: {_describe(doc)}: {section[:-1]} {key} is Flagger-only; "
                    "gitcanary ignores it"
                )


def _patch_lists(doc: Node, filename: str) -> Iterator[tuple[Path_, Node]]:
    api_version = scalar_text(child(doc, "apiVersion")) or ""
    if filename in KUSTOMIZATION_FILES or api_version.startswith("kustomize.config.k8s.io/"):
        base: Path_ = ()
        holder: Node | None = doc
    elif api_version.startswith("kustomize.toolkit.fluxcd.io/"):
        base, holder = ("spec",), child(doc, "spec")
    else:
        return
    for key in ("patches", "patchesJson6902"):
        patches = child(holder, key)
        if isinstance(patches, SequenceNode):
            for index, item in enumerate(patches.value):
                yield (*base, key, index), item


def _node_at(root: Node | None, path: Path_) -> Node | None:
    node = root
    for part in path:
        if isinstance(part, int):
            node = node.value[part] if isinstance(node, SequenceNode) and part < len(node.value) else None
        else:
            node = child(node, part)
    return node


def _inline_patch_edit(text: str, doc_index: int, path: Path_, node: ScalarNode) -> Edit | str:
    """An edit of ``apiVersion:`` lines in a literal inline patch, or the reason it was not made."""
    value = str(node.value)
    try:
        patched = [d for d in pyyaml.safe_load_all(value) if isinstance(d, dict)]
    except pyyaml.YAMLError:
        return "inline patch is not YAML; edit it by hand"
    flagger = [d for d in patched if d.get("apiVersion") == FLAGGER_API_VERSION]
    if not flagger or any(d.get("kind") not in CONVERTED_KINDS for d in flagger) or node.style != "|":
        return "inline patch mentions flagger.app; edit it by hand"
    start, end = int(node.start_mark.index), int(node.end_mark.index)
    edit = (start, end, _INLINE_API_VERSION.sub(rf"\g<1>\g<2>{API_VERSION}\g<2>\g<3>", text[start:end]))
    expected = _INLINE_API_VERSION.sub(rf"\g<1>\g<2>{API_VERSION}\g<2>\g<3>", value)
    after = _node_at(compose_documents(splice(text, [edit]))[doc_index], path)
    if not isinstance(after, ScalarNode) or after.value != expected or FLAGGER_GROUP + "/" in expected:
        return "inline patch mentions flagger.app; edit it by hand"
    return edit


def _convert_kustomize(
    text: str, where: str, doc_index: int, doc: Node, conversion: Conversion
) -> list[Edit]:
    edits: list[Edit] = []
    for path, item in _patch_lists(doc, conversion.path.name):
        target = child(item, "target")
        group = child(target, "group")
        kind = scalar_text(child(target, "kind"))
        if scalar_text(group) == FLAGGER_GROUP and (kind is None or kind in CONVERTED_KINDS):
            edit = _scalar_edit(text, group, GROUP, bool(getattr(target, "flow_style", False)))
            if edit is None:
                conversion.notes.append(f"{where}:{_line(item)}: patch target group: edit it by hand")
            else:
                edits.append(edit)
                conversion.patch_targets += 1
        patch = child(item, "patch")
        if isinstance(patch, ScalarNode) and FLAGGER_GROUP + "/" in str(patch.value):
            outcome = _inline_patch_edit(text, doc_index, (*path, "patch"), patch)
            if isinstance(outcome, str):
                conversion.notes.append(f"{where}:{_line(patch)}: {outcome}")
            else:
                edits.append(outcome)
                conversion.patch_targets += 1
    return edits


def convert_text(path: Path, text: str, where: str | None = None) -> Conversion:
    """Convert one file's text (raises ruamel.yaml errors when it is not YAML)."""
    where = where or str(path)
    conversion = Conversion(path, text, text)
    if FLAGGER_GROUP not in text:
        return conversion
    edits: list[Edit] = []
    for doc_index, doc in enumerate(compose_documents(text)):
        for resource in _resources(doc):
            api_node = child(resource, "apiVersion")
            api_version, kind = scalar_text(api_node) or "", scalar_text(child(resource, "kind"))
            if api_version == FLAGGER_API_VERSION and kind in CONVERTED_KINDS:
                edit = _scalar_edit(text, api_node, API_VERSION, bool(getattr(resource, "flow_style", False)))
                if edit is None:
                    conversion.notes.append(
                        f"{where}:{_line(resource)}: {_describe(resource)}: apiVersion: edit it by hand"
                    )
                else:
                    edits.append(edit)
                    conversion.api_versions += 1
            elif api_version.startswith(FLAGGER_GROUP + "/"):
                conversion.notes.append(
                    f"{where}:{_line(resource)}: {_describe(resource)}: {api_version} has no gitcanary equivalent"
                )
            conversion.notes.extend(_flagger_keys(text, where, resource))
        edits += _convert_kustomize(text, where, doc_index, doc, conversion)
    conversion.converted = splice(text, edits)
    return conversion


def unified_diff(conversion: Conversion, where: str) -> str:
    """A unified diff of the conversion (``\\ No newline at end of file`` where it applies)."""
    lines = difflib.unified_diff(
        conversion.original.splitlines(keepends=True),
        conversion.converted.splitlines(keepends=True),
        fromfile=where if Path(where).is_absolute() else f"a/{where}",
        tofile=where if Path(where).is_absolute() else f"b/{where}",
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def walk_yaml(paths: Sequence[Path]) -> Iterator[Path]:
    seen: set[Path] = set()
    for root in paths or (Path("."),):
        for path in yaml_files(root):
            if path.resolve() not in seen:
                seen.add(path.resolve())
                yield path


@click.command("convert")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--write", is_flag=True, help="Write the converted files (default: only print a diff).")
@click.option("--check", is_flag=True, help="Exit 1 when anything would change (for CI).")
def convert(paths: tuple[Path, ...], write: bool, check: bool) -> None:
    """Move Flagger manifests (flagger.app/v1beta1) to gitcanary.io/v1beta1, editing only that text."""
    changed: list[Conversion] = []
    notes: list[str] = []
    errors = 0
    for path in walk_yaml(paths):
        data = path.read_bytes()
        try:
            text = decode_yaml(data)
            conversion = convert_text(path, text)
        except (UnicodeDecodeError, YAMLError) as error:
            if FLAGGER_GROUP.encode() in data:
                click.echo(f"{path}: cannot convert, not valid YAML: {one_line(error)}", err=True)
                errors += 1
            continue
        notes += conversion.notes
        if conversion.changed:
            changed.append(conversion)
            click.echo(unified_diff(conversion, str(path)), nl=False)
            if write:
                path.write_bytes(conversion.converted.encode("utf-8"))
    for note in notes:
        click.echo(f"note: {note}", err=True)
    api_versions = sum(c.api_versions for c in changed)
    targets = sum(c.patch_targets for c in changed)
    verb = "converted" if write else "would convert"
    click.echo(
        f"{verb} {len(changed)} file(s): {api_versions} apiVersion(s), {targets} kustomize patch(es); "
        f"{len(notes)} note(s)",
        err=True,
    )
    sys.exit(2 if errors else 1 if check and changed else 0)


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
