"""The primary/canary lifecycle of a Deployment or DaemonSet target, against the API.

Every method is idempotent (server-side apply of fully built objects, or a
merge patch of one field), so a controller killed between any two calls resumes
correctly by calling them again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from controller.api.parsed import parsed_or_none
from controller.kube import Kube
from controller.ownership import owner_reference
from controller.scalers import PrimaryScaler
from controller.scalers.factory import scaler_for
from controller.workloads import configs, primary, services
from controller.workloads.readiness import Readiness, readiness

Obj = dict[str, Any]

SUPPORTED_KINDS = {"Deployment": "apps/v1", "DaemonSet": "apps/v1"}
SCALE_TO_ZERO_SELECTOR = primary.SCALE_TO_ZERO_SELECTOR


KNATIVE_API_VERSION = "serving.knative.dev/v1"


def unsupported_kind(ref: Obj) -> str:
    """Why a ``targetRef`` kind cannot be a canary target, naming what Flagger does with it."""
    kind, api_version = ref.get("kind"), ref.get("apiVersion") or ""
    if kind == "Service" and api_version == KNATIVE_API_VERSION:
        return (
            "targetRef Service serving.knative.dev/v1 (a Knative Service) is not supported as a target yet: "
            "the knative router splits traffic between its revisions, but the analysis promotes by copying "
            "a pod template to a -primary workload, which a Knative Service does not have (Flagger pins a "
            "revision instead); use a Deployment or DaemonSet target"
        )
    if kind == "Service":
        return (
            f"targetRef Service {api_version or 'v1'} (Flagger's Service canary, which copies the Service "
            "to <name>-primary and <name>-canary and routes between them) is not supported: gitcanary "
            "generates the Services from a Deployment or DaemonSet target; use one of those"
        )
    return f"targetRef.kind {kind} is not supported (use Deployment or DaemonSet)"


class TargetWorkload:
    def __init__(self, kube: Kube, canary: Obj) -> None:
        self.kube = kube
        self.canary = canary
        parsed = parsed_or_none(canary)
        # The deletion finalizer gives the replicas of an invalid Canary back too: its targetRef
        # is then read as written, as it always was.
        ref = (
            canary["spec"]["targetRef"]
            if parsed is None
            else parsed.spec.target_ref.model_dump(by_alias=True)
        )
        self.kind: str = ref.get("kind", "Deployment")
        if self.kind not in SUPPORTED_KINDS:
            raise primary.TargetError(unsupported_kind(ref))
        self.api_version = ref.get("apiVersion") or SUPPORTED_KINDS[self.kind]
        self.name: str = ref["name"]
        self.namespace: str = canary["metadata"]["namespace"]
        self.primary_name = f"{self.name}-primary"
        self.last_primary: Obj | None = None
        self.scaler: PrimaryScaler = scaler_for(kube, canary)

    async def fetch(self) -> Obj:
        target = await self.kube.get(self.api_version, self.kind, self.namespace, self.name)
        if target is None:
            raise primary.TargetError(f"{self.kind.lower()} {self.name}.{self.namespace} not found")
        return target

    def _scaled_to_zero(self, target: Obj) -> bool:
        spec = target.get("spec") or {}
        if self.kind == "DaemonSet":
            node_selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
            return node_selector.get(SCALE_TO_ZERO_SELECTOR) == "true"
        return spec.get("replicas") == 0

    async def fetch_primary(self) -> Obj | None:
        """The live primary; the last one read is kept in ``last_primary`` for this tick's bookkeeping."""
        self.last_primary = await self.kube.get(
            self.api_version, self.kind, self.namespace, self.primary_name
        )
        return self.last_primary

    async def tracked_configs(self, target: Obj) -> dict[str, str]:
        tracked: dict[str, str] = {}
        for ref in sorted(configs.referenced_configs(target["spec"]["template"].get("spec", {}))):
            kind, name = ref.split("/", 1)
            obj = await self.kube.get(
                "v1", "ConfigMap" if kind == "configmap" else "Secret", self.namespace, name
            )
            if obj is not None and configs.is_tracked(obj):
                tracked[ref] = configs.checksum(obj)
        return tracked

    async def revision(self) -> tuple[str, dict[str, str]]:
        target = await self.fetch()
        tracked = await self.tracked_configs(target)
        return primary.revision(target["spec"]["template"], tracked), tracked

    async def _copy_configs(self, tracked: dict[str, str]) -> None:
        owner = owner_reference(self.canary)
        for ref in tracked:
            kind, name = ref.split("/", 1)
            obj = await self.kube.get(
                "v1", "ConfigMap" if kind == "configmap" else "Secret", self.namespace, name
            )
            if obj is not None:
                await self.kube.apply(configs.primary_copy(obj, owner))

    async def initialize_primary(self) -> str | None:
        """Create the primary (if absent), the Services and the primary's autoscaler.

        Returns the autoscaler's note for the status (e.g. which API group was used), if any.
        """
        target = await self.fetch()
        autoscaled = await self.scaler.replicas_hint() is not None
        if await self.fetch_primary() is None:
            tracked = await self.tracked_configs(target)
            await self._copy_configs(tracked)
            replicas = None if autoscaled else int(target["spec"].get("replicas", 1) or 1)
            await self.kube.apply(
                primary.primary_workload(target, self.canary, replicas, configs.renames(tracked))
            )
        for service in services.services(self.canary, target):
            await self._reconcile_service(service)
        return await self.scaler.reconcile_primary()

    async def _reconcile_service(self, desired: Obj) -> None:
        """Create a Service, update one gitcanary created, or take over one it did not create
        (selector and ports only, no ownerReference: deleting the Canary never deletes it)."""
        meta = desired["metadata"]
        live = await self.kube.get("v1", "Service", meta["namespace"], meta["name"])
        if live is None:
            await self.kube.apply(desired)
            return
        if services.is_ours(live, self.canary):
            body = services.keep_unmanaged(self.canary, desired, live)
            body["spec"].pop("clusterIP", None)  # immutable once the Service exists
        else:
            body = services.takeover(desired, live)
        await self._replace_ports(live, body)
        await self.kube.apply(body)

    async def _replace_ports(self, live: Obj, desired: Obj) -> None:
        """An existing Service (e.g. the seed's own apex ``podinfo``) gets our ports, as in Flagger.

        Server-side apply would merge its port list with ours by port number and leave two ports
        named ``http``; a merge patch replaces the list instead.
        """
        ours = {(p["port"], p.get("protocol", "TCP")) for p in desired["spec"]["ports"]}
        theirs = {(p["port"], p.get("protocol", "TCP")) for p in live["spec"].get("ports") or []}
        if ours != theirs:
            meta = live["metadata"]
            await self.kube.merge_patch(
                "v1",
                "Service",
                meta["namespace"],
                meta["name"],
                {"spec": {"ports": desired["spec"]["ports"]}},
            )

    async def promote(self) -> None:
        """Copy the target's template (and tracked configs) to the primary."""
        target = await self.fetch()
        tracked = await self.tracked_configs(target)
        await self._copy_configs(tracked)
        live = await self.fetch_primary()
        replicas: int | None = None
        if live is not None and self.kind == "Deployment" and await self.scaler.replicas_hint() is None:
            replicas = int(live["spec"].get("replicas", 1) or 1)
        await self.kube.apply(
            primary.primary_workload(target, self.canary, replicas, configs.renames(tracked))
        )

    async def scale_canary(self, to_zero: bool) -> None:
        patch: Obj
        if to_zero and self._scaled_to_zero(await self.fetch()):
            await self.scaler.pause_target()  # idempotent; the engine asks on every Failed tick
            return
        if self.kind == "DaemonSet":
            selector = {SCALE_TO_ZERO_SELECTOR: "true" if to_zero else None}
            patch = {"spec": {"template": {"spec": {"nodeSelector": selector}}}}
        elif to_zero:
            await self.scaler.pause_target()
            patch = {"spec": {"replicas": 0}}
        else:
            await self.scaler.resume_target()
            replicas = await self.scaler.replicas_hint()
            if replicas is None:
                live = await self.fetch_primary()
                replicas = int(live["spec"].get("replicas", 1) or 1) if live is not None else 1
            patch = {"spec": {"replicas": replicas}}
        await self.kube.merge_patch(self.api_version, self.kind, self.namespace, self.name, patch)

    async def readiness(self, which: str, threshold_percent: int = 100) -> Readiness:
        if which == "primary":
            obj = await self.fetch_primary()
            if obj is None:
                return Readiness(False, f"{self.kind.lower()} {self.primary_name}.{self.namespace} not found")
            return readiness(obj, threshold_percent)
        return readiness(await self.fetch(), threshold_percent, canary=True)

    async def restore_target(self) -> None:
        """revertOnDeletion: give the target its replicas back before the primary goes away."""
        live = await self.fetch_primary()
        replicas = int(live["spec"].get("replicas", 1) or 1) if live else 1
        if self.kind == "DaemonSet":
            await self.scale_canary(to_zero=False)
        else:
            await self.scaler.resume_target()
            await self.kube.merge_patch(
                self.api_version, self.kind, self.namespace, self.name, {"spec": {"replicas": replicas}}
            )

    async def wait_target_ready(self, timeout: float, poll: float = 2.0) -> Readiness:
        """revertOnDeletion: the target's readiness once it is Ready, or after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            state = readiness(await self.fetch())
            if state.ready or state.deadline_exceeded or loop.time() + poll > deadline:
                return state
            await asyncio.sleep(poll)
