"""What the sandbox chaos campaigns (kill_campaign.py, git_faults.py) share.

- ``open_sandbox``: the running sandbox in ``--sandbox-dir`` (neither started nor stopped), else
  ``GITCANARY_SANDBOX_DIR`` (started if needed), else one started in a temporary directory.
- ``GitServer``: the sandbox's smart-HTTP server (``gitcanary_sandbox.githttp``: ``git
  http-backend`` behind basic auth) as a process of the campaign's own, on a fixed port, so the
  campaign can stop it (remote down), put a socket that accepts TCP and never answers on its port
  (remote hung), and start it again at the same URL.
- ``seed_fleet``: one bare repository, a directory per Canary namespace holding the Deployment
  (``$imagepolicy`` marker), its ImagePolicy and a production overlay (``$gitcanary`` pin), the
  layout of tests/integration/operator/fleet.py.
- ``canary_objects``: per namespace, the GitRepository (credentials in a Secret), podinfo 6.0.0,
  the error-rate MetricTemplate and a write-back Canary (``spec.gitops.sourceRef`` + ``path``).
- ``Replica``: one ``gitcanary run`` process; ``kill`` sends SIGKILL to it and every process it
  started (git runs in sessions of its own), as a container kill would.
- ``audit``: every write-back commit on the branch, with its trailers, per Canary.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from controller.gitops.workflow.trailers import parse_trailers  # noqa: E402
from gitcanary_sandbox import environment, processes  # noqa: E402
from gitcanary_sandbox.client import SandboxClient  # noqa: E402
from tests.builders import canary, deployment, metric_template  # noqa: E402
from tests.integration.operator.fleet import DEPLOYMENT_YAML, POLICY_YAML, PRODUCTION_YAML  # noqa: E402

Obj = dict[str, Any]
IMAGE = "ghcr.io/stefanprodan/podinfo"
CANARY_API = "canaries.gitcanary.io"
GIT_TIMEOUT_S = 60
LEADS = re.compile(rb"leader election: \S+ leads")


def open_sandbox(sandbox_dir: Path | None) -> tuple[SandboxClient, Path | None]:
    """(client, base to stop at the end or None)."""
    if sandbox_dir is not None:
        state = environment.SandboxState.load(sandbox_dir)
        if state is None:
            raise SystemExit(f"no sandbox state in {sandbox_dir} (start one: gitcanary sandbox up --dir D)")
        return SandboxClient(state), None
    env_dir = os.environ.get("GITCANARY_SANDBOX_DIR")
    base = Path(env_dir or tempfile.mkdtemp(prefix="gitcanary-chaos-"))
    client = SandboxClient(environment.up(base, progress=lambda m: None))
    return client, None if env_dir else base


def git(cwd: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=chaos", "-c", "user.email=chaos@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_S,
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:4])}: {done.stderr.strip()[-1500:]}")
    return done.stdout


@dataclass
class GitServer:
    """``gitcanary_sandbox.githttp`` serving ``root`` on ``port``; start, stop, stall, start again."""

    root: Path
    log: Path
    port: int = field(default_factory=processes.free_port)
    username: str = "chaos"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    proc: subprocess.Popen[bytes] | None = None
    stalled: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fleet.git"

    @property
    def bare(self) -> Path:
        return self.root / "fleet.git"

    def _flags(self, auth: Path) -> list[str]:
        return [f"--root={self.root}", f"--auth-file={auth}"]

    def start(self) -> None:
        auth = self.root.parent / "git-auth.json"
        auth.write_text(json.dumps({"username": self.username, "password": self.password}))
        auth.chmod(0o600)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gitcanary_sandbox.githttp",
                    f"--port={self.port}",
                    *self._flags(auth),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while not processes.port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"git server did not start: {processes.log_tail(self.log, 20)}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.proc = None

    def stall(self) -> None:
        """Stop the server and listen on its port without ever accepting: TCP connects, no answer."""
        self.stop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.stalled = sock

    def unstall(self) -> None:
        """Close the silent socket (its waiting clients get a reset) and serve again."""
        if self.stalled is not None:
            self.stalled.close()
            self.stalled = None
        self.start()

    def head(self) -> str:
        return git(self.bare, "rev-parse", "refs/heads/main").strip()


def seed_fleet(server: GitServer, namespaces: list[str], work: Path) -> None:
    server.root.mkdir(parents=True, exist_ok=True)
    git(work, "init", "--quiet", "--bare", "-b", "main", str(server.bare))
    git(server.bare, "config", "http.receivepack", "true")
    checkout = work / "seed"
    git(work, "init", "--quiet", "-b", "main", str(checkout))
    for ns in namespaces:
        files = {
            f"{ns}/podinfo/deployment.yaml": DEPLOYMENT_YAML.format(ns=ns, tag="6.0.0"),
            f"{ns}/policy.yaml": POLICY_YAML,
            f"{ns}/production/kustomization.yaml": PRODUCTION_YAML.format(ns=ns),
        }
        for relative, text in files.items():
            (checkout / relative).parent.mkdir(parents=True, exist_ok=True)
            (checkout / relative).write_text(text)
    git(checkout, "add", "-A")
    git(checkout, "commit", "--quiet", "-m", "fleet")
    git(checkout, "push", "--quiet", str(server.bare), "HEAD:main")


def canary_objects(
    sandbox: SandboxClient, ns: str, server: GitServer, *, iterations: int, threshold: int = 2
) -> list[Obj]:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "git", "namespace": ns},
        "stringData": {"username": server.username, "password": server.password},
    }
    repo = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "fleet", "namespace": ns},
        "spec": {
            "interval": "1m",
            "url": server.url,
            "ref": {"branch": "main"},
            "secretRef": {"name": "git"},
        },
    }
    obj = canary(ns, "podinfo", iterations=iterations, threshold=threshold)
    obj["spec"]["gitops"] = {"sourceRef": {"name": "fleet"}, "path": f"./{ns}"}
    return [
        secret,
        repo,
        deployment(ns, "podinfo", f"{IMAGE}:6.0.0", replicas=1),
        metric_template(ns, "error-rate", sandbox.state.prometheus_url),
        obj,
    ]


def apply(sandbox: SandboxClient, objs: list[Obj]) -> None:
    sandbox.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))


def canaries(sandbox: SandboxClient, prefix: str) -> dict[str, Obj]:
    """namespace -> status of every Canary in a namespace starting with ``prefix``."""
    items = json.loads(sandbox.kubectl("get", CANARY_API, "-A", "-o", "json", timeout=60))["items"]
    return {
        c["metadata"]["namespace"]: c.get("status") or {}
        for c in items
        if c["metadata"]["namespace"].startswith(prefix)
    }


def set_image(sandbox: SandboxClient, ns: str, tag: str) -> None:
    sandbox.kubectl("set", "image", "-n", ns, "deployment/podinfo", f"podinfod={IMAGE}:{tag}")


def events(sandbox: SandboxClient, ns: str) -> list[Obj]:
    items: list[Obj] = json.loads(sandbox.kubectl("get", "events", "-n", ns, "-o", "json"))["items"]
    return [e for e in items if e["involvedObject"].get("kind") == "Canary"]


def decision_events(sandbox: SandboxClient, ns: str) -> Counter[str]:
    """'promoted' / 'failed' -> how many times the Canary's Events announce that decision."""
    found: Counter[str] = Counter()
    for event in events(sandbox, ns):
        count = int(event.get("count") or 1)
        if event["message"].startswith("Promotion completed! Scaling down"):
            found["promoted"] += count
        elif event["message"].startswith("Canary failed! Scaling down"):
            found["failed"] += count
    return found


@dataclass(frozen=True)
class WriteBackCommit:
    sha: str
    canary: str
    result: str
    image: str
    intent: str


def audit(bare: Path) -> list[WriteBackCommit]:
    """One entry per trailer block of every commit on main, oldest first."""
    log = git(bare, "log", "--reverse", "--format=%H%x00%B%x1e", "main")
    found = []
    for entry in log.split("\x1e"):
        if not entry.strip():
            continue
        sha, message = entry.strip("\n").split("\0", 1)
        for block in parse_trailers(message):
            found.append(WriteBackCommit(sha, block.canary, block.result, block.image, block.intent))
    return found


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@dataclass
class Replica:
    """One ``gitcanary run`` process; a new log file per start, read incrementally."""

    index: int
    work: Path
    args: tuple[str, ...]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    starts: int = 0
    _offset: int = 0
    leads: bool = False

    def start(self) -> None:
        self.starts += 1
        self.log = self.work / f"replica-{self.index}.run-{self.starts}.log"
        self._offset, self.leads = 0, False
        health = processes.free_port()
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "controller.cli.main", "run", *self.args, *self._ports(health)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env, "GITCANARY_GIT_CACHE": str(self.work / f"cache-{self.index}")},
                cwd=REPO,
            )

    @staticmethod
    def _ports(health: int) -> list[str]:
        return [
            f"--health=http://127.0.0.1:{health}/healthz",
            f"--metrics-addr=127.0.0.1:{processes.free_port()}",
        ]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def poll_log(self) -> bool:
        """Read what the log gained; True once this run logged that it leads."""
        if self.log is None or self.leads:
            return self.leads
        with open(self.log, "rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        # Only whole lines count: a line cut mid-write is read again next time.
        cut = chunk.rfind(b"\n") + 1
        self._offset += cut
        self.leads = LEADS.search(chunk[:cut]) is not None
        return self.leads

    def kill(self) -> None:
        """SIGKILL the replica and everything it started, as a container kill does."""
        if self.proc is None:
            return
        victims = [self.proc.pid, *_descendants(self.proc.pid)]
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        self.proc.wait(timeout=20)
        self.leads = False

    def stop(self) -> None:
        if self.alive() and self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 30) -> str:
        return processes.log_tail(self.log, lines) if self.log else ""


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
