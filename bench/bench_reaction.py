"""Reaction time: from a change of the target's pod template to the Canary starting its analysis.

Runs on the sandbox (started here in a temporary directory unless GITCANARY_SANDBOX_DIR points at a
running one) with the real controller process. Each trial patches the target's image and measures
until the Canary's status shows the new revision in ``lastAppliedSpec`` with phase Progressing
(the engine records both in the tick that detects the change). Prints p50, p99 and max.

Usage: .venv/bin/python bench/bench_reaction.py [trials]
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controller.kube import Kube  # noqa: E402
from gitcanary_sandbox import environment, processes  # noqa: E402
from gitcanary_sandbox.client import SandboxClient  # noqa: E402
from tests.builders import canary, deployment  # noqa: E402

NS = "bench-reaction"


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


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    base = Path(os.environ.get("GITCANARY_SANDBOX_DIR") or tempfile.mkdtemp(prefix="gitcanary-bench-"))
    state = environment.up(base, progress=lambda m: None)
    client = SandboxClient(state)
    client.kubectl("create", "namespace", NS, check=False)
    client.kubectl(
        "apply", "-f", "-", stdin=json.dumps(deployment(NS, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0"))
    )
    client.kubectl("apply", "-f", "-", stdin=json.dumps(canary(NS, "podinfo", iterations=100, template=None)))
    port = processes.free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller.cli",
            "run",
            f"--kubeconfig={client.kubeconfig}",
            f"--health=http://127.0.0.1:{port}/healthz",
            f"--metrics-addr=127.0.0.1:{processes.free_port()}",
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
        proc.terminate()
        proc.wait(timeout=20)
        client.kubectl("delete", "namespace", NS, "--wait=false", check=False)
        if not os.environ.get("GITCANARY_SANDBOX_DIR"):
            environment.down(base, quiet=True)
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    print(
        f"reaction (target change -> Progressing), {len(ms)} trials: "
        f"p50 {statistics.median(ms):.0f} ms, p99 {p99:.0f} ms, max {ms[-1]:.0f} ms "
        f"(targets: p50 < 1000 ms, p99 < 2000 ms)"
    )


if __name__ == "__main__":
    main()
