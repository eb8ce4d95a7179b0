"""A real gitcanary controller process against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gitcanary_sandbox.client import SandboxClient
from tests.integration.controller_run import running_controller


@pytest.fixture(scope="session")
def controller_process(sandbox: SandboxClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    sandbox.require("crds")
    sandbox.require("prometheus")
    log = tmp_path_factory.mktemp("controller") / "controller.log"
    # Only the `namespace` fixture's namespaces: tests that run their own controller
    # (test_resilience.py) use other names, so two controllers never share a Canary.
    with running_controller(sandbox, log, "t-*"):
        yield log
