"""A small external metrics API server (``external.metrics.k8s.io/v1beta1``), aggregated into
the sandbox's kube-apiserver by an APIService; started on demand (``optional.ensure``).

The server answers the discovery documents and
``GET /apis/external.metrics.k8s.io/v1beta1/namespaces/<ns>/<metric>?labelSelector=...`` with
an ``ExternalMetricValueList`` read from ``<base>/external-metrics/values.json`` at each request:
``{"<ns>/<metric>": [{"labels": {...}, "value": "1500m"}, ...]}`` (:func:`set_values` writes
it); a metric not in the file is an empty list. A label selector of ``key=value`` terms keeps the items whose labels match them all.

How the API server reaches it: the APIService names a Service of type ExternalName whose
``externalName`` is ``127.0.0.1``. kube-apiserver's aggregator resolves an ExternalName Service
to that host and the APIService's port (no cluster network or kube-proxy is needed, and
``--enable-aggregator-routing`` stays off). The serving certificate is signed by the sandbox
CA for ``<service>.<namespace>.svc``, the name the aggregator verifies, and the APIService's
``caBundle`` is that CA. The control plane has no front-proxy client certificate
(``--proxy-client-cert-file``), so the aggregator proxies without one and this server cannot
authenticate it; kube-apiserver still authenticates and authorizes (RBAC) every request
before proxying it, and the server listens on loopback only.
"""

from __future__ import annotations

import argparse
import base64
import json
import ssl
import subprocess
import sys
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from gitcanary_sandbox import processes
from gitcanary_sandbox.pki import CLIENT_EXT, _sign, ensure_pki

SERVICE = "external-metrics"
SERVICES = (SERVICE,)
PORT_NAMES = ("external_metrics",)
GROUP = "external.metrics.k8s.io"
VERSION = "v1beta1"
API = f"/apis/{GROUP}/{VERSION}"
SVC_NAME, SVC_NAMESPACE = "gitcanary-external-metrics", "kube-system"
MAX_VALUES_BYTES = 1 << 20

_DISCOVERY = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": f"{GROUP}/{VERSION}",
    "resources": [
        {
            "name": "*",
            "singularName": "",
            "namespaced": True,
            "kind": "ExternalMetricValueList",
            "verbs": ["get"],
        }
    ],
}
_GROUPS = {
    "kind": "APIGroupList",
    "apiVersion": "v1",
    "groups": [
        {
            "name": GROUP,
            "versions": [{"groupVersion": f"{GROUP}/{VERSION}", "version": VERSION}],
            "preferredVersion": {"groupVersion": f"{GROUP}/{VERSION}", "version": VERSION},
        }
    ],
}


def values_file(base: Path) -> Path:
    return base / "external-metrics" / "values.json"


def set_values(base: Path, namespace: str, metric: str, items: list[dict[str, object]]) -> None:
    """Serve ``items`` (``{"labels": {...}, "value": "<quantity>"}``) for one metric; atomic."""
    path = values_file(base)
    path.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(path.read_text()) if path.exists() else {}
    current[f"{namespace}/{metric}"] = items
    partial = path.with_suffix(f".{metric}.tmp")
    partial.write_text(json.dumps(current))
    partial.replace(path)


def _matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        key, sep, value = term.partition("=")
        if not sep or labels.get(key.strip()) != value.strip().lstrip("="):
            return False
    return True


def _handler(values: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: object) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path = parts.path.rstrip("/")
            if path == "/healthz":
                self._send(200, {"status": "ok"})
            elif path == "/apis":
                self._send(200, _GROUPS)
            elif path == API:
                self._send(200, _DISCOVERY)
            elif path.startswith(f"{API}/namespaces/") and path.count("/") == 6:
                namespace, metric = path.split("/")[5:7]
                self._metric(namespace, metric, parse_qs(parts.query).get("labelSelector", [""])[0])
            else:
                self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404})

        def _metric(self, namespace: str, metric: str, selector: str) -> None:
            raw = values.read_bytes()[:MAX_VALUES_BYTES] if values.exists() else b"{}"
            # A metric nobody set is an empty list, as metric adapters answer for a series they
            # do not have (the provider's is_online lists kube-system/dummy-metric and expects 200).
            entries = json.loads(raw).get(f"{namespace}/{metric}", [])
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            items = [
                {
                    "metricName": metric,
                    "metricLabels": e.get("labels", {}),
                    "timestamp": now,
                    "value": e["value"],
                }
                for e in entries
                if _matches(e.get("labels", {}), selector)
            ]
            self._send(
                200,
                {
                    "kind": "ExternalMetricValueList",
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "metadata": {},
                    "items": items,
                },
            )

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler


def serve(port: int, cert: Path, key: Path, values: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(values))
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


def _manifest(ca_bundle: str, port: int) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": SVC_NAME, "namespace": SVC_NAMESPACE},
                    "spec": {"type": "ExternalName", "externalName": "127.0.0.1"},
                },
                {
                    "apiVersion": "apiregistration.k8s.io/v1",
                    "kind": "APIService",
                    "metadata": {"name": f"{VERSION}.{GROUP}"},
                    "spec": {
                        "group": GROUP,
                        "version": VERSION,
                        "service": {"name": SVC_NAME, "namespace": SVC_NAMESPACE, "port": port},
                        "caBundle": ca_bundle,
                        "groupPriorityMinimum": 100,
                        "versionPriority": 100,
                    },
                },
            ],
        }
    )


def start_external_metrics(base: Path, port: int, kubectl: Path, kubeconfig: Path) -> str:
    """Start the server, register its APIService, wait until it is Available; return its URL."""
    pki = ensure_pki(base / "pki")
    serving_ext = CLIENT_EXT.replace("clientAuth", "serverAuth") + (
        f"subjectAltName=DNS:{SVC_NAME}.{SVC_NAMESPACE}.svc,IP:127.0.0.1\n"
    )
    cert = _sign(
        "external-metrics", f"/CN={SVC_NAME}", serving_ext, pki.ca_cert.parent, pki.ca_cert, pki.ca_key
    )
    values = values_file(base)
    values.parent.mkdir(parents=True, exist_ok=True)
    svc = processes.start(
        base,
        SERVICE,
        [
            sys.executable,
            "-m",
            "gitcanary_sandbox.external_metrics",
            f"--port={port}",
            f"--cert={cert.cert}",
            f"--key={cert.key}",
            f"--values={values}",
        ],
    )
    processes.wait_until(svc, lambda: processes.port_open(port), "external metrics server", 30)
    bundle = base64.b64encode(pki.ca_cert.read_bytes()).decode()
    kubectl_args = [str(kubectl), f"--kubeconfig={kubeconfig}"]
    subprocess.run(
        [*kubectl_args, "apply", "-f", "-"],
        input=_manifest(bundle, port),
        text=True,
        check=True,
        capture_output=True,
        timeout=60,
    )
    wait = subprocess.run(
        [
            *kubectl_args,
            "wait",
            "--for=condition=Available",
            f"apiservice/{VERSION}.{GROUP}",
            "--timeout=60s",
        ],
        text=True,
        capture_output=True,
        timeout=90,
    )
    if wait.returncode != 0:
        status = subprocess.run(
            [*kubectl_args, "get", f"apiservice/{VERSION}.{GROUP}", "-o", "jsonpath={.status.conditions}"],
            text=True,
            capture_output=True,
            timeout=30,
        )
        raise processes.ServiceFailed(
            f"APIService {VERSION}.{GROUP} not Available: {wait.stderr.strip()} {status.stdout.strip()}\n"
            f"{processes.log_tail(svc.log)}"
        )
    return f"https://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--values", type=Path, required=True)
    args = parser.parse_args()
    serve(args.port, args.cert, args.key, args.values)


if __name__ == "__main__":
    main()
