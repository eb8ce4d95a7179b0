"""The third-party CRDs the sandbox installs, taken from their projects' published Go modules.

Every set names a Go module at a pinned version, the ``h1:`` hash of that module
(the line ``go.sum`` would carry for it) and the CRD files inside it. The go
command downloads the module into its module cache (``go env GOMODCACHE``),
verifying it against the checksum database; we then compare the ``Sum`` it
reports with the pinned hash, so a module that changed under the same version
is refused instead of installed. The files are installed unmodified: every
object the controller writes for Flux, KEDA, Gateway API, Istio, Contour,
Traefik or Knative is validated by the schema a production cluster uses.

A project that publishes no Go module ships a faithful copy in
``sandbox/gitcanary_sandbox/crds/`` with its upstream release named in a header
(App Mesh: the controller's module is not served by the Go module proxy).

Invariants:
- nothing here reads outside the repository, the Go module cache and the network
  through the go command: a fresh clone needs nothing beside it;
- one ``go mod download`` call fetches every missing module (in parallel); a warm
  module cache answers without the network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Progress = Callable[[str], None]

LOCAL_CRDS = Path(__file__).resolve().parent / "crds"


@dataclass(frozen=True)
class UpstreamModule:
    """A published Go module at a pinned version, and the CRD files it carries."""

    path: str
    version: str
    h1: str
    files: tuple[str, ...]

    @property
    def ref(self) -> str:
        return f"{self.path}@{self.version}"

    def go_sum_line(self) -> str:
        return f"{self.path} {self.version} {self.h1}"


def _flux(name: str, version: str, h1: str, *kinds: str) -> UpstreamModule:
    return UpstreamModule(
        f"github.com/fluxcd/{name}", version, h1, tuple(f"config/crd/bases/{k}.yaml" for k in kinds)
    )


_GATEWAY_API = "config/crd/standard/gateway.networking.k8s.io_"

# Set name -> the modules whose CRDs form it. Versions follow the Flux 2.9 line the
# sandbox's Flux controllers are built from (sandbox/gitcanary_sandbox/flux_binaries.py).
SETS: dict[str, tuple[UpstreamModule, ...]] = {
    "flux": (
        _flux(
            "source-controller",
            "v1.9.0",
            "h1:5msg2yyjVYDULZos+2ve8MZzcSqTpusiXmrOeBhc9yY=",
            "source.toolkit.fluxcd.io_gitrepositories",
            "source.toolkit.fluxcd.io_ocirepositories",
            "source.toolkit.fluxcd.io_buckets",
            "source.toolkit.fluxcd.io_helmrepositories",
            "source.toolkit.fluxcd.io_helmcharts",
        ),
        _flux(
            "kustomize-controller",
            "v1.9.0",
            "h1:WfM+bQUGUGW2qyrrTgh2bIVSZSPmc3JC7234K8NiTWQ=",
            "kustomize.toolkit.fluxcd.io_kustomizations",
        ),
        _flux(
            "helm-controller",
            "v1.6.0",
            "h1:jlS5X11SG26gspubB5aLrdVSCm0q0tA4ULsY+vwSkL0=",
            "helm.toolkit.fluxcd.io_helmreleases",
        ),
        _flux(
            "image-reflector-controller",
            "v1.2.0",
            "h1:ojsV55VNVyuu1AVTwq9Si0tLrKCRwE8od4I/UY2UolU=",
            "image.toolkit.fluxcd.io_imagepolicies",
            "image.toolkit.fluxcd.io_imagerepositories",
        ),
        _flux(
            "image-automation-controller",
            "v1.2.0",
            "h1:Buso7CwZmTdk6OJmlYYCDeQNYVIuSQ764UwHpjf2/fM=",
            "image.toolkit.fluxcd.io_imageupdateautomations",
        ),
        _flux(
            "notification-controller",
            "v1.9.0",
            "h1:5QXx9L27Z6iFAST9pLp/+sU8J1EUYjktMT5zmKR+Q1U=",
            "notification.toolkit.fluxcd.io_alerts",
            "notification.toolkit.fluxcd.io_providers",
            "notification.toolkit.fluxcd.io_receivers",
        ),
    ),
    "flagger": (
        UpstreamModule(
            "github.com/fluxcd/flagger",
            "v1.44.0",
            "h1:JAb2mE3AAO5Y/JkfHy6xbFDPDPk9lGvqXwmtztNbdhw=",
            ("artifacts/flagger/crd.yaml",),
        ),
    ),
    "keda": (
        UpstreamModule(
            "github.com/kedacore/keda/v2",
            "v2.20.1",
            "h1:0Bb2zX/s+RSPtU2W+/Jk24A/aFl8MO79UuU0C4lA8ts=",
            (
                "config/crd/bases/keda.sh_scaledobjects.yaml",
                "config/crd/bases/keda.sh_triggerauthentications.yaml",
                "config/crd/bases/keda.sh_clustertriggerauthentications.yaml",
            ),
        ),
        UpstreamModule(
            "github.com/kedacore/http-add-on",
            "v0.15.0",
            "h1:6xqqvzFB/Yw9zBSsPD/T6DBTaOj6N4/NqbAs26E5XGA=",
            (
                "config/crd/bases/http.keda.sh_httpscaledobjects.yaml",
                "config/crd/bases/http.keda.sh_interceptorroutes.yaml",
            ),
        ),
    ),
    "gateway-api": (
        UpstreamModule(
            "sigs.k8s.io/gateway-api",
            "v1.5.1",
            "h1:RqVRIlkhLhUO8wOHKTLnTJA6o/1un4po4/6M1nRzdd0=",
            tuple(
                f"{_GATEWAY_API}{kind}.yaml"
                for kind in (
                    "gatewayclasses",
                    "gateways",
                    "httproutes",
                    "grpcroutes",
                    "referencegrants",
                    "backendtlspolicies",
                )
            ),
        ),
    ),
    "istio": (
        UpstreamModule(
            "istio.io/api",
            "v1.31.4",
            "h1:AcnncYrlDj1PJkym7h88Gggkef4MAra8QpGaXRMsr+E=",
            ("kubernetes/customresourcedefinitions.gen.yaml",),
        ),
    ),
    "contour": (
        UpstreamModule(
            "github.com/projectcontour/contour",
            "v1.33.8",
            "h1:QoOfwqWws+CVRFpsRC2+f1DmB5IdurtyUtepIsiWfE0=",
            ("examples/contour/01-crds.yaml",),
        ),
    ),
    "traefik": (
        UpstreamModule(
            "github.com/traefik/traefik/v3",
            "v3.7.9",
            "h1:RxOqG3Wtvl1F5yCDr2ZxAg21YU3QCh/m0tae3Su4BZ8=",
            ("docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml",),
        ),
    ),
    # The Knative Serving release Flagger v1.44.0 builds against (its go.mod); Service and the
    # Revisions it creates, as Flagger's Knative router and controller read them.
    "knative": (
        UpstreamModule(
            "knative.dev/serving",
            "v0.49.1",
            "h1:he1NlNTnrLyamM4a2XL5mNeiTL8jTAuEqqf7y7WOoI8=",
            ("config/core/300-resources/service.yaml", "config/core/300-resources/revision.yaml"),
        ),
    ),
}
# Sets with no Go module: faithful copies in this repository (header names the release).
LOCAL_SETS: dict[str, tuple[str, ...]] = {"appmesh": ("appmesh-crds.yaml",)}
ALL_SETS = (*SETS, *LOCAL_SETS)


class ModuleMismatch(RuntimeError):
    """A downloaded module's hash is not the pinned one, or the go command failed."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _decode_stream(text: str) -> list[dict[str, object]]:
    """``go mod download -json`` prints one JSON object per module, back to back."""
    decoder = json.JSONDecoder()
    objects: list[dict[str, object]] = []
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return objects
        obj, index = decoder.raw_decode(text, index)
        objects.append(obj)


def download(modules: list[UpstreamModule], progress: Progress = _stderr) -> dict[str, Path]:
    """Download (or find in the module cache) every module; return ``ref -> source dir``.

    Raises :class:`ModuleMismatch` when a module cannot be fetched or its ``h1:``
    hash differs from the pinned one.
    """
    if not modules:
        return {}
    refs = [m.ref for m in modules]
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GO111MODULE": "on"}
    progress(f"upstream CRDs: go mod download {' '.join(refs)}")
    proc = subprocess.run(
        ["go", "mod", "download", "-json", *refs],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(os.environ.get("TMPDIR", "/tmp")),
        timeout=1800,
    )
    found = {f"{o.get('Path')}@{o.get('Version')}": o for o in _decode_stream(proc.stdout)}
    dirs: dict[str, Path] = {}
    for module in modules:
        info = found.get(module.ref)
        if info is None:
            raise ModuleMismatch(f"{module.ref}: go mod download printed nothing for it: {proc.stderr[-500:]}")
        if info.get("Error"):
            raise ModuleMismatch(f"{module.ref}: {info['Error']}")
        if info.get("Sum") != module.h1:
            raise ModuleMismatch(f"{module.ref}: hash {info.get('Sum')} is not the pinned {module.h1}")
        dirs[module.ref] = Path(str(info["Dir"]))
    return dirs


def crd_files(sets: tuple[str, ...] = ALL_SETS, progress: Progress = _stderr) -> list[Path]:
    """The CRD files of the chosen sets, in set order, downloading modules as needed."""
    unknown = [s for s in sets if s not in SETS and s not in LOCAL_SETS]
    if unknown:
        raise KeyError(f"unknown CRD sets {unknown}; known: {', '.join(ALL_SETS)}")
    modules = [m for s in sets for m in SETS.get(s, ())]
    dirs = download(modules, progress)
    files: list[Path] = []
    for name in sets:
        for module in SETS.get(name, ()):
            for rel in module.files:
                path = dirs[module.ref] / rel
                if not path.is_file():
                    raise ModuleMismatch(f"{module.ref} has no {rel}")
                files.append(path)
        files += [LOCAL_CRDS / f for f in LOCAL_SETS.get(name, ())]
    return files


def main() -> None:
    """``python -m gitcanary_sandbox.upstream_crds``: fetch and verify every set, list the files."""
    for path in crd_files():
        print(path)


if __name__ == "__main__":
    main()
