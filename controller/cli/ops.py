"""Operator commands: ``gitcanary --version``, ``retry`` and ``restart``.

``retry`` and ``restart`` carry Argo Rollouts' meanings, mapped onto gitcanary's model:

* ``retry`` (``kubectl argo rollouts retry rollout``: an aborted update starts over with the
  same template) asks the controller to analyse a Failed canary's revision again from the first
  step. It only writes the request annotation (:mod:`controller.reconcile.retry_request`); the
  controller acts on it at its next tick (at once: annotation changes wake the Canary).
* ``restart`` (``kubectl argo rollouts restart``: recreate every pod without an update) sets
  ``kubectl.kubernetes.io/restartedAt`` on the primary's pod template, exactly as
  ``kubectl rollout restart`` does, so the primary's own rollout strategy replaces its pods.
  The target (the canary workload) is left alone: its pod template is what Flux applied, and a
  change to it would be a new revision to analyse.

Invariants:
* Neither command reads or writes anything but the Canary and, for ``restart``, its primary;
  neither is kept in memory anywhere, so both survive controller restarts.
* Exit codes, as for ``promote`` and ``abort``: 0 written, 1 API error, 2 usage error (bad
  reference, missing Canary or primary, refused request).
* ``--version`` reads the installed package's metadata and needs no cluster.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.metadata
import platform
from typing import Any, Final

import click

from controller.api import API_VERSION, parsed_or_none
from controller.cli.tools import _default_namespace
from controller.kube import Kube, KubeError
from controller.reconcile.retry_request import RETRY_ANNOTATION, RETRY_REQUESTED, retry_refusal

__all__ = ["RESTARTED_AT", "register", "restart_patch", "version_line"]

Obj = dict[str, Any]

DISTRIBUTION: Final = "gitcanary"
RESTARTED_AT: Final = "kubectl.kubernetes.io/restartedAt"
"""The pod-template annotation ``kubectl rollout restart`` sets (an RFC 3339 time)."""
RESTARTABLE_KINDS: Final = {"Deployment": "apps/v1", "DaemonSet": "apps/v1"}


def version_line() -> str:
    """``gitcanary <version> (Python <version>)``, from the installed package's metadata."""
    try:
        version = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise click.ClickException(
            f"package metadata for {DISTRIBUTION} not found: install it (pip install .)"
        ) from None
    return f"{DISTRIBUTION} {version} (Python {platform.python_version()})"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(version_line())
    ctx.exit()


VERSION_OPTION: Final = click.Option(
    ["--version"],
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print the gitcanary and Python versions and exit.",
)


def restart_patch(now: dt.datetime) -> Obj:
    """The merge patch ``kubectl rollout restart`` applies, stamped ``now`` (UTC, RFC 3339)."""
    stamp = now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}


def canary_ref(ref: str, namespace: str | None, kubeconfig: str | None) -> tuple[str, str]:
    """(namespace, name) from ``NAME`` (with ``-n``, else the context's namespace) or ``NS/NAME``."""
    first, sep, rest = ref.partition("/")
    if sep:
        if not first or not rest or "/" in rest:
            raise click.UsageError(f"expected NAME or NAMESPACE/NAME, got {ref!r}")
        if namespace and namespace != first:
            raise click.UsageError(f"{ref!r} names namespace {first}, but -n says {namespace}")
        return first, rest
    if not ref:
        raise click.UsageError("expected NAME or NAMESPACE/NAME")
    return namespace or _default_namespace(kubeconfig), ref


async def _get_canary(kube: Kube, namespace: str, name: str) -> Obj:
    canary = await kube.get(API_VERSION, "Canary", namespace, name)
    if canary is None:
        raise click.UsageError(f"Canary {namespace}/{name} not found")
    return canary


async def request_retry(kubeconfig: str | None, namespace: str, name: str) -> None:
    """Annotate the Canary with a retry request, unless the controller would refuse it."""
    kube = Kube.from_kubeconfig(kubeconfig)
    try:
        canary = await _get_canary(kube, namespace, name)
        observed = str(((canary.get("status") or {}).get("engine") or {}).get("revision") or "")
        refusal = retry_refusal(canary, observed)
        if refusal:
            raise click.UsageError(f"cannot retry Canary {namespace}/{name}: {refusal}")
        patch = {"metadata": {"annotations": {RETRY_ANNOTATION: RETRY_REQUESTED}}}
        await kube.merge_patch(API_VERSION, "Canary", namespace, name, patch)
    finally:
        await kube.close()


async def restart_primary(kubeconfig: str | None, namespace: str, name: str, now: dt.datetime) -> str:
    """Stamp the primary's pod template; return ``kind/name`` of the primary."""
    kube = Kube.from_kubeconfig(kubeconfig)
    try:
        canary = await _get_canary(kube, namespace, name)
        parsed = parsed_or_none(canary)
        # A broken Canary's primary can still be restarted: its targetRef is then read as
        # written, as it always was.
        ref = (
            (canary.get("spec") or {}).get("targetRef") or {}
            if parsed is None
            else parsed.spec.target_ref.to_k8s()
        )
        kind = str(ref.get("kind") or "Deployment")
        if kind not in RESTARTABLE_KINDS:
            raise click.UsageError(f"cannot restart a {kind} target (only Deployment and DaemonSet)")
        api_version = str(ref.get("apiVersion") or RESTARTABLE_KINDS[kind])
        primary = f"{ref.get('name')}-primary"
        if await kube.get(api_version, kind, namespace, primary) is None:
            raise click.UsageError(
                f"{kind.lower()} {primary}.{namespace} not found: the canary is not initialized yet"
            )
        await kube.merge_patch(api_version, kind, namespace, primary, restart_patch(now))
        return f"{kind.lower()}/{primary}"
    finally:
        await kube.close()


_kubeconfig_option = click.option(
    "--kubeconfig", type=click.Path(exists=True), default=None, help="Default: in-cluster, then $KUBECONFIG."
)
_namespace_option = click.option(
    "-n", "--namespace", default=None, help="Default: the kubeconfig context's namespace."
)


@click.command()
@click.argument("ref", metavar="NAME|NAMESPACE/NAME")
@_namespace_option
@_kubeconfig_option
def retry(ref: str, namespace: str | None, kubeconfig: str | None) -> None:
    """Analyse a Failed canary's revision again, from the first step.

    Refused unless the Canary is Failed and its target still runs the revision that failed
    (not after a rollback was reverted in Git: push the revision again instead).
    """
    ns, name = canary_ref(ref, namespace, kubeconfig)
    try:
        asyncio.run(request_retry(kubeconfig, ns, name))
    except KubeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{ns}/{name}: {RETRY_ANNOTATION}={RETRY_REQUESTED}")


@click.command()
@click.argument("ref", metavar="NAME|NAMESPACE/NAME")
@_namespace_option
@_kubeconfig_option
def restart(ref: str, namespace: str | None, kubeconfig: str | None) -> None:
    """Restart the primary's pods (as kubectl rollout restart), without a new revision."""
    ns, name = canary_ref(ref, namespace, kubeconfig)
    try:
        restarted = asyncio.run(restart_primary(kubeconfig, ns, name, dt.datetime.now(dt.UTC)))
    except KubeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{restarted} restarted ({ns}/{name})")


def register(group: click.Group) -> None:
    """Add ``--version``, ``retry`` and ``restart`` to the ``gitcanary`` command group."""
    group.params.append(VERSION_OPTION)
    for command in (retry, restart):
        group.add_command(command)
