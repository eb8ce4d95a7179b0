"""The controller's own API calls authenticate with a ServiceAccount token, not only a client certificate.

In a cluster the controller has a token (the in-cluster loader reads the projected ServiceAccount
token); a kubeconfig may hold one too (``kubectl create token``). The official client's loaders
store it under ``api_key["BearerToken"]`` (``["authorization"]`` in older releases): every request
of ``controller.kube.Kube`` and the ``status -w`` watch must carry it, or the API server sees
``system:anonymous``.

A loopback HTTP server plays the API server (discovery and one GET) and records the headers.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.config.incluster_config import InClusterConfigLoader

from controller.cli.watch import _headers as watch_headers
from controller.kube import Kube, load_configuration

TOKEN = "eyJhbGciOiJSUzI1NiJ9.service-account-token.sig"


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str | None] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        if self.path == "/api/v1":
            body: object = {"resources": [{"name": "configmaps", "kind": "ConfigMap", "namespaced": True}]}
        else:
            body = {"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "ns"}}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def api_server() -> Iterator[str]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _token_kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "sa", "user": {"token": TOKEN}}],
                "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa"}}],
                "current-context": "sa",
            }
        )
    )
    return path


def test_every_request_carries_the_kubeconfig_token(tmp_path: Path, api_server: str) -> None:
    kube = Kube.from_kubeconfig(str(_token_kubeconfig(tmp_path, api_server)))

    async def fetch() -> object:
        try:
            return await kube.get("v1", "ConfigMap", "ns", "x")
        finally:
            await kube.close()

    assert asyncio.run(fetch()) == {"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "ns"}}
    assert _Recorder.seen == [f"Bearer {TOKEN}", f"Bearer {TOKEN}"]  # discovery, then the GET


def test_the_status_watch_carries_the_kubeconfig_token(tmp_path: Path, api_server: str) -> None:
    kube = Kube(load_configuration(str(_token_kubeconfig(tmp_path, api_server))))
    try:
        assert watch_headers(kube)["Authorization"] == f"Bearer {TOKEN}"
    finally:
        asyncio.run(kube.close())


def test_the_in_cluster_service_account_token_is_sent(tmp_path: Path) -> None:
    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text(TOKEN)
    ca.write_text("not read: TLS is not used here\n")
    cfg = client.Configuration()
    environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"}
    InClusterConfigLoader(token_filename=str(token), cert_filename=str(ca), environ=environ).load_and_set(cfg)
    cfg.ssl_ca_cert = None  # no TLS in this test: only the headers are looked at
    kube = Kube(cfg)
    try:
        # The in-cluster loader writes the scheme in lower case; HTTP compares it case-insensitively.
        for headers in (watch_headers(kube), kube._headers("application/json")):
            scheme, credentials = headers["Authorization"].split(" ", 1)
            assert (scheme.lower(), credentials) == ("bearer", TOKEN)
    finally:
        asyncio.run(kube.close())
