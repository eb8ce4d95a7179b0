"""A real Kubernetes control plane on loopback: etcd, kube-apiserver (RBAC on),
kube-controller-manager, kube-scheduler, and KWOK playing the kubelet for a few
fake Nodes, so Deployments really roll out and pods become Ready.

Invariants: every port is on 127.0.0.1 and chosen free at first start, then
kept in the sandbox state so kubeconfigs stay valid across restarts; every
start waits for the component's health endpoint with a deadline.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from gitcanary_sandbox import processes
from gitcanary_sandbox.binaries import Binaries
from gitcanary_sandbox.pki import Pki, write_kubeconfig

Progress = Callable[[str], None]

NODE_NAMES = ("kwok-node-0", "kwok-node-1", "kwok-node-2")
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
SERVICE_CIDR = "10.96.0.0/16"


@dataclass(frozen=True)
class ControlPlanePorts:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int


def _ssl_context(pki: Pki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.load_cert_chain(str(pki.admin.cert), str(pki.admin.key))
    return ctx


def start_etcd(base: Path, bins: Binaries, ports: ControlPlanePorts) -> processes.Service:
    data = base / "etcd-data"
    peer = f"http://127.0.0.1:{ports.etcd_peer}"
    client = f"http://127.0.0.1:{ports.etcd_client}"
    svc = processes.start(
        base,
        "etcd",
        [
            str(bins.etcd),
            "--name=sandbox",
            f"--data-dir={data}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=sandbox={peer}",
            "--quota-backend-bytes=4294967296",
            "--snapshot-count=50000",
            "--logger=zap",
            "--log-level=warn",
        ],
        env={"ETCD_UNSUPPORTED_ARCH": "amd64"},
    )
    processes.wait_until(svc, lambda: processes.http_ok(f"{client}/health"), "etcd /health", 60)
    return svc


def start_apiserver(base: Path, bins: Binaries, pki: Pki, ports: ControlPlanePorts) -> processes.Service:
    svc = processes.start(
        base,
        "kube-apiserver",
        [
            str(bins.kube_apiserver),
            f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports.apiserver}",
            f"--cert-dir={base / 'apiserver-certs'}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            "--profiling=false",
            "--event-ttl=1h",
            "--max-requests-inflight=1600",
            "--max-mutating-requests-inflight=800",
        ],
    )
    ctx = _ssl_context(pki)
    url = f"https://127.0.0.1:{ports.apiserver}/readyz"
    processes.wait_until(svc, lambda: processes.http_ok(url, ctx), "kube-apiserver /readyz", 120)
    return svc


def start_controller_manager(
    base: Path, bins: Binaries, pki: Pki, ports: ControlPlanePorts, server: str
) -> processes.Service:
    kubeconfig = write_kubeconfig(
        base / "controller-manager.kubeconfig",
        server,
        pki.ca_cert,
        pki.controller_manager,
        "system:kube-controller-manager",
    )
    svc = processes.start(
        base,
        "kube-controller-manager",
        [
            str(bins.kube_controller_manager),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports.controller_manager}",
            "--leader-elect=false",
            f"--service-account-private-key-file={pki.sa_key}",
            f"--root-ca-file={pki.ca_cert}",
            f"--cluster-signing-cert-file={pki.ca_cert}",
            f"--cluster-signing-key-file={pki.ca_key}",
            "--use-service-account-credentials=true",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
            # The node lifecycle controller removes the not-ready taint from fresh Nodes, but with
            # the default 50s grace it also marks healthy pods NotReady whenever KWOK's heartbeat
            # lags on a busy machine. Fake nodes never fail, so the grace period is a day.
            "--node-monitor-grace-period=24h",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--concurrent-deployment-syncs=20",
            "--concurrent-replicaset-syncs=20",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
        ],
    )
    url = f"https://127.0.0.1:{ports.controller_manager}/healthz"
    ctx = ssl._create_unverified_context()  # self-signed serving cert of the component
    processes.wait_until(svc, lambda: processes.http_ok(url, ctx), "kube-controller-manager /healthz", 90)
    return svc


def start_scheduler(
    base: Path, bins: Binaries, pki: Pki, ports: ControlPlanePorts, server: str
) -> processes.Service:
    kubeconfig = write_kubeconfig(
        base / "scheduler.kubeconfig", server, pki.ca_cert, pki.scheduler, "system:kube-scheduler"
    )
    svc = processes.start(
        base,
        "kube-scheduler",
        [
            str(bins.kube_scheduler),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports.scheduler}",
            "--leader-elect=false",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
        ],
    )
    url = f"https://127.0.0.1:{ports.scheduler}/healthz"
    ctx = ssl._create_unverified_context()
    processes.wait_until(svc, lambda: processes.http_ok(url, ctx), "kube-scheduler /healthz", 90)
    return svc


def start_kwok(
    base: Path, bins: Binaries, admin_kubeconfig: Path, ports: ControlPlanePorts
) -> processes.Service:
    svc = processes.start(
        base,
        "kwok",
        [
            str(bins.kwok),
            f"--kubeconfig={admin_kubeconfig}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
            "--node-ip=10.244.0.1",
            "--node-lease-duration-seconds=40",
            "--cidr=10.244.0.0/16",
            f"--server-address=127.0.0.1:{ports.kwok}",
        ],
    )
    processes.wait_until(
        svc, lambda: processes.http_ok(f"http://127.0.0.1:{ports.kwok}/healthz"), "kwok /healthz", 60
    )
    return svc


def kubectl(
    bins: Binaries, kubeconfig: Path, *args: str, stdin: str | None = None, timeout: float = 120
) -> str:
    proc = subprocess.run(
        [str(bins.kubectl), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def node_manifest(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/role": "agent",
            },
        },
        "status": {
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
        },
    }


def create_nodes(bins: Binaries, kubeconfig: Path) -> None:
    items = {"apiVersion": "v1", "kind": "List", "items": [node_manifest(n) for n in NODE_NAMES]}
    kubectl(bins, kubeconfig, "apply", "-f", "-", stdin=json.dumps(items))


def wait_nodes_ready(bins: Binaries, kubeconfig: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        out = kubectl(bins, kubeconfig, "get", "nodes", "-o", "json")
        nodes = json.loads(out)["items"]
        ready = [
            n["metadata"]["name"]
            for n in nodes
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
        ]
        if len(ready) >= len(NODE_NAMES):
            return
        last = f"{len(ready)}/{len(NODE_NAMES)} nodes Ready"
        time.sleep(0.5)
    raise processes.ServiceFailed(f"fake nodes not Ready in {timeout:.0f}s: {last}")


def wait_default_service_account(bins: Binaries, kubeconfig: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = subprocess.run(
            [
                str(bins.kubectl),
                f"--kubeconfig={kubeconfig}",
                "get",
                "serviceaccount",
                "default",
                "-n",
                "default",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if proc.returncode == 0:
            return
        time.sleep(0.5)
    raise processes.ServiceFailed("the default ServiceAccount was not created (kube-controller-manager)")


def install_crds(bins: Binaries, kubeconfig: Path, files: Iterable[Path], progress: Progress) -> None:
    paths = [p for p in files if p.exists()]
    for path in paths:
        progress(f"installing CRDs from {path}")
        kubectl(bins, kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(path), timeout=300)
    if paths:
        kubectl(
            bins,
            kubeconfig,
            "wait",
            "--for=condition=Established",
            "--timeout=120s",
            "crd",
            "--all",
            timeout=180,
        )
