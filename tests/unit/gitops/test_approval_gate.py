"""The approval gate against the in-process fake GitHub (real HTTP) and a real local bare repo.

The Git remote is ``http://127.0.0.1:<port>/org/repo.git`` (so the forge repository parses),
served from the local bare repository by the sandbox's smart-HTTP server behind basic auth
(the controller's git ignores any global git config, so no ``insteadOf`` rewrite can stand in
for it). The Kubernetes API is a small in-memory store: only ``get`` and ``create`` (Events)
are used by the gate.
"""

from __future__ import annotations

import base64
import subprocess
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest

from controller.gitops.workflow.approval import APPROVED_REVISION_ANNOTATION, branch_name
from controller.gitops.workflow.approval_gate import ApprovalGate
from controller.gitops.workflow.intents import make_intent
from controller.gitops.workflow.promote_to import queue_promote_to, split_intents
from controller.kube import Kube
from gitcanary_sandbox.githttp import make_handler
from tests.unit.gitops.forges.fake_github import FakeGitHub

TOKEN = "ghp_approvalTOKEN0123456789"
GIT_USER, GIT_PASSWORD = "fleet", "fleet-PASSWORD-0123456789"
REMOTE = "https://git.example/org/repo.git"
REVISION = "7d9f8c6b5"
OLD, NEW = "ghcr.io/stefanprodan/podinfo:6.0.0", "ghcr.io/stefanprodan/podinfo:6.0.1"
NOW = 1_800_000_000.0
KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [deployment.yaml]
images:
  - name: ghcr.io/stefanprodan/podinfo
    newTag: 6.0.0 # {"$gitcanary": "test:podinfo:tag"}
"""
CANARY_YAML = """\
apiVersion: gitcanary.io/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
"""
Obj = dict[str, Any]


class MemoryKube:
    """Objects by (kind, namespace, name); Events are collected."""

    def __init__(self, *objects: Obj) -> None:
        self.objects = {
            (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects
        }
        self.events: list[Obj] = []

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj | None:
        return self.objects.get((kind, namespace, name))

    async def create(self, obj: Obj) -> Obj:
        self.events.append(obj)
        return obj


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "remote"
    bare = root / "org" / "repo.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(bare))
    monkeypatch.setenv("GITCANARY_GIT_CACHE", str(tmp_path / "cache"))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", str(bare), str(seed))
    (seed / "apps" / "podinfo").mkdir(parents=True)
    (seed / "apps" / "podinfo" / "kustomization.yaml").write_text(KUSTOMIZATION)
    (seed / "clusters").mkdir()
    (seed / "clusters" / "canary.yaml").write_text(CANARY_YAML)
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "seed")
    git(seed, "push", "--quiet", "origin", "HEAD:main")
    return bare


@pytest.fixture
def remote(bare: Path) -> Iterator[str]:
    """The bare repository over smart HTTP with basic auth; yields its URL."""
    creds = {"username": GIT_USER, "password": GIT_PASSWORD}
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(bare.parent.parent, creds))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/org/repo.git"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(TOKEN) as fake:
        yield fake


def _canary(github: FakeGitHub, **approval: Any) -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "u1", "annotations": {}},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "analysis": {"interval": "1m", "threshold": 5, "iterations": 3},
            "gitops": {
                "sourceRef": {"name": "fleet"},
                "path": "./apps",
                "approval": {
                    "mode": "pullRequest",
                    "provider": "github",
                    "secretRef": {"name": "forge-token"},
                    "apiURL": github.api_url,
                    **approval,
                },
            },
        },
        "status": {},
    }


def _kube(canary: Obj, url: str) -> MemoryKube:
    return MemoryKube(
        canary,
        {"kind": "Deployment", "metadata": {"name": "podinfo", "namespace": "test"}, "spec": {}},
        {
            "kind": "GitRepository",
            "metadata": {"name": "fleet", "namespace": "test"},
            "spec": {"url": url, "ref": {"branch": "main"}, "secretRef": {"name": "fleet-auth"}},
        },
        {
            "kind": "Secret",
            "metadata": {"name": "fleet-auth", "namespace": "test"},
            "data": {
                "username": base64.b64encode(GIT_USER.encode()).decode(),
                "password": base64.b64encode(GIT_PASSWORD.encode()).decode(),
            },
        },
        {
            "kind": "Secret",
            "metadata": {"name": "forge-token", "namespace": "test"},
            "data": {"token": base64.b64encode(TOKEN.encode()).decode()},
        },
    )


async def _promotion_intent() -> Obj:
    return {
        "id": "0123456789abcdef",
        "kind": "promotion",
        "image": NEW,
        "previousImage": OLD,
        "result": "promoted",
    }


def _gate(kube: MemoryKube, canary: Obj, now: float = NOW) -> ApprovalGate:
    return ApprovalGate(
        kube=cast(Kube, kube),
        canary=canary,
        revision=REVISION,
        promotion_intent=_promotion_intent,
        summary="3/3 metric checks passed.",
        now=now,
    )


def _persist(canary: Obj, gate: ApprovalGate) -> None:
    """What the runner does with ``gate.status`` in the tick's status patch."""
    assert gate.status is not None
    canary["status"] = {"gitops": {"approval": gate.status}}


HEAD = branch_name("test", "podinfo", REVISION)


async def test_closed_gate_pushes_the_branch_and_opens_the_pull_request(
    bare: Path, remote: str, github: FakeGitHub, tmp_path: Path
) -> None:
    canary = _canary(github)
    kube = _kube(canary, remote)
    gate = _gate(kube, canary)

    answer = await gate.confirm()

    assert not answer.ok and "opened pull request" in answer.message
    assert list(github.pulls) == [1]
    pr = github.pulls[1]
    assert (pr["head"], pr["base"], pr["state"]) == (HEAD, "main", "open")
    assert pr["title"] == f"gitcanary: promote test/podinfo to {NEW}"
    assert "3/3 metric checks passed." in pr["body"] and "clusters/canary.yaml" in pr["body"]
    assert gate.status == {
        "pullRequestURL": f"{github.root}/org/repo/pull/1",
        "number": 1,
        "state": "open",
        "revision": REVISION,
        "openedAt": "2027-01-15T08:00:00Z",
    }
    kustomization = git(bare, "show", f"{HEAD}:apps/podinfo/kustomization.yaml")
    assert kustomization == KUSTOMIZATION.replace("newTag: 6.0.0", "newTag: 6.0.1")
    manifest = git(bare, "show", f"{HEAD}:clusters/canary.yaml")
    assert f"  annotations:\n    {APPROVED_REVISION_ANNOTATION}: {REVISION}\n" in manifest
    assert (
        manifest.replace(f"  annotations:\n    {APPROVED_REVISION_ANNOTATION}: {REVISION}\n", "")
        == CANARY_YAML
    )
    assert git(bare, "rev-parse", "main") == git(bare, "rev-parse", f"{HEAD}~1"), "branched from main"
    message = git(bare, "log", "-1", "--format=%B", HEAD)
    assert "Gitcanary-Intent: 0123456789abcdef" in message, "same id as the later promotion write-back"
    assert [e["reason"] for e in kube.events] == ["ApprovalRequested"]


async def test_asking_again_adopts_the_pull_request_and_the_branch(
    bare: Path, remote: str, github: FakeGitHub
) -> None:
    canary = _canary(github)
    kube = _kube(canary, remote)
    await _gate(kube, canary).confirm()
    tip = git(bare, "rev-parse", HEAD)

    # The status was lost (crash before the patch): the branch and the open PR are adopted.
    again = _gate(kube, canary)
    answer = await again.confirm()
    assert not answer.ok
    assert list(github.pulls) == [1] and again.status is not None and again.status["number"] == 1
    assert git(bare, "rev-parse", HEAD) == tip
    assert [r.method for r in github.requests].count("POST") == 1

    # With the status persisted, the next tick only reads the PR.
    _persist(canary, again)
    github.requests.clear()
    third = _gate(kube, canary)
    assert not (await third.confirm()).ok
    assert [(r.method, r.path) for r in github.requests] == [("GET", "/repos/org/repo/pulls/1")]


async def test_annotation_for_this_revision_opens_the_gate(
    bare: Path, remote: str, github: FakeGitHub
) -> None:
    canary = _canary(github)
    canary["metadata"]["annotations"] = {APPROVED_REVISION_ANNOTATION: "older-revision"}
    kube = _kube(canary, remote)
    _persist(canary, await _asked(_gate(kube, canary)))
    github.merge(1, "c" * 40)

    answer = await _gate(kube, canary).confirm()
    assert not answer.ok and "merged; waiting for Flux" in answer.message

    canary["metadata"]["annotations"] = {APPROVED_REVISION_ANNOTATION: REVISION}
    requests = len(github.requests)
    assert (await _gate(kube, canary).confirm()).ok
    assert not (await _gate(kube, canary).rollback()).ok
    assert len(github.requests) == requests, "an approved revision needs no forge call"


async def _asked(gate: ApprovalGate) -> ApprovalGate:
    answer = await gate.confirm()
    assert gate.status is not None and gate.status.get("number") == 1, answer.message
    return gate


async def test_pull_request_closed_unmerged_requests_a_rollback(
    bare: Path, remote: str, github: FakeGitHub
) -> None:
    canary = _canary(github)
    kube = _kube(canary, remote)
    assert not (await _gate(kube, canary).rollback()).ok, "no PR yet: nothing rejected"
    _persist(canary, await _asked(_gate(kube, canary)))
    assert not (await _gate(kube, canary).rollback()).ok, "open PR within the timeout"

    github.close(1)
    gate = _gate(kube, canary)
    answer = await gate.rollback()
    assert answer.ok and "closed without merging" in answer.message
    assert gate.status is not None and gate.status["state"] == "closed"
    assert github.comments == {}


async def test_timeout_requests_a_rollback_and_comments(bare: Path, remote: str, github: FakeGitHub) -> None:
    canary = _canary(github, timeout="1h")
    kube = _kube(canary, remote)
    _persist(canary, await _asked(_gate(kube, canary)))

    assert not (await _gate(kube, canary, now=NOW + 3599).rollback()).ok
    answer = await _gate(kube, canary, now=NOW + 3600).rollback()
    assert answer.ok and "not approved within 1h" in answer.message
    assert len(github.comments[1]) == 1 and REVISION in github.comments[1][0]

    waiting = _canary(github, timeout="1h", onTimeout="wait")
    waiting["status"] = canary["status"]
    assert not (await _gate(_kube(waiting, remote), waiting, now=NOW + 7200).rollback()).ok


async def test_missing_canary_manifest_is_reported(
    bare: Path, remote: str, github: FakeGitHub, tmp_path: Path
) -> None:
    seed = tmp_path / "seed"
    git(seed, "rm", "--quiet", "clusters/canary.yaml")
    git(seed, "commit", "--quiet", "-m", "no canary manifest")
    git(seed, "push", "--quiet", "origin", "HEAD:main")
    canary = _canary(github)
    kube = _kube(canary, remote)

    assert not (await _gate(kube, canary).confirm()).ok

    assert "was not found in the repository" in github.pulls[1]["body"]
    assert [e["reason"] for e in kube.events] == ["ApprovalRequested", "ApprovalManifestNotFound"]
    assert "newTag: 6.0.1" in git(bare, "show", f"{HEAD}:apps/podinfo/kustomization.yaml")


async def test_forge_failure_closes_the_gate_without_leaking_the_token(
    bare: Path, remote: str, github: FakeGitHub
) -> None:
    canary = _canary(github)
    canary["spec"]["gitops"]["approval"]["apiURL"] = github.api_url + "/nowhere"
    kube = _kube(canary, remote)
    answer = await _gate(kube, canary).confirm()
    assert not answer.ok and "approval by pull request failed" in answer.message
    assert TOKEN not in answer.message
    assert [e["reason"] for e in kube.events] == ["ApprovalFailed"]


def test_promote_to_intents_are_deterministic_and_split_by_approval() -> None:
    gitops = {
        "promoteTo": [
            {"path": "./production", "approval": "none"},
            {"path": "./eu", "approval": "pullRequest"},
            {"path": "./us", "approval": "none", "branch": "us"},
        ]
    }
    promotion = {"id": "p1", "kind": "promotion", "image": NEW, "previousImage": OLD, "canaryRevision": "r"}
    first = queue_promote_to(gitops, "test/podinfo", promotion, [], NOW)
    again = queue_promote_to(gitops, "test/podinfo", promotion, [], NOW + 60)
    assert [i["id"] for i in first] == [i["id"] for i in again]
    assert len({i["id"] for i in first}) == 3 and [i["path"] for i in first] == [
        "./production",
        "./eu",
        "./us",
    ]
    assert queue_promote_to(gitops, "test/podinfo", promotion, first[:2], NOW) == [first[2]]

    intents = [
        make_intent(
            kind="promoteTo",
            canary="test/podinfo",
            revision="r",
            repository=REMOTE,
            branch="main",
            path=raw["path"],
            image=NEW,
            previous_image=OLD,
            result="proposed",
        )
        for raw in first
    ]
    local, elsewhere = split_intents(intents, gitops, "main")
    assert [i.path for i in local] == ["./production"]
    assert [i.path for i in elsewhere] == ["./eu", "./us"]
