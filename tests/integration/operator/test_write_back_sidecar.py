"""A revision that bumps two containers (an app and its sidecar) is rolled back in both, in one commit.

Image automation writes every policy that moved in one commit, so one revision can change two
images. The rollback reverts each changed image's ``$imagepolicy`` marker and quarantines each
failed tag, as one commit with one trailer block per image. Flux is played by the test as in
test_write_back.py.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary, metric_template
from tests.integration.operator.test_canary_lifecycle import _apply, _wait
from tests.integration.operator.test_write_back import (
    _askpass,
    _canary_status,
    _flux_applied_deployment,
    _flux_objects,
    _git,
    _wait_errors,
)

APP, PROXY = "ghcr.io/stefanprodan/podinfo", "ghcr.io/example/proxy"

DEPLOYMENT_YAML = """\
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
          image: {app}:{app_tag} # {{"$imagepolicy": "flux-system:app-{ns}"}}
        - name: proxy
          image: {proxy}:{proxy_tag} # {{"$imagepolicy": "flux-system:proxy-{ns}"}}
"""

POLICIES_YAML = """\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: app-{ns}
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: app-{ns}
  policy:
    semver:
      range: ">=6.0.0"
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: proxy-{ns}
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: proxy-{ns}
  policy:
    semver:
      range: ">=2.0.0"
"""


def _two_containers(ns: str, app_tag: str, proxy_tag: str) -> dict[str, Any]:
    dep = _flux_applied_deployment(ns, f"{APP}:{app_tag}")
    containers = dep["spec"]["template"]["spec"]["containers"]
    containers.append({**copy.deepcopy(containers[0]), "name": "proxy", "image": f"{PROXY}:{proxy_tag}"})
    return dep


def test_a_rollback_reverts_and_quarantines_both_changed_images_in_one_commit(
    sandbox: SandboxClient, namespace: str, controller_process: Path, tmp_path: Path
) -> None:
    ns, git = namespace, sandbox.git_remotes()
    env = _askpass(tmp_path, git)
    work = tmp_path / "fleet"
    _git("clone", git["http_url"], str(work), cwd=tmp_path, env=env)
    (work / ns / "podinfo").mkdir(parents=True)
    bumped = DEPLOYMENT_YAML.format(ns=ns, app=APP, app_tag="6.0.1", proxy=PROXY, proxy_tag="2.0.1")
    (work / ns / "podinfo" / "deployment.yaml").write_text(bumped)
    (work / ns / "policies.yaml").write_text(POLICIES_YAML.format(ns=ns))
    _git("add", ".", cwd=work, env=env)
    _git(
        "-c",
        "user.name=fluxcdbot",
        "-c",
        "user.email=f@example.com",
        "commit",
        "-qm",
        "bump",
        cwd=work,
        env=env,
    )
    _git("push", "-q", "origin", "HEAD:main", cwd=work, env=env)
    _flux_objects(sandbox, ns, git, _git("rev-parse", "HEAD", cwd=work, env=env).strip())

    sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.0)
    the_canary = canary(ns, "podinfo", iterations=2, threshold=2)
    the_canary["spec"]["gitops"] = {"path": f"./{ns}"}
    _apply(
        sandbox,
        _two_containers(ns, "6.0.0", "2.0.0"),
        metric_template(ns, "error-rate", sandbox.state.prometheus_url),
        the_canary,
    )
    _wait(
        "Initialized",
        lambda: _canary_status(sandbox, ns).get("phase") == "Initialized",
        60,
        controller_process,
    )

    sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.4)
    _wait_errors(sandbox, ns, lambda v: v > 5)
    _apply(sandbox, _two_containers(ns, "6.0.1", "2.0.1"))
    _wait("Failed", lambda: _canary_status(sandbox, ns).get("phase") == "Failed", 120, controller_process)
    written = _wait(
        "the rollback write-back",
        lambda: (
            not (g := _canary_status(sandbox, ns).get("gitops") or {}).get("pending")
            and (g.get("lastWriteBack") or {}).get("result") == "rolled-back"
            and g
        ),
        60,
        controller_process,
    )
    commit = written["lastWriteBack"]["commit"]

    _git("pull", "-q", "origin", "main", cwd=work, env=env)
    reverted = DEPLOYMENT_YAML.format(ns=ns, app=APP, app_tag="6.0.0", proxy=PROXY, proxy_tag="2.0.0")
    assert (work / ns / "podinfo" / "deployment.yaml").read_text() == reverted, "both images, nothing else"
    quarantined = POLICIES_YAML.format(ns=ns).replace('">=6.0.0"', '">=6.0.0, != 6.0.1"')
    assert (work / ns / "policies.yaml").read_text() == quarantined.replace(
        '">=2.0.0"', '">=2.0.0, != 2.0.1"'
    )
    message = _git("log", "-1", "--format=%B", commit, cwd=work, env=env)
    assert f"Gitcanary-Image: {APP}:6.0.1 -> 6.0.0" in message, message
    assert f"Gitcanary-Image: {PROXY}:2.0.1 -> 2.0.0" in message, message
    assert message.count("Gitcanary-Intent: ") == 2, message
    assert _git("rev-parse", "HEAD", cwd=work, env=env).strip() == commit, "one commit for both"
    assert len(written["applied"]) == 2
