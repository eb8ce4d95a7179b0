"""The pieces bench_writeback.py runs against: a smart-HTTP remote, a seeded fleet, a rival writer.

- ``HttpRemote``: ``git http-backend`` behind basic auth, served in this process by the sandbox's
  own handler (``gitcanary_sandbox.githttp.make_handler``, as the approval-gate tests serve it):
  the write-back talks to it exactly as to a forge, through ``GitAuth`` credentials.
- ``seed``: a bare repository with one app per directory, each a Deployment whose image carries
  an ``$imagepolicy`` marker and the ImagePolicy (semver range) a rollback quarantines its tag in.
- ``FixedRateWriter``: another writer (a person, a bot) that tries to push a commit to the same
  branch every ``1/rate`` seconds: fetch, commit, push once, never retry; a rejected push is a
  lost slot. It touches only its own file (``writer.log``), as most concurrent commits do.
- ``audit``: the ``Gitcanary-Intent`` trailers and the writer's commits in the branch history.
"""

from __future__ import annotations

import base64
import secrets
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

from controller.gitops.plumbing.credentials import GitAuth
from controller.gitops.workflow.trailers import intent_ids
from gitcanary_sandbox.githttp import make_handler

IMAGE = "ghcr.io/stefanprodan/podinfo"
GOOD = f"{IMAGE}:1.0.0"
FAILED = f"{IMAGE}:1.0.1"
POLICY_NAMESPACE = "flux-system"
GIT_TIMEOUT_S = 60


def git(cwd: Path, *args: str, config: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    flags = [
        arg for item in ("user.name=bench", "user.email=bench@example.com", *config) for arg in ("-c", item)
    ]
    return subprocess.run(
        ["git", *flags, *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False
    )


def must(done: subprocess.CompletedProcess[str]) -> str:
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, done.args[:6]))}...: {done.stderr.strip()[-2000:]}")
    return done.stdout


@dataclass(frozen=True)
class HttpRemote:
    root: Path  # GIT_PROJECT_ROOT: repositories live at root/<org>/<name>.git
    base_url: str
    username: str
    password: str

    def url(self, name: str) -> str:
        return f"{self.base_url}/org/{name}.git"

    def bare(self, name: str) -> Path:
        return self.root / "org" / f"{name}.git"

    def auth(self) -> GitAuth:
        return GitAuth(username=self.username, password=self.password)

    def header(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"http.extraHeader=Authorization: Basic {token}"


@contextmanager
def http_remote(root: Path) -> Iterator[HttpRemote]:
    creds = {"username": "bench", "password": secrets.token_hex(16)}
    root.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(root, creds))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HttpRemote(
            root, f"http://127.0.0.1:{server.server_address[1]}", creds["username"], creds["password"]
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def app_files(app: int, policy_namespace: str = POLICY_NAMESPACE) -> dict[str, str]:
    name = f"app{app}"
    deployment = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: apps
spec:
  replicas: 2
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: podinfod
          image: {FAILED} # {{"$imagepolicy": "{policy_namespace}:{name}"}}
          ports:
            - containerPort: 9898
"""
    policy = f"""\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: {name}
  namespace: {policy_namespace}
spec:
  imageRepositoryRef:
    name: {name}
  policy:
    semver:
      range: ">=1.0.0"
"""
    return {f"apps/{name}/deployment.yaml": deployment, f"apps/{name}/policy.yaml": policy}


def seed(
    remote: HttpRemote, name: str, apps: int, work: Path, policy_namespace: str = POLICY_NAMESPACE
) -> str:
    """A bare repository ``name`` with ``apps`` apps, each on the failed image; returns its URL."""
    bare = remote.bare(name)
    bare.parent.mkdir(parents=True, exist_ok=True)
    must(git(work, "init", "--quiet", "--bare", "-b", "main", str(bare)))
    must(git(bare, "config", "http.receivepack", "true"))
    checkout = work / f"seed-{name}"
    must(git(work, "init", "--quiet", "-b", "main", str(checkout)))
    for app in range(apps):
        for relative, text in app_files(app, policy_namespace).items():
            (checkout / relative).parent.mkdir(parents=True, exist_ok=True)
            (checkout / relative).write_text(text)
    must(git(checkout, "add", "-A"))
    must(git(checkout, "commit", "--quiet", "-m", "seed"))
    must(git(checkout, "push", "--quiet", str(bare), "HEAD:main"))
    return remote.url(name)


class FixedRateWriter(threading.Thread):
    """Tries one push to ``main`` every ``1/rate`` seconds (a slot it overran is skipped)."""

    def __init__(self, remote: HttpRemote, url: str, work: Path, rate: float) -> None:
        super().__init__(daemon=True)
        self.remote = remote
        self.clone = work / "writer"
        self.period = 1.0 / rate
        self.stop = threading.Event()
        self.attempted = 0
        self.landed = 0
        self.rejected = 0
        self.skipped_slots = 0
        self.error: Exception | None = None
        work.mkdir(parents=True, exist_ok=True)
        must(git(work, "clone", "--quiet", url, str(self.clone), config=(remote.header(),)))

    def run(self) -> None:
        start = time.monotonic()
        slot = 0
        try:
            while not self.stop.is_set():
                self.push_once()
                slot += 1
                behind = int((time.monotonic() - start) / self.period) - slot
                if behind > 0:  # the attempt overran its slot(s): the writer keeps its fixed rate
                    self.skipped_slots += behind
                    slot += behind
                self.stop.wait(max(0.0, start + slot * self.period - time.monotonic()))
        except Exception as exc:  # reported by the benchmark, which then fails the run
            self.error = exc

    def push_once(self) -> None:
        header = (self.remote.header(),)
        self.attempted += 1
        must(git(self.clone, "fetch", "--quiet", "origin", "main", config=header))
        must(git(self.clone, "reset", "--quiet", "--hard", "origin/main"))
        with (self.clone / "writer.log").open("a") as log:
            log.write(f"{self.attempted}\n")
        must(git(self.clone, "add", "writer.log"))
        must(git(self.clone, "commit", "--quiet", "-m", f"writer {self.attempted}"))
        if git(self.clone, "push", "--quiet", "origin", "HEAD:main", config=header).returncode == 0:
            self.landed += 1
        else:
            self.rejected += 1


def audit(bare: Path) -> tuple[Counter[str], int]:
    """(intent id -> commits carrying its trailer, writer commits) over the history of main."""
    log = must(git(bare, "log", "--format=%B%x1e", "main"))
    ids: Counter[str] = Counter()
    writer_commits = 0
    for message in log.split("\x1e"):
        ids.update(intent_ids(message))
        writer_commits += message.strip().startswith("writer ")
    return ids, writer_commits
