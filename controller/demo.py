"""``gitcanary demo``: a guided tour on a local sandbox.

It starts the sandbox (building the control plane on first use), deploys
podinfo onto the fake nodes, drives traffic into Prometheus and shows the
success rate the canary analysis would read, and pushes a commit through the
authenticated git remote. Each step prints what it checked; any failure exits
non-zero with the reason.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import click

from controller.sandbox import environment
from controller.sandbox.client import SandboxClient

SUCCESS_RATE = (
    'sum(rate(istio_requests_total{{destination_workload_namespace="{ns}",destination_workload="{name}",'
    'response_code!~"5.*"}}[10s])) / sum(rate(istio_requests_total{{destination_workload_namespace="{ns}",'
    'destination_workload="{name}"}}[10s])) * 100'
)


def _podinfo(namespace: str) -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "podinfo", "namespace": namespace},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "podinfo"}},
                "template": {
                    "metadata": {"labels": {"app": "podinfo"}},
                    "spec": {
                        "containers": [{"name": "podinfod", "image": "ghcr.io/stefanprodan/podinfo:6.0.0"}]
                    },
                },
            },
        }
    )


def _step(message: str) -> None:
    click.secho(f"==> {message}", fg="cyan", err=True)


def _show_traffic(client: SandboxClient, error_rate: float) -> float:
    client.set_traffic("demo", "podinfo", rps=20, error_rate=error_rate)
    query = SUCCESS_RATE.format(ns="demo", name="podinfo")
    expected = 100 * (1 - error_rate)
    value = client.wait_prom_value(query, lambda v: abs(v - expected) < 1.0, timeout=45)
    click.echo(f"    request-success-rate = {value:.2f}% (exporter set to {expected:.0f}%)")
    return value


def _push_commit(client: SandboxClient) -> str:
    git = client.git_remotes()
    with tempfile.TemporaryDirectory() as tmp:
        askpass = Path(tmp) / "askpass.sh"
        askpass.write_text('#!/bin/sh\ncase "$1" in Username*) echo "$GC_USER";; *) echo "$GC_PASS";; esac\n')
        askpass.chmod(0o700)
        env = {
            "GIT_ASKPASS": str(askpass),
            "GC_USER": git["http_username"],
            "GC_PASS": git["http_password"],
            "GIT_TERMINAL_PROMPT": "0",
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        }
        work = Path(tmp) / "fleet"
        subprocess.run(["git", "clone", "-q", git["http_url"], str(work)], env=env, check=True, timeout=60)
        (work / "demo.txt").write_text("gitcanary demo was here\n")
        subprocess.run(["git", "add", "demo.txt"], cwd=work, check=True)
        subprocess.run(
            [
                "git",
                "-c",
                "user.name=gitcanary-demo",
                "-c",
                "user.email=demo@gitcanary.invalid",
                "commit",
                "-q",
                "-m",
                "demo: touch demo.txt",
            ],
            cwd=work,
            check=True,
        )
        subprocess.run(
            ["git", "push", "-q", "origin", "HEAD:main"], cwd=work, env=env, check=True, timeout=60
        )
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True, check=True
        )
        return sha.stdout.strip()


def run_demo(base: Path | None, keep: bool = False) -> int:
    base = base or environment.default_dir()
    _step(f"starting the sandbox in {base} (the first run builds Kubernetes from Go modules)")
    state = environment.up(base)
    client = SandboxClient(state)
    try:
        for line in environment.describe(state):
            click.echo(f"    {line}")
        _step("fake nodes")
        click.echo(client.kubectl("get", "nodes"))
        _step("deploying podinfo (2 replicas) and waiting for the rollout")
        client.kubectl("create", "namespace", "demo", check=False)
        client.kubectl("apply", "-f", "-", stdin=_podinfo("demo"))
        client.kubectl("rollout", "status", "-n", "demo", "deployment/podinfo", "--timeout=90s", timeout=120)
        click.echo(client.kubectl("get", "pods", "-n", "demo", "-o", "wide"))
        _step("healthy traffic, as Prometheus sees it")
        _show_traffic(client, 0.0)
        _step("an unhealthy version: 30% errors")
        _show_traffic(client, 0.30)
        _step("a write-back commit through the authenticated smart-HTTP remote")
        click.echo(f"    pushed {_push_commit(client)}")
        _step("demo finished")
        return 0
    except Exception as exc:
        click.secho(f"demo failed: {exc}", fg="red", err=True)
        return 1
    finally:
        if not keep:
            environment.down(base, quiet=True)
            click.echo("sandbox stopped (use --keep to leave it running)", err=True)
