"""Outcomes reach Git: a rollback reverts and quarantines, a promotion pins, exactly once.

Real parts: the sandbox apiserver with the upstream Flux CRDs, the controller process, Prometheus,
and the smart-HTTP git remote with basic auth (credentials from the GitRepository's secretRef).
Flux controllers are not running here; the test plays Flux's part by applying the manifest
that Git holds and by setting the Kustomization's lastAppliedRevision.
"""

from __future__ import annotations

import json
from pathlib import Path

from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary, metric_template
from tests.integration.operator.fleet import DEPLOYMENT_YAML, POLICY_YAML, PRODUCTION_YAML
from tests.integration.operator.fleet import askpass_env as _askpass
from tests.integration.operator.fleet import canary_status as _canary_status
from tests.integration.operator.fleet import flux_applied_deployment as _flux_applied_deployment
from tests.integration.operator.fleet import flux_applied_revision as _flux_applied_revision
from tests.integration.operator.fleet import flux_objects as _flux_objects
from tests.integration.operator.fleet import run_git as _git
from tests.integration.operator.fleet import seed_repo as _seed_repo
from tests.integration.operator.fleet import wait_errors as _wait_errors
from tests.integration.operator.test_canary_lifecycle import _apply, _wait

# The fleet helpers keep their former names here: other write-back tests import them from this module.
__all__ = [
    "DEPLOYMENT_YAML",
    "POLICY_YAML",
    "PRODUCTION_YAML",
    "_askpass",
    "_canary_status",
    "_flux_applied_deployment",
    "_flux_applied_revision",
    "_flux_objects",
    "_git",
    "_seed_repo",
    "_wait_errors",
]


def test_rollback_reverts_and_quarantines_then_promotion_pins(
    sandbox: SandboxClient, namespace: str, controller_process: Path, tmp_path: Path
) -> None:
    ns, git = namespace, sandbox.git_remotes()
    env = _askpass(tmp_path, git)
    work = _seed_repo(git, tmp_path, ns, env)
    sha = _git("rev-parse", "HEAD", cwd=work, env=env).strip()
    _flux_objects(sandbox, ns, git, sha)

    sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.0)
    the_canary = canary(ns, "podinfo", iterations=2, threshold=2)
    # Markers are looked up under spec.gitops.path, which must stay inside the Kustomization's
    # path (./<ns>, which also holds the production overlay's $gitcanary pin).
    the_canary["spec"]["gitops"] = {"path": f"./{ns}"}
    _apply(
        sandbox,
        _flux_applied_deployment(ns, "ghcr.io/stefanprodan/podinfo:6.0.0"),
        metric_template(ns, "error-rate", sandbox.state.prometheus_url),
        the_canary,
    )
    _wait(
        "Initialized",
        lambda: _canary_status(sandbox, ns).get("phase") == "Initialized",
        60,
        controller_process,
    )

    # Flux applies 6.0.1 from Git; it fails.
    sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.4)
    _wait_errors(sandbox, ns, lambda v: v > 5)
    _apply(sandbox, _flux_applied_deployment(ns, "ghcr.io/stefanprodan/podinfo:6.0.1"))
    _wait("Failed", lambda: _canary_status(sandbox, ns).get("phase") == "Failed", 120, controller_process)
    written = _wait(
        "the rollback write-back",
        lambda: (
            (_canary_status(sandbox, ns).get("gitops") or {}).get("lastWriteBack", {}).get("result")
            == "rolled-back"
            and _canary_status(sandbox, ns)["gitops"]
        ),
        60,
        controller_process,
    )
    assert not written.get("pending"), written
    commit = written["lastWriteBack"]["commit"]

    _git("pull", "-q", "origin", "main", cwd=work, env=env)
    deployment_text = (work / ns / "podinfo" / "deployment.yaml").read_text()
    assert deployment_text == DEPLOYMENT_YAML.format(ns=ns, tag="6.0.0"), "only the image scalar changed"
    assert (work / ns / "policy.yaml").read_text() == POLICY_YAML.replace('">=6.0.0"', '">=6.0.0, != 6.0.1"')
    message = _git("log", "-1", "--format=%B", commit, cwd=work, env=env)
    assert f"Gitcanary-Canary: {ns}/podinfo" in message
    assert "Gitcanary-Result: rolled-back" in message
    assert "Gitcanary-Image: ghcr.io/stefanprodan/podinfo:6.0.1 -> 6.0.0" in message
    assert f"Gitcanary-Source: main@sha1:{sha}" in message
    assert "Gitcanary-Intent: " in message
    assert git["http_password"] not in message
    assert written["source"]["url"] == git["http_url"] and written["source"]["path"] == f"./{ns}"

    # Image automation proposes 6.0.1 again on top of the revert (it read the ImagePolicy before
    # the quarantine reached the cluster), and Flux applies that commit: the target keeps 6.0.1, so
    # no new revision is seen. The rollback is written back again, once.
    (work / ns / "podinfo" / "deployment.yaml").write_text(DEPLOYMENT_YAML.format(ns=ns, tag="6.0.1"))
    _git(
        "-c",
        "user.name=fluxcdbot",
        "-c",
        "user.email=flux@example.com",
        "commit",
        "-qam",
        "6.0.1",
        cwd=work,
        env=env,
    )
    _git("push", "-q", "origin", "HEAD:main", cwd=work, env=env)
    reproposed = _git("rev-parse", "HEAD", cwd=work, env=env).strip()
    _flux_applied_revision(sandbox, ns, reproposed)
    again = _wait(
        "the second rollback write-back",
        lambda: (
            (w := (_canary_status(sandbox, ns).get("gitops") or {}).get("lastWriteBack", {})).get("commit")
            not in (None, commit)
            and w
        ),
        90,
        controller_process,
    )
    assert again["result"] == "rolled-back", again
    _git("pull", "-q", "origin", "main", cwd=work, env=env)
    assert (work / ns / "podinfo" / "deployment.yaml").read_text() == DEPLOYMENT_YAML.format(
        ns=ns, tag="6.0.0"
    )
    message = _git("log", "-1", "--format=%B", again["commit"], cwd=work, env=env)
    assert f"Gitcanary-Source: main@sha1:{reproposed}" in message, message
    assert _git("rev-parse", "HEAD^", cwd=work, env=env).strip() == reproposed
    events = [
        e["message"]
        for e in json.loads(sandbox.kubectl("get", "events", "-n", ns, "-o", "json"))["items"]
        if e["reason"] == "RollbackRecheck"
    ]
    assert len(events) == 1 and reproposed in events[0], events
    assert _canary_status(sandbox, ns)["phase"] == "Failed"
    commits_after_rollback = _git("rev-list", "--count", "HEAD", cwd=work, env=env)

    # Flux applies the reverted revision: equal to the primary, so no new analysis runs.
    _apply(sandbox, _flux_applied_deployment(ns, "ghcr.io/stefanprodan/podinfo:6.0.0"))
    # A healthy 6.0.2 arrives and is promoted and pinned.
    sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.0)
    _wait_errors(sandbox, ns, lambda v: v < 0.01)
    _apply(sandbox, _flux_applied_deployment(ns, "ghcr.io/stefanprodan/podinfo:6.0.2"))
    _wait(
        "Succeeded", lambda: _canary_status(sandbox, ns).get("phase") == "Succeeded", 120, controller_process
    )
    _wait(
        "the promotion write-back",
        lambda: (
            (_canary_status(sandbox, ns).get("gitops") or {}).get("lastWriteBack", {}).get("result")
            == "promoted"
        ),
        60,
        controller_process,
    )
    _git("pull", "-q", "origin", "main", cwd=work, env=env)
    assert (work / ns / "production" / "kustomization.yaml").read_text() == PRODUCTION_YAML.format(
        ns=ns
    ).replace("newTag: 6.0.0", "newTag: 6.0.2")
    record = (work / ".gitcanary" / ns / "podinfo.txt").read_text()
    assert "result: promoted" in record and "image: ghcr.io/stefanprodan/podinfo:6.0.2" in record
    # Exactly once: one commit per decision, none repeated by later ticks.
    assert int(_git("rev-list", "--count", "HEAD", cwd=work, env=env)) == int(commits_after_rollback) + 1
    applied = _canary_status(sandbox, ns)["gitops"]["applied"]
    assert [a["id"] for a in applied] == list(dict.fromkeys(a["id"] for a in applied))
