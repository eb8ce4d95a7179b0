"""Build the controller image without a Docker daemon: debootstrap, pip wheels, ``buildah bud``.

No registry serves a base image here, so the base is made from Debian itself:
``debootstrap`` fetches a minimal bookworm from the Debian archive, verifying the
archive's signed Release file with the keyring, plus the packages the controller
needs at run time (python3, git, openssh-client, gnupg, ca-certificates). It is
tarred once (sorted names, fixed mtimes, numeric owners) and cached under
``~/.cache/gitcanary/image-base-<key>/``, where the key hashes the suite and the
package list. The tar's sha256 is the image's base pin: it is passed to the build
and recorded as the ``io.gitcanary.base.sha256`` label.

The Dockerfile at the root of the repository is then built by ``buildah bud`` with
the ``vfs`` storage driver and ``chroot`` isolation (no daemon, no overlay mounts),
from a context holding the base tar and the wheels of the project and its
dependencies (``pip wheel``). Only the ``controller`` package ships: the sandbox
and the tests live outside it.

Usage: ``python -m gitcanary_sandbox.image [--push REGISTRY]`` prints the image
reference (and the pushed reference with ``--push``).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitcanary_sandbox.binaries import cache_root

REPO = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "git", "openssh-client", "gnupg", "ca-certificates")
# Trimmed from the base after debootstrap: documentation and package lists, not needed to run.
BASE_PRUNE = ("var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info", "var/cache/apt")
IMAGE_NAME = "localhost/gitcanary/gitcanary"

Progress = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def version() -> str:
    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])


def _run(cmd: list[str], progress: Progress, cwd: Path | None = None, timeout: float = 1800) -> str:
    progress(f"$ {' '.join(cmd)}")
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-30:])
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def base_key() -> str:
    material = json.dumps({"suite": SUITE, "packages": BASE_PACKAGES, "prune": BASE_PRUNE, "v": 1})
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def base_tar(progress: Progress = _stderr) -> Path:
    """The cached base root filesystem tar, built by debootstrap on first use."""
    root = cache_root() / f"image-base-{SUITE}-{base_key()}"
    tar = root / "base.tar"
    if tar.exists():
        return tar
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is missing: ./scripts/bootstrap.sh installs it")
    work = root / "rootfs.tmp"
    shutil.rmtree(work, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    include = ",".join(BASE_PACKAGES)
    _run(["debootstrap", "--variant=minbase", f"--include={include}", SUITE, str(work), MIRROR], progress)
    for rel in BASE_PRUNE:
        shutil.rmtree(work / rel, ignore_errors=True)
    partial = root / "base.tar.tmp"
    _run(
        [
            "tar", "--sort=name", "--mtime=@0", "--numeric-owner", "--xattrs",
            "-C", str(work), "-cf", str(partial), ".",
        ],
        progress,
    )
    partial.replace(tar)
    shutil.rmtree(work, ignore_errors=True)
    return tar


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class BuiltImage:
    reference: str
    base_sha256: str


def buildah(*args: str) -> list[str]:
    """A buildah command line with the project's own storage (vfs, no daemon, no system store)."""
    store = cache_root() / "buildah"
    return [
        "buildah",
        "--storage-driver=vfs",
        f"--root={store / 'root'}",
        f"--runroot={store / 'run'}",
        *args,
    ]


def source_digest() -> str:
    """A sha256 over everything the image is built from in this repository."""
    digest = hashlib.sha256()
    files = [REPO / "Dockerfile", REPO / "pyproject.toml", REPO / "README.md"]
    files += sorted(p for p in (REPO / "controller").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _labels(reference: str) -> dict[str, str]:
    proc = subprocess.run(buildah("inspect", "--type=image", reference), capture_output=True, text=True)
    if proc.returncode != 0:
        return {}
    labels = json.loads(proc.stdout)["OCIv1"]["config"].get("Labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def build(progress: Progress = _stderr) -> BuiltImage:
    """Build the image from the repository's Dockerfile; return its local reference.

    One build at a time (a file lock: test workers may ask together), and none when the image
    already carries the digest of the same sources and base.
    """
    if shutil.which("buildah") is None:
        raise RuntimeError("buildah is missing: ./scripts/bootstrap.sh installs it")
    reference = f"{IMAGE_NAME}:{version()}"
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / "image-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        base = base_tar(progress)
        base_sha, source_sha = sha256_file(base), source_digest()
        labels = _labels(reference)
        if labels.get("io.gitcanary.base.sha256") == base_sha and labels.get("io.gitcanary.source.sha256") == source_sha:
            progress(f"{reference} is up to date (sources {source_sha[:12]})")
            return BuiltImage(reference, base_sha)
        context = Path(tempfile.mkdtemp(prefix="image-context-", dir=cache_root()))
        try:
            (context / "wheels").mkdir()
            os.link(base, context / "base.tar")
            shutil.copy(REPO / "Dockerfile", context / "Dockerfile")
            wheel = [sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(context / "wheels"), str(REPO)]
            _run(wheel, progress)
            _run(
                buildah(
                    "bud", "--isolation=chroot", "--layers=false",
                    f"--build-arg=BASE_SHA256={base_sha}", f"--build-arg=SOURCE_SHA256={source_sha}",
                    f"--build-arg=VERSION={version()}",
                    "-t", reference, "-f", str(context / "Dockerfile"), str(context),
                ),
                progress,
            )
        finally:
            shutil.rmtree(context, ignore_errors=True)
    return BuiltImage(reference, base_sha)


def push(reference: str, registry: str, progress: Progress = _stderr) -> str:
    """Push to a plain-HTTP registry (the sandbox's); return the pushed reference."""
    host = registry.removeprefix("http://").removeprefix("https://").rstrip("/")
    target = f"{host}/gitcanary/gitcanary:{reference.rsplit(':', 1)[1]}"
    _run(buildah("push", "--tls-verify=false", reference, f"docker://{target}"), progress)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--push", metavar="REGISTRY", help="also push to this plain-HTTP registry")
    args = parser.parse_args()
    image = build()
    print(image.reference)
    if args.push:
        print(push(image.reference, args.push))


if __name__ == "__main__":
    main()
