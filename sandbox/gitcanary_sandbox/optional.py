"""Sandbox parts started only when asked: Graphite, InfluxDB and the external metrics API.

``sandbox up`` does not start them (they would slow every start for the few tests that use
them). ``ensure(base, part)`` starts one on a running sandbox, idempotently, under a file lock
(two test processes asking at once start it once), records its ports, URL and ``ok`` or the
failure reason in ``state.json``, and returns the URL. ``environment.down`` stops them with the
rest. From the shell: ``python -m gitcanary_sandbox.optional graphite`` prints the URL.
"""

from __future__ import annotations

import fcntl
import sys
from collections.abc import Callable
from pathlib import Path

from gitcanary_sandbox import external_metrics, graphite, influx, processes
from gitcanary_sandbox.binaries import kube_bin_dir

PARTS: dict[str, tuple[str, ...]] = {
    "graphite": graphite.SERVICES,
    "influxdb": influx.SERVICES,
    "external-metrics": external_metrics.SERVICES,
}
SERVICES: tuple[str, ...] = tuple(s for services in PARTS.values() for s in services)
_PORTS: dict[str, tuple[str, ...]] = {
    "graphite": graphite.PORT_NAMES,
    "influxdb": influx.PORT_NAMES,
    "external-metrics": external_metrics.PORT_NAMES,
}


def ensure(base: Path, part: str) -> str:
    """Start ``part`` unless it runs; return its URL. Raise with the reason when it cannot start."""
    from gitcanary_sandbox.environment import SandboxState

    if part not in PARTS:
        raise ValueError(f"unknown optional part {part!r}; one of {', '.join(PARTS)}")
    (base / "pids").mkdir(parents=True, exist_ok=True)
    with open(base / "pids" / ".optional.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = SandboxState.load(base)
        if state is None:
            raise processes.ServiceFailed(f"no sandbox in {base}: run `gitcanary sandbox up` first")
        url_key = f"{part}_url"
        alive = all(
            (svc := processes.recorded(base, name)) is not None and processes.pid_alive(svc.pid)
            for name in PARTS[part]
        )
        if alive and state.parts.get(part) == "ok" and url_key in state.optional_urls:
            return state.optional_urls[url_key]
        for name in PARTS[part]:
            processes.stop(base, name)
        for name in _PORTS[part]:
            state.ports[name] = processes.free_port()
        starters: dict[str, Callable[[], str]] = {
            "graphite": lambda: graphite.start_graphite(base, state.ports).url,
            "influxdb": lambda: influx.start_influxdb(base, state.ports).url,
            "external-metrics": lambda: _external(base, state),
        }
        try:
            url = starters[part]()
        except Exception as exc:  # recorded for whoever needs the part, then raised
            state.parts[part] = f"{type(exc).__name__}: {exc}"
            state.save()
            raise
        state.parts[part] = "ok"
        state.optional_urls[url_key] = url
        state.save()
        return url


def _external(base: Path, state: object) -> str:
    from gitcanary_sandbox.environment import SandboxState

    assert isinstance(state, SandboxState)
    state.require("kube-apiserver")
    return external_metrics.start_external_metrics(
        base, state.ports["external_metrics"], kube_bin_dir() / "kubectl", Path(state.kubeconfig)
    )


if __name__ == "__main__":
    from gitcanary_sandbox.environment import default_dir

    print(ensure(default_dir(), sys.argv[1]))
