"""Benchmark the Git write-back worker on a loopback ``file://`` bare repository.

Prints:
- decision -> pushed-commit latency (p50/p99 over ``--runs`` single-intent write-backs);
- batched throughput (intents/s) while a concurrent writer keeps pushing to the same
  branch, then verifies that no intent was lost or duplicated (by counting
  ``Gitcanary-Intent`` trailers) and that every concurrent commit survived.

Targets (DESIGN.md section 6): p50 < 2 s; >= 20 intents/s with a concurrent writer.

Usage: ``.venv/bin/python bench/bench_writeback.py [--runs 30] [--intents 600] [--batch 20]
[--writer-pause 0.02]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from controller.gitops.intents import Intent, make_intent
from controller.gitops.repo import WriteBackRepo
from controller.gitops.trailers import intent_ids

IMAGE = "ghcr.io/stefanprodan/podinfo"


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def must(done: subprocess.CompletedProcess[str]) -> str:
    if done.returncode != 0:
        raise RuntimeError(f"{done.args}: {done.stderr}")
    return done.stdout


def seed_remote(root: Path, apps: int) -> str:
    bare = root / "remote.git"
    must(git(root, "init", "--quiet", "--bare", "-b", "main", str(bare)))
    seed = root / "seed"
    must(git(root, "clone", "--quiet", bare.as_uri(), str(seed)))
    for index in range(apps):
        app = seed / "apps" / f"app{index}"
        app.mkdir(parents=True)
        (app / "deployment.yaml").write_text(f"spec:\n  image: {IMAGE}:1.0.0 # marker\n")
    must(git(seed, "add", "-A"))
    must(git(seed, "commit", "--quiet", "-m", "seed"))
    must(git(seed, "push", "--quiet", "origin", "HEAD:main"))
    return bare.as_uri()


def intent(url: str, app: int, revision: str, image: str, previous: str) -> Intent:
    return make_intent(
        kind="rollback",
        canary=f"bench/app{app}",
        revision=revision,
        repository=url,
        branch="main",
        path=f"apps/app{app}",
        image=image,
        previous_image=previous,
        result="rolled-back",
        analysis="error-rate 12% > 1% (5/5 failed checks)",
        source_revision="main@sha1:bench",
    )


def replace_image(worktree: Path, item: Intent) -> list[Path]:
    target = worktree / item.path / "deployment.yaml"
    text = target.read_text()
    edited = text.replace(item.previous_image, item.image)
    if edited == text:
        return []
    target.write_text(edited)
    return [target]


class ConcurrentWriter(threading.Thread):
    """Pushes a small commit to the same branch in a loop, as a human or automation would."""

    def __init__(self, root: Path, url: str, pause_s: float) -> None:
        super().__init__(daemon=True)
        self.clone = root / "writer"
        self.url = url
        self.pause_s = pause_s
        self.stop = threading.Event()
        self.pushed = 0
        self.rejected = 0
        self.error: Exception | None = None
        must(git(root, "clone", "--quiet", url, str(self.clone)))

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.push_one()
                self.stop.wait(self.pause_s)
        except Exception as exc:  # reported by main(), which then fails the run
            self.error = exc

    def push_one(self) -> None:
        must(git(self.clone, "fetch", "--quiet", "origin", "main"))
        must(git(self.clone, "reset", "--quiet", "--hard", "origin/main"))
        with (self.clone / "writer.log").open("a") as log:
            log.write(f"{self.pushed}\n")
        must(git(self.clone, "add", "-A"))
        must(git(self.clone, "commit", "--quiet", "-m", f"writer {self.pushed}"))
        if git(self.clone, "push", "--quiet", "origin", "HEAD:main").returncode == 0:
            self.pushed += 1
        else:
            self.rejected += 1


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure_latency(url: str, cache: Path, runs: int) -> list[float]:
    repo = WriteBackRepo(url, "main", cache, timeout_s=30)
    latencies: list[float] = []
    previous = f"{IMAGE}:1.0.0"
    for run in range(runs):
        image = f"{IMAGE}:1.0.{run + 1}"
        item = intent(url, 0, f"latency-{run}", image, previous)
        started = time.perf_counter()
        result = await repo.apply_intents([item], replace_image)
        latencies.append(time.perf_counter() - started)
        if result.commit is None or result.applied != {item.id: result.commit}:
            raise RuntimeError(f"run {run}: intent not committed: {result}")
        previous = image
    return latencies


async def measure_throughput(
    url: str, cache: Path, total: int, batch: int, first_app: int
) -> tuple[float, list[str], int, int]:
    repo = WriteBackRepo(url, "main", cache, timeout_s=30)
    items = [intent(url, first_app + i, f"tp-{i}", f"{IMAGE}:2.0.0", f"{IMAGE}:1.0.0") for i in range(total)]
    retries = 0
    commits = 0
    started = time.perf_counter()
    for offset in range(0, total, batch):
        chunk = items[offset : offset + batch]
        result = await repo.apply_intents(chunk, replace_image, max_attempts=20)
        if result.failed or set(result.applied) != {i.id for i in chunk}:
            raise RuntimeError(f"batch at {offset} incomplete: {result}")
        retries += result.attempts - 1
        commits += result.commit is not None
    return total / (time.perf_counter() - started), [i.id for i in items], retries, commits


def audit(root: Path, url: str) -> tuple[Counter[str], int]:
    log = must(git(root, "--git-dir", url.removeprefix("file://"), "log", "--format=%B%x1e", "main"))
    ids: Counter[str] = Counter()
    writer_commits = 0
    for message in log.split("\x1e"):
        ids.update(intent_ids(message))
        writer_commits += message.strip().startswith("writer ")
    return ids, writer_commits


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--intents", type=int, default=600)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--writer-pause", type=float, default=0.02, help="seconds between concurrent pushes")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gitcanary-bench-") as tmp:
        root = Path(tmp)
        os.environ["GIT_CONFIG_GLOBAL"] = str(root / "empty.gitconfig")
        (root / "empty.gitconfig").write_text("")
        url = seed_remote(root, 1 + args.intents)

        latencies = await measure_latency(url, root / "cache", args.runs)
        p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
        print(
            f"decision -> pushed commit over {args.runs} runs: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
        )

        writer = ConcurrentWriter(root, url, args.writer_pause)
        writer.start()
        window = time.perf_counter()
        try:
            rate, ids, retries, commits = await measure_throughput(
                url, root / "cache", args.intents, args.batch, first_app=1
            )
        finally:
            writer.stop.set()
            writer.join(timeout=60)
            window = time.perf_counter() - window
        if writer.error is not None:
            print(f"concurrent writer crashed: {writer.error}")
            return 1
        trailers, writer_commits = audit(root, url)
        lost = [i for i in ids if trailers[i] == 0]
        duplicated = [i for i, n in trailers.items() if n > 1]
        print(
            f"batched throughput with a concurrent writer: {rate:.1f} intents/s "
            f"({args.intents} intents in {commits} commits of <= {args.batch}, {retries} push retries; "
            f"writer pushed {writer.pushed} commits ({writer.pushed / window:.1f}/s), "
            f"{writer.rejected} of its pushes were rejected)"
        )
        print(
            f"audit: {len(trailers)} distinct intent trailers, lost {len(lost)}, duplicated {len(duplicated)}, "
            f"writer commits in history {writer_commits}/{writer.pushed}"
        )
        ok = (
            p50 < 2.0
            and rate >= 20
            and not lost
            and not duplicated
            and writer.pushed > 0
            and writer_commits == writer.pushed
            and len(trailers) == args.runs + args.intents
        )
        print(
            f"targets (p50 < 2 s, >= 20 intents/s, nothing lost or duplicated): {'met' if ok else 'MISSED'}"
        )
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
