"""What the cluster-fault campaign and the soak share (bench/chaos/cluster_faults.py, soak.py).

- ``private_sandbox``: the running sandbox in ``--sandbox-dir`` (neither started nor stopped), else
  one of the campaign's own in a temporary directory (with the Flux controllers when asked),
  stopped at the end. These campaigns restart the apiserver and etcd: never point them at a
  sandbox other work is using.
- ``ControlPlane``: stop and start again the sandbox's kube-apiserver, etcd, Prometheus and Flux
  controllers, the way the sandbox started them (same ports, data, certificates).
- ``DelayingProxy``: a reverse proxy in front of Prometheus that answers after ``delay`` seconds
  (0 = at once); MetricTemplates and ``--metrics-server`` point at it, so the campaign can make
  Prometheus slow without touching it. When Prometheus refuses the connection (it is down), the
  proxy resets the client's connection, as Prometheus's closed port would. Counts requests, the
  most in flight at once, the resets and any other upstream failure (answered 502).
- ``release_fleet``: delete a campaign's Canaries while its controller runs, then its namespaces.
- ``flux_serves_head``: how long until every GitRepository's artifact is the remote's head.
- ``first_ticks``: when the controller's log first shows each Canary ticking after a moment.
- ``verify``: the exactly-once audit of a campaign of healthy Canaries (one write-back per
  revision, promoted or inconclusive; nothing pending; no decision announced twice), with the
  inconclusive Events counted by cause.
- ``proc_sample``: a process's RSS (``/proc/<pid>/status`` VmRSS) and open descriptors
  (``/proc/<pid>/fd``).
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import re
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from chaos_fleet import REPO, GitServer, Obj, audit, events
from kill_campaign import TERMINAL, Canary, analysed_tag

from gitcanary_sandbox import controlplane, environment, flux, flux_binaries, processes
from gitcanary_sandbox.binaries import ensure_binaries
from gitcanary_sandbox.client import SandboxClient
from gitcanary_sandbox.pki import ensure_pki
from gitcanary_sandbox.prometheus import start_prometheus

sys.path.insert(0, str(REPO / "bench"))
from bench_support import release

UPSTREAM_TIMEOUT_S = 30.0
MAX_BODY = 8 * 1024 * 1024


@contextmanager
def private_sandbox(sandbox_dir: Path | None, with_flux: bool) -> Iterator[SandboxClient]:
    if sandbox_dir is not None:
        state = environment.SandboxState.load(sandbox_dir)
        if state is None:
            raise SystemExit(f"no sandbox state in {sandbox_dir} (start one: gitcanary sandbox up --dir D)")
        yield SandboxClient(state)
        return
    base = Path(tempfile.mkdtemp(prefix="gitcanary-cluster-chaos-"))
    try:
        yield SandboxClient(environment.up(base, progress=lambda m: None, with_flux=with_flux))
    finally:
        environment.down(base, quiet=True)
        shutil.rmtree(base, ignore_errors=True)


class ControlPlane:
    """Stop and start the sandbox's services again, as ``environment.up`` started them."""

    def __init__(self, sandbox: SandboxClient) -> None:
        self.sandbox = sandbox
        self.base = Path(sandbox.state.dir)
        p = sandbox.state.ports
        self.ports = controlplane.ControlPlanePorts(
            p["etcd_client"],
            p["etcd_peer"],
            p["apiserver"],
            p["controller_manager"],
            p["scheduler"],
            p["kwok"],
        )
        self.bins = ensure_binaries(lambda m: None)
        self.pki = ensure_pki(self.base / "pki")
        self.down: list[str] = []

    def stop(self, name: str) -> None:
        if not processes.stop(self.base, name):
            raise RuntimeError(f"sandbox service {name} was not running")
        self.down.append(name)

    def restore(self) -> None:
        """Start again whatever a campaign that failed midway left stopped."""
        for name in list(self.down):
            self.start(name)

    def start(self, name: str) -> None:
        if name in self.down:
            self.down.remove(name)
        if name == "kube-apiserver":
            controlplane.start_apiserver(self.base, self.bins, self.pki, self.ports)
        elif name == "etcd":
            controlplane.start_etcd(self.base, self.bins, self.ports)
        elif name == "prometheus":
            p = self.sandbox.state.ports
            start_prometheus(self.base, p["prometheus"], p["exporter"])
        elif name in flux_binaries.CONTROLLER_NAMES:
            binary = flux_binaries.build_controller(flux_binaries.controller(name), lambda m: None)
            flux.start_controller(
                self.base, name, binary, Path(self.sandbox.state.kubeconfig), self.sandbox.state.ports
            )
        else:
            raise ValueError(f"cannot restart {name}")

    def has_flux(self) -> bool:
        return all(self.sandbox.state.parts.get(n) == "ok" for n in flux_binaries.CONTROLLER_NAMES)


class _Proxy(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.upstream = upstream.rstrip("/")
        self.delay = 0.0
        self.lock = threading.Lock()
        self.requests = self.in_flight = self.most_in_flight = self.bad_gateway = self.refused = 0


class _Forward(http.server.BaseHTTPRequestHandler):
    server: _Proxy

    def log_message(self, format: str, *args: object) -> None:
        return

    def _forward(self) -> None:
        proxy = self.server
        with proxy.lock:
            proxy.requests += 1
            proxy.in_flight += 1
            proxy.most_in_flight = max(proxy.most_in_flight, proxy.in_flight)
            delay = proxy.delay
        try:
            length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
            body = self.rfile.read(length) if length else None
            time.sleep(delay)
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "accept")}
            request = urllib.request.Request(
                proxy.upstream + self.path, data=body, headers=headers, method=self.command
            )
            try:
                with urllib.request.urlopen(request, timeout=UPSTREAM_TIMEOUT_S) as answer:
                    status, payload = answer.status, answer.read(MAX_BODY)
                    content_type = answer.headers.get("Content-Type") or "application/json"
            except urllib.error.HTTPError as exc:
                status, payload = exc.code, exc.read(MAX_BODY)
                content_type = exc.headers.get("Content-Type") or "application/json"
            except OSError as exc:
                if isinstance(getattr(exc, "reason", exc), ConnectionError):
                    # Prometheus is down: the client sees what it would without the proxy, a reset.
                    with proxy.lock:
                        proxy.refused += 1
                    self.close_connection = True
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    return
                with proxy.lock:
                    proxy.bad_gateway += 1
                status, payload, content_type = 502, f"upstream: {exc}".encode(), "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (its own deadline) while we waited: nothing to answer
            return
        finally:
            with proxy.lock:
                proxy.in_flight -= 1

    do_GET = do_POST = _forward


class DelayingProxy:
    """See the module docstring."""

    def __init__(self, upstream: str) -> None:
        self.server = _Proxy(upstream)
        self.thread = threading.Thread(target=self.server.serve_forever, name="prom-proxy", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def set_delay(self, seconds: float) -> None:
        with self.server.lock:
            self.server.delay = seconds

    def reset_counts(self) -> None:
        with self.server.lock:
            self.server.requests = self.server.most_in_flight = self.server.bad_gateway = (
                self.server.refused
            ) = 0

    def counts(self) -> dict[str, int]:
        with self.server.lock:
            s = self.server
            return {
                "requests": s.requests,
                "most in flight": s.most_in_flight,
                "bad gateway": s.bad_gateway,
                "refused": s.refused,
            }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def release_fleet(sandbox: SandboxClient, namespaces: list[str]) -> None:
    """Delete the Canaries and GitRepositories while their controllers run (so their finalizers
    go and no namespace stays Terminating), then the namespaces."""
    for ns in namespaces:
        release(
            sandbox, ns, ("canaries.gitcanary.io", "gitrepositories.source.toolkit.fluxcd.io"), timeout_s=30
        )
    sandbox.kubectl("delete", "namespace", *namespaces, "--wait=false", check=False)


def flux_serves_head(sandbox: SandboxClient, namespaces: list[str], head: str, timeout: float) -> float:
    """Seconds until every GitRepository's artifact is the remote's head (inf after ``timeout``)."""
    start = time.monotonic()
    for ns in namespaces:  # ask now: the GitRepositories' own interval is a minute
        stamp = f"reconcile.fluxcd.io/requestedAt={time.time()}"
        sandbox.kubectl("annotate", "--overwrite", "-n", ns, "gitrepository/fleet", stamp, check=False)
    while time.monotonic() - start < timeout:
        items = json.loads(sandbox.kubectl("get", "gitrepositories", "-A", "-o", "json", check=False) or "{}")
        revisions = {
            i["metadata"]["namespace"]: ((i.get("status") or {}).get("artifact") or {}).get("revision", "")
            for i in items.get("items", [])
        }
        if all(revisions.get(ns, "").endswith(head) for ns in namespaces):
            return time.monotonic() - start
        time.sleep(1)
    return float("inf")


def verify(
    sandbox: SandboxClient, server: GitServer, fleet: list[Canary], statuses: dict[str, Obj]
) -> Counter[str]:
    found: Counter[str] = Counter()
    blocks = audit(server.bare)
    for c in fleet:
        mine = [b for b in blocks if b.canary == f"{c.ns}/podinfo"]
        status = statuses.get(c.ns, {})
        if not c.done or status.get("phase") not in TERMINAL:
            found["unfinished"] += 1
            print(f"  {c.ns}: phase {status.get('phase')} (done={c.done})")
        if (status.get("gitops") or {}).get("pending"):
            found["stuck (intents pending)"] += 1
        for tag in c.tags:
            hits = [b for b in mine if analysed_tag(b) == tag]
            found["lost write-backs"] += not hits
            found["duplicated write-backs"] += max(0, len(hits) - 1)
            for b in hits:
                found[f"result {b.result}"] += 1
                found["wrong results"] += b.result not in ("promoted", "inconclusive")
            if len(hits) != 1:
                print(f"  {c.ns}: {len(hits)} write-backs for {tag}")
        found["duplicated write-backs"] += sum(n - 1 for n in Counter(b.intent for b in mine).values())
        found["decisions"] += len(c.tags)
        said = 0
        for event in events(sandbox, c.ns):
            message, count = event["message"], int(event.get("count") or 1)
            if message.startswith(("Promotion completed! Scaling down", "Canary failed! Scaling down")):
                said += count
            for cause in ("unreachable", "timeout"):
                if f"inconclusive ({cause})" in message:
                    found[f"inconclusive Events ({cause})"] += count
        found["decision Events repeated"] += max(0, said - len(c.tags))
    return found


def point_templates_at(objs: list[Obj], address: str) -> list[Obj]:
    """The campaign's objects with every MetricTemplate querying ``address``."""
    for obj in objs:
        if obj.get("kind") == "MetricTemplate":
            obj["spec"]["provider"]["address"] = address
    return objs


@dataclass(frozen=True)
class ProcSample:
    at: float
    rss_kib: int
    fds: int


def proc_sample(pid: int) -> ProcSample:
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return ProcSample(time.monotonic(), rss, len(os.listdir(f"/proc/{pid}/fd")))


_TICK = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] controller\.reconcile +\[INFO +\] ([^/\s]+)/"
)


def first_ticks(logs: list[Path], since: float) -> dict[str, float]:
    """Namespace -> wall time of the first ``controller.reconcile`` INFO line about its Canary at
    or after ``since`` (the controller logs local time, as ``datetime.timestamp`` reads it)."""
    found: dict[str, float] = {}
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            match = _TICK.match(line)
            if match is None:
                continue
            at = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            if at >= since and at < found.get(match.group(2), float("inf")):
                found[match.group(2)] = at
    return found


def tracebacks(logs: list[Path]) -> int:
    return sum(
        p.read_text(errors="replace").count("Traceback (most recent call last)") for p in logs if p.exists()
    )
