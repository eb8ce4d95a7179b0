"""Outcomes reach Git: a rollback reverts and quarantines, a promotion pins, exactly once.

Real parts: the sandbox apiserver with the upstream Flux CRDs, the controller process, Prometheus,
and the smart-HTTP git remote with basic auth (credentials from the GitRepository's secretRef).
Flux controllers are not running here; the test plays Flux's part by applying the manifest
that Git holds and by setting the Kustomization's lastAppliedRevision.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary, deployment, metric_template
from tests.integration.operator.test_canary_lifecycle import _apply, _get, _wait

DEPLOYMENT_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: {ns}

spec:
  replicas: 2
  selector:
    matchLabels:
      app: podinfo
  template:
    metadata:
      labels:
        app: podinfo
    spec:
      containers:
        - name: podinfod
          image: ghcr.io/stefanprodan/podinfo:{tag} # {{"$imagepolicy": "flux-system:podinfo"}}
"""

POLICY_YAML = """\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: podinfo
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: podinfo
  policy:
    semver:
      range: ">=6.0.0"
"""

PRODUCTION_YAML = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../podinfo
images:
  - name: ghcr.io/stefanprodan/podinfo
    newTag: 6.0.0 # {{"$gitcanary": "{ns}:podinfo:tag"}}
"""


def _git(*args: str, cwd: Path, env: dict[str, str]) -> str:
    res = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def _askpass(tmp: Path, git: dict[str, str]) -> dict[str, str]:
    script = tmp / "askpass.sh"
    script.write_text('#!/bin/sh\ncase "$1" in Username*) echo "$GC_USER";; *) echo "$GC_PASS";; esac\n')
    script.chmod(0o700)
    return {
        "GIT_ASKPASS": str(script),
        "GC_USER": git["http_username"],
        "GC_PASS": git["http_password"],
        "GIT_TERMINAL_PROMPT": "0",
    }


def _seed_repo(git: dict[str, str], tmp: Path, ns: str, env: dict[str, str]) -> Path:
    work = tmp / "fleet"
    _git("clone", git["http_url"], str(work), cwd=tmp, env=env)
    app = work / ns / "podinfo"
    app.mkdir(parents=True)
    (app / "deployment.yaml").write_text(DEPLOYMENT_YAML.format(ns=ns, tag="6.0.1"))
    (work / ns / "policy.yaml").write_text(POLICY_YAML)
    prod = work / ns / "production"
    prod.mkdir()
    (prod / "kustomization.yaml").write_text(PRODUCTION_YAML.format(ns=ns))
    _git("add", ".", cwd=work, env=env)
    _git(
        "-c",
        "user.name=flux",
        "-c",
        "user.email=flux@example.com",
        "commit",
        "-m",
        "podinfo 6.0.1",
        cwd=work,
        env=env,
    )
    _git("push", "origin", "HEAD:main", cwd=work, env=env)
    return work


def _flux_objects(sandbox: SandboxClient, ns: str, git: dict[str, str], sha: str) -> None:
    sandbox.kubectl("create", "namespace", "flux-system", check=False)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"git-{ns}", "namespace": "flux-system"},
        "stringData": {"username": git["http_username"], "password": git["http_password"]},
    }
    repo = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        # The platform's repository admits the test's namespace (docs/security.md, tenancy).
        "metadata": {
            "name": f"fleet-{ns}",
            "namespace": "flux-system",
            "annotations": {"gitcanary.io/allowed-namespaces": ns},
        },
        "spec": {
            "interval": "1m",
            "url": git["http_url"],
            "ref": {"branch": "main"},
            "secretRef": {"name": f"git-{ns}"},
        },
    }
    ks = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": f"apps-{ns}", "namespace": "flux-system"},
        "spec": {
            "interval": "10m",
            "prune": True,
            "path": f"./{ns}",
            "sourceRef": {"kind": "GitRepository", "name": f"fleet-{ns}"},
        },
    }
    _apply(sandbox, secret, repo, ks)
    _flux_applied_revision(sandbox, ns, sha)


def _flux_applied_revision(sandbox: SandboxClient, ns: str, sha: str) -> None:
    # kustomize-controller lists what it applied in its inventory: only then are the Flux labels
    # on the Deployment trusted (controller.tenancy).
    inventory = {"entries": [{"id": f"{ns}_podinfo_apps_Deployment", "v": "v1"}]}
    status = {"status": {"lastAppliedRevision": f"main@sha1:{sha}", "inventory": inventory}}
    sandbox.kubectl(
        "patch",
        "kustomization",
        "-n",
        "flux-system",
        f"apps-{ns}",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )


def _flux_applied_deployment(ns: str, image: str) -> dict[str, Any]:
    dep = deployment(ns, "podinfo", image)
    dep["metadata"]["labels"] = {
        "kustomize.toolkit.fluxcd.io/name": f"apps-{ns}",
        "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
    }
    return dep


def _wait_errors(sandbox: SandboxClient, ns: str, ok: Callable[[float], bool]) -> None:
    """Wait until Prometheus sees the HTTP 500 rate the test set (``ok`` on req/s)."""
    query = (
        f'sum(rate(istio_requests_total{{destination_workload_namespace="{ns}",response_code="500"}}[10s]))'
    )
    sandbox.wait_prom_value(query, ok, timeout=30)


def _canary_status(sandbox: SandboxClient, ns: str) -> dict[str, Any]:
    status: dict[str, Any] = _get(sandbox, "canaries.gitcanary.io", ns, "podinfo").get("status") or {}
    return status


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
