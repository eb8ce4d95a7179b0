"""The controller image: built daemonless from the Dockerfile, checked from the inside, pushed.

The image is built once per session (``gitcanary_sandbox.image.build``; the debootstrap base
is cached under ~/.cache/gitcanary). Its root filesystem is mounted with ``buildah mount``
(vfs: a plain directory) and commands run inside it with ``buildah run --isolation=chroot``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitcanary_sandbox import image as image_build
from gitcanary_sandbox.client import SandboxClient
from gitcanary_sandbox.registry import list_tags

Obj = dict[str, object]


@pytest.fixture(scope="module")
def built() -> image_build.BuiltImage:
    return image_build.build()


@pytest.fixture(scope="module")
def container(built: image_build.BuiltImage) -> Iterator[str]:
    name = subprocess.run(
        image_build.buildah("from", "--pull-never", built.reference), capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        yield name
    finally:
        subprocess.run(image_build.buildah("rm", name), capture_output=True, check=False)


@pytest.fixture(scope="module")
def rootfs(container: str) -> Path:
    out = subprocess.run(image_build.buildah("mount", container), capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def run_inside(container: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        image_build.buildah("run", "--isolation=chroot", container, "--", *cmd),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _config(built: image_build.BuiltImage) -> dict[str, object]:
    out = subprocess.run(
        image_build.buildah("inspect", "--type=image", built.reference), capture_output=True, text=True, check=True
    ).stdout
    config: dict[str, object] = json.loads(out)["OCIv1"]["config"]
    return config


def test_the_image_runs_as_a_non_root_user(built: image_build.BuiltImage) -> None:
    config = _config(built)
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/opt/gitcanary/bin/gitcanary"]
    labels = config["Labels"]
    assert isinstance(labels, dict)
    assert labels["io.gitcanary.base.sha256"] == built.base_sha256
    assert labels["org.opencontainers.image.version"] == image_build.version()


def test_the_image_holds_the_product_and_no_sandbox_or_test_code(rootfs: Path) -> None:
    (site,) = (rootfs / "opt/gitcanary/lib").glob("python3*/site-packages")
    assert (site / "controller" / "operator.py").is_file()
    shipped = {p.name for p in site.iterdir()}
    assert not {"sandbox", "gitcanary_sandbox", "tests", "bench", "hack"} & shipped
    assert not (site / "controller" / "sandbox").exists()
    assert not (site / "controller" / "demo.py").exists()


def test_the_image_has_what_git_write_back_and_signing_need(rootfs: Path, container: str) -> None:
    for tool in ("git", "ssh", "gpg"):
        assert (rootfs / "usr/bin" / tool).exists(), tool
    # Git timeouts kill the whole process group from Python: no procps in the image, and none needed.
    assert not (rootfs / "usr/bin/pgrep").exists()
    killed = run_inside(
        container,
        "/opt/gitcanary/bin/python",
        "-c",
        "import os, signal, subprocess\n"
        "p = subprocess.Popen(['sh', '-c', 'sleep 60 & sleep 60'], start_new_session=True)\n"
        "os.killpg(p.pid, signal.SIGKILL)\n"
        "print(p.wait())",
    )
    assert killed.returncode == 0, killed.stderr
    assert killed.stdout.strip() == "-9"


def test_gitcanary_version_runs_in_the_image(container: str) -> None:
    result = run_inside(container, "/opt/gitcanary/bin/gitcanary", "--version")
    assert result.returncode == 0, result.stderr
    assert image_build.version() in result.stdout


def test_the_image_is_pushed_to_the_sandbox_registry(
    built: image_build.BuiltImage, flux_sandbox: SandboxClient
) -> None:
    registry = flux_sandbox.state.registry_url
    pushed = image_build.push(built.reference, registry)
    assert pushed.endswith(f"/gitcanary/gitcanary:{image_build.version()}")
    assert image_build.version() in list_tags(registry, "gitcanary/gitcanary")
