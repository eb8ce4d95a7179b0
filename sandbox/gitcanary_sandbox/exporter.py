"""A traffic simulator that Prometheus scrapes: per-workload request rate, error
rate and latency, set at run time over HTTP.

Run as ``python -m gitcanary_sandbox.exporter --port P --state FILE``.

Control API (JSON):
  PUT    /workloads/<namespace>/<name>  {"rps": 10, "errorRate": 0.05, "latencyMs": 80, "slowLatencyMs": 900,
                                         "slowFraction": 0.0}
  GET    /workloads                     the current settings
  DELETE /workloads/<namespace>/<name>
  GET    /metrics                       Prometheus text format
  GET    /served                        real requests answered, per workload: {"<ns>/<name>": {"ok": n, "errors": n}}

Any other request whose ``Host`` is a Service of a workload (``<service>.<namespace>``, optionally
``.svc...`` and ``:port``) is answered on behalf of that workload's pods, with its settings'
error rate (HTTP 500) and latency (``latencyMs``, or ``slowLatencyMs`` for ``slowFraction`` of the
requests), and counted in its metrics: a load generator (the load tester's ``hey -host``) then
makes the metrics the analysis reads. ``<name>-canary`` and ``<name>-primary`` name the workloads
``<name>`` and ``<name>-primary``, as the generated Services select them. A workload set with
``rps`` 0 has no simulated traffic, only the real requests.

Exported families (the names the built-in queries and MetricTemplates use):
  istio_requests_total{reporter, destination_workload, destination_workload_namespace, response_code}
  istio_request_duration_milliseconds_bucket|_sum|_count{reporter, destination_workload, ..., le}
  http_requests_total{kubernetes_namespace, kubernetes_pod_name, app, status}
  http_request_duration_seconds_bucket|_sum|_count{kubernetes_namespace, kubernetes_pod_name, app, le}
  envoy_cluster_upstream_rq{kubernetes_namespace, kubernetes_pod_name, app, envoy_response_code}
  envoy_cluster_upstream_rq_time_bucket|_sum|_count{kubernetes_namespace, kubernetes_pod_name, app, le}
    (milliseconds, as the Envoy sidecar of an App Mesh pod reports them; the pod-name form
    ``<workload>-<hash>-<id>`` is what the built-in ``appmesh`` queries select the canary by)

Invariants: counters only grow (a setting change integrates the old rate up to
now first); settings persist in the state file so a restart keeps them.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


@dataclass
class Traffic:
    rps: float = 10.0
    errorRate: float = 0.0
    latencyMs: float = 50.0
    slowLatencyMs: float = 1000.0
    slowFraction: float = 0.0


@dataclass
class Counters:
    ok: float = 0.0
    errors: float = 0.0
    fast: float = 0.0
    slow: float = 0.0
    duration_sum_ms: float = 0.0
    updated: float = field(default_factory=time.time)


class TrafficBook:
    """Thread-safe store of workload settings and their integrated counters."""

    def __init__(self, state_file: Path | None) -> None:
        self._lock = threading.Lock()
        self._state_file = state_file
        self.traffic: dict[tuple[str, str], Traffic] = {}
        self.counters: dict[tuple[str, str], Counters] = {}
        self.served: dict[tuple[str, str], dict[str, int]] = {}
        if state_file and state_file.exists():
            for key, value in json.loads(state_file.read_text()).items():
                ns, name = key.split("/", 1)
                self.traffic[(ns, name)] = Traffic(**value)
                self.counters[(ns, name)] = Counters()

    def _integrate(self, key: tuple[str, str], now: float) -> None:
        t, c = self.traffic[key], self.counters[key]
        n = max(0.0, now - c.updated) * t.rps
        c.errors += n * t.errorRate
        c.ok += n * (1 - t.errorRate)
        c.slow += n * t.slowFraction
        c.fast += n * (1 - t.slowFraction)
        c.duration_sum_ms += n * ((1 - t.slowFraction) * t.latencyMs + t.slowFraction * t.slowLatencyMs)
        c.updated = now

    def _persist(self) -> None:
        if self._state_file:
            data = {f"{ns}/{name}": asdict(t) for (ns, name), t in self.traffic.items()}
            tmp = self._state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            tmp.replace(self._state_file)

    def set(self, ns: str, name: str, traffic: Traffic) -> None:
        with self._lock:
            key = (ns, name)
            if key in self.traffic:
                self._integrate(key, time.time())
            else:
                self.counters[key] = Counters()
            self.traffic[key] = traffic
            self._persist()

    def answer(self, ns: str, name: str) -> tuple[int, float] | None:
        """How one real request to the workload is answered, ``(status, latency ms)``, counted in its
        metrics; None when the workload is unknown."""
        with self._lock:
            key = (ns, name)
            t = self.traffic.get(key)
            if t is None:
                return None
            self._integrate(key, time.time())
            c = self.counters[key]
            status = 500 if random.random() < t.errorRate else 200
            slow = random.random() < t.slowFraction
            latency = t.slowLatencyMs if slow else t.latencyMs
            c.errors, c.ok = (c.errors + 1, c.ok) if status == 500 else (c.errors, c.ok + 1)
            c.slow, c.fast = (c.slow + 1, c.fast) if slow else (c.slow, c.fast + 1)
            c.duration_sum_ms += latency
            served = self.served.setdefault(key, {"ok": 0, "errors": 0})
            served["errors" if status == 500 else "ok"] += 1
            return status, latency

    def delete(self, ns: str, name: str) -> bool:
        with self._lock:
            found = self.traffic.pop((ns, name), None) is not None
            self.counters.pop((ns, name), None)
            self._persist()
            return found

    def render(self) -> str:
        with self._lock:
            now = time.time()
            for key in self.traffic:
                self._integrate(key, now)
            return render_metrics(self.traffic, self.counters)


def _bucket_counts(t: Traffic, c: Counters) -> list[tuple[str, float]]:
    out = []
    for le in BUCKETS_MS:
        count = (c.fast if t.latencyMs <= le else 0.0) + (c.slow if t.slowLatencyMs <= le else 0.0)
        out.append((str(le), count))
    out.append(("+Inf", c.fast + c.slow))
    return out


def render_metrics(traffic: dict[tuple[str, str], Traffic], counters: dict[tuple[str, str], Counters]) -> str:
    lines = [
        "# TYPE istio_requests_total counter",
        "# TYPE istio_request_duration_milliseconds histogram",
        "# TYPE http_requests_total counter",
        "# TYPE http_request_duration_seconds histogram",
        "# TYPE envoy_cluster_upstream_rq counter",
        "# TYPE envoy_cluster_upstream_rq_time histogram",
    ]
    for (ns, name), t in sorted(traffic.items()):
        c = counters[(ns, name)]
        istio = f'reporter="destination",destination_workload="{name}",destination_workload_namespace="{ns}"'
        pod = f'kubernetes_namespace="{ns}",kubernetes_pod_name="{name}-7d9c8b5f4-x2x9q",app="{name}"'
        lines.append(f'istio_requests_total{{{istio},response_code="200"}} {c.ok:.6f}')
        lines.append(f'istio_requests_total{{{istio},response_code="500"}} {c.errors:.6f}')
        lines.append(f'http_requests_total{{{pod},status="200"}} {c.ok:.6f}')
        lines.append(f'http_requests_total{{{pod},status="500"}} {c.errors:.6f}')
        lines.append(f'envoy_cluster_upstream_rq{{{pod},envoy_response_code="200"}} {c.ok:.6f}')
        lines.append(f'envoy_cluster_upstream_rq{{{pod},envoy_response_code="500"}} {c.errors:.6f}')
        for le, count in _bucket_counts(t, c):
            lines.append(f'istio_request_duration_milliseconds_bucket{{{istio},le="{le}"}} {count:.6f}')
            le_s = le if le == "+Inf" else str(float(le) / 1000)
            lines.append(f'http_request_duration_seconds_bucket{{{pod},le="{le_s}"}} {count:.6f}')
            lines.append(f'envoy_cluster_upstream_rq_time_bucket{{{pod},le="{le}"}} {count:.6f}')
        total = c.fast + c.slow
        lines.append(f"istio_request_duration_milliseconds_sum{{{istio}}} {c.duration_sum_ms:.6f}")
        lines.append(f"istio_request_duration_milliseconds_count{{{istio}}} {total:.6f}")
        lines.append(f"http_request_duration_seconds_sum{{{pod}}} {c.duration_sum_ms / 1000:.6f}")
        lines.append(f"http_request_duration_seconds_count{{{pod}}} {total:.6f}")
        lines.append(f"envoy_cluster_upstream_rq_time_sum{{{pod}}} {c.duration_sum_ms:.6f}")
        lines.append(f"envoy_cluster_upstream_rq_time_count{{{pod}}} {total:.6f}")
    return "\n".join(lines) + "\n"


def make_handler(book: TrafficBook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _reply(self, code: int, body: str, ctype: str = "application/json") -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _workload(self) -> tuple[str, str] | None:
            parts = self.path.strip("/").split("/")
            if len(parts) == 3 and parts[0] == "workloads":
                return parts[1], parts[2]
            return None

        def _served_workload(self) -> tuple[str, str] | None:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].split(".")
            if len(host) < 2 or not host[0] or not host[1] or host[0] == "127":
                return None
            service, ns = host[0], host[1]
            return ns, service.removesuffix("-canary")

        def _serve_workload(self, key: tuple[str, str]) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(min(length, 1 << 20))
            answer = book.answer(*key)
            if answer is None:
                self._reply(503, json.dumps({"error": f"no workload {key[0]}/{key[1]} in the simulator"}))
                return
            status, latency_ms = answer
            time.sleep(latency_ms / 1000)
            self._reply(status, json.dumps({"workload": f"{key[0]}/{key[1]}", "status": status}))

        def do_POST(self) -> None:
            key = self._served_workload()
            if key is None:
                self._reply(404, '{"error": "not found"}')
                return
            self._serve_workload(key)

        def do_GET(self) -> None:
            key = self._served_workload()
            if key is not None:
                self._serve_workload(key)
            elif self.path == "/metrics":
                self._reply(200, book.render(), "text/plain; version=0.0.4")
            elif self.path == "/workloads":
                data = {f"{ns}/{n}": asdict(t) for (ns, n), t in book.traffic.items()}
                self._reply(200, json.dumps(data))
            elif self.path == "/healthz":
                self._reply(200, '{"ok": true}')
            elif self.path == "/served":
                data = {f"{ns}/{n}": dict(v) for (ns, n), v in book.served.items()}
                self._reply(200, json.dumps(data))
            else:
                self._reply(404, '{"error": "not found"}')

        def do_PUT(self) -> None:
            key = self._workload()
            if key is None:
                self._reply(404, '{"error": "use /workloads/<namespace>/<name>"}')
                return
            length = int(self.headers.get("Content-Length", "0"))
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                traffic = Traffic(**body)
            except (ValueError, TypeError) as exc:
                self._reply(400, json.dumps({"error": f"invalid traffic settings: {exc}"}))
                return
            if (
                not 0.0 <= traffic.errorRate <= 1.0
                or not 0.0 <= traffic.slowFraction <= 1.0
                or traffic.rps < 0
            ):
                self._reply(400, '{"error": "errorRate and slowFraction must be in [0, 1], rps >= 0"}')
                return
            book.set(key[0], key[1], traffic)
            self._reply(200, json.dumps(asdict(traffic)))

        def do_DELETE(self) -> None:
            key = self._workload()
            if key is None or not book.delete(*key):
                self._reply(404, '{"error": "no such workload"}')
                return
            self._reply(200, '{"deleted": true}')

    return Handler


def serve(port: int, state: Path | None) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(TrafficBook(state)))
    server.daemon_threads = True
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, default=None)
    args = parser.parse_args()
    serve(args.port, args.state)


if __name__ == "__main__":
    main()
