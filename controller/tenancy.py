"""Tenancy: which objects a Canary may use, and which Git coordinates it may write. Pure rules.

A Canary is written by a tenant; the GitRepository it writes through, and that repository's
credentials, usually belong to the platform. By default a Canary uses only objects in its own
namespace (Flagger's ``-no-cross-namespace-refs`` and Flux's ``--no-cross-namespace-refs``, but
on by default). The platform allows more in one of two ways:

- the controller flag ``--allow-cross-namespace-refs`` (``GITCANARY_ALLOW_CROSS_NAMESPACE_REFS=1``)
  lifts the namespace rule for every Canary;
- the annotation ``gitcanary.io/allowed-namespaces`` on a GitRepository (``"team-a,team-b"`` or
  ``"*"``) names the namespaces whose Canaries may write through it, and may use the
  Kustomizations in the GitRepository's namespace that applied their targets.

Whatever the namespaces, these hold for every Canary:

- Flux's labels on a target are trusted only when the Kustomization they name lists the target
  in ``status.inventory.entries`` (:func:`inventory_lists`);
- ``spec.gitops.path`` stays inside the repository, and inside the Kustomization's path when
  the repository is borrowed from another namespace; every path is relative, without ``..``
  escapes (:func:`path_problem`);
- branch names pass ``git check-ref-format --branch`` and never look like an option
  (:func:`branch_problem`);
- repository URLs use https, http, ssh or git (or scp-like ``user@host:path``); ``file://`` and
  local paths only with ``--allow-file-remotes`` (:func:`url_problem`).

Every rule returns the problem as one sentence (or None), so the caller can refuse with a
condition and an Event that say what to change. Nothing here does I/O.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from controller.api import Canary

__all__ = [
    "ALLOWED_NAMESPACES_ANNOTATION",
    "TenancySettings",
    "allowed_namespaces",
    "branch_problem",
    "cross_namespace_problem",
    "first_problem",
    "inventory_id",
    "inventory_lists",
    "kustomization_root",
    "path_problem",
    "refused_references",
    "url_problem",
]

Obj = dict[str, Any]

ALLOWED_NAMESPACES_ANNOTATION = "gitcanary.io/allowed-namespaces"
CROSS_NAMESPACE_FLAG = "--allow-cross-namespace-refs"
FILE_REMOTES_FLAG = "--allow-file-remotes"
CROSS_NAMESPACE_ENV = "GITCANARY_ALLOW_CROSS_NAMESPACE_REFS"
FILE_REMOTES_ENV = "GITCANARY_ALLOW_FILE_REMOTES"
REMOTE_SCHEMES = frozenset({"https", "http", "ssh", "git"})
_TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class TenancySettings:
    """What the platform team allows beyond the defaults (controller flags)."""

    allow_cross_namespace_refs: bool = False
    """Canaries may use objects in any namespace (``--allow-cross-namespace-refs``)."""
    allow_file_remotes: bool = False
    """Repository URLs may be ``file://`` or local paths (``--allow-file-remotes``); for
    sandboxes and tests, never for a shared cluster."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TenancySettings:
        """The settings ``gitcanary run`` puts in the environment from its flags."""
        values = os.environ if env is None else env
        return cls(
            allow_cross_namespace_refs=values.get(CROSS_NAMESPACE_ENV, "").strip().lower() in _TRUE,
            allow_file_remotes=values.get(FILE_REMOTES_ENV, "").strip().lower() in _TRUE,
        )


# -- namespaces ---------------------------------------------------------------------------------


def allowed_namespaces(annotations: Mapping[str, str] | None) -> frozenset[str]:
    """The namespaces a GitRepository's ``gitcanary.io/allowed-namespaces`` names (``*``: all)."""
    raw = (annotations or {}).get(ALLOWED_NAMESPACES_ANNOTATION) or ""
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def _granted(canary_namespace: str, grant: frozenset[str]) -> bool:
    return "*" in grant or canary_namespace in grant


def cross_namespace_problem(
    kind: str,
    namespace: str,
    name: str,
    canary_namespace: str,
    settings: TenancySettings,
    grant: frozenset[str] = frozenset(),
) -> str | None:
    """Why a Canary in ``canary_namespace`` may not use ``kind namespace/name`` (None: it may).

    ``grant`` is what the GitRepository involved admits (:func:`allowed_namespaces`)."""
    if namespace == canary_namespace or settings.allow_cross_namespace_refs:
        return None
    if _granted(canary_namespace, grant):
        return None
    return (
        f"{kind} {namespace}/{name} is outside the Canary's namespace {canary_namespace}: "
        f"cross-namespace references are refused unless the controller runs with {CROSS_NAMESPACE_FLAG} "
        f"or the GitRepository is annotated {ALLOWED_NAMESPACES_ANNOTATION}: {canary_namespace}"
    )


def refused_references(canary: Canary, settings: TenancySettings) -> list[str]:
    """The MetricTemplate and AlertProvider references of ``canary`` that leave its namespace.

    They are refused outright (no annotation can allow them): a template or provider in another
    namespace would lend that namespace's Secrets to the Canary."""
    namespace = canary.metadata.namespace or ""
    refs: list[tuple[str, str, str]] = []
    for metric in canary.spec.analysis.metrics:
        if metric.template_ref is not None and metric.template_ref.namespace:
            refs.append(("MetricTemplate", metric.template_ref.namespace, metric.template_ref.name))
    for alert in canary.spec.analysis.alerts:
        if alert.provider_ref.namespace:
            refs.append(("AlertProvider", alert.provider_ref.namespace, alert.provider_ref.name))
    problems = [cross_namespace_problem(kind, ns, name, namespace, settings) for kind, ns, name in refs]
    return list(dict.fromkeys(p for p in problems if p))


# -- Flux inventory -----------------------------------------------------------------------------


def inventory_id(namespace: str, name: str, api_version: str, kind: str) -> str:
    """Flux's ``ObjMetadata`` id: ``<namespace>_<name>_<group>_<kind>`` (core group: empty)."""
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    return f"{namespace}_{name}_{group}_{kind}"


def inventory_lists(kustomization: Obj, target: Obj) -> bool:
    """Whether the Kustomization's ``status.inventory.entries`` holds ``target``: proof that it
    applied the target, where Flux's labels alone can be written by anyone who edits it."""
    meta = target.get("metadata") or {}
    wanted = inventory_id(
        str(meta.get("namespace") or ""),
        str(meta.get("name") or ""),
        str(target.get("apiVersion") or "apps/v1"),
        str(target.get("kind") or ""),
    )
    entries = ((kustomization.get("status") or {}).get("inventory") or {}).get("entries") or []
    return any(isinstance(e, Mapping) and e.get("id") == wanted for e in entries)


# -- paths --------------------------------------------------------------------------------------


def _normalised(path: str) -> str:
    """``./apps/``, ``apps`` and ``apps/./x/..`` -> ``apps``; the root is ``.``."""
    return posixpath.normpath(path.strip() or ".")


def kustomization_root(path: str) -> str:
    """A Kustomization's ``spec.path`` as Flux reads it: relative to the repository root, where
    a leading ``/`` means the root too."""
    return _normalised(path.strip().lstrip("/") or ".")


def path_problem(path: str, within: str = ".", field: str = "spec.gitops.path") -> str | None:
    """Why ``path`` may not be written (None: it may): it must be relative, stay in the
    repository, and stay inside ``within`` (a Kustomization's path, normalised)."""
    if any(ord(c) < 0x20 or c == "\x7f" for c in path):
        return f"{field} {path!r} contains control characters"
    if path.strip().startswith("/"):
        return f"{field} {path!r} is absolute: use a path relative to the repository root"
    norm = _normalised(path)
    if norm == ".." or norm.startswith("../"):
        return f"{field} {path!r} leaves the repository"
    base = _normalised(within)
    if base in (".", norm) or norm.startswith(base + "/"):
        return None
    return f"{field} {path!r} leaves the Kustomization's path ./{base}"


# -- branches -----------------------------------------------------------------------------------

_REF_FORBIDDEN = frozenset(" ~^:?*[\\")


def branch_problem(branch: str, field: str = "branch") -> str | None:
    """Why ``branch`` is not a branch name (None: it is), by ``git check-ref-format --branch``:
    no ``..``, ``@{``, control characters, space, ``~^:?*[\\``; no component starting with
    ``.`` or ending in ``.lock``; no empty component; not ``@`` or ``HEAD``; not ending in ``.``;
    and never starting with ``-``, so that it can never be read as an option."""
    reason = _branch_reason(branch)
    return None if reason is None else f"{field} {branch!r} is not a valid branch name: {reason}"


def _branch_reason(branch: str) -> str | None:
    if not branch:
        return "it is empty"
    if branch.startswith("-"):
        return "it starts with '-'"
    if branch in ("@", "HEAD"):
        return f"{branch!r} is reserved"
    if any(ord(c) < 0x20 or c == "\x7f" or c in _REF_FORBIDDEN for c in branch):
        return "it contains a space, a control character or one of ~^:?*[\\"
    if ".." in branch or "@{" in branch:
        return "it contains '..' or '@{'"
    if branch.endswith("."):
        return "it ends with '.'"
    for component in branch.split("/"):
        if not component:
            return "it has an empty path component ('//', or a leading or trailing '/')"
        if component.startswith(".") or component.endswith(".lock"):
            return f"the component {component!r} starts with '.' or ends with '.lock'"
    return None


# -- repository URLs ----------------------------------------------------------------------------

# scp-like syntax, as git reads it: a colon before any slash, no "::" (a remote helper).
_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>\[[^\]/]+\]|[^@/:\[\]]+):(?P<path>(?!:).*)$")


def url_problem(url: str, settings: TenancySettings) -> str | None:
    """Why gitcanary will not push to ``url`` (None: it will)."""
    shown = url if len(url) <= 200 else url[:200] + "..."
    if not url or any(ord(c) <= 0x20 or c == "\x7f" for c in url):
        return f"repository URL {shown!r} is empty or contains whitespace or control characters"
    scheme, sep, _ = url.partition("://")
    if sep and "/" not in scheme:
        return _url_with_scheme(url, scheme.lower(), shown, settings)
    if "::" in url:
        return f"repository URL {shown!r} names a git remote helper (<transport>::), which is refused"
    match = _SCP_LIKE.match(url)
    if match:
        for part in ("user", "host", "path"):
            if (match.group(part) or "").startswith("-"):
                return f"repository URL {shown!r}: the {part} starts with '-'"
        return None
    if settings.allow_file_remotes:
        return None
    return f"repository URL {shown!r} is a local path; local remotes need the controller flag {FILE_REMOTES_FLAG}"


def _url_with_scheme(url: str, scheme: str, shown: str, settings: TenancySettings) -> str | None:
    if scheme == "file":
        if settings.allow_file_remotes:
            return None
        return f"repository URL {shown!r} uses file://, which needs the controller flag {FILE_REMOTES_FLAG}"
    if scheme not in REMOTE_SCHEMES:
        allowed = ", ".join(sorted(REMOTE_SCHEMES))
        return f"repository URL {shown!r} uses the scheme {scheme!r}; allowed: {allowed}"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        user = parts.username or ""
    except ValueError as error:
        return f"repository URL {shown!r} cannot be parsed: {error}"
    if not host:
        return f"repository URL {shown!r} names no host"
    if host.startswith("-") or user.startswith("-"):
        return f"repository URL {shown!r}: the host or user starts with '-'"
    return None


def first_problem(problems: Sequence[str | None]) -> str | None:
    """The first problem found, or None."""
    return next((p for p in problems if p), None)
