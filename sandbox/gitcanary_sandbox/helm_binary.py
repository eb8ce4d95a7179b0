"""Build the ``helm`` client the chart tests run, from its published Go module.

``helm.sh/helm/v3`` carries no ``replace`` directives, so ``go install
helm.sh/helm/v3/cmd/helm@<version>`` builds it directly. Before building, the
module is downloaded with ``go mod download`` (verified against the checksum
database) and its ``h1:`` hash is compared with the one pinned here, so a module
that changed under the same version is refused instead of built.

The link flags are those of helm's own Makefile: the release version (otherwise
``helm version`` says only ``v3.22``) and the Kubernetes version derived from
the ``k8s.io/client-go`` the module requires (otherwise ``helm template`` and
``helm lint`` assume Kubernetes 1.20 for ``.Capabilities.KubeVersion``).

Invariants:
- the binary lands in ``~/.cache/gitcanary/helm-<HELM_VERSION>/bin/helm`` and a
  cached binary is never rebuilt;
- ``CGO_ENABLED=0``;
- the build's wall time is written to ``build-time.json`` next to ``bin/``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gitcanary_sandbox.binaries import cache_root

HELM_MODULE = "helm.sh/helm/v3"
HELM_VERSION = "v3.22.0"
# The go.sum line for helm.sh/helm/v3 at HELM_VERSION.
HELM_H1 = "h1:n1if5iQgHYsujPAcO5oonH/KiSNUmqmUF0iGVjSF3AU="

Progress = Callable[[str], None]

_CLIENT_GO = re.compile(r"^\s*k8s\.io/client-go\s+v0\.(\d+)\.\d+", re.MULTILINE)


class HelmBuildError(RuntimeError):
    """The module could not be fetched, its hash is not the pinned one, or the build failed."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def helm_root() -> Path:
    return cache_root() / f"helm-{HELM_VERSION}"


def helm_path() -> Path:
    return helm_root() / "bin" / "helm"


def kube_minor(go_mod: str) -> str:
    """The Kubernetes minor version matching the module's ``k8s.io/client-go`` (v0.N -> N)."""
    match = _CLIENT_GO.search(go_mod)
    if match is None:
        raise HelmBuildError(f"{HELM_MODULE}@{HELM_VERSION}: go.mod requires no k8s.io/client-go v0.x")
    return match.group(1)


def ldflags(minor: str) -> str:
    flags = [
        "-s -w",
        f"-X {HELM_MODULE}/internal/version.version={HELM_VERSION}",
        f"-X {HELM_MODULE}/internal/version.gitTreeState=clean",
    ]
    for package in ("pkg/lint/rules", "pkg/chartutil"):
        flags += [
            f"-X {HELM_MODULE}/{package}.k8sVersionMajor=1",
            f"-X {HELM_MODULE}/{package}.k8sVersionMinor={minor}",
        ]
    return " ".join(flags)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    env["GO111MODULE"] = "on"
    env.pop("GOFLAGS", None)
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str], progress: Progress) -> str:
    progress(f"$ {' '.join(cmd)}")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-30:])
        raise HelmBuildError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def _verified_go_mod(work: Path, progress: Progress) -> str:
    """Download the module, check its hash against HELM_H1, return its go.mod."""
    out = _run(["go", "mod", "download", "-json", f"{HELM_MODULE}@{HELM_VERSION}"], work, _go_env(), progress)
    info = json.loads(out)
    if info.get("Error"):
        raise HelmBuildError(f"{HELM_MODULE}@{HELM_VERSION}: {info['Error']}")
    if info.get("Sum") != HELM_H1:
        raise HelmBuildError(
            f"{HELM_MODULE}@{HELM_VERSION}: hash {info.get('Sum')} is not the pinned {HELM_H1}"
        )
    return Path(info["GoMod"]).read_text()


def ensure_helm(progress: Progress = _stderr) -> Path:
    """The helm binary, built into the cache when missing; raises HelmBuildError."""
    binary = helm_path()
    if binary.exists():
        return binary
    started = time.monotonic()
    binary.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="helm-build-", dir=helm_root()) as scratch:
        work = Path(scratch)
        minor = kube_minor(_verified_go_mod(work, progress))
        env = {**_go_env(), "GOBIN": str(work / "bin")}
        progress(f"building helm {HELM_VERSION} (cold builds take minutes)")
        _run(
            [
                "go",
                "install",
                "-trimpath",
                "-ldflags",
                ldflags(minor),
                f"{HELM_MODULE}/cmd/helm@{HELM_VERSION}",
            ],
            work,
            env,
            progress,
        )
        (work / "bin" / "helm").rename(binary)
    elapsed = time.monotonic() - started
    (helm_root() / "build-time.json").write_text(json.dumps({"helm": round(elapsed, 1)}) + "\n")
    progress(f"built helm {HELM_VERSION} in {elapsed:.0f}s")
    return binary


if __name__ == "__main__":
    print(ensure_helm())
