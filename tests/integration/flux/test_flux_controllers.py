"""The real Flux controllers close the loop in the sandbox.

GitRepository (smart HTTP + basic-auth Secret) -> Kustomization applies a
Deployment; ImageRepository + ImagePolicy (semver) scan the local OCI registry;
ImageUpdateAutomation commits the newest tag into the ``$imagepolicy``-marked
manifest, which kustomize-controller then applies.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gitcanary_sandbox import processes, registry
from gitcanary_sandbox.client import SandboxClient
from gitcanary_sandbox.flux_binaries import CONTROLLER_NAMES

TAGS = ("0.9.0", "1.0.0", "1.1.0", "1.2.0", "2.0.0-rc.1", "latest")
NEWEST_STABLE = "1.2.0"
BOT = "gitcanary-fluxbot"


@dataclass(frozen=True)
class Fleet:
    client: SandboxClient
    namespace: str
    bare: Path
    http_url: str
    image: str  # registry host/repository, no tag

    @property
    def path(self) -> str:
        return f"apps/{self.namespace}"

    @property
    def repository(self) -> str:
        return self.image.split("/", 1)[1]


def _git(*args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr}")
    return proc.stdout


def _deployment_yaml(namespace: str, image: str, tag: str) -> str:
    return (
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        "  name: podinfo\n"
        f"  namespace: {namespace}\n"
        "spec:\n"
        "  replicas: 1\n"
        "  selector:\n"
        "    matchLabels:\n"
        "      app: podinfo\n"
        "  template:\n"
        "    metadata:\n"
        "      labels:\n"
        "        app: podinfo\n"
        "    spec:\n"
        "      containers:\n"
        "        - name: app\n"
        f'          image: {image}:{tag} # {{"$imagepolicy": "{namespace}:app"}}\n'
    )


def _apply(fleet: Fleet, *objects: dict[str, Any]) -> None:
    for obj in objects:
        obj.setdefault("metadata", {})["namespace"] = fleet.namespace
        fleet.client.kubectl("apply", "-f", "-", stdin=json.dumps(obj))


def _get(fleet: Fleet, kind: str, name: str) -> dict[str, Any]:
    out = fleet.client.kubectl("get", "-n", fleet.namespace, kind, name, "-o", "json", check=False)
    try:
        obj: dict[str, Any] = json.loads(out)
    except json.JSONDecodeError:
        return {}
    return obj


def _ready(obj: dict[str, Any]) -> bool:
    conditions = obj.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _logs(fleet: Fleet, *names: str) -> str:
    base = Path(fleet.client.state.dir)
    return "\n".join(f"--- {n}:\n{processes.log_tail(base / 'logs' / f'{n}.log', 15)}" for n in names)


def _wait(
    fleet: Fleet,
    what: str,
    probe: Callable[[], object],
    describe: Callable[[], object],
    logs: tuple[str, ...],
    timeout: float = 120.0,
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(1.0)
    raise AssertionError(f"{what} not reached in {timeout:.0f}s; last: {describe()}\n{_logs(fleet, *logs)}")


@pytest.fixture(scope="module")
def fleet(flux_sandbox: SandboxClient) -> Iterator[Fleet]:
    for part in ("git", registry.SERVICE, *CONTROLLER_NAMES):
        flux_sandbox.require(part)
    git = flux_sandbox.git_remotes()
    namespace = f"flux-{uuid.uuid4().hex[:8]}"
    host = flux_sandbox.state.registry_url.removeprefix("http://")
    fleet = Fleet(flux_sandbox, namespace, Path(git["bare"]), git["http_url"], f"{host}/{namespace}/app")
    flux_sandbox.kubectl("create", "namespace", namespace)
    with tempfile.TemporaryDirectory(prefix="flux-fleet-") as tmp:
        work = Path(tmp) / "fleet"
        _git("clone", str(fleet.bare), str(work))
        (work / fleet.path).mkdir(parents=True)
        (work / fleet.path / "deployment.yaml").write_text(_deployment_yaml(namespace, fleet.image, "1.0.0"))
        _git("add", ".", cwd=work)
        _git("-c", "user.name=e2e", "-c", "user.email=e2e@gitcanary.invalid", "commit", "-m", "app", cwd=work)
        _git("push", "origin", "HEAD:main", cwd=work)
    # The credentials source-controller and image-automation-controller use for smart HTTP.
    _apply(
        fleet,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "git-auth"},
            "stringData": {"username": git["http_username"], "password": git["http_password"]},
        },
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "fleet"},
            "spec": {
                "url": fleet.http_url,
                "interval": "5s",
                "ref": {"branch": "main"},
                "secretRef": {"name": "git-auth"},
            },
        },
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps"},
            "spec": {
                "interval": "1m",
                "path": f"./{fleet.path}",
                "prune": True,
                "timeout": "1m",
                "sourceRef": {"kind": "GitRepository", "name": "fleet"},
            },
        },
    )
    try:
        yield fleet
    finally:
        flux_sandbox.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _deployment_image(fleet: Fleet) -> str:
    deploy = _get(fleet, "deployment", "podinfo")
    if not deploy:
        return ""
    image: str = deploy["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


def _apply_image_policy(fleet: Fleet) -> None:
    registry_url = fleet.client.state.registry_url
    for tag in TAGS:
        registry.push_image(registry_url, fleet.repository, tag)
    _apply(
        fleet,
        {
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImageRepository",
            "metadata": {"name": "app"},
            "spec": {"image": fleet.image, "interval": "5s", "insecure": True},
        },
        {
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImagePolicy",
            "metadata": {"name": "app"},
            "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0"}}},
        },
    )


def test_kustomization_applies_the_deployment_from_git_over_authenticated_http(fleet: Fleet) -> None:
    source = _wait(
        fleet,
        "GitRepository Ready",
        lambda: _ready(repo := _get(fleet, "gitrepository", "fleet")) and repo,
        lambda: _get(fleet, "gitrepository", "fleet").get("status"),
        ("source-controller",),
    )
    head = _git("--git-dir", str(fleet.bare), "rev-parse", "main").strip()
    assert source["status"]["artifact"]["revision"] == f"main@sha1:{head}"
    _wait(
        fleet,
        "Kustomization Ready",
        lambda: _ready(_get(fleet, "kustomization", "apps")),
        lambda: _get(fleet, "kustomization", "apps").get("status"),
        ("kustomize-controller", "source-controller"),
    )
    assert _deployment_image(fleet) == f"{fleet.image}:1.0.0"
    deploy = _get(fleet, "deployment", "podinfo")
    assert deploy["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "apps"


def test_git_repository_without_the_credentials_is_refused(fleet: Fleet) -> None:
    _apply(
        fleet,
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "anonymous"},
            "spec": {"url": fleet.http_url, "interval": "5s", "ref": {"branch": "main"}},
        },
    )

    def refused() -> str:
        conditions = _get(fleet, "gitrepository", "anonymous").get("status", {}).get("conditions", [])
        ready = [c for c in conditions if c["type"] == "Ready" and c["status"] == "False"]
        return str(ready[0]["message"]) if ready and ready[0]["reason"] == "GitOperationFailed" else ""

    message = _wait(
        fleet,
        "anonymous GitRepository refused",
        refused,
        lambda: _get(fleet, "gitrepository", "anonymous").get("status"),
        ("source-controller",),
        timeout=60,
    )
    assert "authentication required" in message


def test_image_policy_picks_the_newest_stable_semver_tag(fleet: Fleet) -> None:
    _apply_image_policy(fleet)
    scanned = _wait(
        fleet,
        "ImageRepository scanned",
        lambda: (_get(fleet, "imagerepository", "app").get("status", {}).get("lastScanResult") or {}).get(
            "tagCount"
        ),
        lambda: _get(fleet, "imagerepository", "app").get("status"),
        ("image-reflector-controller",),
    )
    assert scanned == len(TAGS)
    latest = _wait(
        fleet,
        "ImagePolicy latestRef",
        lambda: _get(fleet, "imagepolicy", "app").get("status", {}).get("latestRef"),
        lambda: _get(fleet, "imagepolicy", "app").get("status"),
        ("image-reflector-controller",),
    )
    assert latest["tag"] == NEWEST_STABLE
    assert latest["name"] == fleet.image


def test_image_update_automation_commits_the_new_tag_and_flux_applies_it(fleet: Fleet) -> None:
    _apply_image_policy(fleet)
    _apply(
        fleet,
        {
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImageUpdateAutomation",
            "metadata": {"name": "app"},
            "spec": {
                "interval": "5s",
                "sourceRef": {"kind": "GitRepository", "name": "fleet"},
                "git": {
                    "checkout": {"ref": {"branch": "main"}},
                    "commit": {
                        "author": {"name": BOT, "email": "fluxbot@gitcanary.invalid"},
                        "messageTemplate": f"Update images in {fleet.namespace}",
                    },
                    "push": {"branch": "main"},
                },
                "update": {"path": f"./{fleet.path}", "strategy": "Setters"},
            },
        },
    )
    manifest = f"main:{fleet.path}/deployment.yaml"

    def committed() -> bool:
        log = _git("--git-dir", str(fleet.bare), "log", "--format=%an|%s", "main", "--", fleet.path)
        return f"{BOT}|Update images in {fleet.namespace}" in log.splitlines()

    _wait(
        fleet,
        "automation commit",
        committed,
        lambda: _get(fleet, "imageupdateautomation", "app").get("status"),
        ("image-automation-controller", "image-reflector-controller"),
        timeout=180,
    )
    content = _git("--git-dir", str(fleet.bare), "show", manifest)
    assert f'image: {fleet.image}:{NEWEST_STABLE} # {{"$imagepolicy": "{fleet.namespace}:app"}}' in content
    automation = _get(fleet, "imageupdateautomation", "app")
    head = _git("--git-dir", str(fleet.bare), "rev-parse", "main").strip()
    pushed = automation["status"]["lastPushCommit"]
    assert pushed and head.startswith(pushed)
    # The loop closes: source-controller sees the commit, kustomize-controller applies it.
    _wait(
        fleet,
        "Deployment on the new tag",
        lambda: _deployment_image(fleet) == f"{fleet.image}:{NEWEST_STABLE}",
        lambda: _deployment_image(fleet),
        ("kustomize-controller", "source-controller"),
        timeout=180,
    )
