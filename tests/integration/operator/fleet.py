"""A fleet repository on the sandbox's smart-HTTP git remote, and the Flux objects that point at it.

Shared by the write-back tests: the repository holds ``<ns>/podinfo`` (the Deployment with an
``$imagepolicy`` marker), ``<ns>/policy.yaml`` (the ImagePolicy) and ``<ns>/production`` (an
overlay with a ``$gitcanary`` pin). Flux controllers are not running in the plain sandbox: the
tests play Flux's part by applying the manifest Git holds and by setting the Kustomization's
``lastAppliedRevision`` and inventory.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary, deployment, metric_template
from tests.integration.operator.test_canary_lifecycle import _apply, _get

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


def run_git(*args: str, cwd: Path, env: dict[str, str]) -> str:
    res = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def askpass_env(tmp: Path, git: dict[str, str]) -> dict[str, str]:
    script = tmp / "askpass.sh"
    script.write_text('#!/bin/sh\ncase "$1" in Username*) echo "$GC_USER";; *) echo "$GC_PASS";; esac\n')
    script.chmod(0o700)
    return {
        "GIT_ASKPASS": str(script),
        "GC_USER": git["http_username"],
        "GC_PASS": git["http_password"],
        "GIT_TERMINAL_PROMPT": "0",
    }


def seed_repo(git: dict[str, str], tmp: Path, ns: str, env: dict[str, str]) -> Path:
    work = tmp / "fleet"
    run_git("clone", git["http_url"], str(work), cwd=tmp, env=env)
    app = work / ns / "podinfo"
    app.mkdir(parents=True)
    (app / "deployment.yaml").write_text(DEPLOYMENT_YAML.format(ns=ns, tag="6.0.1"))
    (work / ns / "policy.yaml").write_text(POLICY_YAML)
    prod = work / ns / "production"
    prod.mkdir()
    (prod / "kustomization.yaml").write_text(PRODUCTION_YAML.format(ns=ns))
    run_git("add", ".", cwd=work, env=env)
    run_git(
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
    run_git("push", "origin", "HEAD:main", cwd=work, env=env)
    return work


def flux_objects(sandbox: SandboxClient, ns: str, git: dict[str, str], sha: str) -> None:
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
    flux_applied_revision(sandbox, ns, sha)


def flux_applied_revision(sandbox: SandboxClient, ns: str, sha: str) -> None:
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


def flux_applied_deployment(ns: str, image: str) -> dict[str, Any]:
    dep = deployment(ns, "podinfo", image)
    dep["metadata"]["labels"] = {
        "kustomize.toolkit.fluxcd.io/name": f"apps-{ns}",
        "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
    }
    return dep


def wait_errors(sandbox: SandboxClient, ns: str, ok: Callable[[float], bool]) -> None:
    """Wait until Prometheus sees the HTTP 500 rate the test set (``ok`` on req/s)."""
    query = (
        f'sum(rate(istio_requests_total{{destination_workload_namespace="{ns}",response_code="500"}}[10s]))'
    )
    sandbox.wait_prom_value(query, ok, timeout=30)


def canary_status(sandbox: SandboxClient, ns: str) -> dict[str, Any]:
    status: dict[str, Any] = _get(sandbox, "canaries.gitcanary.io", ns, "podinfo").get("status") or {}
    return status


@dataclass(frozen=True)
class Fleet:
    """A test's clone of the fleet repository, with what it takes to pull from the remote."""

    work: Path
    env: dict[str, str]
    git: dict[str, str]
    seeded: str  # the commit Flux applied first

    def pull(self) -> None:
        run_git("pull", "-q", "origin", "main", cwd=self.work, env=self.env)

    def write_backs(self, ns: str, name: str = "podinfo") -> list[tuple[str, str]]:
        """(sha, message) of every write-back commit on the remote for one Canary, oldest first.

        A write-back commit carries the ``Gitcanary-Intent`` trailer; the remote is shared by the
        session's tests, so commits are kept only when their ``Gitcanary-Canary`` trailer names it.
        """
        self.pull()
        log = run_git("log", "--reverse", "--format=%H%x00%B%x1e", "HEAD", cwd=self.work, env=self.env)
        commits = [entry.strip("\n").split("\0", 1) for entry in log.split("\x1e") if entry.strip()]
        return [
            (sha, message)
            for sha, message in commits
            if f"Gitcanary-Canary: {ns}/{name}\n" in message + "\n" and "Gitcanary-Intent: " in message
        ]


def start_fleet(sandbox: SandboxClient, ns: str, tmp: Path, iterations: int = 2) -> Fleet:
    """Seed the repository, create the Flux objects, and apply podinfo 6.0.0 with its Canary.

    The Canary analyses the sandbox's error rate (traffic starts healthy) and writes back under
    ``./<ns>``, the Kustomization's path, which holds the ``$imagepolicy`` and ``$gitcanary`` markers.
    """
    git = sandbox.git_remotes()
    env = askpass_env(tmp, git)
    work = seed_repo(git, tmp, ns, env)
    sha = run_git("rev-parse", "HEAD", cwd=work, env=env).strip()
    flux_objects(sandbox, ns, git, sha)
    sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.0)
    the_canary = canary(ns, "podinfo", iterations=iterations, threshold=2)
    the_canary["spec"]["gitops"] = {"path": f"./{ns}"}
    _apply(
        sandbox,
        flux_applied_deployment(ns, "ghcr.io/stefanprodan/podinfo:6.0.0"),
        metric_template(ns, "error-rate", sandbox.state.prometheus_url),
        the_canary,
    )
    # The analysis must see traffic from its first iteration on.
    total = f'sum(rate(istio_requests_total{{destination_workload_namespace="{ns}"}}[10s]))'
    sandbox.wait_prom_value(total, lambda v: v > 5, timeout=30)
    return Fleet(work, env, git, sha)
