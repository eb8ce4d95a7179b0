"""Flux correlation: which Kustomization applied a target, from which GitRepository, at which revision.

Flux labels every object it applies with ``kustomize.toolkit.fluxcd.io/name``
and ``/namespace``. From the Kustomization we read ``spec.sourceRef``,
``spec.path`` and ``status.lastAppliedRevision`` (``main@sha1:<sha>``); from the
GitRepository its URL, branch and ``secretRef``. ``spec.gitops`` fields on the
Canary override every inferred value, so an empty ``gitops`` works on a Flux
cluster and an explicit one works without Flux labels.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from controller.kube import Kube

Obj = dict[str, Any]

KUSTOMIZE_NAME = "kustomize.toolkit.fluxcd.io/name"
KUSTOMIZE_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"
KUSTOMIZATION_API = "kustomize.toolkit.fluxcd.io/v1"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


class SourceNotFound(LookupError):
    """The Git source of a Canary cannot be inferred; the message says what is missing."""


@dataclass(frozen=True)
class GitSource:
    url: str
    branch: str
    path: str
    secret_name: str | None
    namespace: str
    source_name: str
    kustomization: tuple[str, str] | None
    revision: str
    artifact_revision: str = ""
    """The revision source-controller fetched last (``status.artifact.revision``)."""
    artifact_time: str = ""
    """When it fetched it (``status.artifact.lastUpdateTime``, RFC 3339)."""

    def to_status(self) -> Obj:
        status: Obj = {
            "source": {
                "kind": "GitRepository",
                "name": self.source_name,
                "namespace": self.namespace,
                "url": self.url,
                "branch": self.branch,
                "path": self.path,
                "revision": self.revision,
            }
        }
        if self.kustomization:
            status["kustomization"] = {"namespace": self.kustomization[0], "name": self.kustomization[1]}
        return status


def kustomization_of(obj: Obj) -> tuple[str, str] | None:
    labels = obj.get("metadata", {}).get("labels") or {}
    name = labels.get(KUSTOMIZE_NAME)
    if not name:
        return None
    return labels.get(KUSTOMIZE_NAMESPACE) or obj["metadata"].get("namespace", "flux-system"), name


def sha_of_revision(revision: str) -> str:
    """``main@sha1:abc`` -> ``abc``; a bare sha is returned as is."""
    return revision.rsplit(":", 1)[-1] if "@" in revision or ":" in revision else revision


async def resolve_source(kube: Kube, canary: Obj, target: Obj) -> GitSource:
    gitops = canary["spec"].get("gitops") or {}
    source_ref = gitops.get("sourceRef") or {}
    ks_ref = kustomization_of(target)
    kustomization = None
    if ks_ref:
        kustomization = await kube.get(KUSTOMIZATION_API, "Kustomization", ks_ref[0], ks_ref[1])
    if not source_ref:
        if kustomization is None:
            raise SourceNotFound(
                f"{target['kind']} {target['metadata']['name']} carries no Flux labels "
                f"({KUSTOMIZE_NAME}) and spec.gitops.sourceRef is not set"
            )
        source_ref = kustomization["spec"]["sourceRef"]
    if source_ref.get("kind", "GitRepository") != "GitRepository":
        raise SourceNotFound(f"sourceRef kind {source_ref.get('kind')} is not a GitRepository")
    namespace = source_ref.get("namespace") or (ks_ref[0] if ks_ref else canary["metadata"]["namespace"])
    repo = await kube.get(SOURCE_API, "GitRepository", namespace, source_ref["name"])
    if repo is None:
        raise SourceNotFound(f"GitRepository {namespace}/{source_ref['name']} not found")
    ref = repo["spec"].get("ref") or {}
    branch = gitops.get("branch") or ref.get("branch") or "main"
    path = gitops.get("path") or (kustomization or {}).get("spec", {}).get("path") or "./"
    revision = str((kustomization or {}).get("status", {}).get("lastAppliedRevision", ""))
    secret = (repo["spec"].get("secretRef") or {}).get("name")
    artifact = (repo.get("status") or {}).get("artifact") or {}
    return GitSource(
        url=repo["spec"]["url"],
        branch=branch,
        path=path,
        secret_name=secret,
        namespace=namespace,
        source_name=source_ref["name"],
        kustomization=ks_ref,
        revision=revision,
        artifact_revision=str(artifact.get("revision") or ""),
        artifact_time=str(artifact.get("lastUpdateTime") or ""),
    )


async def request_reconcile(kube: Kube, source: GitSource, now: dt.datetime | None = None) -> None:
    """Ask Flux to reconcile the GitRepository and the Kustomization at once."""
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat()
    patch = {"metadata": {"annotations": {REQUESTED_AT: stamp}}}
    await kube.merge_patch(SOURCE_API, "GitRepository", source.namespace, source.source_name, patch)
    if source.kustomization:
        await kube.merge_patch(KUSTOMIZATION_API, "Kustomization", *source.kustomization, patch)
