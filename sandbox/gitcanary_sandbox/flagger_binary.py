"""Build Flagger itself, the oracle the parity tests and the peer benchmark run gitcanary against.

Flagger's go.mod carries no ``replace`` directive (checked before building, with the same
parser the Flux controller builds use), so a wrapper module that only requires
``github.com/fluxcd/flagger`` at the release resolves exactly Flagger's own dependency graph;
``go build`` inside it builds ``cmd/flagger``. As for the image controllers in
``flux_binaries.py``, the module's ``h1:`` hashes are pinned here and pre-seeded into the
wrapper's go.sum, so the go command verifies the download against them and a module that
changed under the same version is refused instead of built.

The link flags are those of Flagger's release build: ``pkg/version.REVISION`` is the commit
of the release tag (``VERSION`` is a constant in the source).

Invariants:
- the binary lands in ``~/.cache/gitcanary/flagger-<FLAGGER_VERSION>/bin/flagger`` and a
  cached binary is never rebuilt; concurrent builds each write a private file and rename it;
- ``CGO_ENABLED=0``; every go command has a deadline (that of ``helm_binary``);
- the build's wall time is written to ``build-time.json`` next to ``bin/``.

Optional: nothing in the sandbox starts Flagger. A caller that needs it calls
``ensure_flagger()`` and fails with the ``FlaggerBuildError`` it raises, which names the reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gitcanary_sandbox import upstream_crds
from gitcanary_sandbox.binaries import cache_root
from gitcanary_sandbox.flux_binaries import GO_DIRECTIVE, Progress, replace_directives
from gitcanary_sandbox.helm_binary import HelmBuildError
from gitcanary_sandbox.helm_binary import _go_env as _module_env
from gitcanary_sandbox.helm_binary import _run as _run_go

# The release whose CRDs the sandbox installs (upstream_crds), so the binary serves those CRDs.
_UPSTREAM = upstream_crds.SETS["flagger"][0]
FLAGGER_MODULE = _UPSTREAM.path
FLAGGER_VERSION = _UPSTREAM.version
# The commit the v1.44.0 tag points at (the module proxy's Origin.Hash).
FLAGGER_REVISION = "66589eb129960d2df3e645bac70281a5900413ab"
# go.sum lines for the module at FLAGGER_VERSION.
FLAGGER_SUMS = (
    _UPSTREAM.go_sum_line(),
    f"{FLAGGER_MODULE} {FLAGGER_VERSION}/go.mod h1:RDxmJbgO8zI4bK9Vhibs/SXar6L+QAP4D7bCeZqpXRs=",
)


class FlaggerBuildError(RuntimeError):
    """The module could not be fetched, its hash is not the pinned one, or the build failed."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def flagger_root() -> Path:
    return cache_root() / f"flagger-{FLAGGER_VERSION}"


def flagger_path() -> Path:
    return flagger_root() / "bin" / "flagger"


def ldflags() -> str:
    return f"-s -w -X {FLAGGER_MODULE}/pkg/version.REVISION={FLAGGER_REVISION}"


def wrapper_go_mod() -> str:
    return f"module gitcanary.local/flaggerbuild\n\ngo {GO_DIRECTIVE}\n\nrequire {FLAGGER_MODULE} {FLAGGER_VERSION}\n"


def check_no_replaces(flagger_go_mod: str) -> None:
    """A ``replace`` in Flagger's go.mod would not apply in the wrapper: refuse to build without it."""
    found = replace_directives(flagger_go_mod)
    if found:
        raise FlaggerBuildError(
            f"{FLAGGER_MODULE}@{FLAGGER_VERSION}: go.mod has replace directives the wrapper "
            f"would drop: {'; '.join(found)}"
        )


def _env() -> dict[str, str]:
    return {**_module_env(), "GOFLAGS": "-mod=mod"}


def _build(work: Path, output: Path, progress: Progress) -> None:
    (work / "go.mod").write_text(wrapper_go_mod())
    (work / "go.sum").write_text("\n".join(FLAGGER_SUMS) + "\n")
    info = json.loads(
        _run_go(
            ["go", "mod", "download", "-json", f"{FLAGGER_MODULE}@{FLAGGER_VERSION}"], work, _env(), progress
        )
    )
    if info.get("Error"):
        raise FlaggerBuildError(f"{FLAGGER_MODULE}@{FLAGGER_VERSION}: {info['Error']}")
    check_no_replaces(Path(info["GoMod"]).read_text())
    progress(f"building flagger {FLAGGER_VERSION} (first run downloads modules; cold builds take minutes)")
    cmd = [
        "go",
        "build",
        "-trimpath",
        "-ldflags",
        ldflags(),
        "-o",
        str(output),
        f"{FLAGGER_MODULE}/cmd/flagger",
    ]
    _run_go(cmd, work, _env(), progress)


def ensure_flagger(progress: Progress = _stderr) -> Path:
    """The flagger binary, built into the cache when missing; raises FlaggerBuildError."""
    binary = flagger_path()
    if binary.exists():
        return binary
    started = time.monotonic()
    binary.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="flagger-build-", dir=flagger_root()) as scratch:
        work = Path(scratch)
        output = work / "flagger"
        try:
            _build(work, output, progress)
        except HelmBuildError as exc:  # the shared go runner's error: same reason, our type
            raise FlaggerBuildError(str(exc)) from exc
        except (OSError, ValueError, KeyError, subprocess.SubprocessError) as exc:
            raise FlaggerBuildError(f"{FLAGGER_MODULE}@{FLAGGER_VERSION}: {exc}") from exc
        output.rename(binary)
    elapsed = time.monotonic() - started
    (flagger_root() / "build-time.json").write_text(json.dumps({"flagger": round(elapsed, 1)}) + "\n")
    progress(f"built flagger {FLAGGER_VERSION} in {elapsed:.0f}s")
    return binary


if __name__ == "__main__":
    try:
        print(ensure_flagger())
    except FlaggerBuildError as error:
        _stderr(f"flagger: {error}")
        sys.exit(1)
