"""Debian's Prometheus scraping the sandbox traffic exporter every second.

Other scrape targets (a running controller's ``/metrics``, for example) are added at runtime with
:func:`add_scrape_target`: it writes a file that the ``gitcanary-sandbox-targets`` job reads
through ``file_sd_configs``. Prometheus watches that directory and scrapes a new target within
about five seconds (its scrape manager applies target changes at most every 5 s), with no restart
or reload; a running sandbox started before this job existed needs a ``sandbox down``/``up``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from gitcanary_sandbox import processes

SCRAPE_INTERVAL = "1s"
TARGETS_DIR = "scrape-targets"


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
            "gitcanary_sandbox.exporter",
            f"--port={port}",
            f"--state={base / 'traffic.json'}",
        ],
    )
    processes.wait_until(svc, lambda: processes.http_ok(f"http://127.0.0.1:{port}/healthz"), "exporter", 30)
    return svc


def add_scrape_target(base: Path, name: str, address: str, labels: dict[str, str] | None = None) -> Path:
    """Have the sandbox Prometheus scrape ``http://<address>/metrics`` as job
    ``gitcanary-sandbox-targets`` with ``labels``; return the file to pass to
    :func:`remove_scrape_target`. The file is replaced atomically, so Prometheus never reads half."""
    directory = base / TARGETS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    partial = directory / f".{name}.json.tmp"
    partial.write_text(json.dumps([{"targets": [address], "labels": dict(labels or {})}]))
    os.replace(partial, path)
    return path


def remove_scrape_target(path: Path) -> None:
    path.unlink(missing_ok=True)


def start_prometheus(base: Path, port: int, exporter_port: int) -> processes.Service:
    config = base / "prometheus.yml"
    (base / TARGETS_DIR).mkdir(parents=True, exist_ok=True)
    config.write_text(
        f"""global:
  scrape_interval: {SCRAPE_INTERVAL}
  evaluation_interval: {SCRAPE_INTERVAL}
scrape_configs:
  - job_name: gitcanary-sandbox-traffic
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:{exporter_port}"]
  - job_name: gitcanary-sandbox-targets
    file_sd_configs:
      - files: ["{base / TARGETS_DIR}/*.json"]
        refresh_interval: 5s
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
