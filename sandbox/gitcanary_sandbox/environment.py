"""The sandbox as a whole: start, describe and stop every part, idempotently.

State lives in ``<dir>/state.json``: the chosen ports, the URLs, and for each
part either "ok" or the reason it failed. A part that fails does not stop the
others from starting (a broken sshd must not take the apiserver down with it),
and whoever needs that part gets the recorded reason instead of a silent skip.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gitcanary_sandbox import controlplane, flux, flux_binaries, optional, processes, registry, upstream_crds
from gitcanary_sandbox.binaries import Binaries, ensure_binaries
from gitcanary_sandbox.gitremotes import GitPorts, GitRemotes, start_git_remotes
from gitcanary_sandbox.pki import ensure_pki, write_kubeconfig
from gitcanary_sandbox.prometheus import start_exporter, start_prometheus

Progress = Callable[[str], None]

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "exporter",
    "prometheus",
    "git-daemon",
    "git-http",
    "sshd",
)
# Started only by ``up(with_flux=True)``; ``down`` always stops them.
FLUX_SERVICES = (registry.SERVICE, *flux_binaries.CONTROLLER_NAMES)
UPSTREAM_CRD_SETS = upstream_crds.ALL_SETS


def default_dir() -> Path:
    env = os.environ.get("GITCANARY_SANDBOX_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitcanary" / "sandbox"


def crd_files(sets: tuple[str, ...] = UPSTREAM_CRD_SETS, extra_dirs: tuple[Path, ...] = ()) -> list[Path]:
    """gitcanary's CRDs, the chosen upstream sets (from their Go modules), then extra directories."""
    files = sorted((REPO_ROOT / "crds").glob("*.yaml"))
    files = [f for f in files if f.name != "kustomization.yaml"]
    files += upstream_crds.crd_files(sets)
    for directory in extra_dirs:
        files += sorted(directory.glob("*.yaml"))
    return files


@dataclass
class SandboxState:
    dir: str
    ports: dict[str, int] = field(default_factory=dict)
    kubeconfig: str = ""
    prometheus_url: str = ""
    exporter_url: str = ""
    git: dict[str, str] = field(default_factory=dict)
    registry_url: str = ""
    parts: dict[str, str] = field(default_factory=dict)
    optional_urls: dict[str, str] = field(default_factory=dict)
    """URLs of the parts started on demand (``optional.ensure``), by ``<part>_url``."""

    def save(self) -> None:
        path = Path(self.dir) / "state.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, base: Path) -> SandboxState | None:
        path = base / "state.json"
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def require(self, part: str) -> None:
        """Raise with the recorded reason unless ``part`` started."""
        status = self.parts.get(part, "not started")
        if status != "ok":
            raise processes.ServiceFailed(f"sandbox part {part!r} is unavailable: {status}")


def _ports(state: SandboxState) -> dict[str, int]:
    names = (
        "etcd_client",
        "etcd_peer",
        "apiserver",
        "controller_manager",
        "scheduler",
        "kwok",
        "exporter",
        "prometheus",
        "git_daemon",
        "git_http",
        "ssh",
    )
    for name in names:
        if name not in state.ports:
            state.ports[name] = processes.free_port()
    return state.ports


def all_alive(base: Path, services: tuple[str, ...] = SERVICES) -> bool:
    for name in services:
        svc = processes.recorded(base, name)
        if svc is None or not processes.pid_alive(svc.pid):
            return False
    return True


def _attempt(state: SandboxState, part: str, progress: Progress, action: Callable[[], object]) -> bool:
    progress(f"starting {part}")
    try:
        action()
    except Exception as exc:  # recorded per part; callers needing the part get this reason
        state.parts[part] = f"{type(exc).__name__}: {exc}"
        progress(f"FAILED {part}: {exc}")
        return False
    state.parts[part] = "ok"
    return True


def _start_control_plane(
    base: Path, bins: Binaries, state: SandboxState, progress: Progress, extra_crd_dirs: tuple[Path, ...]
) -> None:
    p = state.ports
    ports = controlplane.ControlPlanePorts(
        p["etcd_client"], p["etcd_peer"], p["apiserver"], p["controller_manager"], p["scheduler"], p["kwok"]
    )
    pki = ensure_pki(base / "pki")
    server = f"https://127.0.0.1:{ports.apiserver}"
    admin = write_kubeconfig(base / "kubeconfig", server, pki.ca_cert, pki.admin, "gitcanary-admin")
    state.kubeconfig = str(admin)
    if not _attempt(state, "etcd", progress, lambda: controlplane.start_etcd(base, bins, ports)):
        return
    if not _attempt(
        state, "kube-apiserver", progress, lambda: controlplane.start_apiserver(base, bins, pki, ports)
    ):
        return
    _attempt(
        state,
        "kube-controller-manager",
        progress,
        lambda: controlplane.start_controller_manager(base, bins, pki, ports, server),
    )
    _attempt(
        state,
        "kube-scheduler",
        progress,
        lambda: controlplane.start_scheduler(base, bins, pki, ports, server),
    )

    def nodes() -> None:
        controlplane.start_kwok(base, bins, admin, ports)
        controlplane.create_nodes(bins, admin)
        controlplane.wait_nodes_ready(bins, admin)

    _attempt(state, "kwok", progress, nodes)
    _attempt(
        state,
        "crds",
        progress,
        lambda: controlplane.install_crds(bins, admin, crd_files(extra_dirs=extra_crd_dirs), progress),
    )
    if state.parts.get("kube-controller-manager") == "ok":
        _attempt(
            state,
            "service-accounts",
            progress,
            lambda: controlplane.wait_default_service_account(bins, admin),
        )


def _start_metrics(base: Path, state: SandboxState, progress: Progress) -> None:
    p = state.ports
    state.exporter_url = f"http://127.0.0.1:{p['exporter']}"
    state.prometheus_url = f"http://127.0.0.1:{p['prometheus']}"
    if _attempt(state, "exporter", progress, lambda: start_exporter(base, p["exporter"])):
        _attempt(
            state, "prometheus", progress, lambda: start_prometheus(base, p["prometheus"], p["exporter"])
        )


def _start_git(base: Path, state: SandboxState, progress: Progress) -> None:
    p = state.ports
    holder: list[GitRemotes] = []
    ok = _attempt(
        state,
        "git",
        progress,
        lambda: holder.append(start_git_remotes(base, GitPorts(p["git_daemon"], p["git_http"], p["ssh"]))),
    )
    if ok:
        remotes = holder[0]
        state.git = {k: str(v) for k, v in asdict(remotes).items()}


def _start_flux(base: Path, state: SandboxState, progress: Progress) -> None:
    """The OCI registry and the four Flux controllers, each its own part."""
    for name in flux.all_port_names():
        if name not in state.ports:
            state.ports[name] = processes.free_port()

    def start_registry() -> None:
        state.registry_url = registry.start_registry(base, state.ports["registry"])

    _attempt(state, registry.SERVICE, progress, start_registry)
    if state.parts.get("kube-apiserver") != "ok" or state.parts.get("crds") != "ok":
        for name in flux_binaries.CONTROLLER_NAMES:
            state.parts[name] = "not started: needs kube-apiserver and the Flux CRDs"
        return
    kubeconfig = Path(state.kubeconfig)
    for ctrl in flux_binaries.CONTROLLERS:

        def start(ctrl: flux_binaries.FluxController = ctrl) -> None:
            binary = flux_binaries.build_controller(ctrl, progress)
            flux.start_controller(base, ctrl.name, binary, kubeconfig, state.ports)

        _attempt(state, ctrl.name, progress, start)


def up(
    base: Path | None = None,
    progress: Progress | None = None,
    with_flux: bool = False,
    extra_crd_dirs: tuple[Path, ...] = (),
) -> SandboxState:
    """Start every part (idempotent: a running, healthy sandbox is reused as is).

    ``with_flux`` also starts the OCI registry and the real Flux controllers.
    ``extra_crd_dirs`` adds CRDs beyond gitcanary's and the upstream sets (the tests add
    ``tests/crds``: faithful CRDs of projects that publish no CRD module).
    """
    base = base or default_dir()
    say: Progress = progress or (lambda m: print(m, file=sys.stderr, flush=True))
    base.mkdir(parents=True, exist_ok=True)
    existing = SandboxState.load(base)
    wanted = SERVICES + FLUX_SERVICES if with_flux else SERVICES
    started_parts = {k: v for k, v in (existing.parts if existing else {}).items() if k not in optional.PARTS}
    if existing and all_alive(base, wanted) and all(v == "ok" for v in started_parts.values()):
        say(f"sandbox already running in {base}")
        return existing
    down(base, quiet=True)
    state = existing or SandboxState(dir=str(base))
    state.parts = {}
    state.optional_urls = {}
    state.registry_url = ""
    _ports(state)
    bins = ensure_binaries(say)
    _start_control_plane(base, bins, state, say, extra_crd_dirs)
    _start_metrics(base, state, say)
    _start_git(base, state, say)
    if with_flux:
        _start_flux(base, state, say)
    state.save()
    return state


def down(base: Path | None = None, quiet: bool = False) -> list[str]:
    base = base or default_dir()
    every = SERVICES + FLUX_SERVICES + optional.SERVICES
    stopped = [name for name in reversed(every) if processes.stop(base, name)]
    if not quiet:
        print(f"stopped: {', '.join(stopped) or 'nothing was running'}", file=sys.stderr)
    return stopped


def status(base: Path | None = None) -> dict[str, str]:
    base = base or default_dir()
    state = SandboxState.load(base)
    report: dict[str, str] = {}
    flux_recorded = tuple(
        n for n in FLUX_SERVICES + optional.SERVICES if processes.recorded(base, n) is not None
    )
    for name in SERVICES + flux_recorded:
        svc = processes.recorded(base, name)
        alive = svc is not None and processes.pid_alive(svc.pid)
        report[name] = f"running (pid {svc.pid})" if alive and svc else "stopped"
    if state:
        for part, value in state.parts.items():
            if value != "ok":
                report[part] = f"failed: {value.splitlines()[0]}"
    return report


def describe(state: SandboxState) -> list[str]:
    """The KEY=value lines ``sandbox up`` prints (no secrets: credentials stay in files)."""
    lines = [
        f"KUBECONFIG={state.kubeconfig}",
        f"PROMETHEUS_URL={state.prometheus_url}",
        f"EXPORTER_URL={state.exporter_url}",
    ]
    if state.registry_url:
        lines.append(f"REGISTRY_URL={state.registry_url}")
    for key in ("file_url", "daemon_url", "http_url", "ssh_url"):
        if key in state.git:
            lines.append(f"GIT_{key.upper()}={state.git[key]}")
    if "ssh_identity" in state.git:
        lines.append(f"GIT_SSH_IDENTITY={state.git['ssh_identity']}")
        lines.append(f"GIT_SSH_KNOWN_HOSTS={state.git['ssh_known_hosts']}")
        lines.append(f"GIT_HTTP_CREDENTIALS={Path(state.dir) / 'git-http-auth.json'}")
    return lines
