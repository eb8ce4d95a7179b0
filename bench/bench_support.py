"""Leaving a sandbox as the benchmark found it.

A controller puts finalizers on what it manages (kopf's on every Canary it runs a daemon for,
Flux's on its own objects). Deleted after that controller stopped, such an object keeps its
namespace Terminating for ever, and the namespace controller keeps retrying it: background
apiserver traffic that every later benchmark would count. So: delete the controller's objects
while it still runs, wait (bounded), then strip the finalizers of whatever is left and say so.
"""

from __future__ import annotations

import json
import sys

from gitcanary_sandbox.client import SandboxClient


def release(
    client: SandboxClient, namespace: str, resources: tuple[str, ...], timeout_s: float = 60
) -> list[str]:
    """Delete every object of ``resources`` in ``namespace`` (call while its controller runs);
    return the objects whose finalizers had to be removed."""
    for resource in resources:
        client.kubectl(
            "delete",
            resource,
            "--all",
            "-n",
            namespace,
            "--wait=true",
            f"--timeout={timeout_s:.0f}s",
            check=False,
            timeout=timeout_s + 30,
        )
    forced = []
    for resource in resources:
        for name in client.kubectl("get", resource, "-n", namespace, "-o", "name", check=False).split():
            patch = json.dumps({"metadata": {"finalizers": None}})
            client.kubectl("patch", name, "-n", namespace, "--type=merge", "-p", patch, check=False)
            forced.append(name)
    if forced:
        print(
            f"{namespace}: removed the finalizers of {len(forced)} objects left after {timeout_s:.0f}s: "
            f"{', '.join(forced[:5])}",
            file=sys.stderr,
        )
    return forced


def delete_namespace(client: SandboxClient, namespace: str, resources: tuple[str, ...]) -> None:
    """``release`` what is left (its controller is gone: finalizers go at once), then the namespace."""
    release(client, namespace, resources, timeout_s=5)
    client.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
