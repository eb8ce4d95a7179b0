"""Provision the control-plane binaries the sandbox runs.

The Kubernetes components are built from the ``k8s.io/kubernetes`` Go module.
``go install`` refuses that module because its go.mod carries ``replace``
directives for the staging repositories, so we generate a tiny wrapper module
that requires ``k8s.io/kubernetes`` and replaces every staging module with the
matching published ``v0.x`` version, then ``go build`` inside it.

Binaries are cached under ``~/.cache/gitcanary/<version>/bin`` and a build is
skipped when the cached binary exists. ``KUBEBUILDER_ASSETS`` (the envtest
convention) wins when it points at a directory with the binaries.

etcd comes from Debian's ``etcd-server`` package (``/usr/bin/etcd``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.33.13"
STAGING_VERSION = "v0.33.13"
KWOK_VERSION = "v0.7.0"

# The 31 staging modules of k8s.io/kubernetes at 1.33.
STAGING_MODULES = (
    "api",
    "apiextensions-apiserver",
    "apimachinery",
    "apiserver",
    "cli-runtime",
    "client-go",
    "cloud-provider",
    "cluster-bootstrap",
    "code-generator",
    "component-base",
    "component-helpers",
    "controller-manager",
    "cri-api",
    "cri-client",
    "csi-translation-lib",
    "dynamic-resource-allocation",
    "endpointslice",
    "externaljwt",
    "kms",
    "kube-aggregator",
    "kube-controller-manager",
    "kube-proxy",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "metrics",
    "mount-utils",
    "pod-security-admission",
    "sample-apiserver",
    "sample-cli-plugin",
    "sample-controller",
)

KUBE_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
# Built alongside the control plane so that a fresh machine has a matching client.
KUBE_TOOLS = (*KUBE_COMPONENTS, "kubectl")

Progress = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of every executable the sandbox starts."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kwok: Path
    kubectl: Path


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitcanary"


def kube_bin_dir() -> Path:
    return cache_root() / KUBERNETES_VERSION / "bin"


def kwok_bin_dir() -> Path:
    return cache_root() / f"kwok-{KWOK_VERSION}" / "bin"


def wrapper_go_mod() -> str:
    """The go.mod of the wrapper module that pins every staging module."""
    lines = [
        "module gitcanary.local/kubebuild",
        "",
        "go 1.24",
        "",
        f"require k8s.io/kubernetes {KUBERNETES_VERSION}",
        "",
        "replace (",
    ]
    lines += [f"\tk8s.io/{name} => k8s.io/{name} {STAGING_VERSION}" for name in STAGING_MODULES]
    lines += [")", ""]
    return "\n".join(lines)


def _tools_go() -> str:
    imports = "\n".join(f'\t_ "k8s.io/kubernetes/cmd/{c}"' for c in KUBE_TOOLS)
    return f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n"


def _ldflags() -> str:
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    pkg = "k8s.io/component-base/version"
    return " ".join(
        [
            f"-X {pkg}.gitVersion={KUBERNETES_VERSION}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            "-X " + pkg + ".gitTreeState=clean",
            "-s -w",
        ]
    )


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    env["GOFLAGS"] = "-mod=mod"
    return env


def _run(cmd: list[str], cwd: Path, progress: Progress) -> None:
    progress(f"$ {' '.join(cmd)}  (in {cwd})")
    proc = subprocess.run(cmd, cwd=cwd, env=_go_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-30:])
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")


def build_kubernetes(progress: Progress = _stderr) -> Path:
    """Build the three control-plane components into the cache; return the bin dir."""
    bin_dir = kube_bin_dir()
    missing = [c for c in KUBE_TOOLS if not (bin_dir / c).exists()]
    if not missing:
        return bin_dir
    work = cache_root() / KUBERNETES_VERSION / "wrapper"
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text(wrapper_go_mod())
    (work / "tools.go").write_text(_tools_go())
    if not (work / "go.sum").exists():
        progress(f"resolving k8s.io/kubernetes {KUBERNETES_VERSION} (first run downloads modules)")
        _run(["go", "mod", "tidy"], work, progress)
    bin_dir.mkdir(parents=True, exist_ok=True)
    for component in missing:
        progress(f"building {component} {KUBERNETES_VERSION} (cold builds take several minutes)")
        tmp = bin_dir / f".{component}.tmp"
        _run(
            [
                "go",
                "build",
                "-trimpath",
                "-ldflags",
                _ldflags(),
                "-o",
                str(tmp),
                f"k8s.io/kubernetes/cmd/{component}",
            ],
            work,
            progress,
        )
        tmp.rename(bin_dir / component)
    return bin_dir


def build_kwok(progress: Progress = _stderr) -> Path:
    bin_dir = kwok_bin_dir()
    if (bin_dir / "kwok").exists():
        return bin_dir
    bin_dir.mkdir(parents=True, exist_ok=True)
    progress(f"building kwok {KWOK_VERSION}")
    env = _go_env()
    env["GOBIN"] = str(bin_dir)
    cmd = ["go", "install", f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}"]
    progress("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"kwok build failed: {proc.stderr[-3000:]}")
    return bin_dir


def _envtest_dir() -> Path | None:
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if not assets:
        return None
    path = Path(assets)
    if all((path / c).exists() for c in ("kube-apiserver", "etcd")):
        return path
    return None


def find_etcd(extra: Path | None) -> Path:
    if extra is not None and (extra / "etcd").exists():
        return extra / "etcd"
    found = shutil.which("etcd") or ("/usr/bin/etcd" if Path("/usr/bin/etcd").exists() else None)
    if not found:
        raise RuntimeError("etcd not found: install Debian's etcd-server (apt-get install etcd-server)")
    return Path(found)


def ensure_binaries(progress: Progress = _stderr) -> Binaries:
    """Return every binary, building what is missing. Idempotent and cached."""
    envtest = _envtest_dir()
    if envtest is not None:
        progress(f"using envtest binaries from KUBEBUILDER_ASSETS={envtest}")
        kube = envtest
        # envtest ships only apiserver and etcd; build the rest if absent.
        if not all((kube / c).exists() for c in KUBE_COMPONENTS):
            built = build_kubernetes(progress)
            cm, sched = built / "kube-controller-manager", built / "kube-scheduler"
        else:
            cm, sched = kube / "kube-controller-manager", kube / "kube-scheduler"
        apiserver = kube / "kube-apiserver"
    else:
        built = build_kubernetes(progress)
        apiserver = built / "kube-apiserver"
        cm, sched = built / "kube-controller-manager", built / "kube-scheduler"
    kwok = build_kwok(progress) / "kwok"
    kubectl = kube_bin_dir() / "kubectl"
    if not kubectl.exists():
        kubectl = build_kubernetes(progress) / "kubectl"
    return Binaries(
        etcd=find_etcd(envtest),
        kube_apiserver=apiserver,
        kube_controller_manager=cm,
        kube_scheduler=sched,
        kwok=kwok,
        kubectl=kubectl,
    )


if __name__ == "__main__":
    print(ensure_binaries())
