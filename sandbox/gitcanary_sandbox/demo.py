"""``gitcanary demo``: the whole loop on a local sandbox, narrated.

1. Start the sandbox (building the control plane on first use) and the controller.
2. Seed a fleet repository on the authenticated smart-HTTP remote: podinfo's Deployment with a
   Flux ``$imagepolicy`` marker, a semver ImagePolicy, and a production overlay with a
   ``$gitcanary`` pin. Register it as a Flux GitRepository + Kustomization (the demo plays Flux's
   part: it applies what Git holds).
3. A healthy 6.0.1 arrives: blue/green analysis over real Prometheus metrics, promotion, and a
   write-back commit that pins production to 6.0.1. The Canary's traffic is real requests: its
   ``rollout`` webhook asks ``gitcanary loadtester`` (``type: cmd``) to run ``hey`` against the
   canary Service's host name, the traffic simulator answers them for the fake pods with the
   configured error rate and latency, and Prometheus scrapes what they got.
4. A broken 6.0.2 arrives (30% errors): rollback, and a write-back commit that reverts the image
   in Git and quarantines 6.0.2 in the ImagePolicy.
5. Print ``git log`` with the trailers. Any failure exits non-zero with the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from gitcanary_sandbox import demo_load, environment, processes
from gitcanary_sandbox.client import SandboxClient

NS = "demo"
IMAGE = "ghcr.io/stefanprodan/podinfo"
QUERY = (
    '100 - sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",'
    'destination_workload="{{ target }}",response_code!~"5.*"}[{{ interval }}])) / '
    'sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",'
    'destination_workload="{{ target }}"}[{{ interval }}])) * 100'
)
FILES = {
    "apps/podinfo/deployment.yaml": f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: {NS}
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
          image: {IMAGE}:6.0.0 # {{"$imagepolicy": "flux-system:podinfo"}}
""",
    "apps/podinfo/imagepolicy.yaml": """\
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
""",
    "apps/production/kustomization.yaml": f"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../podinfo
images:
  - name: {IMAGE}
    newTag: 6.0.0 # {{"$gitcanary": "{NS}:podinfo:tag"}}
""",
}


def _step(message: str) -> None:
    click.secho(f"==> {message}", fg="cyan", err=True)


class Fleet:
    """A clone of the sandbox's fleet repository over authenticated smart HTTP."""

    def __init__(self, git: dict[str, str], tmp: Path) -> None:
        askpass = tmp / "askpass.sh"
        askpass.write_text('#!/bin/sh\ncase "$1" in Username*) echo "$GC_USER";; *) echo "$GC_PASS";; esac\n')
        askpass.chmod(0o700)
        self.env = {
            **os.environ,
            "GIT_ASKPASS": str(askpass),
            "GC_USER": git["http_username"],
            "GC_PASS": git["http_password"],
            "GIT_TERMINAL_PROMPT": "0",
        }
        self.work = tmp / "fleet"
        self.git("clone", "-q", git["http_url"], str(self.work), cwd=tmp)

    def git(self, *args: str, cwd: Path | None = None) -> str:
        res = subprocess.run(
            ["git", *args], cwd=cwd or self.work, env=self.env, capture_output=True, text=True, timeout=60
        )
        if res.returncode != 0:
            detail = res.stderr.strip() or res.stdout.strip()
            raise RuntimeError(f"git {' '.join(a for a in args if not a.startswith('user.'))}: {detail}")
        return res.stdout

    def commit(self, files: dict[str, str], message: str) -> str:
        self.git("pull", "-q", "--rebase", "origin", "main")
        for name, text in files.items():
            (self.work / name).parent.mkdir(parents=True, exist_ok=True)
            (self.work / name).write_text(text)
        self.git("add", ".")
        self.git(
            "-c",
            "user.name=flux-image-automation",
            "-c",
            "user.email=flux@example.com",
            "commit",
            "--allow-empty",  # a rerun after an interrupted demo may find the files already so
            "-qm",
            message,
        )
        self.git("push", "-q", "origin", "HEAD:main")
        return self.git("rev-parse", "HEAD").strip()

    def show(self, name: str) -> str:
        self.git("pull", "-q", "--rebase", "origin", "main")
        return (self.work / name).read_text()


def _apply(client: SandboxClient, *objs: dict[str, Any]) -> None:
    client.kubectl(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)})
    )


def _canary_status(client: SandboxClient) -> dict[str, Any]:
    raw = json.loads(client.kubectl("get", "canaries.gitcanary.io", "-n", NS, "podinfo", "-o", "json"))
    status: dict[str, Any] = raw.get("status") or {}
    return status


def _wait(what: str, probe: Callable[[], bool], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(1)


def _flux_applies(client: SandboxClient, fleet: Fleet, sha: str) -> None:
    """Play Flux: fetch the revision (source-controller's artifact), apply the Deployment that Git
    holds with Flux's labels, then record the applied revision (kustomize-controller's order)."""
    revision = f"main@sha1:{sha}"
    inventory = {"id": f"{NS}_podinfo_apps_Deployment", "v": "v1"}
    artifact = {
        "revision": revision,
        "digest": "sha256:" + hashlib.sha256(sha.encode()).hexdigest(),
        "lastUpdateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "path": f"gitrepository/flux-system/fleet/{sha}.tar.gz",
        "url": f"http://source-controller.flux.correlation-system.svc/gitrepository/flux-system/fleet/{sha}.tar.gz",
    }
    client.kubectl(
        "patch",
        "gitrepository",
        "-n",
        "flux-system",
        "fleet",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"artifact": artifact}}),
    )
    text = fleet.show("apps/podinfo/deployment.yaml")
    client.kubectl("apply", "-f", "-", stdin=text)
    client.kubectl(
        "label",
        "deployment",
        "-n",
        NS,
        "podinfo",
        "--overwrite",
        "kustomize.toolkit.fluxcd.io/name=apps",
        "kustomize.toolkit.fluxcd.io/namespace=flux-system",
    )
    client.kubectl(
        "patch",
        "kustomization",
        "-n",
        "flux-system",
        "apps",
        "--subresource=status",
        "--type=merge",
        "-p",
        # kustomize-controller's inventory: without it, gitcanary does not trust the labels.
        json.dumps({"status": {"lastAppliedRevision": revision, "inventory": {"entries": [inventory]}}}),
    )


def _flux_objects(client: SandboxClient, git: dict[str, str]) -> None:
    client.kubectl("create", "namespace", "flux-system", check=False)
    _apply(
        client,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "fleet-auth", "namespace": "flux-system"},
            "stringData": {"username": git["http_username"], "password": git["http_password"]},
        },
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            # The platform admits the demo's namespace to write through its repository.
            "metadata": {
                "name": "fleet",
                "namespace": "flux-system",
                "annotations": {"gitcanary.io/allowed-namespaces": NS},
            },
            "spec": {
                "interval": "1m",
                "url": git["http_url"],
                "ref": {"branch": "main"},
                "secretRef": {"name": "fleet-auth"},
            },
        },
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {
                "interval": "10m",
                "prune": True,
                "path": "./apps",
                "sourceRef": {"kind": "GitRepository", "name": "fleet"},
            },
        },
    )


def _canary(prometheus_url: str, loadtester_url: str, exporter_url: str) -> list[dict[str, Any]]:
    template = {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "MetricTemplate",
        "metadata": {"name": "error-rate", "namespace": NS},
        "spec": {"provider": {"type": "prometheus", "address": prometheus_url}, "query": QUERY},
    }
    canary = {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": NS},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {
                "interval": "10s",
                "threshold": 2,
                "iterations": 3,
                "metrics": [
                    {
                        "name": "error-rate",
                        "templateRef": {"name": "error-rate"},
                        "thresholdRange": {"max": 1},
                        "interval": "10s",
                    }
                ],
                "webhooks": [demo_load.webhook(NS, loadtester_url, exporter_url)],
            },
            "gitops": {"path": "./apps"},
        },
    }
    return [template, canary]


def _release(client: SandboxClient, fleet: Fleet, tag: str, error_rate: float) -> None:
    # No simulated rate (rps 0): the canary's metrics are only the load tester's requests, answered
    # with this error rate.
    client.set_traffic(NS, "podinfo", rps=0, error_rate=error_rate)
    text = (
        fleet.show("apps/podinfo/deployment.yaml")
        .replace(":6.0.0 #", f":{tag} #")
        .replace(":6.0.1 #", f":{tag} #")
    )
    sha = fleet.commit({"apps/podinfo/deployment.yaml": text}, f"chore: update podinfo to {tag}")
    click.echo(f"    image automation committed {tag} ({sha[:12]})")
    _flux_applies(client, fleet, sha)


def _scenario(client: SandboxClient, tmp: Path, loadtester_url: str) -> None:
    git = client.git_remotes()
    _step("seeding the fleet repository (Deployment with $imagepolicy, ImagePolicy, production pin)")
    fleet = Fleet(git, tmp)
    sha = fleet.commit(FILES, "podinfo 6.0.0")
    client.kubectl("create", "namespace", NS, check=False)
    _flux_objects(client, git)
    _flux_applies(client, fleet, sha)
    client.set_traffic(NS, "podinfo", rps=0, error_rate=0.0)
    _apply(client, *_canary(client.state.prometheus_url, loadtester_url, client.state.exporter_url))
    _wait("Initialized", lambda: _canary_status(client).get("phase") == "Initialized")
    click.echo(client.kubectl("get", "deployments,services", "-n", NS))

    _step("a healthy 6.0.1: blue/green analysis over Prometheus, the load tester's hey as traffic, promotion")
    click.echo(
        f"    rollout webhook: {loadtester_url}/ type cmd: {demo_load.load_cmd(NS, client.state.exporter_url)}"
    )
    before = demo_load.served(client, NS)
    _release(client, fleet, "6.0.1", 0.0)
    _wait("Succeeded", lambda: _canary_status(client).get("phase") == "Succeeded")
    demo_load.report(client, NS, before)
    _wait(
        "the promotion write-back",
        lambda: (
            (_canary_status(client).get("gitops") or {}).get("lastWriteBack", {}).get("result") == "promoted"
        ),
    )
    click.echo(
        "    production pin: " + fleet.show("apps/production/kustomization.yaml").splitlines()[-1].strip()
    )

    _step("a broken 6.0.2 (30% errors): rollback, revert and quarantine in Git")
    before = demo_load.served(client, NS)
    _release(client, fleet, "6.0.2", 0.3)
    _wait("Failed", lambda: _canary_status(client).get("phase") == "Failed")
    demo_load.report(client, NS, before)
    _wait(
        "the rollback write-back",
        lambda: (
            (_canary_status(client).get("gitops") or {}).get("lastWriteBack", {}).get("result")
            == "rolled-back"
        ),
    )
    image_line = next(
        line for line in fleet.show("apps/podinfo/deployment.yaml").splitlines() if "image:" in line
    )
    click.echo(f"    deployment: {image_line.strip()}")
    range_line = next(
        line for line in fleet.show("apps/podinfo/imagepolicy.yaml").splitlines() if "range" in line
    )
    click.echo(f"    imagepolicy: {range_line.strip()}")

    _step("events")
    click.echo(
        client.kubectl(
            "get",
            "events",
            "-n",
            NS,
            "--field-selector",
            "involvedObject.kind=Canary",
            "--sort-by=.lastTimestamp",
            "-o",
            "custom-columns=TYPE:.type,MESSAGE:.message",
        )
    )
    _step("kubectl get canaries")
    click.echo(client.kubectl("get", "canaries.gitcanary.io", "-A", "-o", "wide"))
    _step("git log: the audit trail")
    click.echo(fleet.git("log", "-3", "--format=%h %an: %s%n%(trailers:only)"))


def run_demo(base: Path | None, keep: bool = False) -> int:
    base = base or environment.default_dir()
    _step(f"starting the sandbox in {base} (the first run builds Kubernetes from Go modules)")
    state = environment.up(base)
    failed = {part: reason for part, reason in state.parts.items() if reason != "ok"}
    if failed:
        for part, reason in failed.items():
            click.secho(f"sandbox part {part} did not start: {reason}", fg="red", err=True)
        if not keep:
            environment.down(base, quiet=True)
        return 1
    client = SandboxClient(state)
    port = processes.free_port()
    log = base / "logs" / "demo-controller.log"
    env = {
        **os.environ,
        "GITCANARY_METRICS_SERVER": state.prometheus_url,
        "GITCANARY_GIT_CACHE": str(base / "git-cache"),
    }
    with open(log, "wb") as out:
        controller = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "controller.cli.main",
                "run",
                f"--kubeconfig={state.kubeconfig}",
                f"--health=http://127.0.0.1:{port}/healthz",
                f"--metrics-addr=127.0.0.1:{processes.free_port()}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    loadtester: subprocess.Popen[bytes] | None = None
    try:
        for line in environment.describe(state):
            click.echo(f"    {line}")
        client.kubectl("delete", "namespace", NS, "--wait=true", "--timeout=60s", check=False)
        _wait("the controller", lambda: processes.http_ok(f"http://127.0.0.1:{port}/healthz"), 60)
        loadtester, loadtester_url = demo_load.start_loadtester(base)
        click.echo(f"    LOADTESTER_URL={loadtester_url}")
        with tempfile.TemporaryDirectory() as tmp:
            _scenario(client, Path(tmp), loadtester_url)
        _step("demo finished")
        return 0
    except Exception as exc:
        click.secho(f"demo failed: {exc}\ncontroller log: {log}", fg="red", err=True)
        return 1
    finally:
        for proc in (controller, loadtester):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=20)
        if not keep:
            environment.down(base, quiet=True)
            click.echo("sandbox stopped (use --keep to leave it running)", err=True)
