"""Fleet branches on the sandbox's bare repository, and the Kubernetes side of a write-back.

Every acceptance test seeds its own ORPHAN branch (``acc-<uuid>``) holding only its fleet, so
that neither other tests' manifests on ``main`` (other ImagePolicies named ``podinfo``) nor a
controller process of another test can touch what it asserts on. The bare repository is read
directly (``git --git-dir``): every sandbox remote serves that same directory.

The Kubernetes side wires a Canary whose target Deployment does not exist and whose
``spec.gitops.sourceRef`` names a GitRepository in the test namespace: ``worker.write_back``
resolves everything from those objects, while a controller process running in the same
session (if any) stops at the missing target and never writes back on its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from controller.api.timestamps import rfc3339
from controller.gitops.plumbing.credentials import GitAuth
from controller.gitops.workflow.intents import Intent, make_intent
from controller.kube import Kube
from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary

Obj = dict[str, Any]
CANARY_API = "gitcanary.io/v1beta1"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
REMOTE_KINDS = ("file", "daemon", "http", "ssh")
ANALYSIS = "error-rate 30.00 > 1 (2/2 failed checks)"

DEPLOYMENT_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}

  # Flux image automation updates the tag below.
  labels: {{app: {name}}}
spec:
  template:
    spec:
      containers:
        - name: main
          image: ghcr.io/acme/{name}:{tag} # {{"$imagepolicy": "flux-system:{name}"}}
          args: [--port=9898]
"""

POLICY_YAML = """\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: {name}
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: {name}
  policy:
    semver:
      range: ">=2.0.0"
"""


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, check: bool = True) -> str:
    res = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=60
    )
    if check and res.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {res.stderr}")
    return res.stdout


def bare_git(bare: Path | str, *args: str) -> str:
    return git("--git-dir", str(bare), *args)


def new_branch() -> str:
    return f"acc-{uuid.uuid4().hex[:10]}"


def image(name: str, tag: str) -> str:
    return f"ghcr.io/acme/{name}:{tag}"


def app_files(name: str, failed_tag: str, prefix: str = "apps") -> dict[str, str]:
    """A Deployment with an ``$imagepolicy`` marker at ``failed_tag`` and its semver ImagePolicy."""
    return {
        f"{prefix}/{name}/deployment.yaml": DEPLOYMENT_YAML.format(name=name, tag=failed_tag),
        f"{prefix}/{name}/policy.yaml": POLICY_YAML.format(name=name),
    }


def seed_branch(bare: Path | str, branch: str, files: dict[str, str], tmp: Path) -> str:
    """Push an orphan commit holding exactly ``files`` to ``branch``; return its SHA."""
    work = tmp / f"seed-{branch}"
    git("init", "--quiet", "--initial-branch", branch, str(work))
    for rel, text in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    git("add", "--all", cwd=work)
    git("-c", "user.name=flux", "-c", "user.email=flux@example.com", "commit", "-qm", "seed fleet", cwd=work)
    git("push", "--quiet", str(bare), f"HEAD:refs/heads/{branch}", cwd=work)
    return git("rev-parse", "HEAD", cwd=work).strip()


def rollback_intent(canary_key: str, name: str, path: str, branch: str, url: str, seed: str) -> Intent:
    """Roll ``name`` back from 2.0.1 (failed) to 2.0.0."""
    return make_intent(
        kind="rollback",
        canary=canary_key,
        revision=uuid.uuid4().hex[:10],
        repository=url,
        branch=branch,
        path=path,
        image=image(name, "2.0.0"),
        previous_image=image(name, "2.0.1"),
        result="rolled-back",
        analysis=ANALYSIS,
        source_revision=f"{branch}@sha1:{seed}",
    )


def secret_data(sandbox: SandboxClient, kind: str) -> dict[str, str] | None:
    """What a Flux GitRepository secret holds for remote ``kind`` (None: no auth)."""
    remotes = sandbox.git_remotes()
    if kind == "http":
        return {"username": remotes["http_username"], "password": remotes["http_password"]}
    if kind == "ssh":
        return {
            "identity": Path(remotes["ssh_identity"]).read_text(),
            "known_hosts": Path(remotes["ssh_known_hosts"]).read_text(),
        }
    return None


def remote_url(sandbox: SandboxClient, kind: str) -> str:
    return sandbox.git_remotes()[f"{kind}_url"]


def access(sandbox: SandboxClient, kind: str) -> tuple[str, GitAuth | None]:
    url, data = remote_url(sandbox, kind), secret_data(sandbox, kind)
    return url, None if data is None else GitAuth.from_secret_data(data, url)


def intent_counts(bare: Path | str, branch: str) -> dict[str, int]:
    """``Gitcanary-Intent`` id -> how many commits of ``branch`` carry it."""
    counts: dict[str, int] = {}
    for line in bare_git(bare, "log", "--format=%B", branch).splitlines():
        if line.startswith("Gitcanary-Intent: "):
            key = line.removeprefix("Gitcanary-Intent: ").strip()
            counts[key] = counts.get(key, 0) + 1
    return counts


# -- the Kubernetes side -------------------------------------------------------------------


def pending_entry(intent: Intent, *, with_path: bool = False) -> Obj:
    """``intent`` as the reconciler stores it in ``status.gitops.pending``."""
    entry: Obj = {
        "id": intent.id,
        "kind": intent.kind,
        "image": intent.image,
        "previousImage": intent.previous_image,
        "result": intent.result,
        "analysis": intent.analysis,
        "createdAt": rfc3339(time.time()),
    }
    if with_path:
        entry["path"] = intent.path
    return entry


async def wire_canary(
    kube: Kube,
    namespace: str,
    name: str,
    *,
    url: str,
    branch: str,
    path: str,
    secret: dict[str, str] | None,
    pending: list[Obj],
) -> Obj:
    """Secret + GitRepository + Canary (with ``pending`` intents); return the live Canary."""
    repo_spec: Obj = {"interval": "1m", "url": url, "ref": {"branch": branch}}
    if secret is not None:
        await kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": f"{name}-git", "namespace": namespace},
                "stringData": secret,
            }
        )
        repo_spec["secretRef"] = {"name": f"{name}-git"}
    await kube.apply(
        {
            "apiVersion": SOURCE_API,
            "kind": "GitRepository",
            "metadata": {"name": f"{name}-fleet", "namespace": namespace},
            "spec": repo_spec,
        }
    )
    obj = canary(namespace, name, iterations=2, template=None)
    obj["spec"]["targetRef"]["name"] = f"{name}-absent"  # no controller tick ever writes back
    obj["spec"]["gitops"] = {"sourceRef": {"name": f"{name}-fleet"}, "path": path}
    await kube.apply(obj)
    await kube.merge_patch(
        CANARY_API, "Canary", namespace, name, {"status": {"gitops": {"pending": pending}}}, "status"
    )
    return await live_canary(kube, namespace, name)


async def live_canary(kube: Kube, namespace: str, name: str) -> Obj:
    live = await kube.get(CANARY_API, "Canary", namespace, name)
    assert live is not None, f"Canary {namespace}/{name} vanished"
    return live


async def set_repository_url(kube: Kube, namespace: str, name: str, url: str) -> None:
    patch = {"spec": {"url": url}}
    await kube.merge_patch(SOURCE_API, "GitRepository", namespace, f"{name}-fleet", patch)


async def events(kube: Kube, namespace: str, name: str, reason: str) -> list[Obj]:
    return [
        e
        for e in await kube.list("v1", "Event", namespace)
        if e.get("involvedObject", {}).get("name") == name and e.get("reason") == reason
    ]


def gitops_status(live: Obj) -> Obj:
    status: Obj = (live.get("status") or {}).get("gitops") or {}
    return status


def dump(obj: object) -> str:
    return json.dumps(obj, sort_keys=True)
