"""`gitcanary status` against the sandbox's real API server (our CRDs are installed by the sandbox)."""

from __future__ import annotations

import json

import yaml
from click.testing import CliRunner

from controller.cli.main import main
from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary


def test_status_lists_canaries_with_their_status(sandbox: SandboxClient, namespace: str) -> None:
    for name in ("web", "api"):
        sandbox.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(canary(namespace, name, step_weight=10)))
    status = {
        "status": {
            "phase": "Progressing",
            "canaryWeight": 30,
            "failedChecks": 2,
            "iterations": 0,
            "lastTransitionTime": "2024-05-01T10:00:00Z",
            "gitops": {
                "source": {"revision": "main@sha1:0123456789abcdef"},
                "lastWriteBack": {"result": "applied", "commit": "fedcba9876543210"},
            },
        }
    }
    sandbox.kubectl(
        "patch", "canaries.gitcanary.io", "web", "-n", namespace,
        "--subresource=status", "--type=merge", "-p", json.dumps(status),
    )  # fmt: skip
    runner = CliRunner()
    kubeconfig = str(sandbox.kubeconfig)

    result = runner.invoke(
        main, ["status", "--kubeconfig", kubeconfig, "-n", namespace], catch_exceptions=False
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "NAMESPACE", "NAME", "STATUS", "WEIGHT", "FAILED", "INCONCLUSIVE", "LAST-WRITE-BACK", "REVISION",
        "LAST-TRANSITION",
    ]  # fmt: skip
    assert [line.split() for line in lines[1:]] == [
        [namespace, "api", "-", "0", "0", "0", "-", "-", "-"],
        [namespace, "web", "Progressing", "30", "2", "0", "applied", "fedcba9", "main@sha1:0123456789abcdef",
         "2024-05-01T10:00:00Z"],
    ]  # fmt: skip

    everywhere = runner.invoke(main, ["status", "--kubeconfig", kubeconfig, "-A"], catch_exceptions=False)
    assert everywhere.exit_code == 0
    assert {(row.split()[0], row.split()[1]) for row in everywhere.stdout.splitlines()[1:]} >= {
        (namespace, "api"),
        (namespace, "web"),
    }

    empty = runner.invoke(main, ["status", "--kubeconfig", kubeconfig, "-n", f"{namespace}-none"])
    assert (empty.exit_code, empty.stdout) == (0, "")
    assert f"No canaries found in namespace {namespace}-none." in empty.stderr

    both = runner.invoke(main, ["status", "--kubeconfig", kubeconfig, "-n", namespace, "-A"])
    assert both.exit_code == 2
