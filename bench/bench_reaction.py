"""Reaction time: from a change of the target's pod template to the Canary starting its analysis.

Runs on the sandbox with the real controller process, limited to the benchmark's own namespace
(``--namespace``), so a sandbox shared with tests or other controllers is left alone. The sandbox
is the running one in ``--sandbox-dir`` (neither started nor stopped here), else the one in
GITCANARY_SANDBOX_DIR (started if needed), else one started here in a temporary directory. Each trial patches the
target's image and measures until the Canary's status shows the new revision in
``lastAppliedSpec`` with phase Progressing (the engine records both in the tick that detects the
change). Prints p50, p99 and max; exit status 1 when a target is missed (not in ``--smoke``).

Usage: .venv/bin/python bench/bench_reaction.py [--trials 20] [--sandbox-dir D] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_support import delete_namespace, release  # noqa: E402

from controller.kube import Kube  # noqa: E402
from gitcanary_sandbox import environment, processes  # noqa: E402
from gitcanary_sandbox.client import SandboxClient  # noqa: E402
from tests.builders import canary, deployment  # noqa: E402

CANARIES = ("canaries.gitcanary.io",)
NS = f"bench-reaction-{uuid.uuid4().hex[:6]}"


def running_sandbox(base: Path) -> SandboxClient:
    state = environment.SandboxState.load(base)
    if state is None:
        raise SystemExit(f"no sandbox state in {base} (start one with: gitcanary sandbox up --dir {base})")
    return SandboxClient(state)


async def _measure(kube: Kube, client: SandboxClient, trials: int) -> list[float]:
    samples = []
    for i in range(trials):
        before = (await kube.get("gitcanary.io/v1beta1", "Canary", NS, "podinfo") or {}).get("status", {})
        old = before.get("lastAppliedSpec")
        start = time.perf_counter()
        client.kubectl(
            "set", "image", "-n", NS, "deployment/podinfo", f"podinfod=ghcr.io/stefanprodan/podinfo:7.{i}.0"
        )
        while True:
            status = (await kube.get("gitcanary.io/v1beta1", "Canary", NS, "podinfo") or {}).get("status", {})
            if status.get("lastAppliedSpec") not in (None, old) and status.get("phase") == "Progressing":
                samples.append(time.perf_counter() - start)
                break
            if time.perf_counter() - start > 30:
                raise RuntimeError(f"trial {i}: no reaction in 30s (status {status})")
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
    return samples


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--sandbox-dir", type=Path, help="a running sandbox's directory")
    parser.add_argument("--smoke", action="store_true", help="3 trials, no target")
    args = parser.parse_args(argv)
    trials = 3 if args.smoke else args.trials
    owned = args.sandbox_dir is None and not os.environ.get("GITCANARY_SANDBOX_DIR")
    if args.sandbox_dir is not None:
        client = running_sandbox(args.sandbox_dir)
    else:
        base = Path(os.environ.get("GITCANARY_SANDBOX_DIR") or tempfile.mkdtemp(prefix="gitcanary-bench-"))
        client = SandboxClient(environment.up(base, progress=lambda m: None))
    client.kubectl("create", "namespace", NS)
    client.kubectl(
        "apply", "-f", "-", stdin=json.dumps(deployment(NS, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0"))
    )
    client.kubectl("apply", "-f", "-", stdin=json.dumps(canary(NS, "podinfo", iterations=100, template=None)))
    port = processes.free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller.cli.main",
            "run",
            f"--kubeconfig={client.kubeconfig}",
            f"--health=http://127.0.0.1:{port}/healthz",
            f"--metrics-addr=127.0.0.1:{processes.free_port()}",
            f"--namespace={NS}",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        kube = Kube.from_kubeconfig(str(client.kubeconfig))

        async def run() -> list[float]:
            deadline = time.monotonic() + 60
            while (
                (await kube.get("gitcanary.io/v1beta1", "Canary", NS, "podinfo") or {})
                .get("status", {})
                .get("phase")
            ) != "Initialized":
                if time.monotonic() > deadline:
                    raise RuntimeError("canary did not initialize")
                await asyncio.sleep(0.2)
            try:
                return await _measure(kube, client, trials)
            finally:
                await kube.close()

        samples = asyncio.run(run())
    finally:
        release(client, NS, CANARIES, timeout_s=60)
        proc.terminate()
        proc.wait(timeout=20)
        delete_namespace(client, NS, CANARIES)
        if owned:
            environment.down(base, quiet=True)
    ms = sorted(s * 1000 for s in samples)
    p50, p99 = statistics.median(ms), ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    met = p50 < 1000 and p99 < 2000
    print(
        f"reaction (target change -> Progressing), {len(ms)} trials: "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {ms[-1]:.0f} ms "
        f"(targets p50 < 1000 ms, p99 < 2000 ms: {'met' if met else 'MISSED'})"
    )
    return 0 if met or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
