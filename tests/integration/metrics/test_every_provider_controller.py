"""One ``gitcanary run`` drives a Canary per metric provider type at once, each in its namespace.

Real servers: Prometheus (the sandbox's, scraping the traffic exporter), Graphite (Debian's
carbon-cache and graphite-web, fed every second while the test runs), the external metrics API
(an APIService aggregated into the sandbox's kube-apiserver), Keptn (a KeptnMetric object in
the sandbox's API server) and CloudWatch (moto's server mode, SigV4). Contract servers, which
refuse any request not shaped as Flagger's provider tests pin: Datadog, New Relic, Dynatrace,
Stackdriver, Splunk and InfluxDB's Flux API (Debian's InfluxDB 1.6 serves no Flux; see
test_metric_servers_sandbox.py). Every Canary reaches promotion; a second Prometheus Canary is
rolled back by the simulated error rate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitcanary_sandbox import external_metrics, graphite, optional, processes
from gitcanary_sandbox.client import SandboxClient
from tests.builders import ERROR_RATE_QUERY, canary, deployment
from tests.integration.metrics.saas_backends import INTERVAL_S, Backend, all_backends
from tests.integration.operator.test_canary_lifecycle import _apply, _get

REPO = Path(__file__).resolve().parents[3]
VALUE = 1.5  # every backend's answer; the threshold is max 5
KEPTN_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "keptnmetrics.metrics.keptn.sh"},
    "spec": {
        "group": "metrics.keptn.sh",
        "names": {
            "kind": "KeptnMetric",
            "listKind": "KeptnMetricList",
            "plural": "keptnmetrics",
            "singular": "keptnmetric",
        },
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1beta1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"mp{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def controller(
    sandbox: SandboxClient, prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A ``gitcanary run`` of this module's own, for its ``<prefix>-*`` namespaces only."""
    sandbox.require("prometheus")
    log = tmp_path_factory.mktemp("every-provider") / "controller.log"
    port = processes.free_port()
    env = {**os.environ, "GITCANARY_METRICS_SERVER": sandbox.state.prometheus_url}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "controller.cli.main", "run",
                f"--kubeconfig={sandbox.kubeconfig}",
                f"--health=http://127.0.0.1:{port}/healthz",
                f"--metrics-addr=127.0.0.1:{processes.free_port()}",
                f"--namespace={prefix}-*",
            ],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not processes.http_ok(f"http://127.0.0.1:{port}/healthz"):
            assert proc.poll() is None and time.monotonic() < deadline, processes.log_tail(log, 40)
            time.sleep(0.3)
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def graphite_feed(sandbox: SandboxClient, prefix: str) -> Iterator[str]:
    """Graphite's URL; a thread writes ``<prefix>.errors`` = VALUE every second meanwhile."""
    base = Path(sandbox.state.dir)
    url = optional.ensure(base, "graphite")
    line_port = json.loads((base / "state.json").read_text())["ports"]["carbon_line"]
    stop = threading.Event()

    def feed() -> None:
        while not stop.wait(1.0):
            graphite.send(line_port, [(f"{prefix}.podinfo.errors", VALUE, time.time())])

    graphite.send(line_port, [(f"{prefix}.podinfo.errors", VALUE, time.time())])
    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        stop.set()
        thread.join(timeout=5)


def _real_backends(sandbox: SandboxClient, prefix: str, graphite_url: str) -> dict[str, Backend]:
    base = Path(sandbox.state.dir)
    optional.ensure(base, "external-metrics")
    metric_ns = f"{prefix}-externalmetrics"
    external_metrics.set_values(
        base, metric_ns, "podinfo-error-rate", [{"labels": {"app": "podinfo"}, "value": "1500m"}]
    )
    return {
        "prometheus": Backend(
            {"type": "prometheus", "address": sandbox.state.prometheus_url}, ERROR_RATE_QUERY
        ),
        "graphite": Backend(
            {"type": "graphite", "address": graphite_url},
            f"target=averageSeries({prefix}.{{{{ target }}}}.errors)&from=-{INTERVAL_S}s",
        ),
        "externalmetrics": Backend(
            {"type": "externalmetrics"}, "{{ namespace }}/podinfo-error-rate?labelSelector=app%3D{{ target }}"
        ),
        "keptn": Backend({"type": "keptn"}, "keptnmetric/{{ namespace }}/podinfo-error-rate"),
    }


def _keptn_metric(sandbox: SandboxClient, namespace: str) -> None:
    sandbox.kubectl("apply", "-f", "-", stdin=json.dumps(KEPTN_CRD))
    sandbox.kubectl(
        "wait", "--for=condition=Established", "crd/keptnmetrics.metrics.keptn.sh", "--timeout=30s"
    )
    metric = {
        "apiVersion": "metrics.keptn.sh/v1beta1",
        "kind": "KeptnMetric",
        "metadata": {"name": "podinfo-error-rate", "namespace": namespace},
        "spec": {"provider": {"name": "prometheus"}, "query": "x", "fetchIntervalSeconds": 10},
    }
    sandbox.kubectl("apply", "-f", "-", stdin=json.dumps(metric))
    sandbox.kubectl(
        "patch", "keptnmetric", "podinfo-error-rate", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"value": str(VALUE), "rawValue": "MS41"}}),
    )  # fmt: skip


def _launch(sandbox: SandboxClient, ns: str, backend: Backend) -> None:
    sandbox.kubectl("create", "namespace", ns)
    provider = dict(backend.provider)
    objs: list[dict[str, Any]] = [deployment(ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0", replicas=1)]
    if backend.secret:
        provider["secretRef"] = {"name": "provider-credentials"}
        objs.append(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "provider-credentials", "namespace": ns},
             "stringData": backend.secret}
        )  # fmt: skip
    objs.append(
        {"apiVersion": "gitcanary.io/v1beta1", "kind": "MetricTemplate",
         "metadata": {"name": "error-rate", "namespace": ns},
         "spec": {"provider": provider, "query": backend.query}}
    )  # fmt: skip
    objs.append(canary(ns, "podinfo", iterations=2, threshold=1, template="error-rate", max_error=5))
    _apply(sandbox, *objs)


def _phases(sandbox: SandboxClient, namespaces: list[str]) -> dict[str, str]:
    phases = {}
    for ns in namespaces:
        status = _get(sandbox, "canaries.gitcanary.io", ns, "podinfo").get("status") or {}
        phases[ns] = str(status.get("phase", ""))
    return phases


def _wait_phases(
    sandbox: SandboxClient, want: dict[str, set[str]], timeout: float, log: Path
) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    phases: dict[str, str] = {}
    while time.monotonic() < deadline:
        phases = _phases(sandbox, list(want))
        if all(phases[ns] in allowed for ns, allowed in want.items()):
            return phases
        time.sleep(1)
    late = {ns: p for ns, p in phases.items() if p not in want[ns]}
    events = {
        ns: sandbox.kubectl("get", "events", "-n", ns, "-o", "custom-columns=MSG:.message", check=False)[
            -900:
        ]
        for ns in late
    }
    raise AssertionError(
        f"phases {late} after {timeout:.0f}s\nevents: {events}\n{processes.log_tail(log, 40)}"
    )


def test_a_canary_per_provider_type_is_promoted_and_prometheus_also_rolls_back(
    sandbox: SandboxClient, controller: Path, graphite_feed: str, prefix: str
) -> None:
    started = time.monotonic()
    with all_backends(VALUE) as saas:
        backends = {**saas, **_real_backends(sandbox, prefix, graphite_feed)}
        healthy = {f"{prefix}-{name}": backend for name, backend in backends.items()}
        failing = f"{prefix}-rollback"
        for ns in (*healthy, failing):
            sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.0)
        try:
            for ns, backend in healthy.items():
                _launch(sandbox, ns, backend)
            _keptn_metric(sandbox, f"{prefix}-keptn")
            _launch(sandbox, failing, backends["prometheus"])
            everyone = [*healthy, failing]
            _wait_phases(sandbox, {ns: {"Initialized"} for ns in everyone}, 90, controller)
            sandbox.set_traffic(failing, "podinfo", rps=20, error_rate=0.3)
            sandbox.wait_prom_value(
                f'sum(rate(istio_requests_total{{destination_workload_namespace="{failing}",response_code="500"}}[10s]))',
                lambda v: v > 3,
                timeout=30,
            )
            for ns in everyone:
                sandbox.kubectl(
                    "set",
                    "image",
                    "-n",
                    ns,
                    "deployment/podinfo",
                    "podinfod=ghcr.io/stefanprodan/podinfo:6.0.1",
                )
            want = {ns: {"Succeeded"} for ns in healthy} | {failing: {"Failed"}}
            _wait_phases(sandbox, want, 180, controller)
            for ns in healthy:
                image = _get(sandbox, "deployment", ns, "podinfo-primary")["spec"]["template"]["spec"][
                    "containers"
                ][0]["image"]
                assert image.endswith(":6.0.1"), (ns, image)
            status = _get(sandbox, "canaries.gitcanary.io", failing, "podinfo").get("status") or {}
            assert "error-rate 30" in status["engine"]["lastFailure"]
        finally:
            for ns in (*healthy, failing):
                sandbox.kubectl("delete", "namespace", ns, "--wait=false", check=False)
    print(f"every provider: {len(healthy)} promoted, 1 rolled back in {time.monotonic() - started:.0f}s")
