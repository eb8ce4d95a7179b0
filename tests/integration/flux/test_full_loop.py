"""The whole loop, end to end: a tag pushed to the registry ends, untouched by hand, in Git.

Real parts: the Flux sandbox's apiserver with KWOK nodes, Prometheus over the exporter, the local
OCI registry, the authenticated smart-HTTP git remote, the four real Flux controllers and a real
``gitcanary run``. The fleet repository holds everything Flux applies (Deployment with a
``$imagepolicy`` marker, ImageRepository + semver ImagePolicy, MetricTemplate + Canary) and a
production overlay with a ``$gitcanary`` pin that no Kustomization applies.

After the setup the test only pushes tags to the registry and sets the exporter's error rate:
(a) a healthy tag is committed by ImageUpdateAutomation, applied by kustomize-controller,
    analysed, promoted and pinned in Git by gitcanary, and Flux reconciles the write-back;
(b) an unhealthy tag goes the same way to a rollback whose single commit reverts the image and
    quarantines the tag in the ImagePolicy; Flux applies it, the reverted revision starts no
    analysis, and image automation never proposes the bad tag again.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.flux.correlation import REQUESTED_AT, sha_of_revision
from gitcanary_sandbox import processes, registry
from gitcanary_sandbox.client import SandboxClient
from gitcanary_sandbox.flux_binaries import CONTROLLER_NAMES
from tests.builders import canary, metric_template
from tests.eventually import eventually

FIRST, GOOD, BAD = "1.0.0", "1.1.0", "1.2.0"
RANGE = ">=1.0.0"
BOT = "flux-image-automation"
FLUX_INTERVAL = "5s"
AUTOMATION_INTERVAL_S = 5.0
ERROR_QUERY = (
    'sum(rate(istio_requests_total{{destination_workload_namespace="{ns}",response_code="500"}}[10s]))'
)


@dataclass
class Loop:
    client: SandboxClient
    namespace: str
    bare: Path
    image: str  # registry host/repository, no tag
    controller_log: Path
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def root(self) -> str:
        return f"apps/{self.namespace}"

    @property
    def app(self) -> str:
        return f"{self.root}/podinfo"

    @property
    def repository(self) -> str:
        return self.image.split("/", 1)[1]


def _deployment_yaml(ns: str, image: str) -> str:
    # No spec.replicas: gitcanary scales the target, and Flux must not scale it back.
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: {ns}
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
          image: {image}:{FIRST} # {{"$imagepolicy": "{ns}:podinfo"}}
"""


def _image_yaml(ns: str, image: str) -> str:
    return f"""\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: podinfo
  namespace: {ns}
spec:
  image: {image}
  interval: {FLUX_INTERVAL}
  insecure: true
---
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


def _production_yaml(ns: str, image: str) -> str:
    return f"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../podinfo
images:
  - name: {image}
    newTag: {FIRST} # {{"$gitcanary": "{ns}:podinfo:tag"}}
"""


def _canary_yaml(ns: str, prometheus_url: str) -> str:
    the_canary = canary(ns, "podinfo", iterations=2, threshold=2)
    # Markers are looked up under ./apps/<ns>, so the production overlay's pin is in scope.
    the_canary["spec"]["gitops"] = {"path": f"./apps/{ns}"}
    return yaml.safe_dump_all(
        [metric_template(ns, "error-rate", prometheus_url), the_canary], sort_keys=False
    )


def _git(*args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr}")
    return proc.stdout


def _bare(loop: Loop, *args: str) -> str:
    return _git("--git-dir", str(loop.bare), *args)


def _show(loop: Loop, rev: str, path: str) -> str:
    return _bare(loop, "show", f"{rev}:{path}")


def _is_ancestor(loop: Loop, ancestor: str, descendant: str) -> bool:
    proc = subprocess.run(
        ["git", "--git-dir", str(loop.bare), "merge-base", "--is-ancestor", ancestor, descendant],
        capture_output=True,
        timeout=30,
    )
    return proc.returncode == 0


def _kubectl_apply(client: SandboxClient, *objs: dict[str, Any]) -> None:
    client.kubectl(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)})
    )


def _get(loop: Loop, kind: str, name: str) -> dict[str, Any]:
    out = loop.client.kubectl("get", "-n", loop.namespace, kind, name, "-o", "json", check=False)
    try:
        obj: dict[str, Any] = json.loads(out)
    except json.JSONDecodeError:
        return {}
    return obj


def _status(loop: Loop, kind: str, name: str) -> dict[str, Any]:
    status: dict[str, Any] = _get(loop, kind, name).get("status") or {}
    return status


def _canary(loop: Loop) -> dict[str, Any]:
    return _status(loop, "canaries.gitcanary.io", "podinfo")


def _write_back(loop: Loop) -> dict[str, Any]:
    gitops: dict[str, Any] = _canary(loop).get("gitops") or {}
    return gitops


def _image_of(loop: Loop, deployment: str) -> str:
    obj = _get(loop, "deployment", deployment)
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"]) if obj else ""


def _latest_tag(loop: Loop) -> str:
    return str((_status(loop, "imagepolicy", "podinfo").get("latestRef") or {}).get("tag", ""))


def _applied_sha(loop: Loop) -> str:
    return sha_of_revision(str(_status(loop, "kustomization", "apps").get("lastAppliedRevision", "")))


def _events(loop: Loop) -> list[str]:
    items = json.loads(loop.client.kubectl("get", "events", "-n", loop.namespace, "-o", "json"))["items"]
    return [str(e["message"]) for e in items if e["involvedObject"]["kind"] == "Canary"]


def _diagnostics(loop: Loop) -> str:
    base = Path(loop.client.state.dir) / "logs"
    parts = [f"canary status: {json.dumps(_canary(loop))}"]
    parts.append(f"--- gitcanary:\n{processes.log_tail(loop.controller_log, 40)}")
    parts += [f"--- {name}:\n{processes.log_tail(base / f'{name}.log', 10)}" for name in CONTROLLER_NAMES]
    parts.append(f"--- git log:\n{_bare(loop, 'log', '-8', '--format=%h %an: %s', 'main')}")
    return "\n".join(parts)


def _wait(loop: Loop, what: str, probe: Callable[[], Any], timeout: float) -> Any:
    started = time.monotonic()
    last: Any = None
    while time.monotonic() - started < timeout:
        last = probe()
        if last:
            loop.timings[what] = round(time.monotonic() - started, 1)
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what} not reached in {timeout:.0f}s; last: {last!r}\n{_diagnostics(loop)}")


def _automation_commit(loop: Loop, tag: str) -> str:
    """The newest ImageUpdateAutomation commit that set ``tag`` in the Deployment, or ''."""
    log = _bare(loop, "log", "--format=%H|%an", "main", "--", f"{loop.app}/deployment.yaml")
    for line in log.splitlines():
        sha, author = line.split("|", 1)
        if author == BOT and f"{loop.image}:{tag} #" in _show(loop, sha, f"{loop.app}/deployment.yaml"):
            return sha
    return ""


def _seed(loop: Loop, prometheus_url: str) -> None:
    files = {
        f"{loop.app}/deployment.yaml": _deployment_yaml(loop.namespace, loop.image),
        f"{loop.app}/image.yaml": _image_yaml(loop.namespace, loop.image),
        f"{loop.app}/canary.yaml": _canary_yaml(loop.namespace, prometheus_url),
        f"{loop.root}/production/kustomization.yaml": _production_yaml(loop.namespace, loop.image),
    }
    with tempfile.TemporaryDirectory(prefix="full-loop-") as tmp:
        work = Path(tmp) / "fleet"
        _git("clone", "-q", str(loop.bare), str(work))
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
            "podinfo",
            cwd=work,
        )
        _git("push", "-q", "origin", "HEAD:main", cwd=work)


def _flux_objects(loop: Loop, git: dict[str, str]) -> list[dict[str, Any]]:
    meta = {"namespace": loop.namespace}
    source = {"kind": "GitRepository", "name": "fleet"}
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
                "interval": FLUX_INTERVAL,
                "ref": {"branch": "main"},
                "secretRef": {"name": "git-auth"},
            },
        },
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", **meta},
            "spec": {
                "interval": FLUX_INTERVAL,
                "path": f"./{loop.app}",
                "prune": True,
                "timeout": "1m",
                "sourceRef": source,
            },
        },
        {
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImageUpdateAutomation",
            "metadata": {"name": "podinfo", **meta},
            "spec": {
                "interval": FLUX_INTERVAL,
                "sourceRef": source,
                "git": {
                    "checkout": {"ref": {"branch": "main"}},
                    "commit": {
                        "author": {"name": BOT, "email": "fluxbot@gitcanary.invalid"},
                        "messageTemplate": "chore: update podinfo",
                    },
                    "push": {"branch": "main"},
                },
                "update": {"path": f"./{loop.app}", "strategy": "Setters"},
            },
        },
    ]


@pytest.fixture
def loop(flux_sandbox: SandboxClient, flux_controller_process: Path) -> Iterator[Loop]:
    for part in ("git", registry.SERVICE, *CONTROLLER_NAMES):
        flux_sandbox.require(part)
    git = flux_sandbox.git_remotes()
    ns = f"loop-{uuid.uuid4().hex[:8]}"
    host = flux_sandbox.state.registry_url.removeprefix("http://")
    the_loop = Loop(flux_sandbox, ns, Path(git["bare"]), f"{host}/{ns}/podinfo", flux_controller_process)
    flux_sandbox.kubectl("create", "namespace", ns)
    try:
        registry.push_image(flux_sandbox.state.registry_url, the_loop.repository, FIRST)
        flux_sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.0)
        _seed(the_loop, flux_sandbox.state.prometheus_url)
        _kubectl_apply(flux_sandbox, *_flux_objects(the_loop, git))
        yield the_loop
    finally:
        print(f"full loop timings (s): {the_loop.timings}")
        flux_sandbox.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _release(loop: Loop, tag: str, error_rate: float) -> None:
    """Let Prometheus see the traffic the new tag will be judged on, then push the tag."""
    loop.client.set_traffic(loop.namespace, "podinfo", rps=20, error_rate=error_rate)
    loop.client.wait_prom_value(
        ERROR_QUERY.format(ns=loop.namespace),
        (lambda v: v > 20 * error_rate * 0.6) if error_rate else (lambda v: v < 0.01),
        timeout=45,
    )
    registry.push_image(loop.client.state.registry_url, loop.repository, tag)


def _trailers(loop: Loop, commit: str) -> dict[str, str]:
    message = _bare(loop, "log", "-1", "--format=%B", commit)
    pairs = (line.split(": ", 1) for line in message.splitlines() if line.startswith("Gitcanary-"))
    return dict(pairs)


def _flux_reacted_to(loop: Loop, commit: str, written_at: str) -> None:
    """gitcanary asked Flux to reconcile after the push, and Flux applied the write-back commit."""
    asked = dt.datetime.fromisoformat(written_at) - dt.timedelta(seconds=2)
    for kind, name in (("gitrepository", "fleet"), ("kustomization", "apps")):

        def handled(kind: str = kind, name: str = name) -> bool:
            obj = _get(loop, kind, name)
            stamp = (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT, "")
            return bool(stamp) and obj.get("status", {}).get("lastHandledReconcileAt") == stamp

        _wait(loop, f"{kind} handled gitcanary's reconcile request", handled, 30)
        stamp = _get(loop, kind, name)["metadata"]["annotations"][REQUESTED_AT]
        assert dt.datetime.fromisoformat(stamp) >= asked, (kind, stamp, written_at)
    _wait(
        loop,
        f"Kustomization applied {commit[:12]}",
        lambda: _is_ancestor(loop, commit, _applied_sha(loop)) if _applied_sha(loop) else False,
        60,
    )


def _generated_objects_survive_reconciles(loop: Loop, count: int = 3) -> None:
    """Flux never prunes or rewrites what gitcanary generates, over several Kustomization runs."""
    before = {
        kind + "/" + name: _get(loop, kind, name)["metadata"]["uid"]
        for kind, name in (
            ("deployment", "podinfo-primary"),
            ("service", "podinfo"),
            ("service", "podinfo-primary"),
            ("service", "podinfo-canary"),
        )
    }
    for i in range(count):
        stamp = f"e2e-{i}-{time.time_ns()}"
        loop.client.kubectl(
            "annotate",
            "-n",
            loop.namespace,
            "kustomization",
            "apps",
            f"{REQUESTED_AT}={stamp}",
            "--overwrite",
        )

        def handled(stamp: str = stamp) -> bool:
            return _status(loop, "kustomization", "apps").get("lastHandledReconcileAt") == stamp

        _wait(loop, f"forced Kustomization reconcile {i}", handled, 30)
    after = {key: _get(loop, *key.split("/", 1))["metadata"]["uid"] for key in before}
    assert after == before, "generated objects were pruned or recreated by Flux"
    primary = _get(loop, "deployment", "podinfo-primary")["metadata"]
    assert primary["annotations"]["kustomize.toolkit.fluxcd.io/reconcile"] == "disabled"
    assert not [k for k in primary.get("labels") or {} if k.startswith("kustomize.toolkit.fluxcd.io/")]
    ks = _status(loop, "kustomization", "apps")
    inventory = [e["id"] for e in (ks.get("inventory") or {}).get("entries", [])]
    assert not [i for i in inventory if "podinfo-primary" in i or "podinfo-canary" in i], inventory


def _healthy_tag_is_promoted_and_pinned(loop: Loop) -> str:
    ns, image = loop.namespace, loop.image
    _release(loop, GOOD, error_rate=0.0)
    automation = _wait(
        loop, "automation commit of the healthy tag", lambda: _automation_commit(loop, GOOD), 90
    )
    _wait(loop, "Flux applies the healthy tag", lambda: _image_of(loop, "podinfo") == f"{image}:{GOOD}", 60)
    _wait(loop, "Succeeded", lambda: _canary(loop).get("phase") == "Succeeded", 150)
    assert _image_of(loop, "podinfo-primary") == f"{image}:{GOOD}"
    assert _get(loop, "deployment", "podinfo")["spec"]["replicas"] == 0
    status = _canary(loop)
    assert status["lastPromotedSpec"] == status["lastAppliedSpec"]
    assert f"New revision detected! Scaling up podinfo.{ns}" in _events(loop)
    # Where the image came from: the policy that proposed it and the automation that committed it.
    origin = status.get("gitops") or {}
    assert origin.get("imagePolicies") == [f"{ns}:podinfo"], origin
    assert (origin.get("imageAutomation") or {}).get("lastPushCommit") == automation, origin
    revision_events = [e for e in _events(loop) if e.startswith("Revision ")]
    assert any(
        f"image from ImagePolicy {ns}:podinfo, committed by ImageUpdateAutomation" in e
        for e in revision_events
    ), revision_events

    written = _wait(
        loop,
        "the promotion write-back",
        lambda: (w := _write_back(loop)).get("lastWriteBack", {}).get("result") == "promoted" and w,
        60,
    )
    assert not written.get("pending"), written
    commit = str(written["lastWriteBack"]["commit"])
    assert _is_ancestor(loop, automation, commit)
    production = f"{loop.root}/production/kustomization.yaml"
    pinned = _production_yaml(ns, image).replace(f"newTag: {FIRST} #", f"newTag: {GOOD} #")
    assert _show(loop, commit, production) == pinned, "only the pinned scalar changed"
    record = _show(loop, commit, f".gitcanary/{ns}/podinfo.txt")
    assert "result: promoted" in record and f"image: {image}:{GOOD}" in record
    trailers = _trailers(loop, commit)
    assert trailers["Gitcanary-Canary"] == f"{ns}/podinfo"
    assert trailers["Gitcanary-Result"] == "promoted"
    assert trailers["Gitcanary-Image"].startswith(image) and trailers["Gitcanary-Image"].endswith(
        f"-> {GOOD}"
    )
    source = sha_of_revision(trailers["Gitcanary-Source"])
    assert _is_ancestor(loop, automation, source), "the source is the revision Flux applied"
    assert f"{image}:{GOOD} #" in _show(loop, source, f"{loop.app}/deployment.yaml")
    _flux_reacted_to(loop, commit, written["lastWriteBack"]["time"])
    _generated_objects_survive_reconciles(loop)
    return commit


def _quarantine_holds(loop: Loop, quarantine_commit: str) -> None:
    """Over several automation runs, the policy stays on the good tag and Git never gets the bad one."""
    runs: set[str] = set()
    started = time.monotonic()
    while len(runs) < 3 or time.monotonic() - started < 4 * AUTOMATION_INTERVAL_S:
        assert time.monotonic() - started < 60, f"image automation ran only {len(runs)} times in 60s"
        assert _latest_tag(loop) == GOOD, f"ImagePolicy moved off the good tag\n{_diagnostics(loop)}"
        run = str(_status(loop, "imageupdateautomation", "podinfo").get("lastAutomationRunTime", ""))
        if run:
            runs.add(run)
        time.sleep(1.0)
    loop.timings["quarantine watched"] = round(time.monotonic() - started, 1)
    deployment = f"{loop.app}/deployment.yaml"
    assert f"{loop.image}:{GOOD} #" in _show(loop, "main", deployment)
    for sha in _reintroductions(loop, quarantine_commit):
        # Image automation can race the quarantine (it reads the policy before it clones); then
        # the guard reverts again, in a gitcanary commit on top of the one that re-proposed it.
        reverts = _bare(
            loop, "log", "--format=%H", "--grep=Gitcanary-Result: rolled-back", f"{sha}..main"
        ).split()
        assert reverts, f"automation re-proposed {BAD} in {sha} and it was never reverted"
        assert f"{loop.image}:{GOOD} #" in _show(loop, reverts[-1], deployment)


def _reintroductions(loop: Loop, quarantine_commit: str) -> list[str]:
    """Automation commits after the quarantine that put the bad tag back (normally none)."""
    since = _bare(loop, "rev-list", f"{quarantine_commit}..main").split()
    deployment = f"{loop.app}/deployment.yaml"
    return [sha for sha in since if f"{loop.image}:{BAD} #" in _show(loop, sha, deployment)]


def _unhealthy_tag_is_rolled_back_reverted_and_quarantined(loop: Loop, promotion_commit: str) -> None:
    ns, image = loop.namespace, loop.image
    _release(loop, BAD, error_rate=0.4)
    automation = _wait(loop, "automation commit of the bad tag", lambda: _automation_commit(loop, BAD), 90)
    _wait(loop, "Flux applies the bad tag", lambda: _image_of(loop, "podinfo") == f"{image}:{BAD}", 60)
    _wait(loop, "Failed", lambda: _canary(loop).get("phase") == "Failed", 150)
    assert _image_of(loop, "podinfo-primary") == f"{image}:{GOOD}"
    assert f"Rolling back podinfo.{ns} failed checks threshold reached 2" in _events(loop)

    written = _wait(
        loop,
        "the rollback write-back",
        lambda: (w := _write_back(loop)).get("lastWriteBack", {}).get("result") == "rolled-back" and w,
        60,
    )
    assert not written.get("pending"), written
    commit = written["lastWriteBack"]["commit"]
    assert _is_ancestor(loop, automation, commit)
    deployment, policy = f"{loop.app}/deployment.yaml", f"{loop.app}/image.yaml"
    proposed = _show(loop, automation, deployment)
    assert _show(loop, commit, deployment) == proposed.replace(f":{BAD} #", f":{GOOD} #"), "only the image"
    quarantined = _image_yaml(ns, image).replace(f'range: "{RANGE}"', f'range: "{RANGE}, != {BAD}"')
    assert _show(loop, commit, policy) == quarantined, "the revert and the quarantine are one commit"
    trailers = _trailers(loop, commit)
    assert trailers["Gitcanary-Canary"] == f"{ns}/podinfo"
    assert trailers["Gitcanary-Result"] == "rolled-back"
    assert trailers["Gitcanary-Image"] == f"{image}:{BAD} -> {GOOD}"
    source = sha_of_revision(trailers["Gitcanary-Source"])
    assert _is_ancestor(loop, automation, source)
    assert f"{image}:{BAD} #" in _show(loop, source, deployment)
    assert trailers["Gitcanary-Intent"]
    assert loop.client.git_remotes()["http_password"] not in _bare(loop, "log", "-1", "--format=%B", commit)
    _flux_reacted_to(loop, commit, written["lastWriteBack"]["time"])

    # Flux applied the quarantine and the revert; the reverted revision runs no analysis.
    applied_range = _wait(
        loop,
        "quarantined range in the cluster",
        lambda: (
            (r := _get(loop, "imagepolicy", "podinfo")["spec"]["policy"]["semver"]["range"]) != RANGE and r
        ),
        30,
    )
    assert applied_range == f"{RANGE}, != {BAD}"
    _wait(loop, "ImagePolicy back on the good tag", lambda: _latest_tag(loop) == GOOD, 30)
    # 90 s: if automation raced the quarantine, the revert is written and applied a second time.
    _wait(loop, "Flux applies the revert", lambda: _image_of(loop, "podinfo") == f"{image}:{GOOD}", 90)
    _wait(
        loop,
        "the reverted revision adopted",
        lambda: (s := _canary(loop)).get("lastAppliedSpec") == s.get("lastPromotedSpec"),
        30,
    )
    _quarantine_holds(loop, commit)
    status = _canary(loop)
    assert status["phase"] == "Failed", status
    assert status["lastAppliedSpec"] == status["lastPromotedSpec"]
    eventually("canary scaled to zero", lambda: _get(loop, "deployment", "podinfo")["spec"]["replicas"] == 0)
    events = _events(loop)
    raced = _reintroductions(loop, commit)
    # One analysis per pushed tag (the healthy one and the bad one); none for the revert. A
    # re-proposal of the bad tag that Flux applied after the revert is analysed once more.
    analyses = events.count(f"New revision detected! Scaling up podinfo.{ns}")
    assert 2 <= analyses <= 2 + len(raced), events
    assert any("no analysis needed" in e for e in events), events

    # Exactly once: one commit per decision, and the rollback came after the promotion.
    decisions = _bare(loop, "log", "--format=%H", f"--grep=Gitcanary-Canary: {ns}/podinfo", "main").split()
    if raced:
        loop.timings["automation raced the quarantine"] = len(raced)
        # Either Flux applied the re-proposal after the revert (analysed and rolled back once
        # more) or before it (the rollback guard wrote the revert again).
        rechecked = any("while the target still runs the failed image" in e for e in _events(loop))
        assert analyses > 2 or rechecked, events
    assert decisions[-2:] == [commit, promotion_commit], decisions
    assert len(decisions) == 2 + len(raced), (decisions, raced)
    applied = _write_back(loop)["applied"]
    assert [a["id"] for a in applied] == list(dict.fromkeys(a["id"] for a in applied))


def test_pushed_tags_are_promoted_or_rolled_back_and_written_back_through_real_flux(loop: Loop) -> None:
    _wait(
        loop,
        "Kustomization applies the fleet",
        lambda: _image_of(loop, "podinfo") == f"{loop.image}:{FIRST}",
        90,
    )
    labels = _get(loop, "deployment", "podinfo")["metadata"]["labels"]
    assert labels["kustomize.toolkit.fluxcd.io/name"] == "apps"
    _wait(loop, "Initialized", lambda: _canary(loop).get("phase") == "Initialized", 90)
    _wait(loop, "ImagePolicy on the first tag", lambda: _latest_tag(loop) == FIRST, 60)
    promotion = _healthy_tag_is_promoted_and_pinned(loop)
    _unhealthy_tag_is_rolled_back_reverted_and_quarantined(loop, promotion)
