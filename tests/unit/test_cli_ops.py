"""Operator commands without a cluster: ``--version``, argument handling of ``retry``, ``restart``
and ``status -w``, the retry request's rules, and the watch table."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
import re
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from controller.analysis import (
    AcquireSlot,
    CanaryState,
    CheckReady,
    HookOutcome,
    Phase,
    Readiness,
    Request,
    RunWebhooks,
    ScaleCanary,
    drive,
    tick,
)
from controller.api import Canary
from controller.cli import ops as cli_ops
from controller.cli.main import main
from controller.cli.ops import RESTARTED_AT, canary_ref, restart_patch, version_line
from controller.cli.tools import status_table
from controller.cli.watch import CanaryTable
from controller.reconcile.retry_request import (
    RETRY_ANNOTATION,
    RETRY_REQUESTED,
    read_retry,
    retry_refusal,
)
from controller.reconcile.spec_mapping import analysis_spec
from tests.builders import canary

REPO = Path(__file__).resolve().parents[2]
NO_CLUSTER = {"KUBECONFIG": "/nonexistent/kubeconfig"}


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=NO_CLUSTER)


# -- --version -----------------------------------------------------------------------------


def test_version_prints_the_installed_version_and_python_without_a_cluster() -> None:
    result = run("--version")
    assert result.exit_code == 0, result.output
    expected = f"gitcanary {importlib.metadata.version('gitcanary')} (Python {platform.python_version()})"
    assert result.output == expected + "\n"
    assert re.fullmatch(r"gitcanary \d+\.\d+\.\d+\S* \(Python 3\.\d+\.\d+\S*\)\n", result.output)


def test_version_comes_from_package_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_ops, "DISTRIBUTION", "gitcanary-not-installed-anywhere")
    with pytest.raises(click.ClickException, match="package metadata for gitcanary-not-installed"):
        version_line()


def test_both_console_scripts_point_at_the_same_group() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"gitcanary": "controller.cli:main", "kubectl-gitcanary": "controller.cli:main"}
    installed = {
        e.name: e.value
        for e in importlib.metadata.entry_points(group="console_scripts")
        if e.dist is not None and e.dist.name == "gitcanary"
    }
    assert installed == scripts, "reinstall the package (pip install -e .) to get kubectl-gitcanary"


# -- argument handling -----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["retry", "restart"])
def test_retry_and_restart_need_a_canary(command: str) -> None:
    result = run(command)
    assert result.exit_code == 2
    assert "Missing argument 'NAME|NAMESPACE/NAME'" in result.output


@pytest.mark.parametrize("command", ["retry", "restart"])
@pytest.mark.parametrize("ref", ["a/b/c", "/podinfo", "test/"])
def test_retry_and_restart_refuse_malformed_references(command: str, ref: str) -> None:
    result = run(command, ref)
    assert result.exit_code == 2
    assert "expected NAME or NAMESPACE/NAME" in result.output


def test_a_reference_and_namespace_must_agree() -> None:
    result = run("retry", "test/podinfo", "-n", "other")
    assert result.exit_code == 2
    assert "names namespace test, but -n says other" in result.output


def test_canary_ref_forms() -> None:
    assert canary_ref("test/podinfo", None, None) == ("test", "podinfo")
    assert canary_ref("test/podinfo", "test", None) == ("test", "podinfo")
    assert canary_ref("podinfo", "test", None) == ("test", "podinfo")


def test_canary_ref_defaults_to_the_context_namespace(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: dev\n"
        "contexts: [{name: dev, context: {cluster: c, user: u, namespace: team-a}}]\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: u, user: {}}]\n"
    )
    assert canary_ref("podinfo", None, str(kubeconfig)) == ("team-a", "podinfo")


def test_status_timeout_needs_watch_and_must_be_positive() -> None:
    alone = run("status", "--timeout", "5")
    assert alone.exit_code == 2 and "--timeout only applies with -w/--watch" in alone.output
    zero = run("status", "-w", "--timeout", "0")
    assert zero.exit_code == 2 and "--timeout" in zero.output


def test_restart_patch_is_what_kubectl_rollout_restart_sets() -> None:
    now = dt.datetime(2024, 5, 1, 12, 30, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert restart_patch(now) == {
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2024-05-01T10:30:05Z"}}}}
    }
    assert RESTARTED_AT == "kubectl.kubernetes.io/restartedAt"


# -- the retry request ----------------------------------------------------------------------


def failed_canary(**status: Any) -> dict[str, Any]:
    obj = canary("test", "podinfo")
    obj["metadata"]["annotations"] = {RETRY_ANNOTATION: RETRY_REQUESTED}
    obj["status"] = {"phase": "Failed", "lastAppliedSpec": "rev-b", "lastPromotedSpec": "rev-a", **status}
    return obj


def test_a_failed_canary_running_the_failed_revision_can_be_retried() -> None:
    assert retry_refusal(failed_canary(), "rev-b") is None


@pytest.mark.parametrize(
    ("status", "revision", "reason"),
    [
        ({"phase": "Progressing"}, "rev-b", "the canary is Progressing: only a Failed canary"),
        ({"phase": "Succeeded"}, "rev-b", "the canary is Succeeded"),
        ({"gitops": {"pending": [{"id": "x"}]}}, "rev-b", "a write-back is pending"),
        (
            {"gitops": {"lastWriteBack": {"result": "rolled-back", "commit": "abcdef123"}}},
            "rev-b",
            "the rollback was reverted in Git (commit abcdef1)",
        ),
        ({}, "rev-a", "the target runs the primary's revision"),
    ],
)
def test_retry_is_refused_when_it_could_not_analyse_the_failed_revision(
    status: dict[str, Any], revision: str, reason: str
) -> None:
    refusal = retry_refusal(failed_canary(**status), revision)
    assert refusal is not None and reason in refusal


def test_retry_is_refused_for_a_suspended_canary() -> None:
    obj = failed_canary()
    obj["spec"]["suspend"] = True
    assert retry_refusal(obj, "rev-b") == "the canary is suspended (spec.suspend)"


def test_without_the_exact_request_value_the_state_is_untouched() -> None:
    state = CanaryState(phase=Phase.FAILED, last_applied_spec="rev-b", last_promoted_spec="rev-a")
    for value in (None, "yes", "Requested-ish"):
        obj = failed_canary()
        obj["metadata"]["annotations"] = {} if value is None else {RETRY_ANNOTATION: value}
        request = read_retry(obj, state, "rev-b")
        assert (request.state, request.requested) == (state, False)


def _answer(request: Request) -> object:
    if isinstance(request, CheckReady):
        return Readiness(True)
    if isinstance(request, AcquireSlot):
        return True
    if isinstance(request, RunWebhooks):
        return HookOutcome(True, "", "hook")
    return None


def test_an_honoured_retry_starts_the_analysis_of_the_same_revision() -> None:
    obj = failed_canary()
    state = CanaryState(phase=Phase.FAILED, last_applied_spec="rev-b", last_promoted_spec="rev-a")
    spec = analysis_spec(Canary.from_k8s(obj), "kubernetes")

    unchanged = drive(tick(spec, state, 1_000.0, "rev-b"), _answer)
    assert unchanged.state.phase is Phase.FAILED  # without a request: nothing to do

    request = read_retry(obj, state, "rev-b")
    assert request.requested and not request.refusal
    requests: list[Request] = []
    decision = drive(tick(spec, request.state, 1_000.0, "rev-b"), lambda r: requests.append(r) or _answer(r))
    assert decision.state.phase is Phase.PROGRESSING
    assert decision.state.last_applied_spec == "rev-b"
    assert (decision.state.failed_checks, decision.state.canary_weight) == (0, 0)
    assert ScaleCanary(to_zero=False) in requests


def test_a_refused_retry_keeps_the_state() -> None:
    obj = failed_canary(phase="Succeeded")
    state = CanaryState(phase=Phase.SUCCEEDED, last_applied_spec="rev-b", last_promoted_spec="rev-b")
    request = read_retry(obj, state, "rev-b")
    assert request.requested and request.state == state
    assert request.refusal.startswith("the canary is Succeeded")


# -- the watch table -----------------------------------------------------------------------


def test_the_watch_table_draws_only_changes() -> None:
    table = CanaryTable(status_table)
    web = canary("test", "web")
    table.reset([web])
    first = table.changed_text()
    assert first is not None and "web" in first
    table.apply("MODIFIED", web)
    assert table.changed_text() is None  # same text: not drawn again
    table.apply("MODIFIED", {**web, "status": {"phase": "Progressing", "canaryWeight": 10}})
    moved = table.changed_text()
    assert moved is not None and "Progressing" in moved
    table.apply("ADDED", canary("test", "api"))
    both = table.changed_text()
    assert both is not None
    assert [line.split()[1] for line in both.splitlines()[1:]] == ["api", "web"]
    table.apply("DELETED", web)
    gone = table.changed_text()
    assert gone is not None and "web" not in gone
    table.apply("BOOKMARK", {"metadata": {"resourceVersion": "9"}})
    assert table.changed_text() is None
