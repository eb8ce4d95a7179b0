"""Quarantine a failed tag in Git so Flux image automation cannot propose it again.

For an ImagePolicy with ``spec.policy.semver.range``, the range gets ``!= X.Y.Z`` in every
OR group (see :mod:`controller.gitops.edits.semver_range`). For any other policy (alphabetical,
numerical), the ImageRepository named by ``spec.imageRepositoryRef`` gets the anchored
regex ``^<re.escape(tag)>$`` in ``spec.exclusionList``; a missing list is created with the
CRD default ``^.*\\.sig$`` kept first, since an explicit list replaces that default.

Invariants:
- Edits are text splices (a replaced scalar, or inserted list items/lines in the file's own
  newline style and indentation); every other byte of the file is unchanged.
- Idempotent: a range that already excludes the version, or a list that already holds the
  regex, is left alone, and an empty result means "already quarantined".
- Objects are matched by ``metadata.name`` and ``metadata.namespace``; a manifest without a
  namespace matches any (it gets one from the Kustomization that applies it).
- Nothing is written unless every edit could be planned; otherwise :class:`QuarantineError`.
- Files are read as the marker scan reads them (:mod:`controller.gitops.edits.worktree_files`): no
  symlink is followed, and a candidate that is binary, not UTF-8 or not YAML is skipped and
  reported in ``skipped``. YAML that libyaml (so Flux) accepts but ruamel.yaml refuses because
  of tabs used as whitespace is composed with those tabs read as spaces (same offsets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from controller.errors import PermanentError
from controller.gitops.edits.inserts import block_indent, insert_after_opening, insert_line_after, is_null
from controller.gitops.edits.scalar_scan import scan_value_scalars
from controller.gitops.edits.semver_range import ConstraintError, exclude_version
from controller.gitops.edits.splice import (
    child,
    child_key,
    compose_documents,
    decode_yaml,
    encode_yaml,
    line_start,
    newline_of,
    next_line_start,
    render_scalar,
    scalar_span,
    scalar_text,
    splice,
)
from controller.gitops.edits.worktree_files import SkippedFile, manifest_files, read_regular, rewrite_regular

IMAGE_API_GROUP = "image.toolkit.fluxcd.io/"
DEFAULT_EXCLUSION = r"^.*\.sig$"
MAX_EXCLUSIONS = 25  # the ImageRepository CRD's maxItems for spec.exclusionList
_ITEM_PREFIX = re.compile(r"[ \t]*-[ \t]+")


class QuarantineError(PermanentError):
    """The tag cannot be quarantined in Git (manifest missing, or a layout we cannot edit)."""


@dataclass(frozen=True)
class _Manifest:
    path: Path
    doc_index: int


def tag_exclusion(tag: str) -> str:
    """The anchored exclusion regex for one tag."""
    return f"^{re.escape(tag)}$"


def _split_ref(ref: str) -> tuple[str, str]:
    namespace, sep, name = ref.partition(":")
    if not sep or not namespace or not name or ":" in name:
        raise ValueError(f"policy ref must be '<namespace>:<name>', got {ref!r}")
    return namespace, name


def _matches(doc: Node, kind: str, namespace: str, name: str) -> bool:
    api_version = scalar_text(child(doc, "apiVersion")) or ""
    metadata = child(doc, "metadata")
    found_namespace = scalar_text(child(metadata, "namespace"))
    return (
        scalar_text(child(doc, "kind")) == kind
        and api_version.startswith(IMAGE_API_GROUP)
        and scalar_text(child(metadata, "name")) == name
        and found_namespace in (None, namespace)
    )


def compose_tolerant(text: str) -> list[Node]:
    """Compose with ruamel.yaml; text it refuses only for tabs that libyaml (and so Flux) reads
    as whitespace is composed with every tab read as a space (one character each: offsets hold)."""
    try:
        return compose_documents(text)
    except YAMLError:
        if "\t" not in text:
            raise
        scan_value_scalars(text, lines=())  # raises YAMLSyntaxError where Flux refuses the text too
        return compose_documents(text.replace("\t", " "))


def _find(
    root: Path, kind: str, namespace: str, name: str, broken: list[str], skipped: list[SkippedFile] | None
) -> list[_Manifest]:
    found: list[_Manifest] = []
    needles = (kind.encode(), name.encode())
    for path in manifest_files(root, skipped):
        data = read_regular(path)
        if not all(needle in data for needle in needles):
            continue
        try:
            if b"\x00" in data:
                raise ValueError("binary file (NUL bytes)")
            documents = compose_tolerant(decode_yaml(data))
        except (YAMLError, ValueError) as error:
            reason = " ".join(str(error).split())[:200]
            broken.append(f"{path} ({reason[:120]})")
            if skipped is not None:
                skipped.append(
                    SkippedFile(path, f"not usable to quarantine {kind} {namespace}:{name}: {reason}")
                )
            continue
        found.extend(
            _Manifest(path, index)
            for index, doc in enumerate(documents)
            if _matches(doc, kind, namespace, name)
        )
    return found


class _Texts:
    """The planned content of each touched file, edited step by step before any write."""

    def __init__(self) -> None:
        self.original: dict[Path, bytes] = {}
        self.current: dict[Path, str] = {}

    def get(self, path: Path) -> str:
        if path not in self.current:
            self.original[path] = read_regular(path)
            self.current[path] = decode_yaml(self.original[path])
        return self.current[path]

    def document(self, manifest: _Manifest) -> tuple[str, Node]:
        text = self.get(manifest.path)
        return text, compose_tolerant(text)[manifest.doc_index]

    def write(self) -> list[Path]:
        changed: list[Path] = []
        for path, text in self.current.items():
            data = encode_yaml(text)
            if data != self.original[path]:
                rewrite_regular(path, data)
                changed.append(path)
        return changed


def _fail(manifest: _Manifest, message: str) -> QuarantineError:
    return QuarantineError(f"{manifest.path} (document {manifest.doc_index + 1}): {message}")


def _exclude_in_range(texts: _Texts, policy: _Manifest, range_node: Node, in_flow: bool, tag: str) -> None:
    """``in_flow``: the range sits inside a flow collection, where a plain scalar may not hold
    ``,`` (nor start with ``!`` or ``>``): the new range is then quoted as needed."""
    text, _ = texts.document(policy)
    span = scalar_span(text, range_node, in_flow) if isinstance(range_node, ScalarNode) else None
    if span is None:
        raise _fail(policy, "spec.policy.semver.range must be a single-line string to be edited")
    try:
        new_range = exclude_version(span.value, tag)
    except ConstraintError as error:
        raise _fail(policy, f"cannot exclude {tag!r} from range {span.value!r}: {error}") from error
    if new_range != span.value:
        rendered = render_scalar(new_range, span.style, in_flow)
        texts.current[policy.path] = splice(text, [(span.start, span.end, rendered)])


def _append_block_item(text: str, manifest: _Manifest, items: SequenceNode, regex: str) -> str:
    last = items.value[-1]
    span = scalar_span(text, last, False) if isinstance(last, ScalarNode) else None
    prefix = text[line_start(text, span.start) : span.start] if span else ""
    if span is None or not _ITEM_PREFIX.fullmatch(prefix):
        raise _fail(manifest, "spec.exclusionList items must be one-line strings, one per line")
    return insert_line_after(text, span.end, prefix + render_scalar(regex, span.style, False))


def _append_flow_item(text: str, manifest: _Manifest, items: SequenceNode, regex: str) -> str:
    if not items.value:
        edited = insert_after_opening(text, items, render_scalar(regex, "'", True))
        if edited is None:
            raise _fail(manifest, "cannot find '[' of spec.exclusionList")
        return edited
    last = items.value[-1]
    span = scalar_span(text, last, True) if isinstance(last, ScalarNode) else None
    if span is None:
        raise _fail(manifest, "spec.exclusionList items must be one-line strings")
    return splice(text, [(span.end, span.end, ", " + render_scalar(regex, span.style, True))])


def _new_list(regex: str, flow: bool) -> list[str]:
    items = [DEFAULT_EXCLUSION] if regex == DEFAULT_EXCLUSION else [DEFAULT_EXCLUSION, regex]
    return [render_scalar(item, "'", flow) for item in items]


def _insert_list_key(text: str, manifest: _Manifest, doc: Node, spec: MappingNode, regex: str) -> str:
    if spec.flow_style:
        edited = insert_after_opening(text, spec, f"exclusionList: [{', '.join(_new_list(regex, True))}]")
        if edited is None:
            raise _fail(manifest, "cannot find '{' of spec")
        return edited
    spec_key = child_key(doc, "spec")
    first_key = spec.value[0][0] if spec.value else None
    at = next_line_start(text, spec_key.end_mark.index) if spec_key is not None else None
    if first_key is None or at is None or at > first_key.start_mark.index:
        raise _fail(manifest, "spec must be a block mapping to add exclusionList")
    indent = block_indent(text, first_key)
    if indent is None:
        raise _fail(manifest, "cannot work out the indentation of spec")
    newline = newline_of(text)
    lines = [f"{indent}exclusionList:"] + [f"{indent}  - {item}" for item in _new_list(regex, False)]
    return splice(text, [(at, at, newline.join(lines) + newline)])


def _exclude_in_repository(texts: _Texts, repository: _Manifest, regex: str) -> None:
    text, doc = texts.document(repository)
    spec = child(doc, "spec")
    if not isinstance(spec, MappingNode):
        raise _fail(repository, "ImageRepository has no spec mapping")
    items = child(spec, "exclusionList")
    if items is None:
        texts.current[repository.path] = _insert_list_key(text, repository, doc, spec, regex)
        return
    if is_null(items):
        span = scalar_span(text, items, bool(spec.flow_style))
        if span is None:
            raise _fail(repository, "spec.exclusionList is empty; write [] or a list to edit it")
        rendered = f"[{', '.join(_new_list(regex, True))}]"
        texts.current[repository.path] = splice(text, [(span.start, span.end, rendered)])
        return
    if not isinstance(items, SequenceNode):
        raise _fail(repository, "spec.exclusionList is not a list")
    if regex in (scalar_text(item) for item in items.value):
        return
    if len(items.value) >= MAX_EXCLUSIONS:
        raise _fail(repository, f"spec.exclusionList already has the maximum of {MAX_EXCLUSIONS} entries")
    if items.flow_style or spec.flow_style:
        texts.current[repository.path] = _append_flow_item(text, repository, items, regex)
    else:
        texts.current[repository.path] = _append_block_item(text, repository, items, regex)


def _describe_broken(broken: list[str]) -> str:
    return f"; unparseable candidates: {', '.join(broken)}" if broken else ""


def quarantine_tag(
    root: Path, policy_ref: str, tag: str, skipped: list[SkippedFile] | None = None
) -> list[Path]:
    """Exclude ``tag`` from the ImagePolicy ``policy_ref`` (``ns:name``) in the manifests.

    Returns the files changed; an empty list means the tag was already quarantined. Candidate
    files that cannot be read as YAML are reported in ``skipped``.
    """
    namespace, name = _split_ref(policy_ref)
    if not tag or any(ch.isspace() for ch in tag):
        raise ValueError(f"invalid tag {tag!r}")
    broken: list[str] = []
    policies = _find(root, "ImagePolicy", namespace, name, broken, skipped)
    if not policies:
        raise QuarantineError(f"ImagePolicy {policy_ref} not found under {root}{_describe_broken(broken)}")
    texts = _Texts()
    for policy in policies:
        _, doc = texts.document(policy)
        spec = child(doc, "spec")
        policy_node = child(spec, "policy")
        semver = child(policy_node, "semver")
        if semver is not None:
            range_node = child(semver, "range")
            if range_node is None:
                raise _fail(policy, "spec.policy.semver has no range")
            in_flow = any(
                isinstance(node, MappingNode) and bool(node.flow_style)
                for node in (doc, spec, policy_node, semver)
            )
            _exclude_in_range(texts, policy, range_node, in_flow, tag)
            continue
        repo_ref = child(spec, "imageRepositoryRef")
        repo_name = scalar_text(child(repo_ref, "name"))
        if not repo_name:
            raise _fail(policy, "spec.imageRepositoryRef.name is missing")
        repo_namespace = scalar_text(child(repo_ref, "namespace")) or namespace
        repositories = _find(root, "ImageRepository", repo_namespace, repo_name, broken, skipped)
        if not repositories:
            raise QuarantineError(
                f"ImageRepository {repo_namespace}:{repo_name} (referenced by ImagePolicy "
                f"{policy_ref}) not found under {root}{_describe_broken(broken)}"
            )
        for repository in repositories:
            _exclude_in_repository(texts, repository, tag_exclusion(tag))
    return texts.write()
