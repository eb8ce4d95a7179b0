"""Shared fixtures.

Integration tests (everything under tests/integration/) get a real sandbox,
started once per session in a temporary directory and stopped at the end.
A test that needs a part that failed to start fails with the recorded reason;
nothing is skipped silently.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitcanary_sandbox import environment
from gitcanary_sandbox.client import SandboxClient


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxClient]:
    base = Path(tempfile.mkdtemp(prefix="gitcanary-sandbox-"))
    state = environment.up(base, extra_crd_dirs=(Path(__file__).parent / "crds",))
    try:
        yield SandboxClient(state)
    finally:
        environment.down(base, quiet=True)
        if not os.environ.get("GITCANARY_KEEP_SANDBOX"):
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def kubeconfig(sandbox: SandboxClient) -> Path:
    return sandbox.kubeconfig


@pytest.fixture
def namespace(sandbox: SandboxClient) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    sandbox.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        sandbox.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def flux_sandbox() -> Iterator[SandboxClient]:
    """A second sandbox, in its own directory, that also runs the real Flux controllers
    and a local OCI registry (kept apart so Flux never acts on other tests' objects)."""
    base = Path(tempfile.mkdtemp(prefix="gitcanary-flux-sandbox-"))
    state = environment.up(base, with_flux=True)
    try:
        yield SandboxClient(state)
    finally:
        environment.down(base, quiet=True)
        if not os.environ.get("GITCANARY_KEEP_SANDBOX"):
            shutil.rmtree(base, ignore_errors=True)
