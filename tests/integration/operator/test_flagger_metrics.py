"""The sandbox Prometheus scrapes a running `gitcanary run` through a rollback and a promotion,
and every panel query of the Grafana dashboard (docs/grafana/gitcanary-dashboard.json) returns data.

Real parts: the sandbox apiserver, the controller process, Prometheus scraping the controller's
``--metrics-addr`` (added at runtime through the sandbox's file_sd job), and the smart-HTTP git
remote for the write-backs. As in test_write_back.py, the test plays Flux's part.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gitcanary_sandbox import processes
from gitcanary_sandbox.client import SandboxClient
from gitcanary_sandbox.prometheus import add_scrape_target, remove_scrape_target
from tests.builders import canary, metric_template
from tests.integration.operator.test_canary_lifecycle import _apply, _get, _wait
from tests.integration.operator.test_write_back import (
    _askpass,
    _flux_applied_deployment,
    _flux_objects,
    _git,
    _seed_repo,
    _wait_errors,
)

REPO = Path(__file__).resolve().parents[3]
DASHBOARD = REPO / "docs" / "grafana" / "gitcanary-dashboard.json"
RATE_INTERVAL = "30s"  # what Grafana's $__rate_interval is for the 10 s refresh and 1 s scrape here
PER_CANARY = (
    "gitcanary_canary_status",
    "gitcanary_canary_weight",
    "gitcanary_canary_total",
    "gitcanary_canary_successes_total",
    "gitcanary_canary_failures_total",
    "gitcanary_canary_duration_seconds",
    "gitcanary_canary_metric_analysis",
    "gitcanary_write_back_pending_intents",
    "gitcanary_write_back_failing",
)


@pytest.fixture
def own_namespace(sandbox: SandboxClient) -> Iterator[str]:
    """Outside the session controller's `t-*`: only this test's controller owns it."""
    name = f"m-{uuid.uuid4().hex[:8]}"
    sandbox.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        sandbox.kubectl("delete", "namespace", name, "--wait=false", check=False)


@contextmanager
def scraped_controller(sandbox: SandboxClient, log: Path, namespace: str) -> Iterator[str]:
    """A controller for ``namespace`` whose /metrics the sandbox Prometheus scrapes; yields its address."""
    health, address = processes.free_port(), f"127.0.0.1:{processes.free_port()}"
    env = {**os.environ, "GITCANARY_METRICS_SERVER": sandbox.state.prometheus_url}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "controller.cli.main",
                "run",
                f"--kubeconfig={sandbox.kubeconfig}",
                f"--health=http://127.0.0.1:{health}/healthz",
                f"--metrics-addr={address}",
                f"--namespace={namespace}",
                "--mesh-provider=istio",
                "--allow-cross-namespace-refs",  # the GitRepository lives in flux-system
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
    target = add_scrape_target(Path(sandbox.state.dir), f"controller-{namespace}", address)
    try:
        deadline = time.monotonic() + 60
        while not processes.http_ok(f"http://127.0.0.1:{health}/healthz"):
            assert proc.poll() is None and time.monotonic() < deadline, processes.log_tail(log, 40)
            time.sleep(0.3)
        sandbox.wait_prom_value(f'up{{instance="{address}"}}', lambda v: v == 1, timeout=30)
        yield address
    finally:
        remove_scrape_target(target)
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)


def _status(sandbox: SandboxClient, ns: str) -> dict[str, Any]:
    status: dict[str, Any] = _get(sandbox, "canaries.gitcanary.io", ns, "podinfo").get("status") or {}
    return status


def _last_write_back(sandbox: SandboxClient, ns: str) -> str:
    return str(((_status(sandbox, ns).get("gitops") or {}).get("lastWriteBack") or {}).get("result"))


def _query_range(prometheus: str, query: str, start: float, end: float) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": query, "start": start, "end": end, "step": "2"})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{params}", timeout=10) as resp:
        payload = json.loads(resp.read())
    assert payload.get("status") == "success", (query, payload)
    result: list[dict[str, Any]] = payload["data"]["result"]
    return result


def _has_data(result: list[dict[str, Any]]) -> bool:
    return any(not math.isnan(float(v)) for series in result for _, v in series["values"])


def _substitute(expr: str, variables: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"unknown dashboard variable ${name} in {expr}"
        return variables[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def _panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    panels = [p for top in dashboard["panels"] for p in (top, *top.get("panels", []))]
    return [(p["title"], t["expr"]) for p in panels for t in p.get("targets", [])]


def _exposed(address: str, namespace: str) -> list[str]:
    """The controller's own exposition lines of the per-Canary families for ``namespace``."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    label = f'namespace="{namespace}"'
    return [line for line in text.splitlines() if line.startswith(PER_CANARY) and label in line]


def test_every_dashboard_panel_returns_data_after_a_rollback_and_a_promotion(
    sandbox: SandboxClient, own_namespace: str, tmp_path: Path
) -> None:
    ns, git, log = own_namespace, sandbox.git_remotes(), tmp_path / "controller.log"
    env = _askpass(tmp_path, git)
    work = _seed_repo(git, tmp_path, ns, env)
    _flux_objects(sandbox, ns, git, _git("rev-parse", "HEAD", cwd=work, env=env).strip())
    started = time.time()
    with scraped_controller(sandbox, log, ns) as address:
        sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.0)
        the_canary = canary(ns, "podinfo", iterations=2, threshold=2)
        the_canary["spec"]["gitops"] = {"path": f"./{ns}"}
        _apply(
            sandbox,
            _flux_applied_deployment(ns, "ghcr.io/stefanprodan/podinfo:6.0.0"),
            metric_template(ns, "error-rate", sandbox.state.prometheus_url),
            the_canary,
        )
        _wait("Initialized", lambda: _status(sandbox, ns).get("phase") == "Initialized", 60, log)

        # 6.0.1 fails and is rolled back in Git.
        sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.4)
        _wait_errors(sandbox, ns, lambda v: v > 5)
        _apply(sandbox, _flux_applied_deployment(ns, "ghcr.io/stefanprodan/podinfo:6.0.1"))
        _wait("Failed", lambda: _status(sandbox, ns).get("phase") == "Failed", 120, log)
        _wait("the rollback write-back", lambda: _last_write_back(sandbox, ns) == "rolled-back", 60, log)

        # Flux applies the revert; a healthy 6.0.2 is promoted and pinned.
        _apply(sandbox, _flux_applied_deployment(ns, "ghcr.io/stefanprodan/podinfo:6.0.0"))
        sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.0)
        _wait_errors(sandbox, ns, lambda v: v < 0.01)
        _apply(sandbox, _flux_applied_deployment(ns, "ghcr.io/stefanprodan/podinfo:6.0.2"))
        _wait("Succeeded", lambda: _status(sandbox, ns).get("phase") == "Succeeded", 120, log)
        _wait("the promotion write-back", lambda: _last_write_back(sandbox, ns) == "promoted", 60, log)

        # Prometheus has scraped the final state: each terminal transition counted once.
        target = f'name="podinfo",namespace="{ns}"'
        sandbox.wait_prom_value(f"gitcanary_canary_successes_total{{{target}}}", lambda v: v == 1, timeout=15)
        assert sandbox.prom_query(f"gitcanary_canary_failures_total{{{target}}}")[0]["value"][1] == "1"
        assert sandbox.prom_query(f"gitcanary_canary_status{{{target}}}")[0]["value"][1] == "1"
        weights = {
            r["metric"]["workload"]: r["value"][1]
            for r in sandbox.prom_query(f'gitcanary_canary_weight{{namespace="{ns}"}}')
        }
        assert weights == {"podinfo": "0", "podinfo-primary": "100"}
        info = sandbox.prom_query(f'gitcanary_info{{instance="{address}"}}')
        assert [r["metric"]["mesh_provider"] for r in info] == ["istio"]
        metrics = sandbox.prom_query(f"gitcanary_canary_metric_analysis{{{target}}}")
        assert [r["metric"]["metric"] for r in metrics] == ["error-rate"]

        dashboard = json.loads(DASHBOARD.read_text())
        end = time.time()
        variables = {
            "namespace": ns,
            "name": "podinfo",
            "datasource": "prometheus",
            "__rate_interval": RATE_INTERVAL,
            "__range": f"{math.ceil(end - started)}s",
        }
        for variable in dashboard["templating"]["list"]:
            if variable["type"] != "query":
                continue
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["query"]["query"])
            assert match, variable
            found = sandbox.prom_query(_substitute(match.group(1), variables))
            assert variables[variable["name"]] in {r["metric"].get(match.group(2)) for r in found}, variable
        queries = _panel_queries(dashboard)
        assert len(queries) >= 15
        empty = [
            (title, expr)
            for title, expr in queries
            if not _has_data(
                _query_range(sandbox.state.prometheus_url, _substitute(expr, variables), started, end)
            )
        ]
        assert not empty, f"panels without data: {empty}"

        # A deleted Canary's series are gone from the controller's endpoint.
        assert _exposed(address, ns)
        sandbox.kubectl("delete", "canaries.gitcanary.io", "-n", ns, "podinfo", "--wait=true")
        _wait("the deleted Canary's series to go", lambda: not _exposed(address, ns), 30, log)
