"""Tenancy through the real ``gitcanary run``: a tenant cannot write through another namespace.

The platform owns a GitRepository (with its credentials) and a Kustomization in ``flux-system``.
A tenant in its own namespace forges Flux's labels on its Deployment so that they name the
platform's Kustomization, which never applied that Deployment (its ``status.inventory`` does
not list it). The tenant's canary fails and rolls back; the controller must not commit to the
platform's repository, and must say why: ``SourceAllowed=False`` (reason ``SourceRefused``)
and a ``SourceRefused`` Warning Event. A MetricTemplate in another namespace is refused too.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary, deployment, flux_applied, git_repository, kustomization, metric_template
from tests.integration.operator.test_canary_lifecycle import _apply, _get, _wait

PLATFORM = "flux-system"
APP = "ghcr.io/stefanprodan/podinfo"


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=platform", "-c", "user.email=platform@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _platform_repository(git: dict[str, str], ns: str, tmp: Path) -> tuple[Path, str]:
    """A fresh bare repository with one commit, served by the sandbox's smart HTTP (with auth)."""
    bare = Path(git["root"]) / "platform" / f"fleet-{ns}.git"
    _git("init", "--quiet", "--bare", "-b", "main", str(bare), cwd=tmp)
    _git("config", "http.receivepack", "true", cwd=bare)
    work = tmp / "seed"
    _git("clone", "--quiet", str(bare), str(work), cwd=tmp)
    (work / "platform").mkdir()
    (work / "platform" / "README.md").write_text("platform manifests\n")
    _git("add", ".", cwd=work)
    _git("commit", "--quiet", "-m", "platform", cwd=work)
    _git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    port = urlsplit(git["http_url"]).port
    return bare, f"http://127.0.0.1:{port}/platform/fleet-{ns}.git"


def _platform_objects(sandbox: SandboxClient, ns: str, url: str, git: dict[str, str]) -> None:
    """The platform's credentials, GitRepository and Kustomization; the Kustomization applied
    only the platform's own Deployment."""
    sandbox.kubectl("create", "namespace", PLATFORM, check=False)
    credentials = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"platform-git-{ns}", "namespace": PLATFORM},
        "stringData": {"username": git["http_username"], "password": git["http_password"]},
    }
    repo = git_repository(PLATFORM, f"platform-{ns}", url, secret=f"platform-git-{ns}")
    ks = kustomization(
        PLATFORM, f"platform-{ns}", f"platform-{ns}", "./", (deployment(PLATFORM, "ingress", f"{APP}:1"),)
    )
    status = {"status": {**ks.pop("status"), "lastAppliedRevision": "main@sha1:" + "0" * 40}}
    _apply(sandbox, credentials, repo, ks)
    sandbox.kubectl(
        "patch",
        "kustomization",
        "-n",
        PLATFORM,
        f"platform-{ns}",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )


def _forged(ns: str, image: str) -> dict[str, Any]:
    return flux_applied(deployment(ns, "podinfo", image), f"platform-{ns}", PLATFORM)


def _status(sandbox: SandboxClient, ns: str, name: str = "podinfo") -> dict[str, Any]:
    status: dict[str, Any] = _get(sandbox, "canaries.gitcanary.io", ns, name).get("status") or {}
    return status


def _condition(sandbox: SandboxClient, ns: str, kind: str, name: str = "podinfo") -> dict[str, Any] | None:
    return next((c for c in _status(sandbox, ns, name).get("conditions") or [] if c["type"] == kind), None)


def _warnings(sandbox: SandboxClient, ns: str, reason: str, name: str = "podinfo") -> list[dict[str, Any]]:
    events = json.loads(sandbox.kubectl("get", "events", "-n", ns, "-o", "json"))["items"]
    return [
        e
        for e in events
        if e["reason"] == reason and e["type"] == "Warning" and e["involvedObject"]["name"] == name
    ]


def test_forged_flux_labels_make_no_commit_to_the_platform_repository(
    sandbox: SandboxClient, namespace: str, controller_process: Path, tmp_path: Path
) -> None:
    ns, git = namespace, sandbox.git_remotes()
    bare, url = _platform_repository(git, ns, tmp_path)
    before = _git("log", "--format=%H", "main", cwd=bare)
    _platform_objects(sandbox, ns, url, git)

    the_canary = canary(ns, "podinfo", iterations=2, threshold=1, template="always-failing")
    the_canary["spec"]["gitops"] = {}  # everything inferred from the (forged) Flux labels
    _apply(
        sandbox,
        _forged(ns, f"{APP}:6.0.0"),
        metric_template(ns, "always-failing", sandbox.state.prometheus_url, query="vector(100)"),
        the_canary,
    )
    refused = _wait(
        "the SourceAllowed=False condition",
        lambda: (c := _condition(sandbox, ns, "SourceAllowed")) and c["status"] == "False" and c,
        90,
        controller_process,
    )
    assert refused["reason"] == "SourceRefused"
    assert f"Kustomization {PLATFORM}/platform-{ns}" in refused["message"]
    assert "not trusted" in refused["message"]
    _wait("Initialized", lambda: _status(sandbox, ns).get("phase") == "Initialized", 120, controller_process)

    _apply(sandbox, _forged(ns, f"{APP}:6.0.1"))  # the tenant's new revision fails its analysis
    _wait("Failed", lambda: _status(sandbox, ns).get("phase") == "Failed", 120, controller_process)
    last = _wait(
        "a write-back attempt",
        lambda: (_status(sandbox, ns).get("gitops") or {}).get("lastWriteBack"),
        60,
        controller_process,
    )

    assert last["result"] == "error" and "not trusted" in last["message"], last
    assert _git("log", "--format=%H", "main", cwd=bare) == before, "the platform repository got a commit"
    assert _git("for-each-ref", "--format=%(refname)", cwd=bare).split() == ["refs/heads/main"]
    gitops = _status(sandbox, ns).get("gitops") or {}
    assert gitops.get("pending"), "the rollback intent stays pending; nothing was applied"
    assert not gitops.get("applied") and not gitops.get("source")
    # Announced once per distinct refusal, not on every tick (dozens ran by now); a tick decided
    # again after a 409 on its status patch may repeat it (the runner's conflict retries).
    warnings = _warnings(sandbox, ns, "SourceRefused")
    assert 1 <= len(warnings) <= 3, [w["firstTimestamp"] for w in warnings]
    assert {w["message"] for w in warnings} == {refused["message"]}
    assert git["http_password"] not in json.dumps([refused, last, warnings])


def test_a_metric_template_in_another_namespace_is_refused(
    sandbox: SandboxClient, namespace: str, controller_process: Path
) -> None:
    ns = namespace
    sandbox.kubectl("create", "namespace", PLATFORM, check=False)
    the_canary = canary(ns, "borrower", iterations=2, template="shared-rate")
    the_canary["spec"]["analysis"]["metrics"][0]["templateRef"]["namespace"] = PLATFORM
    _apply(
        sandbox,
        deployment(ns, "borrower", f"{APP}:6.0.0"),
        metric_template(PLATFORM, "shared-rate", sandbox.state.prometheus_url),
        the_canary,
    )
    valid = _wait(
        "Valid=False",
        lambda: (c := _condition(sandbox, ns, "Valid", "borrower")) and c["status"] == "False" and c,
        60,
        controller_process,
    )

    assert f"MetricTemplate {PLATFORM}/shared-rate" in valid["message"]
    assert "--allow-cross-namespace-refs" in valid["message"]
    assert _warnings(sandbox, ns, "CrossNamespaceRefused", "borrower")
    assert _status(sandbox, ns, "borrower").get("phase") in (None, "", "Initializing")
    deployments = sandbox.kubectl("get", "deployments", "-n", ns, "-o", "name").split()
    assert deployments == ["deployment.apps/borrower"], "a refused Canary must not start"
