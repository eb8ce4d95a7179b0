"""Benchmark the Git write-back on a smart-HTTP remote: the worker's own code, a real rival writer.

What runs is what ``controller.gitops.workflow.worker.write_back`` runs: ``WriteBackRepo.apply_intents``
(fetch, skip what history holds, edit, one commit with trailers, push, bounded retry with the
replay path) with the real marker editor ``controller.gitops.edits.apply.apply_intent`` (default
``EditPolicy``: revert the ``$imagepolicy`` marker, quarantine the failed tag in its ImagePolicy,
write the ``.gitcanary/`` record). The remote is ``git http-backend`` behind basic auth
(``writeback_remote.HttpRemote``); every fleet app is a Deployment on a failed image plus its
ImagePolicy, and every intent is one app's rollback.

Batching, stated: the worker commits ONE Canary's pending intents per commit (a rollback is one
intent), and one repository's Canaries are written one at a time (``WriteBackQueue``). So the
default ``--batch 1`` is one intent per commit, sequentially, with the worker's ``max_attempts``
(5); a write-back that still loses after 5 attempts is counted as a give-up and submitted again
at once (the queue would wait ``RETRY_S``). ``--batch N`` shows what N intents per commit would give.

Prints:
- decision -> pushed commit (p50/p99 over ``--latency-runs`` single write-backs, no rival);
- intents/s over ``--runs`` runs (median, min, max), each on a fresh remote with a rival writer
  pushing at ``--writer-rate`` per second: how many of its pushes landed, how many of ours retried;
- an audit of every run: no intent lost or duplicated, every landed rival commit kept.
With ``--vs-flux --kubeconfig K`` also the same marker edit through Flux's
image-automation-controller beside gitcanary's write-back (``writeback_flux.py``).

Targets (DESIGN.md section 6): p50 < 2 s; >= 20 intents/s with a concurrent writer. Exit status 1
when one is missed or the audit fails (``--smoke``: the audit only).

Usage: ``.venv/bin/python bench/bench_writeback.py [--runs 5] [--intents 100] [--writer-rate 2]``;
``--smoke`` for a run of a few seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from writeback_remote import FAILED, GOOD, FixedRateWriter, HttpRemote, audit, http_remote, seed

from controller.gitops.edits.apply import EditPolicy, apply_intent
from controller.gitops.plumbing.repo import WriteBackError, WriteBackRepo
from controller.gitops.workflow.intents import Intent, make_intent

WORKER_MAX_ATTEMPTS = 5  # WriteBackRepo.apply_intents' default, which the worker uses


def rollback(url: str, app: int, revision: str) -> Intent:
    return make_intent(
        kind="rollback",
        canary=f"apps/app{app}",
        revision=revision,
        repository=url,
        branch="main",
        path=f"apps/app{app}",
        image=GOOD,
        previous_image=FAILED,
        result="rolled-back",
        analysis="error-rate 12% > 1% (5/5 failed checks)",
        source_revision="main@sha1:bench",
    )


def edit(worktree: Path, item: Intent) -> list[Path]:
    """The worker's edit (worker._apply without a HelmRelease's extra paths)."""
    notes: list[str] = []
    changed = apply_intent(worktree, item, EditPolicy(), notes, [])
    if notes:
        raise RuntimeError(f"{item.canary}: {'; '.join(notes)}")
    return changed


@dataclass
class Tally:
    write_backs: int = 0
    retried: int = 0  # write-backs that needed more than one push
    retries: int = 0  # extra pushes in all
    give_ups: int = 0  # write-backs that lost WORKER_MAX_ATTEMPTS times and were submitted again
    commits: int = 0


async def write_back(repo: WriteBackRepo, batch: list[Intent], tally: Tally) -> None:
    while True:
        try:
            result = await repo.apply_intents(batch, edit, max_attempts=WORKER_MAX_ATTEMPTS)
        except WriteBackError as exc:
            if not exc.retriable:
                raise
            tally.give_ups += 1
            tally.retries += WORKER_MAX_ATTEMPTS
            continue
        if result.failed or set(result.applied) != {i.id for i in batch}:
            raise RuntimeError(f"write-back incomplete: {result}")
        tally.write_backs += 1
        tally.retried += result.attempts > 1
        tally.retries += result.attempts - 1
        tally.commits += result.commit is not None
        return


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure_latency(remote: HttpRemote, work: Path, runs: int) -> list[float]:
    url = seed(remote, "latency", runs + 1, work)
    repo = WriteBackRepo(url, "main", work / "cache", remote.auth(), timeout_s=30)
    await write_back(repo, [rollback(url, runs, "warm-up")], Tally())  # the clone is made once
    latencies = []
    for run in range(runs):
        started = time.perf_counter()
        await write_back(repo, [rollback(url, run, f"latency-{run}")], Tally())
        latencies.append(time.perf_counter() - started)
    return latencies


@dataclass
class Run:
    rate: float
    tally: Tally
    writer: FixedRateWriter
    window: float
    lost: int
    duplicated: int
    writer_commits: int


async def throughput_run(
    remote: HttpRemote, work: Path, index: int, intents: int, batch: int, writer_rate: float
) -> Run:
    name = f"run{index}"
    url = seed(remote, name, intents + 1, work)
    repo = WriteBackRepo(url, "main", work / "cache", remote.auth(), timeout_s=30)
    await write_back(repo, [rollback(url, intents, "warm-up")], Tally())
    items = [rollback(url, app, f"{name}-{app}") for app in range(intents)]
    tally = Tally()
    writer = FixedRateWriter(remote, url, work / name, writer_rate)
    writer.start()
    started = time.perf_counter()
    try:
        for offset in range(0, intents, batch):
            await write_back(repo, items[offset : offset + batch], tally)
        elapsed = time.perf_counter() - started
    finally:
        writer.stop.set()
        await asyncio.to_thread(writer.join, 120)
    window = time.perf_counter() - started
    if writer.error is not None:
        raise RuntimeError(f"the concurrent writer failed: {writer.error}")
    trailers, writer_commits = audit(remote.bare(name))
    return Run(
        rate=intents / elapsed,
        tally=tally,
        writer=writer,
        window=window,
        lost=sum(1 for i in items if trailers[i.id] == 0),
        duplicated=sum(1 for n in trailers.values() if n > 1),
        writer_commits=writer_commits,
    )


def describe(index: int, run: Run, intents: int) -> str:
    t, w = run.tally, run.writer
    return (
        f"  run {index}: {run.rate:6.1f} intents/s ({intents} intents, {t.commits} commits); ours: "
        f"{t.retried} of {t.write_backs} write-backs retried ({t.retries} extra pushes, {t.give_ups} give-ups); "
        f"rival: {w.attempted} pushes tried ({w.attempted / run.window:.2f}/s), {w.landed} landed, "
        f"{w.rejected} rejected; audit: lost {run.lost}, duplicated {run.duplicated}, "
        f"rival commits kept {run.writer_commits}/{w.landed}"
    )


async def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="gitcanary-bench-writeback-") as tmp:
        work = Path(tmp)
        os.environ["GIT_CONFIG_GLOBAL"] = str(work / "empty.gitconfig")
        (work / "empty.gitconfig").write_text("")
        with http_remote(work / "remote") as remote:
            latencies = await measure_latency(remote, work, args.latency_runs)
            p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
            print(
                f"decision -> pushed commit, one rollback intent over smart HTTP, {args.latency_runs} runs: "
                f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
            )
            print(
                f"throughput: {args.runs} runs of {args.intents} rollback intents, {args.batch} intent(s) per "
                f"commit (the worker: 1 per Canary), one at a time, rival writer at {args.writer_rate:g} pushes/s"
            )
            runs = []
            for index in range(args.runs):
                run = await throughput_run(remote, work, index, args.intents, args.batch, args.writer_rate)
                print(describe(index, run, args.intents), flush=True)
                runs.append(run)
        rates = [r.rate for r in runs]
        print(
            f"intents/s: median {statistics.median(rates):.1f}, min {min(rates):.1f}, max {max(rates):.1f} "
            f"over {len(rates)} runs; rival pushes landed {sum(r.writer.landed for r in runs)} of "
            f"{sum(r.writer.attempted for r in runs)}"
        )
        audit_ok = all(
            r.lost == 0 and r.duplicated == 0 and r.writer_commits == r.writer.landed and r.writer.landed > 0
            for r in runs
        )
        print(
            f"audit (nothing lost or duplicated, every landed rival commit kept): {'ok' if audit_ok else 'FAILED'}"
        )
        ok = audit_ok
        if not args.smoke:
            met = p50 < 2.0 and statistics.median(rates) >= 20
            print(f"targets (p50 < 2 s, median >= 20 intents/s): {'met' if met else 'MISSED'}")
            ok = ok and met
        if args.vs_flux:
            from writeback_flux import compare  # needs a sandbox apiserver

            ok = await compare(args.kubeconfig, work, 2 if args.smoke else args.flux_runs) and ok
        return 0 if ok else 1


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="3 latency runs, 2 runs of 8 intents")
    parser.add_argument("--latency-runs", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--intents", type=int, default=100)
    parser.add_argument("--batch", type=int, default=1, help="intents per commit (the worker: 1 per Canary)")
    parser.add_argument("--writer-rate", type=float, default=2.0, help="rival pushes per second")
    parser.add_argument("--vs-flux", action="store_true", help="also time image-automation-controller")
    parser.add_argument("--kubeconfig", type=Path, help="a sandbox apiserver, for --vs-flux")
    parser.add_argument("--flux-runs", type=int, default=10)
    args = parser.parse_args(argv)
    if args.smoke:
        args.latency_runs, args.runs, args.intents = 3, 2, 8
    if args.vs_flux and args.kubeconfig is None:
        parser.error("--vs-flux needs --kubeconfig (a sandbox apiserver with the Flux CRDs)")
    if min(args.latency_runs, args.runs, args.intents, args.batch) < 1 or not 0 < args.writer_rate <= 50:
        parser.error("counts must be positive and --writer-rate in (0, 50]")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse(sys.argv[1:]))))
