"""kopf handlers: translate cluster events into reconcile calls, nothing else.

- One daemon per Canary runs the analysis loop: a tick, then sleep until the
  engine's requeue time or until something wakes it.
- A tick never awaits Git: pending write-back intents are submitted to the
  per-repository tasks of ``controller.gitops.workflow.writeback_queue`` (started at
  startup, cancelled at cleanup), so a hung remote stops no analysis.
- Every watch handler and index is a coroutine: kopf runs a plain function in its thread pool,
  a thread hop per event (every status patch of every Canary is one) and an asyncio.Event set
  from outside the loop.
- Watches on Deployments, DaemonSets and ConfigMaps wake the Canaries that
  target or reference them at once (reaction time is a watch event, not a
  polling interval). A spec change of the Canary itself wakes it too. Secrets
  are not watched (no cluster-wide list/watch on Secrets): every tick re-reads
  the Secrets a Canary tracks, so a Secret change is seen within one interval.
- The Canary watch and the Deployment and DaemonSet watch feed the client's store
  (``Kube.observe``) with the owned Canaries and their targets and primaries: a tick reads them
  from it instead of a GET while the entry is fresh, and never older than the tick's own last
  write to it (see ``controller.kube``). Every status write is conditional on the
  resourceVersion the tick read, so a Canary someone else changed meanwhile is noticed (409)
  and decided again from a GET (``controller.reconcile.runner``). Routes, Services, autoscalers,
  Secrets and ConfigMaps are still read live. There are no locks: one daemon owns one Canary.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import Collection
from typing import Any

import kopf

from controller import canary_metrics, sharding, telemetry
from controller.analysis.context import READINESS_POLL_SECONDS
from controller.errors import TemporaryError
from controller.events import add_listener, remove_listener
from controller.gitops.workflow.writeback_queue import WriteBackQueue
from controller.kube import Kube
from controller.notify.settings import ControllerAlerts
from controller.reconcile.alerts import AlertOutbox
from controller.reconcile.runner import CANARY_API, ReconcileSettings, reconcile_canary
from controller.reconcile.slots import AnalysisSlots
from controller.routers.factory import router_for
from controller.routers.kubernetes import KubernetesRouter
from controller.wakeups import LeanDiffBaseStorage, Wakeups
from controller.workloads.primary import TargetError
from controller.workloads.target import TargetWorkload

log = logging.getLogger(__name__)

GROUP, VERSION, PLURAL = "gitcanary.io", "v1beta1", "canaries"
WATCHED = ((CANARY_API, "Canary"), ("apps/v1", "Deployment"), ("apps/v1", "DaemonSet"))
"""Kinds whose watch events also feed the client's store (owned Canaries, their targets and
primaries)."""
REVERT_READY_SECONDS = 60.0
"""revertOnDeletion: how long one attempt waits for the target to be Ready before kopf retries."""
READ_RETRY_S = 2.0
"""How soon the analysis daemon reads its Canary again after the API server failed to answer
(kopf would restart a daemon that ended on the error only after 60 s)."""


WAKEUPS = Wakeups()


@functools.cache
def _shard() -> sharding.Selector:
    """The Canaries this instance owns (``--watch-label-selector``; empty: all of them)."""
    return sharding.parse(os.environ.get("GITCANARY_WATCH_LABEL_SELECTOR", ""))


def owned(labels: kopf.Labels, **_: Any) -> bool:
    return _shard().matches(labels)


def watch_only_own_shard(settings: kopf.OperatorSettings) -> None:
    """Filter the Canary watch server-side, as Flux shards.

    Another shard's Canaries then never reach this instance, so its kopf never touches their
    finalizers or annotations: with a client-side filter alone, two instances add and remove
    the daemon finalizer in turn, forever. ``owned`` stays as a second, client-side check.
    """
    selector = os.environ.get("GITCANARY_WATCH_LABEL_SELECTOR", "")
    if selector:
        settings.watching.label_selectors[GROUP, PLURAL] = selector


def _settings_from_env(alerting: ControllerAlerts) -> ReconcileSettings:
    limit = os.environ.get("GITCANARY_MAX_CONCURRENT_CANARIES", "")
    return ReconcileSettings(
        alerts=AlertOutbox(default=alerting.default_alert(), cluster_name=alerting.cluster_name),
        metrics_server=os.environ.get("GITCANARY_METRICS_SERVER", ReconcileSettings.metrics_server),
        default_provider=os.environ.get("GITCANARY_MESH_PROVIDER", ReconcileSettings.default_provider),
        slots=AnalysisSlots(int(limit) if limit else None),
    )


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="gitcanary.io")
    settings.persistence.diffbase_storage = LeanDiffBaseStorage(prefix="gitcanary.io", kinds={"Canary"})
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 30
    watch_only_own_shard(settings)
    memo.kube = Kube.from_kubeconfig(os.environ.get("KUBECONFIG") or None, lean=True)
    memo.kube.watch_kinds(set(WATCHED))
    alerting = ControllerAlerts.from_env(os.environ)  # gitcanary run --slack-url, --event-webhook...
    memo.settings = _settings_from_env(alerting)
    memo.event_webhook = alerting.event_webhook_sink()
    if memo.event_webhook is not None:
        add_listener(memo.event_webhook.listener)
    memo.write_backs = WriteBackQueue(memo.kube)
    metrics_addr = os.environ.get("GITCANARY_METRICS_ADDR")
    if metrics_addr:
        telemetry.serve(metrics_addr)


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In-cluster service account first, then the kubeconfig ($KUBECONFIG or ~/.kube/config)."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    if memo.event_webhook is not None:
        remove_listener(memo.event_webhook.listener)
        await memo.event_webhook.aclose()
    await memo.write_backs.close()
    await memo.kube.close()


@kopf.index(GROUP, VERSION, PLURAL, when=owned)
async def canaries_by(
    namespace: str, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[tuple[str, ...], str]:
    """One index, three keys (one kopf handler per Canary event instead of three): its target
    ``("target", namespace, name)``, its namespace ``("namespace", namespace)`` and the Flux
    Kustomization that applied it ``("kustomization", namespace, name)``."""
    key = f"{namespace}/{name}"
    target = (spec.get("targetRef") or {}).get("name", "")
    keys: dict[tuple[str, ...], str] = {("target", namespace, target): key, ("namespace", namespace): key}
    gitops: dict[str, Any] = dict(status).get("gitops") or {}
    ks: dict[str, Any] = gitops.get("kustomization") or {}
    if ks.get("name"):
        keys["kustomization", ks.get("namespace") or "", ks["name"]] = key
    return keys


@kopf.daemon(GROUP, VERSION, PLURAL, when=owned, cancellation_timeout=10.0)
async def analyse(namespace: str, name: str, stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any) -> None:
    key = f"{namespace}/{name}"
    wake = WAKEUPS.event(key)
    kube: Kube = memo.kube
    loop = asyncio.get_running_loop()
    telemetry.CANARIES.inc()
    try:
        while not stopped:
            wake.clear()
            started = loop.time()
            try:
                raw = await kube.get(CANARY_API, "Canary", namespace, name)
            except TemporaryError as exc:  # the API server is away: keep the slot, read again soon
                log.warning("%s: reading the Canary failed, again in %gs: %s", key, READ_RETRY_S, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=READ_RETRY_S)
                continue
            if raw is None or raw["metadata"].get("deletionTimestamp"):
                return
            WAKEUPS.waiting(key, on_readiness=True)  # a readiness change during the tick may matter
            delay = await _tick_and_queue_write_back(kube, raw, memo.settings, memo.write_backs, key)
            WAKEUPS.waiting(key, on_readiness=delay <= READINESS_POLL_SECONDS)
            telemetry.TICK_DURATION.observe(loop.time() - started)
            canary_metrics.observe_analysis_step(raw, loop.time() - started)
            due = loop.time() + max(delay, 0.05)
            try:
                await asyncio.wait_for(wake.wait(), timeout=max(delay, 0.05))
            except TimeoutError:
                telemetry.TICK_LATENESS.observe(max(0.0, loop.time() - due))
    finally:
        memo.settings.slots.release(key)  # deleted (or shutting down): the slot is free again
        telemetry.CANARIES.dec()
        WAKEUPS.forget(key)


async def _tick_and_queue_write_back(
    kube: Kube, raw: dict[str, Any], settings: ReconcileSettings, write_backs: WriteBackQueue, key: str
) -> float:
    """One tick; pending intents go to the per-repository write-back task, never awaited here."""
    try:
        outcome = await reconcile_canary(kube, raw, settings)
        if outcome.pending_write_back:
            write_backs.submit(raw["metadata"]["namespace"], raw["metadata"]["name"])
        else:  # applied decisions still in the branch? (issue 14; throttled by the queue)
            write_backs.check_history(raw["metadata"]["namespace"], raw["metadata"]["name"])
        return outcome.delay
    except Exception:  # the loop must survive anything; the next tick retries
        log.exception("%s: reconcile failed", key)
        return 10.0


@kopf.on.event(GROUP, VERSION, PLURAL)
async def canary_series(
    type: str | None, body: kopf.Body, labels: kopf.Labels, memo: kopf.Memo, **_: Any
) -> None:
    """Flagger-compatible series from every status as persisted (see controller.canary_metrics),
    and the owned Canary in the client's store (the daemon's next tick reads it from there).
    Async, so it runs on the event loop like the ticks that feed the same series (no thread)."""
    gone = type == "DELETED" or not owned(labels)
    canary_metrics.observe(body, deleted=gone)
    kube: Kube | None = getattr(memo, "kube", None)
    if kube is not None:
        kube.observe(dict(body), deleted=gone)


@kopf.on.update(GROUP, VERSION, PLURAL, field="spec", when=owned)
@kopf.on.update(GROUP, VERSION, PLURAL, field="metadata.annotations", when=owned)
async def spec_changed(namespace: str, name: str, **_: Any) -> None:
    WAKEUPS.wake([f"{namespace}/{name}"])


@kopf.on.event("apps", "v1", "deployments")
@kopf.on.event("apps", "v1", "daemonsets")
async def workload_changed(
    namespace: str,
    name: str,
    body: kopf.Body,
    type: str | None,
    memo: kopf.Memo,
    canaries_by: kopf.Index[Any, str],
    **_: Any,
) -> None:
    """A target's or primary's event: stored, then its Canaries woken if it changed in a way a
    tick acts on (``controller.wakeups.Wakeups.workload_event``)."""
    base = name.removesuffix("-primary")
    canaries: Collection[str] = canaries_by.get(("target", namespace, base), [])
    kube: Kube | None = getattr(memo, "kube", None)
    raw, deleted = dict(body), type == "DELETED"
    seen = kube is not None and kube.holds(raw)
    woken = WAKEUPS.workload_event(raw, deleted, canaries, already_seen=seen)
    if kube is not None and (canaries or deleted):  # stored before its Canaries wake
        kube.observe(raw, deleted=deleted)
    WAKEUPS.wake(woken)


@kopf.on.event("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
async def kustomization_changed(
    namespace: str, name: str, canaries_by: kopf.Index[Any, str], **_: Any
) -> None:
    """A new applied revision: the Canaries it applied tick now (new revision, rollback re-check)."""
    WAKEUPS.wake(canaries_by.get(("kustomization", namespace, name), []))


# No watch on Secrets: that would need cluster-wide list/watch on every Secret. A tracked Secret
# is re-read (and hashed into the revision) on every tick, so its change is seen within one
# analysis interval.
@kopf.on.event("", "v1", "configmaps")
async def config_changed(
    namespace: str, type: str | None, canaries_by: kopf.Index[Any, str], **_: Any
) -> None:
    if type == "MODIFIED":
        WAKEUPS.wake(canaries_by.get(("namespace", namespace), []))


@kopf.on.delete(
    GROUP,
    VERSION,
    PLURAL,
    when=lambda spec, labels, **_: owned(labels) and bool(spec.get("revertOnDeletion")),
)
async def revert_on_deletion(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Give replicas and traffic back to the target before the generated objects are collected,
    as Flagger's finalizer: scale the target up, wait until it is Ready (else retry later, the
    Canary staying), point the Services back at it, then let the mesh router hand its routes back."""
    raw = dict(body)
    kube: Kube = memo.kube
    try:
        workload = TargetWorkload(kube, raw)
        await workload.fetch()
    except TargetError as exc:
        # A target kind gitcanary does not drive, or one already deleted: there are no replicas to
        # give back (retrying would block the deletion forever), only Services and routes.
        log.warning("%s/%s: revertOnDeletion: %s", raw["metadata"]["namespace"], raw["metadata"]["name"], exc)
    else:
        await workload.restore_target()
        ready = await workload.wait_target_ready(REVERT_READY_SECONDS)
        if not ready.ready:
            raise kopf.TemporaryError(
                f"revertOnDeletion: the target is not Ready yet: {ready.message}", delay=10
            )
    await KubernetesRouter(kube, raw).finalize()
    router = router_for(kube, raw)
    if not isinstance(router, KubernetesRouter):
        await router.finalize()
