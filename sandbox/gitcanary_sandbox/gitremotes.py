"""Git remotes for the sandbox: one bare repository served four ways.

- ``file://``   the bare repository itself;
- ``git://``    ``git daemon`` with receive-pack enabled (no auth, like most git daemons);
- ``http://``   smart HTTP (``git http-backend``) behind basic or bearer auth;
- ``ssh://``    Debian's OpenSSH server on 127.0.0.1 with a generated client key and host key.

Credentials (the HTTP password and token, the SSH private key) live in 0600
files under the sandbox directory and are handed to tests as paths and values,
never printed by ``sandbox up``.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from gitcanary_sandbox import processes

REPO_NAME = "fleet.git"


@dataclass(frozen=True)
class GitRemotes:
    root: Path
    bare: Path
    file_url: str
    daemon_url: str
    http_url: str
    ssh_url: str
    http_username: str
    http_password: str
    http_token: str
    ssh_identity: Path
    ssh_known_hosts: Path


@dataclass(frozen=True)
class GitPorts:
    daemon: int
    http: int
    ssh: int


def _git(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60)


def ensure_bare_repo(root: Path) -> Path:
    bare = root / REPO_NAME
    if (bare / "HEAD").exists():
        return bare
    root.mkdir(parents=True, exist_ok=True)
    _git("init", "--bare", "--initial-branch=main", str(bare))
    _git("config", "http.receivepack", "true", cwd=bare)
    seed = root / ".seed"
    shutil.rmtree(seed, ignore_errors=True)
    _git("init", "--initial-branch=main", str(seed))
    (seed / "README.md").write_text("# fleet\n\nManifests applied by Flux in the gitcanary sandbox.\n")
    _git("add", "README.md", cwd=seed)
    _git(
        "-c",
        "user.name=sandbox",
        "-c",
        "user.email=sandbox@gitcanary.invalid",
        "commit",
        "-m",
        "Initial commit",
        cwd=seed,
    )
    _git("push", str(bare), "main", cwd=seed)
    shutil.rmtree(seed)
    return bare


def _secret_file(path: Path, content: str) -> Path:
    path.write_text(content)
    os.chmod(path, 0o600)
    return path


def _ssh_keys(ssh_dir: Path) -> tuple[Path, Path]:
    ssh_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(ssh_dir, 0o700)
    host_key, client_key = ssh_dir / "host_ed25519", ssh_dir / "client_ed25519"
    for key in (host_key, client_key):
        if not key.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gitcanary-sandbox", "-f", str(key)],
                check=True,
                capture_output=True,
                timeout=30,
            )
    _secret_file(ssh_dir / "authorized_keys", (client_key.with_suffix(".pub")).read_text())
    return host_key, client_key


def _sshd_binary() -> str:
    found = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
    if not found:
        raise processes.ServiceFailed("sshd not found: install Debian's openssh-server")
    return found


def start_git_remotes(base: Path, ports: GitPorts) -> GitRemotes:
    root = base / "git"
    bare = ensure_bare_repo(root)
    creds_file = base / "git-http-auth.json"
    if not creds_file.exists():
        creds = {
            "username": "gitcanary",
            "password": secrets.token_urlsafe(16),
            "token": secrets.token_urlsafe(24),
        }
        _secret_file(creds_file, json.dumps(creds))
    creds = json.loads(creds_file.read_text())

    daemon = processes.start(
        base,
        "git-daemon",
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            f"--base-path={root}",
            "--listen=127.0.0.1",
            f"--port={ports.daemon}",
            str(root),
        ],
    )
    processes.wait_until(daemon, lambda: processes.port_open(ports.daemon), "git daemon port", 30)

    http = processes.start(
        base,
        "git-http",
        [
            sys.executable,
            "-m",
            "gitcanary_sandbox.githttp",
            f"--port={ports.http}",
            f"--root={root}",
            f"--auth-file={creds_file}",
        ],
    )
    processes.wait_until(http, lambda: processes.port_open(ports.http), "git smart-HTTP port", 30)

    ssh_dir = base / "ssh"
    host_key, client_key = _ssh_keys(ssh_dir)
    config = ssh_dir / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {ports.ssh}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"PidFile {ssh_dir / 'sshd.pid'}",
                f"AuthorizedKeysFile {ssh_dir / 'authorized_keys'}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "StrictModes no",
                "UsePAM no",
                f"AllowUsers {getpass.getuser()}",
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    sshd = processes.start(base, "sshd", [_sshd_binary(), "-D", "-e", "-f", str(config)])
    processes.wait_until(sshd, lambda: processes.port_open(ports.ssh), "sshd port", 30)
    known_hosts = _secret_file(
        ssh_dir / "known_hosts", f"[127.0.0.1]:{ports.ssh} {host_key.with_suffix('.pub').read_text()}"
    )
    return GitRemotes(
        root=root,
        bare=bare,
        file_url=f"file://{bare}",
        daemon_url=f"git://127.0.0.1:{ports.daemon}/{REPO_NAME}",
        http_url=f"http://127.0.0.1:{ports.http}/{REPO_NAME}",
        ssh_url=f"ssh://{getpass.getuser()}@127.0.0.1:{ports.ssh}{bare}",
        http_username=creds["username"],
        http_password=creds["password"],
        http_token=creds["token"],
        ssh_identity=client_key,
        ssh_known_hosts=known_hosts,
    )
