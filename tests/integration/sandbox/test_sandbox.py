"""The sandbox is real: pods roll out, schemas are enforced, Prometheus scrapes, git remotes authenticate."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from gitcanary_sandbox.client import SandboxClient


def _deployment(name: str, replicas: int) -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "ghcr.io/stefanprodan/podinfo:6.0.0"}]},
                },
            },
        }
    )


def test_deployment_becomes_available_with_three_ready_pods(sandbox: SandboxClient, namespace: str) -> None:
    sandbox.kubectl("apply", "-n", namespace, "-f", "-", stdin=_deployment("web", 3))
    sandbox.kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=90s", timeout=120)
    deploy = json.loads(sandbox.kubectl("get", "-n", namespace, "deployment/web", "-o", "json"))
    assert deploy["status"]["availableReplicas"] == 3
    conditions = {c["type"]: c["status"] for c in deploy["status"]["conditions"]}
    assert conditions["Available"] == "True"
    pods = json.loads(sandbox.kubectl("get", "pods", "-n", namespace, "-l", "app=web", "-o", "json"))["items"]
    ready = [
        p
        for p in pods
        if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    ]
    assert len(ready) == 3
    assert all(p["spec"]["nodeName"].startswith("kwok-node-") for p in ready)


def test_nodes_are_ready_and_untainted(sandbox: SandboxClient) -> None:
    nodes = json.loads(sandbox.kubectl("get", "nodes", "-o", "json"))["items"]
    assert len(nodes) >= 3
    for node in nodes:
        assert not node["spec"].get("taints")
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


def _httproute(weight: object) -> str:
    return json.dumps(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "podinfo"},
            "spec": {
                "rules": [{"backendRefs": [{"name": "podinfo-primary", "port": 9898, "weight": weight}]}]
            },
        }
    )


def test_upstream_httproute_schema_rejects_bad_weight(sandbox: SandboxClient, namespace: str) -> None:
    sandbox.kubectl("apply", "-n", namespace, "-f", "-", stdin=_httproute(90))
    err = sandbox.kubectl("apply", "-n", namespace, "-f", "-", stdin=_httproute(-5), check=False)
    assert "weight" in err and ("should be greater than or equal to 0" in err or "Invalid value" in err), err


def test_rbac_authorization_is_enforced(sandbox: SandboxClient, namespace: str) -> None:
    sandbox.kubectl("create", "serviceaccount", "-n", namespace, "nobody")
    user = f"--as=system:serviceaccount:{namespace}:nobody"
    out = sandbox.kubectl("get", "secrets", "-n", namespace, user, check=False)
    assert "Forbidden" in out or "forbidden" in out, out


def test_promql_returns_the_error_rate_the_test_set(sandbox: SandboxClient) -> None:
    sandbox.set_traffic("promtest", "podinfo", rps=50, error_rate=0.25, latency_ms=80)
    query = (
        'sum(rate(istio_requests_total{destination_workload_namespace="promtest",'
        'destination_workload="podinfo",response_code=~"5.*"}[5s])) / '
        'sum(rate(istio_requests_total{destination_workload_namespace="promtest",destination_workload="podinfo"}[5s]))'
    )
    value = sandbox.wait_prom_value(query, lambda v: abs(v - 0.25) < 0.01, timeout=30)
    assert abs(value - 0.25) < 0.01
    sandbox.set_traffic("promtest", "podinfo", rps=50, error_rate=0.0, latency_ms=80)
    sandbox.wait_prom_value(query, lambda v: v < 0.01, timeout=30)


def test_promql_latency_histogram(sandbox: SandboxClient) -> None:
    sandbox.set_traffic("promtest", "slow", rps=20, latency_ms=80, slow_latency_ms=2000, slow_fraction=0.5)
    query = (
        "histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{"
        'destination_workload_namespace="promtest",destination_workload="slow"}[5s])) by (le))'
    )
    value = sandbox.wait_prom_value(query, lambda v: v > 1000, timeout=30)
    assert 1000 < value <= 2500


# --- git remotes -------------------------------------------------------------------------------


def _git(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    return subprocess.run(["git", *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=60)


def _askpass(tmp: Path, username: str, password: str) -> dict[str, str]:
    script = tmp / "askpass.sh"
    script.write_text('#!/bin/sh\ncase "$1" in Username*) echo "$GC_USER";; *) echo "$GC_PASS";; esac\n')
    script.chmod(0o700)
    return {"GIT_ASKPASS": str(script), "GC_USER": username, "GC_PASS": password}


def _ssh_env(identity: str, known_hosts: str) -> dict[str, str]:
    return {
        "GIT_SSH_COMMAND": (
            f"ssh -i {identity} -o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes "
            "-o IdentitiesOnly=yes -o BatchMode=yes"
        )
    }


def _push_and_fetch(url: str, tmp: Path, env: dict[str, str], marker: str) -> None:
    work = tmp / f"clone-{marker}"
    res = _git("clone", url, str(work), env=env)
    assert res.returncode == 0, res.stderr
    (work / f"{marker}.txt").write_text(marker)
    _git("add", ".", cwd=work)
    res = _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-m", marker, cwd=work)
    assert res.returncode == 0, res.stderr
    res = _git("push", "origin", "HEAD:main", cwd=work, env=env)
    assert res.returncode == 0, res.stderr
    check = tmp / f"check-{marker}"
    res = _git("clone", url, str(check), env=env)
    assert res.returncode == 0, res.stderr
    assert (check / f"{marker}.txt").read_text() == marker


@pytest.mark.parametrize("kind", ["file_url", "daemon_url", "http_url", "http_token", "ssh_url"])
def test_push_and_fetch_through_every_remote(sandbox: SandboxClient, tmp_path: Path, kind: str) -> None:
    git = sandbox.git_remotes()
    if kind == "http_url":
        url, env = git["http_url"], _askpass(tmp_path, git["http_username"], git["http_password"])
    elif kind == "http_token":
        url = git["http_url"]
        env = {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Bearer {git['http_token']}",
        }
    elif kind == "ssh_url":
        url, env = git["ssh_url"], _ssh_env(git["ssh_identity"], git["ssh_known_hosts"])
    else:
        url, env = git[kind], {}
    _push_and_fetch(url, tmp_path, env, f"{kind}-{time.time_ns()}")


def test_http_remote_refuses_a_wrong_password(sandbox: SandboxClient, tmp_path: Path) -> None:
    git = sandbox.git_remotes()
    env = _askpass(tmp_path, git["http_username"], "not-the-password")
    res = _git("ls-remote", git["http_url"], env=env)
    assert res.returncode != 0
    assert "Authentication failed" in res.stderr or "401" in res.stderr, res.stderr
    assert "not-the-password" not in res.stderr


def test_http_remote_refuses_anonymous_access(sandbox: SandboxClient) -> None:
    res = _git("ls-remote", sandbox.git_remotes()["http_url"])
    assert res.returncode != 0


def test_ssh_remote_refuses_an_unknown_key(sandbox: SandboxClient, tmp_path: Path) -> None:
    git = sandbox.git_remotes()
    key = tmp_path / "intruder"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    res = _git("ls-remote", git["ssh_url"], env=_ssh_env(str(key), git["ssh_known_hosts"]))
    assert res.returncode != 0
    assert "Permission denied" in res.stderr, res.stderr


def test_ssh_remote_refuses_an_unknown_host_key(sandbox: SandboxClient, tmp_path: Path) -> None:
    git = sandbox.git_remotes()
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    res = _git("ls-remote", git["ssh_url"], env=_ssh_env(git["ssh_identity"], str(empty)))
    assert res.returncode != 0
    assert "Host key verification failed" in res.stderr, res.stderr
