"""Build ``hey`` (github.com/rakyll/hey), the HTTP load generator Flagger's load tester image
ships and its ``type: cmd`` webhooks call, from its published Go module.

The module is downloaded with ``go mod download`` (verified against the checksum database) and
its ``h1:`` hash is compared with the one pinned here before ``go install`` builds it.

Invariants:
- the binary lands in ``~/.cache/gitcanary/hey-<HEY_VERSION>/bin/hey``; a cached one is reused;
- ``CGO_ENABLED=0``; the build takes about 20 s cold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from gitcanary_sandbox.binaries import cache_root

HEY_MODULE = "github.com/rakyll/hey"
HEY_VERSION = "v0.1.4"
HEY_H1 = "h1:hhc8GIqHN4+rPFZvkM9lkCQGi7da0sINM83xxpFkbPA="

Progress = Callable[[str], None]


class HeyBuildError(RuntimeError):
    """The module could not be fetched, its hash is not the pinned one, or the build failed."""


def hey_path() -> Path:
    return cache_root() / f"hey-{HEY_VERSION}" / "bin" / "hey"


def _run(cmd: list[str], cwd: Path, env: dict[str, str], progress: Progress) -> str:
    progress(f"$ {' '.join(cmd)}")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-30:])
        raise HeyBuildError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def ensure_hey(progress: Progress = lambda m: print(m, file=sys.stderr, flush=True)) -> Path:
    """The hey binary, built into the cache when missing; raises HeyBuildError."""
    binary = hey_path()
    if binary.exists():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CGO_ENABLED": "0", "GO111MODULE": "on"}
    env.pop("GOFLAGS", None)
    with tempfile.TemporaryDirectory(prefix="hey-build-", dir=binary.parent.parent) as scratch:
        work = Path(scratch)
        info = json.loads(
            _run(["go", "mod", "download", "-json", f"{HEY_MODULE}@{HEY_VERSION}"], work, env, progress)
        )
        if info.get("Error") or info.get("Sum") != HEY_H1:
            raise HeyBuildError(
                f"{HEY_MODULE}@{HEY_VERSION}: {info.get('Error') or 'hash ' + str(info.get('Sum'))} (pinned {HEY_H1})"
            )
        progress(f"building hey {HEY_VERSION}")
        _run(
            ["go", "install", "-trimpath", "-ldflags=-s -w", f"{HEY_MODULE}@{HEY_VERSION}"],
            work,
            {**env, "GOBIN": str(work / "bin")},
            progress,
        )
        (work / "bin" / "hey").rename(binary)
    return binary


if __name__ == "__main__":
    print(ensure_hey())
