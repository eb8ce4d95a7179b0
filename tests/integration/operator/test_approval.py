"""Promotion approval by pull request, end to end against the controller process.

Real parts: the sandbox apiserver, the controller process, Prometheus, and the smart-HTTP git
remote (a per-test bare repository ``org/fleet-<ns>.git`` under the sandbox's git root, so the
remote URL names an owner/repository as forge URLs do). The forge is the in-process fake GitHub
of the unit tests, run in this test process on 127.0.0.1 and reached through
``spec.gitops.approval.apiURL``. The test plays the person (merges or closes the PR) and Flux
(applies the merged annotation with ``kubectl annotate``).
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from controller.gitops.workflow.approval import APPROVED_REVISION_ANNOTATION, BRANCH_PREFIX
from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary, metric_template, secret
from tests.integration.operator.test_canary_lifecycle import _apply, _wait
from tests.integration.operator.test_write_back import (
    DEPLOYMENT_YAML,
    PRODUCTION_YAML,
    _askpass,
    _canary_status,
    _flux_applied_deployment,
    _flux_objects,
    _git,
)
from tests.unit.gitops.forges.fake_github import FakeGitHub

TOKEN = "ghp_integrationTOKEN42"
IMAGE = "ghcr.io/stefanprodan/podinfo"


@pytest.fixture
def github(namespace: str) -> Iterator[FakeGitHub]:
    with FakeGitHub(TOKEN, owner="org", repo=f"fleet-{namespace}") as fake:
        yield fake


def _own_remote(git: dict[str, str], ns: str) -> dict[str, str]:
    """A fresh bare repository served by the sandbox's smart-HTTP server at /org/fleet-<ns>.git."""
    bare = Path(git["root"]) / "org" / f"fleet-{ns}.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(bare)], check=True, timeout=30)
    subprocess.run(["git", "config", "http.receivepack", "true"], cwd=bare, check=True, timeout=30)
    port = urlsplit(git["http_url"]).port
    return {**git, "http_url": f"http://127.0.0.1:{port}/org/fleet-{ns}.git", "bare": str(bare)}


def _the_canary(ns: str, github: FakeGitHub) -> dict[str, Any]:
    the_canary = canary(ns, "podinfo", iterations=2, threshold=2)
    the_canary["spec"]["gitops"] = {
        "path": f"./{ns}",
        "approval": {
            "mode": "pullRequest",
            "provider": "github",
            "secretRef": {"name": "forge-token"},
            "apiURL": github.api_url,
            "timeout": "1h",
        },
    }
    return the_canary


def _seed(git: dict[str, str], tmp: Path, ns: str, env: dict[str, str], manifest: dict[str, Any]) -> Path:
    work = tmp / "fleet"
    _git("clone", git["http_url"], str(work), cwd=tmp, env=env)
    app = work / ns / "podinfo"
    app.mkdir(parents=True)
    (app / "deployment.yaml").write_text(DEPLOYMENT_YAML.format(ns=ns, tag="6.0.0"))
    (app / "canary.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    (work / ns / "production").mkdir()
    (work / ns / "production" / "kustomization.yaml").write_text(PRODUCTION_YAML.format(ns=ns))
    _git("add", ".", cwd=work, env=env)
    _git(
        "-c",
        "user.name=flux",
        "-c",
        "user.email=flux@example.com",
        "commit",
        "-qm",
        "seed",
        cwd=work,
        env=env,
    )
    _git("push", "-q", "origin", "HEAD:main", cwd=work, env=env)
    return work


def _start(
    sandbox: SandboxClient, ns: str, github: FakeGitHub, tmp: Path, log: Path
) -> tuple[dict[str, str], Path]:
    git = _own_remote(sandbox.git_remotes(), ns)
    env = _askpass(tmp, git)
    the_canary = _the_canary(ns, github)
    work = _seed(git, tmp, ns, env, the_canary)
    _flux_objects(sandbox, ns, git, _git("rev-parse", "HEAD", cwd=work, env=env).strip())
    sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.0)
    _apply(
        sandbox,
        secret(ns, "forge-token", {"token": base64.b64encode(TOKEN.encode()).decode()}),
        _flux_applied_deployment(ns, f"{IMAGE}:6.0.0"),
        metric_template(ns, "error-rate", sandbox.state.prometheus_url),
        the_canary,
    )
    _wait("Initialized", lambda: _canary_status(sandbox, ns).get("phase") == "Initialized", 60, log)
    _apply(sandbox, _flux_applied_deployment(ns, f"{IMAGE}:6.0.1"))
    _wait(
        "WaitingPromotion with an approval PR",
        lambda: (
            _canary_status(sandbox, ns).get("phase") == "WaitingPromotion"
            and ((_canary_status(sandbox, ns).get("gitops") or {}).get("approval") or {}).get("number")
        ),
        120,
        log,
    )
    return env, work


def test_merged_pull_request_approves_the_promotion(
    sandbox: SandboxClient, namespace: str, controller_process: Path, tmp_path: Path, github: FakeGitHub
) -> None:
    ns = namespace
    env, work = _start(sandbox, ns, github, tmp_path, controller_process)
    approval = _canary_status(sandbox, ns)["gitops"]["approval"]
    revision = approval["revision"]
    head = f"{BRANCH_PREFIX}/{ns}/podinfo/{revision}"
    assert list(github.pulls) == [approval["number"]] == [1]
    pr = github.pulls[1]
    assert (pr["head"], pr["base"], pr["state"]) == (head, "main", "open")
    assert approval["state"] == "open" and approval["pullRequestURL"].endswith("/org/fleet-" + ns + "/pull/1")

    _git("fetch", "-q", "origin", head, cwd=work, env=env)
    manifest = _git("show", f"FETCH_HEAD:{ns}/podinfo/canary.yaml", cwd=work, env=env)
    assert yaml.safe_load(manifest)["metadata"]["annotations"] == {APPROVED_REVISION_ANNOTATION: revision}
    pinned = _git("show", f"FETCH_HEAD:{ns}/production/kustomization.yaml", cwd=work, env=env)
    assert pinned == PRODUCTION_YAML.format(ns=ns).replace("newTag: 6.0.0", "newTag: 6.0.1")
    # Still waiting: no approval yet, and the next ticks do not open a second PR.
    _wait("a few more ticks", lambda: len(github.requests) >= 4, 60, controller_process)
    assert _canary_status(sandbox, ns)["phase"] == "WaitingPromotion" and list(github.pulls) == [1]

    # The person merges; Flux applies the merged annotation.
    _git("merge", "-q", "--ff-only", "FETCH_HEAD", cwd=work, env=env)
    _git("push", "-q", "origin", "HEAD:main", cwd=work, env=env)
    github.merge(1, _git("rev-parse", "HEAD", cwd=work, env=env).strip())
    sandbox.kubectl(
        "annotate", "canaries.gitcanary.io", "-n", ns, "podinfo", f"{APPROVED_REVISION_ANNOTATION}={revision}"
    )

    _wait(
        "Succeeded", lambda: _canary_status(sandbox, ns).get("phase") == "Succeeded", 120, controller_process
    )
    status = _wait(
        "the promotion write-back",
        lambda: (
            (_canary_status(sandbox, ns).get("gitops") or {}).get("lastWriteBack", {}).get("result")
            == "promoted"
            and _canary_status(sandbox, ns)["gitops"]
        ),
        60,
        controller_process,
    )
    assert not status.get("pending"), status
    # Exactly once: the merged PR commit carries the promotion's intent, so nothing is committed again.
    _git("pull", "-q", "origin", "main", cwd=work, env=env)
    assert status["lastWriteBack"]["commit"] == _git("rev-parse", "HEAD", cwd=work, env=env).strip()
    assert _git("log", "--format=%s", cwd=work, env=env).splitlines()[0].startswith("Promote")


def test_pull_request_closed_unmerged_rolls_back(
    sandbox: SandboxClient, namespace: str, controller_process: Path, tmp_path: Path, github: FakeGitHub
) -> None:
    ns = namespace
    _start(sandbox, ns, github, tmp_path, controller_process)

    github.close(1)
    sandbox.kubectl(
        "annotate", "canaries.gitcanary.io", "-n", ns, "podinfo", "gitcanary.io/poke=1"
    )  # wake it now

    _wait("Failed", lambda: _canary_status(sandbox, ns).get("phase") == "Failed", 120, controller_process)
    status = _canary_status(sandbox, ns)
    assert status["gitops"]["approval"]["state"] == "closed"
    assert list(github.pulls) == [1] and github.pulls[1]["state"] == "closed"
    _wait(
        "the rollback write-back",
        lambda: (
            (_canary_status(sandbox, ns).get("gitops") or {}).get("lastWriteBack", {}).get("result")
            == "rolled-back"
        ),
        60,
        controller_process,
    )
