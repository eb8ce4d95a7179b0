"""``gitcanary run`` under cProfile, profiling only between two signals (bench_peer ``--profile``).

Usage: ``python bench/profiled_controller.py OUT.prof run --kubeconfig=...``. SIGUSR1 starts
the profiler (on the main thread, where kopf's event loop and every tick run), SIGUSR2 stops it
and writes its stats to OUT.prof; so the profile covers the rollout burst alone, not the imports
and the Canaries' initialization before it.
"""

from __future__ import annotations

import cProfile
import runpy
import signal
import sys
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    out, argv = sys.argv[1], sys.argv[2:]
    profiler = cProfile.Profile()

    def start(signum: int, frame: FrameType | None) -> None:
        profiler.enable()

    def stop(signum: int, frame: FrameType | None) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    sys.argv = ["gitcanary", *argv]
    runpy.run_module("controller.cli.main", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
