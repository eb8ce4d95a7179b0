"""Run the real Flux controllers against the sandbox apiserver, out of cluster.

Each controller is a detached sandbox service (see ``processes``) talking to the
apiserver through the sandbox's admin kubeconfig (``KUBECONFIG``), with its
metrics and health endpoints on their own free loopback ports, leader election
off and every namespace watched.

Invariants:
- source-controller serves artifacts on 127.0.0.1 and advertises exactly that
  address, so the artifact URLs in ``GitRepository.status.artifact.url`` are
  reachable by kustomize-controller and by tests;
- image-reflector-controller keeps its tag database under the sandbox dir;
- helm-controller installs releases through the same admin kubeconfig, with the shared flags
  only (its own metrics and health ports, like every controller);
- a controller is "started" only once its ``/readyz`` answers 200 (and, for
  source-controller, its storage port accepts connections); otherwise the start
  fails with the tail of its log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gitcanary_sandbox import processes
from gitcanary_sandbox.flux_binaries import CONTROLLER_NAMES

RUNTIME_NAMESPACE = "flux-system"


@dataclass(frozen=True)
class ControllerPorts:
    metrics: int
    health: int


def port_names(name: str) -> tuple[str, ...]:
    """The ``state.ports`` keys one controller uses."""
    key = name.replace("-", "_")
    names: tuple[str, ...] = (f"{key}_metrics", f"{key}_health")
    if name == "source-controller":
        names += ("source_controller_storage",)
    return names


def all_port_names() -> tuple[str, ...]:
    names: tuple[str, ...] = ("registry",)
    for name in CONTROLLER_NAMES:
        names += port_names(name)
    return names


def controller_argv(name: str, binary: Path, ports: Mapping[str, int], data_dir: Path) -> list[str]:
    """The command line of one controller (flags shared by all four, then its own)."""
    key = name.replace("-", "_")
    argv = [
        str(binary),
        f"--metrics-addr=127.0.0.1:{ports[f'{key}_metrics']}",
        f"--health-addr=127.0.0.1:{ports[f'{key}_health']}",
        "--watch-all-namespaces=true",
        "--enable-leader-election=false",
        "--log-level=info",
        "--log-encoding=console",
    ]
    if name == "source-controller":
        storage = ports["source_controller_storage"]
        argv += [
            f"--storage-path={data_dir / 'source-controller'}",
            f"--storage-addr=127.0.0.1:{storage}",
            f"--storage-adv-addr=127.0.0.1:{storage}",
        ]
    elif name == "image-reflector-controller":
        argv.append(f"--storage-path={data_dir / 'image-reflector-controller'}")
    elif name == "kustomize-controller":
        # Fail fast in tests: the default retries an artifact fetch nine times.
        argv.append("--http-retry=3")
    elif name not in ("image-automation-controller", "helm-controller"):
        raise KeyError(f"unknown Flux controller {name!r}")
    return argv


def start_controller(
    base: Path,
    name: str,
    binary: Path,
    kubeconfig: Path,
    ports: Mapping[str, int],
    timeout: float = 90.0,
) -> processes.Service:
    """Start one controller and wait until it reports ready."""
    data_dir = base / "flux"
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / name).mkdir(exist_ok=True)
    argv = controller_argv(name, binary, ports, data_dir)
    env = {"KUBECONFIG": str(kubeconfig), "RUNTIME_NAMESPACE": RUNTIME_NAMESPACE}
    svc = processes.start(base, name, argv, env=env, cwd=data_dir / name)
    health = ports[f"{name.replace('-', '_')}_health"]
    processes.wait_until(
        svc, lambda: processes.http_ok(f"http://127.0.0.1:{health}/readyz"), f"{name} /readyz", timeout
    )
    if name == "source-controller":
        storage = ports["source_controller_storage"]
        processes.wait_until(
            svc, lambda: processes.port_open(storage), "source-controller storage port", timeout
        )
    return svc
