"""Debian's Prometheus scraping the sandbox traffic exporter every second."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from controller.sandbox import processes

SCRAPE_INTERVAL = "1s"


def _prometheus_binary() -> str:
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if not found:
        raise processes.ServiceFailed("prometheus not found: install Debian's prometheus package")
    return found


def start_exporter(base: Path, port: int) -> processes.Service:
    svc = processes.start(
        base,
        "exporter",
        [
            sys.executable,
            "-m",
            "controller.sandbox.exporter",
            f"--port={port}",
            f"--state={base / 'traffic.json'}",
        ],
    )
    processes.wait_until(svc, lambda: processes.http_ok(f"http://127.0.0.1:{port}/healthz"), "exporter", 30)
    return svc


def start_prometheus(base: Path, port: int, exporter_port: int) -> processes.Service:
    config = base / "prometheus.yml"
    config.write_text(
        f"""global:
  scrape_interval: {SCRAPE_INTERVAL}
  evaluation_interval: {SCRAPE_INTERVAL}
scrape_configs:
  - job_name: gitcanary-sandbox-traffic
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:{exporter_port}"]
"""
    )
    svc = processes.start(
        base,
        "prometheus",
        [
            _prometheus_binary(),
            f"--config.file={config}",
            f"--storage.tsdb.path={base / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1d",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ],
    )
    processes.wait_until(
        svc, lambda: processes.http_ok(f"http://127.0.0.1:{port}/-/ready"), "prometheus /-/ready", 60
    )
    return svc
