"""Built-in manual gates against the real controller process: promote and abort from the CLI.

Restart safety is shown by where the state lives: the controller keeps none. Every decision
below is made by changing the Canary's annotations only (through ``gitcanary`` commands),
and the controller, which re-reads the Canary at every tick, follows them. The session
controller process is shared, so it is not restarted here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from controller.cli.main import main
from controller.hooks.gates import GATE_ANNOTATIONS, GATE_URL, ROLLBACK_ANNOTATION, ROLLBACK_URL
from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary, deployment
from tests.eventually import eventually
from tests.integration.operator.test_canary_lifecycle import _apply, _get, _wait

PROMOTION = GATE_ANNOTATIONS["confirm-promotion"]
CANARIES = "canaries.gitcanary.io"


def _gated_canary(ns: str, name: str, iterations: int, hooks: list[dict[str, Any]]) -> dict[str, Any]:
    obj = canary(ns, name, iterations=iterations, template=None)
    obj["spec"]["analysis"]["webhooks"] = hooks
    return obj


def _cli(sandbox: SandboxClient, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--kubeconfig", str(sandbox.kubeconfig)])


def _status(sandbox: SandboxClient, ns: str, name: str = "podinfo") -> dict[str, Any]:
    return _get(sandbox, CANARIES, ns, name).get("status") or {}


def _annotations(sandbox: SandboxClient, ns: str, name: str = "podinfo") -> dict[str, str]:
    return _get(sandbox, CANARIES, ns, name)["metadata"].get("annotations") or {}


def _canary_events(sandbox: SandboxClient, ns: str) -> list[str]:
    items = json.loads(sandbox.kubectl("get", "events", "-n", ns, "-o", "json"))["items"]
    return [e["message"] for e in items if e["involvedObject"]["kind"] == "Canary"]


def _start(sandbox: SandboxClient, ns: str, log: Path, obj: dict[str, Any]) -> None:
    _apply(sandbox, deployment(ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0"), obj)
    _wait("Initialized", lambda: _status(sandbox, ns).get("phase") == "Initialized", 60, log)
    sandbox.kubectl(
        "set", "image", "-n", ns, "deployment/podinfo", "podinfod=ghcr.io/stefanprodan/podinfo:6.0.1"
    )


def _primary_image(sandbox: SandboxClient, ns: str) -> str:
    primary = _get(sandbox, "deployment", ns, "podinfo-primary")
    return str(primary["spec"]["template"]["spec"]["containers"][0]["image"])


def test_promotion_waits_for_the_gate_and_promote_releases_it(
    sandbox: SandboxClient, namespace: str, controller_process: Path
) -> None:
    hooks = [{"name": "manual-approval", "type": "confirm-promotion", "url": GATE_URL}]
    _start(sandbox, namespace, controller_process, _gated_canary(namespace, "podinfo", 1, hooks))
    _wait(
        "WaitingPromotion",
        lambda: _status(sandbox, namespace).get("phase") == "WaitingPromotion",
        90,
        controller_process,
    )
    revision = _status(sandbox, namespace)["lastAppliedSpec"]
    assert revision

    # An approval pinned to another revision does not open the gate for this one.
    pinned = _cli(
        sandbox, "gate", f"{namespace}/podinfo", "--type", "promotion", "--open", "--revision", "other"
    )
    assert pinned.exit_code == 0, pinned.output
    assert _annotations(sandbox, namespace)[PROMOTION] == "open:other"
    interval = 10.0
    time.sleep(2.5 * interval)  # at least two ticks read the pinned annotation
    assert _status(sandbox, namespace)["phase"] == "WaitingPromotion"
    assert _primary_image(sandbox, namespace).endswith(":6.0.0")

    result = _cli(sandbox, "promote", f"{namespace}/podinfo", "--revision", revision)
    assert result.exit_code == 0, result.output
    assert f"{PROMOTION}=open:{revision}" in result.output
    assert "warning" not in result.output
    # The approval is only in the Canary's metadata: nothing in the controller holds it.
    assert _annotations(sandbox, namespace)[PROMOTION] == f"open:{revision}"
    _wait(
        "Succeeded", lambda: _status(sandbox, namespace).get("phase") == "Succeeded", 90, controller_process
    )
    assert _primary_image(sandbox, namespace).endswith(":6.0.1")
    events = _canary_events(sandbox, namespace)
    assert any("waiting for promotion approval manual-approval" in e for e in events), events
    assert "Confirm-promotion check manual-approval passed" in events


def test_abort_rolls_back_a_progressing_canary_and_consumes_the_request(
    sandbox: SandboxClient, namespace: str, controller_process: Path
) -> None:
    hooks = [{"name": "manual-abort", "type": "rollback", "url": ROLLBACK_URL}]
    _start(sandbox, namespace, controller_process, _gated_canary(namespace, "podinfo", 50, hooks))
    _wait(
        "Progressing",
        lambda: _status(sandbox, namespace).get("phase") == "Progressing",
        60,
        controller_process,
    )

    result = _cli(sandbox, "abort", f"{namespace}/podinfo")
    assert result.exit_code == 0, result.output
    _wait("Failed", lambda: _status(sandbox, namespace).get("phase") == "Failed", 60, controller_process)
    _wait(
        "the rollback request to be removed",
        lambda: ROLLBACK_ANNOTATION not in _annotations(sandbox, namespace),
        20,
        controller_process,
    )
    assert _primary_image(sandbox, namespace).endswith(":6.0.0")
    # the canary is scaled down by the tick after Failed is saved
    eventually(
        "canary scaled to zero",
        lambda: _get(sandbox, "deployment", namespace, "podinfo")["spec"]["replicas"] == 0,
    )
    events = _canary_events(sandbox, namespace)
    assert "Rollback check manual-abort passed" in events, events
    assert f"Rolling back podinfo.{namespace} manual webhook invoked" in events, events


def test_abort_is_refused_without_a_builtin_rollback_hook(
    sandbox: SandboxClient, namespace: str, controller_process: Path
) -> None:
    hooks = [{"name": "manual-approval", "type": "confirm-promotion", "url": GATE_URL}]
    _apply(sandbox, _gated_canary(namespace, "ghost", 1, hooks))
    result = _cli(sandbox, "abort", f"{namespace}/ghost")
    assert result.exit_code == 2, result.output
    assert ROLLBACK_URL in result.output
    assert ROLLBACK_ANNOTATION not in _annotations(sandbox, namespace, "ghost")
    missing = _cli(sandbox, "promote", f"{namespace}/nothing-here")
    assert missing.exit_code == 2 and "not found" in missing.output, missing.output
