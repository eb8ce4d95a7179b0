"""The same marker edit through Flux's image-automation-controller and through gitcanary's write-back.

Both write to their own repository on one smart-HTTP remote (``writeback_remote.HttpRemote``),
seeded alike: app ``k`` is a Deployment whose image carries ``{"$imagepolicy": "<ns>:app<k>"}``
on the failed tag. A trial sets that one marker back to the good image and times from the
decision to the moment the remote's ``main`` holds the commit (polled every 10 ms):

- image-automation-controller v1.2.0 (the binary the end-to-end tests run, built by
  ``gitcanary_sandbox.flux_binaries``), out of cluster against the sandbox apiserver. Decision:
  the ImagePolicy's ``status.latestRef`` is written (what image-reflector-controller does); the
  controller is woken by its watch, clones, edits, commits and pushes.
- gitcanary: the real controller path after a tick, minus the tick. Decision: the rollback intent
  is persisted in the Canary's ``status.gitops.pending`` (what the tick does) and the Canary is
  submitted to a ``WriteBackQueue``; ``worker.write_back`` resolves the GitRepository, reads its
  Secret, edits, commits, pushes and patches the status. ``onRollback.quarantine`` and
  ``onPromotion.record`` are off so the commit holds the same one-line edit as Flux's.

One untimed warm-up trial each (gitcanary keeps a cached clone; Flux clones every run by design:
both are shown as they work). Nothing else runs in the namespace; nothing else on the machine
is stopped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from writeback_remote import FAILED, GOOD, IMAGE, HttpRemote, git, http_remote, must, seed

from controller.gitops.workflow.intents import make_intent
from controller.gitops.workflow.writeback_queue import WriteBackQueue
from controller.kube import Kube
from gitcanary_sandbox import flux, processes
from gitcanary_sandbox.flux_binaries import build_controller, controller

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.builders import canary

IAC = "image-automation-controller"
IMAGE_API = "image.toolkit.fluxcd.io/v1"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
CANARY_API = "gitcanary.io/v1beta1"
TRIAL_TIMEOUT_S = 30.0
Obj = dict[str, Any]
Failure = Callable[[], Awaitable[str]]
"""What went wrong on the writer's side, or "" while nothing did (checked while waiting)."""


class Failures(logging.Handler):
    """Errors the write-back queue logs (it retries them later; the benchmark stops at once)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


def head(bare: Path) -> str:
    return must(git(bare, "rev-parse", "main")).strip()


async def until_pushed(bare: Path, before: str, started: float, failure: Failure) -> float:
    polls = 0
    while (now := time.perf_counter()) - started < TRIAL_TIMEOUT_S:
        if await asyncio.to_thread(head, bare) != before:
            return now - started
        polls += 1
        if polls % 25 == 0 and (reason := await failure()):
            raise RuntimeError(f"the write-back to {bare.name} failed: {reason}")
        await asyncio.sleep(0.01)
    raise TimeoutError(f"no commit on {bare.name} main {TRIAL_TIMEOUT_S:.0f}s after the decision")


def check_edit(bare: Path, namespace: str, app: int) -> None:
    text = must(git(bare, "show", f"main:apps/app{app}/deployment.yaml"))
    if f'image: {GOOD} # {{"$imagepolicy": "{namespace}:app{app}"}}' not in text:
        raise RuntimeError(f"{bare.name}: app{app}'s marker was not set to {GOOD}:\n{text}")


def start_iac(kubeconfig: Path, work: Path) -> tuple[subprocess.Popen[bytes], Path]:
    binary = build_controller(controller(IAC), progress=lambda m: print(m, file=sys.stderr))
    key = IAC.replace("-", "_")
    ports = {f"{key}_metrics": processes.free_port(), f"{key}_health": processes.free_port()}
    log = work / "iac.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            flux.controller_argv(IAC, binary, ports, work),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        )
    deadline = time.monotonic() + 60
    while not processes.http_ok(f"http://127.0.0.1:{ports[f'{key}_health']}/readyz"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{IAC} did not become ready:\n{processes.log_tail(log, 40)}")
        time.sleep(0.3)
    return proc, log


async def wire_flux(kube: Kube, ns: str, remote: HttpRemote, url: str, apps: int) -> None:
    for app in range(apps):
        spec = {"imageRepositoryRef": {"name": f"app{app}"}, "policy": {"semver": {"range": ">=1.0.0"}}}
        await kube.apply(
            {"apiVersion": IMAGE_API, "kind": "ImagePolicy", "metadata": _meta(ns, f"app{app}"), "spec": spec}
        )
    await _git_repository(kube, ns, "iac-fleet", remote, url)
    git_spec = {
        "checkout": {"ref": {"branch": "main"}},
        "commit": {"author": {"name": "fluxbot", "email": "fluxbot@bench.invalid"}},
        "push": {"branch": "main"},
    }
    await kube.apply(
        {
            "apiVersion": IMAGE_API,
            "kind": "ImageUpdateAutomation",
            "metadata": _meta(ns, "fleet"),
            "spec": {
                "interval": "1h",  # only the ImagePolicy watch wakes it during the trials
                "sourceRef": {"kind": "GitRepository", "name": "iac-fleet"},
                "git": git_spec,
                "update": {"path": "./apps", "strategy": "Setters"},
            },
        }
    )


async def wire_gitcanary(kube: Kube, ns: str, remote: HttpRemote, url: str) -> None:
    await _git_repository(kube, ns, "gc-fleet", remote, url)
    obj = canary(ns, "fleet", iterations=2, template=None)
    obj["spec"]["targetRef"]["name"] = "absent"  # no controller tick ever acts on it
    obj["spec"]["gitops"] = {
        "sourceRef": {"name": "gc-fleet"},
        "path": "./apps",
        "onRollback": {"quarantine": False},
        "onPromotion": {"record": False},
    }
    await kube.apply(obj)


def _meta(ns: str, name: str) -> Obj:
    return {"name": name, "namespace": ns}


async def _git_repository(kube: Kube, ns: str, name: str, remote: HttpRemote, url: str) -> None:
    secret = {"username": remote.username, "password": remote.password}
    await kube.apply(
        {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(ns, f"{name}-auth"), "stringData": secret}
    )
    spec = {"url": url, "interval": "1h", "ref": {"branch": "main"}, "secretRef": {"name": f"{name}-auth"}}
    await kube.apply(
        {"apiVersion": SOURCE_API, "kind": "GitRepository", "metadata": _meta(ns, name), "spec": spec}
    )


async def flux_decides(kube: Kube, ns: str, app: int) -> None:
    tag = GOOD.rsplit(":", 1)[1]
    patch = {"status": {"latestRef": {"name": IMAGE, "tag": tag}}}
    await kube.merge_patch(IMAGE_API, "ImagePolicy", ns, f"app{app}", patch, "status")


def gitcanary_decides(queue: WriteBackQueue) -> Callable[[Kube, str, int], Awaitable[None]]:
    async def decide(kube: Kube, ns: str, app: int) -> None:
        intent = make_intent(
            kind="rollback",
            canary=f"{ns}/fleet",
            revision=f"bench-{app}",
            repository="",
            branch="main",
            path=f"apps/app{app}",
            image=GOOD,
            previous_image=FAILED,
            result="rolled-back",
            analysis="error-rate 12% > 1%",
        )
        entry = {
            "id": intent.id,
            "kind": intent.kind,
            "path": intent.path,
            "image": intent.image,
            "previousImage": intent.previous_image,
            "result": intent.result,
            "analysis": intent.analysis,
            "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        patch = {"status": {"gitops": {"pending": [entry]}}}
        await kube.merge_patch(CANARY_API, "Canary", ns, "fleet", patch, "status")
        queue.submit(ns, "fleet")

    return decide


async def trials(
    kube: Kube,
    ns: str,
    bare: Path,
    decide: Callable[[Kube, str, int], Awaitable[None]],
    runs: int,
    failure: Failure,
) -> list[float]:
    samples = []
    for app in range(runs + 1):  # app 0 is the warm-up
        before = await asyncio.to_thread(head, bare)
        started = time.perf_counter()
        await decide(kube, ns, app)
        took = await until_pushed(bare, before, started, failure)
        await asyncio.to_thread(check_edit, bare, ns, app)
        if app:
            samples.append(took)
        await asyncio.sleep(0.5)
    return samples


def _line(name: str, samples: list[float], decision: str) -> str:
    ms = sorted(s * 1000 for s in samples)
    return f"  {name:<28} p50 {statistics.median(ms):6.0f} ms, max {ms[-1]:6.0f} ms  (decision: {decision})"


async def release_automation(kube: Kube, ns: str) -> None:
    """Delete the ImageUpdateAutomation; a finalizer still there after 30 s is removed (a namespace
    that cannot finish terminating would load the apiserver for every later benchmark)."""
    await kube.delete(IMAGE_API, "ImageUpdateAutomation", ns, "fleet")
    deadline = time.monotonic() + 30
    while await kube.get(IMAGE_API, "ImageUpdateAutomation", ns, "fleet") is not None:
        if time.monotonic() > deadline:
            patch = {"metadata": {"finalizers": None}}
            await kube.merge_patch(IMAGE_API, "ImageUpdateAutomation", ns, "fleet", patch)
            print(f"{ns}: removed the ImageUpdateAutomation's finalizer after 30 s", file=sys.stderr)
            return
        await asyncio.sleep(0.5)


async def compare(kubeconfig: Path, work: Path, runs: int) -> bool:
    ns = f"bench-wb-{uuid.uuid4().hex[:6]}"
    os.environ["GITCANARY_GIT_CACHE"] = str(work / "worker-cache")
    kube = Kube.from_kubeconfig(str(kubeconfig))
    proc: subprocess.Popen[bytes] | None = None
    queue = WriteBackQueue(kube)
    logged = Failures()
    logging.getLogger("controller").addHandler(logged)

    async def iac_failure() -> str:
        if proc is not None and proc.poll() is not None:
            return f"{IAC} exited {proc.returncode}"
        return ""

    async def gitcanary_failure() -> str:
        live = await kube.get(CANARY_API, "Canary", ns, "fleet") or {}
        last = ((live.get("status") or {}).get("gitops") or {}).get("lastWriteBack") or {}
        if last.get("result") == "error":
            return str(last.get("message"))
        return "\n".join(logged.records)

    try:
        await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        with http_remote(work / "vs-flux-remote") as remote:
            iac_url = seed(remote, "iac", runs + 1, work, policy_namespace=ns)
            gc_url = seed(remote, "gitcanary", runs + 1, work, policy_namespace=ns)
            proc, log = await asyncio.to_thread(start_iac, kubeconfig, work)
            await wire_flux(kube, ns, remote, iac_url, runs + 1)
            await wire_gitcanary(kube, ns, remote, gc_url)
            try:
                iac = await trials(kube, ns, remote.bare("iac"), flux_decides, runs, iac_failure)
            except TimeoutError as exc:
                raise RuntimeError(f"{exc}\n{IAC} log:\n{processes.log_tail(log, 40)}") from exc
            ours = await trials(
                kube, ns, remote.bare("gitcanary"), gitcanary_decides(queue), runs, gitcanary_failure
            )
    finally:
        logging.getLogger("controller").removeHandler(logged)
        await queue.close()
        await release_automation(kube, ns)  # while the controller runs, so it drops its finalizer
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
        await kube.delete("v1", "Namespace", None, ns)
        await kube.close()
    print(
        f"the same $imagepolicy marker edit, decision -> commit on the remote, smart HTTP, {runs} trials each "
        f"(after one warm-up):"
    )
    print(_line(f"{IAC} v1.2.0", iac, "ImagePolicy status.latestRef written"))
    print(_line("gitcanary write-back", ours, "intent persisted in status.gitops.pending"))
    ratio = statistics.median(iac) / statistics.median(ours)
    print(f"  p50 ratio {IAC} / gitcanary: {ratio:.2f}")
    return True
