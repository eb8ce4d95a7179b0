"""The upstream CRD sets come from pinned, hash-checked Go modules, and nothing reads the shared folder."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
import yaml

from gitcanary_sandbox import upstream_crds
from gitcanary_sandbox.environment import crd_files

REPO = Path(__file__).resolve().parents[3]


def _crd_names(path: Path) -> set[str]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs, f"{path} holds no document"
    assert {d["kind"] for d in docs} == {"CustomResourceDefinition"}, path
    return {d["metadata"]["name"] for d in docs}


def test_every_set_resolves_to_upstream_crd_files() -> None:
    names: set[str] = set()
    for path in upstream_crds.crd_files():
        names |= _crd_names(path)
    # One kind the controller writes from every set.
    for expected in (
        "gitrepositories.source.toolkit.fluxcd.io",
        "kustomizations.kustomize.toolkit.fluxcd.io",
        "helmreleases.helm.toolkit.fluxcd.io",
        "imagepolicies.image.toolkit.fluxcd.io",
        "canaries.flagger.app",
        "scaledobjects.keda.sh",
        "httpscaledobjects.http.keda.sh",
        "httproutes.gateway.networking.k8s.io",
        "virtualservices.networking.istio.io",
        "virtualnodes.appmesh.k8s.aws",
        "httpproxies.projectcontour.io",
        "traefikservices.traefik.io",
    ):
        assert expected in names


def test_a_module_whose_hash_differs_from_the_pin_is_refused() -> None:
    (flagger,) = upstream_crds.SETS["flagger"]
    forged = dataclasses.replace(flagger, h1="h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    with pytest.raises(upstream_crds.ModuleMismatch, match="is not the pinned"):
        upstream_crds.download([forged])


def test_an_unpublished_version_is_a_clear_error() -> None:
    (flagger,) = upstream_crds.SETS["flagger"]
    missing = dataclasses.replace(flagger, version="v0.0.0-does-not-exist")
    with pytest.raises(upstream_crds.ModuleMismatch, match=r"v0\.0\.0-does-not-exist"):
        upstream_crds.download([missing])


def test_local_copies_name_their_upstream_release() -> None:
    for files in upstream_crds.LOCAL_SETS.values():
        for name in files:
            head = (upstream_crds.LOCAL_CRDS / name).read_text().splitlines()[:3]
            assert any("Upstream:" in line and "release" in line for line in head), name


def test_the_sandbox_installs_gitcanary_and_every_upstream_set() -> None:
    files = crd_files()
    assert files[0].parent == REPO / "crds"
    assert all(f.is_file() for f in files)
    assert not any("shared" in f.parts for f in files)


def test_nothing_in_the_project_reads_the_shared_folder() -> None:
    """A user's clone has no shared folder beside it: no tracked file may point at it.

    The needles are assembled from parts, so this file holds none of them and is scanned too."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, text=True
    ).stdout.split("\0")
    shared = "shared"
    needles = (f"../{shared}", f"/work/{shared}", f"GITCANARY_{shared.upper()}", "thirdparty" + "/crds")
    offenders = []
    for rel in filter(None, tracked):
        path = REPO / rel
        if not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        offenders += [f"{rel}: {n}" for n in needles if n in text]
    assert offenders == []
