"""Build the real Flux controllers the end-to-end sandbox runs.

Each controller's go.mod carries ``replace github.com/fluxcd/<x>/api => ./api``,
so ``go install <module>@<version>`` refuses it. For every controller we write a
wrapper module that requires the controller at a released version, replaces its
``api`` module with the published module of the same release, copies the other
``replace`` directives of the controller's own go.mod verbatim, and ``go build``s
the controller's main package inside it.

Versions are the Flux 2.9 release line, whose CRDs are the ones installed from
the controllers' own modules (``upstream_crds.py``) (source/kustomize v1.9.0, helm v1.6.0,
image-* v1.2.0: every
``v1`` API served there is served by these controllers).

Invariants:
- binaries land in ``~/.cache/gitcanary/flux-<FLUX_VERSION>/bin`` and a cached
  binary is never rebuilt;
- the checksum database does not carry the image controllers' main modules, so
  their ``h1:`` hashes are pinned here and pre-seeded into the wrapper's go.sum:
  the go command verifies the downloads against them instead of skipping checks;
- ``CGO_ENABLED=0`` for every controller (image-automation uses go-git only);
- every build's wall time is appended to ``build-times.json`` next to the binaries.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitcanary_sandbox.binaries import cache_root

FLUX_VERSION = "v2.9.0"
GO_DIRECTIVE = "1.26.0"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class FluxController:
    """One controller: its module, the released version, and pinned sums if any."""

    name: str
    version: str
    # go.sum lines for modules the checksum database does not serve.
    pinned_sums: tuple[str, ...] = ()
    # Extra wrapper replaces (``old => new version``) for dependencies the module proxy
    # refuses at the version the controller requires; each names its reason beside it.
    substitutes: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        return f"github.com/fluxcd/{self.name}"

    @property
    def api_module(self) -> str:
        return f"{self.module}/api"


CONTROLLERS = (
    FluxController("source-controller", "v1.9.0"),
    FluxController("kustomize-controller", "v1.9.0"),
    FluxController(
        "helm-controller",
        "v1.6.0",
        # The module proxy answers 403 for chartutil v1.27.0 (and v1.26.0); v1.28.0 is the next
        # release of the same fluxcd/pkg line (helm v4.2.2 instead of v4.2.1).
        substitutes=("github.com/fluxcd/pkg/chartutil => github.com/fluxcd/pkg/chartutil v1.28.0",),
    ),
    FluxController(
        "image-reflector-controller",
        "v1.2.0",
        (
            "github.com/fluxcd/image-reflector-controller v1.2.0 "
            "h1:ojsV55VNVyuu1AVTwq9Si0tLrKCRwE8od4I/UY2UolU=",
            "github.com/fluxcd/image-reflector-controller v1.2.0/go.mod "
            "h1:M/cE1u0o1b//1Y7fe7yK5LnM2Nm+yNJ7jbgxMJr+8kQ=",
        ),
    ),
    FluxController(
        "image-automation-controller",
        "v1.2.0",
        (
            "github.com/fluxcd/image-automation-controller v1.2.0 "
            "h1:Buso7CwZmTdk6OJmlYYCDeQNYVIuSQ764UwHpjf2/fM=",
            "github.com/fluxcd/image-automation-controller v1.2.0/go.mod "
            "h1:qGA0x0aKEtemV78poxPdfsAQZGyytQxawq+KNg58DyE=",
        ),
    ),
)
CONTROLLER_NAMES = tuple(c.name for c in CONTROLLERS)

_REPLACE_LINE = re.compile(r"^(\S+)(?:\s+(\S+))?\s+=>\s+(\S+)(?:\s+(\S+))?$")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def flux_root() -> Path:
    return cache_root() / f"flux-{FLUX_VERSION}"


def flux_bin_dir() -> Path:
    return flux_root() / "bin"


def controller(name: str) -> FluxController:
    for candidate in CONTROLLERS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"unknown Flux controller {name!r}; known: {', '.join(CONTROLLER_NAMES)}")


def replace_directives(go_mod: str) -> list[str]:
    """Every ``replace`` of a go.mod as ``old [ver] => new [ver]`` lines (comments dropped)."""
    found: list[str] = []
    in_block = False
    for raw in go_mod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if in_block:
            if line == ")":
                in_block = False
            else:
                found.append(" ".join(line.split()))
            continue
        if line == "replace (":
            in_block = True
        elif line.startswith("replace "):
            found.append(" ".join(line[len("replace ") :].split()))
    return found


def wrapper_replaces(ctrl: FluxController, controller_go_mod: str) -> list[str]:
    """The wrapper's replaces: the api module at the release, the rest copied verbatim.

    A local-path replacement other than ``./api`` cannot be reproduced outside the
    controller's source tree and is refused with an error naming it.
    """
    replaces: list[str] = []
    for directive in replace_directives(controller_go_mod):
        match = _REPLACE_LINE.match(directive)
        if match is None:
            raise ValueError(f"{ctrl.name}: cannot parse replace directive {directive!r}")
        old, _old_version, new, new_version = match.groups()
        if old == ctrl.api_module and new.startswith("."):
            continue
        if new_version is None:
            raise ValueError(f"{ctrl.name}: local replace {directive!r} cannot be used from a wrapper")
        replaces.append(directive)
    replaces.insert(0, f"{ctrl.api_module} => {ctrl.api_module} {ctrl.version}")
    return replaces + list(ctrl.substitutes)


def wrapper_go_mod(ctrl: FluxController, controller_go_mod: str) -> str:
    lines = [
        f"module gitcanary.local/fluxbuild/{ctrl.name}",
        "",
        f"go {GO_DIRECTIVE}",
        "",
        f"require {ctrl.module} {ctrl.version}",
        "",
        "replace (",
    ]
    lines += [f"\t{r}" for r in wrapper_replaces(ctrl, controller_go_mod)]
    lines += [")", ""]
    return "\n".join(lines)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    env["GOFLAGS"] = "-mod=mod"
    return env


def _run(cmd: list[str], cwd: Path, progress: Progress) -> str:
    progress(f"$ {' '.join(cmd)}  (in {cwd})")
    proc = subprocess.run(cmd, cwd=cwd, env=_go_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-30:])
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def _controller_go_mod(ctrl: FluxController, work: Path, progress: Progress) -> str:
    """Download the controller module (verified against go.sum) and return its go.mod."""
    out = _run(["go", "mod", "download", "-json", f"{ctrl.module}@{ctrl.version}"], work, progress)
    info = json.loads(out)
    if info.get("Error"):
        raise RuntimeError(f"{ctrl.module}@{ctrl.version}: {info['Error']}")
    return Path(info["GoMod"]).read_text()


def _record_time(name: str, seconds: float) -> None:
    path = flux_root() / "build-times.json"
    times: dict[str, float] = json.loads(path.read_text()) if path.exists() else {}
    times[name] = round(seconds, 1)
    path.write_text(json.dumps(times, indent=2) + "\n")


def build_controller(ctrl: FluxController, progress: Progress = _stderr) -> Path:
    """Build one controller into the cache (skipped when cached); return the binary."""
    binary = flux_bin_dir() / ctrl.name
    if binary.exists():
        return binary
    started = time.monotonic()
    work = flux_root() / "wrappers" / ctrl.name
    work.mkdir(parents=True, exist_ok=True)
    # A bootstrap go.mod lets ``go mod download`` run with the pinned sums in place.
    (work / "go.mod").write_text(f"module gitcanary.local/fluxbuild/{ctrl.name}\n\ngo {GO_DIRECTIVE}\n")
    if ctrl.pinned_sums:
        (work / "go.sum").write_text("\n".join(ctrl.pinned_sums) + "\n")
    controller_go_mod = _controller_go_mod(ctrl, work, progress)
    (work / "go.mod").write_text(wrapper_go_mod(ctrl, controller_go_mod))
    flux_bin_dir().mkdir(parents=True, exist_ok=True)
    # No ``go mod tidy``: it would also resolve the controllers' test-only modules,
    # some of which the module proxy does not serve. ``-mod=mod`` lets ``go build``
    # record exactly the modules the binary needs.
    progress(f"building {ctrl.name} {ctrl.version} (first run downloads modules; cold builds take minutes)")
    tmp = flux_bin_dir() / f".{ctrl.name}.tmp"
    _run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(tmp), ctrl.module], work, progress)
    tmp.rename(binary)
    elapsed = time.monotonic() - started
    _record_time(ctrl.name, elapsed)
    progress(f"built {ctrl.name} {ctrl.version} in {elapsed:.0f}s")
    return binary


@dataclass(frozen=True)
class FluxBinaries:
    source_controller: Path
    kustomize_controller: Path
    image_reflector_controller: Path
    image_automation_controller: Path
    helm_controller: Path


def ensure_flux_binaries(progress: Progress = _stderr) -> FluxBinaries:
    """Every controller, building what is missing; the first failure is raised."""
    paths = {c.name: build_controller(c, progress) for c in CONTROLLERS}
    return FluxBinaries(
        source_controller=paths["source-controller"],
        kustomize_controller=paths["kustomize-controller"],
        image_reflector_controller=paths["image-reflector-controller"],
        image_automation_controller=paths["image-automation-controller"],
        helm_controller=paths["helm-controller"],
    )


def build_all(progress: Progress = _stderr) -> dict[str, str]:
    """Try every controller; return name -> binary path or the error (for the CLI)."""
    results: dict[str, str] = {}
    for ctrl in CONTROLLERS:
        try:
            results[ctrl.name] = str(build_controller(ctrl, progress))
        except (RuntimeError, ValueError, OSError) as exc:
            results[ctrl.name] = f"FAILED: {exc}"
            progress(f"FAILED {ctrl.name}: {exc}")
    return results


if __name__ == "__main__":
    outcome = build_all()
    print(json.dumps(outcome, indent=2))
    sys.exit(1 if any(v.startswith("FAILED") for v in outcome.values()) else 0)
