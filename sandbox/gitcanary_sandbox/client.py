"""What tests and the demo use to drive a running sandbox."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitcanary_sandbox.binaries import kube_bin_dir
from gitcanary_sandbox.environment import SandboxState


@dataclass
class SandboxClient:
    state: SandboxState

    @property
    def kubeconfig(self) -> Path:
        self.state.require("kube-apiserver")
        return Path(self.state.kubeconfig)

    def require(self, part: str) -> None:
        self.state.require(part)

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120) -> str:
        proc = subprocess.run(
            [str(kube_bin_dir() / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout if proc.returncode == 0 else proc.stderr

    def set_traffic(
        self,
        namespace: str,
        name: str,
        *,
        rps: float = 10.0,
        error_rate: float = 0.0,
        latency_ms: float = 50.0,
        slow_latency_ms: float = 1000.0,
        slow_fraction: float = 0.0,
    ) -> None:
        """Set what the exporter reports for one workload (Istio and http_requests_total families)."""
        self.state.require("exporter")
        body = json.dumps(
            {
                "rps": rps,
                "errorRate": error_rate,
                "latencyMs": latency_ms,
                "slowLatencyMs": slow_latency_ms,
                "slowFraction": slow_fraction,
            }
        ).encode()
        req = urllib.request.Request(
            f"{self.state.exporter_url}/workloads/{namespace}/{name}",
            data=body,
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            resp.read()

    def prom_query(self, query: str) -> list[dict[str, Any]]:
        self.state.require("prometheus")
        url = f"{self.state.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        with urllib.request.urlopen(url, timeout=10) as resp:
            payload = json.loads(resp.read())
        if payload.get("status") != "success":
            raise RuntimeError(f"prometheus query failed: {payload}")
        result: list[dict[str, Any]] = payload["data"]["result"]
        return result

    def wait_prom_value(self, query: str, predicate: Any, timeout: float = 30.0) -> float:
        """Poll until the first sample satisfies ``predicate``; return it."""
        deadline = time.monotonic() + timeout
        last: object = "no samples"
        while time.monotonic() < deadline:
            result = self.prom_query(query)
            if result:
                value = float(result[0]["value"][1])
                last = value
                if predicate(value):
                    return value
            time.sleep(0.5)
        raise AssertionError(f"{query}: last value {last} never satisfied the predicate in {timeout}s")

    def git_remotes(self) -> dict[str, str]:
        self.state.require("git")
        return dict(self.state.git)
