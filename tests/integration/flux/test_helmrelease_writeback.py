"""HelmRelease targets end to end: a chart in the sandbox's Git remote, installed by the real
helm-controller through a HelmRelease that a real Kustomization applied, analysed by a real
``gitcanary run``, promoted and pinned, then rolled back with the revert in Git.

The fleet repository holds the HelmRelease (``apps/<ns>``: its ``spec.values.image`` carries the
``$imagepolicy`` marker) and the chart (``charts/<ns>/podinfo``: its ``values.yaml`` carries a
``$gitcanary`` pin). The test plays image automation: it commits a new tag into the HelmRelease
values, Flux applies it, helm-controller upgrades the release, and gitcanary decides:
(a) a healthy tag is promoted, and the pin in the chart's values.yaml is written;
(b) an unhealthy tag is rolled back, and one commit reverts the HelmRelease values and
    quarantines the tag in the ImagePolicy manifest.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitcanary_sandbox import processes
from gitcanary_sandbox.client import SandboxClient
from gitcanary_sandbox.flux_binaries import CONTROLLER_NAMES
from tests.builders import canary, metric_template

IMAGE = "ghcr.io/stefanprodan/podinfo"
FIRST, GOOD, BAD = "6.0.0", "6.1.0", "6.2.0"
RANGE = ">=6.0.0"
INTERVAL = "5s"
ERROR_QUERY = (
    'sum(rate(istio_requests_total{{destination_workload_namespace="{ns}",response_code="500"}}[10s]))'
)

CHART_YAML = "apiVersion: v2\nname: podinfo\nversion: 0.1.0\n"
CHART_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  selector:
    matchLabels:
      app: podinfo
  template:
    metadata:
      labels:
        app: podinfo
    spec:
      containers:
        - name: podinfod
          image: {{ .Values.image }}
"""


@dataclass
class Fleet:
    client: SandboxClient
    namespace: str
    bare: Path
    log: Path

    @property
    def release_path(self) -> str:
        return f"apps/{self.namespace}/helmrelease.yaml"

    @property
    def chart(self) -> str:
        return f"charts/{self.namespace}/podinfo"


def _git(*args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr}")
    return proc.stdout


def _show(fleet: Fleet, rev: str, path: str) -> str:
    return _git("--git-dir", str(fleet.bare), "show", f"{rev}:{path}")


def _helmrelease_yaml(ns: str, tag: str) -> str:
    return f"""\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: {ns}
spec:
  interval: {INTERVAL}
  chart:
    spec:
      chart: ./charts/{ns}/podinfo
      reconcileStrategy: Revision
      interval: {INTERVAL}
      sourceRef:
        kind: GitRepository
        name: fleet
  install:
    disableWait: true
  upgrade:
    disableWait: true
  values:
    image: {IMAGE}:{tag} # {{"$imagepolicy": "{ns}:podinfo"}}
"""


def _chart_values(ns: str) -> str:
    return f'image: {IMAGE}:{FIRST} # {{"$gitcanary": "{ns}:podinfo"}}\n'


def _image_policy(ns: str) -> str:
    return f"""\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: podinfo
  namespace: {ns}
spec:
  imageRepositoryRef:
    name: podinfo
  policy:
    semver:
      range: "{RANGE}"
"""


def _commit(fleet: Fleet, files: dict[str, str], message: str) -> str:
    with tempfile.TemporaryDirectory(prefix="helm-fleet-") as tmp:
        work = Path(tmp) / "fleet"
        _git("clone", "-q", str(fleet.bare), str(work))
        for name, text in files.items():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_text(text)
        _git("add", ".", cwd=work)
        _git(
            "-c",
            "user.name=e2e",
            "-c",
            "user.email=e2e@gitcanary.invalid",
            "commit",
            "-qm",
            message,
            cwd=work,
        )
        _git("push", "-q", "origin", "HEAD:main", cwd=work)
        return _git("rev-parse", "HEAD", cwd=work).strip()


def _apply(client: SandboxClient, *objs: dict[str, Any]) -> None:
    client.kubectl(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)})
    )


def _get(fleet: Fleet, kind: str, name: str) -> dict[str, Any]:
    out = fleet.client.kubectl("get", "-n", fleet.namespace, kind, name, "-o", "json", check=False)
    try:
        obj: dict[str, Any] = json.loads(out)
    except json.JSONDecodeError:
        return {}
    return obj


def _canary(fleet: Fleet) -> dict[str, Any]:
    status: dict[str, Any] = _get(fleet, "canaries.gitcanary.io", "podinfo").get("status") or {}
    return status


def _image_of(fleet: Fleet, name: str) -> str:
    obj = _get(fleet, "deployment", name)
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"]) if obj else ""


def _diagnostics(fleet: Fleet) -> str:
    base = Path(fleet.client.state.dir) / "logs"
    parts = [f"canary status: {json.dumps(_canary(fleet))}"]
    parts.append(f"helmrelease: {json.dumps(_get(fleet, 'helmrelease', 'podinfo').get('status'))}")
    parts.append(f"--- gitcanary:\n{processes.log_tail(fleet.log, 40)}")
    parts += [f"--- {name}:\n{processes.log_tail(base / f'{name}.log', 10)}" for name in CONTROLLER_NAMES]
    return "\n".join(parts)


def _wait(fleet: Fleet, what: str, probe: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what} not reached in {timeout:.0f}s; last: {last!r}\n{_diagnostics(fleet)}")


def _flux_objects(ns: str, git: dict[str, str]) -> list[dict[str, Any]]:
    meta = {"namespace": ns}
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "git-auth", **meta},
            "stringData": {"username": git["http_username"], "password": git["http_password"]},
        },
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "fleet", **meta},
            "spec": {
                "url": git["http_url"],
                "interval": INTERVAL,
                "ref": {"branch": "main"},
                "secretRef": {"name": "git-auth"},
            },
        },
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", **meta},
            "spec": {
                "interval": INTERVAL,
                "path": f"./apps/{ns}",
                "prune": True,
                "timeout": "1m",
                "sourceRef": {"kind": "GitRepository", "name": "fleet"},
            },
        },
    ]


@pytest.fixture
def fleet(flux_sandbox: SandboxClient, flux_controller_process: Path) -> Iterator[Fleet]:
    for part in ("git", *CONTROLLER_NAMES):
        flux_sandbox.require(part)
    git = flux_sandbox.git_remotes()
    ns = f"helm-{uuid.uuid4().hex[:8]}"
    the_fleet = Fleet(flux_sandbox, ns, Path(git["bare"]), flux_controller_process)
    flux_sandbox.kubectl("create", "namespace", ns)
    try:
        flux_sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.0)
        _commit(
            the_fleet,
            {
                the_fleet.release_path: _helmrelease_yaml(ns, FIRST),
                f"{the_fleet.chart}/Chart.yaml": CHART_YAML,
                f"{the_fleet.chart}/values.yaml": _chart_values(ns),
                f"{the_fleet.chart}/templates/deployment.yaml": CHART_DEPLOYMENT,
                f"policies/{ns}/image.yaml": _image_policy(ns),
            },
            "podinfo chart and release",
        )
        _apply(flux_sandbox, *_flux_objects(ns, git))
        the_canary = canary(ns, "podinfo", iterations=2, threshold=2)
        the_canary["spec"]["gitops"] = {}  # everything inferred through the HelmRelease
        _apply(flux_sandbox, metric_template(ns, "error-rate", flux_sandbox.state.prometheus_url), the_canary)
        yield the_fleet
    finally:
        flux_sandbox.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _release(fleet: Fleet, tag: str, error_rate: float) -> str:
    """Set the traffic the tag is judged on, then commit the tag into the HelmRelease values."""
    fleet.client.set_traffic(fleet.namespace, "podinfo", rps=20, error_rate=error_rate)
    fleet.client.wait_prom_value(
        ERROR_QUERY.format(ns=fleet.namespace),
        (lambda v: v > 20 * error_rate * 0.6) if error_rate else (lambda v: v < 0.01),
        timeout=45,
    )
    return _commit(fleet, {fleet.release_path: _helmrelease_yaml(fleet.namespace, tag)}, f"podinfo {tag}")


def _written(fleet: Fleet, result: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        gitops: dict[str, Any] = _canary(fleet).get("gitops") or {}
        return gitops if (gitops.get("lastWriteBack") or {}).get("result") == result else None

    written: dict[str, Any] = _wait(fleet, f"the {result} write-back", done, 90)
    assert not written.get("pending"), written
    return written


def test_a_helmrelease_target_is_promoted_pinned_and_rolled_back_through_real_flux(fleet: Fleet) -> None:
    ns = fleet.namespace
    _wait(
        fleet,
        "helm-controller installs the chart",
        lambda: _image_of(fleet, "podinfo") == f"{IMAGE}:{FIRST}",
        120,
    )
    labels = _get(fleet, "deployment", "podinfo")["metadata"]["labels"]
    assert labels["helm.toolkit.fluxcd.io/name"] == "podinfo", labels
    _wait(fleet, "Initialized", lambda: _canary(fleet).get("phase") == "Initialized", 90)

    # (a) a healthy tag: promoted, and the chart's values.yaml pinned.
    _release(fleet, GOOD, error_rate=0.0)
    _wait(fleet, "helm-controller upgrades", lambda: _image_of(fleet, "podinfo") == f"{IMAGE}:{GOOD}", 90)
    _wait(fleet, "Succeeded", lambda: _canary(fleet).get("phase") == "Succeeded", 150)
    written = _written(fleet, "promoted")
    source = written["source"]
    assert (source["name"], source["path"]) == ("fleet", f"./apps/{ns}"), source
    pin = str(written["lastWriteBack"]["commit"])
    assert _show(fleet, pin, f"{fleet.chart}/values.yaml") == _chart_values(ns).replace(FIRST, GOOD)

    # (b) an unhealthy tag: rolled back, the HelmRelease values reverted, the tag quarantined.
    bad = _release(fleet, BAD, error_rate=0.4)
    _wait(fleet, "helm-controller upgrades", lambda: _image_of(fleet, "podinfo") == f"{IMAGE}:{BAD}", 90)
    _wait(fleet, "Failed", lambda: _canary(fleet).get("phase") == "Failed", 150)
    assert _image_of(fleet, "podinfo-primary") == f"{IMAGE}:{GOOD}"
    revert = str(_written(fleet, "rolled-back")["lastWriteBack"]["commit"])
    assert _git("--git-dir", str(fleet.bare), "merge-base", "--is-ancestor", bad, revert) == ""
    assert _show(fleet, revert, fleet.release_path) == _helmrelease_yaml(ns, GOOD)
    quarantined = _show(fleet, revert, f"policies/{ns}/image.yaml")
    assert yaml.safe_load(quarantined)["spec"]["policy"]["semver"]["range"] == f"{RANGE}, != {BAD}"
    # Flux applies the revert: helm-controller upgrades the release back to the good tag.
    _wait(fleet, "the revert installed", lambda: _image_of(fleet, "podinfo") == f"{IMAGE}:{GOOD}", 90)
