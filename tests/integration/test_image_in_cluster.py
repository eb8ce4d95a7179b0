"""The image, run as it runs in a cluster: its own ServiceAccount token and exactly flux/'s RBAC.

flux/'s ServiceAccount, ClusterRole, ClusterRoleBinding and leader-election Role and RoleBinding
are applied for real; a token for ``gitcanary-system/gitcanary`` comes from the TokenRequest API
(``kubectl create token``), and the controller's kubeconfig holds that token and the cluster's
CA, no client certificate. The controller is the image's own ``/opt/gitcanary/bin/gitcanary``,
run inside the container by ``buildah run --isolation=chroot --network=host``: the image's
filesystem, user (10001), environment and entrypoint, with the kubeconfig bind-mounted read-only
as a projected token would be. Chroot isolation has no network namespace of its own, so the
container reaches the sandbox's API server, Prometheus and smart-HTTP git remote on loopback.
There is no kubelet here: the process gets its SIGTERM the way a kubelet delivers it, to the
container's process, not to buildah.

It runs with the flags of flux/deployment.yaml (``--leader-elect``, a Lease in gitcanary-system)
and ``--namespace`` set to the test's namespace, so that it leaves the other tests' Canaries
alone. flux/ runs cluster-wide; for ``--namespace`` kopf lists and watches namespaces, the one
rule flux/rbac.yaml tells users of that flag to add (and the chart adds): it is granted in a
ClusterRole of its own, read from that comment. The controller drives one Canary through a
rollback and a promotion with write-back to the HTTP remote (credentials in a Secret). The revert
and the pin reach the remote once each, and the controller never met a 403: flux/'s RBAC is enough.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.leader import DEFAULT_LEASE_NAME
from gitcanary_sandbox import image as image_build
from gitcanary_sandbox import processes
from gitcanary_sandbox.binaries import kube_bin_dir
from gitcanary_sandbox.client import SandboxClient
from tests.integration.operator.fleet import (
    DEPLOYMENT_YAML,
    PRODUCTION_YAML,
    Fleet,
    canary_status,
    flux_applied_deployment,
    flux_applied_revision,
    run_git,
    start_fleet,
    wait_errors,
)
from tests.integration.operator.test_canary_lifecycle import _apply, _wait
from tests.integration.operator.test_resilience import own_namespace
from tests.integration.test_manifests_apply import FIELD_MANAGER, SERVICE_ACCOUNT, dump, ensure_namespaces
from tests.unit.test_manifests import REPO, build_dir

__all__ = ["own_namespace"]  # the fixture, re-exported for pytest

RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
SYSTEM_NAMESPACE = "gitcanary-system"
IMAGE_UID = 10001  # the image's USER (Dockerfile)
FLUX_RBAC = REPO / "flux" / "rbac.yaml"
MOUNT = "/run/gitcanary"  # /var/run is a symlink in the image; buildah cannot bind-mount through it


@pytest.fixture(scope="module")
def built() -> image_build.BuiltImage:
    return image_build.build()


@pytest.fixture
def container(built: image_build.BuiltImage) -> Iterator[str]:
    name = subprocess.run(
        image_build.buildah("from", "--pull-never", built.reference),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        yield name
    finally:
        subprocess.run(image_build.buildah("rm", name), capture_output=True, check=False)


def namespace_flag_rule() -> dict[str, Any]:
    """The rule flux/rbac.yaml says to add for ``--namespace`` (kopf lists and watches namespaces
    when it serves only some); the Helm chart grants the same when ``controller.namespaces`` is set."""
    found = re.search(r"`(\{apiGroups: \[\"\"\], resources: \[namespaces\][^`]*\})`", FLUX_RBAC.read_text())
    assert found, "flux/rbac.yaml no longer says what --namespace needs"
    rule: dict[str, Any] = yaml.safe_load(found.group(1))
    assert rule == {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}
    return rule


@pytest.fixture(scope="module")
def flux_rbac(sandbox: SandboxClient) -> list[dict[str, Any]]:
    """Every RBAC object of flux/ (and its ServiceAccount), applied for real, unchanged.

    flux/deployment.yaml runs the controller cluster-wide; this test must give it ``--namespace``
    (other tests' Canaries share the sandbox), so the one rule flux/rbac.yaml prescribes for that
    flag is granted beside it, in a ClusterRole of its own.
    """
    docs = build_dir(REPO / "flux")
    rbac = [d for d in docs if d["kind"] in RBAC_KINDS]
    assert {d["kind"] for d in rbac} == RBAC_KINDS
    name = "gitcanary-namespace-flag"
    subject = {"kind": "ServiceAccount", "name": "gitcanary", "namespace": SYSTEM_NAMESPACE}
    extra = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [namespace_flag_rule()],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [subject],
        },
    ]
    ensure_namespaces(sandbox, [d for d in docs if d["kind"] == "Namespace"] + rbac)
    sandbox.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        f"--field-manager={FIELD_MANAGER}",
        "-f",
        "-",
        stdin=dump(rbac + extra),
    )
    return rbac


def token_kubeconfig(sandbox: SandboxClient, directory: Path) -> Path:
    """A kubeconfig holding only a TokenRequest token of the gitcanary ServiceAccount and the CA."""
    token = sandbox.kubectl("create", "token", "gitcanary", "-n", SYSTEM_NAMESPACE, "--duration=1h").strip()
    admin = json.loads(sandbox.kubectl("config", "view", "--raw", "--minify", "--flatten", "-o", "json"))
    cluster = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "sandbox",
                "cluster": {
                    "server": cluster["server"],
                    "certificate-authority-data": cluster["certificate-authority-data"],
                },
            }
        ],
        "users": [{"name": "gitcanary", "user": {"token": token}}],
        "contexts": [{"name": "gitcanary", "context": {"cluster": "sandbox", "user": "gitcanary"}}],
        "current-context": "gitcanary",
    }
    directory.mkdir(mode=0o700)
    path = directory / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    # Readable by the image's user only, as a projected ServiceAccount token is.
    for owned in (directory, path):
        os.chown(owned, IMAGE_UID, IMAGE_UID)
    return path


def _descendants(pid: int) -> list[int]:
    """Child processes of ``pid``, depth first (from /proc: the image has no ps, nor does it need one)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process exited while being read
        if ppid == pid:
            found += [int(entry.name), *_descendants(int(entry.name))]
    return found


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the container's process (what a kubelet does), then wait for it to finish."""
    if proc.poll() is not None:
        return
    chain = _descendants(proc.pid)
    if chain:
        os.kill(chain[-1], signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def run_image_controller(
    sandbox: SandboxClient, container: str, kubeconfig: Path, namespace: str, log: Path
) -> subprocess.Popen[bytes]:
    health = processes.free_port()
    cmd = image_build.buildah(
        "run",
        "--isolation=chroot",
        "--network=host",
        f"--volume={kubeconfig.parent}:{MOUNT}:ro",
        container,
        "--",
        "/opt/gitcanary/bin/gitcanary",
        "run",
        f"--kubeconfig={MOUNT}/{kubeconfig.name}",
        f"--metrics-server={sandbox.state.prometheus_url}",
        f"--health=http://127.0.0.1:{health}/healthz",
        f"--metrics-addr=127.0.0.1:{processes.free_port()}",
        "--leader-elect",
        f"--leader-election-namespace={SYSTEM_NAMESPACE}",
        f"--namespace={namespace}",
        "--verbose",
    )
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while not processes.http_ok(f"http://127.0.0.1:{health}/healthz"):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise AssertionError(
                f"the image's controller did not become healthy:\n{processes.log_tail(log, 60)}"
            )
        time.sleep(0.5)
    return proc


def _lease_holder(sandbox: SandboxClient) -> str:
    out = sandbox.kubectl(
        "get", "lease", "-n", SYSTEM_NAMESPACE, DEFAULT_LEASE_NAME, "-o", "json", check=False
    )
    if not out.strip().startswith("{"):
        return ""
    return str(json.loads(out).get("spec", {}).get("holderIdentity") or "")


def _last_write_back(sandbox: SandboxClient, ns: str) -> dict[str, Any]:
    written: dict[str, Any] = (canary_status(sandbox, ns).get("gitops") or {}).get("lastWriteBack") or {}
    return written


def _flux_applies(sandbox: SandboxClient, fleet: Fleet, ns: str, tag: str, sha: str) -> None:
    """Flux applies revision ``sha``, whose podinfo Deployment runs ``tag``."""
    flux_applied_revision(sandbox, ns, sha)
    _apply(sandbox, flux_applied_deployment(ns, f"ghcr.io/stefanprodan/podinfo:{tag}"))


def test_the_image_drives_a_rollback_and_a_promotion_with_flux_rbac_and_a_service_account_token(
    sandbox: SandboxClient,
    own_namespace: str,
    container: str,
    flux_rbac: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    sandbox.require("crds")
    sandbox.require("prometheus")
    ns, log = own_namespace, tmp_path / "image-controller.log"
    kubeconfig = token_kubeconfig(sandbox, tmp_path / "kube")
    assert "client-certificate" not in kubeconfig.read_text() and "client-key" not in kubeconfig.read_text()
    whoami = subprocess.run(
        [str(kube_bin_dir() / "kubectl"), f"--kubeconfig={kubeconfig}", "auth", "whoami", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert whoami.returncode == 0, whoami.stderr
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == SERVICE_ACCOUNT

    proc = run_image_controller(sandbox, container, kubeconfig, ns, log)
    try:
        _wait("the Lease in gitcanary-system", lambda: _lease_holder(sandbox), 45, log)
        fleet = start_fleet(sandbox, ns, tmp_path)
        _wait("Initialized", lambda: canary_status(sandbox, ns).get("phase") == "Initialized", 90, log)

        # Flux applies 6.0.1 (the seeded commit); it fails and is rolled back in Git.
        sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.4)
        wait_errors(sandbox, ns, lambda v: v > 5)
        _flux_applies(sandbox, fleet, ns, "6.0.1", fleet.seeded)
        _wait("Failed", lambda: canary_status(sandbox, ns).get("phase") == "Failed", 150, log)
        rolled_back = _wait(
            "the rollback write-back",
            lambda: (w := _last_write_back(sandbox, ns)).get("result") == "rolled-back" and w,
            60,
            log,
        )

        # Flux applies the revert; then image automation proposes a healthy 6.0.2, which is
        # promoted and pinned in the production overlay.
        _flux_applies(sandbox, fleet, ns, "6.0.0", rolled_back["commit"])
        sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.0)
        wait_errors(sandbox, ns, lambda v: v < 0.01)
        fleet.pull()
        (fleet.work / ns / "podinfo" / "deployment.yaml").write_text(
            DEPLOYMENT_YAML.format(ns=ns, tag="6.0.2")
        )
        run_git(
            "-c",
            "user.name=fluxcdbot",
            "-c",
            "user.email=flux@example.com",
            "commit",
            "-qam",
            "podinfo 6.0.2",
            cwd=fleet.work,
            env=fleet.env,
        )
        run_git("push", "-q", "origin", "HEAD:main", cwd=fleet.work, env=fleet.env)
        proposed = run_git("rev-parse", "HEAD", cwd=fleet.work, env=fleet.env).strip()
        _flux_applies(sandbox, fleet, ns, "6.0.2", proposed)
        _wait("Succeeded", lambda: canary_status(sandbox, ns).get("phase") == "Succeeded", 150, log)
        promoted = _wait(
            "the promotion write-back",
            lambda: (w := _last_write_back(sandbox, ns)).get("result") == "promoted" and w,
            60,
            log,
        )
        time.sleep(12)  # more than one analysis interval (10 s): later ticks must not write again
        assert proc.poll() is None, processes.log_tail(log, 40)
    finally:
        _stop(proc)

    write_backs = fleet.write_backs(ns)
    assert [sha for sha, _ in write_backs] == [rolled_back["commit"], promoted["commit"]], write_backs
    (_, revert), (_, pin) = write_backs
    assert "Gitcanary-Result: rolled-back" in revert
    assert "Gitcanary-Image: ghcr.io/stefanprodan/podinfo:6.0.1 -> 6.0.0" in revert
    assert f"Gitcanary-Source: main@sha1:{fleet.seeded}" in revert
    assert "Gitcanary-Result: promoted" in pin
    assert f"Gitcanary-Source: main@sha1:{proposed}" in pin
    assert fleet.git["http_password"] not in revert + pin
    assert (fleet.work / ns / "production" / "kustomization.yaml").read_text() == PRODUCTION_YAML.format(
        ns=ns
    ).replace("newTag: 6.0.0", "newTag: 6.0.2")

    text = log.read_text(errors="replace")
    assert " leads" in text, processes.log_tail(log, 40)  # it took the Lease with flux/'s Role
    # A 403 shows as "forbidden" (the API server's Status, httpx's "403 Forbidden"), or as kopf's
    # "Not enough permissions" when it falls back.
    denials = ("forbidden", "status=403", "not enough permissions")
    denied = [line for line in text.splitlines() if any(d in line.lower() for d in denials)]
    assert not denied, "\n".join(denied[:20])
