"""A local OCI registry for the sandbox, and a raw-HTTP image pusher.

The registry is Debian's ``docker-registry`` (CNCF distribution 2.x) listening
on 127.0.0.1 only, plain HTTP, no auth, filesystem storage under the sandbox
directory. Flux's image-reflector-controller scans it with
``ImageRepository.spec.insecure: true``.

``push_image`` speaks the OCI distribution API directly (monolithic blob
uploads, then a manifest PUT), so tests need no container tooling. Invariants:
every pushed image has one tiny layer and a config naming its tag, so two tags
never share a digest; every non-2xx answer raises with the registry's body.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx

from gitcanary_sandbox import processes

SERVICE = "docker-registry"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


class RegistryError(RuntimeError):
    """The registry refused a request; the message carries its answer."""


@dataclass(frozen=True)
class PushedImage:
    repository: str
    tag: str
    digest: str


def registry_binary() -> Path:
    found = shutil.which("docker-registry") or (
        "/usr/bin/docker-registry" if Path("/usr/bin/docker-registry").exists() else None
    )
    if not found:
        raise processes.ServiceFailed("docker-registry not found: install Debian's docker-registry")
    return Path(found)


def registry_config(port: int, storage: Path) -> str:
    """The distribution config: loopback only, filesystem storage, deletes allowed."""
    return "\n".join(
        [
            "version: 0.1",
            "log:",
            "  level: info",
            "  fields:",
            "    service: registry",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {storage}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: 127.0.0.1:{port}",
            "",
        ]
    )


def start_registry(base: Path, port: int, timeout: float = 30.0) -> str:
    """Start the registry as a sandbox service; return its ``http://host:port`` URL."""
    binary = registry_binary()
    storage = base / "registry" / "data"
    storage.mkdir(parents=True, exist_ok=True)
    config = base / "registry" / "config.yml"
    config.write_text(registry_config(port, storage))
    svc = processes.start(base, SERVICE, [str(binary), "serve", str(config)])
    url = f"http://127.0.0.1:{port}"
    processes.wait_until(svc, lambda: processes.http_ok(f"{url}/v2/"), "registry /v2/", timeout)
    return url


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(tag: str) -> tuple[bytes, bytes]:
    """A one-file tar (uncompressed, gzipped) whose content names the tag."""
    content = f"gitcanary sandbox image, tag {tag}\n".encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("gitcanary-tag.txt")
        info.size = len(content)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    uncompressed = raw.getvalue()
    return uncompressed, gzip.compress(uncompressed, mtime=0)


def _check(resp: httpx.Response, what: str, expected: int) -> None:
    if resp.status_code != expected:
        raise RegistryError(f"{what}: HTTP {resp.status_code} (expected {expected}): {resp.text[:500]}")


def upload_blob(client: httpx.Client, registry_url: str, repo: str, data: bytes) -> str:
    """Monolithic upload (POST then PUT with ``?digest=``); returns the digest."""
    digest = _digest(data)
    start = client.post(f"{registry_url}/v2/{repo}/blobs/uploads/")
    _check(start, f"start blob upload to {repo}", 202)
    location = urljoin(f"{registry_url}/", start.headers["Location"])
    separator = "&" if "?" in location else "?"
    done = client.put(
        f"{location}{separator}digest={digest}",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    _check(done, f"finish blob upload {digest} to {repo}", 201)
    return digest


def push_image(registry_url: str, repo: str, tag: str, timeout: float = 10.0) -> PushedImage:
    """Push a one-layer OCI image as ``<repo>:<tag>``; return its manifest digest."""
    uncompressed, layer = _layer(tag)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"io.gitcanary.tag": tag}},
            "rootfs": {"type": "layers", "diff_ids": [_digest(uncompressed)]},
        },
        sort_keys=True,
    ).encode()
    with httpx.Client(timeout=timeout) as client:
        layer_digest = upload_blob(client, registry_url, repo, layer)
        config_digest = upload_blob(client, registry_url, repo, config)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
            },
            sort_keys=True,
        ).encode()
        resp = client.put(
            f"{registry_url}/v2/{repo}/manifests/{tag}",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        _check(resp, f"put manifest {repo}:{tag}", 201)
    digest = resp.headers.get("Docker-Content-Digest") or _digest(manifest)
    return PushedImage(repository=repo, tag=tag, digest=digest)


def list_tags(registry_url: str, repo: str, timeout: float = 10.0) -> list[str]:
    resp = httpx.get(f"{registry_url}/v2/{repo}/tags/list", timeout=timeout)
    _check(resp, f"list tags of {repo}", 200)
    tags: list[str] = resp.json().get("tags") or []
    return sorted(tags)
