"""Router tests drive the adapters method by method: their namespaces are outside the session
controller's ``--namespace=t-*`` pattern, so a running ``gitcanary run`` never reconciles the
Canary objects they apply (it would set routes back under the test's feet)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from gitcanary_sandbox.client import SandboxClient


@pytest.fixture
def namespace(sandbox: SandboxClient) -> Iterator[str]:
    name = f"rt-{uuid.uuid4().hex[:8]}"
    sandbox.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        sandbox.kubectl("delete", "namespace", name, "--wait=false", check=False)
