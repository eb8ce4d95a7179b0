"""``gitcanary promote``, ``gitcanary abort`` and ``gitcanary gate``: manual gates from the shell.

Each command only merge-patches the Canary's annotations (see ``controller.hooks.gates``); the
controller reads them on its next tick (within ``analysis.interval``). Nothing is kept in
the controller's memory, so a decision survives controller restarts.

Invariants:
* ``abort`` refuses a Canary without a ``gitcanary:rollback`` hook: a request nobody
  consumes would roll back some later revision the moment such a hook is added.
* ``promote`` and ``gate`` warn (but still write) when no ``gitcanary:gate`` hook of the
  type exists, since an open or closed gate that nothing reads is harmless.
* Exit codes: 0 written, 1 API error, 2 usage error (bad NS/NAME, missing Canary, refused).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import click

from controller.api import parsed_or_none
from controller.hooks.gates import (
    GATE_ANNOTATIONS,
    GATE_KINDS,
    GATE_URL,
    ROLLBACK_ANNOTATION,
    ROLLBACK_REQUESTED,
    ROLLBACK_URL,
    GateKind,
    gate_value,
)
from controller.hooks.webhooks import HookType
from controller.kube import Kube, KubeError

__all__ = ["register"]

CANARY_API = "gitcanary.io/v1beta1"
Obj = dict[str, Any]

_kubeconfig_option = click.option(
    "--kubeconfig", type=click.Path(exists=True), default=None, help="Default: in-cluster, then $KUBECONFIG."
)


def _split_ref(ref: str) -> tuple[str, str]:
    namespace, sep, name = ref.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise click.UsageError(f"expected NAMESPACE/NAME, got {ref!r}")
    return namespace, name


def _builtin_types(canary: Obj, url: str) -> set[str]:
    parsed = parsed_or_none(canary)
    if parsed is None:
        # A gate can be opened on a Canary the models reject (it is honoured once the spec is
        # fixed): its hooks are read as written, as they always were.
        hooks = ((canary.get("spec") or {}).get("analysis") or {}).get("webhooks") or []
        return {str(h.get("type") or "rollout") for h in hooks if str(h.get("url", "")).strip() == url}
    return {hook.type or "rollout" for hook in parsed.spec.analysis.webhooks if hook.url.strip() == url}


async def _annotate(
    kubeconfig: str | None, namespace: str, name: str, values: dict[str, str], *, require: HookType | None
) -> tuple[Obj, set[str]]:
    """Merge ``values`` into the Canary's annotations; return the patched Canary and the
    types of its builtin gate hooks. With ``require``, refuse when no builtin hook of that
    type exists."""
    kube = Kube.from_kubeconfig(kubeconfig)
    try:
        canary = await kube.get(CANARY_API, "Canary", namespace, name)
        if canary is None:
            raise click.UsageError(f"Canary {namespace}/{name} not found")
        gate_types = _builtin_types(canary, GATE_URL)
        if require == "rollback" and "rollback" not in _builtin_types(canary, ROLLBACK_URL):
            raise click.UsageError(
                f"Canary {namespace}/{name} has no webhook with url {ROLLBACK_URL} and type rollback; "
                "nothing would act on the request"
            )
        patch: Obj = {"metadata": {"annotations": dict(values)}}
        patched = await kube.merge_patch(CANARY_API, "Canary", namespace, name, patch)
        return patched, gate_types
    finally:
        await kube.close()


def _run(
    kubeconfig: str | None, ref: str, values: dict[str, str], require: HookType | None = None
) -> tuple[Obj, set[str]]:
    namespace, name = _split_ref(ref)
    try:
        return asyncio.run(_annotate(kubeconfig, namespace, name, values, require=require))
    except KubeError as exc:
        raise click.ClickException(str(exc)) from None


def _warn_unused(ref: str, hook_types: Iterable[HookType], present: set[str]) -> None:
    for hook_type in hook_types:
        if hook_type not in present:
            click.echo(
                f"warning: {ref} has no {hook_type} webhook with url {GATE_URL}; this gate is not read",
                err=True,
            )


def _report(ref: str, values: dict[str, str]) -> None:
    for key, value in values.items():
        click.echo(f"{ref}: {key}={value}")


def register(group: click.Group) -> None:
    """Add ``promote``, ``abort`` and ``gate`` to the ``gitcanary`` command group."""

    @group.command()
    @click.argument("ref", metavar="NS/NAME")
    @click.option("--revision", default=None, help="Approve this revision only (status.lastAppliedSpec).")
    @_kubeconfig_option
    def promote(ref: str, revision: str | None, kubeconfig: str | None) -> None:
        """Open the confirm-promotion and confirm-traffic-increase gates."""
        wanted: tuple[HookType, ...] = ("confirm-promotion", "confirm-traffic-increase")
        values = {GATE_ANNOTATIONS[t]: gate_value(True, revision) for t in wanted}
        _, present = _run(kubeconfig, ref, values)
        if not present & set(wanted):
            _warn_unused(ref, wanted, present)
        _report(ref, values)

    @group.command()
    @click.argument("ref", metavar="NS/NAME")
    @_kubeconfig_option
    def abort(ref: str, kubeconfig: str | None) -> None:
        """Request a rollback (needs a rollback webhook with url gitcanary:rollback)."""
        values = {ROLLBACK_ANNOTATION: ROLLBACK_REQUESTED}
        _run(kubeconfig, ref, values, require="rollback")
        _report(ref, values)

    @group.command()
    @click.argument("ref", metavar="NS/NAME")
    @click.option("--type", "kind", type=click.Choice(list(GATE_KINDS)), required=True)
    @click.option("--open/--close", "open_", default=None, help="Open or close the gate (required).")
    @click.option("--revision", default=None, help="With --open: this revision only.")
    @_kubeconfig_option
    def gate(
        ref: str, kind: GateKind, open_: bool | None, revision: str | None, kubeconfig: str | None
    ) -> None:
        """Open or close one gate: rollout, traffic or promotion."""
        if open_ is None:
            raise click.UsageError("one of --open or --close is required")
        if revision and not open_:
            raise click.UsageError("--revision only applies with --open")
        hook_type = GATE_KINDS[kind]
        values = {GATE_ANNOTATIONS[hook_type]: gate_value(open_, revision)}
        _, present = _run(kubeconfig, ref, values)
        _warn_unused(ref, (hook_type,), present)
        _report(ref, values)
