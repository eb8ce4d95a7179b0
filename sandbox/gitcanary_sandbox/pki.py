"""Certificates and kubeconfigs for the sandbox control plane, made with the openssl CLI.

Invariants: every key file is 0600; the CA signs a serving certificate for
127.0.0.1/localhost and client certificates whose CN/O become the Kubernetes
user and groups (``system:masters`` for the admin). Generation is idempotent:
existing files are kept, so a restarted sandbox keeps working kubeconfigs.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ClientCert:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    sa_key: Path
    sa_pub: Path
    admin: ClientCert
    controller_manager: ClientCert
    scheduler: ClientCert


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.strip()}")


def _key(path: Path, cwd: Path) -> None:
    if not path.exists():
        _openssl("genrsa", "-out", str(path), "2048", cwd=cwd)
        os.chmod(path, 0o600)


def _sign(name: str, subject: str, ext: str, pki_dir: Path, ca_cert: Path, ca_key: Path) -> ClientCert:
    key, cert = pki_dir / f"{name}.key", pki_dir / f"{name}.crt"
    if cert.exists() and key.exists():
        return ClientCert(cert, key)
    _key(key, pki_dir)
    csr, extfile = pki_dir / f"{name}.csr", pki_dir / f"{name}.ext"
    extfile.write_text(ext)
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr), cwd=pki_dir)
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca_cert),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "3650",
        "-sha256",
        "-extfile",
        str(extfile),
        cwd=pki_dir,
    )
    return ClientCert(cert, key)


CLIENT_EXT = "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
SERVING_EXT = (
    "keyUsage=critical,digitalSignature,keyEncipherment\n"
    "extendedKeyUsage=serverAuth,clientAuth\n"
    "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,"
    "DNS:kubernetes.default,DNS:kubernetes.default.svc\n"
)


def ensure_pki(pki_dir: Path) -> Pki:
    pki_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(pki_dir, 0o700)
    ca_key, ca_cert = pki_dir / "ca.key", pki_dir / "ca.crt"
    _key(ca_key, pki_dir)
    if not ca_cert.exists():
        _openssl(
            "req",
            "-x509",
            "-new",
            "-key",
            str(ca_key),
            "-subj",
            "/CN=gitcanary-sandbox-ca",
            "-days",
            "3650",
            "-sha256",
            "-out",
            str(ca_cert),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            cwd=pki_dir,
        )
    serving = _sign("apiserver", "/CN=kube-apiserver", SERVING_EXT, pki_dir, ca_cert, ca_key)
    sa_key, sa_pub = pki_dir / "sa.key", pki_dir / "sa.pub"
    _key(sa_key, pki_dir)
    if not sa_pub.exists():
        _openssl("rsa", "-in", str(sa_key), "-pubout", "-out", str(sa_pub), cwd=pki_dir)
    admin = _sign("admin", "/O=system:masters/CN=gitcanary-admin", CLIENT_EXT, pki_dir, ca_cert, ca_key)
    cm = _sign(
        "controller-manager", "/CN=system:kube-controller-manager", CLIENT_EXT, pki_dir, ca_cert, ca_key
    )
    sched = _sign("scheduler", "/CN=system:kube-scheduler", CLIENT_EXT, pki_dir, ca_cert, ca_key)
    return Pki(ca_cert, ca_key, serving.cert, serving.key, sa_key, sa_pub, admin, cm, sched)


def write_kubeconfig(path: Path, server: str, ca: Path, client: ClientCert, user: str) -> Path:
    """Write a kubeconfig with file references (no secrets inlined) and mode 0600."""
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: gitcanary-sandbox
  cluster:
    server: {server}
    certificate-authority: {ca}
users:
- name: {user}
  user:
    client-certificate: {client.cert}
    client-key: {client.key}
contexts:
- name: gitcanary-sandbox
  context:
    cluster: gitcanary-sandbox
    user: {user}
    namespace: default
current-context: gitcanary-sandbox
"""
    )
    os.chmod(path, 0o600)
    return path
