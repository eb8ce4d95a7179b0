"""The controller's own Prometheus metrics (served by ``gitcanary run --metrics-addr``).

- ``gitcanary_tick_lateness_seconds``: how late a timed tick started compared with when the engine
  asked for it (the scale target: p99 under 1 s with 1,000 progressing canaries);
- ``gitcanary_tick_duration_seconds``: one tick, from fetching the Canary to persisting its status;
- ``gitcanary_canaries``: the Canaries with a running analysis loop;
- ``gitcanary_write_backs_total{result}``: write-back attempts by outcome;
- ``gitcanary_info{version, mesh_provider}``: 1, set when the endpoint starts (Flagger's ``flagger_info``).

The per-Canary series (Flagger's ``canary_*`` under ``gitcanary_``) are in :mod:`controller.canary_metrics`.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import Counter, Gauge, Histogram, start_http_server

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)

TICK_LATENESS = Histogram(
    "gitcanary_tick_lateness_seconds", "Delay between a tick's scheduled and actual start.", buckets=BUCKETS
)
TICK_DURATION = Histogram(
    "gitcanary_tick_duration_seconds", "Duration of one reconcile tick.", buckets=BUCKETS
)
CANARIES = Gauge("gitcanary_canaries", "Canaries with a running analysis loop.")
WRITE_BACKS = Counter("gitcanary_write_backs_total", "Write-back attempts by outcome.", ["result"])
for _result in ("committed", "error"):  # both start at zero, so rate() sees the first of each
    WRITE_BACKS.labels(_result)
INFO = Gauge(
    "gitcanary_info", "gitcanary version and mesh provider information", ["version", "mesh_provider"]
)
DEFAULT_MESH_PROVIDER = "kubernetes"


def controller_version() -> str:
    """The installed distribution's version; a source tree that was never installed has none."""
    try:
        return version("gitcanary")
    except PackageNotFoundError:
        return "unknown"


def serve(address: str) -> None:
    """Serve /metrics on ``host:port`` in a background thread."""
    INFO.labels(controller_version(), os.environ.get("GITCANARY_MESH_PROVIDER") or DEFAULT_MESH_PROVIDER).set(
        1
    )
    host, _, port = address.rpartition(":")
    start_http_server(int(port), addr=host or "0.0.0.0")
