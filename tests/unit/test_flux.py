"""Flux correlation helpers: the owning Kustomization, revision parsing, the status block."""

from __future__ import annotations

import pytest

from controller.flux import GitSource, kustomization_of, sha_of_revision
from tests.builders import deployment, flux_applied


def test_kustomization_from_flux_labels() -> None:
    obj = flux_applied(deployment("test", "podinfo", "img:1"), "apps", "flux-system")
    assert kustomization_of(obj) == ("flux-system", "apps")


def test_kustomization_namespace_defaults_to_the_objects_namespace() -> None:
    obj = flux_applied(deployment("test", "podinfo", "img:1"), "apps")
    del obj["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/namespace"]
    assert kustomization_of(obj) == ("test", "apps")


@pytest.mark.parametrize("labels", [None, {}, {"app": "podinfo"}, {"kustomize.toolkit.fluxcd.io/name": ""}])
def test_no_flux_labels_means_no_kustomization(labels: dict[str, str] | None) -> None:
    obj = deployment("test", "podinfo", "img:1")
    if labels is not None:
        obj["metadata"]["labels"] = labels
    assert kustomization_of(obj) is None


@pytest.mark.parametrize(
    ("revision", "sha"),
    [
        ("main@sha1:0123456789abcdef0123456789abcdef01234567", "0123456789abcdef0123456789abcdef01234567"),
        ("refs/tags/v1.2.3@sha1:abc123", "abc123"),
        ("sha1:abc123", "abc123"),
        ("abc123", "abc123"),
        ("feature/x@sha256:" + "f" * 64, "f" * 64),
    ],
)
def test_sha_of_revision(revision: str, sha: str) -> None:
    assert sha_of_revision(revision) == sha


def source(kustomization: tuple[str, str] | None) -> GitSource:
    return GitSource(
        url="https://git.example.com/fleet.git",
        branch="main",
        path="./apps",
        secret_name="git-auth",
        namespace="flux-system",
        source_name="fleet",
        kustomization=kustomization,
        revision="main@sha1:abc",
    )


def test_to_status_with_kustomization() -> None:
    assert source(("flux-system", "apps")).to_status() == {
        "source": {
            "kind": "GitRepository",
            "name": "fleet",
            "namespace": "flux-system",
            "url": "https://git.example.com/fleet.git",
            "branch": "main",
            "path": "./apps",
            "revision": "main@sha1:abc",
        },
        "kustomization": {"namespace": "flux-system", "name": "apps"},
    }


def test_to_status_without_kustomization_never_exposes_the_secret() -> None:
    status = source(None).to_status()
    assert set(status) == {"source"}
    assert "git-auth" not in repr(status)
